//! Events on AMQP: what a consumer's own queue, bound to `payrail.events`,
//! receives is the events feed: the same ids, bodies and order per payment,
//! with duplicates only after a failure (here, a restart of a private
//! broker the test starts itself) and never a gap.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Connection, ConnectionProperties, Consumer};
use payrail_client::types::CreatePayment;
use serde_json::Value;

use crate::common::{App, RabbitNodes, TestEnv, eventually, payment};
use crate::webhooks::feed;

/// One message as the consumer got it.
#[derive(Debug)]
pub(crate) struct Received {
    message_id: String,
    pub(crate) routing_key: String,
    header_id: Option<String>,
    persistent: bool,
    body: Value,
}

/// A durable quorum queue of the consumer's own, bound to every event
/// (`#`), on the broker at `amqp_url`. The exchange is the app's: binding
/// fails if the app did not declare it.
pub(crate) async fn bind_queue(amqp_url: &str, queue: &str) -> (Connection, Consumer) {
    let conn = Connection::connect(amqp_url, ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), durable, args).await.unwrap();
    channel
        .queue_bind(
            queue.into(),
            "payrail.events".into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("the app declares the payrail.events exchange");
    let consumer = channel
        .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    (conn, consumer)
}

/// Consumes from a fresh connection until every id of `feed` was received
/// and nothing more came for a second, or `within` ran out.
pub(crate) async fn receive(amqp_url: &str, queue: &str, feed: &[Value], within: Duration) -> Vec<Received> {
    let (_conn, mut consumer) = bind_queue(amqp_url, queue).await;
    let wanted: HashSet<&str> = feed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut seen = HashSet::new();
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let wait = if wanted.iter().all(|id| seen.contains(*id)) {
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let Ok(Some(delivery)) = tokio::time::timeout(wait, consumer.next()).await else { break };
        let delivery = delivery.unwrap();
        let props = &delivery.properties;
        let header_id = props.headers().as_ref().and_then(|h| match h.inner().get("payrail-event-id") {
            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
            _ => None,
        });
        let message = Received {
            message_id: props.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default(),
            routing_key: delivery.routing_key.to_string(),
            header_id,
            persistent: *props.delivery_mode() == Some(2),
            body: serde_json::from_slice(&delivery.data).unwrap(),
        };
        seen.insert(message.message_id.clone());
        received.push(message);
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    received
}

/// What an event is about: its payment (a refund's, for a refund event),
/// or its account (a credit limit change).
fn subject_of(event: &Value) -> &str {
    let data = &event["data"];
    data["payment_id"].as_str().or(data["id"].as_str()).or(data["account_id"].as_str()).unwrap()
}

/// Holds `received` to `feed`: every event, its body exactly, its id as
/// `message_id` and header, the type as routing key, persistent, and each
/// subject's (payment's or account's) events first received in the feed's
/// order. Returns how many
/// duplicates came.
pub(crate) fn assert_matches_feed(feed: &[Value], received: &[Received]) -> usize {
    let by_id: HashMap<&str, &Value> = feed.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    let mut first_seen = Vec::new();
    let mut seen = HashSet::new();
    for message in received {
        let event = by_id
            .get(message.message_id.as_str())
            .unwrap_or_else(|| panic!("received {} which the feed does not have", message.message_id));
        assert_eq!(&message.body, *event, "the body is the feed's event");
        assert_eq!(message.header_id.as_deref(), Some(message.message_id.as_str()));
        assert_eq!(message.routing_key, event["type"].as_str().unwrap());
        assert!(message.persistent, "{} was not persistent", message.message_id);
        if seen.insert(message.message_id.as_str()) {
            first_seen.push(*event);
        }
    }
    let missing: Vec<&str> = by_id.keys().filter(|id| !seen.contains(**id)).copied().collect();
    assert!(missing.is_empty(), "{} events of the feed never arrived (a gap): {missing:?}", missing.len());
    let per_payment = |events: &[&Value]| {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for e in events {
            map.entry(subject_of(e).to_owned()).or_default().push(e["id"].as_str().unwrap().to_owned());
        }
        map
    };
    let feed_refs: Vec<&Value> = feed.iter().collect();
    assert_eq!(
        per_payment(&first_seen),
        per_payment(&feed_refs),
        "each subject's events in the feed's order"
    );
    received.len() - seen.len()
}

/// Payments among `accounts`, one in five more than its payer has (so it
/// fails); their ids.
async fn payments(app: &App, accounts: &[String], n: usize, tag: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let from = &accounts[(i + tag) % accounts.len()];
        let to = &accounts[(i + tag + 1) % accounts.len()];
        let amount = if i % 5 == 4 { "5000.00" } else { "1.25" };
        let accepted = app.api.create_payment(&payment(from, to, amount), None).await.unwrap();
        ids.push(accepted.id.to_string());
    }
    ids
}

/// Without a failure, a bound queue gets the feed exactly once each.
#[tokio::test]
async fn a_bound_queue_receives_the_feed_exactly_without_failures() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    // Bound before anything happens: a consumer's queue gets what is
    // published after it binds.
    drop(bind_queue(&env.amqp_url, "my-events").await);
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("100.00").await);
    }
    let ids = payments(&app, &accounts, 40, 0).await;
    app.wait_terminal(&ids, Duration::from_secs(60)).await;
    let feed = feed(&app).await;
    assert_eq!(feed.len(), 80, "a created and a done or failed event per payment");
    let received = receive(&env.amqp_url, "my-events", &feed, Duration::from_secs(30)).await;
    assert_eq!(assert_matches_feed(&feed, &received), 0, "no duplicate without a failure");

    // What the metrics say once everything went out: nothing owed.
    eventually(Duration::from_secs(15), "the metrics show nothing owed", || async {
        let metrics =
            app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| {
            metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        };
        let (backlog, lag, published) = (
            value("payrail_events_publish_backlog"),
            value("payrail_events_publish_lag_seconds"),
            value("payrail_events_published_total"),
        );
        assert_eq!(published, Some(80.0), "{metrics}");
        if backlog == Some(0.0) && lag == Some(0.0) {
            Ok(())
        } else {
            Err(format!("backlog {backlog:?}, lag {lag:?}"))
        }
    })
    .await;
}

/// A private one-node broker (never the shared one) is stopped and
/// started again while payments go on: what the bound queue holds
/// afterwards is the whole feed, in order per payment; events written
/// while the broker was down are published once it is back.
#[tokio::test]
async fn a_bound_queue_receives_the_feed_exactly_across_a_broker_restart() {
    let env = TestEnv::new();
    let nodes = RabbitNodes::start_n(1);
    let amqp_url = nodes.urls[0].clone();
    let app = App::start(
        &env,
        &[
            ("AMQP_URL", &amqp_url),
            ("RELAY_AFTER_SECS", "2"),
            ("RELAY_INTERVAL_SECS", "1"),
            ("BROKER_TIMEOUT_MS", "2000"),
            ("EVENTS_PUBLISH_BATCH", "7"),
        ],
    )
    .await;
    drop(bind_queue(&amqp_url, "my-events").await);
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("100.00").await);
    }
    let mut ids = payments(&app, &accounts, 30, 0).await;
    app.wait_terminal(&ids, Duration::from_secs(60)).await;

    nodes.stop_one(1);
    // Accepted while the broker is down: recorded, queued and published later.
    ids.extend(payments(&app, &accounts, 10, 1).await);
    nodes.start_one(1);
    ids.extend(payments(&app, &accounts, 20, 2).await);
    app.wait_terminal(&ids, Duration::from_secs(120)).await;

    let feed = feed(&app).await;
    assert_eq!(feed.len(), 120, "a created and a done or failed event per payment");
    let received = receive(&amqp_url, "my-events", &feed, Duration::from_secs(60)).await;
    let duplicates = assert_matches_feed(&feed, &received);
    eprintln!(
        "{} messages for {} events ({duplicates} duplicates after the restart)",
        received.len(),
        feed.len()
    );
}

/// The outbox holds one row per statement that wrote events. A client's
/// batch of 25 payments is one statement, more events than the publisher
/// sends at once (7 here), and its events interleave in id order with
/// those of single payments made beside it: the queue still gets the whole
/// feed, each payment's events in order, nothing twice.
#[tokio::test]
async fn a_statements_events_are_published_whole_and_in_the_feeds_order() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("EVENTS_PUBLISH_BATCH", "7")]).await;
    drop(bind_queue(&env.amqp_url, "my-events").await);
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.account("100.00").await);
    }
    let items: Vec<CreatePayment> =
        (0..25).map(|i| payment(&accounts[i % 4], &accounts[(i + 1) % 4], "0.50")).collect();
    let (batch, mut ids) =
        tokio::join!(app.api.create_payment_batch(&items, false, None), payments(&app, &accounts, 10, 0),);
    for result in batch.unwrap().results {
        assert_eq!(result.status, 202, "{result:?}");
        ids.push(result.payment.unwrap_or_else(|| panic!("{}: no payment", result.index)).id.to_string());
    }
    app.wait_terminal(&ids, Duration::from_secs(60)).await;
    let feed = feed(&app).await;
    assert_eq!(feed.len(), 70, "a created and a done or failed event per payment");
    let received = receive(&env.amqp_url, "my-events", &feed, Duration::from_secs(30)).await;
    assert_eq!(assert_matches_feed(&feed, &received), 0, "no duplicate without a failure");
}
