//! The two workers between the API and the ledger, and the relay that
//! re-queues payments the broker never got.
//!
//! Each worker consumes its queue with manual acks and a prefetch, and acks
//! a message only after its effect is durable (forwarded with a confirm, or
//! committed), so a crash at any point leaves the message to be delivered
//! again, and the steps after it are safe to repeat. A lost broker
//! connection is remade, with backoff, without restarting the process.

pub mod lock;
pub mod refresh;
pub mod relay;
pub mod settle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lapin::Connection;
use payrail_common::{Backoff, chain};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::broker::Broker;
use crate::error::Result;

/// Backoff before retrying work that failed on a dependency.
pub(crate) const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// Sleeps for `delay` unless shutdown comes first; returns whether to go on.
pub(crate) async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}

/// Runs `consume` on the broker's current connection until it returns
/// `Ok` (shutdown). When it fails on a transient error (the connection or
/// channel was lost, the broker cancelled the consumer), it is started again
/// on a new connection after a backoff; other errors end the worker.
pub(crate) async fn consume_with_reconnect<F, Fut>(
    worker: &'static str,
    broker: &Broker,
    shutdown: &CancellationToken,
    mut consume: F,
) -> Result<()>
where
    F: FnMut(Arc<Connection>) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut attempt = 0;
    loop {
        let outcome = match broker.connection().await {
            Ok(conn) => {
                attempt = 0;
                consume(conn).await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(_) if shutdown.is_cancelled() => return Ok(()),
            Err(e) if e.is_transient() => {
                warn!(worker, error = %chain(&e), retry_in = ?BACKOFF.delay(attempt), "lost the broker; reconnecting");
                if !pause(BACKOFF.delay(attempt), shutdown).await {
                    return Ok(());
                }
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
