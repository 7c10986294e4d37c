//! The client's one error: an answer of the API that is not a success
//! (with the stable `code` to branch on), or a request that got no answer.

use payrail_types::ErrorCode;
use reqwest::StatusCode;

/// What a call of [`crate::Client`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error: `{"error": {"code", "message"}}`.
    #[error("{status} {code:?}: {message}")]
    Api {
        status: StatusCode,
        /// `None` when the body is not of the documented shape (a proxy's
        /// page) or names a code this client predates.
        code: Option<ErrorCode>,
        message: String,
        /// `x-request-id`: quote it when asking about a request.
        request_id: Option<String>,
        /// `Retry-After` seconds, when sent (`rate_limited`, `overloaded`).
        retry_after: Option<u64>,
    },
    /// No answer: the connection failed, dropped or timed out (after the
    /// retries the rule allows).
    #[error("no answer from payrail: {0}")]
    Transport(#[from] reqwest::Error),
    /// A success whose body is not what the document says.
    #[error("unreadable answer: {0}")]
    Decode(#[from] serde_json::Error),
    /// `wait_until_terminal` ran out of time; the payment was still `last_status`.
    #[error("{id} still {last_status} after {timeout:?}")]
    WaitTimedOut { id: String, last_status: String, timeout: std::time::Duration },
}

impl Error {
    /// The API's error code, when the API answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(serde::Deserialize)]
struct Body {
    error: Detail,
}

// The error body as payment-app writes it (`ErrorBody`/`ApiError` stay in
// payment-app: axum's IntoResponse cannot be implemented on a type of
// another crate); only `code` and `message` are read, the code as the
// shared `ErrorCode`.
#[derive(serde::Deserialize)]
struct Detail {
    code: serde_json::Value,
    message: String,
}

/// The error of a non-2xx answer, from its status, headers and body.
pub(crate) fn from_answer(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Error {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = header("x-request-id");
    let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error: Detail { code, message } }) => {
            Error::Api { status, code: serde_json::from_value(code).ok(), message, request_id, retry_after }
        }
        Err(_) => Error::Api {
            status,
            code: None,
            message: format!("HTTP {status} without an error body"),
            request_id,
            retry_after,
        },
    }
}
