//! The reconcile against the fake API server (`fake`), for what the real
//! one (`api`) cannot be made to show: the order of a first reconcile's
//! requests, the retry backoff when every apply fails, an old CRD that lets
//! through specs the current one refuses, and a cluster without the
//! Prometheus Operator. CloudNativePG's status mirrored into the cluster's
//! is still here too, where the fake plays CNPG; it can move to `api`,
//! with the test writing the CNPG Cluster's status. Everything else a
//! reconcile does is tested on the real API server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::runtime::controller::Action;
use payrail_operator::controller::{backoff, error_policy};
use payrail_operator::crd::{PaymentCluster, PaymentClusterStatus};
use payrail_operator::metrics::Metrics;
use payrail_operator::reconcile::build::PasswordSource;
use payrail_operator::reconcile::context::Context;
use payrail_operator::reconcile::{RESYNC, reconcile};
use serde_json::{Value, json};

use crate::fake::{Call, Fake};

struct Fixed;

impl PasswordSource for Fixed {
    fn password(&mut self) -> secrecy::SecretString {
        "fixed-password".into()
    }
}

fn context(fake: &Fake) -> Arc<Context> {
    Arc::new(Context::with_passwords(fake.client(), Arc::new(Metrics::default()), Box::new(Fixed)))
}

fn cluster(spec: Value) -> PaymentCluster {
    serde_json::from_value(json!({
        "apiVersion": "payrail.dev/v1alpha1",
        "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": "shop", "uid": "6b1f3f0a-2c8e-4c55-9b3a-0f1d2e3c4b5a", "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

fn applies(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.is_apply()).collect()
}

fn status_patch(calls: &[Call]) -> Option<PaymentClusterStatus> {
    calls
        .iter()
        .find(|c| c.path.ends_with("/paymentclusters/mini/status"))
        .map(|c| serde_json::from_value(c.body["status"].clone()).unwrap())
}

fn events(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.contains("/events"))
        .map(|c| c.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn condition(status: &PaymentClusterStatus, type_: &str) -> (String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).expect("condition");
    (c.status.clone(), c.reason.clone())
}

#[tokio::test]
async fn the_first_reconcile_creates_everything() {
    let fake = Fake::default();
    let action = reconcile(Arc::new(cluster(json!({}))), context(&fake)).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(15)), "not ready yet: look again soon");

    let calls = fake.take_calls();
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", "/api/v1/namespaces/shop/secrets/mini-credentials")
    );
    let applied: Vec<&str> = applies(&calls).iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        applied,
        [
            "/api/v1/namespaces/shop/secrets/mini-credentials",
            "/api/v1/namespaces/shop/configmaps/mini-postgres-scripts",
            "/api/v1/namespaces/shop/services/mini-postgres",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres",
            "/api/v1/namespaces/shop/services/mini-postgres-ro",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres-ro",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-postgres",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-postgres-ro",
            "/api/v1/namespaces/shop/configmaps/mini-redis-config",
            "/api/v1/namespaces/shop/services/mini-redis",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-redis",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-redis",
            "/api/v1/namespaces/shop/configmaps/mini-rabbitmq-config",
            "/api/v1/namespaces/shop/services/mini-rabbitmq",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-rabbitmq",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-rabbitmq",
            "/apis/apps/v1/namespaces/shop/deployments/mini-app",
            "/api/v1/namespaces/shop/services/mini-api",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-app",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-postgres-primary",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-postgres-replica",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-redis",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-rabbitmq",
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-app",
        ]
    );
    for call in applies(&calls) {
        assert!(call.query.contains("fieldManager=payrail-operator"), "{}", call.query);
        assert!(call.query.contains("force=true"), "{}", call.query);
        if call.path.ends_with("/secrets/mini-credentials") {
            // Volumes are kept by default, and so are the passwords they hold.
            assert_eq!(call.body["metadata"]["ownerReferences"], Value::Null, "{}", call.body);
            continue;
        }
        assert_eq!(
            call.body["metadata"]["ownerReferences"][0]["uid"],
            "6b1f3f0a-2c8e-4c55-9b3a-0f1d2e3c4b5a"
        );
    }
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Ready"), ("False".into(), "ComponentsNotReady".into()));
    assert_eq!(condition(&status, "Progressing").0, "True");
    assert_eq!(status.app.summary, "0/3");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(events(&calls), ["Created"]);
}

#[tokio::test]
async fn an_invalid_spec_is_degraded_and_waits_for_a_change() {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({"redis": {"nodes": 2}}));
    let action = reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change(), "no requeue: only an edit can fix it");
    let calls = fake.take_calls();
    assert!(applies(&calls).is_empty(), "nothing is applied from an invalid spec");
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Degraded"), ("True".into(), "InvalidSpec".into()));
    assert!(status.conditions.iter().any(|c| c.message.contains("redis.nodes")));
    assert_eq!(events(&calls), ["InvalidSpec"]);

    // Woken again without a change (a resync): no write, no event, no loop.
    cr.status = Some(status);
    let action = reconcile(Arc::new(cr), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    let calls = fake.take_calls();
    assert!(status_patch(&calls).is_none() && events(&calls).is_empty() && applies(&calls).is_empty());
}

#[tokio::test]
async fn api_failures_back_off() {
    let fake = Fake::default();
    fake.fail_applies.store(true, Ordering::Relaxed);
    let ctx = context(&fake);
    let cr = Arc::new(cluster(json!({})));
    let error = reconcile(cr.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(error_policy(cr.clone(), &error, ctx.clone()), Action::requeue(backoff(1)));
    assert_eq!(error_policy(cr.clone(), &error, ctx.clone()), Action::requeue(backoff(2)));
    assert_eq!(
        (backoff(1), backoff(2), backoff(3)),
        (Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(20))
    );
    assert_eq!(backoff(30), Duration::from_secs(300));
    // A success resets the count.
    fake.fail_applies.store(false, Ordering::Relaxed);
    reconcile(cr.clone(), ctx.clone()).await.unwrap();
    assert_eq!(error_policy(cr, &error, ctx), Action::requeue(backoff(1)));
}

fn degraded(status: &PaymentClusterStatus) -> (String, String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == "Degraded").expect("Degraded");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn cnpg_cluster(backup: bool) -> PaymentCluster {
    let mut postgres = json!({"provider": "cnpg", "cnpg": {"instances": 3}});
    if backup {
        postgres["backup"] = json!({"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}});
    }
    cluster(json!({"postgres": postgres}))
}

// Issue 13: the cnpg provider applies CloudNativePG's kinds next to the
// rest, mirrors CNPG's conditions into the status, and prunes a backup
// schedule and its object store once the spec drops them, never the
// Cluster that holds the data.
#[tokio::test]
async fn a_cnpg_cluster_is_applied_mirrored_and_its_backups_pruned() {
    let fake = Fake::default();
    fake.ready.store(true, Ordering::Relaxed);
    let ctx = context(&fake);
    let mut cr = cnpg_cluster(true);
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    let calls = fake.take_calls();
    let applied: Vec<&str> = applies(&calls).iter().map(|c| c.path.as_str()).collect();
    for path in [
        "/apis/barmancloud.cnpg.io/v1/namespaces/shop/objectstores/mini-postgres-backups",
        "/apis/postgresql.cnpg.io/v1/namespaces/shop/clusters/mini-postgres",
        "/apis/postgresql.cnpg.io/v1/namespaces/shop/scheduledbackups/mini-postgres-backups",
    ] {
        assert!(applied.contains(&path), "{path} not in {applied:#?}");
    }
    assert!(!applied.iter().any(|p| p.ends_with("/statefulsets/mini-postgres")), "no builtin server");
    let status = status_patch(&calls).expect("status written");
    assert_eq!(status.postgres.summary, "3/3");
    assert_eq!(condition(&status, "DatabaseReady"), ("True".into(), "ClusterReady".into()));
    // WAL archiving works, but no plugin runs here to report a base
    // backup in the ObjectStore's status: nothing could be restored yet.
    assert_eq!(condition(&status, "BackupsHealthy"), ("False".into(), "NoBaseBackup".into()));
    cr.status = Some(status);

    // Backups off: their schedule and store go, the Cluster stays.
    let mut without = cnpg_cluster(false);
    without.status = cr.status.clone();
    reconcile(Arc::new(without), ctx).await.unwrap();
    let calls = fake.take_calls();
    let deleted: Vec<&str> = calls.iter().filter(|c| c.method == "DELETE").map(|c| c.path.as_str()).collect();
    assert_eq!(
        deleted,
        [
            "/apis/postgresql.cnpg.io/v1/namespaces/shop/scheduledbackups/mini-postgres-backups",
            "/apis/barmancloud.cnpg.io/v1/namespaces/shop/objectstores/mini-postgres-backups",
        ]
    );
    assert!(fake.exists("/apis/postgresql.cnpg.io/v1/namespaces/shop/clusters/mini-postgres"));
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "BackupsHealthy"), ("False".into(), "BackupsNotConfigured".into()));
}

// Issue 13: where the CRD is older than the operator (no transition rule),
// a spec that leaves the builtin server holding the data is refused by the
// operator: nothing applied, nothing pruned, the reason in the status.
#[tokio::test]
async fn leaving_the_builtin_server_with_its_data_is_refused() {
    let fake = Fake::default();
    let ctx = context(&fake);
    reconcile(Arc::new(cluster(json!({}))), ctx.clone()).await.unwrap();
    assert!(fake.exists("/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres"));
    fake.take_calls();

    let action = reconcile(Arc::new(cnpg_cluster(false)), ctx).await.unwrap();
    // Looked at again at the resync (a Secret restored without the labels
    // that are watched is found then), never sooner.
    assert_eq!(action, Action::requeue(RESYNC));
    let calls = fake.take_calls();
    assert!(applies(&calls).is_empty(), "nothing applied");
    assert!(calls.iter().all(|c| c.method != "DELETE"), "nothing pruned");
    let status = status_patch(&calls).expect("status written");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "ProviderSwitch"));
    assert!(ready.message.contains("Moving between providers"), "{}", ready.message);
    assert!(fake.exists("/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres"));
}

// Issue 18: without the Prometheus Operator, a cluster with monitoring off
// reconciles as before (the 404 of the prune's list is no failure), and one
// with monitoring on is told what to install while everything else applies.
#[tokio::test]
async fn without_the_prometheus_operator_monitoring_says_what_to_install() {
    let fake = Fake::default();
    fake.unserved_groups.lock().unwrap().push("monitoring.coreos.com".into());
    let ctx = context(&fake);
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.expect("monitoring off: no failure");
    fake.take_calls();

    cr.spec.monitoring.enabled = Some(true);
    let result = reconcile(Arc::new(cr.clone()), ctx).await;
    assert!(result.is_err(), "requeued with backoff");
    let calls = fake.take_calls();
    assert!(applies(&calls).iter().any(|c| c.path.ends_with("/deployments/mini-app")), "the rest applied");
    let status = status_patch(&calls).expect("status written");
    let (degraded, reason, message) = degraded(&status);
    assert_eq!((degraded.as_str(), reason.as_str()), ("True", "ApplyFailed"));
    assert!(
        message.contains("PodMonitor mini") && message.contains("install the Prometheus Operator"),
        "{message}"
    );
    // Issue 24: said once per object, not again for each kind prune could
    // not list ("PodMonitor (list): ...").
    assert!(!message.contains("(list)"), "{message}");
}
