//! `/api/v1/ledger/head`: the latest link of the hash chain the audit's
//! checkpoints keep over the ledger (`domain::chain`), for an outside party
//! to keep a copy of and compare later: a rewritten history, even one whose
//! hashes were all redone, no longer has the head it had. It moves only
//! when `payment-app audit` writes a checkpoint.

use axum::Json;
use axum::extract::State;
pub use payrail_types::LedgerHead;
use tracing::instrument;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::db;

/// The latest head of the ledger's hash chain; 404 before the first audit has chained it.
#[utoipa::path(get, path = "/api/v1/ledger/head", operation_id = "getLedgerHead", tag = "ledger",
    responses(
        (status = 200, description = "The head: keep it, and compare it with `payment-app audit --verify-chain` later", body = LedgerHead),
        (status = 404, description = "`not_found`: no audit has written a checkpoint that chains the ledger yet", body = ErrorBody)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all)]
pub async fn head(State(app): State<AppState>) -> Result<Json<LedgerHead>, ApiError> {
    // From the primary: the head is small, read rarely, and a copy taken
    // from a lagging replica would be an older head than the chain's.
    let head = db::audit_checkpoint::head(&app.db.primary)
        .await?
        .ok_or_else(|| ApiError::not_found("no checkpoint chains the ledger yet: run `payment-app audit`"))?;
    Ok(Json(LedgerHead {
        checkpoint_id: head.checkpoint_id,
        last_entry_id: head.last_entry_id,
        hash: head.hash,
        created_at: head.created_at,
    }))
}
