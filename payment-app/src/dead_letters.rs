//! `payment-app dead-letters`: lists the messages in the dead-letter queue
//! and replays them.
//!
//! A message lands there when it could not be parsed or failed its delivery
//! limit. Replaying sends the payment back to the start of its journey (the
//! lock queue), whichever queue it died in: the lock is taken afresh, and
//! settle applies it only if it is still `pending`, so replaying a payment
//! that was settled meanwhile changes nothing. A payment that died at its
//! delivery limit is stamped in the database so that the relay leaves it
//! here; replaying clears the stamp.

use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde::Serialize;
use tracing::info;

use sqlx::PgPool;

use crate::broker::{Broker, DEAD_LETTER_QUEUE, LOCK_QUEUE, Publisher};
use crate::db;
use crate::domain::PaymentId;
use crate::error::Result;
use crate::messages::{self, LockMessage, LockRequest, PaymentRoute, SettleBatch};

/// One dead-lettered message, as shown to an operator.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// `None` when the body is not a payment message at all.
    pub payment_id: Option<String>,
    /// The queue the message died in.
    pub queue: Option<String>,
    /// Why: `rejected` (malformed), `delivery_limit`, `expired`, ...
    pub reason: Option<String>,
    pub body: String,
}

fn header_text(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The payments a dead-lettered body holds: a lock-queue message (one
/// payment or a group), or a settle batch (which reaches the dead-letter
/// queue with one payment).
fn payments_in(body: &[u8]) -> Vec<PaymentRoute> {
    if let Ok(message) = messages::parse::<LockMessage>(DEAD_LETTER_QUEUE, body) {
        return message.into_requests().into_iter().map(|r| r.route).collect();
    }
    messages::parse::<SettleBatch>(DEAD_LETTER_QUEUE, body).map(|b| b.payments).unwrap_or_default()
}

fn describe(delivery: &lapin::message::Delivery) -> (DeadLetter, Vec<PaymentRoute>) {
    let payments = payments_in(&delivery.data);
    let headers = delivery.properties.headers().as_ref();
    let letter = DeadLetter {
        payment_id: payments.first().map(|r| r.payment_id.to_string()),
        queue: header_text(headers, "x-first-death-queue"),
        reason: header_text(headers, "x-first-death-reason"),
        body: String::from_utf8_lossy(&delivery.data).into_owned(),
    };
    (letter, payments)
}

/// Every message in the dead-letter queue; they stay in it.
pub async fn list(broker: &Broker) -> Result<Vec<DeadLetter>> {
    list_first(broker, usize::MAX).await
}

/// The first `max` messages of the dead-letter queue (a page must not
/// hold a queue of any length in memory); they stay in it.
pub async fn list_first(broker: &Broker, max: usize) -> Result<Vec<DeadLetter>> {
    let conn = broker.connection().await?;
    let channel = conn.create_channel().await?;
    let mut letters = Vec::new();
    while letters.len() < max
        && let Some(message) =
            channel.basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: false }).await?
    {
        letters.push(describe(&message.delivery).0);
    }
    // Closing without acks returns every message to the queue.
    channel.close(200, "listed".into()).await?;
    Ok(letters)
}

/// Replays the dead letters `select` picks (by payment id) to the lock
/// queue and removes them from the dead-letter queue; the others stay.
/// Messages that are not payment messages cannot be replayed and stay too.
/// A replayed payment's dead-letter stamp is cleared first, so that the
/// relay covers it again should the replayed message be lost too.
pub async fn replay(
    broker: &Broker,
    primary: &PgPool,
    select: impl Fn(&str) -> bool,
) -> Result<Vec<DeadLetter>> {
    let publisher = Publisher::new(broker);
    let conn = broker.connection().await?;
    let channel = conn.create_channel().await?;
    let mut replayed = Vec::new();
    while let Some(message) =
        channel.basic_get(DEAD_LETTER_QUEUE.into(), BasicGetOptions { no_ack: false }).await?
    {
        let (letter, payments) = describe(&message.delivery);
        if payments.is_empty() || !payments.iter().any(|p| select(&p.payment_id.to_string())) {
            continue;
        }
        let ids: Vec<PaymentId> = payments.iter().map(|p| p.payment_id).collect();
        db::payments::clear_dead_lettered(primary, &ids).await?;
        // Published (confirmed) before the ack: a crash in between leaves a
        // duplicate, which settle ignores, never a loss. A replayed payment
        // is locked and settled alone, as it was when it died.
        for payment in &payments {
            publisher.publish(LOCK_QUEUE, &LockRequest::alone(*payment)).await?;
            info!(payment_id = %payment.payment_id, "replayed a dead letter");
        }
        message.delivery.ack(BasicAckOptions::default()).await?;
        replayed.push(letter);
    }
    publisher.close().await;
    channel.close(200, "replayed".into()).await?;
    Ok(replayed)
}
