//! The vocabulary of payrail's HTTP API, shared by the server (payment-app)
//! and the Rust client (`clients/rust`): ids, amounts and the money they
//! are shown as, currencies, metadata, and the bodies the API reads and
//! answers. One definition of each shape, so the client cannot drift from
//! what the server sends; the OpenAPI document is derived from these same
//! types (`utoipa`), so all three agree.
//!
//! Types parse strictly (`Amount`, `Currency`, the ids' UUID version): a
//! server and a client read the same text the same way.

mod account;
mod amount;
mod batch;
mod currency;
mod error_body;
mod error_code;
mod event_type;
mod ids;
mod lists;
mod metadata;
mod payment;
mod requests;
mod status;
mod webhook;

pub use account::{
    AccountPage, AccountView, BalanceAt, DayView, EntryPage, EntryView, LedgerHead, Statement,
};
pub use amount::{Amount, AmountError, AmountSum, SignedAmountSum};
pub use batch::{AtomicBatchRefusal, BatchItemResult, BatchResponse};
pub use currency::{Currency, CurrencyError, Money, SignedMoney};
pub use error_body::{ErrorBody, ErrorDetail};
pub use error_code::ErrorCode;
pub use event_type::{EventType, UnknownEventType};
pub use ids::{AccountId, AttemptId, EndpointId, EventId, IdError, LinkId, LockToken, PaymentId, RefundId};
pub use lists::{EventPage, PaymentPage, RefundList};
pub use metadata::{
    MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS, Metadata, MetadataError,
    MetadataPatch, check_key, check_value,
};
pub use payment::{CaptureMode, CreditLimitChangeView, Event, EventData, PaymentView, RefundView};
pub use requests::{
    BatchItemSchema, BatchRequest, CaptureRequest, CreateAccount, CreateEndpoint, CreatePayment,
    CreateRefund, SubscribedType, UpdateAccount, UpdateMetadata,
};
pub use status::{FailureReason, PaymentStatus, RefundStatus};
pub use webhook::{AttemptPage, AttemptView, CreatedEndpoint, EndpointPage, EndpointView, RotatedSecret};

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
