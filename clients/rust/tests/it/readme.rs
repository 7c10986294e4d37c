//! The clients' first payment, as README.md and each client's README show
//! it, is a file that runs: `examples/first_payment.rs` here,
//! `clients/typescript/examples/first-payment.ts` and
//! `clients/python/examples/first_payment.py`. A README shows a region of
//! one (between `ANCHOR: name` and `ANCHOR_END: name` comments, which it
//! does not show) in the code block after a `<!-- snippet: path#name -->`
//! line; the test below fails when the block and the region differ. Each
//! file is run by its own ecosystem's runner against the live server
//! scripts/clients-test starts (this one below; node's test runner and
//! pytest the others), and prints what the READMEs say it prints.
//!
//! One checker for the three languages: the rule (what a README shows is
//! what ran) is one rule, and this test needs no server, so it runs in every
//! `cargo test --workspace`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, without any
/// anchor line, dedented by their common indentation.
fn region(file: &str, name: &str) -> Option<String> {
    let is_anchor = |line: &str, kind: &str| {
        line.trim_start().split_once(' ').is_some_and(|(_, rest)| rest == format!("{kind}: {name}"))
    };
    let mut lines = file.lines().skip_while(|l| !is_anchor(l, "ANCHOR"));
    lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|l| !is_anchor(l, "ANCHOR_END"))
        .filter(|l| !l.contains("ANCHOR: ") && !l.contains("ANCHOR_END: "))
        .collect();
    let indent =
        body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min()?;
    Some(body.iter().map(|l| format!("{}\n", l.get(indent..).unwrap_or(""))).collect())
}

/// The code block after `<!-- snippet: {target} -->` in `readme`.
fn shown(readme: &str, target: &str) -> Option<String> {
    let marker = format!("<!-- snippet: {target} -->\n");
    let after = &readme[readme.find(&marker)? + marker.len()..];
    let (fence, rest) = after.split_once('\n')?;
    if !fence.starts_with("```") {
        return None;
    }
    Some(rest[..rest.find("\n```\n")? + 1].to_owned())
}

/// Every README that shows a first payment, and which region of which file.
const SHOWN: [(&str, &str); 6] = [
    ("README.md", "clients/rust/examples/first_payment.rs#short"),
    ("README.md", "clients/typescript/examples/first-payment.ts#short"),
    ("README.md", "clients/python/examples/first_payment.py#short"),
    ("clients/rust/README.md", "clients/rust/examples/first_payment.rs#readme"),
    ("clients/typescript/README.md", "clients/typescript/examples/first-payment.ts#readme"),
    ("clients/python/README.md", "clients/python/examples/first_payment.py#readme"),
];

/// The differences between what `readme` shows and the regions of the
/// files it names: empty when it shows each as it is.
fn drift(readme_path: &str, readme: &str, targets: &[&str]) -> Vec<String> {
    let mut drift = Vec::new();
    for target in targets {
        let (file, name) = target.split_once('#').unwrap();
        let Some(want) = region(&read(&repo().join(file)), name) else {
            drift.push(format!("{file} has no region {name}"));
            continue;
        };
        match shown(readme, target) {
            None => drift.push(format!("{readme_path} has no code block after <!-- snippet: {target} -->")),
            Some(got) if got != want => drift.push(format!(
                "{readme_path} shows {target} otherwise than the file has it:\n--- shown\n{got}--- file\n{want}"
            )),
            Some(_) => {}
        }
    }
    drift
}

#[test]
fn the_readmes_show_the_first_payment_files_as_they_are() {
    let mut all = Vec::new();
    for (readme_path, _) in SHOWN {
        if all.iter().any(|(seen, _)| *seen == readme_path) {
            continue;
        }
        let targets: Vec<&str> = SHOWN.iter().filter(|(r, _)| *r == readme_path).map(|(_, t)| *t).collect();
        all.push((readme_path, drift(readme_path, &read(&repo().join(readme_path)), &targets)));
    }
    let drift: Vec<String> = all.into_iter().flat_map(|(_, d)| d).collect();
    assert!(drift.is_empty(), "{}", drift.join("\n"));
}

#[test]
fn a_readme_that_differs_from_its_file_by_a_byte_is_caught() {
    let target = SHOWN[3].1;
    let readme = read(&repo().join(SHOWN[3].0));
    assert!(drift(SHOWN[3].0, &readme, &[target]).is_empty());
    let changed = readme.replacen("\"99.01\"", "\"99.02\"", 1);
    assert_ne!(changed, readme, "the README's Rust first payment pays 99.01");
    assert_eq!(drift(SHOWN[3].0, &changed, &[target]).len(), 1);
    let unmarked = readme.replacen(&format!("<!-- snippet: {target} -->"), "", 1);
    assert_eq!(drift(SHOWN[3].0, &unmarked, &[target]).len(), 1);
}

/// What each first payment prints: the status `wait_until_terminal` saw,
/// the payer's balance after, and the id of its one `done` payment.
fn assert_prints_the_first_payment(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(&lines[..2], ["done", "0.99"], "{stdout}");
    assert!(uuid::Uuid::parse_str(lines[2]).is_ok(), "{stdout}");
}

#[test]
#[ignore = "needs a live payment-app: scripts/clients-test runs it"]
fn the_rust_first_payment_runs_as_shown() {
    // Cargo puts examples beside the test binaries' `deps`; clients-test
    // builds this one (`cargo build --example first_payment`) before it.
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().and_then(Path::parent).unwrap().join("examples/first_payment");
    assert!(
        example.exists(),
        "{} missing: cargo build -p payrail-client --example first_payment",
        example.display()
    );
    let out = Command::new(&example).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_prints_the_first_payment(&stdout);
}
