//! `/readyz` under a flood: it needs no token, so what one call costs the
//! dependencies is what anyone can make them pay (issue 26, item 10: each
//! call opened two broker channels and ran its queries; 634 calls/s raised
//! the payment p50 from 5 to 59 ms).

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::common::{App, TestEnv};

/// Thirty concurrent calls run the checks once (once more if a second
/// passes), not thirty times. Seen in the database: with the statement
/// view's bookkeeping row locked by another session, each check's query
/// waits on that lock until the check gives up (and the abandoned query
/// keeps waiting), so the number of the app's sessions waiting on it is the
/// number of checks run. An API alone, so that no refresher waits there
/// too.
#[tokio::test]
async fn a_flood_of_readyz_runs_its_checks_about_once_a_second() {
    let env = TestEnv::new();
    assert!(env.command(&["migrate"]).status().unwrap().success());
    let app = App::start_with(&env, &["api"], &[]).await;
    let pg = env.pg().await;
    let mut holder = pg.begin().await.unwrap();
    sqlx::query("LOCK TABLE view_refreshes IN ACCESS EXCLUSIVE MODE").execute(&mut *holder).await.unwrap();

    let started = Instant::now();
    let answers = join_all((0..30).map(|_| app.get("/readyz"))).await;
    let took = started.elapsed();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["statements"], "unknown: timed out", "{body}");
    }
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'payrail' AND wait_event_type = 'Lock'",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    holder.rollback().await.unwrap();
    let checks_allowed = 1 + took.as_secs() as i64;
    assert!(waiting <= checks_allowed, "{waiting} checks ran for 30 calls in {took:?}");
    assert!(waiting >= 1, "the check did not meet the lock: the test shows nothing");

    // A second later the answer is checked anew.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, body["statements"].as_str()), (200, Some("ok")), "{body}");
}

/// Issue 25, item 11: whatever publishes the API's port (an Ingress, a
/// load balancer) published `/readyz` (the dependencies' states) and
/// `/metrics` too. With `OPS_ADDR`, as the operator's pods run, they are on
/// that port only; `/healthz` and the API stay on the API's port.
#[tokio::test]
async fn with_an_operations_port_the_api_port_serves_neither_readyz_nor_metrics() {
    let env = TestEnv::new();
    assert!(env.command(&["migrate"]).status().unwrap().success());
    let ops = payrail_common::testing::free_port();
    let app = App::start_with(&env, &["api"], &[("OPS_ADDR", &format!("127.0.0.1:{ops}"))]).await;
    let anonymous = crate::common::client(None);
    let status = async |url: String| anonymous.get(url).send().await.unwrap().status().as_u16();

    for path in ["/readyz", "/metrics"] {
        assert_eq!(status(format!("{}{path}", app.base)).await, 404, "{path} on the API's port");
        assert_eq!(
            status(format!("http://127.0.0.1:{ops}{path}")).await,
            200,
            "{path} on the operations port"
        );
    }
    assert_eq!(status(format!("{}/healthz", app.base)).await, 200);
    assert_eq!(status(format!("http://127.0.0.1:{ops}/healthz")).await, 200);
    assert_eq!(status(format!("{}/api/v1/openapi.json", app.base)).await, 200);
    assert_eq!(status(format!("http://127.0.0.1:{ops}/api/v1/openapi.json")).await, 404, "only probes there");
    let (created, _) = app.post("/api/v1/accounts", serde_json::json!({"initial_balance": "1.00"})).await;
    assert_eq!(created, 201, "the API is on its port");
}
