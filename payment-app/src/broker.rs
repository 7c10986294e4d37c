//! RabbitMQ: the queues payments travel through, the messages on them, and
//! a publisher that only reports success once the broker has the message.
//!
//! ```text
//! API ──▶ payrail.lock ──▶ lock worker ──▶ payrail.settle ──▶ settle worker
//!              ▲                │ accounts busy
//!              └── TTL expiry ◀─┴──▶ payrail.lock.retry.<N>ms
//! ```
//!
//! All queues are durable quorum queues and every message is persistent and
//! published with confirms and `mandatory`, so a message the broker cannot
//! route is an error rather than a silent drop. The retry queue has no
//! consumer: its messages wait out the TTL, then dead-letter back to
//! `payrail.lock` (at-least-once), which gives a busy payment a delay
//! without a timer in any process. Its name carries the delay, so instances
//! configured with different delays never clash over queue arguments.

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::domain::{AccountId, PaymentId};
use crate::error::{Error, Result};
use crate::lock::LockToken;

pub const LOCK_QUEUE: &str = "payrail.lock";
pub const SETTLE_QUEUE: &str = "payrail.settle";

/// A payment on its way to the lock worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    pub payment_id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
}

/// A payment whose accounts are locked, on its way to settle. The amount is
/// not carried: settle reads the payment from the database, the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRequest {
    pub payment_id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub lock_token: LockToken,
}

impl LockRequest {
    pub fn accounts(&self) -> [AccountId; 2] {
        [self.from_account, self.to_account]
    }
}

impl SettleRequest {
    pub fn accounts(&self) -> [AccountId; 2] {
        [self.from_account, self.to_account]
    }
}

/// Queue names for one configuration.
#[derive(Debug, Clone)]
pub struct Topology {
    pub retry_delay: Duration,
}

impl Topology {
    pub fn retry_queue(&self) -> String {
        format!("{LOCK_QUEUE}.retry.{}ms", self.retry_delay.as_millis())
    }

    /// Declares every queue (idempotent: safe on every start).
    pub async fn declare(&self, conn: &Connection) -> Result<()> {
        let channel = conn.create_channel().await?;
        for queue in [LOCK_QUEUE, SETTLE_QUEUE] {
            declare_quorum(&channel, queue, FieldTable::default()).await?;
        }
        let mut retry_args = FieldTable::default();
        let ttl_ms = i64::try_from(self.retry_delay.as_millis())
            .map_err(|_| Error::Config("retry delay is too long".into()))?;
        retry_args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
        retry_args.insert("x-dead-letter-exchange".into(), long_string(""));
        retry_args.insert("x-dead-letter-routing-key".into(), long_string(LOCK_QUEUE));
        // At-least-once dead-lettering needs reject-publish overflow; without
        // it a broker failure mid-dead-letter could drop the payment.
        retry_args.insert("x-dead-letter-strategy".into(), long_string("at-least-once"));
        retry_args.insert("x-overflow".into(), long_string("reject-publish"));
        declare_quorum(&channel, &self.retry_queue(), retry_args).await?;
        channel.close(200, "declared".into()).await?;
        info!(retry_queue = %self.retry_queue(), "queues declared");
        Ok(())
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

async fn declare_quorum(channel: &Channel, queue: &str, mut args: FieldTable) -> Result<()> {
    args.insert("x-queue-type".into(), long_string("quorum"));
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() },
            args,
        )
        .await?;
    Ok(())
}

/// Connects to the broker; `name` shows in the management UI.
pub async fn connect(url: &str, name: &str) -> Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Ok(Connection::connect(url, properties).await?)
}

/// Publishes JSON messages and waits for the broker's confirm of each.
/// Clones share one channel; confirms of concurrent publishes are matched by
/// lapin, so callers publish concurrently.
#[derive(Clone, Debug)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn new(conn: &Connection) -> Result<Self> {
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Publisher { channel })
    }

    /// Returns once the broker has the message durably in `queue`.
    pub async fn publish<T: Serialize>(&self, queue: &str, message: &T) -> Result<()> {
        let body =
            serde_json::to_vec(message).expect("broker messages are plain structs that always serialize");
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"));
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
                &body,
                properties,
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            // Ack(Some) is a returned message: acknowledged but unroutable.
            Confirmation::Ack(Some(_)) | Confirmation::Nack(_) | Confirmation::NotRequested => {
                Err(Error::NotConfirmed { queue: queue.to_owned() })
            }
        }
    }

    pub async fn close(&self) {
        // Closing waits for outstanding confirms; an error here means the
        // channel was already gone, which leaves nothing to clean up.
        let _ = self.channel.close(200, "shutdown".into()).await;
    }
}

/// Starts consuming `queue` on a channel of its own with `prefetch`
/// unacknowledged messages at most.
pub async fn consume(conn: &Connection, queue: &str, prefetch: u16) -> Result<(Channel, Consumer)> {
    let channel = conn.create_channel().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    Ok((channel, consumer))
}

/// Parses a message body, naming the queue on failure.
pub fn parse<T: for<'de> Deserialize<'de>>(queue: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| Error::BadMessage { queue: queue.to_owned(), source })
}
