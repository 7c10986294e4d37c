//! Group commit at intake. Payments without an idempotency key are handed
//! to one task, which records whatever has arrived with one insert and
//! queues it as one lock-queue message; the payments' requests are answered
//! after that, as they would be one by one.
//!
//! Per payment, the costly part of intake is not the payment but the round
//! trips: a commit in PostgreSQL, and a publish, confirm, delivery and ack
//! in RabbitMQ. A group pays them once. A payment never waits for a group to
//! fill: up to `groups_in_flight` groups are written at once, and a group is
//! whatever arrived while they were busy, so at low load every payment goes
//! alone and under load groups grow by themselves.
//!
//! Every insert waits at most `lock_timeout` for an account row another
//! session holds, then fails with nothing recorded. A group that fails so
//! is recorded payment by payment, and the accounts the blocked payment
//! names are kept apart from later groups for a while: a blocked account
//! delays only its own payments.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, error, warn};

use super::{IntakeConfig, queue};
use crate::broker::Publisher;
use crate::db::payments::{Accepted, Payment};
use crate::db::{self, Db};
use crate::domain::{AccountId, NewPayment, PaymentId};
use crate::error::{Error, Result, chain};
use crate::messages::TraceParent;

#[derive(Debug)]
struct Submission {
    /// The payment, with the submitting request's span for its trace.
    accepted: Accepted,
    reply: oneshot::Sender<Result<Payment>>,
}

/// Hands payments to the [`Grouper`].
#[derive(Debug, Clone)]
pub(super) struct Submitter {
    tx: mpsc::Sender<Submission>,
}

impl Submitter {
    /// Returns once the payment is recorded and its publish was attempted.
    pub async fn submit(&self, payment: NewPayment) -> Result<Payment> {
        let (reply, answer) = oneshot::channel();
        let accepted = Accepted { payment, traceparent: crate::trace_context::current() };
        self.tx.send(Submission { accepted, reply }).await.map_err(|_| Error::IntakeStopped)?;
        // No answer only if the grouper was aborted (shutdown ran out of
        // time) or its task failed, perhaps after the commit.
        answer.await.map_err(|_| Error::OutcomeUnknown { what: "recording the payment" })?
    }
}

/// The task that records and queues payments in groups.
#[derive(Debug)]
pub struct Grouper {
    rx: mpsc::Receiver<Submission>,
    writer: Writer,
    group_max: usize,
    groups_in_flight: usize,
}

/// What each group's task records and queues with.
#[derive(Debug, Clone)]
struct Writer {
    db: Db,
    publisher: Publisher,
    lock_timeout: Duration,
    busy: BusyAccounts,
}

/// Accounts a payment recently found locked by another session. Payments
/// on them are recorded apart from their group for a while, so that one
/// blocked account costs the others nothing: the group never waits on it.
#[derive(Debug, Clone, Default)]
struct BusyAccounts(Arc<Mutex<HashMap<AccountId, Instant>>>);

/// The longest a group's insert waits for a locked row while it holds a
/// writer slot. Recording a payment only takes a share lock on its
/// accounts' rows, which settle's updates do not conflict with: a wait
/// here means a session holds a row outright, and the group goes on
/// without the slot.
const FIRST_LOCK_WAIT: Duration = Duration::from_millis(50);

/// How long an account counts as busy after a payment found it locked.
const BUSY_FOR: Duration = Duration::from_secs(10);

impl BusyAccounts {
    fn mark(&self, accounts: [AccountId; 2]) {
        let mut busy = self.0.lock().expect("never poisoned: no panics under the lock");
        let until = Instant::now() + BUSY_FOR;
        busy.retain(|_, expires| *expires > Instant::now());
        for account in accounts {
            busy.insert(account, until);
        }
    }

    /// Splits submissions into those on no busy account and the others.
    fn split(&self, group: Vec<Submission>) -> (Vec<Submission>, Vec<Submission>) {
        let busy = self.0.lock().expect("never poisoned: no panics under the lock");
        let now = Instant::now();
        let is_busy = |a: &AccountId| busy.get(a).is_some_and(|expires| *expires > now);
        group.into_iter().partition(|s| {
            let p = &s.accepted.payment;
            !is_busy(&p.from_account) && !is_busy(&p.to_account)
        })
    }
}

pub(super) fn channel(db: &Db, publisher: &Publisher, config: &IntakeConfig) -> (Submitter, Grouper) {
    let IntakeConfig { group_max, groups_in_flight, lock_timeout } = *config;
    // Room for the next group of every writer: senders beyond that wait,
    // which slows the API down instead of queueing without bound.
    let (tx, rx) = mpsc::channel(group_max * groups_in_flight);
    let writer =
        Writer { db: db.clone(), publisher: publisher.clone(), lock_timeout, busy: BusyAccounts::default() };
    let grouper = Grouper { rx, writer, group_max, groups_in_flight };
    (Submitter { tx }, grouper)
}

impl Grouper {
    /// Runs until every [`Submitter`] is dropped (the API has stopped and
    /// answered its last request), then finishes the groups in hand.
    pub async fn run(mut self) -> Result<()> {
        let writers = Arc::new(Semaphore::new(self.groups_in_flight));
        let mut writing = JoinSet::new();
        loop {
            let writer = writers.clone().acquire_owned().await.expect("the semaphore is never closed");
            let mut group = Vec::with_capacity(self.group_max);
            if self.rx.recv_many(&mut group, self.group_max).await == 0 {
                break;
            }
            let span = crate::trace_context::intake_group(group.iter().map(|s| s.accepted.traceparent));
            writing.spawn(self.writer.clone().write(group, writer).instrument(span));
            while let Some(written) = writing.try_join_next() {
                report_panic(written);
            }
        }
        while let Some(written) = writing.join_next().await {
            report_panic(written);
        }
        Ok(())
    }
}

/// What to record of each submission (its reply stays with it).
fn accepted_of(submissions: &[Submission]) -> Vec<Accepted> {
    submissions.iter().map(|s| s.accepted.clone()).collect()
}

fn report_panic(written: Result<(), tokio::task::JoinError>) {
    if let Err(e) = written {
        // Its submitters see their reply dropped and answer 503.
        error!(error = %e, "a payment group's task failed");
    }
}

impl Writer {
    /// Records a group, frees its writer slot, queues what was recorded and
    /// answers each payment's request. Payments on an account recently
    /// found locked are recorded apart and hold no writer slot: while they
    /// wait on the lock, the next groups are written, and the others of
    /// this group are answered as soon as they are recorded.
    async fn write(self, group: Vec<Submission>, slot: OwnedSemaphorePermit) {
        let (clear, busy) = self.busy.split(group);
        let clear = async {
            let accepted = accepted_of(&clear);
            // The slot is held only for a short lock wait: a group that
            // meets a locked row frees it and is recorded payment by
            // payment, so a blocked account never holds up later groups.
            let quick = self.record_quick(&accepted).await;
            drop(slot);
            let results = match quick {
                Some(results) => results,
                None => self.record_apart(accepted).await,
            };
            // Publishing does not hold the slot either: a slow broker must
            // not stop payments from being recorded (the relay queues them
            // later).
            self.answer(clear, results).await;
        };
        let busy = async {
            let results = self.record_apart(accepted_of(&busy)).await;
            self.answer(busy, results).await;
        };
        tokio::join!(clear, busy);
    }

    /// Queues what was recorded and answers each payment's request.
    async fn answer(&self, submissions: Vec<Submission>, results: Vec<(PaymentId, Result<Payment>)>) {
        if submissions.is_empty() {
            return;
        }
        let traces: HashMap<PaymentId, TraceParent> = submissions
            .iter()
            .filter_map(|s| Some((s.accepted.payment.id, s.accepted.traceparent?)))
            .collect();
        let mut replies: HashMap<PaymentId, oneshot::Sender<Result<Payment>>> =
            submissions.into_iter().map(|s| (s.accepted.payment.id, s.reply)).collect();
        let recorded: Vec<&Payment> = results.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
        let m = crate::metrics::get();
        m.payments_accepted.inc_by(recorded.len() as u64);
        m.intake_group_payments.observe(recorded.len() as f64);
        if !recorded.is_empty() {
            queue(&self.publisher, &recorded, &traces, None).await;
        }
        for (id, result) in results {
            // A requester that gave up (timeout) is not there to answer.
            if let Some(reply) = replies.remove(&id) {
                let _ = reply.send(result);
            }
        }
    }

    /// Each payment's outcome, by id, from one insert that waits at most
    /// [`FIRST_LOCK_WAIT`] for a locked row; `None` when that insert failed
    /// as a whole (a locked row, or one payment naming an unknown account)
    /// and nothing was recorded: the caller records them one by one.
    async fn record_quick(&self, accepted: &[Accepted]) -> Option<Vec<(PaymentId, Result<Payment>)>> {
        let wait = self.lock_timeout.min(FIRST_LOCK_WAIT);
        match accepted {
            [] => Some(Vec::new()),
            [one] => match db::payments::insert_alone(&self.db.primary, one, wait).await {
                Err(e) if e.is_lock_timeout() => None,
                result => Some(vec![(one.payment.id, result)]),
            },
            _ => match db::payments::insert_many(&self.db.primary, accepted, wait).await {
                Ok(rows) => {
                    let mut by_id: HashMap<_, _> = rows.into_iter().map(|p| (p.id, p)).collect();
                    Some(
                        accepted
                            .iter()
                            .map(|Accepted { payment: p, .. }| {
                                let row = by_id.remove(&p.id).ok_or_else(|| {
                                    Error::Corrupt(format!(
                                        "payment {} is missing from its group's insert",
                                        p.id
                                    ))
                                });
                                (p.id, row)
                            })
                            .collect(),
                    )
                }
                Err(e) => {
                    debug!(error = %chain(&e), payments = accepted.len(), "group insert failed; recording its payments one by one");
                    None
                }
            },
        }
    }

    /// Records each payment in a transaction of its own, all at once; a
    /// payment that finds an account row locked marks its accounts busy.
    async fn record_apart(&self, accepted: Vec<Accepted>) -> Vec<(PaymentId, Result<Payment>)> {
        join_all(accepted.iter().map(|one| async move {
            let p = &one.payment;
            let result = db::payments::insert_alone(&self.db.primary, one, self.lock_timeout).await;
            if result.as_ref().is_err_and(Error::is_lock_timeout) {
                warn!(payment_id = %p.id, "an account of the payment is locked by another session; refused, nothing recorded");
                self.busy.mark([p.from_account, p.to_account]);
            }
            (p.id, result)
        }))
        .await
    }
}
