//! The two workers between the API and the ledger, the relay that
//! re-queues payments the broker never got, the events publisher (every
//! event to the `payrail.events` exchange), and the housekeeping beside
//! them (the statement refresher, retention, the settled-per-minute
//! rollup).
//!
//! Each worker consumes its queue with manual acks and a prefetch, and acks
//! a message only after its effect is durable (forwarded with a confirm, or
//! committed), so a crash at any point leaves the message to be delivered
//! again, and the steps after it are safe to repeat. A lost broker
//! connection is remade, with backoff, without restarting the process.

pub mod lock;
pub mod publish;
pub mod refresh;
pub mod relay;
pub mod retention;
pub mod settle;
pub mod throughput;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::Connection;
use payrail_common::{Backoff, chain};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::broker::{Broker, QueueState};
use crate::error::{Error, Result};

/// A consumer that ran this long before failing was healthy: the next
/// failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Backoff before retrying work that failed on a dependency.
pub(crate) const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// Sleeps for `delay` unless shutdown comes first; returns whether to go on.
pub(crate) async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Runs `consume` on the broker's current connection until shutdown. When
/// it fails on a transient error (the connection or channel was lost, the
/// broker cancelled the consumer, the queue is gone), it is started again
/// after a backoff, with the topology declared again first: a queue deleted
/// under a running worker comes back instead of failing every consume for
/// ever. The backoff grows across restarts and starts over only after a
/// consumer ran for a while, so a consumer that fails at once does not
/// hammer the broker.
///
/// `consume` gets a token that ends its consumer gracefully (like
/// shutdown, handing back what it holds): it is cancelled on shutdown, when
/// this process declared the topology again (a queue was deleted: the
/// broker may have re-created it before telling this consumer, whose
/// cancel notice is then lost), and when a check finds `queue` missing or
/// without any consumer while this one thinks it consumes.
pub(crate) async fn consume_with_reconnect<F, Fut>(
    worker: &'static str,
    queue: &'static str,
    broker: &Broker,
    shutdown: &CancellationToken,
    mut consume: F,
) -> Result<()>
where
    F: FnMut(Arc<Connection>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let stop = shutdown.child_token();
        let outcome = match broker.connection().await {
            Ok(conn) => {
                let declared = if attempt == 0 { Ok(()) } else { broker.topology().declare(&conn).await };
                match declared {
                    Ok(()) => watched(broker, queue, consume(conn, stop.clone()), &stop).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if started.elapsed() >= HEALTHY_RUN {
            attempt = 0;
        }
        let outcome = match outcome {
            // Stopped by the watch, not by shutdown: start again.
            Ok(()) if !shutdown.is_cancelled() => Err(Error::ConsumerCancelled { queue: queue.to_owned() }),
            other => other,
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(_) if shutdown.is_cancelled() => return Ok(()),
            Err(e) if e.is_transient() => {
                let delay = BACKOFF.delay(attempt);
                warn!(worker, error = %chain(&e), retry_in = ?delay, "lost the broker; reconnecting (and declaring the queues again)");
                if !pause(delay, shutdown).await {
                    return Ok(());
                }
                attempt = attempt.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
}

/// How often a running consumer checks that its queue still has it.
const CONSUMER_CHECK: Duration = Duration::from_secs(5);

/// Polls `consuming` to its end, cancelling `stop` (which ends it) when the
/// topology is declared again or `queue` is found missing or unconsumed.
async fn watched(
    broker: &Broker,
    queue: &'static str,
    consuming: impl Future<Output = Result<()>>,
    stop: &CancellationToken,
) -> Result<()> {
    let mut redeclared = broker.redeclarations();
    redeclared.borrow_and_update();
    let mut check = tokio::time::interval(CONSUMER_CHECK);
    check.tick().await;
    let mut consuming = std::pin::pin!(consuming);
    loop {
        tokio::select! {
            result = &mut consuming => return result,
            changed = redeclared.changed(), if !stop.is_cancelled() => {
                if changed.is_ok() {
                    warn!(queue, "the queues were declared again; restarting the consumer");
                    stop.cancel();
                }
            }
            _ = check.tick(), if !stop.is_cancelled() => {
                match broker.queue_state(queue).await {
                    Ok(QueueState::Consumers(0)) | Ok(QueueState::Missing) => {
                        warn!(queue, "the broker does not list this consumer; restarting it");
                        stop.cancel();
                    }
                    // Reachable and consumed, or not reachable: the
                    // consumer itself hears of a lost connection.
                    Ok(QueueState::Consumers(_)) | Err(_) => {}
                }
            }
        }
    }
}
