//! The one error shape of the API: `{"error": {"code", "message"}}`, with
//! codes that are stable for clients to branch on. Each code has one HTTP
//! status, decided here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::{error, warn};
use utoipa::ToSchema;

use crate::domain::hold::HoldRequestError;
use crate::domain::refund::RefundError;
use crate::error::{Error, chain};

/// Every machine-readable error code the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
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

/// An error: its code, for programs, and its message, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ApiError {
    pub code: ErrorCode,
    /// For people: its wording may change; branch on `code`.
    pub message: String,
}

/// Every error answer's body: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ApiError,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::get().api_error(self.code.as_str());
        (self.code.status(), Json(ErrorBody { error: self })).into_response()
    }
}

/// Internal errors are logged whole here and shown to clients only as a
/// code: their text may name hosts, queries or credentials.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::UnknownAccount(id) => {
                ApiError::new(ErrorCode::UnknownAccount, format!("account {id} does not exist"))
            }
            Error::UnknownPayment(id) => ApiError::not_found(format!("payment {id} does not exist")),
            e @ Error::AtomicBatchKeys => {
                ApiError::new(ErrorCode::IdempotencyKeyReused, format!("{e}; nothing was recorded"))
            }
            Error::HoldRequest(e @ HoldRequestError::ExceedsAuthorization { .. }) => {
                ApiError::new(ErrorCode::AmountExceedsAuthorization, format!("amount: {e}"))
            }
            Error::HoldRequest(e) => ApiError::new(ErrorCode::InvalidState, e.to_string()),
            Error::RefundRefused(e @ RefundError::NotDone(_)) => {
                ApiError::new(ErrorCode::InvalidState, e.to_string())
            }
            Error::RefundRefused(e @ RefundError::ExceedsPayment { .. }) => {
                ApiError::new(ErrorCode::RefundExceedsPayment, e.to_string())
            }
            Error::RefundRefused(e @ RefundError::BadReason) => {
                ApiError::new(ErrorCode::InvalidBody, e.to_string())
            }
            Error::WebhookRefused(refused) => {
                ApiError::new(ErrorCode::InvalidWebhookUrl, format!("url: {refused}"))
            }
            e @ Error::TooManyEndpoints(_) => {
                ApiError::new(ErrorCode::TooManyWebhookEndpoints, e.to_string())
            }
            Error::Metadata(refused) => ApiError::new(ErrorCode::InvalidMetadata, refused.to_string()),
            Error::IssuanceRefused(refused) => {
                ApiError::new(ErrorCode::IssuanceLimitExceeded, refused.to_string())
            }
            e @ Error::CreditLimitBelowUsed { .. } => {
                ApiError::new(ErrorCode::CreditLimitBelowUsed, format!("credit_limit: {e}"))
            }
            e if e.is_lock_timeout() => {
                warn!(error = %chain(&e), "request waited too long for a row lock");
                ApiError::new(
                    ErrorCode::AccountBusy,
                    "an account of this request is locked by another operation; nothing was recorded: retry shortly",
                )
            }
            e if e.may_have_committed() => {
                warn!(error = %chain(&e), "request failed on a dependency midway");
                ApiError::new(
                    ErrorCode::Timeout,
                    "a dependency failed midway; the request may have taken effect: retry with the same Idempotency-Key",
                )
            }
            e if e.is_transient() || e.is_statement_timeout() => {
                warn!(error = %chain(&e), "request failed on a dependency");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "a dependency of payrail is unavailable; nothing was recorded: retry later",
                )
            }
            e => {
                error!(error = %chain(&e), "request failed");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_as_its_text_and_has_an_error_status() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).expect("serializes"), code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{code:?}");
        }
        let mut texts: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "codes are distinct");
    }
}
