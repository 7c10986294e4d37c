//! A client's `Idempotency-Key`: a retry that carries the same key and the
//! same request gets the first answer back, and creates nothing again.

use std::time::Duration;

/// How long a key is remembered. A retry after that creates anew.
pub const KEY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters")]
pub struct KeyError;

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let valid = !s.is_empty() && s.len() <= MAX_KEY_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if valid { Ok(IdempotencyKey(s.to_owned())) } else { Err(KeyError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255_bytes() {
        assert!(IdempotencyKey::parse("order-42/retry:1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", " ", "two words", "tab\there", "é", "\u{7f}"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(KeyError), "{bad:?}");
        }
        assert_eq!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN + 1)), Err(KeyError));
    }
}
