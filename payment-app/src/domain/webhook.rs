//! What a webhook endpoint may be: the event types it can ask for, and the
//! URLs payrail agrees to send to. The address rule lives here, pure, so
//! registration and delivery (after DNS resolution) apply the same one.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Longest endpoint description accepted, in characters (a payment's limit).
pub const MAX_ENDPOINT_DESCRIPTION_CHARS: usize = super::MAX_DESCRIPTION_CHARS;

/// An endpoint's description: at most [`MAX_ENDPOINT_DESCRIPTION_CHARS`]
/// characters, without NUL (PostgreSQL text cannot hold one, and sending
/// it on was answered 500 `internal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDescription(String);

/// Why a description is refused. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("description is longer than {MAX_ENDPOINT_DESCRIPTION_CHARS} characters")]
    TooLong,
    #[error("description must not contain the NUL character")]
    HasNul,
}

impl EndpointDescription {
    pub fn parse(text: String) -> Result<Self, DescriptionError> {
        if text.chars().count() > MAX_ENDPOINT_DESCRIPTION_CHARS {
            return Err(DescriptionError::TooLong);
        }
        if text.contains('\0') {
            return Err(DescriptionError::HasNul);
        }
        Ok(EndpointDescription(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a URL cannot be a webhook endpoint. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not an absolute URL: {0}")]
    Malformed(String),
    #[error("longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the scheme must be https")]
    NotHttps,
    #[error("the scheme must be https or http")]
    NotHttp,
    #[error("credentials in the URL are not accepted")]
    Credentials,
    #[error("a fragment (#...) is never sent, so it is not accepted")]
    Fragment,
    #[error("the URL has no host")]
    NoHost,
    #[error("{0} is a loopback, private, link-local or otherwise non-public address")]
    Forbidden(IpAddr),
}

/// Why payrail will not send to a URL. The text is shown to API clients and
/// recorded with delivery attempts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefused {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("{host} resolves to {ip}, a loopback, private, link-local or otherwise non-public address")]
    Resolves { host: String, ip: IpAddr },
    #[error("{host} does not resolve")]
    Unresolved { host: String },
}

/// An endpoint URL that passed the syntax rules: absolute, `https` (or
/// `http` where allowed), no credentials, no fragment. Whether its host is
/// a public address is a separate question (see [`forbidden`]): a name
/// needs DNS for that, and its answer can change between registration and
/// delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub fn parse(text: &str, allow_http: bool) -> Result<Self, UrlError> {
        if text.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        // The URL parser would trim or drop them silently: what is stored
        // and shown must be what the client sent, and the OpenAPI pattern
        // says the same.
        if text.chars().any(|c| c <= ' ' || c == '\u{7f}') {
            return Err(UrlError::Malformed("spaces and control characters are not allowed".to_owned()));
        }
        let url = Url::parse(text).map_err(|e| UrlError::Malformed(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            _ if allow_http => return Err(UrlError::NotHttp),
            _ => return Err(UrlError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        if url.host().is_none() {
            return Err(UrlError::NoHost);
        }
        Ok(WebhookUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The host when it is an address literal, which no DNS answer can
    /// change: it is judged as it is.
    pub fn ip_literal(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }

    /// The host name to resolve, when it is a name.
    pub fn domain(&self) -> Option<&str> {
        match self.0.host()? {
            Host::Domain(name) => Some(name),
            _ => None,
        }
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    #[test]
    fn descriptions_are_bounded_and_free_of_nul() {
        let at_limit = "é".repeat(MAX_ENDPOINT_DESCRIPTION_CHARS);
        assert_eq!(
            EndpointDescription::parse(at_limit.clone()).map(|d| d.as_str().len()),
            Ok(at_limit.len())
        );
        let long = "é".repeat(MAX_ENDPOINT_DESCRIPTION_CHARS + 1);
        assert_eq!(EndpointDescription::parse(long), Err(DescriptionError::TooLong));
        assert_eq!(EndpointDescription::parse("a\0b".into()), Err(DescriptionError::HasNul));
        assert!(EndpointDescription::parse(String::new()).is_ok());
    }

    #[test]
    fn urls_must_be_https_unless_http_is_allowed() {
        assert!(WebhookUrl::parse("https://hooks.example.com/payrail", false).is_ok());
        assert_eq!(WebhookUrl::parse("http://hooks.example.com/", false), Err(UrlError::NotHttps));
        assert!(WebhookUrl::parse("http://hooks.example.com/", true).is_ok());
        assert_eq!(WebhookUrl::parse("ftp://hooks.example.com/", true), Err(UrlError::NotHttp));
        assert!(matches!(WebhookUrl::parse("hooks.example.com", false), Err(UrlError::Malformed(_))));
        assert!(matches!(WebhookUrl::parse("", false), Err(UrlError::Malformed(_))));
        for spaced in [
            " https://example.com/",
            "https://example.com/ ",
            "https://exa\tmple.com/",
            "https://example.com/a b",
        ] {
            assert!(matches!(WebhookUrl::parse(spaced, false), Err(UrlError::Malformed(_))), "{spaced:?}");
        }
        assert_eq!(WebhookUrl::parse("https://user:pw@example.com/", false), Err(UrlError::Credentials));
        assert_eq!(WebhookUrl::parse("https://example.com/#x", false), Err(UrlError::Fragment));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long, false), Err(UrlError::TooLong));
    }

    #[test]
    fn literal_hosts_and_names_are_told_apart() {
        let url = WebhookUrl::parse("http://127.0.0.1:9000/x", true).unwrap();
        assert_eq!(url.ip_literal(), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(url.port(), 9000);
        let url = WebhookUrl::parse("https://[::1]/x", false).unwrap();
        assert_eq!(url.ip_literal(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let url = WebhookUrl::parse("https://localhost/x", false).unwrap();
        assert_eq!((url.ip_literal(), url.domain(), url.port()), (None, Some("localhost"), 443));
    }
}
