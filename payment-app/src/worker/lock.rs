//! The lock worker: locks both accounts of each payment, then forwards the
//! locked payments to settle, many at a time.
//!
//! Messages that are ready together are locked together (a message may
//! itself carry a group of payments accepted together): one script call per
//! Redis node tries every payment's pair under one token, and the granted
//! payments go to settle as one batch. Payments of a batch that share an
//! account (a hot payee) are granted together, so a hot account's payments
//! settle in batches instead of one lock cycle each. A payment whose
//! accounts are held by another batch is tried again shortly in process,
//! then goes to the retry queue and comes back after its delay: never
//! dropped, never spun on.
//!
//! A linked set (an atomic batch's payments) moves as one unit: it is never
//! split between lock batches, and it goes to settle only when every one of
//! its members was granted, so settle's transaction covers the whole set
//! under this worker's lock. (Settle reads the set from the database
//! whatever the message says; keeping it whole here is what keeps its
//! accounts locked.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, error, info};

use crate::broker::{self, Broker, LOCK_QUEUE, Publisher, SETTLE_QUEUE};
use crate::domain::{AccountId, LinkId, PaymentId};
use crate::error::{Error, Result, chain};
use crate::lock::AccountLock;
use crate::messages::{self, LockGroup, LockMessage, LockRequest, SettleBatch};
use crate::trace_context;
use crate::worker::consume_with_reconnect;

/// Short in-process retries of busy payments before the retry queue: a
/// batch ahead of them usually settles within milliseconds.
const IN_PROCESS_RETRIES: [Duration; 3] =
    [Duration::from_millis(2), Duration::from_millis(5), Duration::from_millis(15)];

/// How a lock worker takes its work.
#[derive(Debug, Clone)]
pub struct LockWorkerConfig {
    /// Messages held unacknowledged.
    pub prefetch: u16,
    /// Most payments locked and forwarded as one batch.
    pub batch_max: usize,
    /// Batches being locked at once.
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct LockWorker {
    lock: AccountLock,
    config: LockWorkerConfig,
}

impl LockWorker {
    pub fn new(lock: AccountLock, config: LockWorkerConfig) -> Self {
        LockWorker { lock, config }
    }

    /// Consumes until `shutdown`, then finishes the messages in hand and
    /// returns. Messages prefetched but not started go back to the queue
    /// when the channel closes.
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> Result<()> {
        let publisher = Publisher::new(&broker);
        let retry_queue = broker.topology().retry_queue();
        let result = consume_with_reconnect("lock", LOCK_QUEUE, &broker, &shutdown, |conn, stop| {
            let (worker, publisher, retry_queue) = (&self, &publisher, retry_queue.as_str());
            async move { worker.consume(conn, publisher, retry_queue, &stop).await }
        })
        .await;
        publisher.close().await;
        info!("lock worker stopped");
        result
    }

    async fn consume(
        &self,
        conn: Arc<Connection>,
        publisher: &Publisher,
        retry_queue: &str,
        stop: &CancellationToken,
    ) -> Result<()> {
        let (channel, consumer) = broker::consume(&conn, LOCK_QUEUE, self.config.prefetch).await?;
        info!(
            prefetch = self.config.prefetch,
            batch_max = self.config.batch_max,
            "lock worker consuming {LOCK_QUEUE}"
        );
        let result = consumer
            .take_until(stop.cancelled())
            .ready_chunks(self.config.batch_max)
            .map(|chunk| {
                chunk.into_iter().collect::<Result<Vec<Delivery>, lapin::Error>>().map_err(Error::from)
            })
            .try_for_each_concurrent(self.config.concurrency, |deliveries| {
                let span = trace_context::lock_batch(deliveries.first());
                self.handle(deliveries, publisher, retry_queue).instrument(span)
            })
            .await;
        let _ = channel.close(200, "lock worker stopping".into()).await;
        match result {
            Ok(()) if !stop.is_cancelled() => Err(Error::ConsumerCancelled { queue: LOCK_QUEUE.to_owned() }),
            other => other,
        }
    }

    async fn handle(
        &self,
        deliveries: Vec<Delivery>,
        publisher: &Publisher,
        retry_queue: &str,
    ) -> Result<()> {
        let mut requests = Vec::with_capacity(deliveries.len());
        let mut accepted = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            crate::metrics::get().queue_delivery(LOCK_QUEUE, delivery.redelivered);
            match messages::parse::<LockMessage>(LOCK_QUEUE, &delivery.data) {
                Ok(message) => {
                    requests.extend(message.into_requests());
                    accepted.push(delivery);
                }
                Err(e) => {
                    error!(error = %chain(&e), body = %messages::excerpt(&delivery.data), "dead-lettering a malformed message");
                    crate::metrics::get().dead_letter(LOCK_QUEUE);
                    delivery.reject(BasicRejectOptions { requeue: false }).await?;
                }
            }
        }
        // A payment delivered twice in one chunk is locked once.
        requests.sort_by_key(|r| r.route.payment_id);
        requests.dedup_by_key(|r| r.route.payment_id);
        trace_context::link_payments(&Span::current(), requests.iter().map(|r| r.traceparent));
        let (alone, together): (Vec<LockRequest>, Vec<LockRequest>) =
            requests.into_iter().partition(|r| r.alone);

        // Messages carry groups of payments, so a chunk of messages can hold
        // many more payments than one lock call should take.
        let mut busy = Vec::new();
        for chunk in pack(units(together), self.config.batch_max) {
            busy.extend(self.lock_and_forward(chunk, publisher).await?);
        }
        // Alone: each payment, or each linked set, in a batch of its own.
        for unit in units(alone) {
            busy.extend(self.lock_and_forward(unit, publisher).await?);
        }
        // Parked as groups, like intake queues them: one message per chunk
        // rather than per payment. (An `alone` payment may share a message:
        // the flag, not the message, keeps it in a batch of its own.)
        let groups: Vec<LockGroup> = busy
            .chunks(self.config.batch_max)
            .map(|payments| LockGroup { payments: payments.to_vec() })
            .collect();
        // Confirms of concurrent publishes come back together.
        futures_util::future::try_join_all(groups.iter().map(|group| publisher.publish(retry_queue, group)))
            .await?;
        if !busy.is_empty() {
            crate::metrics::get().lock_retries_parked.inc_by(busy.len() as u64);
            debug!(waiting = busy.len(), "accounts busy; retrying after the delay");
        }
        // Forwarded or parked in the retry queue, each with a confirm: now
        // the messages may go.
        for delivery in accepted {
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Ok(())
    }

    /// Locks what it can of `pending` (retrying busy payments briefly) and
    /// forwards each granted group to settle. Returns the payments still
    /// busy.
    async fn lock_and_forward(
        &self,
        mut pending: Vec<LockRequest>,
        publisher: &Publisher,
    ) -> Result<Vec<LockRequest>> {
        let mut retries = IN_PROCESS_RETRIES.iter();
        let started = std::time::Instant::now();
        // Each payment's span for this attempt (traces on only); ended when
        // the payment is forwarded or parked.
        let mut spans: HashMap<PaymentId, Span> = pending
            .iter()
            .filter_map(|r| {
                Some((r.route.payment_id, trace_context::lock_attempt(r.route.payment_id, r.traceparent)?))
            })
            .collect();
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let pairs: Vec<_> = pending.iter().map(|r| r.route.accounts()).collect();
            let lock = self.lock.acquire_batch(&pairs).await;
            let (granted, mut refused): (Vec<_>, Vec<_>) =
                pending.into_iter().enumerate().partition(|(i, _)| lock.granted(*i));
            let (granted, split) = whole_sets(granted, &refused);
            if !split.is_empty() {
                // Members of a set that did not get all its locks wait with
                // it; what only they held is freed for others now.
                let kept: HashSet<AccountId> = granted.iter().flat_map(|(_, r)| r.route.accounts()).collect();
                let free: Vec<AccountId> = split
                    .iter()
                    .flat_map(|(_, r)| r.route.accounts())
                    .filter(|a| !kept.contains(a))
                    .collect();
                self.lock.release(&free, lock.token).await;
                refused.extend(split);
            }
            let outage = refused.iter().all(|(i, _)| lock.unavailable(*i));
            let m = crate::metrics::get();
            m.lock_attempt("granted", granted.len() as u64);
            let unavailable = refused.iter().filter(|(i, _)| lock.unavailable(*i)).count() as u64;
            m.lock_attempt("unavailable", unavailable);
            m.lock_attempt("busy", refused.len() as u64 - unavailable);
            pending = refused.into_iter().map(|(_, r)| r).collect();
            if !granted.is_empty() {
                let traces = granted
                    .iter()
                    .filter_map(|(_, r)| {
                        let span = spans.get(&r.route.payment_id)?;
                        Some((r.route.payment_id, trace_context::traceparent(span)?))
                    })
                    .collect();
                let batch = SettleBatch {
                    payments: granted.into_iter().map(|(_, r)| r.route).collect(),
                    lock_token: lock.token,
                    traces,
                };
                if let Err(e) = publisher.publish(SETTLE_QUEUE, &batch).await {
                    // Not forwarded: free the accounts now rather than at TTL.
                    self.lock.release(&batch.accounts(), lock.token).await;
                    return Err(e);
                }
                crate::metrics::get().lock_wait.observe(started.elapsed().as_secs_f64());
                for payment in &batch.payments {
                    if let Some(span) = spans.remove(&payment.payment_id) {
                        span.record("outcome", "granted").record("attempts", attempts);
                    }
                }
                debug!(payments = batch.payments.len(), "accounts locked; batch forwarded to settle");
            }
            // Without a quorum, waiting milliseconds will not help.
            match retries.next() {
                Some(pause) if !pending.is_empty() && !outage => tokio::time::sleep(*pause).await,
                _ => break,
            }
        }
        // Parked: the next attempt, after the retry queue, is this one's child.
        Ok(pending
            .into_iter()
            .map(|r| match spans.remove(&r.route.payment_id) {
                Some(span) => {
                    span.record("outcome", "parked").record("attempts", attempts);
                    r.traced(trace_context::traceparent(&span))
                }
                None => r,
            })
            .collect())
    }
}

/// Requests in the units they are locked in: each linked set together (in
/// the order of its first member), every other payment on its own.
fn units(requests: Vec<LockRequest>) -> Vec<Vec<LockRequest>> {
    let mut units: Vec<Vec<LockRequest>> = Vec::new();
    let mut sets: BTreeMap<LinkId, usize> = BTreeMap::new();
    for request in requests {
        match request.route.link {
            Some(link) => match sets.get(&link) {
                Some(&at) => units[at].push(request),
                None => {
                    sets.insert(link, units.len());
                    units.push(vec![request]);
                }
            },
            None => units.push(vec![request]),
        }
    }
    units
}

/// Packs units into lock batches of at most `max` payments, never splitting
/// a unit: a set larger than `max` is a batch of its own (an atomic batch
/// is bounded by the API's item limit).
fn pack(units: Vec<Vec<LockRequest>>, max: usize) -> Vec<Vec<LockRequest>> {
    let mut batches: Vec<Vec<LockRequest>> = Vec::new();
    for unit in units {
        match batches.last_mut() {
            Some(last) if last.len() + unit.len() <= max => last.extend(unit),
            _ => batches.push(unit),
        }
    }
    batches
}

/// A payment of one lock attempt, with its index in the attempt.
type Attempted = (usize, LockRequest);

/// Splits the granted payments of an attempt into those that may go to
/// settle and the members of linked sets some of whose members were
/// refused: those wait with their set.
fn whole_sets(granted: Vec<Attempted>, refused: &[Attempted]) -> (Vec<Attempted>, Vec<Attempted>) {
    let waiting: HashSet<LinkId> = refused.iter().filter_map(|(_, r)| r.route.link).collect();
    granted.into_iter().partition(|(_, r)| r.route.link.is_none_or(|link| !waiting.contains(&link)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PaymentRoute;

    fn request(link: Option<LinkId>) -> LockRequest {
        LockRequest::new(PaymentRoute {
            payment_id: PaymentId::new(),
            from_account: AccountId::new(),
            to_account: AccountId::new(),
            link,
        })
    }

    fn ids(batches: &[Vec<LockRequest>]) -> Vec<Vec<PaymentId>> {
        batches.iter().map(|b| b.iter().map(|r| r.route.payment_id).collect()).collect()
    }

    #[test]
    fn a_linked_set_is_never_split_between_lock_batches() {
        let (x, y) = (LinkId::new(), LinkId::new());
        let (a, b) = (request(None), request(None));
        let (x1, x2, x3) = (request(Some(x)), request(Some(x)), request(Some(x)));
        let (y1, y2) = (request(Some(y)), request(Some(y)));
        // Interleaved as a chunk of messages may deliver them.
        let units = units(vec![a, x1, y1, x2, b, y2, x3]);
        let expected = vec![
            vec![a.route.payment_id],
            [x1, x2, x3].iter().map(|r| r.route.payment_id).collect(),
            vec![y1.route.payment_id, y2.route.payment_id],
            vec![b.route.payment_id],
        ];
        assert_eq!(ids(&units), expected);

        // Batches of 3: a and the set x do not fit together, so x starts
        // the next batch; y and b fill the one after.
        let packed = pack(units.clone(), 3);
        assert_eq!(
            ids(&packed),
            vec![
                expected[0].clone(),
                expected[1].clone(),
                [expected[2].clone(), expected[3].clone()].concat()
            ]
        );
        // A set larger than a batch is a batch of its own.
        let packed = pack(units, 2);
        assert!(ids(&packed).contains(&expected[1]), "{:?}", ids(&packed));
        assert!(packed.iter().all(|b| b.len() <= 2 || b.iter().all(|r| r.route.link == Some(x))));
    }

    #[test]
    fn a_set_goes_to_settle_only_when_every_member_is_granted() {
        let (x, y) = (LinkId::new(), LinkId::new());
        let (x1, x2, y1, a) = (request(Some(x)), request(Some(x)), request(Some(y)), request(None));
        let granted = vec![(0, x1), (2, y1), (3, a)];
        let refused = vec![(1, x2)];
        let (go, wait) = whole_sets(granted, &refused);
        assert_eq!(go.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(wait.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0]);
    }
}
