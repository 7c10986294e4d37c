//! What the operator would apply, checked offline: the committed CRD is
//! the generated one, renders of the fixtures match their snapshots, and
//! everything rendered from the fixtures and `examples/` passes
//! `kubernetes-validate --strict` (the real Kubernetes schemas), while the
//! examples and fixtures pass the CRD's own schema.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p payment-operator --test render`
//! rewrites the snapshots and the CRD after a deliberate change; review the
//! diff like any other.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use payrail_operator::render;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some()
}

/// Compares `actual` with the committed file, or rewrites it when updating.
fn snapshot(path: &Path, actual: &str) {
    if updating() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == actual,
        "{} is stale: run `UPDATE_SNAPSHOTS=1 cargo test -p payment-operator --test render` and review the diff",
        path.display()
    );
}

#[test]
fn the_committed_crd_is_the_generated_one() {
    snapshot(&root().join("crds/paymentclusters.payrail.dev.yaml"), &render::crd_yaml().unwrap());
}

#[test]
fn renders_match_their_snapshots() {
    for fixture in ["minimal", "full"] {
        let text =
            std::fs::read_to_string(root().join(format!("operator/tests/fixtures/{fixture}.yaml"))).unwrap();
        let rendered = render::render(&text).unwrap();
        snapshot(&root().join(format!("operator/tests/snapshots/{fixture}.yaml")), &rendered);
    }
}

#[test]
fn a_render_of_an_invalid_cluster_says_what_is_wrong() {
    let error = render::render("apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {name: x}\nspec: {redis: {nodes: 2}}\n")
        .unwrap_err();
    assert!(error.to_string().contains("redis.nodes must be odd"), "{error}");
}

fn manifests() -> Vec<PathBuf> {
    let mut paths = vec![
        root().join("operator/tests/fixtures/minimal.yaml"),
        root().join("operator/tests/fixtures/full.yaml"),
    ];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 2, "examples/ holds the minimal and production clusters");
    paths.extend(examples);
    paths
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/test installs it): {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn everything_rendered_passes_strict_kubernetes_validation() {
    let dir = std::env::temp_dir().join(format!("payrail-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for manifest in manifests() {
        let rendered = render::render_file(&manifest).unwrap();
        let out = dir.join(manifest.file_name().unwrap());
        std::fs::write(&out, rendered).unwrap();
        files.push(out.to_str().unwrap().to_owned());
    }
    let mut args = vec!["--strict", "--kubernetes-version", "1.33.0"];
    args.extend(files.iter().map(String::as_str));
    let report = run("kubernetes-validate", &args);
    // One line per object, every one of them valid.
    let objects: usize =
        files.iter().map(|f| std::fs::read_to_string(f).unwrap().matches("\n---\n").count() + 1).sum();
    assert_eq!(report.lines().filter(|l| l.contains(" passed for resource ")).count(), objects, "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn examples_and_fixtures_pass_the_crd_schema() {
    let crd = root().join("crds/paymentclusters.payrail.dev.yaml");
    let script = root().join("operator/tests/validate.py");
    let mut args = vec![script.to_str().unwrap().to_owned(), crd.to_str().unwrap().to_owned()];
    args.extend(manifests().iter().map(|p| p.to_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = run("python3", &args);
    assert_eq!(report.matches("checked against the CRD schema").count(), manifests().len(), "{report}");

    // And the check has teeth: a misspelt field and a bad enum fail.
    let bad = std::env::temp_dir().join(format!("payrail-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {name: bad}\nspec:\n  app: {replicas: 0, imagee: x}\n",
    )
    .unwrap();
    let out = Command::new("python3").args([args[0], args[1], bad.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("imagee") && text.contains("replicas"), "{text}");
    std::fs::remove_file(bad).unwrap();
}
