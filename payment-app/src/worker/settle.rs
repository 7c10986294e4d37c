//! The settle worker: applies locked payments to the ledger, releases their
//! locks, then acks.
//!
//! Messages that are ready together are settled as one batch in one
//! transaction (see `db::settle`); each payment still gets its own outcome.
//! A batch that fails on an unavailable database is retried with backoff
//! while its messages stay in hand, so nothing is acked before it is
//! committed and an outage does not count against the delivery limit. A
//! batch that fails for any other reason is split, and a payment that fails
//! alone is handed back to the broker, which dead-letters it after the
//! delivery limit.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::broker::{self, Broker, LOCK_QUEUE, Publisher, SETTLE_QUEUE};
use crate::db::{self, Db, settle::Settled};
use crate::domain::PaymentId;
use crate::domain::settlement::Outcome;
use crate::error::{Error, Result, chain};
use crate::lock::AccountLock;
use crate::messages::{self, LockRequest, SettleBatch};
use crate::worker::{BACKOFF, consume_with_reconnect, pause};

/// Pause before handing a failing message back, so that reaching the
/// delivery limit takes seconds rather than a burst of redeliveries.
const POISON_PAUSE: Duration = Duration::from_millis(250);

/// How a settle worker takes its work.
#[derive(Debug, Clone)]
pub struct SettleWorkerConfig {
    /// Settle messages (each a locked batch) held unacknowledged.
    pub prefetch: u16,
    /// Most settle messages applied in one transaction.
    pub batch_max: usize,
}

#[derive(Debug, Clone)]
pub struct SettleWorker {
    pub db: Db,
    pub lock: AccountLock,
    /// Re-queues the payments of a batch that cannot be settled.
    pub publisher: Publisher,
    pub config: SettleWorkerConfig,
}

/// What became of one attempt to apply a group of payments.
enum Applied {
    Done(Settled),
    /// Shutdown came while the database was unavailable.
    Interrupted,
    /// A failure that retrying the same group will not fix.
    Poisoned(Error),
}

impl SettleWorker {
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> Result<()> {
        let result =
            consume_with_reconnect("settle", &broker, &shutdown, |conn| self.consume(conn, &shutdown)).await;
        info!("settle worker stopped");
        result
    }

    async fn consume(&self, conn: Arc<Connection>, shutdown: &CancellationToken) -> Result<()> {
        let (channel, consumer) = broker::consume(&conn, SETTLE_QUEUE, self.config.prefetch).await?;
        info!(
            prefetch = self.config.prefetch,
            batch_max = self.config.batch_max,
            "settle worker consuming {SETTLE_QUEUE}"
        );
        let batches = consumer.take_until(shutdown.cancelled()).ready_chunks(self.config.batch_max);
        let mut batches = std::pin::pin!(batches);
        let mut result = Ok(());
        while let Some(batch) = batches.next().await {
            let deliveries = match batch.into_iter().collect::<Result<Vec<Delivery>, lapin::Error>>() {
                Ok(deliveries) => deliveries,
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };
            if let Err(e) = self.settle(deliveries, shutdown).await {
                result = Err(e);
                break;
            }
        }
        let _ = channel.close(200, "settle worker stopping".into()).await;
        match result {
            Ok(()) if !shutdown.is_cancelled() => {
                Err(Error::ConsumerCancelled { queue: SETTLE_QUEUE.to_owned() })
            }
            other => other,
        }
    }

    async fn settle(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) -> Result<()> {
        let mut group = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            crate::metrics::get().queue_delivery(SETTLE_QUEUE, delivery.redelivered);
            match messages::parse::<SettleBatch>(SETTLE_QUEUE, &delivery.data) {
                Ok(request) => group.push((request, delivery)),
                Err(e) => {
                    error!(error = %chain(&e), body = %String::from_utf8_lossy(&delivery.data), "dead-lettering a malformed message");
                    crate::metrics::get().dead_letter(SETTLE_QUEUE);
                    delivery.reject(BasicRejectOptions { requeue: false }).await?;
                }
            }
        }
        if group.is_empty() {
            return Ok(());
        }
        match self.apply(&group, shutdown).await {
            Applied::Done(settled) => self.finish(group, settled).await,
            Applied::Interrupted => hand_back(group).await,
            Applied::Poisoned(e) if group.len() > 1 => {
                warn!(error = %chain(&e), messages = group.len(), "settle failed; settling its messages one by one");
                for single in group {
                    match self.apply(std::slice::from_ref(&single), shutdown).await {
                        Applied::Done(settled) => self.finish(vec![single], settled).await?,
                        Applied::Interrupted => hand_back(vec![single]).await?,
                        Applied::Poisoned(e) => self.poisoned(single, &e).await?,
                    }
                }
                Ok(())
            }
            Applied::Poisoned(e) => {
                let single = group.into_iter().next().expect("the group is not empty");
                self.poisoned(single, &e).await
            }
        }
    }

    async fn apply(&self, group: &[(SettleBatch, Delivery)], shutdown: &CancellationToken) -> Applied {
        let ids: Vec<PaymentId> =
            group.iter().flat_map(|(b, _)| b.payments.iter().map(|p| p.payment_id)).collect();
        let mut attempt = 0;
        loop {
            match db::settle::settle_batch(&self.db.primary, &ids).await {
                Ok(settled) => return Applied::Done(settled),
                Err(e) if e.is_transient() => {
                    warn!(error = %chain(&e), batch = ids.len(), attempt, "settle batch failed; retrying");
                    if !pause(BACKOFF.delay(attempt), shutdown).await {
                        return Applied::Interrupted;
                    }
                    attempt += 1;
                }
                Err(e) => return Applied::Poisoned(e),
            }
        }
    }

    /// After commit: log each outcome, release the locks, ack.
    async fn finish(&self, group: Vec<(SettleBatch, Delivery)>, settled: Settled) -> Result<()> {
        let m = crate::metrics::get();
        m.settle_batch_payments.observe(settled.applied.len() as f64);
        m.redeliveries_ignored.inc_by(settled.skipped.len() as u64);
        for (payment, outcome) in &settled.applied {
            let (outcome_text, reason) = match outcome {
                Outcome::Done => ("done", String::new()),
                Outcome::Failed(reason) => ("failed", reason.to_string()),
            };
            m.payments_settled
                .get_or_create(&crate::metrics::OutcomeLabels { outcome: outcome_text.into(), reason })
                .inc();
            match outcome {
                Outcome::Done => debug!(payment_id = %payment.id, amount = %payment.amount, "payment done"),
                Outcome::Failed(reason) => debug!(payment_id = %payment.id, %reason, "payment failed"),
            }
        }
        for id in &settled.skipped {
            info!(payment_id = %id, "payment was already settled; redelivery ignored");
        }
        let held: Vec<_> = group.iter().map(|(b, _)| (b.accounts(), b.lock_token)).collect();
        self.lock.release_many(&held).await;
        // Deliveries of one channel are acked in order, and everything
        // before this group was already answered: one ack of the last with
        // `multiple` covers the group.
        if let Some((_, last)) = group.last() {
            last.ack(BasicAckOptions { multiple: true }).await?;
        }
        Ok(())
    }

    /// A message that cannot be settled. One of several payments: they go
    /// back to the lock queue marked `alone`, to come back one per message,
    /// so the failing one is isolated. A payment alone: handed back, so the
    /// broker counts the delivery and dead-letters it at the limit. Either
    /// way the lock is released, since holding it would only block the
    /// accounts' other payments.
    async fn poisoned(&self, (batch, delivery): (SettleBatch, Delivery), e: &Error) -> Result<()> {
        self.lock.release(&batch.accounts(), batch.lock_token).await;
        if batch.payments.len() > 1 {
            warn!(error = %chain(e), payments = batch.payments.len(), "batch cannot be settled; re-queueing its payments one by one");
            for payment in &batch.payments {
                self.publisher.publish(LOCK_QUEUE, &LockRequest::alone(*payment)).await?;
            }
            delivery.ack(BasicAckOptions::default()).await?;
            return Ok(());
        }
        for payment in &batch.payments {
            error!(
                payment_id = %payment.payment_id,
                error = %chain(e),
                "cannot settle payment; handing it back (dead-lettered after the delivery limit)"
            );
        }
        tokio::time::sleep(POISON_PAUSE).await;
        delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await?;
        Ok(())
    }
}

/// Returns messages to the queue unsettled (shutdown during an outage);
/// their locks expire by TTL.
async fn hand_back(group: Vec<(SettleBatch, Delivery)>) -> Result<()> {
    for (_, delivery) in group {
        delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await?;
    }
    Ok(())
}
