//! Issue 18: every PromQL expression payrail ships (the alert rules the
//! operator builds for the fixtures and examples, the Grafana dashboard's
//! queries and variables in the chart) parses, and every metric it names
//! is one that something really exports:
//!
//! - payment-app and the operator: read from their metrics registries
//!   (`payment_app::metrics::get()` and `payrail_operator::metrics`), the
//!   same text `/metrics` serves, so a renamed or removed metric fails here
//!   (each labelled family is given one child first: the registry leaves
//!   an empty family out of the text);
//! - the exporters the PodMonitors scrape: the lists below, from each
//!   exporter's own documentation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::parser::{self, Expr};
use serde::Deserialize;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Metrics of the exporters, as their documentation names them (only
/// those payrail's rules and dashboard may use; add one here only after
/// reading it in the exporter's documentation).
const EXPORTED_ELSEWHERE: &[&str] = &[
    // RabbitMQ's rabbitmq_prometheus plugin, /metrics/detailed family
    // queue_coarse_metrics (rabbitmq-server deps/rabbitmq_prometheus/metrics-detailed.md).
    "rabbitmq_detailed_queue_messages",
    "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked",
    // oliver006/redis_exporter (README, "What's exported").
    "redis_up",
    // prometheus-community/postgres_exporter, the default `replication` collector.
    "pg_up",
    "pg_replication_lag_seconds",
    "pg_replication_is_replica",
    // CloudNativePG's instance manager (docs: monitoring, default metrics).
    "cnpg_collector_up",
    "cnpg_pg_replication_lag",
    // CloudNativePG's Barman Cloud plugin (docs: observability).
    "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp",
    "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
    "barman_cloud_cloudnative_pg_io_first_recoverability_point",
];

/// The series names a registry's text exposition produces: a counter
/// `x` is scraped as `x_total`, a histogram as `x_bucket`, `x_sum` and
/// `x_count`, a gauge as itself.
fn series_of(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        match kind {
            "counter" => names.insert(format!("{name}_total")),
            "histogram" => {
                names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
                true
            }
            _ => names.insert(name.to_owned()),
        };
    }
    names
}

/// payment-app's registry as `/metrics` serves it once every labelled
/// family has a child.
fn payment_app_exposition() -> String {
    use payment_app::metrics::{HttpLabels, OutcomeLabels, PoolLabels, RouteLabel, get};
    let m = get();
    let _ = m.http_requests.get_or_create(&HttpLabels { route: "/healthz".into(), status: 200 });
    let _ = m.http_duration.get_or_create(&RouteLabel { route: "/healthz".into() });
    let done = OutcomeLabels { outcome: "done".into(), reason: String::new() };
    let _ = m.payments_settled.get_or_create(&done);
    let _ = m
        .authorizations_closed
        .get_or_create(&OutcomeLabels { outcome: "captured".into(), reason: String::new() });
    let _ = m.refunds_settled.get_or_create(&done);
    m.queue_delivery("payrail.lock", true);
    m.dead_letter("payrail.lock");
    m.webhook_attempt(true);
    m.api_error("overloaded");
    m.lock_attempt("granted", 0);
    let _ = m.db_connections.get_or_create(&PoolLabels { pool: "primary".into(), state: "open".into() });
    let text = m.render();
    // Every metric registered in payment-app/src/metrics.rs (one
    // `"name", "help"` line each) is in the text: a family added there and
    // not given a child above would otherwise be missing from this check.
    let source = std::fs::read_to_string(root().join("payment-app/src/metrics.rs")).unwrap();
    let registered =
        source.lines().filter(|l| l.trim_start().starts_with('"') && l.contains("\", \"")).count();
    let encoded = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(encoded, registered, "give each labelled family of payment-app a child here:\n{text}");
    text
}

/// Every series name payrail's expressions may use.
fn exported() -> BTreeSet<String> {
    let mut names = series_of(&payment_app_exposition());
    let operator = payrail_operator::metrics::Metrics::default();
    // Its one labelled family, given a child.
    operator
        .reconciled(Duration::ZERO, Some(&payrail_operator::Error::ApplyFailed { failed: 1, attempted: 1 }));
    names.extend(series_of(&operator.render()));
    names.extend(EXPORTED_ELSEWHERE.iter().map(|s| (*s).to_owned()));
    names
}

/// The metric names an expression selects.
fn metric_names(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) => {
            names.extend(vs.name.clone());
            names.extend(
                vs.matchers.matchers.iter().filter(|m| m.name == "__name__").map(|m| m.value.clone()),
            );
        }
        Expr::MatrixSelector(ms) => metric_names(&Expr::VectorSelector(ms.vs.clone()), names),
        Expr::Aggregate(a) => {
            metric_names(&a.expr, names);
            if let Some(param) = &a.param {
                metric_names(param, names);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, names),
        Expr::Binary(b) => {
            metric_names(&b.lhs, names);
            metric_names(&b.rhs, names);
        }
        Expr::Paren(p) => metric_names(&p.expr, names),
        Expr::Subquery(s) => metric_names(&s.expr, names),
        Expr::Call(c) => c.args.args.iter().for_each(|a| metric_names(a, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The names an expression uses that nothing exports, or why it does not parse.
fn unknown_metrics(expr: &str, exported: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let parsed = parser::parse(expr).map_err(|e| format!("does not parse: {e}"))?;
    let mut names = BTreeSet::new();
    metric_names(&parsed, &mut names);
    if names.is_empty() {
        return Err("selects no metric".into());
    }
    Ok(names.into_iter().filter(|n| !exported.contains(n)).collect())
}

/// Every alert expression the operator builds for the fixtures and examples.
fn rule_expressions() -> Vec<(String, String)> {
    let mut manifests = vec![
        root().join("operator/tests/fixtures/minimal.yaml"),
        root().join("operator/tests/fixtures/full.yaml"),
    ];
    manifests.extend(
        std::fs::read_dir(root().join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
    );
    let mut rendered: Vec<(String, String)> = manifests
        .iter()
        .map(|m| {
            let name = m.file_name().unwrap().to_string_lossy().into_owned();
            (name, payrail_operator::render::render_file(m).unwrap())
        })
        .collect();
    // The production example on the builtin servers too: its replica-lag
    // alert reads the builtin exporter's metric, not CNPG's.
    let production = root().join("examples/paymentcluster-production.yaml");
    let mut builtin: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(production).unwrap()).unwrap();
    builtin["spec"]["postgres"] = serde_json::json!({"provider": "builtin", "readReplica": true});
    let builtin = serde_norway::to_string(&builtin).unwrap();
    rendered.push(("production, builtin".into(), payrail_operator::render::render(&builtin).unwrap()));
    let mut exprs = Vec::new();
    for (manifest, text) in rendered {
        for doc in serde_norway::Deserializer::from_str(&text) {
            let object = serde_json::Value::deserialize(doc).unwrap();
            if object["kind"] != "PrometheusRule" {
                continue;
            }
            for group in object["spec"]["groups"].as_array().unwrap() {
                for rule in group["rules"].as_array().unwrap() {
                    let name = format!("{manifest} {}", rule["alert"]);
                    exprs.push((name, rule["expr"].as_str().unwrap().to_owned()));
                }
            }
        }
    }
    exprs
}

/// Grafana's variables, as values PromQL parses.
fn substitute(query: &str) -> String {
    query
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$namespace", "payments")
        .replace("$cluster", "payrail")
}

/// The dashboard's panel queries and the selectors of its variables
/// (`label_values(SELECTOR, label)`).
fn dashboard_expressions() -> Vec<(String, String)> {
    let path = root().join("charts/payment-operator/dashboards/payrail.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let name = format!("panel {} {}", panel["title"], target["refId"]);
            exprs.push((name, substitute(target["expr"].as_str().unwrap())));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(query) = variable["query"]["query"].as_str() else { continue };
        let inner = query.strip_prefix("label_values(").and_then(|q| q.rsplit_once(',')).unwrap().0;
        exprs.push((format!("variable {}", variable["name"]), substitute(inner)));
    }
    exprs
}

#[test]
fn every_expression_parses_and_names_only_exported_metrics() {
    let exported = exported();
    // The registries were read: payment-app's and the operator's own.
    assert!(exported.contains("payrail_payments_accepted_total"), "{exported:?}");
    assert!(exported.contains("payrail_operator_reconciles_total"), "{exported:?}");

    let rules = rule_expressions();
    let dashboard = dashboard_expressions();
    assert!(rules.len() >= 8 * 2, "the rules of the full fixture and the production example: {rules:?}");
    for metric in ["pg_replication_lag_seconds", "cnpg_pg_replication_lag"] {
        assert!(rules.iter().any(|(_, e)| e.contains(metric)), "no replica-lag alert reads {metric}");
    }
    assert!(dashboard.len() >= 15, "{dashboard:?}");
    let mut problems = Vec::new();
    for (name, expr) in rules.iter().chain(&dashboard) {
        match unknown_metrics(expr, &exported) {
            Ok(unknown) if unknown.is_empty() => {}
            Ok(unknown) => problems.push(format!("{name}: exported by nothing: {unknown:?}\n  {expr}")),
            Err(why) => problems.push(format!("{name}: {why}\n  {expr}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// And the check has teeth: a misspelt metric, a metric of payment-app's
// under the wrong type suffix, and broken PromQL are each caught.
#[test]
fn a_renamed_metric_or_broken_promql_is_caught() {
    let exported = exported();
    let unknown = |expr: &str| unknown_metrics(expr, &exported);
    assert_eq!(unknown("sum(rate(payrail_payments_accepted_total[5m]))"), Ok(vec![]));
    assert_eq!(
        unknown(
            "sum(rate(payrail_payments_acceptd_total[5m])) / sum(rate(payrail_payments_settled_total[5m]))"
        ),
        Ok(vec!["payrail_payments_acceptd_total".to_owned()])
    );
    assert_eq!(unknown("payrail_db_connections_total"), Ok(vec!["payrail_db_connections_total".to_owned()]));
    assert_eq!(
        unknown(r#"{__name__="payrail_lock_wait_seconds"}"#),
        Ok(vec!["payrail_lock_wait_seconds".to_owned()])
    );
    assert!(unknown("sum(rate(payrail_payments_accepted_total[5m])").is_err(), "unbalanced parenthesis");
}
