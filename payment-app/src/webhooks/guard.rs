//! Where payrail agrees to send: the SSRF rules applied to a URL's target.
//!
//! An address literal is judged as it is. A name is resolved and every
//! address it resolves to must be public; at delivery the HTTP client
//! resolves names through [`GuardedResolver`], which applies the same rule
//! to the very addresses it then connects to, so a name that resolved to a
//! public address at registration and to 127.0.0.1 later (DNS rebinding)
//! is refused at delivery.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{TargetRefused as Refused, UrlError, WebhookUrl, forbidden};

/// Refuses a target that is not public, unless `allow_private` (local
/// development and tests).
pub async fn check_target(url: &WebhookUrl, allow_private: bool) -> Result<(), Refused> {
    if allow_private {
        return Ok(());
    }
    if let Some(ip) = url.ip_literal() {
        return if forbidden(ip) { Err(UrlError::Forbidden(ip).into()) } else { Ok(()) };
    }
    let host = url.domain().ok_or(UrlError::NoHost)?;
    resolve_public(host, url.port()).await.map(drop)
}

/// Every address of `host`, provided each one is public.
async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    let unresolved = || Refused::Unresolved { host: host.to_owned() };
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|_| unresolved())?.collect();
    if addrs.is_empty() {
        return Err(unresolved());
    }
    // One non-public address refuses the name: which one a connection
    // would use is not ours to predict.
    if let Some(bad) = addrs.iter().find(|a| forbidden(a.ip())) {
        return Err(Refused::Resolves { host: host.to_owned(), ip: bad.ip() });
    }
    Ok(addrs)
}

/// The delivery client's resolver when private targets are not allowed.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literal_and_resolved_non_public_targets_are_refused() {
        for (text, refused) in [
            ("http://127.0.0.1:9/", true),
            ("http://10.0.0.1/", true),
            ("http://169.254.169.254/latest/meta-data/", true),
            ("http://[::1]/", true),
            ("http://localhost:9/", true),
            ("http://93.184.216.34/", false),
        ] {
            let url = WebhookUrl::parse(text, true).unwrap();
            assert_eq!(check_target(&url, false).await.is_err(), refused, "{text}");
            assert!(check_target(&url, true).await.is_ok(), "{text} is allowed with allow_private");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let name: Name = "localhost".parse().unwrap();
        let refused = GuardedResolver.resolve(name).await.err().expect("localhost is loopback");
        assert!(refused.to_string().contains("resolves to"), "{refused}");
    }
}
