//! What a reconcile does with what it finds, on the real API server (these
//! ran against the fake until issue 24): a settled cluster is left alone,
//! passwords already there are kept, a new image rolls the app, a child the
//! server refuses stops none of the others, and the monitoring objects
//! come and go with the spec and with the operator's default.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kube::{Api, Client, Resource, ResourceExt};
use payrail_operator::crd::PaymentCluster;
use payrail_operator::reconcile::build::MANAGER;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::lifecycle::{SMALL, degraded, merged, minimal, status};
use super::{Namespace, Operator, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);
const MANAGED: &str = "app.kubernetes.io/managed-by=payrail-operator";

/// How many reconciles the operator has logged.
fn reconciles(operator: &Operator) -> usize {
    operator.log().matches("reconciled").count()
}

/// `kind/name` → generation (or resource version, for kinds without one)
/// of every object of kind `K` the operator made in `namespace`.
async fn versions<K>(client: &Client, namespace: &str, out: &mut BTreeMap<String, String>)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    for object in api.list(&ListParams::default().labels(MANAGED)).await.unwrap() {
        let meta = object.meta();
        let version = match meta.generation {
            Some(generation) => format!("generation {generation}"),
            None => format!("version {}", meta.resource_version.clone().unwrap_or_default()),
        };
        out.insert(format!("{}/{}", K::kind(&()), object.name_any()), version);
    }
}

async fn children(client: &Client, namespace: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    versions::<Secret>(client, namespace, &mut out).await;
    versions::<ConfigMap>(client, namespace, &mut out).await;
    versions::<Service>(client, namespace, &mut out).await;
    versions::<StatefulSet>(client, namespace, &mut out).await;
    versions::<Deployment>(client, namespace, &mut out).await;
    versions::<PodDisruptionBudget>(client, namespace, &mut out).await;
    versions::<NetworkPolicy>(client, namespace, &mut out).await;
    out
}

/// How many events the operator has recorded in `namespace` (the
/// controller manager records its own, about claims that no volume binds).
async fn event_count(client: &Client, namespace: &str) -> usize {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let events = events.list(&ListParams::default()).await.unwrap().items;
    events.iter().filter(|e| e.reporting_component.as_deref() == Some(MANAGER)).count()
}

/// A reconcile that finds everything as it should be writes nothing: no
/// child changes, no status write, no event. (Server-side apply of the
/// same object is a no-op on the server; the operator's own status and
/// event logic decide the rest.)
#[tokio::test]
async fn a_settled_cluster_is_left_alone() {
    let plane = shared();
    let namespace = Namespace::new(plane, "settled").await;
    let ns = namespace.name.as_str();
    let operator = Operator::start(plane, ns);
    let admin = plane.admin().await;
    apply_cluster(&admin, &minimal(ns, SMALL())).await.unwrap();
    eventually("the first status", SETTLE, async || status(&admin, ns).await).await;
    // The controller manager's first writes (Pods, claims) wake the
    // operator a few times; let those pass.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let clusters: Api<PaymentCluster> = Api::namespaced(admin.clone(), ns);
    let before = children(&admin, ns).await;
    let events = event_count(&admin, ns).await;
    assert!(events > 0, "no event of the operator's found: the count below would prove nothing");
    for round in 0..2 {
        // An annotation wakes the operator without changing the spec.
        let seen = reconciles(&operator);
        let touched = clusters
            .patch(
                "mini",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {"payrail.test/touch": round.to_string()}}}),
                ),
            )
            .await
            .unwrap();
        eventually("a reconcile after the touch", SETTLE, async || {
            if reconciles(&operator) > seen { Ok(()) } else { Err(operator.log()) }
        })
        .await;
        let after = clusters.get("mini").await.unwrap();
        assert_eq!(
            after.resource_version(),
            touched.resource_version(),
            "the status was written again:\n{:?}",
            after.status
        );
    }
    assert_eq!(children(&admin, ns).await, before, "a child was changed");
    assert_eq!(event_count(&admin, ns).await, events, "an event was recorded");
}

/// A credentials Secret already in the namespace (restored from a backup,
/// or left by a deleted cluster that kept its volumes) is read, not
/// replaced: the data in the volumes was initialised with its passwords.
#[tokio::test]
async fn passwords_already_in_the_cluster_are_kept() {
    let plane = shared();
    let namespace = Namespace::new(plane, "kept").await;
    let ns = namespace.name.as_str();
    let admin = plane.admin().await;
    let keys = [
        "postgres-password",
        "replication-password",
        "rabbitmq-password",
        "rabbitmq-erlang-cookie",
        "redis-password",
        "api-tokens",
    ];
    let data: serde_json::Map<String, Value> =
        keys.iter().map(|k| ((*k).into(), json!("original"))).collect();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    let secret =
        serde_json::from_value(json!({"metadata": {"name": "mini-credentials"}, "stringData": data}))
            .unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();

    let _operator = Operator::start(plane, ns);
    apply_cluster(&admin, &minimal(ns, SMALL())).await.unwrap();
    eventually("the first status", SETTLE, async || status(&admin, ns).await).await;
    let secret = secrets.get("mini-credentials").await.unwrap();
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| String::from_utf8(data.get(key).map(|v| v.0.clone()).unwrap_or_default()).unwrap();
    for key in keys {
        assert_eq!(text(key), "original", "{key}");
    }
    // Derived from the Redis password.
    assert_eq!(text("redis-auth.conf"), "requirepass original\n");
    // A Secret from before the app had a role of its own gains the role's
    // password (set by the next migrate), nothing else.
    assert!(text("app-db-password").len() >= 16, "no app role password: {:?}", data.keys());
}

/// A new image reaches the app's container and its migration init
/// container (migrations run on the new image first), and the status says
/// which generation it reflects.
#[tokio::test]
async fn a_changed_image_rolls_the_deployment() {
    let plane = shared();
    let namespace = Namespace::new(plane, "image").await;
    let ns = namespace.name.as_str();
    let _operator = Operator::start(plane, ns);
    let admin = plane.admin().await;
    apply_cluster(&admin, &minimal(ns, SMALL())).await.unwrap();
    eventually("the first status", SETTLE, async || status(&admin, ns).await).await;

    let image = "ghcr.io/payrail/payment-app:0.2.0";
    let edited =
        apply_cluster(&admin, &minimal(ns, merged(SMALL(), json!({"app": {"image": image}})))).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    eventually("the new image in the app's pods", SETTLE, async || {
        let app = deployments.get("mini-app").await.map_err(|e| e.to_string())?;
        let pod = app.spec.and_then(|s| s.template.spec).ok_or("no pod spec")?;
        let images: Vec<String> = pod
            .init_containers
            .unwrap_or_default()
            .iter()
            .chain(pod.containers.iter().take(1))
            .filter_map(|c| c.image.clone())
            .collect();
        if !images.is_empty() && images.iter().all(|i| i == image) {
            Ok(())
        } else {
            Err(format!("{images:?}"))
        }
    })
    .await;
    let observed = eventually("the edit observed", SETTLE, async || status(&admin, ns).await).await;
    assert_eq!(observed.observed_generation, edited.metadata.generation);
}

/// Someone else's Deployment under the app's name, with another selector:
/// the server refuses the operator's apply (a selector is immutable). That
/// child fails; every other one is still applied, and the status names the
/// refused one with the server's own message.
#[tokio::test]
async fn a_refused_child_never_stops_the_others() {
    let plane = shared();
    let namespace = Namespace::new(plane, "refused").await;
    let ns = namespace.name.as_str();
    let admin = plane.admin().await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let legacy = serde_json::from_value(json!({
        "metadata": {"name": "mini-app"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "legacy"}},
                 "template": {"metadata": {"labels": {"app": "legacy"}},
                              "spec": {"containers": [{"name": "legacy", "image": "legacy:1"}]}}},
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &legacy).await.unwrap();

    let operator = Operator::start(plane, ns);
    apply_cluster(&admin, &minimal(ns, SMALL())).await.unwrap();
    let (reason, message) = eventually("the refusal in the status", SETTLE, async || {
        let status = status(&admin, ns).await?;
        degraded(&status).ok_or_else(|| format!("{status:?}\n{}", operator.log()))
    })
    .await;
    assert_eq!(reason, "ApplyFailed", "{message}");
    assert!(message.contains("Deployment mini-app") && message.contains("field is immutable"), "{message}");
    // Applied after the app, even so.
    let services: Api<Service> = Api::namespaced(admin.clone(), ns);
    assert!(services.get_opt("mini-api").await.unwrap().is_some(), "the API Service was not applied");
    let policies: Api<NetworkPolicy> = Api::namespaced(admin.clone(), ns);
    assert!(policies.get_opt("mini-app").await.unwrap().is_some(), "the app's NetworkPolicy was not applied");
}

fn monitoring_api(client: &Client, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Whether the PodMonitor and the PrometheusRule exist, and how many
/// containers the Redis pods have (the node and, with monitoring, its
/// exporter).
async fn monitoring(client: &Client, namespace: &str) -> Result<(bool, bool, usize), String> {
    let monitor = monitoring_api(client, namespace, "PodMonitor", "podmonitors");
    let rule = monitoring_api(client, namespace, "PrometheusRule", "prometheusrules");
    let redis: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let containers = redis
        .get_opt("mini-redis")
        .await
        .map_err(|e| e.to_string())?
        .and_then(|s| s.spec?.template.spec)
        .map_or(0, |p| p.containers.len());
    Ok((
        monitor.get_opt("mini").await.map_err(|e| e.to_string())?.is_some(),
        rule.get_opt("mini").await.map_err(|e| e.to_string())?.is_some(),
        containers,
    ))
}

/// Waits until `monitoring` sees `want`.
async fn until_monitoring(client: &Client, namespace: &str, what: &str, want: (bool, bool, usize)) {
    eventually(what, SETTLE, async || {
        let seen = monitoring(client, namespace).await?;
        if seen == want {
            Ok(())
        } else {
            Err(format!("(PodMonitor, PrometheusRule, Redis containers) {seen:?}"))
        }
    })
    .await;
}

/// With the Prometheus Operator's CRDs installed: monitoring on applies
/// the PodMonitor and the PrometheusRule and gives Redis its exporter;
/// off, both objects are pruned and the exporter goes.
#[tokio::test]
async fn monitoring_objects_are_applied_and_pruned_when_switched_off() {
    let plane = shared();
    let namespace = Namespace::new(plane, "monitoring").await;
    let ns = namespace.name.as_str();
    let _operator = Operator::start(plane, ns);
    let admin = plane.admin().await;
    let on = merged(SMALL(), json!({"monitoring": {"enabled": true}}));
    apply_cluster(&admin, &minimal(ns, on)).await.unwrap();
    until_monitoring(&admin, ns, "monitoring applied", (true, true, 2)).await;

    let off = merged(SMALL(), json!({"monitoring": {"enabled": false}}));
    apply_cluster(&admin, &minimal(ns, off)).await.unwrap();
    until_monitoring(&admin, ns, "monitoring pruned", (false, false, 1)).await;
}

/// The operator's default (the chart's `monitoring.clusterDefault`, the
/// flag `--monitoring-default`) turns monitoring on for a spec that does
/// not say, and never over a spec that says no.
#[tokio::test]
async fn the_operators_default_turns_monitoring_on_where_the_spec_is_silent() {
    let plane = shared();
    let namespace = Namespace::new(plane, "default-monitoring").await;
    let ns = namespace.name.as_str();
    let _operator =
        Operator::start_with(plane, ns, &["--leader-election=false", "--monitoring-default=true"], "");
    let admin = plane.admin().await;
    apply_cluster(&admin, &minimal(ns, SMALL())).await.unwrap();
    until_monitoring(&admin, ns, "monitoring on by default", (true, true, 2)).await;

    let off = merged(SMALL(), json!({"monitoring": {"enabled": false}}));
    apply_cluster(&admin, &minimal(ns, off)).await.unwrap();
    until_monitoring(&admin, ns, "the spec's no wins, and the default's objects go", (false, false, 1)).await;
}
