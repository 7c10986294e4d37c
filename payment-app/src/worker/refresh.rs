//! Keeps the per-day statement totals fresh: every interval, one instance
//! (whichever takes the advisory lock) adds the entries written since the
//! last refresh to their days, on the primary.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, error};

use crate::db::{self, Db};
use crate::error::{Result, chain};
use crate::worker::pause;

/// How often the statement view is refreshed.
#[derive(Debug, Clone, Copy)]
pub struct RefreshConfig {
    pub interval: Duration,
}

impl RefreshConfig {
    /// How old the last refresh may be before the view counts as stale:
    /// three intervals missed, plus time for a slow refresh.
    pub fn stale_after(&self) -> Duration {
        self.interval * 3 + Duration::from_secs(5)
    }
}

#[derive(Debug, Clone)]
pub struct StatementRefresher {
    pub db: Db,
    pub config: RefreshConfig,
}

impl StatementRefresher {
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        while pause(self.config.interval, &shutdown).await {
            match db::statements::refresh_daily(&self.db.primary).await {
                Ok(Some(days)) => debug!(days, "statement totals refreshed"),
                Ok(None) => debug!("another instance is refreshing the statement totals"),
                // An error, not a warning: every statement stays as of the
                // last refresh until this is fixed (/readyz says `stale`).
                Err(e) => {
                    crate::metrics::get().statement_refresh_failures.inc();
                    error!(error = %chain(&e), "statement view refresh failed; trying again next interval")
                }
            }
        }
        Ok(())
    }
}
