//! Domain types, parsed at the edge and trusted past it. The vocabulary the
//! API's answers are written in (ids, amounts, currencies,
//! metadata, statuses, event types) lives in
//! `payrail-types`, which the Rust client shares; it is re-exported here.

pub mod blocked;
pub mod chain;
pub mod export;
pub mod hold;
mod idempotency_key;
pub mod issuance;
mod payment;
mod public_address;
pub mod refund;
pub mod search;
pub mod settlement;
mod webhook;

pub use idempotency_key::{IdempotencyKey, KEY_WINDOW, KeyError, MAX_KEY_LEN};
pub use payment::{
    Capture, DEFAULT_HOLD_SECS, MAX_DESCRIPTION_CHARS, MAX_HOLD_SECS, NewPayment, PaymentRuleError,
    payment_currency,
};
pub use payrail_types::{
    AccountId, AttemptId, EndpointId, EventId, IdError, LinkId, LockToken, PaymentId, RefundId,
};
pub use payrail_types::{
    Amount, AmountError, AmountSum, Currency, CurrencyError, EventType, FailureReason, Money, PaymentStatus,
    SignedAmountSum, SignedMoney, UnknownEventType,
};
pub use payrail_types::{
    MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS, Metadata, MetadataError,
    MetadataPatch, check_key as check_metadata_key, check_value as check_metadata_value,
};
pub use public_address::{forbidden, special_purpose};
pub use webhook::{
    DescriptionError, EndpointDescription, MAX_ENDPOINT_DESCRIPTION_CHARS, MAX_URL_LEN, TargetRefused,
    UrlError, WebhookUrl,
};
