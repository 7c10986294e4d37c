//! An account's entries as balance transactions, over HTTP: each with the
//! balance after it, in pages either way, and the balance at an instant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::{App, TestEnv, eventually};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn at(entry: &Value) -> DateTime<Utc> {
    entry["created_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn entries_carry_their_balance_and_answer_the_balance_at_any_instant() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (status, paid) = app.pay(&a, &b, "4.00").await;
    assert_eq!(status, 202, "{paid}");
    app.wait_terminal(&[paid["id"].as_str().unwrap().to_owned()], SETTLE_WITHIN).await;

    let (status, page) = app.get(&format!("/api/v1/accounts/{a}/entries")).await;
    assert_eq!(status, 200, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let shape: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (e["kind"].as_str().unwrap(), e["amount"].as_str().unwrap(), e["balance_after"].as_str().unwrap())
        })
        .collect();
    assert_eq!(shape, [("issuance", "10.00", "10.00"), ("debit", "-4.00", "6.00")], "{page}");
    assert_eq!(entries[1]["payment_id"], paid["id"], "{page}");
    assert!(page["next_after"].is_null(), "{page}");

    // Newest first, one a page: the keyset cursor walks back.
    let (_, newest) = app.get(&format!("/api/v1/accounts/{a}/entries?order=desc&limit=1")).await;
    assert_eq!(newest["entries"][0]["kind"], "debit", "{newest}");
    let after = newest["next_after"].as_i64().expect("a full page has a cursor");
    let (_, older) = app.get(&format!("/api/v1/accounts/{a}/entries?order=desc&limit=1&after={after}")).await;
    assert_eq!(older["entries"][0]["kind"], "issuance", "{older}");
    let (_, none) = app.get(&format!("/api/v1/accounts/{b}/entries?after={after}")).await;
    assert_eq!(none["entries"], serde_json::json!([]), "another account's cursor: {none}");

    let app = &app;
    let balance_at = |instant: DateTime<Utc>| {
        let path = format!("/api/v1/accounts/{a}/balance?at={}", instant.to_rfc3339().replace('+', "%2B"));
        async move { app.get(&path).await }
    };
    let (issued, debited) = (at(&entries[0]), at(&entries[1]));
    assert!(issued < debited, "{page}");
    let between = issued + (debited - issued) / 2;
    assert_eq!(balance_at(between).await.1["balance"], "10.00");
    assert_eq!(balance_at(issued).await.1["balance"], "10.00");
    assert_eq!(balance_at(debited).await.1["balance"], "6.00");
    assert_eq!(balance_at(Utc::now()).await.1["balance"], "6.00");
    // Before the account was opened: it did not exist, 404.
    let (status, body) = balance_at(issued - chrono::Duration::microseconds(1)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = app.get(&format!("/api/v1/accounts/{a}/balance?at=yesterday")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_query")), "{body}");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// An account opened with 10.00 that authorized 3.00 to another, then
/// captured 2.00 of it: its entries are an issuance, a hold, the hold's
/// release and the capture.
async fn held_then_captured(app: &App) -> String {
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (status, held) = app
        .post(
            "/api/v1/payment",
            serde_json::json!({"from_account": a, "to_account": b, "amount": "3.00", "capture": "manual"}),
        )
        .await;
    assert_eq!(status, 202, "{held}");
    let pid = held["id"].as_str().unwrap().to_owned();
    wait_status(app, &pid, "authorized").await;
    let (status, body) =
        app.post(&format!("/api/v1/payment/{pid}/capture"), serde_json::json!({"amount": "2.00"})).await;
    assert!(status < 300, "{status} {body}");
    wait_status(app, &pid, "done").await;
    a
}

/// Polls until the payment is `status`, passing through `pending` or
/// `authorized` on the way.
async fn wait_status(app: &App, id: &str, status: &str) {
    eventually(SETTLE_WITHIN, &format!("payment {id} {status}"), || async {
        let (_, body) = app.get(&format!("/api/v1/payment/{id}")).await;
        match body["status"].as_str() {
            Some(now) if now == status => Ok(()),
            Some("pending" | "authorized") => Err(body.to_string()),
            _ => panic!("payment {id} should become {status}: {body}"),
        }
    })
    .await
}

#[tokio::test]
async fn the_balance_at_an_instant_answers_what_was_held_and_available_then() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = held_then_captured(&app).await;

    let (_, page) = app.get(&format!("/api/v1/accounts/{a}/entries")).await;
    let entries = page["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["issuance", "hold", "release", "capture"], "{page}");

    let app = &app;
    let then = |instant: DateTime<Utc>| {
        let path = format!("/api/v1/accounts/{a}/balance?at={}", instant.to_rfc3339().replace('+', "%2B"));
        async move {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            let field =
                |name: &str| body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}")).to_owned();
            (field("balance"), field("held"), field("available_balance"))
        }
    };
    let triple = |balance: &str, held: &str, available: &str| (balance.into(), held.into(), available.into());
    // Opened: nothing held.
    assert_eq!(then(at(&entries[0])).await, triple("10.00", "0.00", "10.00"));
    // Authorized: 3.00 held out of the 10.00, which the balance still shows.
    let authorized = at(&entries[1]);
    assert_eq!(then(authorized).await, triple("10.00", "3.00", "7.00"));
    // Captured 2.00 of it: the hold released in the same instant.
    let captured = at(&entries[3]);
    assert!(authorized < captured, "{page}");
    assert_eq!(then(authorized + (captured - authorized) / 2).await, triple("10.00", "3.00", "7.00"));
    assert_eq!(then(captured).await, triple("8.00", "0.00", "8.00"));
    assert_eq!(then(Utc::now()).await, triple("8.00", "0.00", "8.00"));

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Each entry shows the amount held on the account right after it, in the
/// JSON pages, the CSV over HTTP and the export's JSONL alike: the same
/// `held_after` that `balance?at=` answers from.
#[tokio::test]
async fn entries_show_what_was_held_after_each_in_the_api_and_the_exports() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = held_then_captured(&app).await;
    let expected = [("issuance", "0.00"), ("hold", "3.00"), ("release", "0.00"), ("capture", "0.00")];

    let (_, page) = app.get(&format!("/api/v1/accounts/{a}/entries")).await;
    let json: Vec<(String, String)> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let held = e["held_after"].as_str().unwrap_or_else(|| panic!("no held_after in {e}"));
            (e["kind"].as_str().unwrap().to_owned(), held.to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = expected.iter().map(|(k, h)| ((*k).into(), (*h).into())).collect();
    assert_eq!(json, expected, "{page}");

    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/accounts/{a}/entries", app.base))
        .bearer_auth(crate::common::TOKEN)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split(',').collect();
    let column = |name: &str| {
        header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column in {header:?}"))
    };
    let (kind, held_after) = (column("kind"), column("held_after"));
    // Kinds and amounts hold no comma or quote: a plain split reads them.
    let csv: Vec<(String, String)> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[kind].to_owned(), fields[held_after].to_owned())
        })
        .collect();
    assert_eq!(csv, expected, "{text}");

    let out = env.command(&["export", "entries", "--account", &a, "--format", "jsonl"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jsonl: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let e: Value = serde_json::from_str(line).unwrap();
            let held = e["held_after"].as_str().unwrap_or_else(|| panic!("no held_after in {e}"));
            (e["kind"].as_str().unwrap().to_owned(), held.to_owned())
        })
        .collect();
    assert_eq!(jsonl, expected);
}
