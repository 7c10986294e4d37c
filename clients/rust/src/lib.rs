//! payrail's HTTP API for Rust, on `reqwest` (rustls). Bodies and answers
//! are the server's own types (`payrail-types`, re-exported as
//! [`types`]): nothing of the contract is copied here. Around the calls,
//! what every integrator would otherwise write: an `Idempotency-Key` per
//! logical request, reused by each retry; retries only where docs/api.md
//! says a retry is safe ([`RetryPolicy`]); errors as values with the code,
//! status and request id ([`Error`]); a keyed create's answer headers
//! (`Idempotent-Replayed`, the request id) in a [`Response`] from its
//! `*_with_meta` call; lists as streams over every page;
//! [`Client::wait_until_terminal`]; webhook [`verify`].

mod client;
mod error;
mod paging;
mod response;
mod retry;
mod webhook;

pub use client::{Client, TERMINAL_PAYMENT_STATUSES};
pub use error::{Error, Result};
pub use payrail_types as types;
pub use response::Response;
pub use retry::RetryPolicy;
pub use webhook::{VerifyError, verify, verify_at};
