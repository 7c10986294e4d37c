//! Webhook verification, as payment-app signs (its `webhooks/sign.rs`):
//! `Payrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//! one `v1=` per secret that still signs (two or more during a rotation).
//! The receiver checks the raw bytes, before any JSON parsing: a body
//! re-serialized by a framework would not match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use payrail_types::Event;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a delivery is not to be trusted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Payrail-Signature has no t= or no v1=")]
    MalformedHeader,
    #[error("signed at {signed_at}, more than {tolerance:?} from now")]
    StaleTimestamp { signed_at: i64, tolerance: Duration },
    #[error("no v1= signature matches a secret")]
    SignatureMismatch,
    #[error("signed body is not an event: {0}")]
    MalformedBody(serde_json::Error),
}

/// The event of a delivery whose signature is good: `payload` is the raw
/// body, `signature_header` the `Payrail-Signature` value, `secrets` the
/// endpoint's secret, or several while a rotation is under way (any secret
/// matching any `v1=` is enough). `tolerance` is the largest difference
/// between the signature's time and now (Stripe's default is 5 minutes).
pub fn verify<S: AsRef<str>>(
    payload: &[u8],
    signature_header: &str,
    secrets: &[S],
    tolerance: Duration,
) -> Result<Event, VerifyError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    verify_at(payload, signature_header, secrets, tolerance, now)
}

/// [`verify`] at the instant `now` (unix seconds).
pub fn verify_at<S: AsRef<str>>(
    payload: &[u8],
    signature_header: &str,
    secrets: &[S],
    tolerance: Duration,
    now: i64,
) -> Result<Event, VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in signature_header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = value.parse::<i64>().ok().filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
            }
            Some(("v1", value)) if value.len() == 64 => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let (Some(signed_at), false) = (timestamp, signatures.is_empty()) else {
        return Err(VerifyError::MalformedHeader);
    };
    if now.abs_diff(signed_at) > tolerance.as_secs() {
        return Err(VerifyError::StaleTimestamp { signed_at, tolerance });
    }
    let matches = secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_ref().as_bytes()) else { return false };
        mac.update(format!("{signed_at}.").as_bytes());
        mac.update(payload);
        let expected = mac.finalize().into_bytes();
        signatures.iter().any(|s| bool::from(s.as_slice().ct_eq(expected.as_slice())))
    });
    if !matches {
        return Err(VerifyError::SignatureMismatch);
    }
    serde_json::from_slice(payload).map_err(VerifyError::MalformedBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    // payment-app/src/webhooks/sign.rs's vector.
    const V1: &str = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
    const AT: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"a":1}"#;
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn reason(header: &str, secrets: &[&str], now: i64) -> &'static str {
        match verify_at(BODY, header, secrets, FIVE_MINUTES, now) {
            Ok(_) => "accepted",
            Err(VerifyError::MalformedHeader) => "malformed_header",
            Err(VerifyError::StaleTimestamp { .. }) => "stale_timestamp",
            Err(VerifyError::SignatureMismatch) => "signature_mismatch",
            Err(VerifyError::MalformedBody(_)) => "malformed_body",
        }
    }

    #[test]
    fn the_server_vector_verifies_within_the_tolerance_either_side() {
        // The vector's body is no event: the signature passes, the body is refused as one.
        let header = format!("t={AT},v1={V1}");
        assert_eq!(reason(&header, &["whsec_test"], AT + 300), "malformed_body");
        assert_eq!(reason(&header, &["whsec_test"], AT - 300), "malformed_body");
        assert_eq!(reason(&header, &["whsec_test"], AT + 301), "stale_timestamp");
    }

    #[test]
    fn any_v1_matching_any_secret_is_enough_and_none_is_not() {
        let header = format!("t={AT},v1={},v1={V1}", "0".repeat(64));
        assert_eq!(reason(&header, &["whsec_new", "whsec_test"], AT), "malformed_body");
        assert_eq!(reason(&header, &["whsec_new"], AT), "signature_mismatch");
    }

    #[test]
    fn a_header_without_t_or_v1_is_malformed() {
        for header in [
            String::new(),
            format!("v1={V1}"),
            format!("t={AT}"),
            format!("t=soon,v1={V1}"),
            format!("t=-5,v1={V1}"),
        ] {
            assert_eq!(reason(&header, &["whsec_test"], AT), "malformed_header", "{header:?}");
        }
    }
}
