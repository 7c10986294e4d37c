//! Metadata on accounts and payments: stored, returned on every read,
//! changed with PATCH (a settled payment's too, and nothing else of it),
//! part of an idempotent request, and refused whole when it breaks a rule.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::common::{App, TestEnv};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

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
    let (status, a) = app
        .post(
            "/api/v1/accounts",
            json!({"initial_balance": "10.00", "metadata": {"customer": "c-1", "tier": "gold"}}),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["metadata"], json!({"customer": "c-1", "tier": "gold"}));
    let b = app.account("0").await;
    let (_, b_view) = app.get(&format!("/api/v1/accounts/{b}")).await;
    assert_eq!(b_view["metadata"], json!({}), "no metadata is an empty map");

    let (status, p) = app
        .post(
            "/api/v1/payment",
            json!({"from_account": id(&a), "to_account": b, "amount": "1.00", "metadata": {"order": "o-77"}}),
        )
        .await;
    assert_eq!(status, 202, "{p}");
    assert_eq!(p["metadata"], json!({"order": "o-77"}));
    let done = app.wait_terminal(&[id(&p)], SETTLE_WITHIN).await;
    assert_eq!((done[0]["status"].as_str(), &done[0]["metadata"]), (Some("done"), &json!({"order": "o-77"})));

    // A settled payment's metadata changes; nothing else of it does.
    let (status, changed) = patch(
        &app,
        &format!("/api/v1/payment/{}", id(&p)),
        json!({"metadata": {"order": null, "invoice": "i-9"}}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["metadata"], json!({"invoice": "i-9"}));
    assert_eq!((changed["status"].as_str(), changed["amount"].as_str()), (Some("done"), Some("1.00")));
    let (_, read) = app.get(&format!("/api/v1/payment/{}", id(&p))).await;
    assert_eq!(read["metadata"], json!({"invoice": "i-9"}));
    let (_, page) = app.get(&format!("/api/v1/accounts/{b}/payments")).await;
    assert_eq!(page["payments"][0]["metadata"], json!({"invoice": "i-9"}), "{page}");
    let (_, events) = app.get("/api/v1/events").await;
    let events = events["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["data"]["metadata"] == json!({"invoice": "i-9"})), "{events:?}");

    let (status, changed) = patch(
        &app,
        &format!("/api/v1/accounts/{}", id(&a)),
        json!({"metadata": {"tier": null, "region": "eu"}}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["metadata"], json!({"customer": "c-1", "region": "eu"}));
    assert_eq!(changed["balance"], "9.00");

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
    let send = |metadata: Value| {
        let body = json!({"from_account": a, "to_account": b, "amount": "1", "metadata": metadata});
        let request =
            app.http.post(format!("{}/api/v1/payment", app.base)).header("idempotency-key", "order-1");
        async move {
            let r = request.json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = send(json!({"order": "1"})).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = send(json!({"order": "1"})).await;
    assert_eq!((status, id(&again)), (202, id(&first)));
    let (status, other) = send(json!({"order": "2"})).await;
    assert_eq!((status, other["error"]["code"].as_str()), (422, Some("idempotency_key_reused")), "{other}");
    assert_eq!(count(&env, "payments").await, 1);
}
