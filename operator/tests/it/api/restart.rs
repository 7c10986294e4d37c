//! The API server restarted under a running operator (an upgrade of the
//! control plane, a failover between API servers): every watch breaks,
//! and the operator must watch again, or it would act on a stale cache
//! forever. A control plane of this test's own, since a restart would
//! break every other test's watches too.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::json;

use super::{ControlPlane, Namespace, Operator, apply_cluster, eventually, root, run, shared};

const SETTLE: Duration = Duration::from_secs(120);
/// How soon an edit made after the restart is reconciled: the watches come
/// back within seconds (each backs off from 0.8 s); before the fix the
/// operator's cache was still stale after two minutes.
const AFTER_RESTART: Duration = Duration::from_secs(45);

/// Stops the test's control plane when the test ends, however it ends.
struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/kube-down")).arg(&self.0).status();
    }
}

fn cluster(namespace: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": namespace},
        "spec": {"app": {"replicas": replicas}, "redis": {"nodes": 1}},
    })
}

// It failed before each watch had a backoff of its own (controller.rs,
// `backing_off`): the watches' errors after the restart paused all of them
// together, growing to 30 s a turn, and the edit below had not reached the
// operator's cache two minutes later.
#[tokio::test]
async fn the_operator_watches_again_after_the_api_server_restarts() {
    let dir = shared().dir.with_file_name(format!("kube-testenv-restart-{}", std::process::id()));
    let _down = Down(dir.clone());
    let plane: &'static ControlPlane = Box::leak(Box::new(ControlPlane::up(&dir)));
    plane.install_chart();
    let namespace = Namespace::new(plane, "restart").await;
    let ns = namespace.name.as_str();
    let operator = Operator::start(plane, ns);
    let admin = plane.admin().await;
    apply_cluster(&admin, &cluster(ns, 1)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let replicas = async |want: i32| {
        let app = deployments.get_opt("mini-app").await.map_err(|e| e.to_string())?.ok_or("no app")?;
        let replicas = app.spec.and_then(|s| s.replicas);
        if replicas == Some(want) { Ok(()) } else { Err(format!("replicas {replicas:?}")) }
    };
    eventually("the app", SETTLE, async || replicas(1).await).await;

    run(Command::new(root().join("scripts/kube-up")).arg("--restart-apiserver").arg(&dir));
    // A fresh client: the old one's connections died with the server.
    let admin = plane.admin().await;
    apply_cluster(&admin, &cluster(ns, 3)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    eventually("the edit after the restart reconciled", AFTER_RESTART, async || {
        let app = deployments.get("mini-app").await.map_err(|e| e.to_string())?;
        let replicas = app.spec.and_then(|s| s.replicas);
        if replicas == Some(3) { Ok(()) } else { Err(format!("replicas {replicas:?}\n{}", operator.log())) }
    })
    .await;
}
