//! The relay's queries: payments still `pending` long after they were
//! accepted, which the broker may never have received, and authorizations
//! that settle has to close (expired, or a capture or void requested and
//! not applied).

use std::time::Duration;

use sqlx::PgPool;

use crate::domain::{AccountId, LinkId, PaymentId};
use crate::error::Result;
use crate::messages::PaymentRoute;

/// Claims up to `limit` payments pending for longer than `stale_after` and
/// not relayed within that time either, and stamps them `relayed_at`.
/// Dead-lettered payments are left alone: sending them round again would
/// only dead-letter them again (they wait for `dead-letters replay`).
/// Rows others hold (another relay, settle) are skipped, so several
/// instances split the work and nobody waits on the relay. The claim is
/// committed when this returns: no row lock is held while the caller
/// publishes, so settle never waits behind the relay.
///
/// The candidates come from `open_payments` (what is not settled yet),
/// not from an index on `payments.status`: such an index would cost every
/// settle a full copy of the row and of its index entries (see the
/// migration `hot_status_updates`). Ids are UUID v7, so their order is
/// their creation order.
pub async fn claim_stale(primary: &PgPool, stale_after: Duration, limit: i64) -> Result<Vec<PaymentRoute>> {
    let routes = sqlx::query_as!(
        PaymentRoute,
        r#"WITH stale AS (
             SELECT p.id FROM open_payments o JOIN payments p ON p.id = o.id
             WHERE p.status = 'pending' AND p.created_at < now() - make_interval(secs => $1)
               AND (p.relayed_at IS NULL OR p.relayed_at < now() - make_interval(secs => $1))
               AND p.dead_lettered_at IS NULL
             ORDER BY o.id LIMIT $2
             FOR NO KEY UPDATE OF p SKIP LOCKED)
         UPDATE payments p SET relayed_at = now() FROM stale WHERE p.id = stale.id
         RETURNING p.id AS "payment_id: PaymentId", p.from_account AS "from_account: AccountId",
                   p.to_account AS "to_account: AccountId", p.link_id AS "link?: LinkId""#,
        stale_after.as_secs_f64(),
        limit,
    )
    .fetch_all(primary)
    .await?;
    Ok(routes)
}

/// Claims up to `limit` authorizations that settle has work for: past
/// their `hold_expires_at`, or with a capture or void requested longer
/// than `stale_after` ago (its publish may have been lost); each once per
/// `stale_after`, as `claim_stale` does for pending payments.
pub async fn claim_due_holds(
    primary: &PgPool,
    stale_after: Duration,
    limit: i64,
) -> Result<Vec<PaymentRoute>> {
    let routes = sqlx::query_as!(
        PaymentRoute,
        r#"WITH due AS (
             SELECT p.id FROM open_payments o JOIN payments p ON p.id = o.id
             WHERE p.status = 'authorized'
               AND (p.hold_expires_at <= now()
                    OR (p.requested_action IS NOT NULL
                        AND p.action_requested_at < now() - make_interval(secs => $1)))
               AND (p.relayed_at IS NULL OR p.relayed_at < now() - make_interval(secs => $1))
               AND p.dead_lettered_at IS NULL
             ORDER BY p.hold_expires_at LIMIT $2
             FOR NO KEY UPDATE OF p SKIP LOCKED)
         UPDATE payments p SET relayed_at = now() FROM due WHERE p.id = due.id
         RETURNING p.id AS "payment_id: PaymentId", p.from_account AS "from_account: AccountId",
                   p.to_account AS "to_account: AccountId", p.link_id AS "link?: LinkId""#,
        stale_after.as_secs_f64(),
        limit,
    )
    .fetch_all(primary)
    .await?;
    Ok(routes)
}
