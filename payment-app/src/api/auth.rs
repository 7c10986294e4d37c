//! Access control for `/api/v1`: `Authorization: Bearer <token>`, checked
//! against the configured tokens in constant time. Tokens are never logged
//! or printed by `Debug`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::{Choice, ConstantTimeEq};

use super::error::{ApiError, ErrorCode};

#[derive(Clone)]
pub struct ApiTokens(Arc<[Box<[u8]>]>);

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiTokens({} configured)", self.0.len())
    }
}

impl ApiTokens {
    /// Blank entries (a trailing comma) are ignored.
    pub fn new<I: IntoIterator<Item = String>>(tokens: I) -> Self {
        let tokens: Vec<Box<[u8]>> = tokens
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(|t| t.into_bytes().into_boxed_slice())
            .collect();
        ApiTokens(tokens.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares against every token without stopping at a match, so the
    /// time taken does not say which token, or how much of one, matched.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let matched = self.0.iter().fold(Choice::from(0), |acc, token| acc | token.as_ref().ct_eq(presented));
        matched.into()
    }
}

/// Middleware: lets the request through only with a valid bearer token.
pub async fn require_token(State(tokens): State<ApiTokens>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if tokens.accepts(token.as_bytes()) => next.run(req).await,
        _ => {
            let mut response = ApiError::new(
                ErrorCode::Unauthorized,
                "a valid token is required: send Authorization: Bearer <token>",
            )
            .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiTokens;

    #[test]
    fn accepts_exactly_the_configured_tokens() {
        let tokens = ApiTokens::new(["alpha-token".to_owned(), " beta ".to_owned(), String::new()]);
        assert!(tokens.accepts(b"alpha-token"));
        assert!(tokens.accepts(b"beta"));
        for wrong in [&b""[..], b"alpha", b"alpha-token2", b"ALPHA-TOKEN", b"beta "] {
            assert!(!tokens.accepts(wrong), "{wrong:?}");
        }
        assert_eq!(format!("{tokens:?}"), "ApiTokens(2 configured)");
    }

    #[test]
    fn no_tokens_accept_nothing() {
        let tokens = ApiTokens::new(Vec::new());
        assert!(tokens.is_empty());
        assert!(!tokens.accepts(b""));
    }
}
