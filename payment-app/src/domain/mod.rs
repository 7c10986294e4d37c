//! Domain types, parsed at the edge and trusted past it.

mod amount;
pub mod hold;
mod idempotency_key;
mod ids;
pub mod issuance;
mod payment;
pub mod refund;
pub mod settlement;
mod webhook;

pub use amount::{Amount, AmountError, AmountSum};
pub use idempotency_key::{IdempotencyKey, KEY_WINDOW, KeyError, MAX_KEY_LEN};
pub use ids::{AccountId, AttemptId, EndpointId, EventId, IdError, LockToken, PaymentId, RefundId};
pub use payment::{
    Capture, DEFAULT_HOLD_SECS, FailureReason, MAX_DESCRIPTION_CHARS, MAX_HOLD_SECS, NewPayment,
    PaymentRuleError, PaymentStatus,
};
pub use webhook::{EventType, MAX_URL_LEN, TargetRefused, UnknownEventType, UrlError, WebhookUrl, forbidden};
