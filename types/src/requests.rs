//! The bodies the API reads: what a client sends and the server parses.
//! Fields are text (amounts, ids, metadata as JSON) so that the server can
//! refuse each with an error that names it; the server turns them into
//! domain types, and the client fills them in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::{CaptureMode, Currency, EventType, Metadata, MetadataPatch};

/// The request as sent. Fields are strings so that each can be parsed into
/// its domain type with an error that names it; unknown fields are refused,
/// since a misspelt field in a payment is a mistake, not an extension.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The payer's account id.
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub from_account: String,
    /// The payee's account id.
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub to_account: String,
    /// Decimal string above zero, with at most the accounts' currency's decimals.
    #[schema(pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)$")]
    pub amount: String,
    /// At most 1,000 characters, without NUL.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^[^\\u0000]*$")]
    pub payment_description: Option<String>,
    /// `automatic` (default) or `manual`.
    #[serde(default)]
    #[schema(value_type = Option<CaptureMode>)]
    pub capture: Option<String>,
    /// For `manual`: seconds the hold lasts once authorized, 1 to 2,592,000 (30 days).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2592000)]
    pub hold_expires_in_secs: Option<i64>,
    /// The client's own references: an object of strings.
    #[serde(default)]
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<Value>,
}

/// `POST /api/v1/payment/{id}/capture`: all that is authorized, or `amount`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Decimal string above zero in the payment's currency; absent: all that is authorized.
    #[serde(default)]
    #[schema(pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)$")]
    pub amount: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// Decimal string above zero; absent: all that is left to refund.
    #[serde(default)]
    #[schema(pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)$")]
    pub amount: Option<String>,
    /// At most 500 characters, without NUL.
    #[serde(default)]
    #[schema(max_length = 500, pattern = "^[^\\u0000]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Decimal string in the account's currency; absent means zero. Above
    /// zero it is new money, and takes the `issue` scope.
    #[schema(pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub initial_balance: Option<String>,
    /// How far below zero the balance may go, a decimal string in the
    /// account's currency; absent means zero. Above zero it lets the account
    /// spend money it does not have, counts like issuance (within
    /// `MAX_ACCOUNT_ISSUANCE`, and part of `MAX_TOTAL_ISSUANCE`) and takes
    /// the `issue` scope.
    #[schema(pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub credit_limit: Option<String>,
    /// ISO 4217 code; absent means the `DEFAULT_CURRENCY` setting.
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<String>,
    /// The client's own references: an object of strings.
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<Value>,
}

/// `PATCH` bodies of a payment: the metadata change and nothing else.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMetadata {
    /// Keys to set to a string, or to remove with `null`.
    #[schema(value_type = MetadataPatch)]
    pub metadata: Value,
}

/// `PATCH` bodies of an account: a metadata change (`pay`), a new credit
/// limit (`issue`), or both, applied together (at least one of them).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// Keys to set to a string, or to remove with `null`.
    #[schema(value_type = Option<MetadataPatch>)]
    pub metadata: Option<Value>,
    /// The new credit limit, a decimal string in the account's currency.
    /// Refused with 422 `credit_limit_below_used` below the credit the
    /// account already uses (its balance below zero plus what it holds),
    /// and with 422 `issuance_limit_exceeded` past the issuance limits.
    #[schema(pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub credit_limit: Option<String>,
}

/// The request as sent; unknown fields are refused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are `POST`ed: `https` (unless `WEBHOOK_ALLOW_HTTP`), a public address (unless
    /// `WEBHOOK_ALLOW_PRIVATE`).
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000-\\u0020\\u007f#]+$"
    )]
    pub url: String,
    /// Event types (such as `payment.done`), or `["*"]`; absent: every type.
    #[serde(default)]
    #[schema(value_type = Option<Vec<SubscribedType>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// At most 1,000 characters, without NUL.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^[^\\u0000]*$")]
    pub description: Option<String>,
}

/// Payments to submit together.
// Items are read one by one (`Value` first), so that one malformed item is
// that item's error, not the whole request's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to `BATCH_MAX_ITEMS` items, each a `POST /api/v1/payment` body
    /// with an optional `idempotency_key`.
    #[schema(value_type = Vec<BatchItemSchema>, min_items = 1)]
    pub payments: Vec<Value>,
    /// Linked: one invalid item refuses the whole request, and at settle
    /// every payment is `done` or every one `failed`.
    #[serde(default)]
    pub atomic: bool,
}

/// An item of `events`: an event type, or `*` (alone) for every type.
#[derive(Debug)]
pub struct SubscribedType;

impl PartialSchema for SubscribedType {
    fn schema() -> RefOr<Schema> {
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        names.push("*");
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).into()
    }
}

impl ToSchema for SubscribedType {}

/// An item as the document shows it: `CreatePayment`'s own schema with
/// `idempotency_key` added, built from it so that the two cannot drift.
/// (payment-app parses items one by one: serde cannot refuse unknown fields
/// through a flatten.)
#[derive(Debug)]
pub struct BatchItemSchema;

impl PartialSchema for BatchItemSchema {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut item)) = CreatePayment::schema() else {
            unreachable!("CreatePayment's schema is an object")
        };
        let key = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .pattern(Some("^[!-~]{1,255}$"))
            .description(Some(
                "Makes resending the batch safe for this item, as `Idempotency-Key` does for one payment \
                 (and shared with it: the same key names the same payment either way, except that a key \
                 of an atomic batch's item names its linked set, and replays only that batch).",
            ));
        item.properties.insert("idempotency_key".to_owned(), key.into());
        item.description =
            Some("The body of `POST /api/v1/payment`, with an optional `idempotency_key`.".to_owned());
        RefOr::T(Schema::Object(item))
    }
}

impl ToSchema for BatchItemSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "BatchItem".into()
    }
}
