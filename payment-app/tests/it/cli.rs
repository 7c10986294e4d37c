//! The command line: help, `migrate`, and `audit`'s report and exit codes.

use crate::common::TestEnv;

#[test]
fn help_names_every_setting_and_its_environment_variable() {
    let env = TestEnv::new();
    let out = env.command(&["all", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DATABASE_URL",
        "DATABASE_READ_URL",
        "AMQP_URL",
        "REDIS_URLS",
        "HTTP_ADDR",
        "LOCK_TTL_MS",
        "LOCK_PREFETCH",
        "SETTLE_PREFETCH",
        "INTAKE_GROUP_MAX",
        "HTTP_MAX_IN_FLIGHT",
        "INTAKE_GROUPS_IN_FLIGHT",
        "DB_POOL_SIZE",
        "SKIP_MIGRATIONS",
        "EVENTS_RETENTION_DAYS",
        "RETENTION_BATCH",
        "EVENTS_PUBLISH_BATCH",
        "EVENTS_PUBLISH_INTERVAL_MS",
    ] {
        assert!(help.contains(&format!("[env: {var}")), "{var} missing from:\n{help}");
    }
    let top = env.command(&["--help"]).output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    for sub in ["all", "api", "worker", "migrate", "audit", "export"] {
        assert!(top.lines().any(|l| l.trim_start().starts_with(sub)), "{sub} missing from:\n{top}");
    }
}

#[tokio::test]
async fn audit_passes_on_a_sound_ledger_and_fails_on_a_tampered_one() {
    let env = TestEnv::new();
    let migrate = env.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);

    // Money out of nowhere: a balance that no ledger entry explains.
    let pg = env.pg().await;
    let account = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 500)")
        .bind(account)
        .execute(&pg)
        .await
        .unwrap();
    // And a payment stuck pending for an hour.
    let other = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 0)").bind(other).execute(&pg).await.unwrap();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, created_at) \
         VALUES ($1, $2, $3, 1, now() - interval '1 hour')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(account)
    .bind(other)
    .execute(&pg)
    .await
    .unwrap();

    let (code, report) = env.audit();
    assert_eq!(code, 1, "{report}");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["balances_match_ledger", "money_conserved", "money_conserved_per_currency", "no_stuck_pending"]
    );

    let text = env.command(&["audit"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("FAIL  balances_match_ledger"), "{text}");
    assert!(text.contains(&account.to_string()), "the report names the account:\n{text}");
}

/// Money moved from a dollar account to a yen account, written straight
/// into a database whose currency foreign keys were dropped: every balance
/// matches its entries and the sum of all money is unchanged, yet dollars
/// vanished and yen appeared. The audit sees it by currency.
#[tokio::test]
async fn audit_fails_on_money_moved_across_currencies() {
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    let (dollars, yen, payment) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for sql in [
        "INSERT INTO accounts (id, balance, currency) VALUES ($1, 100, 'USD'), ($2, 0, 'JPY')",
        "INSERT INTO ledger_entries (account_id, kind, amount, currency, balance_after) \
         VALUES ($1, 'issuance', 100, 'USD', 100)",
        "UPDATE issuance_total SET total = total + 100",
    ] {
        let query = sqlx::query(sql).bind(dollars);
        let query = if sql.contains("$2") { query.bind(yen) } else { query };
        query.execute(&pg).await.unwrap();
    }
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");

    for sql in [
        "ALTER TABLE payments DROP CONSTRAINT payments_to_account_fkey",
        "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey",
    ] {
        sqlx::query(sql).execute(&pg).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount, currency) VALUES ($1, $2, $3, 100, 'USD')",
    )
    .bind(payment)
    .bind(dollars)
    .bind(yen)
    .execute(&pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, currency, balance_after) \
         VALUES ($1, $3, 'debit', -100, 'USD', 0), ($2, $3, 'credit', 100, 'USD', 100)",
    )
    .bind(dollars)
    .bind(yen)
    .bind(payment)
    .execute(&pg)
    .await
    .unwrap();
    sqlx::query("UPDATE accounts SET balance = CASE WHEN id = $1 THEN 0 ELSE 100 END WHERE id IN ($1, $2)")
        .bind(dollars)
        .bind(yen)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET status = 'done' WHERE id = $1")
        .bind(payment)
        .execute(&pg)
        .await
        .unwrap();

    let (code, report) = env.audit();
    assert_eq!(code, 1, "{report}");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["money_conserved_per_currency", "no_entry_crosses_currencies"], "{report}");
    let text = report.to_string();
    assert!(text.contains("JPY: balances 100, issuance 0") && text.contains(&payment.to_string()), "{text}");
}

#[test]
fn audit_exits_2_when_it_cannot_reach_the_database() {
    let env = TestEnv::new();
    let out = env
        .command(&["audit", "--db-timeout-ms", "500"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
