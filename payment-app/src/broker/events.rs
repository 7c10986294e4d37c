//! The `payrail.events` exchange: every event of the feed, published for
//! consumers that bind their own queues (routing key = the event type, so
//! `payment.*` or `#` selects). What is owed is kept in the database
//! (`db::publications`); this side only sends a batch and says whether the
//! broker confirmed all of it.

use std::sync::Arc;

use futures_util::future::maybe_done;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use tokio::sync::Mutex;

use super::Broker;
use crate::error::{Error, Result};

/// The topic exchange events are published to.
pub const EVENTS_EXCHANGE: &str = "payrail.events";

/// The header that carries the event id, as webhooks' `Payrail-Event-Id`
/// does (it is also the message's `message_id`).
pub const EVENT_ID_HEADER: &str = "payrail-event-id";

/// Declares the exchange, durable, so bindings and the exchange survive a
/// broker restart (idempotent, like the queues' declaration).
pub(super) async fn declare(conn: &Connection) -> Result<()> {
    let channel = conn.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(EVENTS_EXCHANGE.into(), ExchangeKind::Topic, durable, FieldTable::default())
        .await?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// One event as it goes on the wire.
#[derive(Debug, Clone)]
pub struct EventMessage {
    /// The event id: `message_id` and the `payrail-event-id` header.
    pub id: String,
    /// The routing key, e.g. `payment.done`.
    pub kind: &'static str,
    /// Seconds since the epoch of the event's `created_at`.
    pub timestamp: u64,
    /// The event's JSON, as the feed shows it.
    pub body: Vec<u8>,
}

/// Publishes batches of events on one confirm-mode channel of its own,
/// made again after a failure.
#[derive(Clone, Debug)]
pub struct EventsPublisher {
    broker: Broker,
    channel: Arc<Mutex<Option<Channel>>>,
}

impl EventsPublisher {
    pub fn new(broker: &Broker) -> Self {
        EventsPublisher { broker: broker.clone(), channel: Arc::new(Mutex::new(None)) }
    }

    async fn channel(&self) -> Result<Channel> {
        let mut current = self.channel.lock().await;
        if let Some(channel) = current.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let conn = self.broker.connection().await?;
        // Declared again with each new channel (made only at the start and
        // after a failure): an exchange deleted under a running publisher
        // would otherwise fail every batch until the next reconnect.
        declare(&conn).await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *current = Some(channel.clone());
        Ok(channel)
    }

    /// Publishes `batch` in its order, persistent, and returns once the
    /// broker confirmed every message; fails (having published none, some
    /// or all) after the broker timeout or on any nack. One channel keeps
    /// the order: RabbitMQ routes a channel's messages in the order sent.
    /// Not `mandatory`: an event no queue is bound for is simply not wanted.
    pub async fn publish(&self, batch: &[EventMessage]) -> Result<()> {
        let attempt = async {
            let channel = self.channel().await?;
            // Every message is queued before any is awaited. lapin's publish
            // returns only once its frames are written to the socket, so
            // awaiting each in turn cost a wake-up of lapin's I/O thread, a
            // socket write and a read on the broker's side per event (about
            // six context switches per payment, on the batch path). Queued
            // together, a batch goes out in a few writes. The order is kept:
            // a publish takes its delivery tag and queues its frames when
            // first polled, and each is first polled here, in the batch's
            // order, before the next is made.
            let mut publishes = Vec::with_capacity(batch.len());
            for event in batch {
                let mut publish = Box::pin(maybe_done(channel.basic_publish(
                    EVENTS_EXCHANGE.into(),
                    event.kind.into(),
                    BasicPublishOptions::default(),
                    &event.body,
                    properties(event),
                )));
                let _queued = futures_util::poll!(publish.as_mut());
                publishes.push(publish);
            }
            let mut confirms = Vec::with_capacity(batch.len());
            for mut publish in publishes {
                publish.as_mut().await;
                let confirm =
                    publish.as_mut().take_output().expect("a publish awaited to its end has its output");
                confirms.push(confirm?);
            }
            for confirm in confirms {
                match confirm.await? {
                    Confirmation::Ack(_) => {}
                    Confirmation::Nack(_) | Confirmation::NotRequested => {
                        return Err(Error::NotConfirmed { queue: EVENTS_EXCHANGE.to_owned() });
                    }
                }
            }
            Ok(())
        };
        let outcome = tokio::time::timeout(self.broker.timeout(), attempt)
            .await
            .map_err(|_| Error::Timeout { what: "publishing events to the broker" })
            .and_then(|published| published);
        if outcome.is_err() {
            // The next batch starts on a new channel: one that failed (or is
            // still waiting for this batch's confirms) is not trusted again.
            if let Some(channel) = self.channel.lock().await.take() {
                let _ = channel.close(200, "publish failed".into()).await;
            }
        }
        outcome
    }

    pub async fn close(&self) {
        if let Some(channel) = self.channel.lock().await.take() {
            let _ = channel.close(200, "shutdown".into()).await;
        }
    }
}

/// What a message of `event` carries beside its body: persistent, its id
/// (as `message_id` and as a header, like webhooks' `Payrail-Event-Id`),
/// its type and its time.
fn properties(event: &EventMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(EVENT_ID_HEADER.into(), AMQPValue::LongString(LongString::from(event.id.as_str())));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(event.id.as_str()))
        .with_type(ShortString::from(event.kind))
        .with_timestamp(event.timestamp)
        .with_headers(headers)
}
