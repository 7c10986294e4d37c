//! URLs that carry credentials (`postgres://user:password@host/db`,
//! `amqp://…`, `redis://…`). They travel from the command line to the pool
//! or client that uses them as [`SecretUrl`], which cannot print its
//! password: `Debug` and `Display` show the URL with the password (and any
//! `password=` query parameter) replaced by `***`, and only
//! [`SecretUrl::expose_secret`] gives the real text, at the one call that
//! connects.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// What stands where a password was.
const MASK: &str = "***";

/// A URL whose password never reaches a log, an error or `--help`.
#[derive(Clone)]
pub struct SecretUrl {
    secret: SecretString,
    /// The URL as it may be shown, computed once.
    shown: String,
}

/// Why a text is not a URL. It never holds the text itself, which may hold
/// a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid URL ({0}); the value is not shown, as it may hold a password")]
pub struct UrlError(String);

impl SecretUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let parsed = url::Url::parse(text.trim()).map_err(|e| UrlError(e.to_string()))?;
        if !parsed.has_host() {
            return Err(UrlError("it names no host".into()));
        }
        Ok(SecretUrl { shown: redact(parsed), secret: SecretString::from(text.trim().to_owned()) })
    }

    /// The URL with its credentials, for the one call that connects.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The URL without its password, for logs and messages.
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

fn redact(mut url: url::Url) -> String {
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which have none.
        let _ = url.set_password(Some(MASK));
    }
    let hides_password = url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if hides_password {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") { MASK.to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

impl FromStr for SecretUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        SecretUrl::parse(s)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.shown)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Equal when the full URLs are equal (both sides are secret; nothing is shown).
impl PartialEq for SecretUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for SecretUrl {}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        SecretUrl::parse(text).expect("a URL").to_string()
    }

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(shown("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(shown("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(shown("redis://:hunter2@10.0.0.1:6379/3"), "redis://:***@10.0.0.1:6379/3");
        assert_eq!(
            shown("postgres://u@h/db?sslmode=verify-full&password=s3cret"),
            "postgres://u@h/db?sslmode=verify-full&password=***"
        );
        let url = SecretUrl::parse("postgres://u:secret@h/db").expect("a URL");
        assert!(!format!("{url:?}").contains("secret"));
        assert_eq!(url.expose_secret(), "postgres://u:secret@h/db");
    }

    #[test]
    fn urls_without_a_password_are_shown_whole() {
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(shown("redis://127.0.0.1:6379/2"), "redis://127.0.0.1:6379/2");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        for bad in ["", "not a url", "postgres:secret", "host:5432"] {
            let e = SecretUrl::parse(bad).expect_err(bad);
            assert!(bad.is_empty() || !e.to_string().contains(bad), "{e}");
        }
    }
}
