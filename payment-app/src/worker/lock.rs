//! The lock worker: locks both accounts of a payment, then forwards it to
//! settle. A payment whose accounts are busy goes to the retry queue and
//! comes back after its delay: never dropped, never spun on.

use futures_util::{StreamExt, TryStreamExt};
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span};

use crate::broker::{self, Broker, LOCK_QUEUE, LockRequest, Publisher, SETTLE_QUEUE, SettleRequest};
use crate::error::{Error, Result, chain};
use crate::lock::{AccountLock, Acquired};
use crate::worker::consume_with_reconnect;

#[derive(Debug, Clone)]
pub struct LockWorker {
    pub lock: AccountLock,
    /// Messages in hand at once; also how many are locked concurrently.
    pub prefetch: u16,
}

impl LockWorker {
    /// Consumes until `shutdown`, then finishes the messages in hand and
    /// returns. Messages prefetched but not started go back to the queue
    /// when the channel closes.
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> Result<()> {
        let publisher = Publisher::new(&broker);
        let retry_queue = broker.topology().retry_queue();
        let result = consume_with_reconnect("lock", &broker, &shutdown, |conn| {
            self.consume(conn, &publisher, &retry_queue, &shutdown)
        })
        .await;
        publisher.close().await;
        info!("lock worker stopped");
        result
    }

    async fn consume(
        &self,
        conn: std::sync::Arc<Connection>,
        publisher: &Publisher,
        retry_queue: &str,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let (channel, consumer) = broker::consume(&conn, LOCK_QUEUE, self.prefetch).await?;
        info!(prefetch = self.prefetch, "lock worker consuming {LOCK_QUEUE}");
        let result = consumer
            .take_until(shutdown.cancelled())
            .map_err(Error::from)
            .try_for_each_concurrent(usize::from(self.prefetch), |delivery| {
                self.handle(delivery, publisher, retry_queue)
            })
            .await;
        let _ = channel.close(200, "lock worker stopping".into()).await;
        match result {
            Ok(()) if !shutdown.is_cancelled() => {
                Err(Error::ConsumerCancelled { queue: LOCK_QUEUE.to_owned() })
            }
            other => other,
        }
    }

    async fn handle(&self, delivery: Delivery, publisher: &Publisher, retry_queue: &str) -> Result<()> {
        let request: LockRequest = match broker::parse(LOCK_QUEUE, &delivery.data) {
            Ok(request) => request,
            Err(e) => {
                error!(error = %chain(&e), body = %String::from_utf8_lossy(&delivery.data), "dead-lettering a malformed message");
                delivery.reject(BasicRejectOptions { requeue: false }).await?;
                return Ok(());
            }
        };
        let span = info_span!("lock", payment_id = %request.payment_id);
        async move {
            match self.lock.acquire(request.accounts()).await {
                Acquired::Granted { token, .. } => {
                    let forward = SettleRequest {
                        payment_id: request.payment_id,
                        from_account: request.from_account,
                        to_account: request.to_account,
                        lock_token: token,
                    };
                    if let Err(e) = publisher.publish(SETTLE_QUEUE, &forward).await {
                        // Not forwarded: free the accounts now rather than at TTL.
                        self.lock.release(request.accounts(), token).await;
                        return Err(e);
                    }
                    debug!("accounts locked; forwarded to settle");
                }
                outcome @ (Acquired::Busy | Acquired::Unavailable) => {
                    publisher.publish(retry_queue, &request).await?;
                    debug!(?outcome, "accounts not locked; retrying after the delay");
                }
            }
            delivery.ack(BasicAckOptions::default()).await?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}
