//! payrail's operator: reconciles a `PaymentCluster` into the payment app,
//! a 3-node Redis lock, RabbitMQ (one node or a 3-node cluster) and
//! PostgreSQL: its own primary and read replica, a CloudNativePG cluster
//! (`cnpg`), or a server it does not run (`external`).
//!
//! `crd` is the resource; `reconcile` is the pipeline of steps that
//! `controller` runs for each one, each a module of it: `validate` (pure),
//! dereference, `build` (pure), apply, prune, `status` (pure). `names`
//! names every child, `child` holds the one table of child kinds. `leader` keeps a single replica reconciling,
//! `metrics` counts what it does. ARCHITECTURE.md says who may import
//! whom, and `tests/it/architecture.rs` holds it.

pub mod child;
pub mod clients;
pub mod cnpg;
pub mod controller;
pub mod crd;
pub mod error;
pub mod image;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod owner;
pub mod pod;
pub mod prometheus;
pub mod reconcile;
pub mod render;
pub mod server;

pub use error::{Error, Result};
