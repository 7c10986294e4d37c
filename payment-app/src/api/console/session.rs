//! Console sessions: an API token is exchanged once, at sign-in, for a
//! random session id in a cookie; the token itself is never kept, only
//! which token it was and its scopes ([`Caller`]). Sessions live in this
//! process's memory, so signing out ends one for good, and a restart (or
//! a rotated token list) ends them all.
//!
//! Every form carries the session's CSRF token, compared in constant time
//! to the one kept here; the sign-in form, before any session exists,
//! carries a value that must match its own short-lived cookie (a double
//! submit: another site can neither read our cookies nor set them).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::auth::Caller;

/// How long a session lasts from sign-in, whatever is done with it: a
/// console left open overnight asks for the token again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// How long the sign-in form's CSRF cookie lasts.
pub const SIGN_IN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Most sessions kept at once; past it the one closest to its end goes,
/// so sign-ins cannot grow the process's memory without bound.
pub const MAX_SESSIONS: usize = 10_000;

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
    expires: Instant,
}

/// The sessions of this process, keyed by the SHA-256 of their id (so
/// the map's lookups do not compare the id itself byte by byte).
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<[u8; 32], Session>>>);

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for `caller`, valid until `now + SESSION_LIFETIME`;
    /// returns its id, for the cookie.
    pub fn open(&self, caller: Caller, now: Instant) -> Secret {
        let id = Secret::random();
        let session = Session { caller, csrf: Secret::random(), expires: now + SESSION_LIFETIME };
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(key(id.expose()), session);
        id
    }

    /// The session `id` names, unless it is unknown or over its lifetime
    /// (then it is forgotten).
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let k = key(id);
        match map.get(&k) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends the session `id` names; an unknown id is no error.
    pub fn close(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.0.lock().expect("never poisoned: no panics under the lock")
    }
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
    use crate::api::auth::{Scope, Scopes};

    fn reader() -> Caller {
        Caller { token: 1, scopes: Scopes::of(&[Scope::Read]) }
    }

    #[test]
    fn a_session_carries_its_callers_scopes_until_it_ends() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.open(reader(), now);
        let session = sessions.get(id.expose(), now).expect("open");
        assert_eq!(session.caller, reader());
        assert!(!session.caller.scopes.contains(Scope::Admin));
        assert!(sessions.get(id.expose(), now + SESSION_LIFETIME - Duration::from_secs(1)).is_some());
        assert!(sessions.get(id.expose(), now + SESSION_LIFETIME).is_none(), "over its lifetime");
        assert!(sessions.get(id.expose(), now).is_none(), "an expired session is forgotten");
    }

    #[test]
    fn signing_out_ends_only_that_session() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let (a, b) = (sessions.open(reader(), now), sessions.open(reader(), now));
        assert_ne!(a, b);
        sessions.close(a.expose());
        assert!(sessions.get(a.expose(), now).is_none());
        assert!(sessions.get(b.expose(), now).is_some());
        assert!(sessions.get("not-a-session", now).is_none());
    }

    #[test]
    fn the_csrf_token_is_per_session_and_compared_whole() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let a = sessions.get(sessions.open(reader(), now).expose(), now).unwrap();
        let b = sessions.get(sessions.open(reader(), now).expose(), now).unwrap();
        assert_ne!(a.csrf, b.csrf);
        let token = a.csrf.expose();
        assert_eq!(token.len(), 64);
        assert!(a.csrf.matches(token));
        assert!(!a.csrf.matches(&token[..63]));
        assert!(!a.csrf.matches(""));
        assert!(!a.csrf.matches(b.csrf.expose()));
        assert_eq!(format!("{:?}", a.csrf), "Secret(..)", "Debug never prints it");
    }

    #[test]
    fn sessions_are_bounded_by_evicting_the_oldest() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let first = sessions.open(reader(), now);
        for i in 1..MAX_SESSIONS {
            sessions.open(reader(), now + Duration::from_millis(i as u64));
        }
        let last = sessions.open(reader(), now + Duration::from_secs(20));
        let at = now + Duration::from_secs(21);
        assert!(sessions.get(first.expose(), at).is_none(), "the oldest went");
        assert!(sessions.get(last.expose(), at).is_some());
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
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
