//! payrail's operator: reconciles a `PaymentCluster` into the payment app,
//! a 3-node Redis lock, RabbitMQ and PostgreSQL with a read replica.
//!
//! `crd` is the resource, `builders` turn it into objects (pure), `status`
//! reads readiness back (pure), `controller` applies and reports.

pub mod builders;
pub mod controller;
pub mod crd;
pub mod error;
pub mod pod;
pub mod render;
pub mod server;
pub mod status;

pub use error::{Error, Result};
