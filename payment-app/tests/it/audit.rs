//! The incremental audit: a run that passes records a checkpoint, the next
//! checks what came after it (and what is cheap at any size), `--full`
//! checks all of history, and an edited checkpoint is refused.
//!
//! The ledgers here are written straight into the database, the way a
//! tamper would be: the triggers that keep entries append-only are turned
//! off for the edit and on again, so `ledger_guarded` holds throughout.

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::TestEnv;

async fn migrated() -> (TestEnv, PgPool) {
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    (env, pg)
}

/// A new account holding `minor` units of new money, as issuance records it
/// (none for an empty account).
async fn issue(pg: &PgPool, minor: i64) -> Uuid {
    let account = Uuid::now_v7();
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, $2)")
        .bind(account)
        .bind(minor)
        .execute(pg)
        .await
        .unwrap();
    if minor == 0 {
        return account;
    }
    sqlx::query("INSERT INTO ledger_entries (account_id, kind, amount, balance_after) VALUES ($1, 'issuance', $2, $2)")
        .bind(account)
        .bind(minor)
        .execute(pg)
        .await
        .unwrap();
    sqlx::query("UPDATE issuance_total SET total = total + $1").bind(minor).execute(pg).await.unwrap();
    account
}

/// A settled payment of `minor` from `from` to `to`, entries and balances
/// included.
async fn settled_payment(pg: &PgPool, from: Uuid, to: Uuid, minor: i64) -> Uuid {
    let payment = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, status) VALUES ($1, $2, $3, $4, 'done')",
    )
    .bind(payment)
    .bind(from)
    .bind(to)
    .bind(minor)
    .execute(pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, balance_after) \
         VALUES ($1, $3, 'debit', -$4, (SELECT balance - $4 FROM accounts WHERE id = $1)),
                ($2, $3, 'credit', $4, (SELECT balance + $4 FROM accounts WHERE id = $2))",
    )
    .bind(from)
    .bind(to)
    .bind(payment)
    .bind(minor)
    .execute(pg)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE accounts SET balance = balance + CASE WHEN id = $1 THEN -$3 ELSE $3 END WHERE id IN ($1, $2)",
    )
    .bind(from)
    .bind(to)
    .bind(minor)
    .execute(pg)
    .await
    .unwrap();
    payment
}

/// Changes the amount of `account`'s entries behind the append-only guard.
async fn tamper_entries(pg: &PgPool, account: Uuid, amount: i64) {
    sqlx::query("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        .execute(pg)
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_entries SET amount = $2 WHERE account_id = $1")
        .bind(account)
        .bind(amount)
        .execute(pg)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
        .execute(pg)
        .await
        .unwrap();
}

fn audit(env: &TestEnv, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    let out = env.command(&all).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_ne!(report, Value::Null, "no report: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), report)
}

fn failed(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_tamper_before_the_checkpoint_is_found_by_full_only() {
    let (env, pg) = migrated().await;
    let old = issue(&pg, 100).await;

    // No checkpoint yet: the first run is a full one, and records one.
    let (code, report) = audit(&env, &[]);
    assert_eq!((code, report["mode"].as_str()), (0, Some("full")), "{report}");
    let first = report["checkpoint"]["id"].as_i64().expect("a checkpoint written");

    tamper_entries(&pg, old, 90).await;

    // The entry is older than the checkpoint: the incremental run trusts
    // the checkpoint's sums and does not read it.
    let (code, report) = audit(&env, &[]);
    assert_eq!((code, report["mode"].as_str()), (0, Some("incremental")), "{report}");
    assert_eq!(report["since"]["id"].as_i64(), Some(first), "{report}");

    // `--full` reads all of history again.
    let (code, report) = audit(&env, &["--full"]);
    assert_eq!((code, report["mode"].as_str()), (1, Some("full")), "{report}");
    assert_eq!(
        failed(&report),
        [
            "balances_match_ledger",
            "balance_after_chains",
            "money_conserved",
            "money_conserved_per_currency",
            "issuance_total_kept"
        ],
        "{report}"
    );
    assert!(report.to_string().contains(&old.to_string()), "the report names the account: {report}");
    assert!(report["checkpoint"].is_null(), "a failed run records no checkpoint: {report}");
}

#[tokio::test]
async fn a_tamper_after_the_checkpoint_is_found_by_the_incremental_run() {
    let (env, pg) = migrated().await;
    let (a, b) = (issue(&pg, 100).await, issue(&pg, 0).await);
    settled_payment(&pg, a, b, 10).await;
    let (code, report) = audit(&env, &[]);
    assert_eq!(code, 0, "{report}");

    // New work that is sound: checked, passes, and moves the checkpoint on.
    settled_payment(&pg, a, b, 20).await;
    let (code, report) = audit(&env, &[]);
    assert_eq!((code, report["mode"].as_str()), (0, Some("incremental")), "{report}");
    // Payments made just before a checkpoint count as new to the next
    // run too (their rows may commit after it): both are checked here.
    assert_eq!(report["payments"], serde_json::json!([["done", 2]]), "{report}");
    let checkpoint = report["checkpoint"]["last_entry_id"].as_i64().unwrap();

    // A payment settled with no entries, and an account whose new entry
    // was changed after it was written.
    let payment = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, status) VALUES ($1, $2, $3, 5, 'done')",
    )
    .bind(payment)
    .bind(a)
    .bind(b)
    .execute(&pg)
    .await
    .unwrap();
    let c = issue(&pg, 7).await;
    tamper_entries(&pg, c, 8).await;
    let entry: i64 = sqlx::query_scalar("SELECT id FROM ledger_entries WHERE account_id = $1")
        .bind(c)
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(entry > checkpoint, "the tampered entry is after the checkpoint");

    let (code, report) = audit(&env, &[]);
    assert_eq!((code, report["mode"].as_str()), (1, Some("incremental")), "{report}");
    assert_eq!(
        failed(&report),
        [
            "balances_match_ledger",
            "balance_after_chains",
            "money_conserved",
            "money_conserved_per_currency",
            "issuance_total_kept",
            "payments_match_ledger"
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(text.contains(&c.to_string()) && text.contains(&payment.to_string()), "{text}");
}

#[tokio::test]
async fn an_edited_checkpoint_is_refused() {
    let (env, pg) = migrated().await;
    let (a, b) = (issue(&pg, 100).await, issue(&pg, 0).await);
    settled_payment(&pg, a, b, 10).await;

    for edit in [
        "UPDATE audit_checkpoint_accounts SET total = total + 1 WHERE account_id = (SELECT account_id FROM audit_checkpoint_accounts ORDER BY 1 LIMIT 1)",
        "UPDATE audit_checkpoints SET last_entry_id = last_entry_id + 1",
        "UPDATE audit_checkpoints SET issuance = '{\"USD\": \"101\"}'",
        "DELETE FROM audit_checkpoint_accounts WHERE account_id = (SELECT account_id FROM audit_checkpoint_accounts ORDER BY 1 DESC LIMIT 1)",
    ] {
        // A full run writes a fresh checkpoint (starting a new chain when
        // the last one was edited); the incremental one after it agrees.
        audit(&env, &["--full"]);
        let (code, report) = audit(&env, &[]);
        assert_eq!((code, report["mode"].as_str()), (0, Some("incremental")), "{report}");

        sqlx::query(edit).execute(&pg).await.unwrap();
        let (code, report) = audit(&env, &[]);
        assert_eq!(code, 1, "{edit}: {report}");
        assert_eq!(failed(&report), ["checkpoint_intact"], "{edit}: {report}");
        assert_eq!(report["checks"].as_array().unwrap().len(), 1, "nothing checked against it: {report}");
        assert!(report["checkpoint"].is_null(), "{report}");

        // `--full` does not need it, says it was edited, and starts again.
        let (code, report) = audit(&env, &["--full"]);
        assert_eq!((code, failed(&report)), (1, vec!["checkpoint_intact"]), "{edit}: {report}");
        assert!(report["checkpoint"]["id"].is_i64(), "{report}");
    }
}

#[tokio::test]
async fn a_checkpoint_keyed_with_one_key_is_refused_under_another() {
    let (env, pg) = migrated().await;
    issue(&pg, 100).await;
    let keyed = |key: &str| {
        let out = env.command(&["audit", "--json"]).env("AUDIT_CHECKPOINT_KEY", key).output().unwrap();
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    assert_eq!(keyed("first-key-0123456789").0, Some(0));
    assert_eq!(keyed("first-key-0123456789").0, Some(0));
    let (code, report) = keyed("another-key-0123456789");
    assert_eq!((code, failed(&report)), (Some(1), vec!["checkpoint_intact"]), "{report}");
    let (code, report) = audit(&env, &[]);
    assert_eq!((code, failed(&report)), (1, vec!["checkpoint_intact"]), "without the key too: {report}");
}

#[test]
fn progress_goes_to_stderr_when_asked_for() {
    let env = TestEnv::new();
    let migrate = env.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success());
    let out = env.command(&["audit", "--full", "--progress"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("audit (full): 1/14 balance_within_credit"), "{stderr}");
    assert!(stderr.contains("audit (full): 14/14 no_stuck_pending"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("audit (full): "), "the report alone on stdout: {stdout}");
    // Not asked for and not a terminal: nothing.
    let quiet = env.command(&["audit", "--full"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("audit (full): "));
}

#[tokio::test]
async fn a_held_after_that_does_not_follow_from_the_entry_before_is_found() {
    let (env, pg) = migrated().await;
    let (a, b) = (issue(&pg, 100).await, issue(&pg, 0).await);
    settled_payment(&pg, a, b, 10).await;
    let (code, report) = audit(&env, &[]);
    assert_eq!(code, 0, "{report}");

    // A new account whose issuance claims something was held after it,
    // with nothing held: balances, sums and held amounts all still agree.
    let c = issue(&pg, 7).await;
    sqlx::query("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_entries SET held_after = 5 WHERE account_id = $1")
        .bind(c)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
        .execute(&pg)
        .await
        .unwrap();

    let (code, report) = audit(&env, &[]);
    assert_eq!((code, report["mode"].as_str()), (1, Some("incremental")), "{report}");
    assert_eq!(failed(&report), ["balance_after_chains"], "{report}");
    assert!(report.to_string().contains("held_after 5, previous none"), "{report}");
}
