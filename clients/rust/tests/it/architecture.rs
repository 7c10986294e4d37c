//! ARCHITECTURE.md's rule for payrail-client, held by the checker every
//! payrail crate shares: a module imports only modules of a lower layer,
//! never an ancestor, and no two modules import each other, however
//! indirectly.

use std::path::Path;

use payrail_common::architecture::{Architecture, Rules};

fn architecture() -> Architecture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Comments aside: a doc link up (`error` names [`crate::Client`]) is no import.
    let rules = Rules { no_ancestor_imports: true, no_circles: true, read_tests_and_comments: false };
    Architecture::read(
        &root.join("../../ARCHITECTURE.md"),
        "### Who may import whom in payrail-client",
        root,
        rules,
    )
}

#[test]
fn no_import_runs_back_up_and_none_closes_a_circle() {
    let architecture = architecture();
    assert!(architecture.layers.len() > 3, "the layer table was not found: {:?}", architecture.layers);
    let violations = architecture.violations();
    assert!(violations.is_empty(), "imports against ARCHITECTURE.md:\n{}", violations.join("\n"));
}

#[test]
fn every_table_entry_names_a_module() {
    let unknown = architecture().unknown_entries();
    assert!(unknown.is_empty(), "ARCHITECTURE.md places modules that do not exist: {unknown:?}");
}
