//! The HTTP API (v1): routes, shared state and serving with graceful stop.

mod accounts;
pub mod auth;
mod batch;
mod connections;
pub mod console;
mod entries;
pub mod error;
mod events;
mod extract;
mod ledger;
pub mod openapi;
mod payments;
mod ready;
mod refunds;
mod search;
mod serve;
mod statements;
mod webhooks;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::{Json, response::IntoResponse};
use http_body_util::BodyExt;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::info;

use crate::broker::Broker;
use crate::db::Db;
use crate::db::idempotency::Idempotent;
use crate::domain::issuance::IssuanceLimits;
use crate::domain::{Currency, IdError};
use crate::error::Result;
use crate::intake::Intake;
use crate::lock::AccountLock;
use crate::webhooks::WebhookPolicy;
use crate::worker::refresh::RefreshConfig;
use auth::{ApiTokens, Scope, Scopes};
pub use connections::ConnectionLimits;
use error::{ApiError, ErrorCode};
pub use serve::ServeLimits;

/// Largest request body accepted. A payment request is well under 2 KiB
/// even with the longest description.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub broker: Broker,
    pub intake: Intake,
    /// The lock, in processes that run the lock or settle worker; reported
    /// by `/readyz`.
    pub lock: Option<AccountLock>,
    pub tokens: ApiTokens,
    /// How much money accounts may be opened with.
    pub issuance: IssuanceLimits,
    /// The currency of accounts opened without one.
    pub default_currency: Currency,
    /// How often the statement view is refreshed: /readyz reports it stale
    /// past that.
    pub statements: RefreshConfig,
    /// Longest a request may take before it is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Most `/api/v1` requests served at once; more are answered 503 `overloaded`.
    pub max_in_flight: usize,
    /// Longest a request's body may take to arrive, read before the
    /// request takes an in-flight slot.
    pub body_timeout: Duration,
    /// What webhook registration allows.
    pub webhooks: WebhookPolicy,
    /// Most items in one `POST /api/v1/payments/batch` (its body limit
    /// follows from it).
    pub batch_max_items: usize,
    /// `/readyz`'s last answer.
    pub ready: ready::ReadyCache,
}

/// Where the operations routes (`/readyz`, `/metrics`) are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    /// On the API's own port: one port for local development.
    WithTheApi,
    /// On a port of their own ([`operations_router`]): the API's port
    /// then carries the API, `/healthz` and this document only, so an
    /// Ingress in front of it publishes no readiness details and no
    /// metrics.
    Apart,
}

/// The probes and metrics, without a token. `/healthz` says only that the
/// process is up, so it stays on the API's port too, for a load balancer's
/// health check.
fn operations() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready::readyz))
        .route("/metrics", get(metrics))
}

/// The operations port's router, for [`Operations::Apart`].
pub fn operations_router(state: AppState) -> Router {
    operations()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.request_timeout, request_timeout))
        .with_state(state)
}

/// Every route, grouped by the scope it needs. One table on purpose, however
/// long: which scope guards which route is read, and reviewed, in one place.
pub fn router(state: AppState, operations_here: Operations) -> Router {
    // Each group's scope. Webhook endpoints are settings (`admin`); events
    // are reads.
    let webhook_admin = Router::new()
        .route("/api/v1/webhook-endpoints", post(webhooks::create).get(webhooks::list))
        .route("/api/v1/webhook-endpoints/{id}", get(webhooks::get).delete(webhooks::delete))
        .route("/api/v1/webhook-endpoints/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/api/v1/webhook-endpoints/{id}/attempts", get(webhooks::attempts));
    let admin_only = Scopes::of(&[Scope::Admin]);
    let reads = Router::new()
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/events/{id}", get(events::get))
        .route("/api/v1/accounts", get(search::accounts))
        .route("/api/v1/payments", get(search::payments))
        .route("/api/v1/accounts/{id}", get(accounts::get))
        .route("/api/v1/accounts/{id}/payments", get(statements::payments))
        .route("/api/v1/accounts/{id}/statement", get(statements::statement))
        .route("/api/v1/accounts/{id}/entries", get(entries::list))
        .route("/api/v1/accounts/{id}/balance", get(entries::balance_at))
        .route("/api/v1/ledger/head", get(ledger::head))
        .route("/api/v1/payment/{id}", get(payments::get))
        .route("/api/v1/payment/{id}/refunds", get(refunds::list))
        .route("/api/v1/refunds/{id}", get(refunds::get));
    let read_only = Scopes::of(&[Scope::Read]);
    // Metadata is the client's own: changing it takes `pay`, as opening an
    // account without money does (an account's: see `opening`).
    let pays = Router::new()
        .route("/api/v1/payment", post(payments::create))
        // The one route with a larger body limit, sized by its item limit
        // (the same in `buffer_body`, which reads the body first).
        // (Written out, not `batch::ROUTE`: the OpenAPI test reads the
        // routes from this source.)
        .route(
            "/api/v1/payments/batch",
            post(batch::create).layer(DefaultBodyLimit::max(batch::body_limit(state.batch_max_items))),
        )
        .route("/api/v1/payment/{id}/capture", post(payments::capture))
        .route("/api/v1/payment/{id}/void", post(payments::void))
        .route("/api/v1/payment/{id}/refunds", post(refunds::create))
        .route("/api/v1/payment/{id}", patch(payments::update));
    let pay_only = Scopes::of(&[Scope::Pay]);
    // `pay` opens an account without money, `issue` one with: which one a
    // request needs is its body's to say, but a token with neither is
    // refused before the body is looked at.
    // The same for changing an account: its metadata takes `pay`, its
    // credit limit `issue`.
    let opening = Router::new()
        .route("/api/v1/accounts", post(accounts::create))
        .route("/api/v1/accounts/{id}", patch(accounts::update));
    let guards = Guards {
        in_flight: Arc::new(Semaphore::new(state.max_in_flight)),
        body: BodyLimits { deadline: state.body_timeout, batch: batch::body_limit(state.batch_max_items) },
        tokens: state.tokens.clone(),
    };
    let v1 = guards
        .wrap(reads, read_only)
        .merge(guards.wrap(pays, pay_only))
        .merge(guards.wrap(webhook_admin, admin_only))
        .merge(guards.wrap(opening, Scopes::of(&[Scope::Pay, Scope::Issue])))
        .route_layer(middleware::from_fn_with_state(state.tokens.clone(), auth::require_token));
    let probes = match operations_here {
        Operations::WithTheApi => operations(),
        Operations::Apart => Router::new().route("/healthz", get(healthz)),
    };
    probes
        .route("/api/v1/openapi.json", get(openapi::serve))
        .merge(v1)
        // The operations console (HTML, behind its own sessions).
        .merge(console::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.request_timeout, request_timeout))
        .layer(middleware::from_fn(count_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Outermost first: every request gets an id (the client's
        // `x-request-id`, or a new UUID), every log line of the request
        // carries it, and the response echoes it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id, trace_id = tracing::field::Empty);
            // One trace per payment starts here, or continues the client's.
            payrail_common::traces::set_parent_from(&span, |k| {
                request.headers().get(k)?.to_str().ok().map(str::to_owned)
            });
            payrail_common::traces::record_trace_id(&span);
            span
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::from_fn(bound_request_id))
        .with_state(state)
}

/// Longest client `x-request-id` kept; a longer one, or one with
/// characters outside `[A-Za-z0-9._:-]`, is replaced by a new id, so what is
/// echoed and logged stays short and printable.
const MAX_REQUEST_ID: usize = 128;

async fn bound_request_id(mut req: Request, next: Next) -> Response {
    let acceptable = |v: &axum::http::HeaderValue| {
        v.len() <= MAX_REQUEST_ID
            && !v.is_empty()
            && v.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
    };
    if req.headers().get("x-request-id").is_some_and(|v| !acceptable(v)) {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// Answers 503 `timeout` when a request runs past its time. The request's
/// work is dropped where it stands: a payment whose insert had committed
/// stays accepted (and is queued by the relay), which is why the message
/// points at retrying with the same `Idempotency-Key`.
async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            "the request took too long; it may have taken effect: retry with the same Idempotency-Key",
        )
        .into_response(),
    }
}

/// What every `/api/v1` route goes through, shared by the route groups.
#[derive(Debug, Clone)]
struct Guards {
    in_flight: Arc<Semaphore>,
    body: BodyLimits,
    tokens: ApiTokens,
}

impl Guards {
    /// `routes` behind their scope check and the limits, in this order
    /// (after `require_token`, which the caller puts around every group):
    /// the scope, before anything of the body is read; the body, read whole
    /// within its deadline, before any slot is taken (a trickling client
    /// holds none); then a slot of the process's in-flight limit and one of
    /// the token's.
    fn wrap(&self, routes: Router<AppState>, scopes: Scopes) -> Router<AppState> {
        routes
            .route_layer(middleware::from_fn_with_state(self.tokens.clone(), auth::limit_token_in_flight))
            .route_layer(middleware::from_fn_with_state(self.in_flight.clone(), limit_in_flight))
            .route_layer(middleware::from_fn_with_state(self.body, buffer_body))
            .route_layer(middleware::from_fn_with_state(scopes, auth::require_scope))
    }
}

/// How long a request body may take to arrive, and how large the batch
/// route's may be (every other route's: [`MAX_BODY_BYTES`]).
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    deadline: Duration,
    batch: usize,
}

/// Reads the whole body (at most [`MAX_BODY_BYTES`], the batch route's
/// limit on that route) within `deadline` before anything else is done
/// with the request: a client trickling its body holds no in-flight slot,
/// and is answered 408 `body_timeout` well before the request timeout,
/// with nothing recorded.
async fn buffer_body(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let BodyLimits { deadline, batch } = limits;
    let is_batch = req.extensions().get::<MatchedPath>().is_some_and(|p| p.as_str() == batch::ROUTE);
    let max = if is_batch { batch } else { MAX_BODY_BYTES };
    let (parts, body) = req.into_parts();
    let read = async {
        let mut body = body;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|_| ApiError::new(ErrorCode::UnreadableBody, "request body could not be read"))?;
            // Trailers carry no body.
            let Ok(data) = frame.into_data() else { continue };
            if bytes.len() + data.len() > max {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request body is larger than {max} bytes"),
                ));
            }
            bytes.extend_from_slice(&data);
        }
        Ok(bytes)
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Ok(Err(refused)) => refused.into_response(),
        Err(_) => ApiError::new(
            ErrorCode::BodyTimeout,
            format!(
                "the request body did not arrive within {} ms; nothing was recorded",
                deadline.as_millis()
            ),
        )
        .into_response(),
    }
}

/// Answers 503 `overloaded` at once while `max_in_flight` requests are
/// being served. Past what the machine can settle, requests would only wait
/// longer and longer, each holding memory; refusing the excess keeps the
/// requests in flight fast and the process's memory bounded, and tells
/// clients to come back. A refused request has recorded nothing.
async fn limit_in_flight(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    match slots.try_acquire() {
        Ok(_slot) => next.run(req).await,
        Err(_) => {
            let refusal = ApiError::new(
                ErrorCode::Overloaded,
                "payrail is serving as many requests as it can; nothing was recorded: retry shortly",
            );
            ([(header::RETRY_AFTER, "1")], refusal).into_response()
        }
    }
}

/// Serves the API on `listener`, and the operations routes on `operations`
/// when given (else on `listener` too), until `shutdown`; then stops
/// accepting and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    operations: Option<TcpListener>,
    state: AppState,
    limits: ServeLimits,
    shutdown: CancellationToken,
) -> Result<()> {
    info!(addr = %listener.local_addr()?, "API listening");
    match operations {
        None => serve::serve(listener, router(state, Operations::WithTheApi), limits, shutdown).await?,
        Some(operations) => {
            info!(addr = %operations.local_addr()?, "probes and metrics listening");
            let ops = serve::serve(operations, operations_router(state.clone()), limits, shutdown.clone());
            let api = serve::serve(listener, router(state, Operations::Apart), limits, shutdown);
            tokio::try_join!(api, ops)?;
        }
    }
    info!("API stopped");
    Ok(())
}

/// Prometheus metrics. Pool gauges are read at scrape time.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let m = crate::metrics::get();
    for (pool, p) in [("primary", &app.db.primary), ("replica", &app.db.replica)] {
        let label = |state: &str| crate::metrics::PoolLabels { pool: pool.into(), state: state.into() };
        m.db_connections.get_or_create(&label("open")).set(i64::from(p.size()));
        m.db_connections.get_or_create(&label("idle")).set(i64::try_from(p.num_idle()).unwrap_or(i64::MAX));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.render())
}

/// Counts requests by matched route (not raw path: ids would explode the
/// label set) and status, and times them.
async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let m = crate::metrics::get();
    m.http_duration
        .get_or_create(&crate::metrics::RouteLabel { route: route.clone() })
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&crate::metrics::HttpLabels { route, status: response.status().as_u16() })
        .inc();
    response
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness: the process is up and serving. Dependencies are not checked
/// here, so a broker outage does not get every instance restarted.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is up (dependencies are not checked)", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this route")
}

/// The answer to a create under an optional idempotency key: the new
/// resource with its `Location`; for a retry under the same key, the same
/// status and the snapshot taken at the first create, marked replayed; or
/// the refusal of a key reused for another request.
fn answer_create<T, V: Serialize>(
    outcome: Idempotent<T>,
    status: StatusCode,
    view: impl FnOnce(T) -> (String, V),
) -> Result<Response, ApiError> {
    match outcome {
        Idempotent::Created(resource) => {
            let (location, view) = view(resource);
            Ok((status, [(header::LOCATION, location)], Json(view)).into_response())
        }
        Idempotent::Replayed(snapshot) => {
            Ok((status, [(HeaderName::from_static("idempotent-replayed"), "true")], Json(snapshot))
                .into_response())
        }
        Idempotent::KeyReused => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request",
        )),
    }
}

/// `limit` and `cursor` of a keyset-paged list (newest first): `limit`
/// 1 to 500, default 50; `cursor` the last id of the previous page.
#[derive(Debug)]
struct Page<T> {
    limit: i64,
    cursor: Option<T>,
}

impl<T: FromStr<Err = IdError> + Copy> Page<T> {
    const MAX_LIMIT: i64 = 500;
    const DEFAULT_LIMIT: i64 = 50;

    fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let limit = parse_limit(query, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?;
        let cursor = query_id(query, "cursor")?;
        Ok(Page { limit, cursor })
    }

    /// The cursor of the next page: the last id of a full page, else none.
    fn next_cursor<R>(&self, rows: &[R], id: impl Fn(&R) -> T) -> Option<T> {
        if rows.len() as i64 == self.limit { rows.last().map(id) } else { None }
    }
}

/// The `limit` of a query: 1 to `max`, `default` when absent.
fn parse_limit(query: &HashMap<String, String>, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(text) = query.get("limit") else { return Ok(default) };
    text.parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, format!("limit must be 1 to {max}")))
}

/// An optional id in the query, such as a cursor.
fn query_id<T: FromStr<Err = IdError>>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    query
        .get(name)
        .map(|text| text.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("{name}: {e}")))
}

/// Parses an id from a path segment.
fn parse_id<T: FromStr<Err = IdError>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: IdError| ApiError::new(ErrorCode::InvalidId, e.to_string()))
}
