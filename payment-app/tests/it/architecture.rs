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
    architecture().assert_held(10);
}

#[test]
fn every_table_entry_names_a_module() {
    architecture().assert_every_entry_is_a_module();
}
