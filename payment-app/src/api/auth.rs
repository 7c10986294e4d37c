//! Access control for `/api/v1`: `Authorization: Bearer <token>`, checked
//! against the configured tokens in constant time, and the token's rate,
//! then the route's scopes, all before the body is read; once the body has
//! arrived, the token's share of the requests in flight. Tokens are never
//! logged or printed by `Debug`.
//!
//! A token entry is `TOKEN` (every scope) or `TOKEN=SCOPE+SCOPE…`, the way
//! Stripe's restricted keys narrow what a key may do:
//! `read` (every GET but the webhook endpoints'), `pay` (create payments,
//! and accounts without money), `issue` (an account opened with a non-zero
//! balance: new money) and `admin` (settings: webhook endpoints, their GETs
//! too). The scope table in docs/api.md lists every route; a test holds it.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use tokio::sync::Semaphore;

use super::connections::ConnectionAuth;
use super::error::{ApiError, ErrorCode};
use crate::error::{Error, Result};

/// Shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Pay,
    Issue,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Pay, Scope::Issue, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Pay => "pay",
            Scope::Issue => "issue",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub const ALL: Scopes = Scopes(0b1111);

    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    fn intersects(self, other: Scopes) -> bool {
        self.0 & other.0 != 0
    }
}

/// "`pay` or `issue`", for refusals.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> =
            Scope::ALL.into_iter().filter(|s| self.contains(*s)).map(|s| format!("`{s}`")).collect();
        f.write_str(&names.join(" or "))
    }
}

/// The caller of a request, once its token is accepted: which token (by
/// its place in the configuration, never its text) and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub token: usize,
    pub scopes: Scopes,
}

impl Caller {
    /// Refuses with 403 `forbidden`, naming the scope, unless the caller has it.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("this token lacks the `{scope}` scope")))
        }
    }

    /// Refuses with 403 `forbidden`, naming the scopes, unless the caller
    /// has at least one of them.
    pub fn require_any(&self, scopes: Scopes) -> Result<(), ApiError> {
        if self.scopes.intersects(scopes) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("this token lacks the {scopes} scope")))
        }
    }
}

/// How hard one token may use the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests at once above the sustained rate.
    pub burst: NonZeroU32,
    /// Requests in flight at once.
    pub in_flight: usize,
}

struct Token {
    secret: Box<[u8]>,
    scopes: Scopes,
    in_flight: Arc<Semaphore>,
}

#[derive(Clone)]
pub struct ApiTokens {
    tokens: Arc<[Token]>,
    rate: Arc<DefaultKeyedRateLimiter<usize>>,
    /// The most requests a token may make at once (its burst).
    burst: NonZeroU32,
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiTokens({} configured)", self.tokens.len())
    }
}

impl ApiTokens {
    /// The token at `place` as configured now, its secret and scopes: a
    /// console session, which outlives the process that opened it, checks
    /// that its token is still there and still the same.
    pub(crate) fn at(&self, place: usize) -> Option<(&[u8], Scopes)> {
        self.tokens.get(place).map(|t| (t.secret.as_ref(), t.scopes))
    }

    /// Parses token entries (`TOKEN` or `TOKEN=SCOPE+SCOPE`). Surrounding
    /// whitespace is not part of a token; blank entries (a trailing comma)
    /// are ignored. Refused: a token shorter than [`MIN_TOKEN_LEN`], an
    /// unknown or empty scope list. The error never shows the token.
    pub fn parse<I: IntoIterator<Item = String>>(entries: I, limits: TokenLimits) -> Result<Self> {
        let mut tokens = Vec::new();
        for (place, entry) in entries.into_iter().enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (secret, scopes) = match entry.split_once('=') {
                None => (entry, Scopes::ALL),
                Some((secret, list)) => (secret.trim(), parse_scopes(list, place + 1)?),
            };
            if secret.chars().count() < MIN_TOKEN_LEN {
                return Err(Error::Config(format!(
                    "API_TOKENS entry {} is shorter than {MIN_TOKEN_LEN} characters",
                    place + 1
                )));
            }
            tokens.push(Token {
                secret: secret.as_bytes().into(),
                scopes,
                in_flight: Arc::new(Semaphore::new(limits.in_flight)),
            });
        }
        let quota = Quota::per_second(limits.per_second).allow_burst(limits.burst);
        Ok(ApiTokens {
            tokens: tokens.into(),
            rate: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            burst: limits.burst,
        })
    }

    /// The most requests a token may make at once: more items than this in
    /// one batch could never be within its rate.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// Counts `requests` more requests against `caller`'s rate (a batch's
    /// items past the one its request was counted as), all or none; over
    /// the rate, the 429 to answer. Requests beyond the burst are refused
    /// as over the rate: callers check [`Self::burst`] first.
    pub fn charge(&self, caller: &Caller, requests: u32) -> Result<(), OverRate> {
        let Some(requests) = NonZeroU32::new(requests) else {
            return Ok(());
        };
        match self.rate.check_key_n(&caller.token, requests) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(OverRate {
                wait: not_until.wait_time_from(DefaultClock::default().now()),
                message: "over this token's request rate (a batch counts one request per item); nothing was recorded",
            }),
            Err(_) => Err(OverRate {
                wait: Duration::from_secs(1),
                message: "more requests at once than this token's burst; nothing was recorded",
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The caller presenting `presented`, if it is a configured token.
    /// Compares against every token without stopping at a match, so the
    /// time taken does not say which token, or how much of one, matched.
    pub fn caller(&self, presented: &[u8]) -> Option<Caller> {
        let mut found = Choice::from(0);
        let mut place = 0u64;
        for (i, token) in self.tokens.iter().enumerate() {
            let matched = token.secret.as_ref().ct_eq(presented);
            place.conditional_assign(&(i as u64), matched);
            found |= matched;
        }
        bool::from(found).then(|| {
            let token = usize::try_from(place).expect("a token's place fits usize");
            Caller { token, scopes: self.tokens[token].scopes }
        })
    }
}

fn parse_scopes(list: &str, place: usize) -> Result<Scopes> {
    let mut scopes = Vec::new();
    for name in list.split('+').map(str::trim) {
        let scope = Scope::parse(name).ok_or_else(|| {
            Error::Config(format!(
                "API_TOKENS entry {place}: unknown scope {name:?} (scopes: read, pay, issue, admin)"
            ))
        })?;
        scopes.push(scope);
    }
    Ok(Scopes::of(&scopes))
}

/// The token of an `Authorization` header: the scheme `Bearer` in any case
/// (RFC 7235), then the token, without surrounding whitespace.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Middleware, the first `/api/v1` one: lets the request through only
/// with a valid bearer token within the token's rate, and puts the
/// [`Caller`] into the request's extensions for the scope checks. Nothing
/// of the body has been read yet: a request without a valid token is
/// refused whatever its `Content-Length`, holding no memory for its body.
pub async fn require_token(State(tokens): State<ApiTokens>, mut req: Request, next: Next) -> Response {
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let Some(caller) = presented.and_then(|token| tokens.caller(token.as_bytes())) else {
        let mut response = ApiError::new(
            ErrorCode::Unauthorized,
            "a valid token is required: send Authorization: Bearer <token>",
        )
        .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    };
    // A valid token, whatever its rate: the connection is a client's, no
    // longer on the unauthenticated budget.
    if let Some(connection) = req.extensions().get::<ConnectionAuth>() {
        connection.authenticated();
    }
    if let Err(not_until) = tokens.rate.check_key(&caller.token) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return rate_limited(wait, "this token is over its request rate; nothing was recorded");
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Middleware, after the body has arrived: the request takes one of its
/// token's in-flight slots for as long as it is served, so one token
/// cannot take every slot of the process.
pub async fn limit_token_in_flight(State(tokens): State<ApiTokens>, req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().copied() else {
        // Only reachable if the routes were wired without `require_token`.
        return ApiError::new(ErrorCode::Internal, "internal error").into_response();
    };
    let Ok(_slot) = tokens.tokens[caller.token].in_flight.clone().try_acquire_owned() else {
        return rate_limited(
            Duration::from_secs(1),
            "this token has as many requests in flight as it may; nothing was recorded",
        );
    };
    next.run(req).await
}

/// Requests over their token's rate: answered 429 `rate_limited`, with
/// `Retry-After`.
#[derive(Debug)]
pub struct OverRate {
    wait: Duration,
    message: &'static str,
}

impl IntoResponse for OverRate {
    fn into_response(self) -> Response {
        rate_limited(self.wait, self.message)
    }
}

fn rate_limited(wait: Duration, message: &str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let retry_after = HeaderValue::from(seconds.max(1));
    let mut response =
        ApiError::new(ErrorCode::RateLimited, format!("{message}: retry shortly")).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, retry_after);
    response
}

/// Middleware for a group of routes that need one of `scopes` (each
/// route's scope is checked here, before its body is read or parsed, so a
/// token without it is refused the same whatever it sends). A route that
/// more than one scope may use (opening an account: `pay`, or `issue` for
/// new money) checks which one its request needs in its handler.
pub async fn require_scope(State(scopes): State<Scopes>, req: Request, next: Next) -> Response {
    let caller = req.extensions().get::<Caller>().copied();
    match caller.map(|c| c.require_any(scopes)) {
        Some(Ok(())) => next.run(req).await,
        Some(Err(refused)) => refused.into_response(),
        // Only reachable if the routes were wired without `require_token`.
        None => ApiError::new(ErrorCode::Internal, "internal error").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TokenLimits {
        TokenLimits {
            per_second: NonZeroU32::new(1000).unwrap(),
            burst: NonZeroU32::new(1000).unwrap(),
            in_flight: 10,
        }
    }

    fn parse(entries: &[&str]) -> Result<ApiTokens> {
        ApiTokens::parse(entries.iter().map(|e| (*e).to_owned()), limits())
    }

    #[test]
    fn accepts_exactly_the_configured_tokens_with_their_scopes() {
        let tokens =
            parse(&["alpha-token-0123456", " beta-token-01234567=read+pay ", ""]).expect("valid entries");
        let alpha = tokens.caller(b"alpha-token-0123456").expect("accepted");
        assert_eq!(alpha, Caller { token: 0, scopes: Scopes::ALL });
        let beta = tokens.caller(b"beta-token-01234567").expect("accepted");
        assert_eq!(beta, Caller { token: 1, scopes: Scopes::of(&[Scope::Read, Scope::Pay]) });
        assert!(beta.require(Scope::Pay).is_ok());
        assert!(beta.require_any(Scopes::of(&[Scope::Issue, Scope::Pay])).is_ok());
        let refused = beta.require_any(Scopes::of(&[Scope::Issue, Scope::Admin])).expect_err("neither");
        assert!(refused.message.contains("`issue` or `admin`"), "{}", refused.message);
        let refused = beta.require(Scope::Issue).expect_err("no issue scope");
        assert_eq!((refused.code, refused.message.contains("`issue`")), (ErrorCode::Forbidden, true));
        for wrong in
            [&b""[..], b"alpha", b"alpha-token-01234567", b"ALPHA-TOKEN-0123456", b"beta-token-01234567 "]
        {
            assert!(tokens.caller(wrong).is_none(), "{wrong:?}");
        }
        assert_eq!(format!("{tokens:?}"), "ApiTokens(2 configured)");
    }

    /// Extra requests are charged all or none, per token: what does not
    /// fit the burst left is refused and takes nothing from it.
    #[test]
    fn charging_several_requests_takes_them_all_or_none() {
        let slow = TokenLimits {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(10).unwrap(),
            in_flight: 10,
        };
        let tokens =
            ApiTokens::parse(["alpha-token-0123456".to_owned(), "beta-token-01234567".to_owned()], slow)
                .expect("valid entries");
        let (alpha, beta) =
            (tokens.caller(b"alpha-token-0123456").unwrap(), tokens.caller(b"beta-token-01234567").unwrap());
        assert_eq!(tokens.burst(), 10);
        assert!(tokens.charge(&alpha, 0).is_ok());
        assert!(tokens.charge(&alpha, 8).is_ok());
        assert!(tokens.charge(&alpha, 3).is_err(), "2 left, 3 asked");
        assert!(tokens.charge(&alpha, 2).is_ok(), "the refused 3 took nothing");
        assert!(tokens.charge(&beta, 11).is_err(), "past the burst");
        assert!(tokens.charge(&beta, 10).is_ok(), "another token's rate is its own");
    }

    #[test]
    fn short_tokens_and_unknown_scopes_are_refused_without_showing_the_token() {
        let short = parse(&["0123456789abcdef", "short-secret"]).expect_err("too short");
        assert!(short.to_string().contains("entry 2 is shorter than 16"), "{short}");
        assert!(!short.to_string().contains("short-secret"));
        let unknown = parse(&["0123456789abcdef=read+mint"]).expect_err("unknown scope");
        assert!(unknown.to_string().contains("unknown scope \"mint\""), "{unknown}");
        assert!(!unknown.to_string().contains("0123456789abcdef"));
        assert!(parse(&["0123456789abcdef="]).is_err(), "an empty scope list is a mistake");
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer  "), None);
    }
}
