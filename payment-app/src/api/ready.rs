//! `/readyz`: each dependency's state. Only PostgreSQL decides readiness
//! (503 without it): with RabbitMQ down the API still accepts payments (the
//! relay queues them later), and without a Redis quorum payments wait for
//! their lock; both are reported as `degraded` so an operator sees them,
//! without every instance being taken out of service at once. A statement
//! view that has stopped refreshing is `degraded` too, and so is a work
//! queue that is missing or that no worker consumes. So is a read replica
//! that is down or lagging: reads go to the primary meanwhile
//! (`db::reads`), so the instance keeps serving, and the replica is named.
//!
//! `/readyz` needs no token, so its answer is kept for [`CACHE_FOR`] and
//! computed by one request at a time: a flood of probes costs the
//! dependencies one check a second, not two broker channels and three
//! queries per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::broker::QueueState;
use crate::db;

/// Cap on each check, so the probe answers within a probe's usual timeout.
const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// How long an answer is given again before the checks run anew: far
/// shorter than any probe's period, so a probe never sees a stale state.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// The last answer and when it was checked, shared by every request; its
/// lock is held while the checks run, so that concurrent requests wait
/// for that one check instead of each running their own.
#[derive(Debug, Clone, Default)]
pub struct ReadyCache(Arc<tokio::sync::Mutex<Option<(Instant, StatusCode, Readiness)>>>);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (working, with a dependency down) or `not_ready`.
    status: &'static str,
    postgres: String,
    /// The read replica, when one is configured: `ok`, or why reads go to
    /// the primary (`unavailable: ...`, `lagging: ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<String>,
    rabbitmq: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<String>,
    /// The statement totals: `ok`, or `stale: ...` when they have not been
    /// refreshed for several intervals (statements stay as of then).
    statements: String,
}

/// Each dependency's state; only PostgreSQL decides readiness.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses((status = 200, description = "Ready, or degraded: working with a dependency down", body = Readiness),
        (status = 503, description = "Not ready: PostgreSQL is unavailable", body = Readiness)))]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut last = app.ready.0.lock().await;
    if let Some((at, code, body)) = &*last
        && at.elapsed() < CACHE_FOR
    {
        return (*code, Json(body.clone()));
    }
    let (code, body) = check(&app).await;
    *last = Some((Instant::now(), code, body.clone()));
    (code, Json(body))
}

/// Every dependency's state, checked now.
async fn check(app: &AppState) -> (StatusCode, Readiness) {
    let postgres = async {
        match tokio::time::timeout(CHECK_TIMEOUT, db::ping(&app.db.primary)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("unavailable: {}", e.kind())),
            Err(_) => Err("unavailable: timed out".to_owned()),
        }
    };
    let rabbitmq = async {
        match tokio::time::timeout(CHECK_TIMEOUT, app.broker.work_queues()).await {
            Ok(Ok(queues)) => {
                let problems: Vec<String> = queues
                    .iter()
                    .filter_map(|(queue, state)| match state {
                        QueueState::Missing => Some(format!("{queue} missing")),
                        QueueState::Consumers(0) => Some(format!("{queue} has no consumer")),
                        QueueState::Consumers(_) => None,
                    })
                    .collect();
                if problems.is_empty() { Ok(()) } else { Err(problems.join(", ")) }
            }
            Ok(Err(_)) => Err("unavailable".to_owned()),
            Err(_) => Err("unavailable: timed out".to_owned()),
        }
    };
    let redis = async {
        let health = app.lock.as_ref()?.health().await;
        let text = format!("{}/{} nodes", health.reachable, health.nodes);
        Some(if health.has_quorum() { Ok(text) } else { Err(format!("{text}: no quorum")) })
    };
    let statements = async {
        let stale_after = app.statements.stale_after();
        match tokio::time::timeout(CHECK_TIMEOUT, db::statements::refreshed_at(&app.db.primary)).await {
            Ok(Ok(at)) => {
                let age = (chrono::Utc::now() - at).to_std().unwrap_or_default();
                if age > stale_after {
                    Err(format!("stale: last refreshed {}s ago", age.as_secs()))
                } else {
                    Ok(())
                }
            }
            Ok(Err(e)) => Err(format!("unknown: {}", e.kind())),
            Err(_) => Err("unknown: timed out".to_owned()),
        }
    };
    let replica = async { app.db.replica_state().await.report() };
    let (postgres, replica, rabbitmq, redis, statements) =
        tokio::join!(postgres, replica, rabbitmq, redis, statements);

    let degraded = rabbitmq.is_err()
        || statements.is_err()
        || matches!(redis, Some(Err(_)))
        || matches!(replica, Some(Err(_)));
    let status = match postgres {
        Err(_) => "not_ready",
        Ok(()) if degraded => "degraded",
        Ok(()) => "ready",
    };
    let code = if status == "not_ready" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let text = |r: Result<(), String>| r.map_or_else(|e| e, |()| "ok".to_owned());
    let body = Readiness {
        status,
        postgres: text(postgres),
        replica: replica.map(text),
        rabbitmq: text(rabbitmq),
        redis: redis.map(|r| r.unwrap_or_else(|e| e)),
        statements: text(statements),
    };
    (code, body)
}
