//! The API's stable error codes, each with its one HTTP status: what a
//! client branches on (payment-app answers them; the client reads them).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every machine-readable error code the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    RateLimited,
    RouteNotFound,
    MethodNotAllowed,
    NotFound,
    InvalidId,
    InvalidQuery,
    InvalidIdempotencyKey,
    MalformedJson,
    UnreadableBody,
    UnsupportedMediaType,
    PayloadTooLarge,
    BodyTimeout,
    InvalidBody,
    InvalidAmount,
    InvalidCurrency,
    CurrencyMismatch,
    InvalidMetadata,
    InvalidAccountId,
    SameAccount,
    DescriptionTooLong,
    UnknownAccount,
    IdempotencyKeyReused,
    TooManyItems,
    AtomicBatchRefused,
    IssuanceLimitExceeded,
    CreditLimitBelowUsed,
    AccountBusy,
    InvalidWebhookUrl,
    UnknownEventType,
    TooManyWebhookEndpoints,
    InvalidState,
    AmountExceedsAuthorization,
    InvalidCapture,
    RefundExceedsPayment,
    Unavailable,
    Timeout,
    Overloaded,
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 40] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::InvalidId,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::MalformedJson,
        ErrorCode::UnreadableBody,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::BodyTimeout,
        ErrorCode::InvalidBody,
        ErrorCode::InvalidAmount,
        ErrorCode::InvalidCurrency,
        ErrorCode::CurrencyMismatch,
        ErrorCode::InvalidMetadata,
        ErrorCode::InvalidAccountId,
        ErrorCode::SameAccount,
        ErrorCode::DescriptionTooLong,
        ErrorCode::UnknownAccount,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::TooManyItems,
        ErrorCode::AtomicBatchRefused,
        ErrorCode::IssuanceLimitExceeded,
        ErrorCode::CreditLimitBelowUsed,
        ErrorCode::AccountBusy,
        ErrorCode::InvalidWebhookUrl,
        ErrorCode::UnknownEventType,
        ErrorCode::TooManyWebhookEndpoints,
        ErrorCode::InvalidState,
        ErrorCode::AmountExceedsAuthorization,
        ErrorCode::InvalidCapture,
        ErrorCode::RefundExceedsPayment,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
    ];

    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnreadableBody => "unreadable_body",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::InvalidCurrency => "invalid_currency",
            ErrorCode::CurrencyMismatch => "currency_mismatch",
            ErrorCode::InvalidMetadata => "invalid_metadata",
            ErrorCode::InvalidAccountId => "invalid_account_id",
            ErrorCode::SameAccount => "same_account",
            ErrorCode::DescriptionTooLong => "description_too_long",
            ErrorCode::UnknownAccount => "unknown_account",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::TooManyItems => "too_many_items",
            ErrorCode::AtomicBatchRefused => "atomic_batch_refused",
            ErrorCode::IssuanceLimitExceeded => "issuance_limit_exceeded",
            ErrorCode::CreditLimitBelowUsed => "credit_limit_below_used",
            ErrorCode::AccountBusy => "account_busy",
            ErrorCode::InvalidWebhookUrl => "invalid_webhook_url",
            ErrorCode::UnknownEventType => "unknown_event_type",
            ErrorCode::TooManyWebhookEndpoints => "too_many_webhook_endpoints",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::AmountExceedsAuthorization => "amount_exceeds_authorization",
            ErrorCode::InvalidCapture => "invalid_capture",
            ErrorCode::RefundExceedsPayment => "refund_exceeds_payment",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status every answer with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RouteNotFound | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidId
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidIdempotencyKey
            | ErrorCode::MalformedJson
            | ErrorCode::UnreadableBody => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidBody
            | ErrorCode::InvalidAmount
            | ErrorCode::InvalidCurrency
            | ErrorCode::CurrencyMismatch
            | ErrorCode::InvalidMetadata
            | ErrorCode::InvalidAccountId
            | ErrorCode::SameAccount
            | ErrorCode::DescriptionTooLong
            | ErrorCode::UnknownAccount
            | ErrorCode::IdempotencyKeyReused
            | ErrorCode::TooManyItems
            | ErrorCode::AtomicBatchRefused
            | ErrorCode::IssuanceLimitExceeded
            | ErrorCode::CreditLimitBelowUsed
            | ErrorCode::InvalidWebhookUrl
            | ErrorCode::UnknownEventType
            | ErrorCode::TooManyWebhookEndpoints
            | ErrorCode::AmountExceedsAuthorization
            | ErrorCode::InvalidCapture
            | ErrorCode::RefundExceedsPayment => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidState => StatusCode::CONFLICT,
            ErrorCode::AccountBusy | ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
