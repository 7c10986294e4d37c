//! The one error shape of the API, `{"error": {"code", "message"}}`, as
//! data: payment-app answers it (its `ApiError` is the HTTP response over
//! an [`ErrorDetail`]) and the client reads it, from this one definition.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ErrorCode;

/// An error: its code, for programs, and its message, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people: its wording may change; branch on `code`.
    pub message: String,
}

/// Every error answer's body: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorDetail {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorDetail { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_reads_back_as_written() {
        let body =
            ErrorBody { error: ErrorDetail::new(ErrorCode::SameAccount, "from and to are one account") };
        let text = serde_json::to_string(&body).expect("serializes");
        assert_eq!(text, r#"{"error":{"code":"same_account","message":"from and to are one account"}}"#);
        assert_eq!(serde_json::from_str::<ErrorBody>(&text).expect("parses"), body);
    }
}
