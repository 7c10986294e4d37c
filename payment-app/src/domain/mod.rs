//! Domain types, parsed at the edge and trusted past it.

mod amount;
mod idempotency_key;
mod ids;
pub mod issuance;
mod payment;
pub mod settlement;

pub use amount::{Amount, AmountError, AmountSum};
pub use idempotency_key::{IdempotencyKey, KEY_WINDOW, KeyError, MAX_KEY_LEN};
pub use ids::{AccountId, IdError, LockToken, PaymentId};
pub use payment::{FailureReason, MAX_DESCRIPTION_CHARS, NewPayment, PaymentRuleError, PaymentStatus};
