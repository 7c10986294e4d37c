//! payrail's payment service: an HTTP API that accepts payments, a lock
//! worker that locks both accounts in Redis, and a settle worker that
//! applies payments to a PostgreSQL ledger, connected by RabbitMQ.
//!
//! `main.rs` only parses the command line and calls [`app::run`]; every
//! part lives here so tests and other binaries can use it.

pub mod api;
pub mod app;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod broker;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod domain;
pub mod error;
pub mod events;
pub mod export;
pub mod intake;
pub mod lock;
pub mod messages;
pub mod metrics;
pub mod trace_context;
pub mod webhooks;
pub mod worker;

pub use error::{Error, Result};
