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

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, error};

use super::{IntakeConfig, queue};
use crate::broker::Publisher;
use crate::db::{self, Db, payments::Payment};
use crate::domain::NewPayment;
use crate::error::{Error, Result, chain};

#[derive(Debug)]
struct Submission {
    payment: NewPayment,
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
        self.tx.send(Submission { payment, reply }).await.map_err(|_| Error::IntakeStopped)?;
        // No answer only if the grouper was aborted (shutdown ran out of time).
        answer.await.map_err(|_| Error::IntakeStopped)?
    }
}

/// The task that records and queues payments in groups.
#[derive(Debug)]
pub struct Grouper {
    rx: mpsc::Receiver<Submission>,
    db: Db,
    publisher: Publisher,
    group_max: usize,
    groups_in_flight: usize,
}

pub(super) fn channel(db: &Db, publisher: &Publisher, config: &IntakeConfig) -> (Submitter, Grouper) {
    let IntakeConfig { group_max, groups_in_flight } = *config;
    // Room for the next group of every writer: senders beyond that wait,
    // which slows the API down instead of queueing without bound.
    let (tx, rx) = mpsc::channel(group_max * groups_in_flight);
    let grouper = Grouper { rx, db: db.clone(), publisher: publisher.clone(), group_max, groups_in_flight };
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
            writing.spawn(write(self.db.clone(), self.publisher.clone(), group, writer));
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

fn report_panic(written: Result<(), tokio::task::JoinError>) {
    if let Err(e) = written {
        // Its submitters see their reply dropped and answer 503.
        error!(error = %e, "a payment group's task failed");
    }
}

/// Records a group, frees its writer slot, queues what was recorded and
/// answers each payment's request.
async fn write(db: Db, publisher: Publisher, group: Vec<Submission>, writer: OwnedSemaphorePermit) {
    let (payments, replies): (Vec<NewPayment>, Vec<_>) =
        group.into_iter().map(|s| (s.payment, s.reply)).unzip();
    let results = record(&db, payments).await;
    // Publishing does not hold the slot: a slow broker must not stop
    // payments from being recorded (the relay queues them later).
    drop(writer);
    let recorded: Vec<&Payment> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let m = crate::metrics::get();
    m.payments_accepted.inc_by(recorded.len() as u64);
    m.intake_group_payments.observe(recorded.len() as f64);
    if !recorded.is_empty() {
        queue(&publisher, &recorded).await;
    }
    for (reply, result) in replies.into_iter().zip(results) {
        // A requester that gave up (timeout) is not there to answer.
        let _ = reply.send(result);
    }
}

/// Each payment's outcome, in the order given.
async fn record(db: &Db, payments: Vec<NewPayment>) -> Vec<Result<Payment>> {
    if let [payment] = payments.as_slice() {
        return vec![insert_one(db, payment).await];
    }
    match db::payments::insert_many(&db.primary, &payments).await {
        Ok(rows) => {
            let mut by_id: HashMap<_, _> = rows.into_iter().map(|p| (p.id, p)).collect();
            payments
                .iter()
                .map(|p| {
                    by_id.remove(&p.id).ok_or_else(|| {
                        Error::Corrupt(format!("payment {} is missing from its group's insert", p.id))
                    })
                })
                .collect()
        }
        Err(e) => {
            // Usually one payment names an unknown account, and the group
            // failed with it: record each alone, so that only it is refused.
            debug!(error = %chain(&e), payments = payments.len(), "group insert failed; recording its payments one by one");
            join_all(payments.iter().map(|p| insert_one(db, p))).await
        }
    }
}

async fn insert_one(db: &Db, payment: &NewPayment) -> Result<Payment> {
    db::payments::insert_alone(&db.primary, payment).await
}
