//! Reads from a real streaming replica (started by `scripts/pg-replica`):
//! client reads go to `DATABASE_READ_URL`, a payment read right after its
//! 202 is never a false 404 however far the replica lags, and a replica
//! that goes away only sends reads back to the primary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use payrail_client::types::PaymentStatus;

use crate::common::{App, TestEnv, eventually, payment};

struct Replica {
    dir: PathBuf,
    base: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-replica")
}

impl Replica {
    fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("payrail-replica-{name}"));
        let out = Command::new(script()).args(["start", dir.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Replica { dir, base: String::from_utf8_lossy(&out.stdout).trim().to_owned() }
    }

    fn stop(&self) {
        let _ = Command::new(script()).args(["stop", self.dir.to_str().unwrap()]).output();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn reads_go_to_the_replica_and_never_miss_a_fresh_payment() {
    let env = TestEnv::new();
    // The database exists on the primary before the replica is copied.
    let migrate = env.command(&["migrate"]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let replica = Replica::start(&env.name);
    let read_url = format!("{}/{}", replica.base, env.name);
    let on_replica = sqlx::PgPool::connect(&read_url).await.unwrap();
    let in_recovery: bool =
        sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&on_replica).await.unwrap();
    assert!(in_recovery, "the read URL is a standby");

    let app = App::start(&env, &[("DATABASE_READ_URL", &read_url), ("SKIP_MIGRATIONS", "true")]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    // Read right after each 202: the replica may not have it yet; the
    // answer is never a 404.
    for _ in 0..100 {
        let id = app.accept(&payment(&a, &b, "0.10")).await.id;
        app.api.get_payment(id).await.unwrap();
    }
    // Accounts read through the replica too (a fresh one via the primary).
    app.api.get_account(a.parse().unwrap()).await.unwrap();
    // The replica streams what the primary commits, and serves the app's reads.
    eventually(Duration::from_secs(30), "the 100 payments reach the replica", || async {
        let replicated: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&on_replica).await.unwrap();
        if replicated == 100 { Ok(()) } else { Err(format!("{replicated} payments")) }
    })
    .await;
    let app_sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'payrail' AND datname = current_database()",
    )
    .fetch_one(&on_replica)
    .await
    .unwrap();
    assert!(app_sessions > 0, "the app reads from the replica");
    on_replica.close().await;
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["replica"], "ok", "{ready}");

    // Without the replica, reads still answer, from the primary.
    replica.stop();
    let id = app.accept(&payment(&a, &b, "0.10")).await.id;
    app.api.get_payment(id).await.unwrap();
    // ... and /readyz names the replica, within a check or two.
    let (status, ready) =
        eventually(Duration::from_secs(10), "/readyz names the replica unavailable", || async {
            let (status, ready) = app.get("/readyz").await;
            let named = ready["replica"].as_str().is_some_and(|r| r.starts_with("unavailable"));
            if named { Ok((status, ready)) } else { Err(ready.to_string()) }
        })
        .await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("degraded")), "{ready}");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// A replica that is down (`DATABASE_READ_URL` names a port nothing listens
/// on) costs no read: every read route answers 200 from the primary, with
/// what the primary has, and `/readyz` says `degraded`, naming the replica
/// (issue 26, item 3: the lists and the statement answered 503 and
/// `/readyz` said `ready`).
#[tokio::test]
async fn a_replica_that_is_down_sends_every_read_to_the_primary() {
    let env = TestEnv::new();
    let port = payrail_common::testing::free_port();
    let read_url = format!("postgres://postgres@127.0.0.1:{port}/{}", env.name);
    let app = App::start(&env, &[("DATABASE_READ_URL", &read_url)]).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let settled = app.settled(&payment(&a, &b, "2.50"), Duration::from_secs(30)).await;
    assert_eq!(settled.status, PaymentStatus::Done);
    let id = settled.id.to_string();

    for path in [
        format!("/api/v1/payment/{id}"),
        format!("/api/v1/accounts/{a}"),
        "/api/v1/payments?status=done".to_owned(),
        "/api/v1/accounts?currency=USD".to_owned(),
        format!("/api/v1/accounts/{a}/payments"),
        format!("/api/v1/accounts/{a}/statement"),
    ] {
        let started = Instant::now();
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        // What the primary has, not an empty answer.
        assert!(body.to_string().contains(&id) || body.to_string().contains(&a), "{path}: {body}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path} took {:?}", started.elapsed());
    }
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["postgres"], "ok", "{ready}");
    assert!(ready["replica"].as_str().is_some_and(|r| r.starts_with("unavailable")), "{ready}");
}
