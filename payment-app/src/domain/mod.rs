//! Domain types, parsed at the edge and trusted past it.

mod amount;
mod ids;
mod payment;
pub mod settlement;

pub use amount::{Amount, AmountError};
pub use ids::{AccountId, IdError, LockToken, PaymentId};
pub use payment::{FailureReason, MAX_DESCRIPTION_CHARS, NewPayment, PaymentRuleError, PaymentStatus};
