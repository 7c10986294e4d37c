//! ARCHITECTURE.md's rule for the operator, held: a module imports only
//! modules of a lower layer, never one of its own ancestors (a parent
//! declares and uses its children, so a child that imports its parent
//! closes a circle), and no import circle exists between any two files.
//! The layers are read from ARCHITECTURE.md's table, the imports from every
//! `crate::`, `super::` and `self::` path under `operator/src` (tests and
//! comments aside), by the checker all payrail's crates share
//! (`payrail_common::architecture`), so neither the document nor the code
//! can drift. Below it, two rules of the operator's own, read from the
//! same modules.

use std::collections::BTreeMap;
use std::path::Path;

use payrail_common::architecture::{Architecture, Rules};

fn architecture() -> Architecture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = Rules { no_ancestor_imports: true, no_circles: true, read_tests_and_comments: false };
    Architecture::read(
        &root.join("../ARCHITECTURE.md"),
        "### Who may import whom in the operator",
        root,
        rules,
    )
}

/// Every library file's module path with its code (tests and comments left
/// out).
fn modules() -> BTreeMap<String, String> {
    architecture().modules
}

#[test]
fn no_import_runs_back_up_and_none_closes_a_circle() {
    architecture().assert_held(10);
}

#[test]
fn every_table_entry_names_a_module() {
    architecture().assert_every_entry_is_a_module();
}

/// Issue 28: `ValidatedCluster` is the boundary between the spec as written
/// and the builders. Past validate, the pipeline's pure steps (build, and the
/// volume plan) take typed settings only: none of them names the resource
/// or its spec types, so none can read a field validate did not resolve.
#[test]
fn builders_never_read_the_raw_spec() {
    let raw = ["PaymentCluster", ".spec()"];
    let mut readers = Vec::new();
    for (module, code) in modules() {
        let pure = module.starts_with("reconcile::build") || module == "reconcile::volumes";
        // What is between quotes is text (a runbook may name the resource).
        let outside_quotes: String =
            code.lines().flat_map(|line| line.split('"').step_by(2)).collect::<Vec<_>>().join(" ");
        for what in raw.iter().filter(|what| pure && outside_quotes.contains(**what)) {
            readers.push(format!("{module} names {what}"));
        }
    }
    assert!(readers.is_empty(), "builders read the raw spec: {readers:#?}");
}

/// Issue 28: status does not match on the PostgreSQL provider or read its
/// kinds: the seam (`reconcile::build::postgres`) counts the servers and
/// words their conditions, so another provider is not an edit of status.
#[test]
fn status_asks_the_postgres_seam() {
    let provider_specific =
        ["CnpgCluster", "ObjectStore", "Source::", "PostgresPlan::", "server_statefulsets"];
    let status = modules().remove("reconcile::status").expect("reconcile::status exists");
    let outside_quotes: String =
        status.lines().flat_map(|line| line.split('"').step_by(2)).collect::<Vec<_>>().join(" ");
    let found: Vec<_> = provider_specific.iter().filter(|what| outside_quotes.contains(**what)).collect();
    assert!(found.is_empty(), "reconcile::status matches on the provider: {found:?}");
}
