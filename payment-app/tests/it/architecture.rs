//! ARCHITECTURE.md's rule, held: a module of payment-app imports only
//! modules of a lower layer. The layers are read from ARCHITECTURE.md's
//! table, and the imports from every `crate::` path in `src/`, so neither
//! the document nor the code can drift from the other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `module -> layer`, from the table under "Who may import whom".
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("../ARCHITECTURE.md")).unwrap();
    let section = doc.split("## Who may import whom").nth(1).expect("the section exists");
    let mut layers = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(layer) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else { continue };
        for module in cells[2].split(',') {
            layers.insert(module.trim().trim_matches('`').to_owned(), layer);
        }
    }
    layers
}

/// The first segment of every `crate::` path in `source`, grouped imports
/// (`crate::{a, b::c}`) included.
fn imported(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.push(first_segment(&item));
        } else {
            found.push(first_segment(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// Every `.rs` file of a top-level module (`src/x.rs` or `src/x/...`).
fn files_of(module: &str) -> Vec<PathBuf> {
    let src = root().join("src");
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        return vec![file];
    }
    let mut files = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_import_runs_back_up() {
    let layers = layers();
    assert!(layers.len() > 10, "the layer table was not found: {layers:?}");
    let mut violations = Vec::new();
    for (module, layer) in &layers {
        for file in files_of(module) {
            let source = std::fs::read_to_string(&file).unwrap();
            for used in imported(&source) {
                if used == *module || used == "Error" || used == "Result" {
                    continue; // itself, or the re-exports at the crate root
                }
                match layers.get(&used) {
                    Some(l) if l < layer => {}
                    Some(l) => violations.push(format!(
                        "{}: `{module}` (layer {layer}) imports `{used}` (layer {l})",
                        file.strip_prefix(root()).unwrap().display()
                    )),
                    None => violations.push(format!(
                        "{}: imports `{used}`, which ARCHITECTURE.md does not place",
                        file.strip_prefix(root()).unwrap().display()
                    )),
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports against ARCHITECTURE.md:\n{}", violations.join("\n"));
}

#[test]
fn every_module_of_the_crate_is_placed() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    let layers = layers();
    let missing: Vec<_> = declared.iter().filter(|m| !layers.contains_key(*m)).collect();
    assert!(missing.is_empty(), "modules missing from ARCHITECTURE.md's table: {missing:?}");
}

#[test]
fn grouped_and_nested_imports_are_all_seen() {
    let source = "use crate::{audit, db::{self, Db}, error::Result};\nlet x = crate::metrics::get();";
    assert_eq!(imported(source), ["audit", "db", "error", "metrics"]);
}
