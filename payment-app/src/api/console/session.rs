//! Console sessions: an API token is exchanged once, at sign-in, for a
//! random session id in a cookie. Sessions are rows in PostgreSQL
//! (`db::console_sessions`), so every API process behind a load balancer
//! accepts them and signing out through one ends them for all; an
//! in-memory map per process lost the sign-in whenever the next request
//! reached another replica.
//!
//! Why rows rather than stateless signed cookies: a signed cookie cannot
//! be ended before it expires without a shared list of the ended ones,
//! which is a table again, and it needs a signing key shared by every
//! replica, a new secret to configure and rotate. The table needs neither,
//! and the console's traffic (an operator's clicks) costs it one primary
//! read per page.
//!
//! What is kept: the SHA-256 of the id (the cookie's value cannot be read
//! back from the table), the token's place and scopes, and a binding (the
//! SHA-256 of the id and the token) that must still match the token at
//! that place: a token removed from `API_TOKENS`, or replaced, ends its
//! sessions, and a session never has a scope its token has lost.
//!
//! Every form carries the session's CSRF token, derived from the session
//! id (so it is not stored, and only the cookie's holder has it), compared
//! in constant time; the sign-in form, before any session exists, carries
//! a value that must match its own short-lived cookie (a double submit:
//! another site can neither read our cookies nor set them).

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use crate::api::auth::{ApiTokens, Caller, Scope, Scopes};
use crate::db::console_sessions::{self, StoredSession};
use crate::error::Result;

/// How long a session lasts from sign-in, whatever is done with it: a
/// console left open overnight asks for the token again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// How long the sign-in form's CSRF cookie lasts.
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "payrail_console";

/// The sign-in form's CSRF cookie's name.
pub const SIGN_IN_COOKIE: &str = "payrail_console_signin";

/// A random secret (a session id or a CSRF token): 256 bits, written as
/// hex. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn random() -> Secret {
        Secret(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time that does not depend on
    /// how much of it matched.
    pub fn matches(&self, presented: &str) -> bool {
        Secret::matches_text(&self.0, presented)
    }

    /// [`Self::matches`] for a secret held as text (a cookie's value).
    pub fn matches_text(expected: &str, presented: &str) -> bool {
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub csrf: Secret,
}

/// The key a session is stored under: the SHA-256 of its id.
fn id_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The session's CSRF token: a hash of its id under a label of its own, so
/// it differs from the stored key and is known only to the cookie's holder.
fn csrf_of(id: &str) -> Secret {
    Secret(hex::encode(Sha256::new().chain_update(b"payrail console csrf\0").chain_update(id).finalize()))
}

/// Ties a session to its token without storing the token or a hash of
/// it alone (a token's hash could be guessed at offline; this one needs
/// the session id, which is never stored).
fn binding(id: &str, token: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"payrail console binding\0")
        .chain_update(id)
        .chain_update(token)
        .finalize()
        .into()
}

/// Whether `id` could be a session id at all (64 hex digits): anything
/// else is refused without asking the database.
fn well_formed(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn names(scopes: Scopes) -> Vec<String> {
    Scope::ALL.iter().filter(|s| scopes.contains(**s)).map(|s| s.as_str().to_owned()).collect()
}

/// The scopes both in `stored` (names) and in `now`.
fn still_held(stored: &[String], now: Scopes) -> Scopes {
    let held: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|s| now.contains(*s) && stored.iter().any(|n| n == s.as_str()))
        .collect();
    Scopes::of(&held)
}

/// Opens a session for `caller`, who presented `token`; returns its id,
/// for the cookie.
pub async fn open(pool: &PgPool, caller: Caller, token: &[u8]) -> Result<Secret> {
    let id = Secret::random();
    let stored = StoredSession {
        token: caller.token,
        scopes: names(caller.scopes),
        binding: binding(id.expose(), token),
    };
    console_sessions::open(pool, &id_hash(id.expose()), &stored, SESSION_LIFETIME).await?;
    Ok(id)
}

/// The live session `id` names: known, not signed out, not expired, and
/// its token still configured at its place. Its scopes are those it was
/// opened with that the token still has.
pub async fn get(pool: &PgPool, tokens: &ApiTokens, id: &str) -> Result<Option<Session>> {
    if !well_formed(id) {
        return Ok(None);
    }
    let Some(stored) = console_sessions::get(pool, &id_hash(id)).await? else {
        return Ok(None);
    };
    Ok(admit(&stored, id, tokens.at(stored.token)))
}

/// The session a stored row makes with the token now at its place.
fn admit(stored: &StoredSession, id: &str, now: Option<(&[u8], Scopes)>) -> Option<Session> {
    let (token, scopes) = now?;
    if !bool::from(binding(id, token).ct_eq(&stored.binding)) {
        return None;
    }
    let caller = Caller { token: stored.token, scopes: still_held(&stored.scopes, scopes) };
    Some(Session { caller, csrf: csrf_of(id) })
}

/// Ends the session `id` names, for every process; an unknown id is no
/// error.
pub async fn close(pool: &PgPool, id: &str) -> Result<()> {
    console_sessions::close(pool, &id_hash(id)).await
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, scoped to the
/// console's paths, for `max_age`; `Secure` when the console is served
/// over TLS. An empty value with a zero age removes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}", max_age.as_secs())
}

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> Caller {
        Caller { token: 1, scopes: Scopes::of(&[Scope::Read]) }
    }

    fn stored(id: &str, token: &[u8], scopes: Scopes) -> StoredSession {
        StoredSession { token: 1, scopes: names(scopes), binding: binding(id, token) }
    }

    #[test]
    fn a_session_carries_its_scopes_while_its_token_is_the_same() {
        let id = Secret::random();
        let row = stored(id.expose(), b"token-one-0123456789", reader().scopes);
        let session =
            admit(&row, id.expose(), Some((b"token-one-0123456789", Scopes::ALL))).expect("same token");
        assert_eq!(session.caller, reader(), "the scopes it was opened with, not more");
        assert!(admit(&row, id.expose(), Some((b"token-two-0123456789", Scopes::ALL))).is_none(), "replaced");
        assert!(admit(&row, id.expose(), None).is_none(), "taken out of API_TOKENS");
        let admin = stored(id.expose(), b"token-one-0123456789", Scopes::ALL);
        let narrowed = Scopes::of(&[Scope::Read]);
        let session = admit(&admin, id.expose(), Some((b"token-one-0123456789", narrowed))).unwrap();
        assert!(!session.caller.scopes.contains(Scope::Admin), "a scope the token lost is lost");
        let other = Secret::random();
        assert!(admit(&row, other.expose(), Some((b"token-one-0123456789", Scopes::ALL))).is_none());
    }

    #[test]
    fn the_csrf_token_is_per_session_and_compared_whole() {
        let (a, b) = (Secret::random(), Secret::random());
        let (ca, cb) = (csrf_of(a.expose()), csrf_of(b.expose()));
        assert_ne!(ca, cb);
        assert_ne!(ca.expose(), a.expose());
        assert_ne!(ca.expose(), hex::encode(id_hash(a.expose())), "not the stored key");
        let token = ca.expose();
        assert_eq!(token.len(), 64);
        assert!(ca.matches(token));
        assert!(!ca.matches(&token[..63]));
        assert!(!ca.matches(""));
        assert!(!ca.matches(cb.expose()));
        assert_eq!(format!("{ca:?}"), "Secret(..)", "Debug never prints it");
    }

    #[test]
    fn only_well_formed_ids_reach_the_database() {
        assert!(well_formed(Secret::random().expose()));
        for bad in ["", "not-a-session", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let plain = set_cookie(SESSION_COOKIE, "abc", SESSION_LIFETIME, false);
        assert_eq!(plain, "payrail_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=28800");
        let tls = set_cookie(SESSION_COOKIE, "abc", SESSION_LIFETIME, true);
        assert!(tls.ends_with("; Secure"), "{tls}");
        assert_eq!(cookie("a=1; payrail_console=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie("payrail_console_signin=q", SESSION_COOKIE), None);
        assert_eq!(cookie("", SESSION_COOKIE), None);
    }
}
