//! The HTTP API (v1): routes, shared state and serving with graceful stop.

mod accounts;
pub mod error;
mod extract;
mod payments;

use std::str::FromStr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, response::IntoResponse};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::info;

use crate::broker::Publisher;
use crate::db::Db;
use crate::domain::IdError;
use crate::error::Result;
use error::ApiError;

/// Largest request body accepted. A payment request is well under 2 KiB
/// even with the longest description.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub publisher: Publisher,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/accounts", post(accounts::create))
        .route("/api/v1/accounts/{id}", get(accounts::get))
        .route("/api/v1/payment", post(payments::create))
        .route("/api/v1/payment/{id}", get(payments::get))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown`, then stops accepting and lets requests in
/// flight finish.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) -> Result<()> {
    info!(addr = %listener.local_addr()?, "API listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await?;
    info!("API stopped");
    Ok(())
}

/// Liveness: the process is up and serving. Dependencies are not checked
/// here, so a broker outage does not get every instance restarted.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

/// Parses an id from a path segment.
fn parse_id<T: FromStr<Err = IdError>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|e: IdError| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()))
}
