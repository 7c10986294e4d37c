//! Keeps the per-day statement view fresh: every interval, one instance
//! (whichever takes the advisory lock) refreshes it on the primary.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::db::{self, Db};
use crate::error::{Result, chain};
use crate::worker::pause;

/// How often the statement view is refreshed.
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub interval: Duration,
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
                Ok(true) => debug!("statement view refreshed"),
                Ok(false) => debug!("another instance is refreshing the statement view"),
                Err(e) => {
                    warn!(error = %chain(&e), "statement view refresh failed; trying again next interval")
                }
            }
        }
        Ok(())
    }
}
