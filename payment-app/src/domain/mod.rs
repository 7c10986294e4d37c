//! Domain types, parsed at the edge and trusted past it.

mod amount;
pub mod blocked;
pub mod chain;
mod currency;
pub mod export;
pub mod hold;
mod idempotency_key;
mod ids;
pub mod issuance;
mod metadata;
mod payment;
mod public_address;
pub mod refund;
pub mod search;
pub mod settlement;
mod webhook;

pub use amount::{Amount, AmountError, AmountSum, SignedAmountSum};
pub use currency::{Currency, CurrencyError, Money, SignedMoney};
pub use idempotency_key::{IdempotencyKey, KEY_WINDOW, KeyError, MAX_KEY_LEN};
pub use ids::{AccountId, AttemptId, EndpointId, EventId, IdError, LinkId, LockToken, PaymentId, RefundId};
pub use metadata::{
    MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS, Metadata, MetadataError,
    MetadataPatch, check_key as check_metadata_key, check_value as check_metadata_value,
};
pub use payment::{
    Capture, DEFAULT_HOLD_SECS, FailureReason, MAX_DESCRIPTION_CHARS, MAX_HOLD_SECS, NewPayment,
    PaymentRuleError, PaymentStatus, payment_currency,
};
pub use public_address::{forbidden, special_purpose};
pub use webhook::{
    DescriptionError, EndpointDescription, EventType, MAX_ENDPOINT_DESCRIPTION_CHARS, MAX_URL_LEN,
    TargetRefused, UnknownEventType, UrlError, WebhookUrl,
};

/// How `Money` and `AmountSum` are written: digits, and the currency's
/// decimals after a point when it has any.
const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?$";

/// The OpenAPI schema of a type serialized as text of a fixed shape, kept
/// beside its `Serialize` so the two change together.
fn text_schema(pattern: &str, description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}
