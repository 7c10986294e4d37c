//! `payment-app bench` in its smoke form: a few seconds of each scenario
//! against a test app. It asserts that the run completes, every accepted
//! payment settles and the audit passes; never a speed (speed is measured
//! by the benchmark itself, see BENCHMARKS.md).

use crate::common::{App, TOKEN, TestEnv};
use std::time::Duration;

use serde_json::Value;

fn bench(env: &TestEnv, app: &App, args: &[&str]) -> Value {
    let chart = env.dir.join(format!("chart-{}.svg", args.join("-").replace(' ', "")));
    let mut all = vec!["bench", "--url", &app.base, "--token", TOKEN, "--json", "--settle-timeout", "60"];
    let chart_path = chart.to_str().unwrap().to_owned();
    all.extend(["--chart", &chart_path]);
    all.extend_from_slice(args);
    let out = env.command(&all).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON report: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "bench failed: {report}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "a chart was drawn");
    report
}

#[tokio::test]
async fn each_scenario_runs_to_a_clean_audit() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    for (scenario, mode) in
        [("uniform", ["--rate", "150"]), ("hot", ["--concurrency", "8"]), ("contended", ["--rate", "100"])]
    {
        let report = bench(
            &env,
            &app,
            &["--scenario", scenario, "--duration", "3", "--accounts", "20", mode[0], mode[1]],
        );
        assert_eq!(report["scenario"], scenario);
        let accepted = report["accepted"].as_u64().unwrap();
        assert!(accepted > 0, "{report}");
        assert_eq!(report["not_settled"], 0, "{report}");
        assert_eq!(report["audit_ok"], true);
        let done = report["done"].as_u64().unwrap();
        let failed: u64 =
            report["failed_by_reason"].as_array().unwrap().iter().map(|p| p[1].as_u64().unwrap()).sum();
        assert_eq!(done + failed, accepted, "every accepted payment is accounted for: {report}");
        assert!(report["accept_latency_ms"]["count"].as_u64().unwrap() >= accepted);
        if scenario == "contended" {
            assert!(failed > 0, "contended payments race into overdrafts: {report}");
        }
    }
}

/// A seeded ledger is audit-clean in full, and the real flow carries on
/// from it: a payment between seeded accounts settles and the next
/// (incremental) audit, reading only what came after the seed's
/// checkpoint, passes too.
#[tokio::test]
async fn a_seeded_ledger_passes_the_full_audit_and_the_flow_carries_on() {
    let env = TestEnv::new();
    let out = env
        .command(&["bench-seed-ledger", "--payments", "20000", "--accounts", "100", "--chunk", "3000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "seed failed: {}", String::from_utf8_lossy(&out.stderr));

    let pg = env.pg().await;
    let (payments, done, entries): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM payments WHERE status = 'done'),
                (SELECT count(*) FROM ledger_entries)",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(payments, 20_000);
    assert!(done > 0 && done < payments, "a mix of done and failed: {done} done");
    assert_eq!(entries, 100 + 2 * done, "issuance per account, a debit and a credit per done payment");

    let out = env.command(&["audit", "--json", "--full"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), report["mode"].as_str()), (Some(0), Some("full")), "{report}");

    let app = App::start(&env, &[]).await;
    let accounts: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT id FROM accounts ORDER BY balance DESC LIMIT 2").fetch_all(&pg).await.unwrap();
    let (from, to) = (accounts[0].0.to_string(), accounts[1].0.to_string());
    let cents = |s: String| s.replace('.', "").parse::<i64>().unwrap();
    let before = cents(app.balance(&to).await);
    let (status, body) = app.pay(&from, &to, "1.00").await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let settled = app.wait_terminal(&[id], Duration::from_secs(30)).await;
    assert_eq!(settled[0]["status"], "done", "{}", settled[0]);
    assert_eq!(cents(app.balance(&to).await), before + 100, "the payee was credited");

    let out = env.command(&["audit", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        (out.status.code(), report["mode"].as_str()),
        (Some(0), Some("incremental")),
        "{report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
