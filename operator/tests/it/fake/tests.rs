//! The fake answers as a real API server does where the tests rely on it
//! (server-side apply conflicts, a missing object's 404), through a real
//! kube client.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::*;

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected an API error, got {other:?}"),
    }
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
