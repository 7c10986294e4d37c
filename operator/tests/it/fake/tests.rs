//! The fake refuses what a real API server refuses: each rule, once,
//! through a real kube client.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::*;

fn statefulset(size: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": 1, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}]
        }
    })
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn statefulset_updates_outside_the_template_are_refused() {
    let fake = Fake::default();
    let api: Api<StatefulSet> = Api::namespaced(fake.client(), "shop");
    let apply = PatchParams::apply("payrail-operator").force();
    api.patch("db", &apply, &Patch::Apply(statefulset("10Gi"))).await.unwrap();
    // The template and replicas may change.
    let mut scaled = statefulset("10Gi");
    scaled["spec"]["replicas"] = json!(3);
    api.patch("db", &apply, &Patch::Apply(scaled)).await.unwrap();
    // The claim templates may not.
    let (code, message) = api_error(api.patch("db", &apply, &Patch::Apply(statefulset("20Gi"))).await);
    assert_eq!(code, 422);
    assert!(message.contains("updates to statefulset spec for fields other than"), "{message}");
}

#[tokio::test]
async fn apply_conflicts_between_managers_unless_forced() {
    let fake = Fake::default();
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    let cm = |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": value}});
    api.patch("c", &PatchParams::apply("one"), &Patch::Apply(cm("a"))).await.unwrap();
    // The same value is shared ownership, not a conflict.
    api.patch("c", &PatchParams::apply("two"), &Patch::Apply(cm("a"))).await.unwrap();
    let (code, message) = api_error(api.patch("c", &PatchParams::apply("two"), &Patch::Apply(cm("b"))).await);
    assert_eq!(code, 409);
    assert!(message.contains("conflict with \"one\""), "{message}");
    api.patch("c", &PatchParams::apply("two").force(), &Patch::Apply(cm("b"))).await.unwrap();
    assert_eq!(fake.get("/api/v1/namespaces/shop/configmaps/c").unwrap()["data"]["k"], "b");
    // A field its manager stops applying is removed.
    let empty = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    api.patch("c", &PatchParams::apply("two"), &Patch::Apply(empty)).await.unwrap();
    assert_eq!(fake.get("/api/v1/namespaces/shop/configmaps/c").unwrap()["data"]["k"], Value::Null);
}

#[tokio::test]
async fn deleting_a_missing_object_is_not_found() {
    let fake = Fake::default();
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    let (code, _) = api_error(api.delete("nothing", &DeleteParams::default()).await);
    assert_eq!(code, 404);
}

#[tokio::test]
async fn pods_failing_restricted_are_refused_where_the_namespace_enforces_it() {
    let fake = Fake::default();
    let api: Api<StatefulSet> = Api::namespaced(fake.client(), "shop");
    let apply = PatchParams::apply("payrail-operator").force();
    // Not enforced: admitted.
    api.patch("db", &apply, &Patch::Apply(statefulset("1Gi"))).await.unwrap();
    fake.label_namespace("shop", &[("pod-security.kubernetes.io/enforce", "restricted")]);
    let (code, message) = api_error(api.patch("db", &apply, &Patch::Apply(statefulset("1Gi"))).await);
    assert_eq!(code, 403);
    for control in ["runAsNonRoot", "seccompProfile", "allowPrivilegeEscalation", "capabilities"] {
        assert!(message.contains(control), "{control}: {message}");
    }
    // A hardened template passes.
    let mut hardened = statefulset("1Gi");
    hardened["spec"]["template"]["spec"]["securityContext"] =
        json!({"runAsNonRoot": true, "runAsUser": 999, "seccompProfile": {"type": "RuntimeDefault"}});
    hardened["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    api.patch("db", &apply, &Patch::Apply(hardened)).await.unwrap();
}
