//! [`Response`]: a call's value with what the answer's headers say, for the
//! calls whose headers carry something a client acts on.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// A success with its status and headers, from the `*_with_meta` calls.
///
/// Only the keyed creates have such a call: their answer's headers say
/// something the body cannot (`Idempotent-Replayed`: this key was used
/// before, and the body is what the first request recorded). Every other
/// call returns its value alone, so the common case reads without an
/// unwrapping step; a failed call's request id is in [`crate::Error::Api`].
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The answer's body, read as the call's type.
    pub value: T,
    pub status: StatusCode,
    /// `x-request-id` (the client's own when it sent one): quote it when
    /// asking about a request.
    pub request_id: Option<String>,
    /// `Idempotent-Replayed: true`: a retry (or a second request) under an
    /// `Idempotency-Key` already used, answered with the first one's snapshot.
    pub replayed: bool,
    /// Every header of the answer (`Location`, say).
    pub headers: HeaderMap,
}

impl<T> Response<T> {
    pub(crate) fn new(value: T, status: StatusCode, headers: HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("x-request-id").map(str::to_owned);
        let replayed = header("idempotent-replayed").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Response { value, status, request_id, replayed, headers }
    }

    pub fn into_value(self) -> T {
        self.value
    }
}
