//! An account's entries as balance transactions, over HTTP: each with the
//! balance after it, in pages either way, and the balance at an instant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use payrail_client::types::{CaptureRequest, CreatePayment, EntryView, ErrorCode, PaymentId, PaymentStatus};
use serde_json::Value;

use crate::common::{App, TestEnv, eventually, payment, refused};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn at(entry: &Value) -> DateTime<Utc> {
    entry["created_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn entries_carry_their_balance_and_answer_the_balance_at_any_instant() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let paid = app.settled(&payment(&a, &b, "4.00"), SETTLE_WITHIN).await;

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
    assert_eq!(entries[1]["payment_id"], paid.id.to_string(), "{page}");
    assert!(page["next_after"].is_null(), "{page}");

    // Newest first, one a page: the keyset cursor walks back.
    let (_, newest) = app.get(&format!("/api/v1/accounts/{a}/entries?order=desc&limit=1")).await;
    assert_eq!(newest["entries"][0]["kind"], "debit", "{newest}");
    let after = newest["next_after"].as_i64().expect("a full page has a cursor");
    let (_, older) = app.get(&format!("/api/v1/accounts/{a}/entries?order=desc&limit=1&after={after}")).await;
    assert_eq!(older["entries"][0]["kind"], "issuance", "{older}");
    let (_, none) = app.get(&format!("/api/v1/accounts/{b}/entries?after={after}")).await;
    assert_eq!(none["entries"], serde_json::json!([]), "another account's cursor: {none}");

    let (app, id) = (&app, a.parse().unwrap());
    let balance_at = |instant: DateTime<Utc>| async move {
        app.api.balance_at(id, instant).await.map(|then| then.balance.to_string())
    };
    let (issued, debited) = (at(&entries[0]), at(&entries[1]));
    assert!(issued < debited, "{page}");
    let between = issued + (debited - issued) / 2;
    assert_eq!(balance_at(between).await.unwrap(), "10.00");
    assert_eq!(balance_at(issued).await.unwrap(), "10.00");
    assert_eq!(balance_at(debited).await.unwrap(), "6.00");
    assert_eq!(balance_at(Utc::now()).await.unwrap(), "6.00");
    // Before the account was opened: it did not exist, 404.
    let before = balance_at(issued - chrono::Duration::microseconds(1)).await;
    assert_eq!(refused(before), (404, ErrorCode::NotFound));
    // A malformed instant, sent by hand: the client sends only valid ones.
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
    let pid =
        app.accept(&CreatePayment { capture: Some("manual".into()), ..payment(&a, &b, "3.00") }).await.id;
    wait_status(app, pid, PaymentStatus::Authorized).await;
    app.api.capture_payment(pid, &CaptureRequest { amount: Some("2.00".into()) }).await.unwrap();
    wait_status(app, pid, PaymentStatus::Done).await;
    a
}

/// Polls until the payment is `status`, passing through `pending` or
/// `authorized` on the way.
async fn wait_status(app: &App, id: PaymentId, status: PaymentStatus) {
    eventually(SETTLE_WITHIN, &format!("payment {id} {status}"), || async {
        let payment = app.api.get_payment(id).await.unwrap();
        match payment.status {
            now if now == status => Ok(()),
            PaymentStatus::Pending | PaymentStatus::Authorized => Err(format!("{payment:?}")),
            _ => panic!("payment {id} should become {status}: {payment:?}"),
        }
    })
    .await
}

/// Every entry of the account, through the client's pages.
async fn entries_of(app: &App, account: &str) -> Vec<EntryView> {
    app.api.account_entries(account.parse().unwrap(), &[]).try_collect().await.unwrap()
}

#[tokio::test]
async fn the_balance_at_an_instant_answers_what_was_held_and_available_then() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = held_then_captured(&app).await;

    let entries = entries_of(&app, &a).await;
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["issuance", "hold", "release", "capture"], "{entries:?}");

    let (app, id) = (&app, a.parse().unwrap());
    let then = |instant: DateTime<Utc>| async move {
        let then = app.api.balance_at(id, instant).await.unwrap();
        (then.balance.to_string(), then.held.to_string(), then.available_balance.to_string())
    };
    let triple = |balance: &str, held: &str, available: &str| (balance.into(), held.into(), available.into());
    // Opened: nothing held.
    assert_eq!(then(entries[0].created_at).await, triple("10.00", "0.00", "10.00"));
    // Authorized: 3.00 held out of the 10.00, which the balance still shows.
    let authorized = entries[1].created_at;
    assert_eq!(then(authorized).await, triple("10.00", "3.00", "7.00"));
    // Captured 2.00 of it: the hold released in the same instant.
    let captured = entries[3].created_at;
    assert!(authorized < captured, "{entries:?}");
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

    let json: Vec<(String, String)> =
        entries_of(&app, &a).await.into_iter().map(|e| (e.kind, e.held_after.to_string())).collect();
    let expected: Vec<(String, String)> = expected.iter().map(|(k, h)| ((*k).into(), (*h).into())).collect();
    assert_eq!(json, expected);

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
