//! The settle worker: applies locked payments to the ledger, releases their
//! locks, then acks.
//!
//! Messages that are ready together are settled as one batch in one
//! transaction (see `db::settle`); each payment still gets its own outcome.
//! A batch that fails on the database is retried with backoff while its
//! messages stay in hand, so nothing is acked before it is committed.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::join_all;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::broker::{self, SETTLE_QUEUE, SettleRequest};
use crate::db::{self, Db};
use crate::domain::settlement::Outcome;
use crate::error::{Error, Result, chain};
use crate::lock::AccountLock;
use crate::worker::backoff;

#[derive(Debug, Clone)]
pub struct SettleWorker {
    pub db: Db,
    pub lock: AccountLock,
    pub prefetch: u16,
    /// Most payments applied in one transaction.
    pub batch_max: usize,
}

impl SettleWorker {
    pub async fn run(self, conn: Arc<Connection>, shutdown: CancellationToken) -> Result<()> {
        let (channel, consumer) = broker::consume(&conn, SETTLE_QUEUE, self.prefetch).await?;
        info!(prefetch = self.prefetch, batch_max = self.batch_max, "settle worker consuming {SETTLE_QUEUE}");
        let batches = consumer.take_until(shutdown.cancelled()).ready_chunks(self.batch_max);
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
            if let Err(e) = self.settle(deliveries, &shutdown).await {
                result = Err(e);
                break;
            }
        }
        let _ = channel.close(200, "settle worker stopping".into()).await;
        if result.is_ok() && !shutdown.is_cancelled() {
            return Err(Error::ConsumerCancelled { queue: SETTLE_QUEUE.to_owned() });
        }
        info!("settle worker stopped");
        result
    }

    async fn settle(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) -> Result<()> {
        let mut requests = Vec::with_capacity(deliveries.len());
        let mut accepted = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match broker::parse::<SettleRequest>(SETTLE_QUEUE, &delivery.data) {
                Ok(request) => {
                    requests.push(request);
                    accepted.push(delivery);
                }
                Err(e) => {
                    error!(error = %chain(&e), body = %String::from_utf8_lossy(&delivery.data), "rejecting malformed message");
                    delivery.reject(BasicRejectOptions { requeue: false }).await?;
                }
            }
        }
        if requests.is_empty() {
            return Ok(());
        }
        let ids: Vec<_> = requests.iter().map(|r| r.payment_id).collect();

        let mut attempt = 0;
        let settled = loop {
            match db::settle::settle_batch(&self.db.primary, &ids).await {
                Ok(settled) => break settled,
                Err(e) => {
                    warn!(error = %chain(&e), batch = ids.len(), attempt, "settle batch failed; retrying");
                    if shutdown.is_cancelled() {
                        // Hand the messages back; their locks expire by TTL.
                        for delivery in accepted {
                            delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await?;
                        }
                        return Ok(());
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        };

        for (payment, outcome) in &settled.applied {
            match outcome {
                Outcome::Done => {
                    info!(payment_id = %payment.id, amount = %payment.amount, "payment done")
                }
                Outcome::Failed(reason) => {
                    info!(payment_id = %payment.id, %reason, "payment failed")
                }
            }
        }
        for id in &settled.skipped {
            info!(payment_id = %id, "payment was already settled; redelivery ignored");
        }

        join_all(requests.iter().map(|r| self.lock.release(r.accounts(), r.lock_token))).await;
        for delivery in accepted {
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Ok(())
    }
}
