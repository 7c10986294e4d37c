//! Retention: every interval, removes events and webhook delivery attempts
//! older than `EVENTS_RETENTION_DAYS` and idempotency keys past their
//! window, a bounded batch per statement until none is left, so the tables
//! (and what reads them) grow with the retention window, not with history.
//! Runs beside settle on every instance: two instances removing at once
//! wait on each other's rows for a moment, and the second finds them gone.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::db::{self, Db};
use crate::domain::KEY_WINDOW;
use crate::error::{Result, chain};
use crate::worker::pause;

/// What is kept, and how the removal goes.
#[derive(Debug, Clone, Copy)]
pub struct RetentionConfig {
    /// Events and attempts older than this many days are removed; 0 keeps
    /// them for ever.
    pub events_days: u32,
    pub interval: Duration,
    /// Most rows one statement removes.
    pub batch: u32,
}

#[derive(Debug, Clone)]
pub struct Retention {
    pub db: Db,
    pub config: RetentionConfig,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub events: u64,
    pub attempts: u64,
    pub idempotency_keys: u64,
}

impl Retention {
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        while pause(self.config.interval, &shutdown).await {
            match self.sweep(&shutdown).await {
                Ok(removed) if removed == Removed::default() => {}
                Ok(removed) => info!(
                    events = removed.events,
                    attempts = removed.attempts,
                    idempotency_keys = removed.idempotency_keys,
                    "retention removed what is past its time"
                ),
                Err(e) => warn!(error = %chain(&e), "retention failed; trying again next interval"),
            }
        }
        Ok(())
    }

    /// Removes everything past its time, batch by batch, until a batch
    /// comes back short or shutdown is asked for.
    pub async fn sweep(&self, shutdown: &CancellationToken) -> Result<Removed> {
        let (primary, days, batch) = (&self.db.primary, self.config.events_days, self.config.batch);
        let mut removed = Removed::default();
        if days > 0 {
            removed.events =
                drain(shutdown, batch, || db::retention::forget_events(primary, days, batch)).await?;
            removed.attempts =
                drain(shutdown, batch, || db::retention::forget_attempts(primary, days, batch)).await?;
        }
        removed.idempotency_keys =
            drain(shutdown, batch, || db::retention::forget_keys(primary, KEY_WINDOW, batch)).await?;
        Ok(removed)
    }
}

/// Runs `step` (one batch) until it removes fewer than `batch` rows; the
/// total removed.
async fn drain<F, Fut>(shutdown: &CancellationToken, batch: u32, mut step: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let mut total = 0;
    while !shutdown.is_cancelled() {
        let gone = step().await?;
        total += gone;
        if gone < u64::from(batch) {
            break;
        }
    }
    Ok(total)
}
