//! The monitoring objects: what is scraped, the exporters, the ports opened
//! and the alerts, from specs with monitoring on and off.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::networking::v1::NetworkPolicy;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::prometheus::PrometheusRule;
use crate::reconcile::build::credentials::{POSTGRES_PASSWORD, REDIS_PASSWORD};
use crate::reconcile::build::scrape::{
    POSTGRES_EXPORTER_PORT, RABBITMQ_PROMETHEUS_PORT, REDIS_EXPORTER_PORT,
};
use crate::reconcile::build::tests::{Counting, fixture, valid};
use crate::reconcile::build::{Credentials, Observed, build};

fn built(monitoring: serde_json::Value, postgres: serde_json::Value) -> Vec<Child> {
    let mut cr = fixture("minimal");
    cr.spec.monitoring = serde_json::from_value(monitoring).expect("monitoring");
    cr.spec.postgres = serde_json::from_value(postgres).expect("postgres");
    build(&valid(&cr), &Credentials::complete(None, &mut Counting(0)), &Observed::default())
}

fn on() -> Vec<Child> {
    built(serde_json::json!({"enabled": true, "labels": {"release": "prom"}}), serde_json::json!({}))
}

fn pod_containers(children: &[Child], name: &str) -> Vec<Container> {
    children
        .iter()
        .find_map(|c| match c {
            Child::StatefulSet(s) if c.name() == name => Some(StatefulSet::clone(s)),
            _ => None,
        })
        .and_then(|s| s.spec)
        .map(|s| s.template.spec.expect("pod").containers)
        .unwrap_or_else(|| panic!("no StatefulSet {name}"))
}

fn rule(children: &[Child]) -> PrometheusRule {
    children
        .iter()
        .find_map(|c| match c {
            Child::PrometheusRule(r) => Some(PrometheusRule::clone(r)),
            _ => None,
        })
        .expect("a PrometheusRule")
}

fn alerts(children: &[Child]) -> BTreeMap<String, String> {
    rule(children).spec.groups[0]
        .rules
        .iter()
        .map(|r| (r.alert.clone().expect("alert"), r.expr.clone()))
        .collect()
}

#[test]
fn off_by_default_nothing_is_added() {
    let children = built(serde_json::json!({}), serde_json::json!({}));
    assert!(!children.iter().any(|c| matches!(c.kind(), "PodMonitor" | "PrometheusRule")));
    for name in ["mini-redis", "mini-postgres", "mini-postgres-ro", "mini-rabbitmq"] {
        let containers = pod_containers(&children, name);
        assert_eq!(containers.len(), 1, "{name}: no sidecar");
        let ports = containers[0].ports.iter().flatten().map(|p| p.container_port);
        assert!(!ports.clone().any(|p| p == i32::from(RABBITMQ_PROMETHEUS_PORT)), "{name}");
    }
}

#[test]
fn every_data_pod_gets_its_exporter_and_every_target_is_scraped() {
    let children = on();
    for (name, sidecar, port, secret_key) in [
        ("mini-redis", "redis-exporter", REDIS_EXPORTER_PORT, REDIS_PASSWORD),
        ("mini-postgres", "postgres-exporter", POSTGRES_EXPORTER_PORT, POSTGRES_PASSWORD),
        ("mini-postgres-ro", "postgres-exporter", POSTGRES_EXPORTER_PORT, POSTGRES_PASSWORD),
    ] {
        let containers = pod_containers(&children, name);
        let exporter = containers.iter().find(|c| c.name == sidecar).unwrap_or_else(|| panic!("{name}"));
        let ports: Vec<_> =
            exporter.ports.iter().flatten().map(|p| (p.name.clone(), p.container_port)).collect();
        assert_eq!(ports, [(Some(METRICS_PORT.to_owned()), i32::from(port))], "{name}");
        // The password from the credentials Secret, never a literal.
        let from_secret: Vec<_> = exporter
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
            .map(|s| (s.name.as_str(), s.key.as_str()))
            .collect();
        assert_eq!(from_secret, [("mini-credentials", secret_key)], "{name}");
        assert!(exporter.readiness_probe.is_some() && exporter.resources.is_some(), "{name}");
    }
    let rabbitmq = pod_containers(&children, "mini-rabbitmq");
    assert!(rabbitmq[0].ports.iter().flatten().any(|p| p.name.as_deref() == Some(RABBITMQ_PORT_NAME)
        && p.container_port == i32::from(RABBITMQ_PROMETHEUS_PORT)));

    let monitor = children
        .iter()
        .find_map(|c| match c {
            Child::PodMonitor(m) => Some(PodMonitor::clone(m)),
            _ => None,
        })
        .expect("a PodMonitor");
    let endpoints: Vec<_> = monitor
        .spec
        .pod_metrics_endpoints
        .iter()
        .map(|e| (e.port.clone().unwrap_or_default(), e.path.clone().unwrap_or_default()))
        .collect();
    for want in
        [(OPS_PORT_NAME, "/metrics"), (METRICS_PORT, "/metrics"), (RABBITMQ_PORT_NAME, "/metrics/detailed")]
    {
        assert!(endpoints.iter().any(|(p, path)| p == want.0 && path == want.1), "{want:?}: {endpoints:?}");
    }
    let labels = monitor.metadata.labels.expect("labels");
    assert_eq!(labels["release"], "prom", "the spec's labels, for Prometheus' selector");
    assert_eq!(labels["app.kubernetes.io/instance"], "mini", "and the usual ones");
}

#[test]
fn the_specs_labels_never_replace_the_operators_own() {
    let children = built(
        serde_json::json!({"enabled": true, "labels": {"app.kubernetes.io/managed-by": "someone"}}),
        serde_json::json!({}),
    );
    let meta = rule(&children).metadata;
    assert_eq!(
        meta.labels.expect("labels")["app.kubernetes.io/managed-by"],
        crate::reconcile::build::MANAGER
    );
}

#[test]
fn network_policies_open_the_metrics_ports() {
    let ports_of = |children: &[Child], name: &str| -> Vec<i32> {
        children
            .iter()
            .find_map(|c| match c {
                Child::NetworkPolicy(p) if c.name() == name => Some(NetworkPolicy::clone(p)),
                _ => None,
            })
            .and_then(|p| p.spec?.ingress)
            .into_iter()
            .flatten()
            .filter(|rule| rule.from.is_none())
            .flat_map(|rule| rule.ports.into_iter().flatten())
            .filter_map(|p| match p.port {
                Some(IntOrString::Int(port)) => Some(port),
                _ => None,
            })
            .collect()
    };
    let children = on();
    assert_eq!(ports_of(&children, "mini-redis"), [i32::from(REDIS_EXPORTER_PORT)]);
    assert_eq!(ports_of(&children, "mini-postgres-primary"), [i32::from(POSTGRES_EXPORTER_PORT)]);
    assert_eq!(ports_of(&children, "mini-rabbitmq"), [i32::from(RABBITMQ_PROMETHEUS_PORT)]);
    let off = built(serde_json::json!({}), serde_json::json!({}));
    assert!(ports_of(&off, "mini-redis").is_empty(), "nothing opened with monitoring off");
}

#[test]
fn the_alerts_fit_the_cluster() {
    let builtin = alerts(&on());
    for alert in [
        "PayrailPaymentsStuckPending",
        "PayrailDeadLetterQueueNotEmpty",
        "PayrailRedlockQuorumLost",
        "PayrailSettleLagHigh",
        "PayrailDatabasePoolExhausted",
        "PayrailRequestsRefused",
        "PayrailReplicaLagHigh",
    ] {
        let expr = builtin.get(alert).unwrap_or_else(|| panic!("no {alert}: {builtin:?}"));
        assert!(expr.contains(r#"namespace="shop",payrail_cluster="mini""#), "{alert}: {expr}");
    }
    assert!(builtin["PayrailRedlockQuorumLost"].ends_with("< 2"), "a majority of 3 nodes");
    assert!(builtin["PayrailDatabasePoolExhausted"].contains(">= 16"), "app.dbPoolSize");
    assert!(builtin["PayrailReplicaLagHigh"].contains("pg_replication_lag_seconds"));
    assert!(!builtin.contains_key("PayrailBackupsFailing"), "no backups without cnpg");
    let runbooks = rule(&on()).spec.groups[0].rules.iter().all(|r| r.annotations.contains_key("runbook"));
    assert!(runbooks, "every alert has its runbook");

    let cnpg = serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3},
        "backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}}});
    let children = built(serde_json::json!({"enabled": true}), cnpg);
    let with_cnpg = alerts(&children);
    assert!(with_cnpg["PayrailReplicaLagHigh"].contains("cnpg_pg_replication_lag"));
    assert!(
        with_cnpg["PayrailBackupsFailing"]
            .contains("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp")
    );
    let monitors: Vec<_> = children.iter().filter(|c| c.kind() == "PodMonitor").map(Child::name).collect();
    assert_eq!(monitors, ["mini", "mini-postgres"], "CNPG's instances get their own PodMonitor");

    let single = built(serde_json::json!({"enabled": true}), serde_json::json!({"readReplica": false}));
    assert!(!alerts(&single).contains_key("PayrailReplicaLagHigh"), "no replica, no lag alert");
}

// Each alert's row in docs/operations.md says what to do when it fires.
#[test]
fn every_alert_is_in_the_operations_guide() {
    let guide = include_str!("../../../../../docs/operations.md");
    let cnpg = serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3},
        "backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}}});
    let mut names: Vec<String> = alerts(&on()).into_keys().collect();
    names.extend(alerts(&built(serde_json::json!({"enabled": true}), cnpg)).into_keys());
    for name in names {
        assert!(guide.contains(&format!("| `{name}` (")), "docs/operations.md has no row for {name}");
    }
}
