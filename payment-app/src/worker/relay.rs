//! The relay: a 202 means the payment is committed, and the relay makes
//! sure it also reaches the broker. Every interval it re-publishes payments
//! that are still `pending` well after they were accepted: ones whose
//! publish failed (the broker was down, the process died between commit and
//! publish) and ones lost further down. It also sends authorizations past
//! their `hold_expires_at` to settle, which expires them: the relay is the
//! expiry's clock. A duplicate is harmless: the lock worker locks it again
//! and settle finds it already settled.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::broker::{LOCK_QUEUE, Publisher};
use crate::db::{self, Db};
use crate::error::{Result, chain};
use crate::messages::LockGroup;
use crate::worker::pause;

/// Most payments claimed per sweep.
const SWEEP_LIMIT: i64 = 500;
/// Most payments re-published as one message.
const RELAY_GROUP: usize = 64;

/// When the relay looks, and what it counts as lost.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// A payment pending longer than this is published again.
    pub stale_after: Duration,
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct Relay {
    pub db: Db,
    pub publisher: Publisher,
    pub config: RelayConfig,
}

impl Relay {
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        info!(stale_after = ?self.config.stale_after, interval = ?self.config.interval, "relay running");
        while pause(self.config.interval, &shutdown).await {
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => {
                    info!(republished = n, "relay re-queued stale pending payments and due authorizations")
                }
                Err(e) => warn!(error = %chain(&e), "relay sweep failed; trying again next interval"),
            }
        }
        Ok(())
    }

    /// One pass; returns how many payments were re-published.
    ///
    /// Claims are committed before publishing, so no row lock is held while
    /// waiting for the broker (settle would wait behind it). A publish that
    /// fails after the claim loses nothing: the payment is still `pending`
    /// and is claimed again once `stale_after` has passed since the claim.
    pub async fn sweep(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let mut stale =
                db::relay::claim_stale(&self.db.primary, self.config.stale_after, SWEEP_LIMIT).await?;
            // Authorizations past their expiry (or with a lost capture or
            // void) go the same way: settle closes them under the locks.
            let holds =
                db::relay::claim_due_holds(&self.db.primary, self.config.stale_after, SWEEP_LIMIT).await?;
            // And the payments of refunds still pending: settle applies a
            // payment's pending refunds whenever it comes by.
            let refunds =
                db::refunds::claim_stale(&self.db.primary, self.config.stale_after, SWEEP_LIMIT).await?;
            let full = [stale.len(), holds.len(), refunds.len()].contains(&(SWEEP_LIMIT as usize));
            stale.extend(holds);
            stale.extend(refunds);
            let groups: Vec<_> =
                stale.chunks(RELAY_GROUP).map(|routes| LockGroup::of(routes.iter().copied())).collect();
            futures_util::future::try_join_all(
                groups.iter().map(|group| self.publisher.publish(LOCK_QUEUE, group)),
            )
            .await?;
            total += stale.len();
            crate::metrics::get().relay_republished.inc_by(stale.len() as u64);
            if !full {
                return Ok(total);
            }
        }
    }
}
