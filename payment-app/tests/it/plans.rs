//! The queries on payrail's hot and list paths use an index, on tables big
//! enough that a sequential scan would be the planner's honest choice
//! otherwise. `PLANS_OUT=docs/query-plans.md cargo test -p payment-app --test
//! plans` also writes the plans out for docs/.

use std::fmt::Write;

use crate::common::TestEnv;

/// Each query as the code runs it, with sample parameters inlined.
fn queries(payment: &str, account: &str, payments: &str, accounts: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET /payment/{id} (db::payments::get)", format!("SELECT * FROM payments WHERE id = '{payment}'")),
        ("GET /accounts/{id} (db::accounts::get)", format!("SELECT id, balance, created_at FROM accounts WHERE id = '{account}'")),
        (
            "settle: lock the batch's payments (db::settle)",
            format!("SELECT id, from_account, to_account, amount, status FROM payments WHERE id = ANY('{payments}') ORDER BY id FOR NO KEY UPDATE"),
        ),
        (
            "settle: lock the batch's accounts (db::settle)",
            format!("SELECT id, balance FROM accounts WHERE id = ANY('{accounts}') ORDER BY id FOR NO KEY UPDATE"),
        ),
        (
            "GET /accounts/{id}/payments, a page (db::statements)",
            format!(
                "(SELECT id FROM payments WHERE from_account = '{account}' AND id < 'ffffffff-ffff-7fff-bfff-ffffffffffff' ORDER BY id DESC LIMIT 50) \
                 UNION ALL (SELECT id FROM payments WHERE to_account = '{account}' AND id < 'ffffffff-ffff-7fff-bfff-ffffffffffff' ORDER BY id DESC LIMIT 50) \
                 ORDER BY id DESC LIMIT 50"
            ),
        ),
        (
            "relay: claim stale pending payments (db::relay)",
            "SELECT id FROM payments WHERE status = 'pending' AND created_at < now() - make_interval(secs => 30) \
             AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => 30)) \
             ORDER BY created_at LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED"
                .to_owned(),
        ),
        (
            "relay: claim due authorizations (db::relay)",
            "SELECT id FROM payments WHERE status = 'authorized' \
             AND (hold_expires_at <= now() OR (requested_action IS NOT NULL AND action_requested_at < now() - make_interval(secs => 30))) \
             AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => 30)) AND dead_lettered_at IS NULL \
             ORDER BY hold_expires_at LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED"
                .to_owned(),
        ),
        (
            "relay: claim stale pending refunds (db::refunds)",
            "SELECT id FROM refunds WHERE status = 'pending' AND created_at < now() - make_interval(secs => 30) \
             AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => 30)) \
             ORDER BY created_at LIMIT 500 FOR NO KEY UPDATE SKIP LOCKED"
                .to_owned(),
        ),
        (
            "GET /payment/{id}/refunds, and a refund's sums (db::refunds)",
            format!("SELECT id, amount, status FROM refunds WHERE payment_id = '{payment}' ORDER BY id"),
        ),
        (
            "settle: a batch's pending refunds (db::settle)",
            format!("SELECT id, payment_id, amount FROM refunds WHERE payment_id = ANY('{payments}') AND status = 'pending' ORDER BY id FOR NO KEY UPDATE"),
        ),
        (
            "audit: stuck pending payments (db::audit)",
            "SELECT id FROM payments WHERE status = 'pending' AND created_at < now() - make_interval(secs => 60) ORDER BY created_at LIMIT 5".to_owned(),
        ),
        (
            "Idempotency-Key lookup (db::idempotency)",
            "SELECT request, status, response FROM idempotency_keys WHERE scope = 'payment' AND key = 'k-777'".to_owned(),
        ),
        (
            "idempotency keys past their window (db::idempotency)",
            "SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => 86400) LIMIT 10000".to_owned(),
        ),
    ]
}

#[tokio::test]
async fn hot_and_list_queries_use_an_index() {
    let env = TestEnv::new();
    let migrate = env.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let pg = env.pg().await;
    // 100,000 accounts, 200,000 payments (a few pending), 20,000 keys.
    for sql in [
        "INSERT INTO accounts (id, balance) SELECT gen_random_uuid(), 1000 FROM generate_series(1, 100000)",
        "WITH ids AS (SELECT array_agg(id) AS a FROM accounts) \
         INSERT INTO payments (id, from_account, to_account, amount, status, failure_reason, created_at) \
         SELECT gen_random_uuid(), a[1 + g % 100000], a[1 + (g + 1) % 100000], 1, \
                CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'failed' END, \
                CASE WHEN g % 1000 = 0 THEN NULL ELSE 'insufficient_funds' END, now() - make_interval(secs => g) \
         FROM generate_series(1, 200000) g, ids",
        "INSERT INTO refunds (id, payment_id, amount, status, failure_reason) \
         SELECT gen_random_uuid(), id, 1, 'failed', 'insufficient_funds' FROM payments LIMIT 50000",
        "INSERT INTO idempotency_keys (scope, key, request, status, response, created_at) \
         SELECT 'payment', 'k-' || g, '{}', 202, '{}', now() - make_interval(secs => g) FROM generate_series(1, 20000) g",
        "ANALYZE",
    ] {
        sqlx::query(sql).execute(&pg).await.unwrap();
    }

    let text = |sql: &'static str| {
        let pg = pg.clone();
        async move { sqlx::query_scalar::<_, String>(sql).fetch_one(&pg).await.unwrap() }
    };
    let payment = text("SELECT id::text FROM payments OFFSET 5000 LIMIT 1").await;
    let account = text("SELECT id::text FROM accounts OFFSET 500 LIMIT 1").await;
    let payments =
        text("SELECT array_agg(id)::text FROM (SELECT id FROM payments OFFSET 1000 LIMIT 100) p").await;
    let accounts =
        text("SELECT array_agg(id)::text FROM (SELECT id FROM accounts OFFSET 100 LIMIT 200) a").await;

    let mut doc = String::from(
        "# Query plans\n\nThe queries on payrail's hot and list paths, planned by PostgreSQL 15 on \
         100,000 accounts, 200,000 payments (200 pending) and 20,000 idempotency keys. Generated by \
         `PLANS_OUT=docs/query-plans.md cargo test -p payment-app --test it plans::`, which also fails \
         if any of them scans a whole table. (Id lists are shortened here.)\n",
    );
    for (name, sql) in queries(&payment, &account, &payments, &accounts) {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}")).fetch_all(&pg).await.unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{name} scans a whole table:\n{plan}");
        let shown = if sql.len() > 400 {
            format!("{}…{}", &sql[..150], &sql[sql.len() - 60..])
        } else {
            sql.clone()
        };
        let _ = write!(doc, "\n## {name}\n\n```sql\n{shown}\n```\n\n```text\n{plan}\n```\n");
    }
    if let Some(out) = std::env::var_os("PLANS_OUT") {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(out);
        std::fs::write(path, doc).unwrap();
    }
}
