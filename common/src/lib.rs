//! What payrail's two programs share, so that each rule has one home:
//! the defaults of settings that payment-app reads and the operator writes
//! into its pods (`defaults`) with their names and ranges (`settings`), logging set-up (`telemetry`), OpenTelemetry traces
//! and W3C trace context (`traces`), the shutdown
//! signal (`shutdown`), retry delays (`backoff`), error chains for logs
//! (`error`) and URLs that carry credentials (`secret`); for the crates'
//! own tests (feature `testing`), free ports and the architecture checker
//! every crate's import rule runs on (`architecture`).
//!
//! It depends on nothing of payrail's, and neither program's types reach it.

#[cfg(feature = "testing")]
pub mod architecture;
pub mod backoff;
pub mod defaults;
pub mod error;
pub mod secret;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traces;

pub use backoff::Backoff;
pub use error::chain;
pub use secret::SecretUrl;
