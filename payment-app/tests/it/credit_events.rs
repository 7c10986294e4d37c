//! Credit limit changes as events (issue 29): an account opened with a limit
//! and each `PATCH` that changes it make an `account.credit_limit_changed`
//! event, which the feed lists in order, the webhooks that subscribe to it
//! receive in order, `payrail.events` publishes and the export writes; and
//! the balance at an instant uses the limit as it was then.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use payrail_client::types::{CreateAccount, PaymentStatus, UpdateAccount};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{App, TestEnv, payment};
use crate::events_amqp::{assert_matches_feed, bind_queue, receive};
use crate::webhooks::{Behaviour, LOCAL, Receiver, feed, register};

const CHANGED: &str = "account.credit_limit_changed";

/// An account with 10.00 and a credit limit of 5.00.
async fn open(app: &App) -> String {
    let body = CreateAccount {
        initial_balance: Some("10.00".into()),
        credit_limit: Some("5.00".into()),
        ..Default::default()
    };
    let opened = app.api.create_account_with_meta(&body, None).await.unwrap();
    assert_eq!(opened.status, StatusCode::CREATED, "{opened:?}");
    opened.value.id.to_string()
}

async fn set_limit(app: &App, account: &str, limit: &str) {
    let body = UpdateAccount { credit_limit: Some(limit.to_owned()), metadata: None };
    let changed = app.api.update_account(account.parse().unwrap(), &body).await.unwrap();
    assert_eq!(changed.credit_limit.to_string(), limit, "{changed:?}");
}

/// The (old, new) limits of the credit limit events among `events`.
fn changes(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == CHANGED)
        .map(|e| {
            let data = &e["data"];
            (
                data["old_credit_limit"].as_str().unwrap().into(),
                data["new_credit_limit"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// The distinct event ids of what a receiver answered 2xx, in the order
/// each first arrived.
fn first_arrivals(delivered: &[crate::webhooks::Received]) -> Vec<String> {
    let mut seen = HashSet::new();
    delivered.iter().filter(|r| seen.insert(r.event_id.clone())).map(|r| r.event_id.clone()).collect()
}

#[tokio::test]
async fn credit_limit_changes_reach_the_feed_webhooks_the_exchange_and_the_export_in_order() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    drop(bind_queue(&env.amqp_url, "limits").await);
    // Every attempt fails twice first: only the per-subject order keeps an
    // account's later change from arriving before its earlier one.
    let limits = Receiver::start(Behaviour::FailFirst(2)).await;
    let payments_only = Receiver::start(Behaviour::Accept).await;
    let everything = Receiver::start(Behaviour::Accept).await;
    register(&app, json!({"url": limits.url(), "events": [CHANGED]})).await;
    register(&app, json!({"url": payments_only.url(), "events": ["payment.created"]})).await;
    register(&app, json!({"url": everything.url()})).await;

    let a = open(&app).await;
    let b = app.account("0").await;
    set_limit(&app, &a, "8.00").await;
    set_limit(&app, &a, "8.00").await;
    set_limit(&app, &a, "2.00").await;
    let paid = app.settled(&payment(&a, &b, "1.00"), Duration::from_secs(60)).await;
    assert_eq!(paid.status, PaymentStatus::Done);

    // The feed: the opening's limit and the two changes (the same limit
    // sent again is no change), beside the payment's two events.
    let events = feed(&app).await;
    assert_eq!(events.len(), 5, "{events:#?}");
    let expected: Vec<(String, String)> = [("0.00", "5.00"), ("5.00", "8.00"), ("8.00", "2.00")]
        .iter()
        .map(|(o, n)| ((*o).into(), (*n).into()))
        .collect();
    assert_eq!(changes(&events), expected, "{events:#?}");
    let limit_events: Vec<&Value> = events.iter().filter(|e| e["type"] == CHANGED).collect();
    for e in &limit_events {
        assert_eq!(e["data"]["account_id"], a.as_str(), "{e}");
        assert_eq!(e["data"]["currency"], "USD", "{e}");
        let changed: DateTime<Utc> = e["data"]["changed_at"].as_str().unwrap().parse().unwrap();
        let created: DateTime<Utc> = e["created_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(changed, created, "the event is made with its change: {e}");
        let one = app.api.get_event(e["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
        assert_eq!(&serde_json::to_value(one).unwrap(), *e);
    }

    // Webhooks: the subscriber gets the three in order, as the feed lists
    // them; an endpoint of payments only gets none of them.
    let limit_ids: Vec<String> = limit_events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let delivered = limits.wait_delivered(3, &app).await;
    assert_eq!(first_arrivals(&delivered), limit_ids, "an account's changes arrive in order");
    for r in &delivered {
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(events.contains(&sent), "the body is the event as the feed lists it: {sent}");
    }
    let all = everything.wait_delivered(5, &app).await;
    assert_eq!(first_arrivals(&all).len(), 5);
    payments_only.wait_delivered(1, &app).await;
    let created: Vec<&str> =
        events.iter().filter(|e| e["type"] == "payment.created").map(|e| e["id"].as_str().unwrap()).collect();
    assert!(payments_only.received().iter().all(|r| created.contains(&r.event_id.as_str())));

    // The exchange: the feed exactly, each subject's events in order.
    let received = receive(&env.amqp_url, "limits", &events, Duration::from_secs(30)).await;
    assert_eq!(assert_matches_feed(&events, &received), 0, "no duplicate without a failure");
    assert_eq!(received.iter().filter(|m| m.routing_key == CHANGED).count(), 3);

    // The export: one account's events include its limit's.
    let out = env.command(&["export", "events", "--account", &a, "--format", "jsonl"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == CHANGED)
        .map(|e| {
            assert_eq!(e["account_id"], a.as_str(), "{e}");
            (e["old_credit_limit"].as_str().unwrap().into(), e["new_credit_limit"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(exported, expected);

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn the_balance_at_an_instant_counts_the_credit_limit_as_it_was_then() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = open(&app).await;
    let opened = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    set_limit(&app, &a, "20.00").await;
    let raised = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    set_limit(&app, &a, "0.00").await;

    let (app, a) = (&app, a.parse().unwrap());
    let available = |instant: DateTime<Utc>| async move {
        app.api.balance_at(a, instant).await.unwrap().available_balance.to_string()
    };
    assert_eq!(available(opened).await, "15.00", "10.00 and the 5.00 of credit it was opened with");
    assert_eq!(available(raised).await, "30.00", "10.00 and the 20.00 of credit it had then");
    assert_eq!(available(Utc::now()).await, "10.00", "no credit any more");
}
