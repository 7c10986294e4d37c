//! The one error shape of the API: `{"error": {"code", "message"}}`, with
//! codes that are stable for clients to branch on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::{error, warn};

use crate::error::{Error, chain};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn key_reused() -> Self {
        ApiError::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Internal errors are logged whole here and shown to clients only as a
/// code: their text may name hosts, queries or credentials.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::UnknownAccount(id) => {
                ApiError::invalid("unknown_account", format!("account {id} does not exist"))
            }
            e if e.is_transient() || e.is_statement_timeout() => {
                warn!(error = %chain(&e), "request failed on a dependency");
                ApiError::unavailable("a dependency of payrail is unavailable; retry later")
            }
            e => {
                error!(error = %chain(&e), "request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}
