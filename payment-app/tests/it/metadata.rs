//! Metadata on accounts and payments: stored, returned on every read,
//! changed with PATCH (a settled payment's too, and nothing else of it),
//! part of an idempotent request, and refused whole when it breaks a rule.

use std::time::Duration;

use futures_util::TryStreamExt;
use payrail_client::types::{
    CreateAccount, CreatePayment, ErrorCode, Event, EventData, PaymentStatus, UpdateAccount, UpdateMetadata,
};
use serde_json::{Map, Value, json};

use crate::common::{App, TestEnv};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

async fn patch(app: &App, path: &str, body: Value) -> (u16, Value) {
    let r = app.http.patch(format!("{}{path}", app.base)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&env.pg().await).await.unwrap()
}

#[tokio::test]
async fn metadata_is_returned_on_every_read_and_changed_by_patch() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = CreateAccount {
        initial_balance: Some("10.00".into()),
        metadata: Some(json!({"customer": "c-1", "tier": "gold"})),
        ..CreateAccount::default()
    };
    let a = app.api.create_account(&a, None).await.unwrap();
    assert_eq!(json!(a.metadata), json!({"customer": "c-1", "tier": "gold"}));
    let b = app.account("0").await;
    let b_view = app.api.get_account(b.parse().unwrap()).await.unwrap();
    assert_eq!(json!(b_view.metadata), json!({}), "no metadata is an empty map");

    let order = CreatePayment {
        from_account: a.id.to_string(),
        to_account: b.clone(),
        amount: "1.00".into(),
        metadata: Some(json!({"order": "o-77"})),
        ..CreatePayment::default()
    };
    let p = app.api.create_payment(&order, None).await.unwrap();
    assert_eq!(json!(p.metadata), json!({"order": "o-77"}));
    let done = app.api.wait_until_terminal(p.id, SETTLE_WITHIN).await.unwrap();
    assert_eq!((done.status, json!(done.metadata)), (PaymentStatus::Done, json!({"order": "o-77"})));

    // A settled payment's metadata changes; nothing else of it does.
    let patch_order = UpdateMetadata { metadata: json!({"order": null, "invoice": "i-9"}) };
    let changed = app.api.update_payment_metadata(p.id, &patch_order).await.unwrap();
    assert_eq!(json!(changed.metadata), json!({"invoice": "i-9"}));
    assert_eq!((changed.status, changed.amount.to_string()), (PaymentStatus::Done, "1.00".to_owned()));
    let read = app.api.get_payment(p.id).await.unwrap();
    assert_eq!(json!(read.metadata), json!({"invoice": "i-9"}));
    // The account's own list (a route the client does not call: it lists
    // with `/payments?account=`).
    let (_, page) = app.get(&format!("/api/v1/accounts/{b}/payments")).await;
    assert_eq!(page["payments"][0]["metadata"], json!({"invoice": "i-9"}), "{page}");
    let events: Vec<Event> = app.api.events(None, &[]).try_collect().await.unwrap();
    assert!(!events.is_empty());
    let about = |e: &Event| match &e.data {
        EventData::Payment(p) => json!(p.metadata),
        EventData::Refund(r) => panic!("no refund was asked for: {r:?}"),
        EventData::CreditLimit(c) => panic!("no credit limit was set: {c:?}"),
    };
    assert!(events.iter().all(|e| about(e) == json!({"invoice": "i-9"})), "{events:?}");

    let patch_tier =
        UpdateAccount { metadata: Some(json!({"tier": null, "region": "eu"})), credit_limit: None };
    let changed = app.api.update_account(a.id, &patch_tier).await.unwrap();
    assert_eq!(json!(changed.metadata), json!({"customer": "c-1", "region": "eu"}));
    assert_eq!(changed.balance.to_string(), "9.00");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn bad_metadata_and_bad_patches_are_refused_and_change_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;
    let twenty_one: Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let twenty: Map<String, Value> = (0..20).map(|i| (format!("k{i}"), json!("v"))).collect();
    let bad = [
        json!(twenty_one),
        json!({"": "v"}),
        json!({"has space": "v"}),
        json!({"k".repeat(41): "v"}),
        json!({"k": "v".repeat(501)}),
        json!({"k": 5}),
        json!({"k": {"nested": "v"}}),
        json!(["k", "v"]),
        json!("k=v"),
    ];
    for metadata in &bad {
        let (status, body) = app.post("/api/v1/accounts", json!({"metadata": metadata})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_metadata")),
            "{metadata}: {body}"
        );
        let (status, body) = app
            .post(
                "/api/v1/payment",
                json!({"from_account": a, "to_account": b, "amount": "1", "metadata": metadata}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_metadata")),
            "{metadata}: {body}"
        );
    }
    assert_eq!((count(&env, "accounts").await, count(&env, "payments").await), (2, 0));

    // A full map takes no new key, but may swap one.
    let (status, body) = patch(&app, &format!("/api/v1/accounts/{a}"), json!({"metadata": twenty})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        patch(&app, &format!("/api/v1/accounts/{a}"), json!({"metadata": {"one_more": "v"}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_metadata")), "{body}");
    let (status, body) =
        patch(&app, &format!("/api/v1/accounts/{a}"), json!({"metadata": {"one_more": "v", "k0": null}}))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"].as_object().unwrap().len(), 20);

    for body in [
        json!({"metadata": {"k": "v"}, "balance": "1000.00"}),
        json!({"currency": "EUR"}),
        json!({}),
        json!({"metadata": {"k": 1}}),
        json!({"metadata": null}),
    ] {
        let (status, answer) = patch(&app, &format!("/api/v1/accounts/{b}"), body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
    }
    let (_, b_view) = app.get(&format!("/api/v1/accounts/{b}")).await;
    assert_eq!((b_view["metadata"].clone(), b_view["balance"].as_str()), (json!({}), Some("0.00")));

    let unknown = uuid::Uuid::now_v7();
    for path in [format!("/api/v1/accounts/{unknown}"), format!("/api/v1/payment/{unknown}")] {
        let (status, body) = patch(&app, &path, json!({"metadata": {"k": "v"}})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{path}: {body}");
    }
}

#[tokio::test]
async fn an_idempotency_key_remembers_the_metadata() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("10.00").await;
    let b = app.account("0").await;
    let api = &app.api;
    let send = |metadata: Value| {
        let body = CreatePayment {
            from_account: a.clone(),
            to_account: b.clone(),
            amount: "1".into(),
            metadata: Some(metadata),
            ..CreatePayment::default()
        };
        async move { api.create_payment(&body, Some("order-1")).await }
    };
    let first = send(json!({"order": "1"})).await.unwrap();
    let again = send(json!({"order": "1"})).await.unwrap();
    assert_eq!(again.id, first.id);
    match send(json!({"order": "2"})).await {
        Err(e) => assert_eq!(
            (e.status().map(|s| s.as_u16()), e.code()),
            (Some(422), Some(ErrorCode::IdempotencyKeyReused))
        ),
        Ok(other) => panic!("a reused key with other metadata was accepted: {other:?}"),
    }
    assert_eq!(count(&env, "payments").await, 1);
}
