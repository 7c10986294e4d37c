//! Several payment-app instances sharing one database, broker and Redis
//! split the work between them, and the ledger stays whole.

use std::time::Duration;

use crate::common::{App, TestEnv, Traffic, assert_all_settled};

#[tokio::test]
async fn three_instances_share_the_load_and_the_invariants_hold() {
    let env = TestEnv::new();
    // Debug logs of the workers show which instance locked and settled what.
    let logs = [("RUST_LOG", "info,payment_app::worker=debug")];
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(App::start(&env, &logs).await);
    }
    let mut accounts = Vec::new();
    for _ in 0..6 {
        accounts.push(apps[0].account("1000.00").await);
    }
    // The same accounts through every instance: their payments contend.
    let traffic: Vec<Traffic> =
        apps.iter().map(|app| Traffic::start(&app.base, &accounts, Duration::from_millis(15))).collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    traffic.iter().for_each(Traffic::halt);
    let mut sent = 0;
    let (mut accepted, mut refunds) = (Vec::new(), Vec::new());
    for t in traffic {
        let report = t.stop().await;
        sent += report.sent;
        accepted.extend(report.accepted);
        refunds.extend(report.refunds);
    }
    let report = crate::common::TrafficReport { accepted, sent, refunds };
    assert_all_settled(&apps[0], &env, &report).await;

    for (i, app) in apps.iter().enumerate() {
        let log = app.log_text();
        assert!(log.contains("batch forwarded to settle"), "instance {i} locked no payment");
        assert!(log.contains("payment done"), "instance {i} settled no payment");
    }
}
