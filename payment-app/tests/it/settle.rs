//! Settle against the real PostgreSQL, without the broker or the lock: the
//! guarded transition alone must make every payment apply exactly once.

use crate::common::{TestEnv, eventually};
use futures_util::future::join_all;
use payment_app::db::accounts::Opening;
use payment_app::db::payments::Accepted;
use payment_app::db::{self, Db, DbConfig};
use payment_app::domain::{AccountId, Amount, Currency, NewPayment, PaymentId, PaymentStatus};
use std::time::Duration;

async fn ledger(env: &TestEnv) -> Db {
    let url = env.database_url.parse().unwrap();
    db::ensure_database(&url).await.unwrap();
    let db = Db::connect(&DbConfig {
        url,
        read_url: None,
        pool_size: 16,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    db::migrate(&db.primary).await.unwrap();
    db
}

fn cents(minor: i64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

async fn account(db: &Db, minor: i64) -> AccountId {
    let mut conn = db.primary.acquire().await.unwrap();
    db::accounts::create(
        &mut conn,
        AccountId::new(),
        Opening { currency: Currency::usd(), initial_balance: cents(minor), credit_limit: Amount::ZERO },
        &Default::default(),
        cents(i64::MAX),
    )
    .await
    .unwrap()
    .id
}

async fn payment(db: &Db, from: AccountId, to: AccountId, minor: i64) -> PaymentId {
    let new = NewPayment::new(from, to, cents(minor), Currency::usd(), None).unwrap();
    let mut conn = db.primary.acquire().await.unwrap();
    db::payments::insert(&mut conn, &Accepted::untraced(new)).await.unwrap().id
}

async fn balance(db: &Db, id: AccountId) -> i64 {
    db::accounts::get(&db.primary, id).await.unwrap().unwrap().balance
}

async fn audit_ok(db: &Db) {
    let report = payment_app::audit::run(
        &db.primary,
        &payment_app::audit::AuditConfig::new(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    assert!(report.ok, "{report}");
}

/// Settles `ids` as the settle worker does: what a batch sets aside (an
/// account row another batch holds) or cannot lock in time (a payment row
/// another batch holds) is settled again, until nothing is left; returns
/// how many payments were applied in all.
async fn settle_all(db: &Db, ids: &[PaymentId]) -> usize {
    let (mut left, mut applied) = (ids.to_vec(), 0);
    while !left.is_empty() {
        match db::settle::settle_batch(&db.primary, &left).await {
            Ok(settled) => {
                applied += settled.applied.len();
                left = settled.blocked.into_iter().collect();
            }
            Err(e) if e.is_lock_timeout() => {}
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    applied
}

/// Each account's entries in their order, as (kind, amount, balance_after).
async fn entries(db: &Db, account: AccountId) -> Vec<(String, i64, i64)> {
    sqlx::query_as(
        "SELECT kind, amount, balance_after FROM ledger_entries WHERE account_id = $1 ORDER BY created_at, id",
    )
    .bind(account.as_uuid())
    .fetch_all(&db.primary)
    .await
    .unwrap()
}

#[tokio::test]
async fn balance_after_chains_under_concurrent_settles_on_one_account() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let hot = account(&db, 10_000).await;
    let others = [account(&db, 500).await, account(&db, 500).await, account(&db, 500).await];
    // Money both ways through one account, in batches settled side by side:
    // each batch's entries of `hot` are written under its row lock, after
    // whichever batch held it before committed.
    let mut batches = vec![Vec::new(); 6];
    for i in 0..60 {
        let other = others[i % others.len()];
        let (from, to) = if i % 3 == 0 { (other, hot) } else { (hot, other) };
        batches[i % 6].push(payment(&db, from, to, 7 + i as i64).await);
    }
    let applied: usize = join_all(batches.iter().map(|ids| settle_all(&db, ids))).await.into_iter().sum();
    assert_eq!(applied, 60);

    for id in std::iter::once(hot).chain(others) {
        let entries = entries(&db, id).await;
        let mut running = 0;
        for (kind, amount, after) in &entries {
            running += amount;
            assert_eq!(*after, running, "{id}: {kind} {amount} in {entries:?}");
        }
        assert_eq!(running, balance(&db, id).await, "{id}: the last balance_after is the balance");
    }
    audit_ok(&db).await;
}

/// The environment's database with every migration before `version` and
/// none after: the schema a migration's backfill starts from.
async fn migrated_before(env: &TestEnv, version: i64) -> sqlx::PgPool {
    let url = env.database_url.parse().unwrap();
    db::ensure_database(&url).await.unwrap();
    let pool = sqlx::PgPool::connect(&env.database_url).await.unwrap();
    let mut before = sqlx::migrate!("./migrations");
    before.migrations = before.migrations.iter().filter(|m| m.version < version).cloned().collect();
    before.run(&pool).await.unwrap();
    pool
}

/// Entries written before `balance_after` existed get it from the
/// migration: each account's running balance in its order, holds and
/// releases leaving it as it was.
#[tokio::test]
async fn the_migration_backfills_balance_after_in_each_accounts_order() {
    let env = TestEnv::new();
    let pool = migrated_before(&env, 20261207400001).await;

    let (a, b, payment) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for sql in [
        "INSERT INTO accounts (id, balance) VALUES ($1, 70), ($2, 30)",
        "INSERT INTO payments (id, from_account, to_account, amount, status) VALUES ($3, $1, $2, 30, 'done')",
        // Out of id order in time: b's credit is dated first.
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, created_at) VALUES \
         ($1, NULL, 'issuance', 100, now() - interval '3 hours'), \
         ($1, $3, 'hold', 30, now() - interval '2 hours'), \
         ($1, $3, 'release', -30, now() - interval '1 hour'), \
         ($1, $3, 'capture', -30, now() - interval '1 hour'), \
         ($2, $3, 'credit', 30, now() - interval '4 hours')",
    ] {
        sqlx::query(sql).bind(a).bind(b).bind(payment).execute(&pool).await.unwrap();
    }
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();

    let after: Vec<(uuid::Uuid, String, i64)> =
        sqlx::query_as("SELECT account_id, kind, balance_after FROM ledger_entries ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected =
        [(a, "issuance", 100), (a, "hold", 100), (a, "release", 100), (a, "capture", 70), (b, "credit", 30)];
    assert_eq!(after.iter().map(|(id, k, v)| (*id, k.as_str(), *v)).collect::<Vec<_>>(), expected);
}

/// Entries written before `held_after` existed get it from the migration:
/// the held amount in each account's order, for the accounts that ever had
/// a hold; every other entry keeps the column's 0.
#[tokio::test]
async fn the_migration_backfills_held_after_in_each_accounts_order() {
    let env = TestEnv::new();
    let pool = migrated_before(&env, 20261207600002).await;

    let (a, b, c) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (first, second) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for sql in [
        "INSERT INTO accounts (id, balance, held) VALUES ($1, 70, 20), ($2, 30, 0), ($3, 5, 0)",
        "INSERT INTO payments (id, from_account, to_account, amount, status, capture, hold_secs, hold_expires_at) \
         VALUES ($4, $1, $2, 30, 'done', 'manual', 60, NULL), \
                ($5, $1, $2, 20, 'authorized', 'manual', 60, now() + interval '1 hour')",
        // Out of id order in time: the second hold is dated before the
        // first one's release.
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, balance_after, created_at) VALUES \
         ($1, NULL, 'issuance', 100, 100, now() - interval '5 hours'), \
         ($1, $4, 'hold', 30, 100, now() - interval '4 hours'), \
         ($1, $4, 'release', -30, 100, now() - interval '2 hours'), \
         ($1, $4, 'capture', -30, 70, now() - interval '2 hours'), \
         ($1, $5, 'hold', 20, 100, now() - interval '3 hours'), \
         ($2, $4, 'credit', 30, 30, now() - interval '2 hours'), \
         ($3, NULL, 'issuance', 5, 5, now() - interval '1 hour')",
    ] {
        sqlx::query(sql).bind(a).bind(b).bind(c).bind(first).bind(second).execute(&pool).await.unwrap();
    }
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();

    let after: Vec<(uuid::Uuid, String, i64)> =
        sqlx::query_as("SELECT account_id, kind, held_after FROM ledger_entries ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        (a, "issuance", 0),
        (a, "hold", 30),
        (a, "release", 20),
        (a, "capture", 20),
        (a, "hold", 50),
        (b, "credit", 0),
        (c, "issuance", 0),
    ];
    assert_eq!(after.iter().map(|(id, k, v)| (*id, k.as_str(), *v)).collect::<Vec<_>>(), expected);
}

/// A batch whose transaction began before another's but locked the account
/// after that one committed: its entries still come after the other's in
/// the account's order. Dated with their transaction's start (`now()`),
/// they came before, and `balance_after` no longer chained in that order.
#[tokio::test]
async fn a_batch_that_began_first_but_locked_last_comes_last_in_the_account_order() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    // The scene needs the first batch to settle within the late one's
    // LOCK_WAIT; on a loaded machine it may not, and is set again.
    for _ in 0..20 {
        let (hot, x, y) = (account(&db, 1000).await, account(&db, 0).await, account(&db, 0).await);
        let (first, late) = (payment(&db, hot, x, 100).await, payment(&db, hot, y, 200).await);

        // `late`'s row is held: its batch begins, then waits for it while
        // `first`'s batch settles and commits.
        let mut holder = db.primary.begin().await.unwrap();
        sqlx::query("SELECT id FROM payments WHERE id = $1 FOR NO KEY UPDATE")
            .bind(late.as_uuid())
            .execute(&mut *holder)
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let primary = db.primary.clone();
            async move { db::settle::settle_batch(&primary, &[late]).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let settled = db::settle::settle_batch(&db.primary, &[first]).await.unwrap();
        assert_eq!(settled.applied.len(), 1);
        holder.rollback().await.unwrap();
        match waiting.await.unwrap() {
            Err(e) if e.is_lock_timeout() => continue,
            Err(e) => panic!("{e}"),
            Ok(settled) => assert_eq!(settled.applied.len(), 1),
        }

        let entries = entries(&db, hot).await;
        let shape: Vec<(&str, i64, i64)> = entries.iter().map(|(k, a, b)| (k.as_str(), *a, *b)).collect();
        assert_eq!(shape, [("issuance", 1000, 1000), ("debit", -100, 900), ("debit", -200, 700)]);
        audit_ok(&db).await;
        return;
    }
    panic!("the first batch never settled within the late one's LOCK_WAIT");
}

#[tokio::test]
async fn settling_the_same_payment_again_changes_nothing() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);
    let p = payment(&db, a, b, 400).await;

    let first = db::settle::settle_batch(&db.primary, &[p]).await.unwrap();
    assert_eq!(first.applied.len(), 1);
    let again = db::settle::settle_batch(&db.primary, &[p]).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.skipped, [p]);
    assert_eq!((balance(&db, a).await, balance(&db, b).await), (600, 400));
    audit_ok(&db).await;
}

#[tokio::test]
async fn concurrent_settles_of_one_payment_apply_it_once() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);
    let p = payment(&db, a, b, 700).await;

    let ids = [p];
    let applied: usize = join_all((0..8).map(|_| settle_all(&db, &ids))).await.into_iter().sum();
    assert_eq!(applied, 1);
    assert_eq!((balance(&db, a).await, balance(&db, b).await), (300, 700));
    audit_ok(&db).await;
}

/// Batches that overlap in accounts, in both directions, running at once:
/// rows are locked in id order, so they never deadlock; a batch does not
/// wait for an account row another one holds but sets its payments aside,
/// untouched, to be settled again; and each payment ends exactly once.
#[tokio::test]
async fn overlapping_batches_do_not_deadlock_or_overdraw() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let mut accounts = Vec::new();
    for _ in 0..5 {
        accounts.push(account(&db, 1000).await);
    }
    let mut batches = Vec::new();
    for batch in 0..12 {
        let mut ids = Vec::new();
        for i in 0..20 {
            let from = accounts[(batch + i) % 5];
            let to = accounts[(batch + 4 * i + 1) % 5];
            if from != to {
                ids.push(payment(&db, from, to, 150).await);
            }
        }
        // Every other batch lists its payments backwards.
        if batch % 2 == 1 {
            ids.reverse();
        }
        batches.push(ids);
    }
    let all: Vec<PaymentId> = batches.iter().flatten().copied().collect();
    let applied: usize = join_all(batches.iter().map(|ids| settle_all(&db, ids))).await.into_iter().sum();
    assert_eq!(applied, all.len());

    let pool = &db.primary;
    for id in &all {
        let p = db::payments::get(pool, *id).await.unwrap().unwrap();
        assert!(p.status.is_terminal());
        assert_eq!(p.failure_reason.is_some(), p.status == PaymentStatus::Failed);
    }
    let mut total = 0;
    for a in &accounts {
        let b = balance(&db, *a).await;
        assert!(b >= 0);
        total += b;
    }
    assert_eq!(total, 5000);
    audit_ok(&db).await;
}

/// An account row another session holds is not waited for: the batch's
/// payment on it is set aside untouched, the rest of the batch commits at
/// once, and the set-aside payment applies once the row is free.
#[tokio::test]
async fn a_held_account_row_sets_its_payments_aside_and_the_rest_settles() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (x, a, b) = (account(&db, 1000).await, account(&db, 1000).await, account(&db, 0).await);
    let on_x = payment(&db, a, x, 100).await;
    let free = payment(&db, a, b, 200).await;
    let mut holder = db.primary.begin().await.unwrap();
    sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(x.as_uuid())
        .execute(&mut *holder)
        .await
        .unwrap();

    let settled = db::settle::settle_batch(&db.primary, &[on_x, free]).await.unwrap();
    let applied: Vec<PaymentId> = settled.applied.iter().map(|(p, _)| p.id).collect();
    assert_eq!(applied, [free]);
    assert_eq!(settled.blocked.into_iter().collect::<Vec<_>>(), [on_x]);
    assert_eq!(settled.held_accounts.into_iter().collect::<Vec<_>>(), [x]);
    assert!(settled.skipped.is_empty(), "{:?}", settled.skipped);
    let waiting = db::payments::get(&db.primary, on_x).await.unwrap().unwrap();
    assert_eq!(waiting.status, PaymentStatus::Pending);

    holder.rollback().await.unwrap();
    let settled = db::settle::settle_batch(&db.primary, &[on_x, free]).await.unwrap();
    let applied: Vec<PaymentId> = settled.applied.iter().map(|(p, _)| p.id).collect();
    assert_eq!((applied, settled.skipped), (vec![on_x], vec![free]));
    assert_eq!((balance(&db, a).await, balance(&db, x).await, balance(&db, b).await), (700, 1100, 200));
    audit_ok(&db).await;
}

/// A payment row another session holds is waited for at most
/// `LOCK_WAIT`, then the batch fails as a lock timeout with nothing
/// written: the settle worker then settles its messages one by one and
/// sends the blocked one to the retry queue.
#[tokio::test]
async fn a_held_payment_row_fails_the_batch_fast_with_nothing_written() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);
    let (held, free) = (payment(&db, a, b, 100).await, payment(&db, a, b, 200).await);
    let mut holder = db.primary.begin().await.unwrap();
    sqlx::query("SELECT id FROM payments WHERE id = $1 FOR UPDATE")
        .bind(held.as_uuid())
        .execute(&mut *holder)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let failed = db::settle::settle_batch(&db.primary, &[held, free]).await.unwrap_err();
    assert!(failed.is_lock_timeout(), "{failed}");
    // Bounded by the lock wait, not by the statement timeout (5 s here).
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(balance(&db, a).await, 1000);
    let settled = db::settle::settle_batch(&db.primary, &[free]).await.unwrap();
    assert_eq!(settled.applied.len(), 1);
    holder.rollback().await.unwrap();
    assert_eq!(settle_all(&db, &[held]).await, 1);
    assert_eq!(balance(&db, a).await, 700);
    audit_ok(&db).await;
}

#[tokio::test]
async fn a_duplicate_inside_one_batch_applies_once() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 500).await, account(&db, 0).await);
    let p = payment(&db, a, b, 300).await;
    let q = payment(&db, b, a, 100).await;
    let settled = db::settle::settle_batch(&db.primary, &[q, p, p]).await.unwrap();
    assert_eq!(settled.applied.len(), 2);
    // Applied in id (creation) order: p first, so b can pay q.
    assert_eq!((balance(&db, a).await, balance(&db, b).await), (300, 200));
    audit_ok(&db).await;
}

/// The database itself keeps money from crossing currencies, whatever the
/// code above it does: a payment whose accounts are not both in its
/// currency cannot be recorded, and a ledger entry cannot put a payment's
/// amount on an account of another currency.
#[tokio::test]
async fn the_database_refuses_money_across_currencies() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let jpy = Currency::parse("JPY").unwrap();
    let mut conn = db.primary.acquire().await.unwrap();
    let yen = db::accounts::create(
        &mut conn,
        AccountId::new(),
        Opening { currency: jpy, initial_balance: cents(1000), credit_limit: Amount::ZERO },
        &Default::default(),
        cents(i64::MAX),
    )
    .await
    .unwrap()
    .id;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);

    // Past the API's check: a payment recorded in dollars from a yen account.
    for currency in [Currency::usd(), jpy] {
        let crossing = NewPayment::new(yen, b, cents(10), currency, None).unwrap();
        let refused = db::payments::insert(&mut conn, &Accepted::untraced(crossing)).await.unwrap_err();
        assert!(
            format!("{refused:?}").contains("foreign key")
                || matches!(refused, payment_app::Error::UnknownAccount(_)),
            "{refused:?}"
        );
    }
    // A dollar payment's debit written on the yen account.
    let p = payment(&db, a, b, 10).await;
    let entry = sqlx::query(
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, currency, balance_after) \
         VALUES ($1, $2, 'debit', -10, 'JPY', 0)",
    )
    .bind(yen.as_uuid())
    .bind(p.as_uuid())
    .execute(&db.primary)
    .await
    .unwrap_err();
    assert!(entry.to_string().contains("ledger_entries_payment_id_fkey"), "{entry}");
    let entry = sqlx::query(
        "INSERT INTO ledger_entries (account_id, payment_id, kind, amount, currency, balance_after) \
         VALUES ($1, $2, 'debit', -10, 'USD', 0)",
    )
    .bind(yen.as_uuid())
    .bind(p.as_uuid())
    .execute(&db.primary)
    .await
    .unwrap_err();
    assert!(entry.to_string().contains("ledger_entries_account_id_fkey"), "{entry}");
    // Nor can an account change currency once anything refers to it.
    let change = sqlx::query("UPDATE accounts SET currency = 'EUR' WHERE id = $1")
        .bind(yen.as_uuid())
        .execute(&db.primary)
        .await
        .unwrap_err();
    assert!(change.to_string().contains("foreign key"), "{change}");

    // The dollar payment itself settles, in dollars.
    db::settle::settle_batch(&db.primary, &[p]).await.unwrap();
    let currencies: Vec<String> =
        sqlx::query_scalar("SELECT currency FROM ledger_entries WHERE payment_id = $1")
            .bind(p.as_uuid())
            .fetch_all(&db.primary)
            .await
            .unwrap();
    assert_eq!(currencies, ["USD", "USD"]);
    audit_ok(&db).await;
}

/// A settled payment's metadata may change (the client's references), and
/// nothing else of it: not its status, amount or accounts, and it cannot be
/// deleted.
#[tokio::test]
async fn a_settled_payment_changes_only_its_metadata() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);
    let p = payment(&db, a, b, 400).await;
    db::settle::settle_batch(&db.primary, &[p]).await.unwrap();

    sqlx::query("UPDATE payments SET metadata = '{\"k\": \"v\"}', updated_at = now() WHERE id = $1")
        .bind(p.as_uuid())
        .execute(&db.primary)
        .await
        .unwrap();
    for change in [
        "UPDATE payments SET status = 'failed', failure_reason = 'insufficient_funds' WHERE id = $1",
        "UPDATE payments SET amount = 1 WHERE id = $1",
        "UPDATE payments SET amount = 1, metadata = '{}' WHERE id = $1",
        "DELETE FROM payments WHERE id = $1",
    ] {
        let refused = sqlx::query(change).bind(p.as_uuid()).execute(&db.primary).await.unwrap_err();
        assert!(refused.to_string().contains("a settled payment never changes"), "{change}: {refused}");
    }
    let read = db::payments::get(&db.primary, p).await.unwrap().unwrap();
    assert_eq!((read.status, read.amount.minor()), (PaymentStatus::Done, 400));
    audit_ok(&db).await;
}

/// Updates of `payments`, and of those the ones in place (HOT), as
/// PostgreSQL counts them, once it counts at least `expected`. A backend
/// hands its counters over within seconds of going idle; the pool's idle
/// connections are made to at once, and one still on its way back to the
/// pool is waited for.
async fn payment_updates(db: &Db, expected: i64) -> (i64, i64) {
    eventually(
        Duration::from_secs(20),
        &format!("PostgreSQL counts {expected} updates of payments"),
        || async {
            let mut conns = Vec::new();
            while let Some(conn) = db.primary.try_acquire() {
                conns.push(conn);
            }
            for conn in &mut conns {
                sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut **conn).await.unwrap();
                sqlx::query("SELECT 1").execute(&mut **conn).await.unwrap();
            }
            drop(conns);
            let counted: (i64, i64) = sqlx::query_as(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'payments'",
            )
            .fetch_one(&db.primary)
            .await
            .unwrap();
            if counted.0 >= expected { Ok(counted) } else { Err(format!("{counted:?}")) }
        },
    )
    .await
}

/// Settling a payment updates its row in place (a HOT update): no index on
/// `payments` names a column settle changes, and each page keeps room for
/// the new versions, even when one transaction settles every payment of a
/// batch that intake wrote side by side. A non-HOT update writes the row
/// again with a new entry in every index: it was half the WAL of a payment.
#[tokio::test]
async fn settling_a_batch_updates_its_payments_in_place() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1_000_000).await, account(&db, 0).await);
    let new: Vec<Accepted> = (1..=200)
        .map(|i| Accepted::untraced(NewPayment::new(a, b, cents(i), Currency::usd(), None).unwrap()))
        .collect();
    let ids: Vec<PaymentId> = db::payments::insert_many(&db.primary, &new, Duration::from_secs(5))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();

    // Nothing updated payments before: a fresh database.
    assert_eq!(settle_all(&db, &ids).await, 200);
    let (updates, hot) = payment_updates(&db, 200).await;
    assert_eq!(updates, 200);
    assert!(hot * 10 >= updates * 9, "{hot} of {updates} status changes were HOT updates");
    audit_ok(&db).await;
}

/// `open_payments`, what the relay sweeps for payments to send round again,
/// holds a payment exactly while it is in flight, whichever statement
/// wrote it: intake's single and set inserts add it, settle's move to
/// `done` or `failed` removes it.
#[tokio::test]
async fn open_payments_hold_exactly_the_payments_in_flight() {
    let env = TestEnv::new();
    let db = ledger(&env).await;
    let (a, b) = (account(&db, 1000).await, account(&db, 0).await);
    let done = payment(&db, a, b, 100).await;
    let refused = payment(&db, a, b, 5000).await;
    let waiting = payment(&db, a, b, 200).await;
    let new: Vec<Accepted> = (1..=3)
        .map(|i| Accepted::untraced(NewPayment::new(a, b, cents(i), Currency::usd(), None).unwrap()))
        .collect();
    let mut open: Vec<PaymentId> = db::payments::insert_many(&db.primary, &new, Duration::from_secs(5))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    let in_flight = || async {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM open_payments ORDER BY id")
            .fetch_all(&db.primary)
            .await
            .unwrap();
        ids.into_iter().map(PaymentId::from_uuid).collect::<Vec<_>>()
    };
    let mut all = [open.clone(), vec![done, refused, waiting]].concat();
    all.sort();
    assert_eq!(in_flight().await, all);

    assert_eq!(settle_all(&db, &[done, refused]).await, 2);
    let read = db::payments::get(&db.primary, refused).await.unwrap().unwrap();
    assert_eq!(read.status, PaymentStatus::Failed);
    open.push(waiting);
    open.sort();
    assert_eq!(in_flight().await, open);
    audit_ok(&db).await;
}
