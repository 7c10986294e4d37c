//! ARCHITECTURE.md's rule, held: a module of payment-app imports only
//! modules of a lower layer. The layers are read from ARCHITECTURE.md's
//! table and the imports from every `crate::`, `super::` and `self::` path
//! in `src/` (tests and comments included), by the checker all payrail's
//! crates share (`payrail_common::architecture`), so neither the document
//! nor the code can drift from the other.

use std::path::Path;

use payrail_common::architecture::{Architecture, Rules};

fn architecture() -> Architecture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = Rules { read_tests_and_comments: true, no_circles: true, ..Rules::default() };
    Architecture::read(&root.join("../ARCHITECTURE.md"), "## Who may import whom\n", root, rules)
}

#[test]
fn no_import_runs_back_up() {
    let architecture = architecture();
    assert!(architecture.layers.len() > 10, "the layer table was not found: {:?}", architecture.layers);
    let violations = architecture.violations();
    assert!(violations.is_empty(), "imports against ARCHITECTURE.md:\n{}", violations.join("\n"));
}

#[test]
fn every_table_entry_names_a_module() {
    let unknown = architecture().unknown_entries();
    assert!(unknown.is_empty(), "ARCHITECTURE.md places modules that do not exist: {unknown:?}");
}
