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
//! delivery limit. Nothing here pauses for a failing payment: the loop is
//! shared by every payment, and one that cannot be settled must not slow
//! the others (a payment settle *decides* against, such as an overdraft or
//! an overflowing credit, is a `failed` outcome, not an error).
//!
//! Nor does a row another session holds slow the others: the payments that
//! need a held account row are left out of the batch's transaction (see
//! `db::settle`) and go to the retry queue, to be locked and settled again
//! after its delay, while the rest of the batch commits. A batch that waits
//! too long for any other row (a payment's, a refund's) is settled message
//! by message, and the message that still cannot get its rows goes to the
//! retry queue the same way. Waiting for a row is not failing: none of this
//! counts against the delivery limit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, error, info, warn};

use crate::broker::{self, Broker, LOCK_QUEUE, Publisher, SETTLE_QUEUE};
use crate::db::{self, Db, settle::Settled};
use crate::domain::settlement::{HoldOutcome, Outcome, RefundOutcome};
use crate::domain::{LinkId, PaymentId};
use crate::error::{Error, Result, chain};
use crate::lock::AccountLock;
use crate::messages::{self, LockGroup, LockRequest, SettleBatch};
use crate::trace_context;
use crate::worker::{BACKOFF, consume_with_reconnect, pause};

/// Skipped payments logged one by one; more are summarised in one line.
const SKIPPED_LOGGED: usize = 10;

/// How often a held row is warned about while payments keep waiting for it
/// (they come back every retry delay, ten times a second by default); the
/// rounds between are logged at debug.
const HELD_WARN_EVERY: Duration = Duration::from_secs(10);

/// When settle last warned that rows are held, shared by a worker's clones.
#[derive(Debug, Clone, Default)]
pub struct HeldRowWarnings(Arc<Mutex<Option<Instant>>>);

impl HeldRowWarnings {
    /// Whether to warn now: the first time, then once per [`HELD_WARN_EVERY`].
    fn due(&self) -> bool {
        let mut last = self.0.lock().expect("never poisoned: no panics under the lock");
        let due = last.is_none_or(|at| at.elapsed() >= HELD_WARN_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

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
    /// Where payments that need a row another session holds wait before
    /// they are locked and settled again (`Topology::retry_queue`).
    pub retry_queue: String,
    /// Keeps a row held for long from writing ten warnings a second.
    pub held_warnings: HeldRowWarnings,
    pub config: SettleWorkerConfig,
    /// The settle queue's delivery limit: on the delivery past which the
    /// broker dead-letters a message, its payments are marked so that the
    /// relay leaves them there.
    pub delivery_limit: u32,
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
        let result = consume_with_reconnect("settle", SETTLE_QUEUE, &broker, &shutdown, |conn, stop| {
            let worker = &self;
            async move { worker.consume(conn, &stop).await }
        })
        .await;
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
            let span = trace_context::settle_batch(deliveries.first());
            if let Err(e) = self.settle(deliveries, shutdown).instrument(span).await {
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
                    error!(error = %chain(&e), body = %messages::excerpt(&delivery.data), "dead-lettering a malformed message");
                    crate::metrics::get().dead_letter(SETTLE_QUEUE);
                    delivery.reject(BasicRejectOptions { requeue: false }).await?;
                }
            }
        }
        if group.is_empty() {
            return Ok(());
        }
        // Each payment's span, in its own trace, open until this returns.
        let spans = settle_spans(&group);
        match self.apply(&group, shutdown).await {
            Applied::Done(settled) => {
                record_outcomes(&spans, &settled);
                self.finish(group, settled).await
            }
            Applied::Interrupted => hand_back(group).await,
            Applied::Poisoned(e) if group.len() > 1 => {
                let message = "settle failed; settling its messages one by one";
                // A held row comes back every retry delay: warned about now and then.
                if !e.is_lock_timeout() || self.held_warnings.due() {
                    warn!(error = %chain(&e), messages = group.len(), "{message}");
                } else {
                    debug!(error = %chain(&e), messages = group.len(), "{message}");
                }
                for single in group {
                    match self.apply(std::slice::from_ref(&single), shutdown).await {
                        Applied::Done(settled) => self.finish(vec![single], settled).await?,
                        Applied::Interrupted => hand_back(vec![single]).await?,
                        Applied::Poisoned(e) => self.failed_alone(single, &e).await?,
                    }
                }
                Ok(())
            }
            Applied::Poisoned(e) => {
                let single = group.into_iter().next().expect("the group is not empty");
                self.failed_alone(single, &e).await
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

    /// After commit: send what waits for a held row to the retry queue,
    /// count and log each outcome, release the locks, ack.
    async fn finish(&self, group: Vec<(SettleBatch, Delivery)>, settled: Settled) -> Result<()> {
        if !settled.blocked.is_empty() {
            self.set_aside(&group, &settled).await?;
        }
        count_outcomes(&settled);
        log_skipped(&settled.skipped);
        self.release(&group, &settled).await;
        // Deliveries of one channel are acked in order, and everything
        // before this group was already answered: one ack of the last with
        // `multiple` covers the group.
        if let Some((_, last)) = group.last() {
            last.ack(BasicAckOptions { multiple: true }).await?;
        }
        Ok(())
    }

    /// Sends the payments that need a held account row to the retry queue,
    /// each once, however many messages named it.
    async fn set_aside(&self, group: &[(SettleBatch, Delivery)], settled: &Settled) -> Result<()> {
        let mut seen = HashSet::new();
        let waiting: Vec<LockRequest> = group
            .iter()
            .flat_map(|(batch, _)| batch.payments.iter().map(move |p| (batch, p)))
            .filter(|(_, p)| settled.blocked.contains(&p.payment_id) && seen.insert(p.payment_id))
            .map(|(batch, p)| LockRequest::new(*p).traced(batch.traces.get(&p.payment_id).copied()))
            .collect();
        let held: Vec<String> = settled.held_accounts.iter().map(ToString::to_string).collect();
        let message = "account rows are held by another session; their payments wait in the retry queue, the rest of the batch settles";
        if self.held_warnings.due() {
            warn!(payments = waiting.len(), accounts = %held.join(","), "{message}");
        } else {
            debug!(payments = waiting.len(), accounts = %held.join(","), "{message}");
        }
        self.wait_for_rows(waiting).await
    }

    /// Releases each message's lock on the accounts the database has for
    /// its payments, not those the message names: a message cannot make
    /// settle free a lock on accounts its payments do not touch. The
    /// release itself compares each key with the token, so a lock that
    /// passed to someone else stays theirs.
    async fn release(&self, group: &[(SettleBatch, Delivery)], settled: &Settled) {
        let held: Vec<_> = group
            .iter()
            .map(|(batch, _)| {
                let accounts = batch
                    .payments
                    .iter()
                    .filter_map(|p| settled.routes.get(&p.payment_id))
                    .flatten()
                    .copied()
                    .collect();
                (accounts, batch.lock_token)
            })
            .collect();
        self.lock.release_many(&held).await;
    }

    /// A message that failed alone. One that waited too long for a row
    /// another session holds: its payments are isolated as after any
    /// failure, so the others are not held back with the blocked one, and a
    /// payment alone waits in the retry queue. Anything else is
    /// [`Self::poisoned`].
    async fn failed_alone(&self, single: (SettleBatch, Delivery), e: &Error) -> Result<()> {
        if !e.is_lock_timeout() {
            return self.poisoned(single, e).await;
        }
        let (batch, delivery) = single;
        self.release_read(&batch).await;
        let mut units = isolated(&batch);
        if units.len() > 1 {
            warn!(error = %chain(e), payments = batch.payments.len(), "a row some payments need is held by another session; re-queueing them one by one");
            for unit in units {
                self.publisher.publish(LOCK_QUEUE, &LockGroup { payments: unit }).await?;
            }
        } else {
            let message = "a row the payment needs is held by another session; it waits in the retry queue";
            if self.held_warnings.due() {
                warn!(error = %chain(e), payments = batch.payments.len(), "{message}");
            } else {
                debug!(error = %chain(e), payments = batch.payments.len(), "{message}");
            }
            self.wait_for_rows(units.pop().unwrap_or_default()).await?;
        }
        delivery.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Sends payments to the retry queue, from which they come back to the
    /// lock queue after its delay: a new message each time, so a payment
    /// may wait for a held row for as long as it is held, never
    /// dead-lettered for it, and never spinning faster than the delay.
    async fn wait_for_rows(&self, waiting: Vec<LockRequest>) -> Result<()> {
        crate::metrics::get().settle_set_aside.inc_by(waiting.len() as u64);
        self.publisher.publish(&self.retry_queue, &LockGroup { payments: waiting }).await
    }

    /// Releases a batch's lock on the accounts the database has for its
    /// payments (the message's own may be anything).
    async fn release_read(&self, batch: &SettleBatch) {
        let ids: Vec<PaymentId> = batch.payments.iter().map(|p| p.payment_id).collect();
        match db::payments::routes(&self.db.primary, &ids).await {
            Ok(routes) => {
                let accounts: Vec<_> = routes.iter().flat_map(|r| r.accounts()).collect();
                self.lock.release(&accounts, batch.lock_token).await;
            }
            Err(read) => {
                warn!(error = %chain(&read), "cannot read the payments' accounts; their lock expires by TTL")
            }
        }
    }

    /// A message that cannot be settled. One of several payments: they go
    /// back to the lock queue marked `alone`, to come back one per message,
    /// so the failing one is isolated. A payment alone: handed back, so the
    /// broker counts the delivery and dead-letters it at the limit. Either
    /// way the lock is released, since holding it would only block the
    /// accounts' other payments.
    async fn poisoned(&self, (batch, delivery): (SettleBatch, Delivery), e: &Error) -> Result<()> {
        let ids: Vec<PaymentId> = batch.payments.iter().map(|p| p.payment_id).collect();
        self.release_read(&batch).await;
        let units = isolated(&batch);
        if units.len() > 1 {
            warn!(error = %chain(e), payments = batch.payments.len(), "batch cannot be settled; re-queueing its payments one by one");
            for unit in units {
                // A linked set is isolated as a unit: one message, locked
                // and settled together.
                match unit.as_slice() {
                    [one] => self.publisher.publish(LOCK_QUEUE, one).await?,
                    _ => self.publisher.publish(LOCK_QUEUE, &LockGroup { payments: unit }).await?,
                }
            }
            delivery.ack(BasicAckOptions::default()).await?;
            return Ok(());
        }
        let last = is_last_delivery(&delivery, self.delivery_limit);
        for payment in &batch.payments {
            if last {
                error!(
                    payment_id = %payment.payment_id,
                    error = %chain(e),
                    "cannot settle payment; dead-lettering it (see `payment-app dead-letters list`)"
                );
            } else {
                warn!(
                    payment_id = %payment.payment_id,
                    error = %chain(e),
                    "cannot settle payment; handing it back (dead-lettered after the delivery limit)"
                );
            }
        }
        if last {
            // Marked before the message leaves: if marking fails, the
            // message is handed back once more rather than lost to the
            // relay's endless round.
            db::payments::mark_dead_lettered(&self.db.primary, &ids).await?;
        }
        delivery.nack(BasicNackOptions { requeue: true, multiple: false }).await?;
        Ok(())
    }
}

/// A failed batch's payments as they are re-queued, each marked `alone`:
/// one unit per payment, except that a linked set stays one unit.
fn isolated(batch: &SettleBatch) -> Vec<Vec<LockRequest>> {
    let mut units: Vec<Vec<LockRequest>> = Vec::new();
    let mut sets: HashMap<LinkId, usize> = HashMap::new();
    for payment in &batch.payments {
        let request = LockRequest::alone(*payment).traced(batch.traces.get(&payment.payment_id).copied());
        match payment.link {
            Some(link) if sets.contains_key(&link) => units[sets[&link]].push(request),
            Some(link) => {
                sets.insert(link, units.len());
                units.push(vec![request]);
            }
            None => units.push(vec![request]),
        }
    }
    units
}

/// Whether the broker dead-letters this delivery if it is handed back: a
/// quorum queue counts earlier deliveries in `x-delivery-count` and
/// dead-letters a message returned more than `delivery_limit` times.
fn is_last_delivery(delivery: &Delivery, delivery_limit: u32) -> bool {
    let count = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count"))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => Some(*n),
            AMQPValue::LongInt(n) => Some(i64::from(*n)),
            AMQPValue::ShortInt(n) => Some(i64::from(*n)),
            AMQPValue::LongUInt(n) => Some(i64::from(*n)),
            _ => None,
        })
        .unwrap_or(0);
    count >= i64::from(delivery_limit)
}

/// A span per payment of `group` (traces on only), each a child of the
/// lock attempt that granted it; the batch's span links to them all.
fn settle_spans(group: &[(SettleBatch, Delivery)]) -> HashMap<PaymentId, Span> {
    let contexts = group
        .iter()
        .flat_map(|(b, _)| b.payments.iter().map(|p| (p.payment_id, b.traces.get(&p.payment_id).copied())));
    let spans: HashMap<_, _> =
        contexts.filter_map(|(id, parent)| Some((id, trace_context::settle(id, parent)?))).collect();
    trace_context::link_payments(&Span::current(), spans.values().map(trace_context::traceparent));
    spans
}

fn record_outcomes(spans: &HashMap<PaymentId, Span>, settled: &Settled) {
    for (payment, outcome) in &settled.applied {
        if let Some(span) = spans.get(&payment.id) {
            let text = match outcome {
                Outcome::Done => "done".to_owned(),
                Outcome::Authorized => "authorized".to_owned(),
                Outcome::Failed(reason) => format!("failed: {reason}"),
            };
            span.record("outcome", text);
        }
    }
    for (hold, outcome) in &settled.holds {
        if let Some(span) = spans.get(&hold.id) {
            let text = match outcome {
                HoldOutcome::Captured(amount) => format!("captured {}", amount.minor()),
                HoldOutcome::Voided => "voided".to_owned(),
                HoldOutcome::Expired => "expired".to_owned(),
                HoldOutcome::Failed(reason) => format!("capture failed: {reason}"),
            };
            span.record("outcome", text);
        }
    }
    for (refund, outcome) in &settled.refunds {
        if let Some(span) = spans.get(&refund.payment_id) {
            let text = match outcome {
                RefundOutcome::Done => format!("refund {} done", refund.id),
                RefundOutcome::Failed(reason) => format!("refund {} failed: {reason}", refund.id),
            };
            span.record("outcome", text);
        }
    }
    for id in &settled.skipped {
        if let Some(span) = spans.get(id) {
            span.record("outcome", "already settled");
        }
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

/// Counts each outcome of a committed settlement in the metrics, and logs
/// it at debug.
fn count_outcomes(settled: &Settled) {
    let m = crate::metrics::get();
    m.settle_batch_payments.observe(settled.applied.len() as f64);
    m.redeliveries_ignored.inc_by(settled.skipped.len() as u64);
    let labels =
        |outcome: &str, reason: String| crate::metrics::OutcomeLabels { outcome: outcome.into(), reason };
    for (payment, outcome) in &settled.applied {
        let (outcome_text, reason) = match outcome {
            Outcome::Done => ("done", String::new()),
            Outcome::Authorized => ("authorized", String::new()),
            Outcome::Failed(reason) => ("failed", reason.to_string()),
        };
        m.payments_settled.get_or_create(&labels(outcome_text, reason)).inc();
        match outcome {
            Outcome::Done => debug!(payment_id = %payment.id, amount = %payment.amount, "payment done"),
            Outcome::Authorized => {
                debug!(payment_id = %payment.id, amount = %payment.amount, "payment authorized")
            }
            Outcome::Failed(reason) => debug!(payment_id = %payment.id, %reason, "payment failed"),
        }
    }
    for (hold, outcome) in &settled.holds {
        let (outcome_text, reason) = match outcome {
            HoldOutcome::Captured(_) => ("captured", String::new()),
            HoldOutcome::Voided => ("voided", String::new()),
            HoldOutcome::Expired => ("expired", String::new()),
            HoldOutcome::Failed(reason) => ("failed", reason.to_string()),
        };
        m.authorizations_closed.get_or_create(&labels(outcome_text, reason)).inc();
        debug!(payment_id = %hold.id, outcome = outcome_text, "authorization closed");
    }
    for (refund, outcome) in &settled.refunds {
        let (outcome_text, reason) = match outcome {
            RefundOutcome::Done => ("done", String::new()),
            RefundOutcome::Failed(reason) => ("failed", reason.to_string()),
        };
        m.refunds_settled.get_or_create(&labels(outcome_text, reason)).inc();
        match outcome {
            RefundOutcome::Done => debug!(refund_id = %refund.id, amount = %refund.amount, "refund done"),
            RefundOutcome::Failed(reason) => debug!(refund_id = %refund.id, %reason, "refund failed"),
        }
    }
}

/// One line per skipped payment only for a few: a message naming
/// thousands of settled payments must not write thousands of lines.
fn log_skipped(skipped: &[PaymentId]) {
    if skipped.len() <= SKIPPED_LOGGED {
        for id in skipped {
            info!(payment_id = %id, "payment was already settled; redelivery ignored");
        }
    } else {
        let first: Vec<String> = skipped.iter().take(SKIPPED_LOGGED).map(ToString::to_string).collect();
        info!(
            skipped = skipped.len(),
            first = %first.join(","),
            "payments were already settled (or unknown); redeliveries ignored"
        );
    }
}
