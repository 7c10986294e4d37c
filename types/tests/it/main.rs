//! payrail-types' integration tests: one binary (STYLE.md, "Tests").

mod architecture;
