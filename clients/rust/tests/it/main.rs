//! The client against a live `payment-app all`, which scripts/clients-test
//! starts and names in `PAYRAIL_URL`, `PAYRAIL_TOKEN` (every scope) and
//! `PAYRAIL_PAY_TOKEN` (`read+pay`). The tests are `#[ignore]`d so that
//! `cargo test --workspace` (no server) passes over them; clients-test runs
//! them, once, with `--ignored`. The architecture test and the check of the READMEs'
//! first payment need no server and run everywhere.

#![allow(clippy::unwrap_used)] // tests fail loudly on the first surprise

mod architecture;
mod helpers;
mod live;
mod readme;
