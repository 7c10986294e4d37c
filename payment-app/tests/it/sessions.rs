//! What every connection the app opens is set up with, whatever the
//! server's defaults.

use std::time::Duration;

use payment_app::db::{self, Db, DbConfig};
use sqlx::Connection;

use crate::common::TestEnv;

/// A statement whose estimated cost passes the default `jit_above_cost`
/// (100,000): PostgreSQL would compile it before running it.
const COSTLY: &str = "EXPLAIN SELECT sum(x) FROM generate_series(1, 10000000) x";

fn compiled(plan: &[String]) -> bool {
    plan.iter().any(|line| line.starts_with("JIT:"))
}

/// The webhook claim, planned anew on every call, crossed `jit_above_cost`
/// once a backlog built up: each claim spent about 200 ms compiling
/// (bench/webhook-rate: 11 deliveries a second to one endpoint). The app's
/// sessions compile nothing.
#[tokio::test]
async fn the_apps_sessions_never_jit_compile_a_statement() {
    let env = TestEnv::new();
    let url: payrail_common::SecretUrl = env.database_url.parse().unwrap();
    db::ensure_database(&url).await.unwrap();

    // The server's own default: without this the test shows nothing.
    let mut plain = sqlx::PgConnection::connect(&env.database_url).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(COSTLY).fetch_all(&mut plain).await.unwrap();
    assert!(compiled(&plan), "this server does not JIT-compile (jit off or no LLVM): {plan:#?}");
    plain.close().await.unwrap();

    let db = Db::connect(&DbConfig {
        url,
        read_url: None,
        pool_size: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    for _ in 0..2 {
        let plan: Vec<String> = sqlx::query_scalar(COSTLY).fetch_all(&db.primary).await.unwrap();
        assert!(!compiled(&plan), "an app session would JIT-compile: {plan:#?}");
    }
    db.close().await;
}
