//! The events publisher: sends every event of the feed to the
//! `payrail.events` exchange, from its outbox (`event_publications`,
//! written by each statement that writes events, as webhook deliveries are).
//!
//! A batch is taken in the feed's order, published on one confirm-mode
//! channel, and deleted from the outbox only once the broker confirmed all
//! of it, in the transaction that read it: a broker that fails mid-batch
//! (or a process killed mid-batch) leaves the whole batch owed, and it is
//! published again. So every event reaches the exchange at least once, in
//! the feed's order per payment, with duplicates only after a failure and
//! never a gap; consumers dedupe on the message id (the event id). One
//! instance publishes at a time (a transaction-scoped advisory lock): two
//! sharing a backlog could interleave a payment's events.

use std::time::{Duration, Instant, SystemTime};

use payrail_common::chain;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::broker::events::{EventMessage, EventsPublisher};
use crate::db::{self, Db};
use crate::domain::EventId;
use crate::error::{Error, Result};
use crate::worker::{BACKOFF, pause};

/// How the publisher goes.
#[derive(Debug, Clone, Copy)]
pub struct PublishConfig {
    /// Most events read, sent and confirmed at once: bounds the memory
    /// and the transaction, and what a failure sends twice.
    pub batch: u32,
    /// How often it looks when it found nothing owed.
    pub interval: Duration,
}

/// How often the backlog is measured (two small queries; not on every
/// idle turn, which comes every `interval`).
const MEASURE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Publisher {
    pub db: Db,
    pub events: EventsPublisher,
    pub config: PublishConfig,
}

/// What one turn came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// This many events were published (fewer than a batch: nothing more is owed now).
    Published(usize),
    /// Another instance is publishing.
    NotLeader,
}

impl Publisher {
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        info!(batch = self.config.batch, "events publisher running (exchange payrail.events)");
        let mut failures = 0;
        let mut measured: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            let delay = match self.turn().await {
                Ok(turn) => {
                    failures = 0;
                    // A full batch (or more: a statement's events are sent together) means more may be owed.
                    let full = matches!(turn, Turn::Published(sent) if sent >= self.config.batch as usize);
                    if full { Duration::ZERO } else { self.config.interval }
                }
                Err(e) => {
                    let delay = BACKOFF.delay(failures);
                    failures = failures.saturating_add(1);
                    warn!(error = %chain(&e), retry_in = ?delay, "publishing events failed; they stay owed and are sent again");
                    delay
                }
            };
            if measured.is_none_or(|at| at.elapsed() >= MEASURE_EVERY) {
                self.measure().await;
                measured = Some(Instant::now());
            }
            if !pause(delay, &shutdown).await {
                break;
            }
        }
        self.events.close().await;
        Ok(())
    }

    /// Publishes one batch of what is owed, oldest first.
    pub async fn turn(&self) -> Result<Turn> {
        let mut tx = self.db.primary.begin().await?;
        if !db::publications::try_lead(&mut tx).await? {
            return Ok(Turn::NotLeader);
        }
        let owed = db::publications::owed(&mut tx, i64::from(self.config.batch)).await?;
        if owed.events.is_empty() {
            return Ok(Turn::Published(0));
        }
        let batch = messages(&self.db, &owed.events).await?;
        self.events.publish(&batch).await?;
        db::publications::published(&mut tx, &owed.rows).await?;
        tx.commit().await?;
        let sent = owed.events.len();
        crate::metrics::get().events_published.inc_by(sent as u64);
        debug!(published = sent, "events published");
        Ok(Turn::Published(sent))
    }

    /// Sets the backlog metrics (events owed, age of the oldest).
    async fn measure(&self) {
        match db::publications::backlog(&self.db.primary).await {
            Ok((owed, oldest)) => {
                let metrics = crate::metrics::get();
                metrics.events_publish_backlog.set(owed);
                metrics.events_publish_lag.set(oldest.map_or(0.0, age_secs));
            }
            Err(e) => warn!(error = %chain(&e), "could not measure the events backlog"),
        }
    }
}

/// The events `ids` as messages, in the order of `ids`.
async fn messages(db: &Db, ids: &[EventId]) -> Result<Vec<EventMessage>> {
    let mut events = db::events::get_many(&db.primary, ids).await?;
    events.sort_by_key(|e| e.id.as_uuid());
    if events.len() != ids.len() {
        return Err(Error::Corrupt(format!(
            "{} events owed to the broker, {} found",
            ids.len(),
            events.len()
        )));
    }
    events
        .into_iter()
        .map(|event| {
            Ok(EventMessage {
                id: event.id.to_string(),
                kind: event.kind.as_str(),
                timestamp: u64::try_from(event.created_at.timestamp()).unwrap_or(0),
                body: serde_json::to_vec(&event).map_err(|e| Error::Corrupt(e.to_string()))?,
            })
        })
        .collect()
}

/// How long ago an event was made, from its id (UUID v7: its first 48
/// bits are the milliseconds since the epoch).
fn age_secs(id: EventId) -> f64 {
    let Some((secs, nanos)) = id.as_uuid().get_timestamp().map(|t| t.to_unix()) else {
        return 0.0;
    };
    let made = Duration::new(secs, nanos);
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(made).as_secs_f64()
}
