//! The queries on payrail's hot and list paths use an index, on tables big
//! enough that a sequential scan would be the planner's honest choice
//! otherwise. `PLANS_OUT=docs/query-plans.md cargo test -p payment-app --test
//! plans` also writes the plans out for docs/.

use std::fmt::Write;

use crate::common::TestEnv;

/// Each query as the code runs it, with sample parameters inlined.
fn queries(payment: &str, account: &str, payments: &str, accounts: &str) -> Vec<(&'static str, String)> {
    let mut all = vec![
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
            "SELECT p.id FROM open_payments o JOIN payments p ON p.id = o.id \
             WHERE p.status = 'pending' AND p.created_at < now() - make_interval(secs => 30) \
             AND (p.relayed_at IS NULL OR p.relayed_at < now() - make_interval(secs => 30)) AND p.dead_lettered_at IS NULL \
             ORDER BY o.id LIMIT 500 FOR NO KEY UPDATE OF p SKIP LOCKED"
                .to_owned(),
        ),
        (
            "relay: claim due authorizations (db::relay)",
            "SELECT p.id FROM open_payments o JOIN payments p ON p.id = o.id WHERE p.status = 'authorized' \
             AND (p.hold_expires_at <= now() OR (p.requested_action IS NOT NULL AND p.action_requested_at < now() - make_interval(secs => 30))) \
             AND (p.relayed_at IS NULL OR p.relayed_at < now() - make_interval(secs => 30)) AND p.dead_lettered_at IS NULL \
             ORDER BY p.hold_expires_at LIMIT 500 FOR NO KEY UPDATE OF p SKIP LOCKED"
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
            "SELECT p.id FROM open_payments o JOIN payments p ON p.id = o.id \
             WHERE p.status = 'pending' AND p.created_at < now() - make_interval(secs => 60) ORDER BY p.created_at LIMIT 5".to_owned(),
        ),
        (
            // Under a SHARE lock that holds settle's ledger writes: it reads
            // the work in flight only (it scanned every payment's status,
            // 1.8 s at ten million payments).
            "audit: the horizon's open work (db::audit_checkpoint::horizon)",
            "SELECT (SELECT COALESCE(max(id), 0) FROM ledger_entries), ARRAY(SELECT id FROM open_payments ORDER BY id), \
             ARRAY(SELECT id FROM refunds WHERE status = 'pending' ORDER BY id)"
                .to_owned(),
        ),
        (
            "audit: holds of open authorizations (db::audit)",
            "SELECT p.from_account, sum(p.amount) FROM open_payments o JOIN payments p ON p.id = o.id \
             WHERE p.status = 'authorized' GROUP BY p.from_account".to_owned(),
        ),
        (
            "GET /accounts/{id}/balance?at= (db::entries)",
            format!(
                "SELECT COALESCE((SELECT l.balance_after FROM ledger_entries l \
                 WHERE l.account_id = a.id AND l.created_at <= now() - interval '1 day' \
                 ORDER BY l.created_at DESC, l.id DESC LIMIT 1), 0), \
                 COALESCE((SELECT c.old_limit FROM credit_limit_changes c \
                 WHERE c.account_id = a.id AND c.changed_at > now() - interval '1 day' \
                 ORDER BY c.changed_at LIMIT 1), a.credit_limit) \
                 FROM accounts a WHERE a.id = '{account}' AND a.created_at <= now() - interval '1 day'"
            ),
        ),
        (
            "GET /accounts/{id}/entries, a page after an entry (db::entries)",
            format!(
                "SELECT id, kind, amount, balance_after, created_at FROM ledger_entries \
                 WHERE account_id = '{account}' AND (created_at, id) > \
                 (SELECT c.created_at, c.id FROM ledger_entries c WHERE c.id = 1000 AND c.account_id = '{account}') \
                 ORDER BY created_at, id LIMIT 50"
            ),
        ),
        (
            "audit: balance_after of the entries after a checkpoint (db::audit)",
            "SELECT l.id FROM ledger_entries l LEFT JOIN LATERAL (SELECT p.balance_after FROM ledger_entries p \
             WHERE p.account_id = l.account_id AND (p.created_at, p.id) < (l.created_at, l.id) \
             ORDER BY p.created_at DESC, p.id DESC LIMIT 1) prev ON true \
             WHERE l.id > (SELECT max(id) - 1000 FROM ledger_entries) \
             AND l.balance_after IS DISTINCT FROM COALESCE(prev.balance_after, 0) + l.amount ORDER BY l.id LIMIT 5"
                .to_owned(),
        ),
        (
            "Idempotency-Key lookup (db::idempotency)",
            "SELECT request, status, response FROM idempotency_keys WHERE scope = 'payment' AND key = 'k-777'".to_owned(),
        ),
        (
            "idempotency keys past their window (db::idempotency)",
            "SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => 86400) LIMIT 10000".to_owned(),
        ),
        (
            "console: a payment's events in its time window (db::timeline)",
            format!(
                "SELECT id, type, status, failure_reason, created_at FROM events \
                 WHERE id >= '{lower}' AND id < '{upper}' AND payment_id = '{payment}' ORDER BY id LIMIT 200",
                lower = time_window(payment).0,
                upper = time_window(payment).1,
            ),
        ),
        (
            "console: a payment's ledger entries (db::timeline)",
            format!(
                "SELECT id, account_id, kind, refund_id, amount, balance_after, created_at FROM ledger_entries \
                 WHERE payment_id = '{payment}' ORDER BY created_at, id LIMIT 200"
            ),
        ),
        (
            "console: the oldest pending payment (db::backlog)",
            "SELECT p.created_at FROM open_payments o JOIN payments p ON p.id = o.id \
             WHERE p.status = 'pending' ORDER BY o.id LIMIT 1"
                .to_owned(),
        ),
        (
            "console: settled per minute, the last 15 minutes (db::throughput, the rollup)",
            {
                let start = chrono::Utc::now() - chrono::Duration::minutes(15);
                format!(
                    "SELECT minute, done, failed FROM settled_per_minute WHERE minute >= '{start}' \
                     ORDER BY minute LIMIT 15",
                    start = start.to_rfc3339(),
                )
            },
        ),
        (
            "rollup: the events since the last run (db::throughput::roll_up)",
            {
                let last = chrono::Utc::now() - chrono::Duration::minutes(2);
                let horizon = chrono::Utc::now() - chrono::Duration::seconds(10);
                let id = |at| payment_app::domain::search::first_id_at(at).unwrap();
                format!(
                    "SELECT id, type, created_at FROM events WHERE id > '{}' AND id < '{}' ORDER BY id LIMIT 50000",
                    id(last),
                    id(horizon),
                )
            },
        ),
    ];
    all.extend(searches(account));
    all
}

/// The ids made within two seconds of `payment`'s own millisecond (its
/// first 48 bits), as `db::timeline` bounds a payment's events.
fn time_window(payment: &str) -> (String, String) {
    let ms = u64::from_str_radix(&payment.replace('-', "")[..12], 16).unwrap();
    let id = |ms: u64| {
        let hex = format!("{ms:012x}00000000000000000000");
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    };
    (id(ms - 2000), id(ms + 2000))
}

/// Every filter combination of `GET /payments` and `GET /accounts` that the
/// README lists, as `db::statements::payments` and `db::accounts::list`
/// send them (a time range is an id range; the ids here are time-ordered
/// like UUID v7).
fn searches(account: &str) -> Vec<(&'static str, String)> {
    let (none, all) = ("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff");
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let recent = payment_app::domain::search::IdRange::of_page(None, Some(hour_ago), None).lower.to_string();
    let meta = r#"'{"order": "o-4200"}'"#;
    let by_account = |lower: &str, status: &str, metadata: &str| {
        let side = |column: &str| {
            format!(
                "(SELECT * FROM payments WHERE {column} = '{account}' AND id >= '{lower}' AND id < '{all}' \
                 AND ({status}::text IS NULL OR status = {status}) AND ({metadata}::jsonb IS NULL OR metadata @> {metadata}) \
                 ORDER BY id DESC LIMIT 50)"
            )
        };
        format!(
            "SELECT id FROM ({} UNION ALL {}) AS page ORDER BY id DESC LIMIT 50",
            side("from_account"),
            side("to_account")
        )
    };
    let by_metadata = |lower: &str, status: &str| {
        format!(
            "SELECT id FROM payments WHERE metadata @> {meta} AND metadata <> '{{}}' AND id >= '{lower}' AND id < '{all}' \
             AND ({status}::text IS NULL OR status = {status}) ORDER BY id DESC LIMIT 50"
        )
    };
    // db::statements::ids_in_status, one statement per place a status lives.
    let by_status = |lower: &str| {
        format!(
            "SELECT id FROM payments WHERE status = 'done' AND id >= '{lower}' AND id < '{all}' ORDER BY id DESC LIMIT 50"
        )
    };
    let in_flight = |status: &str| {
        format!(
            "SELECT o.id FROM open_payments o JOIN payments p ON p.id = o.id \
             WHERE p.status = '{status}' AND o.id >= '{none}' AND o.id < '{all}' ORDER BY o.id DESC LIMIT 50"
        )
    };
    let failed = format!(
        "SELECT id FROM payments WHERE failure_reason IS NOT NULL AND id >= '{none}' AND id < '{all}' \
         ORDER BY id DESC LIMIT 50"
    );
    let manual = |status: &str| {
        format!(
            "SELECT id FROM payments WHERE capture = 'manual' AND status = '{status}' AND id >= '{none}' \
             AND id < '{all}' ORDER BY id DESC LIMIT 50"
        )
    };
    let accounts = |filter: &str| {
        format!("SELECT id FROM accounts WHERE {filter} AND id < '{all}' ORDER BY id DESC LIMIT 50")
    };
    vec![
        (
            "GET /payments (db::statements)",
            format!(
                "SELECT id FROM payments WHERE id >= '{none}' AND id < '{all}' ORDER BY id DESC LIMIT 50"
            ),
        ),
        (
            "GET /payments?created_gte&created_lt",
            format!(
                "SELECT id FROM payments WHERE id >= '{recent}' AND id < '{all}' ORDER BY id DESC LIMIT 50"
            ),
        ),
        ("GET /payments?account (and GET /accounts/{id}/payments)", by_account(none, "NULL", "NULL")),
        ("GET /payments?account&status", by_account(none, "'done'", "NULL")),
        ("GET /payments?account&created_gte", by_account(&recent, "NULL", "NULL")),
        ("GET /payments?account&metadata[KEY]", by_account(none, "NULL", meta)),
        ("GET /payments?account&status&created_gte&metadata[KEY]", by_account(&recent, "'done'", meta)),
        ("GET /payments?metadata[KEY]", by_metadata(none, "NULL")),
        ("GET /payments?metadata[KEY]&status", by_metadata(none, "'failed'")),
        ("GET /payments?metadata[KEY]&created_gte", by_metadata(&recent, "NULL")),
        ("GET /payments?status=done", by_status(none)),
        ("GET /payments?status=done&created_gte", by_status(&recent)),
        ("GET /payments?status=pending", in_flight("pending")),
        ("GET /payments?status=authorized", in_flight("authorized")),
        ("GET /payments?status=failed", failed),
        ("GET /payments?status=voided (and expired)", manual("voided")),
        ("GET /accounts (db::accounts::list)", accounts("true")),
        ("GET /accounts?currency", accounts("currency = 'JPY'")),
        (
            "GET /accounts?metadata[KEY]",
            accounts(
                r#"metadata @> '{"customer": "c-42"}' AND metadata <> '{}' AND (NULL::text IS NULL OR currency = NULL)"#,
            ),
        ),
        (
            "GET /accounts?currency&metadata[KEY]",
            accounts(
                r#"metadata @> '{"customer": "c-42"}' AND metadata <> '{}' AND ('USD'::text IS NULL OR currency = 'USD')"#,
            ),
        ),
    ]
}

#[tokio::test]
async fn hot_and_list_queries_use_an_index() {
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    // 100,000 accounts (a tenth in yen, a hundredth with metadata),
    // 200,000 payments (a few pending, a tenth failed, the rest done, a
    // hundredth with metadata; ids that
    // sort by time as UUID v7 do), 20,000 keys.
    for sql in [
        "INSERT INTO accounts (id, balance, currency, metadata) \
         SELECT gen_random_uuid(), 1000, CASE WHEN g % 10 = 0 THEN 'JPY' ELSE 'USD' END, \
                CASE WHEN g % 100 = 0 THEN jsonb_build_object('customer', 'c-' || g) ELSE '{}' END \
         FROM generate_series(1, 100000) g",
        "WITH ids AS (SELECT array_agg(id) FILTER (WHERE currency = 'USD') AS a FROM accounts) \
         INSERT INTO payments (id, from_account, to_account, amount, status, failure_reason, created_at, metadata) \
         SELECT (lpad(to_hex((extract(epoch FROM now() - make_interval(secs => g)) * 1000)::bigint), 12, '0') \
                 || substr(md5(g::text), 1, 20))::uuid, \
                a[1 + g % 90000], a[1 + (g + 1) % 90000], 1, \
                CASE WHEN g % 1000 = 0 THEN 'pending' WHEN g % 10 = 0 THEN 'failed' ELSE 'done' END, \
                CASE WHEN g % 1000 <> 0 AND g % 10 = 0 THEN 'insufficient_funds' END, now() - make_interval(secs => g), \
                CASE WHEN g % 100 = 0 THEN jsonb_build_object('order', 'o-' || g) ELSE '{}' END \
         FROM generate_series(1, 200000) g, ids",
        "INSERT INTO refunds (id, payment_id, amount, status, failure_reason) \
         SELECT gen_random_uuid(), id, 1, 'failed', 'insufficient_funds' FROM payments LIMIT 50000",
        // Two entries a settled payment, dated with it (their balances are
        // not what a plan depends on).
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, balance_after, created_at) \
         SELECT from_account, id, 'debit', -1, 999, created_at FROM payments WHERE status = 'done' \
         UNION ALL SELECT to_account, id, 'credit', 1, 1001, created_at FROM payments WHERE status = 'done'",
        // A payment.created event a payment, its id dated with it.
        "INSERT INTO events (id, type, payment_id, status, payment_updated_at, created_at) \
         SELECT (substr(id::text, 1, 24) || substr(md5(id::text), 1, 12))::uuid, 'payment.created', id, \
                'pending', created_at, created_at FROM payments",
        // A day of the settled-per-minute rollup, as many rows as it keeps.
        "INSERT INTO settled_per_minute (minute, done, failed) \
         SELECT date_trunc('minute', now()) - make_interval(mins => g), 300, 3 FROM generate_series(0, 1439) g",
        // Three credit limit changes for each of 20,000 accounts, a day apart.
        "INSERT INTO credit_limit_changes (id, account_id, old_limit, new_limit, changed_at) \
         SELECT gen_random_uuid(), id, 100 * (g - 1), 100 * g, now() - make_interval(days => 4 - g) \
         FROM (SELECT id FROM accounts ORDER BY id LIMIT 20000) a, generate_series(1, 3) g",
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
        "# Query plans\n\nThe queries on payrail's hot and list paths, and every documented search, planned by \
         PostgreSQL 15 on 100,000 accounts (10% in JPY, 1% with metadata), 200,000 payments (200 pending, \
         a tenth failed, the rest done, 1% with metadata), an event per payment, two ledger entries per settled payment, 60,000 credit limit changes, 20,000 idempotency keys and a day of settled-per-minute rows. Generated by \
         `PLANS_OUT=docs/query-plans.md cargo test -p payment-app --test it plans::`, which also fails \
         if any of them scans a whole table. (Id lists are shortened here.)\n",
    );
    for (name, sql) in queries(&payment, &account, &payments, &accounts) {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}")).fetch_all(&pg).await.unwrap();
        let plan = plan.join("\n");
        // `open_payments` holds only the payments in flight (pending, or
        // authorized and not yet closed), never history: reading all of it
        // is what the relay's sweeps are for.
        let history =
            plan.lines().filter(|l| l.contains("Seq Scan") && !l.contains("Seq Scan on open_payments"));
        assert_eq!(history.count(), 0, "{name} scans a whole table:\n{plan}");
        if name.contains("settled per minute") {
            // The page reads the rollup's rows, never the events.
            assert!(!plan.contains("events"), "{name}:\n{plan}");
        }
        if name.contains("balance?at=") {
            // One lookup, the balance read from the index itself; and one
            // more for the credit limit as it was then.
            assert!(
                plan.contains("Index Only Scan Backward using ledger_entries_by_account"),
                "{name}:\n{plan}"
            );
            assert!(plan.contains("using credit_limit_changes_by_account"), "{name}:\n{plan}");
        }
        // An index walked end to end is a scan too, though not called one
        // (a search for a rare status along the ids, newest first): run,
        // no step may throw away more than a tenth of the payments.
        let run: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"))
                .fetch_all(&pg)
                .await
                .unwrap();
        let discarded = run
            .iter()
            .filter_map(|l| l.trim().strip_prefix("Rows Removed by Filter: "))
            .map(|n| n.parse::<u64>().unwrap())
            .max()
            .unwrap_or(0);
        assert!(discarded <= 20_000, "{name} reads {discarded} rows to throw them away:\n{}", run.join("\n"));
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

/// A metadata search for a value few payments carry (an order id) finds
/// them through the GIN index on every call, also on a connection that
/// has just searched five times for a value many payments carry. A
/// prepared statement kept by the connection would go generic there (its
/// custom plans cost more than the generic one), and the generic plan
/// walks the primary key newest first filtering on metadata: every
/// payment, for a value only one carries (2.1 s at 2 M payments).
#[tokio::test]
async fn a_metadata_search_keeps_its_index_after_common_values() {
    use payment_app::domain::Metadata;
    use payment_app::domain::search::{IdRange, PaymentFilter};

    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    // 200,000 payments between 1,000 accounts, ids time-ordered like UUID
    // v7: one in a hundred for an order of its own, one in fifty in a
    // batch they share.
    for sql in [
        "INSERT INTO accounts (id, balance) SELECT gen_random_uuid(), 1000 FROM generate_series(1, 1000)",
        "WITH ids AS (SELECT array_agg(id) AS a FROM accounts) \
         INSERT INTO payments (id, from_account, to_account, amount, status, created_at, metadata) \
         SELECT (lpad(to_hex((extract(epoch FROM now() - make_interval(secs => g)) * 1000)::bigint), 12, '0') \
                 || substr(md5(g::text), 1, 20))::uuid, \
                a[1 + g % 1000], a[1 + (g + 1) % 1000], 1, 'done', now() - make_interval(secs => g), \
                CASE WHEN g % 100 = 0 THEN jsonb_build_object('order', 'o-' || g) \
                     WHEN g % 50 = 1 THEN '{\"batch\": \"b-1\"}' ELSE '{}' END \
         FROM generate_series(1, 200000) g, ids",
        "ANALYZE",
    ] {
        sqlx::query(sql).execute(&pg).await.unwrap();
    }
    // One connection, as a pooled one serves one client after another.
    let one =
        sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&env.database_url).await.unwrap();
    let search = |value: serde_json::Value| {
        let one = one.clone();
        async move {
            let filter =
                PaymentFilter { metadata: Some(Metadata::from_json(&value).unwrap()), ..Default::default() };
            payment_app::db::statements::payments(&one, &filter, IdRange::of_page(None, None, None), 50)
                .await
                .unwrap()
        }
    };
    for _ in 0..6 {
        assert_eq!(search(serde_json::json!({"batch": "b-1"})).await.len(), 50);
    }
    // Index tuples read through the primary key so far, as this backend
    // has counted them (flushed at the end of the statement that asks).
    let read_by_id = || {
        let one = one.clone();
        async move {
            sqlx::query("SELECT pg_stat_force_next_flush()").execute(&one).await.unwrap();
            sqlx::query_scalar::<_, i64>(
                "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'payments_pkey'",
            )
            .fetch_one(&one)
            .await
            .unwrap()
        }
    };
    // The index's entries are in its tree, not in a pending list that
    // every search reads whole (fastupdate): a rare value is a few pages.
    let plan: Vec<String> = sqlx::query_scalar(
        r#"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) SELECT id FROM payments
           WHERE metadata @> '{"order": "o-4200"}' AND metadata <> '{}'"#,
    )
    .fetch_all(&pg)
    .await
    .unwrap();
    let gin = plan.iter().skip_while(|l| !l.contains("Bitmap Index Scan on payments_by_metadata"));
    let pages: u64 = gin
        .filter_map(|l| l.trim().strip_prefix("Buffers: shared "))
        // hit=N read=M ...: every page it touched, cached or not.
        .map(|counts| {
            counts.split(' ').filter_map(|c| c.split_once('=')).map(|(_, n)| n.parse::<u64>().unwrap()).sum()
        })
        .next()
        .unwrap_or_else(|| panic!("no index scan on payments_by_metadata:\n{}", plan.join("\n")));
    assert!(pages <= 10, "one order's search read {pages} pages of the metadata index:\n{}", plan.join("\n"));
    let before = read_by_id().await;
    let found = search(serde_json::json!({"order": "o-4200"})).await;
    let read = read_by_id().await - before;
    assert_eq!(found.len(), 1);
    assert!(read < 1_000, "a search for one order read {read} payments through the primary key");
}
