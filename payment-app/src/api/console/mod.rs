//! The operations console at `/console`: server-rendered HTML pages
//! (maud templates, compiled into the binary with their one stylesheet),
//! no script at all, behind a session made from an API token.
//!
//! Why server-rendered and script-free: every page is a read of a few
//! rows, the pages must work from the binary alone (no asset build, no
//! CDN), and with no script the Content-Security-Policy can forbid every
//! script, so an escaping mistake cannot run one. Reads go through the same
//! read policy (`Db::read`) and the session carries the token's scopes
//! ([`Caller`]), checked as the API checks them; each page request counts
//! against the token's request rate.
//!
//! These routes are not in the OpenAPI document: they answer HTML to a
//! browser, not a contract for clients or the fuzzer.

mod attempts;
mod chart;
mod pages;
pub mod session;
mod system;
mod views;
mod webhooks;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::Markup;
use serde::Deserialize;
use tracing::{error, info, warn};

use super::AppState;
use super::auth::{Caller, Scope};
use super::connections::ConnectionAuth;
use crate::error::{Error, chain};
use session::{SESSION_COOKIE, SESSION_LIFETIME, SIGN_IN_COOKIE, SIGN_IN_LIFETIME, Secret};
use views::Frame;

/// The console's stylesheet, in the binary.
const STYLESHEET: &str = include_str!("console.css");

/// No script, no frame, no plugin; styles and images only from here;
/// forms only back to here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the console's handlers share. Sessions and failed sign-ins are
/// not here: they are rows in PostgreSQL, shared by every API process
/// (`session`, `attempts`).
#[derive(Debug, Clone)]
pub struct Console {
    pub app: AppState,
}

impl FromRef<Console> for AppState {
    fn from_ref(console: &Console) -> AppState {
        console.app.clone()
    }
}

/// The console's routes, ready to merge into the API's router.
pub fn router<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    let console = Console { app };
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/payments") }))
        .route("/console/", get(|| async { Redirect::to("/console/payments") }))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/payments", get(pages::payments))
        .route("/console/payments/{id}", get(pages::payment))
        .route("/console/accounts", get(pages::accounts))
        .route("/console/accounts/{id}", get(pages::account))
        .route("/console/dead-letters", get(pages::dead_letters))
        .route("/console/dead-letters/replay", post(pages::replay))
        .route("/console/system", get(system::page))
        .route("/console/webhooks", get(webhooks::list))
        .route("/console/webhooks/{id}/rotate", post(webhooks::rotate))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Headers on every console answer: the policy above, no sniffing, no
/// framing, no referrer, and nothing cached (pages show balances).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")], STYLESHEET)
        .into_response()
}

/// Whether the browser reached us over TLS. payment-app serves plain
/// HTTP; TLS ends at a proxy in front of it, which says so. A client that
/// claims it falsely only gets a cookie its own browser will not send back
/// over plain HTTP.
fn over_tls(headers: &HeaderMap) -> bool {
    let says = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("https"))
    };
    says("x-forwarded-proto") || says("forwarded")
}

fn cookie_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, name))
}

/// A request of a signed-in user: its session, and its id (to sign out).
#[derive(Debug)]
pub struct Signed {
    pub caller: Caller,
    pub csrf: Secret,
    id: String,
}

impl Signed {
    fn frame(&self) -> Frame<'_> {
        Frame { caller: self.caller, csrf: self.csrf.expose() }
    }

    /// Refuses unless `presented` is this session's CSRF token.
    fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        if self.csrf.matches(presented) { Ok(()) } else { Err(ConsoleError::Csrf) }
    }

    fn require(&self, scope: Scope) -> Result<(), ConsoleError> {
        self.caller.require(scope).map_err(|refused| ConsoleError::Forbidden(refused.0.message))
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    /// Without a live session, a page sends the browser to sign in and a
    /// POST is refused. A session counts against its token's request rate,
    /// as the token would.
    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let id = cookie_of(&parts.headers, SESSION_COOKIE).unwrap_or_default();
        let found = session::get(&console.app.db.primary, &console.app.tokens, id).await;
        let Some(session) = found.map_err(|e| ConsoleError::Internal(e).into_response())? else {
            if parts.method == axum::http::Method::GET {
                return Err(Redirect::to("/console/sign-in").into_response());
            }
            return Err(ConsoleError::SignedOut.into_response());
        };
        if let Err(over) = console.app.tokens.charge(&session.caller, 1) {
            return Err(over.into_response());
        }
        if let Some(connection) = parts.extensions.get::<ConnectionAuth>() {
            connection.authenticated();
        }
        Ok(Signed { caller: session.caller, csrf: session.csrf, id: id.to_owned() })
    }
}

/// Why a console request was refused or failed, as a page.
#[derive(Debug)]
pub enum ConsoleError {
    SignedOut,
    Csrf,
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    Internal(Error),
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        ConsoleError::Internal(e)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            ConsoleError::SignedOut => {
                (StatusCode::UNAUTHORIZED, "Signed out", "Your session has ended: sign in again.".to_owned())
            }
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was not sent by this session's console page; nothing was done.".to_owned(),
            ),
            ConsoleError::Forbidden(message) => (StatusCode::FORBIDDEN, "Refused", message),
            ConsoleError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            ConsoleError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            ConsoleError::Internal(e) => {
                error!(error = %chain(&e), "console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error",
                    "Something failed; it is in the server's log.".to_owned(),
                )
            }
        };
        (status, views::problem(title, &message, None)).into_response()
    }
}

/// A page answer with a status.
fn html(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

async fn sign_in_form(headers: HeaderMap) -> Response {
    sign_in_page(&headers, StatusCode::OK, None)
}

/// The sign-in form with a fresh CSRF value in it and in its cookie.
fn sign_in_page(headers: &HeaderMap, status: StatusCode, refusal: Option<&str>) -> Response {
    let csrf = Secret::random();
    let cookie = session::set_cookie(SIGN_IN_COOKIE, csrf.expose(), SIGN_IN_LIFETIME, over_tls(headers));
    let mut response = html(status, views::sign_in(csrf.expose(), refusal));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
    csrf: String,
}

/// Exchanges a token for a session. The token arrives in the form body
/// only (never a URL), is compared as the API compares it, and is dropped
/// here: neither it nor any part of it is logged.
async fn sign_in(
    State(console): State<Console>,
    connection: Option<Extension<ConnectionAuth>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    // Every connection is registered with its address; the fallback is
    // for a router served some other way.
    let client = connection.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(c)| c.peer());
    let expected = cookie_of(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !Secret::matches_text(expected, &form.csrf) {
        // Most often a form left open past its cookie's 10 minutes: a
        // fresh one, with nothing done.
        let refusal =
            "This sign-in form expired or was not sent by this console; nothing was done: sign in again.";
        return sign_in_page(&headers, StatusCode::FORBIDDEN, Some(refusal));
    }
    let primary = &console.app.db.primary;
    let failures = match attempts::admit(primary, client).await {
        Ok(Ok(failures)) => failures,
        Ok(Err(wait)) => return too_many_wrong_tokens(&headers, client, wait),
        Err(e) => return ConsoleError::Internal(e).into_response(),
    };
    let Some(caller) = console.app.tokens.caller(form.token.trim().as_bytes()) else {
        info!(client = %client, failures, "console sign-in refused: unknown token");
        return sign_in_page(&headers, StatusCode::UNAUTHORIZED, Some("That token is not accepted."));
    };
    if let Err(e) = attempts::succeeded(primary, client).await {
        return ConsoleError::Internal(e).into_response();
    }
    if let Err(refused) = caller.require(Scope::Read) {
        return sign_in_page(&headers, StatusCode::FORBIDDEN, Some(&refused.message));
    }
    if let Err(over) = console.app.tokens.charge(&caller, 1) {
        return over.into_response();
    }
    let id = match session::open(&console.app.db.primary, caller, form.token.trim().as_bytes()).await {
        Ok(id) => id,
        Err(e) => return ConsoleError::Internal(e).into_response(),
    };
    info!(token = caller.token + 1, "console session opened");
    let tls = over_tls(&headers);
    let mut response = Redirect::to("/console/payments").into_response();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, id.expose(), SESSION_LIFETIME, tls),
        session::set_cookie(SIGN_IN_COOKIE, "", Duration::ZERO, tls),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The sign-in form again, refused with 429 and `Retry-After` (whole
/// seconds, rounded up), the token not looked at.
fn too_many_wrong_tokens(headers: &HeaderMap, client: IpAddr, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    warn!(client = %client, retry_after_secs = secs, "console sign-in refused: too many wrong tokens from this client");
    let refusal = format!("Too many wrong tokens from this address: try again in {secs} s.");
    let mut response = sign_in_page(headers, StatusCode::TOO_MANY_REQUESTS, Some(&refusal));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(console): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    session::close(&console.app.db.primary, &signed.id).await?;
    info!(token = signed.caller.token + 1, "console session closed");
    let cookie = session::set_cookie(SESSION_COOKIE, "", Duration::ZERO, over_tls(&headers));
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_what_the_proxy_in_front_says() {
        let mut headers = HeaderMap::new();
        assert!(!over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(over_tls(&headers));
        let mut headers = HeaderMap::new();
        headers.insert("forwarded", HeaderValue::from_static("for=1.2.3.4;proto=https"));
        assert!(over_tls(&headers));
        headers.insert("forwarded", HeaderValue::from_static("proto=http"));
        assert!(!over_tls(&headers));
    }

    #[test]
    fn the_policy_allows_no_script_and_no_inline_style() {
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("script-src"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(STYLESHEET.contains(".status.done"), "the stylesheet is embedded");
    }
}
