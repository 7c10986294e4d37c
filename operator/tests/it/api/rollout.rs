//! The builtin PostgreSQL's two servers roll one at a time, in
//! CloudNativePG's order: the replica first, the primary once the replica
//! runs the new template and is ready. The real StatefulSet controller
//! rolls the pods; the test plays the kubelet (pods started through their
//! status, a deleted pod's removal confirmed as the kubelet does once its
//! containers stopped).

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::readiness::start_pods;
use super::{Namespace, Operator, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);
const OLD: &str = "postgres:16.4";
const NEW: &str = "postgres:16.6";

fn cluster(namespace: &str, image: &str) -> Value {
    json!({
        "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": namespace},
        "spec": {
            "app": {"replicas": 1},
            "redis": {"nodes": 1, "storage": {"size": "256Mi"}},
            "postgres": {"image": image, "storage": {"size": "1Gi"}},
            "rabbitmq": {"storage": {"size": "1Gi"}},
        },
    })
}

/// The kubelet's part in a deletion: the pod's containers stopped, it goes.
async fn remove_deleted(client: &Client, namespace: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for pod in pods.list(&ListParams::default()).await.unwrap().items {
        if pod.metadata.deletion_timestamp.is_some() {
            let name = pod.metadata.name.unwrap();
            let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
            let _ = pods.delete(&name, &now).await;
        }
    }
}

/// The kubelet's part: every deleted pod gone, every pod started.
async fn kubelet(client: &Client, namespace: &str) {
    remove_deleted(client, namespace).await;
    start_pods(client, namespace, |_| true).await;
}

/// The image of a StatefulSet's server and whether its rollout is done.
async fn server(client: &Client, namespace: &str, name: &str) -> Result<(String, bool), String> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let set = sets.get(name).await.map_err(|e| e.to_string())?;
    let image =
        set.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|p| p.containers[0].image.clone());
    let done = payrail_operator::reconcile::order::rolled_out(&set);
    Ok((image.flatten().unwrap_or_default(), done))
}

// Issue 25 item 3: every StatefulSet was applied at once, so a new
// PostgreSQL image restarted primary and replica together.
#[tokio::test]
async fn a_new_postgres_image_rolls_the_replica_then_the_primary() {
    let plane = shared();
    let namespace = Namespace::new(plane, "rollout").await;
    let _operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    apply_cluster(&admin, &cluster(ns, OLD)).await.unwrap();
    eventually("both servers rolled out", SETTLE, async || {
        kubelet(&admin, ns).await;
        let servers =
            (server(&admin, ns, "mini-postgres").await?, server(&admin, ns, "mini-postgres-ro").await?);
        match servers {
            ((_, true), (_, true)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    apply_cluster(&admin, &cluster(ns, NEW)).await.unwrap();
    // The replica rolls: its old pod goes and a new one is made (not
    // started: the kubelet's part is held back). Meanwhile the primary
    // keeps its image, reconcile after reconcile.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    eventually("the replica's new pod", SETTLE, async || {
        remove_deleted(&admin, ns).await;
        let replica = pods.get("mini-postgres-ro-0").await.map_err(|e| e.to_string())?;
        let image = replica.spec.map(|s| s.containers[0].image.clone()).unwrap_or_default();
        if image.as_deref() == Some(NEW) { Ok(()) } else { Err(format!("{image:?}")) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (primary, _) = server(&admin, ns, "mini-postgres").await.unwrap();
    assert_eq!(primary, OLD, "the primary rolled before its replica was back");

    // The replica's new pod starts: now the primary's turn.
    eventually("the primary rolled once the replica is back", SETTLE, async || {
        kubelet(&admin, ns).await;
        match server(&admin, ns, "mini-postgres").await? {
            (image, true) if image == NEW => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
