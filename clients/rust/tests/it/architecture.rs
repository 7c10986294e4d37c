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
    architecture().assert_held(3);
}

#[test]
fn every_table_entry_names_a_module() {
    architecture().assert_every_entry_is_a_module();
}
