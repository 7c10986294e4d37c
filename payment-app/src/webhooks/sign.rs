//! Webhook secrets and signatures: `Payrail-Signature: t=<unix seconds>,
//! v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, the scheme Stripe's
//! users already verify. While a rotated-out secret still signs, a second
//! `v1=` follows; a receiver accepts the request if any `v1` matches.

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// What every secret starts with, so one found in a log or a repository is
/// recognised for what it is.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: the prefix and 32 random bytes in hex. The HMAC key is the
/// whole string, prefix included, as the client received it.
pub fn new_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Payrail-Signature` value: the timestamp, then one `v1=` per secret.
pub fn signature_header(secrets: &[SecretString], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against Python's `hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256)`.
    #[test]
    fn signs_as_a_receiver_recomputes_it() {
        let secret = SecretString::from("whsec_test");
        assert_eq!(
            sign(&secret, 1_700_000_000, br#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn one_v1_per_secret_in_order() {
        let (new, old) = (SecretString::from("whsec_new"), SecretString::from("whsec_old"));
        let header = signature_header(&[new.clone(), old.clone()], 42, b"{}");
        assert_eq!(header, format!("t=42,v1={},v1={}", sign(&new, 42, b"{}"), sign(&old, 42, b"{}")));
    }

    #[test]
    fn new_secrets_are_prefixed_random_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        let text = a.expose_secret();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(text.len(), SECRET_PREFIX.len() + 64);
        assert!(text[SECRET_PREFIX.len()..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
