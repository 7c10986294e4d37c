//! `POST /api/v1/payments/batch`: per-item answers, replays by item keys,
//! atomic (linked) batches settled all or none, and the request's limits.

use std::time::Duration;

use payrail_client::types::{BatchResponse, FailureReason, PaymentId, PaymentStatus};
use serde_json::{Value, json};

use crate::common::{App, TestEnv, payment, wait_none_pending};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);
const BATCH: &str = "/api/v1/payments/batch";

fn item(from: &str, to: &str, amount: &str) -> Value {
    json!({ "from_account": from, "to_account": to, "amount": amount })
}

fn keyed(from: &str, to: &str, amount: &str, key: &str) -> Value {
    json!({ "from_account": from, "to_account": to, "amount": amount, "idempotency_key": key })
}

fn results(body: &Value) -> &Vec<Value> {
    body["results"].as_array().unwrap_or_else(|| panic!("no results in {body}"))
}

/// Each result's `(index, status, error code or "")`.
fn statuses(body: &Value) -> Vec<(u64, u64, String)> {
    results(body)
        .iter()
        .map(|r| {
            let code = r["error"]["code"].as_str().unwrap_or("").to_owned();
            (r["index"].as_u64().unwrap(), r["status"].as_u64().unwrap(), code)
        })
        .collect()
}

fn payment_ids(body: &Value) -> Vec<String> {
    results(body).iter().filter_map(|r| Some(r["payment"]["id"].as_str()?.to_owned())).collect()
}

/// The ids of a batch's accepted payments, asserting every item was.
fn accepted(answer: &BatchResponse) -> Vec<PaymentId> {
    answer
        .results
        .iter()
        .map(|r| match &r.payment {
            Some(p) if r.status == 202 => p.id,
            _ => panic!("item {} not accepted: {r:?}", r.index),
        })
        .collect()
}

async fn payment_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&env.pg().await).await.unwrap()
}

fn assert_audit_clean(env: &TestEnv) {
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn a_mixed_batch_answers_each_item_and_records_only_the_valid_ones() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let unknown = uuid::Uuid::now_v7().to_string();

    let (status, body) = app
        .post(
            BATCH,
            json!({ "payments": [
                item(&a, &b, "10.00"),
                item(&a, &b, "ten"),
                item(&a, &unknown, "1.00"),
                item(&a, &a, "1.00"),
                json!({ "from_account": a, "to_account": b, "amount": "5.25", "metadata": {"order": "42"},
                        "payment_description": "second" }),
                json!("not an object"),
                json!({ "from_account": a, "to_account": b, "amount": "1.00", "colour": "red" }),
                item(&a, &b, "100.00"),
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let s = |i: u64, st: u64, code: &str| (i, st, code.to_owned());
    assert_eq!(
        statuses(&body),
        vec![
            s(0, 202, ""),
            s(1, 422, "invalid_amount"),
            s(2, 422, "unknown_account"),
            s(3, 422, "same_account"),
            s(4, 202, ""),
            s(5, 422, "invalid_body"),
            s(6, 422, "invalid_body"),
            s(7, 202, ""),
        ]
    );
    let r = results(&body);
    assert_eq!(r[4]["payment"]["metadata"], json!({"order": "42"}));
    assert_eq!(r[4]["payment"]["status"], "pending");
    assert!(r[0].get("replayed").is_none(), "{}", r[0]);

    // The valid ones settle on their own: the last cannot be covered once
    // the first two moved 15.25, and fails alone.
    let ids = payment_ids(&body);
    assert_eq!(ids.len(), 3);
    let settled = app.wait_terminal(&ids, SETTLE_WITHIN).await;
    let ends: Vec<&str> = settled.iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(ends, ["done", "done", "failed"]);
    assert_eq!(settled[2]["failure_reason"], "insufficient_funds");
    assert_eq!(app.balance(&a).await, "84.75");
    assert_eq!(app.balance(&b).await, "15.25");
    assert_eq!(payment_count(&env).await, 3, "the invalid items are recorded nowhere");
    assert_audit_clean(&env);
}

#[tokio::test]
async fn resending_a_batch_with_keys_replays_it_and_records_nothing_twice() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let key = |n: u32| format!("batch-{}-{n}", env.name);
    let batch = json!({ "payments": [
        keyed(&a, &b, "1.00", &key(1)),
        keyed(&a, &b, "2.00", &key(2)),
        keyed(&a, &b, "3.00", &key(3)),
        // The same key twice in one batch: the second is refused.
        keyed(&a, &b, "4.00", &key(3)),
    ]});
    let (status, first) = app.post(BATCH, batch.clone()).await;
    assert_eq!(status, 200, "{first}");
    let s = |i: u64, st: u64, code: &str| (i, st, code.to_owned());
    let expected = vec![s(0, 202, ""), s(1, 202, ""), s(2, 202, ""), s(3, 422, "idempotency_key_reused")];
    assert_eq!(statuses(&first), expected);
    let ids = payment_ids(&first);
    app.wait_terminal(&ids, SETTLE_WITHIN).await;

    // The whole batch again: the same answers, replayed, nothing recorded.
    let (status, again) = app.post(BATCH, batch).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(statuses(&again), expected);
    assert_eq!(payment_ids(&again), ids);
    for r in &results(&again)[..3] {
        assert_eq!(r["replayed"], true, "{r}");
        // As first answered (pending), not as it is now.
        assert_eq!(r["payment"]["status"], "pending", "{r}");
    }
    assert!(results(&again)[3].get("replayed").is_none());

    // An item key is a payment's key: the single route replays it too, and
    // a changed item under a used key is refused alone.
    let r = app
        .http
        .post(format!("{}/api/v1/payment", app.base))
        .header("Idempotency-Key", key(1))
        .json(&item(&a, &b, "1.00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"].as_str().unwrap(), ids[0]);
    let (status, changed) = app
        .post(BATCH, json!({ "payments": [keyed(&a, &b, "9.99", &key(2)), keyed(&a, &b, "0.50", &key(4))] }))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(statuses(&changed), vec![s(0, 422, "idempotency_key_reused"), s(1, 202, "")]);
    app.wait_terminal(&payment_ids(&changed), SETTLE_WITHIN).await;

    assert_eq!(payment_count(&env).await, 4);
    assert_eq!(app.balance(&a).await, "93.50");
    assert_eq!(app.balance(&b).await, "6.50");
    assert_audit_clean(&env);
}

#[tokio::test]
async fn an_atomic_batch_settles_all_or_nothing() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let payer = app.account("10.00").await;
    let short = app.account("10.00").await;
    let merchant = app.account("0").await;
    let fee = app.account("0").await;

    // Pay the merchant, pay the fee: exactly what the payer has. (Through
    // the client, which gives each item a key of the batch's.)
    let both = [payment(&payer, &merchant, "9.70"), payment(&payer, &fee, "0.30")];
    let answer = app.api.create_payment_batch(&both, true, None).await.unwrap();
    for id in accepted(&answer) {
        let done = app.api.wait_until_terminal(id, SETTLE_WITHIN).await.unwrap();
        assert_eq!(done.status, PaymentStatus::Done, "{done:?}");
    }

    // One cent too much on the fee: the merchant's payment, which alone
    // could apply, fails with it, for the fee's reason, and nothing moves.
    let over = [payment(&short, &merchant, "9.70"), payment(&short, &fee, "0.31")];
    let answer = app.api.create_payment_batch(&over, true, None).await.unwrap();
    let ids = accepted(&answer);
    assert_eq!(ids.len(), 2);
    for id in ids {
        let failed = app.api.wait_until_terminal(id, SETTLE_WITHIN).await.unwrap();
        assert_eq!(
            (failed.status, failed.failure_reason),
            (PaymentStatus::Failed, Some(FailureReason::InsufficientFunds)),
            "{failed:?}"
        );
    }
    assert_eq!(app.balance(&short).await, "10.00");
    assert_eq!(app.balance(&merchant).await, "9.70");
    assert_eq!(app.balance(&fee).await, "0.30");

    // The link is in the database, one per batch.
    let links: Vec<Option<uuid::Uuid>> = sqlx::query_scalar("SELECT link_id FROM payments ORDER BY id")
        .fetch_all(&env.pg().await)
        .await
        .unwrap();
    assert_eq!(links.len(), 4);
    assert!(links.iter().all(Option::is_some), "{links:?}");
    assert_eq!(links[0], links[1]);
    assert_eq!(links[2], links[3]);
    assert_ne!(links[0], links[2]);

    // A hundred linked payments, one of which cannot apply: all fail.
    let rich = app.account("1000.00").await;
    let mut payments: Vec<Value> = (0..99).map(|_| item(&rich, &merchant, "1.00")).collect();
    payments.push(item(&short, &fee, "10.01"));
    let (status, body) = app.post(BATCH, json!({ "atomic": true, "payments": payments })).await;
    assert_eq!(status, 200, "{body}");
    wait_none_pending(&env, &app, SETTLE_WITHIN).await;
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'failed'")
        .fetch_one(&env.pg().await)
        .await
        .unwrap();
    assert_eq!(failed, 102);
    assert_eq!(app.balance(&rich).await, "1000.00");
    assert_audit_clean(&env);
}

#[tokio::test]
async fn an_atomic_batch_with_an_invalid_item_is_refused_whole() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;

    let (status, body) = app
        .post(BATCH, json!({ "atomic": true, "payments": [item(&a, &b, "1.00"), item(&a, &b, "-1"), item(&a, &a, "1")] }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "atomic_batch_refused", "{body}");
    let s = |i: u64, st: u64, code: &str| (i, st, code.to_owned());
    assert_eq!(statuses(&body), vec![s(1, 422, "invalid_amount"), s(2, 422, "same_account")]);

    // Manual capture is refused in an atomic batch (allowed in others).
    let manual = json!({ "from_account": a, "to_account": b, "amount": "1.00", "capture": "manual" });
    let (status, body) = app.post(BATCH, json!({ "atomic": true, "payments": [manual.clone()] })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(statuses(&body), vec![s(0, 422, "invalid_capture")]);
    assert_eq!(payment_count(&env).await, 0, "nothing recorded");

    let (status, body) = app.post(BATCH, json!({ "payments": [manual] })).await;
    assert_eq!(status, 200, "{body}");
    let authorized = app.wait_terminal(&payment_ids(&body), SETTLE_WITHIN).await;
    assert_eq!(authorized[0]["status"], "authorized", "{}", authorized[0]);

    // Keys of an atomic batch: all new or all replays, else refused whole.
    let key = format!("atomic-{}", env.name);
    let (status, body) =
        app.post(BATCH, json!({ "atomic": true, "payments": [keyed(&a, &b, "1.00", &key)] })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            BATCH,
            json!({ "atomic": true, "payments": [keyed(&a, &b, "1.00", &key), item(&a, &b, "2.00")] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused", "{body}");
    let (status, body) =
        app.post(BATCH, json!({ "atomic": true, "payments": [keyed(&a, &b, "1.00", &key)] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(results(&body)[0]["replayed"], true, "{body}");
    assert_eq!(payment_count(&env).await, 2);
}

/// A replay is of the same request (issue 26: an atomic batch of the keys
/// of two earlier single payments, one `done` and one `failed`, was
/// answered 200 with both `"replayed": true`, as if they had been linked).
/// An atomic item's key names its linked set: only the same set, in any
/// order, replays; the keys of single payments or of other sets refuse the
/// whole batch, and recording nothing.
#[tokio::test]
async fn an_atomic_batch_replays_only_the_same_linked_set() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("5.00").await, app.account("0").await);
    let key = |n: u32| format!("linked-{}-{n}", env.name);
    let single = |amount: &str, k: String| {
        app.http
            .post(format!("{}/api/v1/payment", app.base))
            .header("Idempotency-Key", k)
            .json(&item(&a, &b, amount))
            .send()
    };
    // Two single payments: the first done, the second failed (5.00 - 4.00 < 2.00).
    let mut singles = Vec::new();
    for (amount, n) in [("4.00", 1), ("2.00", 2)] {
        let r = single(amount, key(n)).await.unwrap();
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        singles.push(body["id"].as_str().unwrap().to_owned());
        app.wait_terminal(&singles, SETTLE_WITHIN).await;
    }
    let before = payment_count(&env).await;
    let (status, body) = app
        .post(
            BATCH,
            json!({ "atomic": true, "payments": [keyed(&a, &b, "4.00", &key(1)), keyed(&a, &b, "2.00", &key(2))] }),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("idempotency_key_reused")), "{body}");
    assert_eq!(payment_count(&env).await, before, "nothing recorded");

    // Two atomic sets; the same set resent, reordered, replays; a mix of
    // the two does not, and neither does one member sent alone.
    let set = |x: u32, y: u32| json!({ "atomic": true, "payments": [keyed(&a, &b, "0.10", &key(x)), keyed(&a, &b, "0.20", &key(y))] });
    for (x, y) in [(3, 4), (5, 6)] {
        let (status, body) = app.post(BATCH, set(x, y)).await;
        assert_eq!(status, 200, "{body}");
        assert!(results(&body).iter().all(|r| r.get("replayed").is_none()), "{body}");
    }
    let reordered = json!({ "atomic": true, "payments": [keyed(&a, &b, "0.20", &key(4)), keyed(&a, &b, "0.10", &key(3))] });
    let (status, body) = app.post(BATCH, reordered).await;
    assert_eq!(status, 200, "{body}");
    assert!(results(&body).iter().all(|r| r["replayed"] == true), "{body}");
    let (status, body) = app.post(BATCH, set(3, 6)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("idempotency_key_reused")), "{body}");
    let r = single("0.10", key(3)).await.unwrap();
    assert_eq!(r.status(), 422, "a linked payment's key is not a single payment's");
    assert_eq!(payment_count(&env).await, before + 4);
    assert_audit_clean(&env);
}

#[tokio::test]
async fn a_batch_is_refused_whole_past_its_limits_or_when_malformed() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("BATCH_MAX_ITEMS", "5")]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let code = |body: &Value| body["error"]["code"].as_str().unwrap_or("").to_owned();

    let (status, body) = app.post(BATCH, json!({ "payments": [item(&a, &b, "1.00")] })).await;
    assert_eq!(status, 200, "{body}");
    let five: Vec<Value> = (0..5).map(|_| item(&a, &b, "1.00")).collect();
    let (status, body) = app.post(BATCH, json!({ "payments": five })).await;
    assert_eq!((status, results(&body).len()), (200, 5), "{body}");
    let six: Vec<Value> = (0..6).map(|_| item(&a, &b, "1.00")).collect();
    let (status, body) = app.post(BATCH, json!({ "payments": six })).await;
    assert_eq!((status, code(&body)), (422, "too_many_items".into()), "{body}");

    for (request, expected) in [
        (json!({ "payments": [] }), "invalid_body"),
        (json!([item(&a, &b, "1.00")]), "invalid_body"),
        (json!({ "payments": "none" }), "invalid_body"),
        (json!({ "items": [item(&a, &b, "1.00")] }), "invalid_body"),
        (json!({ "payments": [item(&a, &b, "1.00")], "atomic": "yes" }), "invalid_body"),
    ] {
        let (status, body) = app.post(BATCH, request.clone()).await;
        assert_eq!((status, code(&body)), (422, expected.into()), "{request} -> {body}");
    }
    let r = app
        .http
        .post(format!("{}{BATCH}", app.base))
        .header("content-type", "application/json")
        .body("{\"payments\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The body limit: 4 KiB an item, never below the 64 KiB of other routes.
    let padding = "x".repeat(70 * 1024);
    let big = json!({ "payments": [{ "from_account": a, "to_account": b, "amount": "1.00", "payment_description": padding }] });
    let (status, body) = app.post(BATCH, big).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large".into()), "{body}");
    assert_eq!(payment_count(&env).await, 6, "only the two accepted batches were recorded");
}

#[tokio::test]
async fn a_batch_of_a_thousand_settles_and_audits_clean() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let mut accounts = Vec::new();
    for _ in 0..10 {
        accounts.push(app.account("1000.00").await);
    }
    let hot = app.account("0").await;
    // Every other payment credits one hot account; the rest go round.
    let payments: Vec<Value> = (0..1000)
        .map(|i| {
            let from = &accounts[i % 10];
            let to = if i % 2 == 0 { &hot } else { &accounts[(i + 3) % 10] };
            json!({ "from_account": from, "to_account": to, "amount": "1.00",
                    "metadata": { "line": i.to_string() } })
        })
        .collect();
    let request = json!({ "payments": payments });
    assert!(request.to_string().len() > 64 * 1024, "the batch is past the other routes' body limit");
    let (status, body) = app.post(BATCH, request).await;
    assert_eq!(status, 200, "{body}");
    assert!(statuses(&body).iter().enumerate().all(|(i, s)| *s == (i as u64, 202, String::new())), "{body}");
    wait_none_pending(&env, &app, SETTLE_WITHIN).await;

    let pg = env.pg().await;
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'done'")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(done, 1000);
    assert_eq!(app.balance(&hot).await, "500.00");
    assert_audit_clean(&env);
}

/// A batch costs its token one request per item, not one in all (issue 26,
/// item 10: a 1,000-item batch counted as one request). At 1 request/s with
/// a burst of 12, two accounts and a batch of 8 fit; a second batch of 8
/// right after is 429 `rate_limited` with Retry-After and nothing recorded;
/// a batch of more items than the burst could never fit and is refused as
/// too many items for this token.
#[tokio::test]
async fn a_batch_costs_its_token_one_request_per_item() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("API_RATE_PER_SEC", "1"), ("API_RATE_BURST", "12")]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let batch = |n: usize| json!({ "payments": vec![item(&a, &b, "0.01"); n] });

    let (status, body) = app.post("/api/v1/payments/batch", batch(8)).await;
    assert_eq!(status, 200, "{body}");
    let response =
        app.http.post(format!("{}/api/v1/payments/batch", app.base)).json(&batch(8)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(payment_count(&env).await, 8);

    let (status, body) = app.post("/api/v1/payments/batch", batch(13)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("too_many_items")), "{body}");
    assert_eq!(payment_count(&env).await, 8);
}

/// What a release before refunds and holds stored as a payment's answer:
/// today's `PaymentView` without the fields those added.
const OLDER_SNAPSHOT: &str =
    "response - 'capture' - 'hold_expires_at' - 'amount_captured' - 'amount_refunded'";

#[tokio::test]
async fn a_replayed_item_whose_stored_answer_has_another_shape_is_answered_with_its_payment() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let key = format!("older-{}", env.name);
    let items = [payment(&a, &b, "1.00"), payment(&a, &b, "2.00"), payment(&a, &b, "3.00")];
    let first = app.api.create_payment_batch(&items, false, Some(&key)).await.unwrap();
    let ids = accepted(&first);
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    app.wait_terminal(&texts, SETTLE_WITHIN).await;

    // Item 0's answer as an older release stored it; item 1's in no shape
    // a payment ever had, its id gone; item 2's as this release stores it.
    let pg = env.pg().await;
    for (item, set) in [(0, OLDER_SNAPSHOT), (1, "'{\"accepted\": true}'")] {
        let changed = sqlx::query(&format!(
            "UPDATE idempotency_keys SET response = {set} WHERE scope = 'payment' AND key = $1"
        ))
        .bind(format!("{key}-{item}"))
        .execute(&pg)
        .await
        .unwrap();
        assert_eq!(changed.rows_affected(), 1, "the client keys item {item} {key}-{item}");
    }

    let again = app.api.create_payment_batch(&items, false, Some(&key)).await.unwrap();
    let r = &again.results;
    assert!(r.iter().all(|r| r.status == 202 && r.replayed && r.error.is_none()), "{r:?}");
    // The older shape still names its payment: the client gets it, as it
    // is now (it settled since), so it can follow it like any other.
    let older = r[0].payment.as_ref().unwrap_or_else(|| panic!("item 0 without its payment: {:?}", r[0]));
    assert_eq!((older.id, older.status), (ids[0], PaymentStatus::Done));
    // Nothing names item 1's payment any more: accepted before, nothing
    // recorded now, and no payment to show.
    assert_eq!(r[1].payment, None);
    // Item 2 as first answered.
    let current = r[2].payment.as_ref().unwrap();
    assert_eq!((current.id, current.status), (ids[2], PaymentStatus::Pending));

    let log = app.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("a replayed batch item's snapshot does not read as a payment"))
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per item stored in another shape:\n{}", app.log_tail());
    assert!(warnings.iter().all(|w| w.contains("WARN")), "{warnings:?}");
    // Each says which item, and what it was answered with.
    assert!(
        warnings[0].contains("index=0") && warnings[0].contains("the payment as it is now"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("index=1") && warnings[1].contains("no payment"), "{warnings:?}");
    assert_eq!(payment_count(&env).await, 3, "a replay records nothing");
}
