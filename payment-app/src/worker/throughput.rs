//! Keeps the per-minute count of settled payments (`db::throughput`) for
//! the console's system page: every few seconds, one instance (whichever
//! takes the position's row) adds the events written since its last run
//! to their minutes, on the primary. Each run reads only what is new, at
//! most `RUN_LIMIT` events; a full run is followed by another at once, so
//! a backlog is caught up in bounded steps.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::db::Db;
use crate::db::throughput::{self, RUN_LIMIT, Run};
use crate::error::{Result, chain};
use crate::worker::pause;

/// How often the rollup is brought up to date. With `throughput::LAG`,
/// the page's counts are at most about 15 s behind.
pub const INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ThroughputRollup {
    pub db: Db,
}

impl ThroughputRollup {
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let mut delay = INTERVAL;
        while pause(delay, &shutdown).await {
            delay = INTERVAL;
            match throughput::roll_up(&self.db.primary, RUN_LIMIT).await {
                Ok(Run::Counted { read }) => {
                    debug!(events = read, "settled-per-minute rollup counted");
                    if read >= RUN_LIMIT {
                        delay = Duration::ZERO;
                    }
                }
                Ok(Run::Busy) => debug!("another instance is counting settled payments per minute"),
                // A warning: only the console's throughput table waits;
                // the next run counts what this one did not.
                Err(e) => {
                    warn!(error = %chain(&e), "settled-per-minute rollup failed; trying again next interval")
                }
            }
        }
        Ok(())
    }
}
