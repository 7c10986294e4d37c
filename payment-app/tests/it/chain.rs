//! The hash chain over the ledger (issue 29): the audit's checkpoints chain
//! every entry, `audit --verify-chain` recomputes the chain and finds an
//! entry edited, deleted or inserted before the last checkpoint, even by
//! the owner with the append-only triggers disabled, and
//! `GET /api/v1/ledger/head` serves the head, which moves only when a
//! checkpoint is made.

use std::time::Duration;

use payrail_client::types::ErrorCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::common::{App, TestEnv, payment, refused};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

fn verify_chain(env: &TestEnv) -> (i32, Value) {
    let out = env.command(&["audit", "--json", "--verify-chain"]).output().unwrap();
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
}

async fn pay_and_settle(app: &App, from: &str, to: &str, amounts: &[&str]) {
    let mut ids = Vec::new();
    for amount in amounts {
        ids.push(app.accept(&payment(from, to, amount)).await.id);
    }
    for id in ids {
        app.api.wait_until_terminal(id, SETTLE_WITHIN).await.unwrap();
    }
}

/// The head as served, whole (as JSON: compared with the audit's report).
async fn head(app: &App) -> Value {
    serde_json::to_value(app.api.ledger_head().await.unwrap()).unwrap()
}

/// Runs `statements` as the database owner with the ledger's triggers
/// disabled, as one bypassing them would.
async fn as_owner(pg: &PgPool, statements: &[String]) {
    let mut tx = pg.begin().await.unwrap();
    sqlx::query("ALTER TABLE ledger_entries DISABLE TRIGGER USER").execute(&mut *tx).await.unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    sqlx::query("ALTER TABLE ledger_entries ENABLE TRIGGER USER").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

fn broken(report: &Value) -> String {
    assert_eq!(report["checks"][0]["name"], "ledger_chain_intact", "{report}");
    assert_eq!(report["checks"][0]["ok"], false, "{report}");
    report["checks"][0]["examples"].to_string()
}

#[tokio::test]
async fn the_chain_finds_an_old_entry_edited_deleted_or_inserted_and_the_head_follows_checkpoints() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    assert_eq!(refused(app.api.ledger_head().await), (404, ErrorCode::NotFound));
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    pay_and_settle(&app, &a, &b, &["1.00", "2.00", "3.00"]).await;
    let pg = env.pg().await;
    // An id burnt by a transaction that never committed: a gap before the
    // checkpoint, where an entry could later be slipped in.
    let gap: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('ledger_entries', 'id'))")
        .fetch_one(&pg)
        .await
        .unwrap();
    pay_and_settle(&app, &a, &b, &["4.00"]).await;
    let (code, first) = env.audit();
    assert_eq!(code, 0, "{first}");
    pay_and_settle(&app, &b, &a, &["5.00"]).await;
    let (code, second) = env.audit();
    assert_eq!(code, 0, "{second}");

    // The head is the last checkpoint's hash, and what verify-chain recomputes.
    let served = head(&app).await;
    assert_eq!(served["hash"], second["checkpoint"]["hash"], "{served} {second}");
    assert_ne!(served["hash"], first["checkpoint"]["hash"]);
    let (code, verified) = verify_chain(&env);
    assert_eq!(code, 0, "{verified}");
    assert_eq!(verified["head"]["hash"], served["hash"], "{verified}");
    // New entries do not move it; the next checkpoint does.
    pay_and_settle(&app, &a, &b, &["0.50"]).await;
    assert_eq!(head(&app).await, served);
    let (code, third) = env.audit();
    assert_eq!(code, 0, "{third}");
    let moved = head(&app).await;
    assert_ne!(moved["hash"], served["hash"]);
    assert_eq!(moved["hash"], third["checkpoint"]["hash"]);
    assert_eq!(verify_chain(&env).1["head"]["hash"], moved["hash"]);

    let first_entry: (i64, i64, String) = sqlx::query_as(
        "SELECT id, amount, created_at::text FROM ledger_entries ORDER BY id OFFSET 1 LIMIT 1",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    let (old, amount, _) = first_entry.clone();

    // Edited: the amount of an entry of the first checkpoint (its balance
    // left as it was).
    as_owner(&pg, &[format!("UPDATE ledger_entries SET amount = amount - 1 WHERE id = {old}")]).await;
    let (code, report) = verify_chain(&env);
    assert_eq!(code, 1, "{report}");
    assert!(
        broken(&report).contains(&format!("ledger entries 1 to {}", first["checkpoint"]["last_entry_id"])),
        "{report}"
    );
    assert!(report.get("head").is_none(), "{report}");
    as_owner(&pg, &[format!("UPDATE ledger_entries SET amount = {amount} WHERE id = {old}")]).await;
    assert_eq!(verify_chain(&env).0, 0, "put back as it was, it verifies again");

    // Deleted.
    let row: (String, Option<String>, String, i64, String, i64, String) = sqlx::query_as(
        "SELECT account_id::text, payment_id::text, kind, amount, currency, balance_after, created_at::text \
         FROM ledger_entries WHERE id = $1",
    )
    .bind(old)
    .fetch_one(&pg)
    .await
    .unwrap();
    as_owner(&pg, &[format!("DELETE FROM ledger_entries WHERE id = {old}")]).await;
    let (code, report) = verify_chain(&env);
    assert_eq!(code, 1, "{report}");
    broken(&report);
    let payment = row.1.map_or("NULL".to_owned(), |p| format!("'{p}'"));
    as_owner(
        &pg,
        &[format!(
            "INSERT INTO ledger_entries (id, account_id, payment_id, kind, amount, currency, balance_after, created_at) \
             OVERRIDING SYSTEM VALUE VALUES ({old}, '{}', {payment}, '{}', {}, '{}', {}, '{}')",
            row.0, row.2, row.3, row.4, row.5, row.6
        )],
    )
    .await;
    assert_eq!(verify_chain(&env).0, 0, "put back as it was, it verifies again");

    // Inserted, into the gap: new money for a, before the checkpoint.
    as_owner(
        &pg,
        &[format!(
            "INSERT INTO ledger_entries (id, account_id, kind, amount, currency, balance_after, created_at) \
             OVERRIDING SYSTEM VALUE VALUES ({gap}, '{a}', 'issuance', 100000, 'USD', 0, now())"
        )],
    )
    .await;
    let (code, report) = verify_chain(&env);
    assert_eq!(code, 1, "{report}");
    broken(&report);

    // Rewriting a checkpoint to match is noticed too (its hash, then the
    // next one's link), and a head kept outside would differ anyway.
    as_owner(&pg, &[format!("DELETE FROM ledger_entries WHERE id = {gap}")]).await;
    sqlx::query("UPDATE audit_checkpoints SET entries_hash = repeat('0', 64) WHERE id = $1")
        .bind(first["checkpoint"]["id"].as_i64().unwrap())
        .execute(&pg)
        .await
        .unwrap();
    let (code, report) = verify_chain(&env);
    assert_eq!(code, 1, "{report}");
    assert!(broken(&report).contains("does not match its hash"), "{report}");
}
