//! Monitoring (on with `monitoring.enabled`): what a Prometheus run by the
//! Prometheus Operator needs to scrape and alert on one cluster.
//!
//! - a `PodMonitor` for the cluster's own pods: payment-app's `/metrics`
//!   on its HTTP port, RabbitMQ's Prometheus plugin (the official image
//!   enables it) on 15692, both its totals and its per-queue family, and
//!   the exporters this module adds beside each Redis node and each builtin
//!   PostgreSQL server;
//! - with CloudNativePG, a `PodMonitor` of CNPG's instances on their own
//!   `metrics` port (CNPG's `enablePodMonitor` is deprecated in favour of
//!   exactly this);
//! - a `PrometheusRule` with payrail's alerts ([`super::alerts`]).
//!
//! Every target gets a `payrail_cluster` label with the cluster's name, so
//! the rules and the dashboard tell clusters of one namespace apart.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::app::{plain, secret_env};
use super::credentials::{POSTGRES_PASSWORD, REDIS_PASSWORD};
use super::{Child, Component, alerts, components_selector, meta, postgres, redis, security};
use crate::crd::{PaymentCluster, PostgresProvider};
use crate::prometheus::{PodMetricsEndpoint, PodMonitor, PodMonitorSpec, RelabelConfig};
use crate::validate::ValidatedCluster;

/// The Redis exporter's port (its default).
pub const REDIS_EXPORTER_PORT: u16 = 9121;
/// The PostgreSQL exporter's port (its default, and CNPG's).
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
/// RabbitMQ's Prometheus plugin.
pub const RABBITMQ_PROMETHEUS_PORT: u16 = 15692;
/// The container port name of every exporter, and of CNPG's instances.
pub const METRICS_PORT: &str = "metrics";
/// The container port name of RabbitMQ's plugin.
pub const RABBITMQ_PORT_NAME: &str = "prometheus";
/// The label every target of a cluster carries, with the cluster's name.
pub const CLUSTER_LABEL: &str = "payrail_cluster";

pub fn enabled(valid: &ValidatedCluster) -> bool {
    valid.spec().monitoring.enabled
}

pub fn children(valid: &ValidatedCluster) -> Vec<Child> {
    let mut children = vec![pod_monitor(valid)];
    if valid.spec().postgres.provider == PostgresProvider::Cnpg {
        children.push(cnpg_pod_monitor(valid));
    }
    children.push(alerts::rule(valid));
    children
}

/// A monitoring object's metadata: the usual one, plus the labels a
/// Prometheus selects its monitors and rules by (never over ours).
pub fn monitoring_meta(valid: &ValidatedCluster, name: String) -> ObjectMeta {
    let mut meta = meta(&valid.cluster, name, Component::Monitoring);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in &valid.spec().monitoring.labels {
        labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    meta
}

/// Names the target's cluster, and (from the pod's label) its component.
fn relabelings(cr: &PaymentCluster, component: bool) -> Vec<RelabelConfig> {
    let mut relabelings = vec![RelabelConfig {
        action: Some("replace".into()),
        target_label: Some(CLUSTER_LABEL.into()),
        replacement: Some(kube::ResourceExt::name_any(cr)),
        ..RelabelConfig::default()
    }];
    if component {
        relabelings.push(RelabelConfig {
            action: Some("replace".into()),
            source_labels: vec!["__meta_kubernetes_pod_label_app_kubernetes_io_component".into()],
            target_label: Some("component".into()),
            ..RelabelConfig::default()
        });
    }
    relabelings
}

fn endpoint(cr: &PaymentCluster, port: &str, path: &str) -> PodMetricsEndpoint {
    PodMetricsEndpoint {
        port: Some(port.into()),
        path: Some(path.into()),
        relabelings: relabelings(cr, true),
        ..PodMetricsEndpoint::default()
    }
}

/// The cluster's own pods; each endpoint scrapes only the pods that have
/// its port.
fn pod_monitor(valid: &ValidatedCluster) -> Child {
    let cr = &valid.cluster;
    let mut components = vec![Component::App, Component::Redis, Component::Rabbitmq];
    if valid.spec().postgres.provider == PostgresProvider::Builtin {
        components.extend([Component::PostgresPrimary, Component::PostgresReplica]);
    }
    let per_queue = PodMetricsEndpoint {
        // Queue depths by queue (the plain endpoint sums every queue).
        params: BTreeMap::from([("family".to_owned(), vec!["queue_coarse_metrics".to_owned()])]),
        ..endpoint(cr, RABBITMQ_PORT_NAME, "/metrics/detailed")
    };
    Child::PodMonitor(Box::new(PodMonitor {
        metadata: monitoring_meta(valid, valid.names.cluster.clone()),
        spec: PodMonitorSpec {
            selector: components_selector(cr, &components),
            pod_metrics_endpoints: vec![
                endpoint(cr, "http", "/metrics"),
                endpoint(cr, METRICS_PORT, "/metrics"),
                endpoint(cr, RABBITMQ_PORT_NAME, "/metrics"),
                per_queue,
            ],
        },
    }))
}

/// CloudNativePG's instances (not its poolers), on CNPG's metrics port.
fn cnpg_pod_monitor(valid: &ValidatedCluster) -> Child {
    let cr = &valid.cluster;
    Child::PodMonitor(Box::new(PodMonitor {
        metadata: monitoring_meta(valid, valid.names.postgres()),
        spec: PodMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([
                    ("cnpg.io/cluster".to_owned(), valid.names.postgres()),
                    ("cnpg.io/podRole".to_owned(), "instance".to_owned()),
                ])),
                ..LabelSelector::default()
            },
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: Some(METRICS_PORT.into()),
                relabelings: relabelings(cr, false),
                ..PodMetricsEndpoint::default()
            }],
        },
    }))
}

/// An exporter sidecar: its port, probes on `health_path`, small
/// resources, and the same locked-down security context as its pod's
/// server.
fn exporter(
    name: &str,
    image: &str,
    port: u16,
    health_path: &str,
    env: Vec<k8s_openapi::api::core::v1::EnvVar>,
) -> Container {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let quantities = |cpu: &str, memory: &str| {
        Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.into())),
            ("memory".to_owned(), Quantity(memory.into())),
        ]))
    };
    let probe = Probe {
        http_get: Some(HTTPGetAction {
            path: Some(health_path.into()),
            port: IntOrString::String(METRICS_PORT.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    Container {
        name: name.into(),
        image: Some(image.into()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT.into()),
            container_port: port.into(),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: quantities("10m", "32Mi"),
            limits: quantities("100m", "64Mi"),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe.clone()),
        liveness_probe: Some(Probe { failure_threshold: Some(6), ..probe }),
        security_context: Some(security::container(true)),
        ..Container::default()
    }
}

/// The Redis exporter beside a lock node, logged in with the node's
/// password (from the credentials Secret, never in argv).
pub fn redis_exporter(valid: &ValidatedCluster) -> Container {
    exporter(
        "redis-exporter",
        &valid.spec().monitoring.redis_exporter_image,
        REDIS_EXPORTER_PORT,
        "/health",
        vec![
            plain("REDIS_ADDR", format!("redis://localhost:{}", redis::PORT)),
            secret_env("REDIS_PASSWORD", &valid.names.credentials(), REDIS_PASSWORD),
        ],
    )
}

/// The PostgreSQL exporter beside a builtin server, connecting to it over
/// loopback as the database's owner (its statistics views and replication
/// functions need no more).
pub fn postgres_exporter(valid: &ValidatedCluster) -> Container {
    exporter(
        "postgres-exporter",
        &valid.spec().monitoring.postgres_exporter_image,
        POSTGRES_EXPORTER_PORT,
        "/",
        vec![
            plain(
                "DATA_SOURCE_URI",
                format!("localhost:{}/{}?sslmode=disable", postgres::PORT, postgres::DATABASE),
            ),
            plain("DATA_SOURCE_USER", postgres::USER),
            secret_env("DATA_SOURCE_PASS", &valid.names.credentials(), POSTGRES_PASSWORD),
        ],
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    use super::*;
    use crate::builders::tests::{Counting, fixture, valid};
    use crate::builders::{Credentials, Observed, build};
    use crate::prometheus::PrometheusRule;

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
            [("http", "/metrics"), (METRICS_PORT, "/metrics"), (RABBITMQ_PORT_NAME, "/metrics/detailed")]
        {
            assert!(
                endpoints.iter().any(|(p, path)| p == want.0 && path == want.1),
                "{want:?}: {endpoints:?}"
            );
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
        assert_eq!(meta.labels.expect("labels")["app.kubernetes.io/managed-by"], crate::builders::MANAGER);
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
        let monitors: Vec<_> =
            children.iter().filter(|c| c.kind() == "PodMonitor").map(Child::name).collect();
        assert_eq!(monitors, ["mini", "mini-postgres"], "CNPG's instances get their own PodMonitor");

        let single = built(serde_json::json!({"enabled": true}), serde_json::json!({"readReplica": false}));
        assert!(!alerts(&single).contains_key("PayrailReplicaLagHigh"), "no replica, no lag alert");
    }
}
