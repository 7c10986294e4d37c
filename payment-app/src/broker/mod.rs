//! RabbitMQ: the queues payments travel through, the messages on them, a
//! connection that is remade when lost, and a publisher that only reports
//! success once the broker has the message.
//!
//! ```text
//! API ──▶ payrail.lock ──▶ lock worker ──▶ payrail.settle ──▶ settle worker
//!              ▲                │ accounts busy                    │
//!              └── TTL expiry ◀─┴──▶ payrail.lock.retry.<N>ms      │
//!   delivery limit reached, or unparseable (both work queues) ─────┴──▶ payrail.dead
//!
//! events outbox ──▶ payrail.events (topic exchange, routing key = event type) ──▶ consumers' own queues
//! ```
//!
//! All queues are durable quorum queues and every message is persistent and
//! published with confirms and `mandatory`, so a message the broker cannot
//! route is an error rather than a silent drop. The retry queue has no
//! consumer: its messages wait out the TTL, then dead-letter back to
//! `payrail.lock` (at-least-once), which gives a busy payment a delay
//! without a timer in any process. Its name carries the delay, so instances
//! configured with different delays never clash over queue arguments.
//!
//! The broker may be a cluster: `AMQP_URL` lists its nodes, and losing the
//! node payrail is connected to is a reconnect to the next one
//! ([`endpoints`]). Quorum queues are declared without
//! `x-quorum-initial-group-size`, so RabbitMQ gives each a member on every
//! node of the cluster (its default; on 3.10 also on a node that is down at
//! the time), and a queue keeps working while a majority of its members is
//! up. A node that joins later gets no member of existing queues by itself
//! (`rabbitmq-queues grow` adds them).

pub mod depths;
pub mod endpoints;
pub mod events;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, ErrorKind};
use serde::Serialize;
use tokio::sync::{Mutex, watch};
use tracing::{debug, info, warn};

use payrail_common::SecretUrl;

use crate::error::{Error, Result, chain};
use endpoints::Endpoints;

pub const LOCK_QUEUE: &str = "payrail.lock";
pub const SETTLE_QUEUE: &str = "payrail.settle";
/// Where messages go that failed `delivery_limit` times or could not be
/// parsed; listed and replayed by `payment-app dead-letters`.
pub const DEAD_LETTER_QUEUE: &str = "payrail.dead";

/// How to reach the broker, and the queues to declare there.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The nodes of one broker, tried in turn; every queue payrail
    /// declares lives in their (one) vhost.
    pub urls: Vec<SecretUrl>,
    pub topology: Topology,
    /// Longest wait for connecting, and for one publish and its confirm.
    pub timeout: Duration,
}

/// Queue names and arguments for one configuration.
#[derive(Debug, Clone)]
pub struct Topology {
    pub retry_delay: Duration,
    /// Deliveries of one message before it is dead-lettered to [`DEAD_LETTER_QUEUE`].
    pub delivery_limit: u32,
}

impl Topology {
    pub fn retry_queue(&self) -> String {
        format!("{LOCK_QUEUE}.retry.{}ms", self.retry_delay.as_millis())
    }

    /// Declares every queue, and the `payrail.events` exchange (idempotent:
    /// safe on every start and reconnect).
    pub async fn declare(&self, conn: &Connection) -> Result<()> {
        declare_quorum(conn, DEAD_LETTER_QUEUE, FieldTable::default()).await?;
        for queue in [LOCK_QUEUE, SETTLE_QUEUE] {
            // A message that fails this many times goes to the dead-letter
            // queue instead of cycling for ever.
            let mut args = dead_letter_to(DEAD_LETTER_QUEUE);
            args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(i64::from(self.delivery_limit)));
            declare_quorum(conn, queue, args).await?;
        }
        let mut retry_args = dead_letter_to(LOCK_QUEUE);
        let ttl_ms = i64::try_from(self.retry_delay.as_millis())
            .map_err(|_| Error::Config("retry delay is too long".into()))?;
        retry_args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
        declare_quorum(conn, &self.retry_queue(), retry_args).await?;
        events::declare(conn).await?;
        debug!(retry_queue = %self.retry_queue(), "queues declared");
        Ok(())
    }
}

/// Arguments that dead-letter a queue's rejected or expired messages to
/// `target`, at least once: without `reject-publish` overflow a broker
/// failure in the middle of dead-lettering could drop a payment.
fn dead_letter_to(target: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-dead-letter-exchange".into(), long_string(""));
    args.insert("x-dead-letter-routing-key".into(), long_string(target));
    args.insert("x-dead-letter-strategy".into(), long_string("at-least-once"));
    args.insert("x-overflow".into(), long_string("reject-publish"));
    args
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

async fn declare_quorum(conn: &Connection, queue: &str, mut args: FieldTable) -> Result<()> {
    args.insert("x-queue-type".into(), long_string("quorum"));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let channel = conn.create_channel().await?;
    match channel.queue_declare(queue.into(), durable, args).await {
        Ok(_) => {
            let _ = channel.close(200, "declared".into()).await;
            Ok(())
        }
        Err(e) if is_precondition_failed(&e) => {
            // The queue exists with other arguments: declared by an instance
            // configured differently (say, another DELIVERY_LIMIT). Queue
            // arguments cannot change in place, and refusing to start would
            // stop every instance at once; the failed declare closed the
            // channel, so check on a new one that the queue is there.
            let channel = conn.create_channel().await?;
            let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
            channel.queue_declare(queue.into(), passive, FieldTable::default()).await?;
            let _ = channel.close(200, "declared".into()).await;
            warn!(queue, reason = %e, "queue exists with other arguments; using it as it is (delete it to apply the configured ones)");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn is_precondition_failed(e: &lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(amqp)
        if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)))
}

/// A connection to the broker that is remade when it is lost: callers ask
/// for the current connection each time they (re)start, and the topology is
/// declared again on every new connection, since a broker that lost its
/// definitions would otherwise refuse every publish.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

struct BrokerInner {
    name: String,
    topology: Topology,
    timeout: Duration,
    state: Mutex<State>,
    /// Bumped each time the topology is declared again after a queue went
    /// missing.
    redeclared: watch::Sender<u64>,
}

/// The addresses and the live connection, changed together under one lock.
struct State {
    endpoints: Endpoints,
    /// The connection and the index of the address it was made to.
    current: Option<(usize, Arc<Connection>)>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

impl Broker {
    /// Connects and declares the topology; fails if the broker cannot be
    /// reached now, so a misconfigured process stops at start-up.
    /// `name` shows in the broker's connection list.
    pub async fn connect(config: &BrokerConfig, name: &str) -> Result<Self> {
        let endpoints = Endpoints::new(config.urls.clone())?;
        let broker = Broker {
            inner: Arc::new(BrokerInner {
                name: name.to_owned(),
                topology: config.topology.clone(),
                timeout: config.timeout,
                state: Mutex::new(State { endpoints, current: None }),
                redeclared: watch::Sender::new(0),
            }),
        };
        broker.connection().await?;
        Ok(broker)
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The live connection, reconnecting first if it was lost: each
    /// address in turn, starting after the one that was lost, each within
    /// the broker timeout. Fails with the last address's error when none
    /// answers.
    pub async fn connection(&self) -> Result<Arc<Connection>> {
        let mut state = self.inner.state.lock().await;
        if let Some((index, conn)) = state.current.take() {
            if conn.status().connected() {
                state.current = Some((index, conn.clone()));
                return Ok(conn);
            }
            warn!(broker = %state.endpoints.url(index), "broker connection lost; reconnecting");
            state.endpoints.failed(index);
        }
        let mut last_error = None;
        for index in state.endpoints.order() {
            let url = state.endpoints.url(index).clone();
            match self.connect_to(&url).await {
                Ok(conn) => {
                    info!(broker = %url, "connected to the broker");
                    state.endpoints.connected(index);
                    let conn = Arc::new(conn);
                    state.current = Some((index, conn.clone()));
                    return Ok(conn);
                }
                Err(e) => {
                    if state.endpoints.urls().len() > 1 {
                        warn!(broker = %url, error = %chain(&e), "cannot reach this broker node; trying the next");
                    }
                    state.endpoints.failed(index);
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.expect("Endpoints is never empty"))
    }

    /// One connection to `url`, with the topology declared on it.
    async fn connect_to(&self, url: &SecretUrl) -> Result<Connection> {
        let connect = async {
            let properties =
                ConnectionProperties::default().with_connection_name(self.inner.name.as_str().into());
            let conn = Connection::connect(url.expose_secret(), properties).await?;
            self.inner.topology.declare(&conn).await?;
            Ok::<_, Error>(conn)
        };
        tokio::time::timeout(self.inner.timeout, connect)
            .await
            .map_err(|_| Error::Timeout { what: "connecting to the broker" })?
    }

    /// Whether the current connection is up (without trying to make one).
    pub async fn is_connected(&self) -> bool {
        self.inner.state.lock().await.current.as_ref().is_some_and(|(_, c)| c.status().connected())
    }

    pub async fn close(&self) {
        if let Some((_, conn)) = self.inner.state.lock().await.current.take() {
            let _ = conn.close(200, "shutdown".into()).await;
        }
    }

    /// Time allowed for connecting, and for one publish and its confirm.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }
}

/// Publishes JSON messages and waits for the broker's confirm of each.
/// Clones share one confirm-mode channel, made again after a failure, so
/// callers publish concurrently and recover without a restart.
#[derive(Clone, Debug)]
pub struct Publisher {
    broker: Broker,
    channel: Arc<Mutex<Option<Channel>>>,
}

impl Publisher {
    pub fn new(broker: &Broker) -> Self {
        Publisher { broker: broker.clone(), channel: Arc::new(Mutex::new(None)) }
    }

    async fn channel(&self) -> Result<Channel> {
        let mut current = self.channel.lock().await;
        if let Some(channel) = current.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let conn = self.broker.connection().await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *current = Some(channel.clone());
        Ok(channel)
    }

    /// Returns once the broker has the message durably in `queue`; fails
    /// after the broker timeout.
    pub async fn publish<T: Serialize>(&self, queue: &str, message: &T) -> Result<()> {
        let body =
            serde_json::to_vec(message).expect("broker messages are plain structs that always serialize");
        // The publishing span's W3C context, so the consumer's span joins it.
        self.publish_raw(queue, &body, crate::trace_context::amqp_headers()).await
    }

    /// Publishes a body as it is, with `headers`.
    pub async fn publish_raw(&self, queue: &str, body: &[u8], headers: FieldTable) -> Result<()> {
        self.publish_once(queue, body, headers, false).await
    }

    async fn publish_once(
        &self,
        queue: &str,
        body: &[u8],
        headers: FieldTable,
        redeclared: bool,
    ) -> Result<()> {
        let headers_again = headers.clone();
        let attempt = async {
            let channel = self.channel().await?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type(ShortString::from("application/json"))
                .with_headers(headers);
            let confirm = channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
                    body,
                    properties,
                )
                .await?
                .await?;
            match confirm {
                Confirmation::Ack(None) => Ok(Published::Yes),
                // Ack(Some) is a returned message: acknowledged but
                // unroutable, because the queue is not there.
                Confirmation::Ack(Some(_)) => Ok(Published::Unroutable),
                Confirmation::Nack(_) | Confirmation::NotRequested => {
                    Err(Error::NotConfirmed { queue: queue.to_owned() })
                }
            }
        };
        let published = tokio::time::timeout(self.broker.timeout(), attempt)
            .await
            .map_err(|_| Error::Timeout { what: "publishing to the broker" })??;
        match published {
            Published::Yes => Ok(()),
            Published::Unroutable if !redeclared => {
                // Someone deleted the queue: declare the topology again and
                // publish once more, rather than fail every publish until a
                // reconnect that may never come.
                warn!(queue, "queue missing on the broker; declaring the queues again");
                self.broker.redeclare().await?;
                Box::pin(self.publish_once(queue, body, headers_again, true)).await
            }
            Published::Unroutable => Err(Error::NotConfirmed { queue: queue.to_owned() }),
        }
    }

    pub async fn close(&self) {
        if let Some(channel) = self.channel.lock().await.take() {
            // Closing waits for outstanding confirms; an error means the
            // channel was already gone, which leaves nothing to clean up.
            let _ = channel.close(200, "shutdown".into()).await;
        }
    }
}

/// How a publish ended, short of an error.
enum Published {
    Yes,
    /// The broker had no queue to route it to.
    Unroutable,
}

/// A work queue as the broker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    Missing,
    /// Present, with this many consumers (over every instance).
    Consumers(u32),
}

impl Broker {
    /// The state of the two work queues.
    pub async fn work_queues(&self) -> Result<Vec<(&'static str, QueueState)>> {
        let mut states = Vec::new();
        for queue in [LOCK_QUEUE, SETTLE_QUEUE] {
            states.push((queue, self.queue_state(queue).await?));
        }
        Ok(states)
    }

    /// A queue's state, checked with a passive declare on a channel of its
    /// own (a missing queue closes the channel).
    pub async fn queue_state(&self, queue: &str) -> Result<QueueState> {
        let conn = self.connection().await?;
        let channel = conn.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        match channel.queue_declare(queue.into(), passive, FieldTable::default()).await {
            Ok(q) => {
                let _ = channel.close(200, "checked".into()).await;
                Ok(QueueState::Consumers(q.consumer_count()))
            }
            Err(e) if is_not_found(&e) => Ok(QueueState::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// Declares the topology again on the current connection, after a
    /// publish found a queue missing, and tells this process's consumers,
    /// which may be attached to the deleted queue without knowing it.
    pub async fn redeclare(&self) -> Result<()> {
        let conn = self.connection().await?;
        self.inner.topology.declare(&conn).await?;
        self.inner.redeclared.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Changes each time [`Broker::redeclare`] runs.
    pub fn redeclarations(&self) -> watch::Receiver<u64> {
        self.inner.redeclared.subscribe()
    }
}

fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), ErrorKind::ProtocolError(amqp)
        if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)))
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
