//! Small helpers for tests that talk to the app through payrail-client
//! (`App::api`): a payment's body, and an expected refusal read back as
//! the status and stable code a test asserts on.

use payrail_client::Error;
use payrail_client::types::{CreatePayment, ErrorCode};

/// The body of a plain payment (accounts as the harness keeps them).
pub fn payment(from: &str, to: &str, amount: &str) -> CreatePayment {
    CreatePayment {
        from_account: from.to_owned(),
        to_account: to.to_owned(),
        amount: amount.to_owned(),
        ..CreatePayment::default()
    }
}

/// The status, code and message of an answer expected to be an error;
/// panics on a success or on an error without a body the client reads.
pub fn refusal<T: std::fmt::Debug>(answer: Result<T, Error>) -> (u16, ErrorCode, String) {
    match answer {
        Err(Error::Api { status, code: Some(code), message, .. }) => (status.as_u16(), code, message),
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// [`refusal`] without the message.
pub fn refused<T: std::fmt::Debug>(answer: Result<T, Error>) -> (u16, ErrorCode) {
    let (status, code, _) = refusal(answer);
    (status, code)
}
