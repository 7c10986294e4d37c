//! The lock worker: locks both accounts of each payment, then forwards the
//! locked payments to settle, many at a time.
//!
//! The worker keeps a pool of payments waiting for their locks, bounded in
//! payments (`batch_max` × `concurrency`), and fills it from the lock queue
//! only as it drains: a deep backlog waits in the queue, at rest, rather
//! than circling through this process and the retry queue. Each round packs
//! the pool into lock batches: one script call per Redis node tries every
//! payment's pair of a batch under one token, and the granted payments go
//! to settle as one message. Payments of a batch that share an account (a
//! hot payee) are granted together, so a hot account's payments settle in
//! batches instead of one lock cycle each. A payment touching an account
//! that an earlier batch of the round was just granted is not sent to Redis
//! at all: the answer would be "busy".
//!
//! Between rounds the worker waits for a lock to be released in this
//! process (a settle worker beside it finished a batch), for a short timer
//! (locks other processes hold), or for a message when the pool has room.
//! A payment still busy after `PARK_AFTER`, or when Redis has no quorum,
//! goes to the retry queue and comes back after its delay: never dropped,
//! never spun on, and never holding the pool for ever. A message is acked
//! once each of its payments was forwarded or parked, each with a confirm.
//!
//! A linked set (an atomic batch's payments) moves as one unit: it is never
//! split between lock batches or retry messages, and it goes to settle only
//! when every one of its members was granted, so settle's transaction
//! covers the whole set under this worker's lock. (Settle reads the set
//! from the database whatever the message says; keeping it whole here is
//! what keeps its accounts locked.)

use std::collections::{HashMap, HashSet};
use std::iter::Peekable;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
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

/// How long a busy payment waits in the pool before the retry queue. Under
/// load a payment waits behind the batches settling on its accounts; this
/// is what one stuck account may cost the pool's room.
const PARK_AFTER: Duration = Duration::from_secs(1);

/// The longest waits between rounds when no release is heard, growing
/// while rounds forward nothing (the last repeats): how often locks other
/// processes hold are looked at again.
const POLLS: [Duration; 4] = [
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(15),
    Duration::from_millis(40),
];

/// How a lock worker takes its work.
#[derive(Debug, Clone)]
pub struct LockWorkerConfig {
    /// Messages held unacknowledged.
    pub prefetch: u16,
    /// Most payments locked and forwarded as one batch.
    pub batch_max: usize,
    /// Lock batches' worth of payments held waiting at once.
    pub concurrency: usize,
}

impl LockWorkerConfig {
    /// Most payments in the pool; a message is taken whole, so one message
    /// larger than this still fits an empty pool.
    fn pool_max(&self) -> usize {
        self.batch_max * self.concurrency
    }
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

    /// Consumes until `shutdown`, then parks what is waiting (so that its
    /// messages can be acked) and returns. Messages prefetched but not
    /// taken go back to the queue when the channel closes.
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
            pool_max = self.config.pool_max(),
            "lock worker consuming {LOCK_QUEUE}"
        );
        let mut consumer = std::pin::pin!(consumer.take_until(stop.cancelled()));
        let mut pool = Pool::default();
        let mut result = self.schedule(&mut consumer, &mut pool, publisher, retry_queue).await;
        if result.is_ok() {
            // Stopping: what waits goes to the retry queue, with confirms,
            // and its messages are acked.
            result = self.park(&mut pool, |_| true, publisher, retry_queue).await;
        }
        let _ = channel.close(200, "lock worker stopping".into()).await;
        match result {
            Ok(()) if !stop.is_cancelled() => Err(Error::ConsumerCancelled { queue: LOCK_QUEUE.to_owned() }),
            other => other,
        }
    }

    /// Rounds until the consumer ends (shutdown or a cancelled consumer).
    async fn schedule(
        &self,
        consumer: &mut (impl futures_util::Stream<Item = Result<Delivery, lapin::Error>> + Unpin),
        pool: &mut Pool,
        publisher: &Publisher,
        retry_queue: &str,
    ) -> Result<()> {
        let pool_max = self.config.pool_max();
        let mut polls = 0;
        loop {
            // Nothing to do: wait for a message. Otherwise take what is
            // already here, while the pool has room.
            if pool.is_empty() {
                match consumer.next().await {
                    Some(delivery) => self.take(pool, delivery?).await?,
                    None => return Ok(()),
                }
            }
            while pool.payments() < pool_max {
                match consumer.next().now_or_never() {
                    Some(Some(delivery)) => self.take(pool, delivery?).await?,
                    Some(None) => return Ok(()),
                    None => break,
                }
            }
            if pool.is_empty() {
                continue;
            }
            // Listening before the round's first lock call, so that a
            // release during the round is not missed.
            let released = self.lock.released();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();

            let round = self.round(pool, publisher).await?;
            // Without a quorum, waiting milliseconds will not help.
            let now = Instant::now();
            if round.outage {
                self.park(pool, |_| true, publisher, retry_queue).await?;
            } else {
                self.park(pool, |since| now.duration_since(since) >= PARK_AFTER, publisher, retry_queue)
                    .await?;
            }
            polls = if round.forwarded > 0 { 0 } else { (polls + 1).min(POLLS.len() - 1) };
            if pool.is_empty() {
                continue;
            }
            tokio::select! {
                () = &mut released => {}
                () = tokio::time::sleep(POLLS[polls]) => {}
                delivery = consumer.next(), if pool.payments() < pool_max => match delivery {
                    Some(delivery) => self.take(pool, delivery?).await?,
                    None => return Ok(()),
                },
            }
        }
    }

    /// Puts a message's payments in the pool (a payment already there is
    /// not taken twice). A malformed message is dead-lettered.
    async fn take(&self, pool: &mut Pool, delivery: Delivery) -> Result<()> {
        crate::metrics::get().queue_delivery(LOCK_QUEUE, delivery.redelivered);
        let message = match messages::parse::<LockMessage>(LOCK_QUEUE, &delivery.data) {
            Ok(message) => message,
            Err(e) => {
                error!(error = %chain(&e), body = %messages::excerpt(&delivery.data), "dead-lettering a malformed message");
                crate::metrics::get().dead_letter(LOCK_QUEUE);
                delivery.reject(BasicRejectOptions { requeue: false }).await?;
                return Ok(());
            }
        };
        let tag = delivery.delivery_tag;
        let now = Instant::now();
        let mut entries = Vec::new();
        for request in message.into_requests() {
            // A payment delivered twice is locked once; this delivery may go
            // as soon as its own other payments have.
            if !pool.ids.insert(request.route.payment_id) {
                continue;
            }
            if let Some(span) = trace_context::lock_attempt(request.route.payment_id, request.traceparent) {
                pool.spans.insert(request.route.payment_id, span);
            }
            entries.push(Entry { request, tag, since: now, attempts: 0 });
        }
        if entries.is_empty() {
            delivery.ack(BasicAckOptions::default()).await?;
            return Ok(());
        }
        pool.held.insert(tag, Held { delivery, left: entries.len() });
        for unit in units(entries) {
            pool.add(unit);
        }
        Ok(())
    }

    /// One pass over the pool: packs it into lock batches, tries each once
    /// and forwards what was granted. What is refused or held back stays.
    async fn round(&self, pool: &mut Pool, publisher: &Publisher) -> Result<Round> {
        // Accounts granted to this round's batches, now on their way to
        // settle.
        let mut claimed: HashSet<AccountId> = HashSet::new();
        let mut round = Round::default();
        let (alone, shared): (Vec<Unit>, Vec<Unit>) =
            std::mem::take(&mut pool.units).into_iter().partition(|unit| unit[0].request.alone);
        // Isolated payments (after a failed settle) each in a batch of their
        // own.
        let mut passes = [(shared, self.config.batch_max), (alone, 1)].into_iter();
        for (units, max) in passes.by_ref() {
            let mut units = units.into_iter().peekable();
            while units.peek().is_some() {
                let batch = next_batch(&mut units, &claimed, max, &mut pool.units);
                if batch.is_empty() {
                    break;
                }
                let attempt = self.attempt(batch, &pool.spans, publisher).await?;
                claimed.extend(attempt.forwarded.iter().flat_map(|e| e.request.route.accounts()));
                round.forwarded += attempt.forwarded.len();
                pool.done(&attempt.forwarded, "granted").await?;
                pool.units.extend(self::units(attempt.refused));
                if attempt.outage {
                    // No quorum: the rest of the round would wait on node
                    // timeouts for the same answer.
                    round.outage = true;
                    pool.units.extend(units);
                    break;
                }
            }
            if round.outage {
                break;
            }
        }
        pool.units.extend(passes.flat_map(|(units, _)| units));
        // Oldest first, as they came.
        pool.units.sort_by_key(|unit| unit[0].since);
        Ok(round)
    }

    /// One lock call for `batch`, and its granted payments (whole linked
    /// sets only) forwarded to settle.
    async fn attempt(
        &self,
        mut batch: Vec<Entry>,
        spans: &HashMap<PaymentId, Span>,
        publisher: &Publisher,
    ) -> Result<Attempt> {
        for entry in &mut batch {
            entry.attempts += 1;
        }
        let span = trace_context::lock_batch(None);
        trace_context::link_payments(&span, batch.iter().map(|e| e.request.traceparent));
        async {
            let pairs: Vec<_> = batch.iter().map(|e| e.request.route.accounts()).collect();
            let lock = self.lock.acquire_batch(&pairs).await;
            let (granted, mut refused): (Vec<_>, Vec<_>) =
                batch.into_iter().enumerate().partition(|(i, _)| lock.granted(*i));
            let (granted, split) = whole_sets(granted, &refused);
            if !split.is_empty() {
                // Members of a set that did not get all its locks wait with
                // it; what only they held is freed for others now.
                let kept: HashSet<AccountId> =
                    granted.iter().flat_map(|(_, e)| e.request.route.accounts()).collect();
                let free: Vec<AccountId> = split
                    .iter()
                    .flat_map(|(_, e)| e.request.route.accounts())
                    .filter(|a| !kept.contains(a))
                    .collect();
                self.lock.release(&free, lock.token).await;
                refused.extend(split);
            }
            let outage = !refused.is_empty() && refused.iter().all(|(i, _)| lock.unavailable(*i));
            let m = crate::metrics::get();
            m.lock_attempt("granted", granted.len() as u64);
            let unavailable = refused.iter().filter(|(i, _)| lock.unavailable(*i)).count() as u64;
            m.lock_attempt("unavailable", unavailable);
            m.lock_attempt("busy", refused.len() as u64 - unavailable);
            // Back in arrival order (a set's split members were appended).
            refused.sort_by_key(|(i, _)| *i);
            let refused: Vec<Entry> = refused.into_iter().map(|(_, e)| e).collect();
            let granted: Vec<Entry> = granted.into_iter().map(|(_, e)| e).collect();
            if granted.is_empty() {
                return Ok(Attempt { forwarded: granted, refused, outage });
            }
            let traces = granted
                .iter()
                .filter_map(|e| {
                    let id = e.request.route.payment_id;
                    Some((id, trace_context::traceparent(spans.get(&id)?)?))
                })
                .collect();
            let message = SettleBatch {
                payments: granted.iter().map(|e| e.request.route).collect(),
                lock_token: lock.token,
                traces,
            };
            if let Err(e) = publisher.publish(SETTLE_QUEUE, &message).await {
                // Not forwarded: free the accounts now rather than at TTL.
                self.lock.release(&message.accounts(), lock.token).await;
                return Err(e);
            }
            let oldest = granted.iter().map(|e| e.since).min().unwrap_or_else(Instant::now);
            m.lock_wait.observe(oldest.elapsed().as_secs_f64());
            debug!(payments = granted.len(), "accounts locked; batch forwarded to settle");
            Ok(Attempt { forwarded: granted, refused, outage })
        }
        .instrument(span)
        .await
    }

    /// Sends the units `due` picks (by when they were taken) to the retry
    /// queue, as groups of whole units, and acks the messages that are then
    /// done.
    async fn park(
        &self,
        pool: &mut Pool,
        due: impl Fn(Instant) -> bool,
        publisher: &Publisher,
        retry_queue: &str,
    ) -> Result<()> {
        let (parked, waiting): (Vec<Unit>, Vec<Unit>) =
            std::mem::take(&mut pool.units).into_iter().partition(|unit| due(unit[0].since));
        pool.units = waiting;
        if parked.is_empty() {
            return Ok(());
        }
        let traced = |e: &Entry| match pool.spans.get(&e.request.route.payment_id) {
            Some(span) => e.request.traced(trace_context::traceparent(span)),
            None => e.request,
        };
        // Parked as groups, like intake queues them: one message per
        // batch's worth rather than per payment. The next attempt, after
        // the retry queue, is this one's child.
        let groups: Vec<LockGroup> = pack(&parked, self.config.batch_max)
            .into_iter()
            .map(|units| LockGroup { payments: units.iter().flat_map(|u| u.iter().map(traced)).collect() })
            .collect();
        futures_util::future::try_join_all(groups.iter().map(|group| publisher.publish(retry_queue, group)))
            .await?;
        let parked: Vec<Entry> = parked.into_iter().flatten().collect();
        crate::metrics::get().lock_retries_parked.inc_by(parked.len() as u64);
        debug!(waiting = parked.len(), "accounts busy; retrying after the delay");
        pool.done(&parked, "parked").await
    }
}

/// A payment in the pool: its request, the delivery that brought it, and
/// when it was taken.
#[derive(Debug, Clone, Copy)]
struct Entry {
    request: LockRequest,
    tag: u64,
    since: Instant,
    /// Lock calls that have named it so far (its span's `attempts`).
    attempts: u32,
}

/// Payments locked as one: a linked set, or one payment. Never empty.
type Unit = Vec<Entry>;

/// A message in hand, and how many of its payments are neither forwarded
/// nor parked yet.
struct Held {
    delivery: Delivery,
    left: usize,
}

/// The payments waiting for their locks.
#[derive(Default)]
struct Pool {
    /// Oldest first.
    units: Vec<Unit>,
    /// By delivery tag.
    held: HashMap<u64, Held>,
    /// Every payment in the pool.
    ids: HashSet<PaymentId>,
    /// Each payment's span for its time here (traces on only); ended when
    /// it is forwarded or parked.
    spans: HashMap<PaymentId, Span>,
}

impl Pool {
    fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    fn payments(&self) -> usize {
        self.ids.len()
    }

    /// Adds a unit; a set some of whose members are already waiting (a set
    /// split across messages by an older version) joins them.
    fn add(&mut self, unit: Unit) {
        if let Some(link) = unit[0].request.route.link
            && let Some(waiting) = self.units.iter_mut().find(|u| u[0].request.route.link == Some(link))
        {
            waiting.extend(unit);
            return;
        }
        self.units.push(unit);
    }

    /// Takes forwarded or parked payments out, and acks each message all of
    /// whose payments are now out.
    async fn done(&mut self, entries: &[Entry], outcome: &'static str) -> Result<()> {
        for entry in entries {
            let id = entry.request.route.payment_id;
            self.ids.remove(&id);
            if let Some(span) = self.spans.remove(&id) {
                span.record("outcome", outcome).record("attempts", entry.attempts);
            }
            let Some(held) = self.held.get_mut(&entry.tag) else { continue };
            held.left -= 1;
            if held.left == 0
                && let Some(held) = self.held.remove(&entry.tag)
            {
                held.delivery.ack(BasicAckOptions::default()).await?;
            }
        }
        Ok(())
    }
}

/// What one round did.
#[derive(Default)]
struct Round {
    forwarded: usize,
    /// A lock call found no quorum.
    outage: bool,
}

/// What one lock call did.
struct Attempt {
    forwarded: Vec<Entry>,
    refused: Vec<Entry>,
    /// Every refusal was for want of a quorum.
    outage: bool,
}

/// Entries in the units they are locked in: each linked set together (in
/// the order of its first member), every other payment on its own.
fn units(entries: Vec<Entry>) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut sets: HashMap<LinkId, usize> = HashMap::new();
    for entry in entries {
        match entry.request.route.link {
            Some(link) => match sets.get(&link) {
                Some(&at) => units[at].push(entry),
                None => {
                    sets.insert(link, units.len());
                    units.push(vec![entry]);
                }
            },
            None => units.push(vec![entry]),
        }
    }
    units
}

/// Takes the next lock batch off `units`: units in order, up to `max`
/// payments, never splitting a unit (a set larger than `max` is a batch of
/// its own; an atomic batch is bounded by the API's item limit). A unit
/// touching a `claimed` account is set aside in `held` instead.
fn next_batch(
    units: &mut Peekable<impl Iterator<Item = Unit>>,
    claimed: &HashSet<AccountId>,
    max: usize,
    held: &mut Vec<Unit>,
) -> Vec<Entry> {
    let mut batch: Vec<Entry> = Vec::new();
    while let Some(unit) = units.next_if(|unit| batch.is_empty() || batch.len() + unit.len() <= max) {
        if unit.iter().any(|e| e.request.route.accounts().iter().any(|a| claimed.contains(a))) {
            held.push(unit);
        } else {
            batch.extend(unit);
        }
    }
    batch
}

/// Units packed into groups of at most `max` payments, never splitting one
/// (a larger unit is a group of its own).
fn pack(units: &[Unit], max: usize) -> Vec<&[Unit]> {
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, unit) in units.iter().enumerate() {
        if i > start && size + unit.len() > max {
            groups.push(&units[start..i]);
            (start, size) = (i, 0);
        }
        size += unit.len();
    }
    if start < units.len() {
        groups.push(&units[start..]);
    }
    groups
}

/// A payment of one lock attempt, with its index in the attempt.
type Attempted = (usize, Entry);

/// Splits the granted payments of an attempt into those that may go to
/// settle and the members of linked sets some of whose members were
/// refused: those wait with their set.
fn whole_sets(granted: Vec<Attempted>, refused: &[Attempted]) -> (Vec<Attempted>, Vec<Attempted>) {
    let waiting: HashSet<LinkId> = refused.iter().filter_map(|(_, e)| e.request.route.link).collect();
    granted.into_iter().partition(|(_, e)| e.request.route.link.is_none_or(|link| !waiting.contains(&link)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PaymentRoute;

    fn entry(link: Option<LinkId>) -> Entry {
        let route = PaymentRoute {
            payment_id: PaymentId::new(),
            from_account: AccountId::new(),
            to_account: AccountId::new(),
            link,
        };
        Entry { request: LockRequest::new(route), tag: 0, since: Instant::now(), attempts: 0 }
    }

    fn id(e: &Entry) -> PaymentId {
        e.request.route.payment_id
    }

    /// Every batch `next_batch` takes, with nothing claimed.
    fn batches(units: Vec<Unit>, max: usize) -> Vec<Vec<Entry>> {
        let (mut units, mut held, mut batches) = (units.into_iter().peekable(), Vec::new(), Vec::new());
        while units.peek().is_some() {
            batches.push(next_batch(&mut units, &HashSet::new(), max, &mut held));
        }
        assert!(held.is_empty());
        batches
    }

    fn ids(batches: &[Vec<Entry>]) -> Vec<Vec<PaymentId>> {
        batches.iter().map(|b| b.iter().map(id).collect()).collect()
    }

    #[test]
    fn a_linked_set_is_never_split_between_lock_batches() {
        let (x, y) = (LinkId::new(), LinkId::new());
        let (a, b) = (entry(None), entry(None));
        let (x1, x2, x3) = (entry(Some(x)), entry(Some(x)), entry(Some(x)));
        let (y1, y2) = (entry(Some(y)), entry(Some(y)));
        // Interleaved as a chunk of messages may deliver them.
        let units = units(vec![a, x1, y1, x2, b, y2, x3]);
        let expected =
            vec![vec![id(&a)], vec![id(&x1), id(&x2), id(&x3)], vec![id(&y1), id(&y2)], vec![id(&b)]];
        assert_eq!(ids(&units), expected);

        // Batches of 3: a and the set x do not fit together, so x starts
        // the next batch; y and b fill the one after.
        assert_eq!(
            ids(&batches(units.clone(), 3)),
            vec![
                expected[0].clone(),
                expected[1].clone(),
                [expected[2].clone(), expected[3].clone()].concat()
            ]
        );
        // A set larger than a batch is a batch of its own.
        let packed = batches(units.clone(), 2);
        assert!(ids(&packed).contains(&expected[1]), "{:?}", ids(&packed));
        assert!(packed.iter().all(|b| b.len() <= 2 || b.iter().all(|e| e.request.route.link == Some(x))));

        // Nor between the messages it is parked in.
        for max in 1..=4 {
            let groups = pack(&units, max);
            assert_eq!(groups.iter().map(|g| g.len()).sum::<usize>(), units.len());
            for group in groups {
                let size: usize = group.iter().map(Vec::len).sum();
                assert!(
                    size <= max || group.len() == 1,
                    "max {max}: a group of {size} payments in {} units",
                    group.len()
                );
            }
        }
    }

    #[test]
    fn a_unit_on_an_account_granted_this_round_is_held_back_without_asking() {
        let hot = AccountId::new();
        let on_hot = |link| {
            let mut e = entry(link);
            e.request.route.to_account = hot;
            e
        };
        let x = LinkId::new();
        let (a, b, c) = (entry(None), on_hot(None), entry(None));
        // A set one of whose members touches the hot account is held whole.
        let (x1, x2) = (entry(Some(x)), on_hot(Some(x)));
        let mut units = units(vec![a, b, x1, c, x2]).into_iter().peekable();
        let mut held = Vec::new();
        let batch = next_batch(&mut units, &HashSet::from([hot]), 10, &mut held);
        assert_eq!(ids(&[batch]), vec![vec![id(&a), id(&c)]]);
        assert_eq!(ids(&held), vec![vec![id(&b)], vec![id(&x1), id(&x2)]]);
        assert!(units.peek().is_none());
    }

    #[test]
    fn a_set_goes_to_settle_only_when_every_member_is_granted() {
        let (x, y) = (LinkId::new(), LinkId::new());
        let (x1, x2, y1, a) = (entry(Some(x)), entry(Some(x)), entry(Some(y)), entry(None));
        let granted = vec![(0, x1), (2, y1), (3, a)];
        let refused = vec![(1, x2)];
        let (go, wait) = whole_sets(granted, &refused);
        assert_eq!(go.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(wait.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0]);
    }
}
