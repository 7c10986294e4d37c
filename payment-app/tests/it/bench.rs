//! `payment-app bench` in its smoke form: a few seconds of each scenario
//! against a test app. It asserts that the run completes, every accepted
//! payment settles and the audit passes; never a speed (speed is measured
//! by the benchmark itself, see BENCHMARKS.md).

use crate::common::{App, TOKEN, TestEnv};
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
