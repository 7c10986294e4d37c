//! The controller against the fake API server (`fake`): the requests a
//! reconcile makes, in order, and what it does with the answers. The fake
//! keeps what is applied, so a second reconcile sees the first's work, and
//! refuses what a real API server would.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::runtime::controller::Action;
use payrail_operator::builders::PasswordSource;
use payrail_operator::controller::{Context, backoff, error_policy};
use payrail_operator::crd::{PaymentCluster, PaymentClusterStatus};
use payrail_operator::metrics::Metrics;
use payrail_operator::reconcile::reconcile;
use payrail_operator::validate::OperatorDefaults;
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
async fn a_second_reconcile_changes_nothing() {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    let first = fake.take_calls();
    cr.status = status_patch(&first);

    reconcile(Arc::new(cr), ctx).await.unwrap();
    let second = fake.take_calls();
    // The same objects, byte for byte (passwords included: the Secret was
    // read back, not regenerated), no status write and no event. (Not in
    // the same order: once both exist, the PostgreSQL primary is applied
    // after its replica has rolled out, `reconcile::order`.)
    let bodies = |calls: &[Call]| {
        let mut bodies = applies(calls).iter().map(|c| (c.path.clone(), c.body.clone())).collect::<Vec<_>>();
        bodies.sort_by(|a, b| a.0.cmp(&b.0));
        bodies
    };
    assert_eq!(bodies(&second), bodies(&first));
    assert!(status_patch(&second).is_none(), "an unchanged status is not written");
    assert!(events(&second).is_empty());
}

#[tokio::test]
async fn passwords_already_in_the_cluster_are_kept() {
    let fake = Fake::default();
    let mut data = serde_json::Map::new();
    for key in [
        "postgres-password",
        "replication-password",
        "rabbitmq-password",
        "rabbitmq-erlang-cookie",
        "redis-password",
        "api-tokens",
    ] {
        data.insert(key.into(), json!("b3JpZ2luYWw=")); // "original"
    }
    fake.put(
        "/api/v1/namespaces/shop/secrets/mini-credentials",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mini-credentials", "namespace": "shop"}, "data": data}),
    );
    reconcile(Arc::new(cluster(json!({}))), context(&fake)).await.unwrap();
    let calls = fake.take_calls();
    let secret = applies(&calls).into_iter().find(|c| c.path.ends_with("/secrets/mini-credentials")).unwrap();
    for (key, value) in secret.body["data"].as_object().unwrap() {
        let kept = match key.as_str() {
            // The Redis node's include file is derived from its password.
            "redis-auth.conf" => "cmVxdWlyZXBhc3Mgb3JpZ2luYWwK",
            // A Secret from before the app had a role of its own gains the
            // role's password (set by the next migrate), nothing else.
            "app-db-password" => "Zml4ZWQtcGFzc3dvcmQ=",
            _ => "b3JpZ2luYWw=",
        };
        assert_eq!(value, kept, "{key}");
    }
    assert!(events(&calls).is_empty(), "nothing was created");
}

#[tokio::test]
async fn status_follows_the_childrens_readiness() {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    cr.status = status_patch(&fake.take_calls());

    fake.ready.store(true, Ordering::Relaxed);
    let action = reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)), "ready: only a slow resync");
    let calls = fake.take_calls();
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Ready"), ("True".into(), "AllComponentsReady".into()));
    assert_eq!(condition(&status, "Progressing").0, "False");
    assert_eq!(
        (status.app.summary.as_str(), status.redis.summary.as_str(), status.postgres.summary.as_str()),
        ("3/3", "3/3", "2/2")
    );
    assert_eq!(status.api_service.as_deref(), Some("mini-api"));
    assert_eq!(events(&calls), ["Ready"]);

    // Pods go away: back to not ready, with a warning event.
    cr.status = Some(status);
    fake.ready.store(false, Ordering::Relaxed);
    reconcile(Arc::new(cr), ctx).await.unwrap();
    let calls = fake.take_calls();
    assert_eq!(condition(&status_patch(&calls).unwrap(), "Ready").0, "False");
    assert_eq!(events(&calls), ["NotReady"]);
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
async fn a_changed_image_rolls_the_deployment() {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    cr.status = status_patch(&fake.take_calls());

    cr.spec.app.image = "ghcr.io/payrail/payment-app:0.2.0".into();
    cr.metadata.generation = Some(2);
    reconcile(Arc::new(cr), ctx).await.unwrap();
    let calls = fake.take_calls();
    let deployment = applies(&calls).into_iter().find(|c| c.path.ends_with("/deployments/mini-app")).unwrap();
    let pod = &deployment.body["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "ghcr.io/payrail/payment-app:0.2.0");
    assert_eq!(
        pod["initContainers"][0]["image"], "ghcr.io/payrail/payment-app:0.2.0",
        "migrations run on the new image first"
    );
    assert_eq!(status_patch(&calls).unwrap().observed_generation, Some(2));
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

const NS: &str = "/api/v1/namespaces/shop";
const APPS: &str = "/apis/apps/v1/namespaces/shop";

/// A claim as the StatefulSet controller makes it from a claim template:
/// named `data-<statefulset>-<ordinal>`, labelled with the pod selector.
fn claim(statefulset: &str, component: &str, size: &str) -> (String, Value) {
    let name = format!("data-{statefulset}-0");
    (
        format!("{NS}/persistentvolumeclaims/{name}"),
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "shop", "labels": {
                "app.kubernetes.io/name": "payrail", "app.kubernetes.io/instance": "mini",
                "app.kubernetes.io/component": component}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
            "status": {"phase": "Bound", "capacity": {"storage": size}}
        }),
    )
}

fn degraded(status: &PaymentClusterStatus) -> (String, String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == "Degraded").expect("Degraded");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// A default cluster after its first reconcile, with these claims
/// (StatefulSet, component) of 10Gi made by the StatefulSet controller.
async fn up_with_claims(claims: &[(&str, &str)]) -> (Fake, Arc<Context>, PaymentCluster) {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({}));
    reconcile_once(&fake, &ctx, &mut cr).await;
    for (statefulset, component) in claims {
        let (path, pvc) = claim(statefulset, component, "10Gi");
        fake.put(&path, pvc);
    }
    (fake, ctx, cr)
}

/// Runs one reconcile of `cr` and returns the calls it made; the status it
/// wrote becomes the resource's, as the next watch event would carry it.
async fn reconcile_once(fake: &Fake, ctx: &Arc<Context>, cr: &mut PaymentCluster) -> Vec<Call> {
    let _ = reconcile(Arc::new(cr.clone()), ctx.clone()).await;
    let calls = fake.take_calls();
    if let Some(status) = status_patch(&calls) {
        cr.status = Some(status);
    }
    calls
}

// Bug 1: a larger size is applied to the existing claims, never to the
// StatefulSet's claim templates, which a real API server refuses to change;
// and nothing after the data services is held back.
#[tokio::test]
async fn a_larger_volume_expands_the_claims_and_every_other_change_still_applies() {
    let (fake, ctx, mut cr) =
        up_with_claims(&[("mini-postgres", "postgres-primary"), ("mini-postgres-ro", "postgres-replica")])
            .await;

    cr.spec.postgres.storage.size = "20Gi".into();
    cr.spec.app.image = "ghcr.io/payrail/payment-app:0.2.0".into();
    cr.metadata.generation = Some(2);
    let result = reconcile(Arc::new(cr.clone()), ctx.clone()).await;
    let calls = fake.take_calls();
    assert!(result.is_ok(), "{:?}", result.err());
    for pvc in ["data-mini-postgres-0", "data-mini-postgres-ro-0"] {
        let stored = fake.get(&format!("{NS}/persistentvolumeclaims/{pvc}")).unwrap();
        assert_eq!(stored["spec"]["resources"]["requests"]["storage"], "20Gi", "{pvc} expanded");
    }
    let sts = fake.get(&format!("{APPS}/statefulsets/mini-postgres")).unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"], "10Gi",
        "the claim template is never changed"
    );
    let app = fake.get(&format!("{APPS}/deployments/mini-app")).unwrap();
    assert_eq!(
        app["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/payrail/payment-app:0.2.0"
    );
    assert_eq!(degraded(&status_patch(&calls).expect("status")).0, "False");
}

// Bug 1: a smaller size is refused with a message; the volumes stay.
#[tokio::test]
async fn a_smaller_volume_is_refused_and_says_why() {
    let (fake, ctx, mut cr) = up_with_claims(&[("mini-postgres", "postgres-primary")]).await;
    let path = format!("{NS}/persistentvolumeclaims/data-mini-postgres-0");

    cr.spec.postgres.storage.size = "5Gi".into();
    cr.spec.app.image = "ghcr.io/payrail/payment-app:0.2.0".into();
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    let (status, _, message) = degraded(&status_patch(&calls).expect("status"));
    assert_eq!(status, "True");
    assert!(message.contains("data-mini-postgres-0") && message.contains("shrink"), "{message}");
    assert_eq!(fake.get(&path).unwrap()["spec"]["resources"]["requests"]["storage"], "10Gi");
    let app = fake.get(&format!("{APPS}/deployments/mini-app")).unwrap();
    assert_eq!(
        app["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/payrail/payment-app:0.2.0"
    );
}

// Bug 1: one child the API server refuses never stops the others, and
// status names it with the server's own message.
#[tokio::test]
async fn a_refused_child_never_stops_the_others() {
    let fake = Fake::default();
    let ctx = context(&fake);
    // Someone else's Deployment under the app's name, with another selector.
    fake.put(
        &format!("{APPS}/deployments/mini-app"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mini-app", "namespace": "shop"},
               "spec": {"selector": {"matchLabels": {"app": "legacy"}}, "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": []}}}}),
    );
    let cr = cluster(json!({}));
    let result = reconcile(Arc::new(cr), ctx.clone()).await;
    let calls = fake.take_calls();
    assert!(result.is_err(), "a refused child is a failed reconcile, retried with backoff");
    let applied: Vec<&str> = applies(&calls).iter().map(|c| c.path.as_str()).collect();
    assert!(
        applied.iter().any(|p| p.ends_with("/services/mini-api")),
        "children after the app still applied: {applied:?}"
    );
    let status = status_patch(&calls).expect("status written even so");
    let (degraded, reason, message) = degraded(&status);
    assert_eq!((degraded.as_str(), reason.as_str()), ("True", "ApplyFailed"));
    assert!(message.contains("Deployment mini-app") && message.contains("field is immutable"), "{message}");
}

// Bug 2: what is no longer built is deleted, and only what the operator made.
#[tokio::test]
async fn children_no_longer_built_are_pruned_and_nothing_else() {
    let (fake, ctx, mut cr) = up_with_claims(&[]).await;
    assert!(fake.exists(&format!("{APPS}/statefulsets/mini-postgres-ro")));
    // A ConfigMap with the cluster's labels that the operator did not make.
    fake.put(
        &format!("{NS}/configmaps/mini-notes"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mini-notes", "namespace": "shop", "labels": {
            "app.kubernetes.io/instance": "mini", "app.kubernetes.io/managed-by": "payrail-operator"}}}),
    );

    cr.spec.postgres.read_replica = false;
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    let mut deleted: Vec<&str> =
        calls.iter().filter(|c| c.method == "DELETE").map(|c| c.path.as_str()).collect();
    deleted.sort_unstable();
    assert_eq!(
        deleted,
        [
            format!("{NS}/services/mini-postgres-ro"),
            format!("{APPS}/statefulsets/mini-postgres-ro"),
            "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/mini-postgres-replica".to_owned(),
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-postgres-ro".to_owned(),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        "exactly the replica's objects"
    );
    assert!(!fake.exists(&format!("{APPS}/statefulsets/mini-postgres-ro")));
    assert!(fake.exists(&format!("{NS}/configmaps/mini-notes")), "not owned by this cluster: kept");
    // Pruned once: the next reconcile deletes nothing (and meets no 404).
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    assert!(!calls.iter().any(|c| c.method == "DELETE"));
}

// Bug 6: every pod passes Pod Security `restricted` where it is enforced.
#[tokio::test]
async fn every_pod_passes_pod_security_restricted() {
    let fake = Fake::default();
    fake.label_namespace("shop", &[("pod-security.kubernetes.io/enforce", "restricted")]);
    let ctx = context(&fake);
    for spec in
        [json!({}), json!({"postgres": {"readReplica": false}, "redis": {"crashSafety": "FsyncAlways"}})]
    {
        let mut cr = cluster(spec);
        let result = reconcile(Arc::new(cr.clone()), ctx.clone()).await;
        let calls = fake.take_calls();
        assert!(result.is_ok(), "{:?}", result.err());
        let status = status_patch(&calls).expect("status");
        assert_eq!(degraded(&status).0, "False", "{:?}", degraded(&status));
        cr.status = Some(status);
    }
}

// Bug 9: a lost credentials Secret beside existing volumes is reported, and
// no password is made up for data that was initialised with another.
#[tokio::test]
async fn a_lost_credentials_secret_is_never_silently_replaced() {
    let (fake, ctx, mut cr) = up_with_claims(&[("mini-postgres", "postgres-primary")]).await;
    let secret = format!("{NS}/secrets/mini-credentials");
    let backup = fake.get(&secret).unwrap();
    // Someone deletes the Secret; the PostgreSQL volume stays.
    fake.remove(&secret);
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    assert!(!fake.exists(&format!("{NS}/secrets/mini-credentials")), "no new passwords for old data");
    assert!(applies(&calls).is_empty(), "nothing that reads the passwords is applied");
    let status = status_patch(&calls).expect("status");
    let (lost, reason, message) = degraded(&status);
    assert_eq!((lost.as_str(), reason.as_str()), ("True", "CredentialsLost"));
    assert!(message.contains("mini-credentials") && message.contains("docs/operator.md"), "{message}");
    assert_eq!(events(&calls), ["CredentialsLost"]);

    // Restored from the backup (docs/operator.md): applied with its values.
    fake.put(&secret, backup.clone());
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    let applied = applies(&calls).into_iter().find(|c| c.path == secret).expect("the Secret applied");
    assert_eq!(applied.body["data"], backup["data"], "the restored passwords, not new ones");
    assert_eq!(degraded(&cr.status.clone().unwrap()).0, "False");
}

// Server-side apply: a person's apply of a field the operator owns is a
// conflict; forced, it wins until the next reconcile puts the field back.
#[tokio::test]
async fn fields_the_operator_owns_are_put_back() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::Api;
    use kube::api::{Patch, PatchParams};

    let (fake, ctx, mut cr) = up_with_claims(&[]).await;
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "shop");
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mini-app"}, "spec": {"replicas": 10}});
    let refused = deployments.patch("mini-app", &PatchParams::apply("kubectl"), &Patch::Apply(&scale)).await;
    assert!(matches!(refused, Err(kube::Error::Api(ref s)) if s.code == 409), "{refused:?}");
    deployments
        .patch("mini-app", &PatchParams::apply("kubectl").force(), &Patch::Apply(&scale))
        .await
        .unwrap();
    assert_eq!(fake.get(&format!("{APPS}/deployments/mini-app")).unwrap()["spec"]["replicas"], 10);

    reconcile_once(&fake, &ctx, &mut cr).await;
    assert_eq!(fake.get(&format!("{APPS}/deployments/mini-app")).unwrap()["spec"]["replicas"], 3);
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
    assert_eq!(condition(&status, "BackupsHealthy"), ("True".into(), "ContinuousArchiving".into()));
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
    assert_eq!(action, Action::await_change());
    let calls = fake.take_calls();
    assert!(applies(&calls).is_empty(), "nothing applied");
    assert!(calls.iter().all(|c| c.method != "DELETE"), "nothing pruned");
    let status = status_patch(&calls).expect("status written");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "ProviderSwitch"));
    assert!(ready.message.contains("Moving between providers"), "{}", ready.message);
    assert!(fake.exists("/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres"));
}

const MONITORING: &str = "/apis/monitoring.coreos.com/v1/namespaces/shop";

// Issue 18: with monitoring on, the PodMonitor and the PrometheusRule are
// applied beside the rest and the Redis nodes get their exporter; switched
// off, both objects are pruned and the exporters go.
#[tokio::test]
async fn monitoring_objects_are_applied_and_pruned_when_switched_off() {
    let fake = Fake::default();
    let ctx = context(&fake);
    let mut cr = cluster(json!({"monitoring": {"enabled": true}}));
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    let applied: Vec<&str> = applies(&calls).iter().map(|c| c.path.as_str()).collect();
    for path in [format!("{MONITORING}/podmonitors/mini"), format!("{MONITORING}/prometheusrules/mini")] {
        assert!(applied.contains(&path.as_str()), "{path} not in {applied:#?}");
    }
    let redis = fake.get(&format!("{APPS}/statefulsets/mini-redis")).unwrap();
    let containers = redis["spec"]["template"]["spec"]["containers"].as_array().unwrap().len();
    assert_eq!(containers, 2, "redis and its exporter");

    cr.spec.monitoring.enabled = Some(false);
    let calls = reconcile_once(&fake, &ctx, &mut cr).await;
    let mut deleted: Vec<&str> =
        calls.iter().filter(|c| c.method == "DELETE").map(|c| c.path.as_str()).collect();
    deleted.sort_unstable();
    assert_eq!(
        deleted,
        [format!("{MONITORING}/podmonitors/mini"), format!("{MONITORING}/prometheusrules/mini")]
    );
    let redis = fake.get(&format!("{APPS}/statefulsets/mini-redis")).unwrap();
    assert_eq!(redis["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1, "exporter gone");
    // Pruned once: the next reconcile succeeds and deletes nothing.
    reconcile(Arc::new(cr.clone()), ctx).await.expect("reconciled");
    assert!(!fake.take_calls().iter().any(|c| c.method == "DELETE"));
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

// Issue 18: the operator's default (its chart's monitoring.clusterDefault)
// turns monitoring on for a spec that does not say, and never over a spec
// that says no.
#[tokio::test]
async fn the_operators_default_turns_monitoring_on_where_the_spec_is_silent() {
    let fake = Fake::default();
    let ctx = Arc::new(
        Context::with_passwords(fake.client(), Arc::new(Metrics::default()), Box::new(Fixed))
            .with_defaults(OperatorDefaults { monitoring: true }),
    );
    let mut silent = cluster(json!({}));
    let calls = reconcile_once(&fake, &ctx, &mut silent).await;
    assert!(applies(&calls).iter().any(|c| c.path == format!("{MONITORING}/prometheusrules/mini")));

    let mut off = cluster(json!({"monitoring": {"enabled": false}}));
    let calls = reconcile_once(&fake, &ctx, &mut off).await;
    assert!(!applies(&calls).iter().any(|c| c.path.starts_with(MONITORING)), "the spec says no");
    let deleted = calls.iter().filter(|c| c.method == "DELETE" && c.path.starts_with(MONITORING)).count();
    assert_eq!(deleted, 2, "and what the default made is pruned");
}
