//! The client's one error: an answer of the API that is not a success
//! (with the stable `code` to branch on), or a request that got no answer.

use payrail_types::{AtomicBatchRefusal, BatchItemResult, ErrorBody, ErrorCode, ErrorDetail};
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
        /// For `atomic_batch_refused`: each refused item's result (nothing
        /// of the batch was recorded). Empty for every other error.
        refused_items: Vec<BatchItemResult>,
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

/// The error of a non-2xx answer, from its status, headers and body (the
/// shared `ErrorBody`; for `atomic_batch_refused` the shared
/// `AtomicBatchRefusal`, whose refused items are kept).
pub(crate) fn from_answer(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Error {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = header("x-request-id");
    let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error: ErrorDetail { code, message } }) => {
            let refused_items = match code {
                ErrorCode::AtomicBatchRefused => {
                    serde_json::from_slice::<AtomicBatchRefusal>(body).map(|r| r.results).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            Error::Api { status, code: Some(code), message, request_id, retry_after, refused_items }
        }
        // Not the documented shape (a proxy's page), or a code this client
        // predates: the status still tells the kind; the body's start is
        // kept for a person to read.
        Err(_) => Error::Api {
            status,
            code: None,
            message: format!(
                "HTTP {status} without an error body this client reads: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
            request_id,
            retry_after,
            refused_items: Vec::new(),
        },
    }
}
