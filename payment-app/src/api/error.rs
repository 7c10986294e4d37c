//! The API's error answer: the shared `{"error": {"code", "message"}}`
//! body (`payrail_types::ErrorBody`, which the client reads too) sent with
//! the one HTTP status of its code, decided by `ErrorCode::status`. Which
//! internal error becomes which code is decided here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::{error, warn};

pub use payrail_types::{ErrorBody, ErrorCode, ErrorDetail};

use crate::domain::hold::HoldRequestError;
use crate::domain::refund::RefundError;
use crate::error::{Error, chain};

/// An error answer: the shared [`ErrorDetail`] as an HTTP response. A
/// wrapper rather than the detail itself because axum's `IntoResponse`
/// can only be implemented here, on a type of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub ErrorDetail);

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;

    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl From<ApiError> for ErrorDetail {
    fn from(e: ApiError) -> Self {
        e.0
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(ErrorDetail::new(code, message))
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
        (self.code.status(), Json(ErrorBody { error: self.0 })).into_response()
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
