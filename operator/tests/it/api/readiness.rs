//! `Ready` as the real controllers report it. No kubelet runs here, so the
//! test plays the kubelet's part: it writes each Pod's status (Running,
//! Ready) through the Pod status subresource, and the controller manager's
//! own StatefulSet, ReplicaSet and Deployment controllers turn that into
//! the workload statuses the operator reads.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use payrail_operator::crd::PaymentCluster;
use serde_json::{Value, json};

use super::{Namespace, Operator, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);

fn cluster(namespace: &str, image: &str) -> Value {
    json!({
        "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": namespace},
        "spec": {
            "app": {"replicas": 2, "image": image},
            "redis": {"nodes": 1, "storage": {"size": "256Mi"}},
            "postgres": {"readReplica": false, "storage": {"size": "1Gi"}},
            "rabbitmq": {"storage": {"size": "1Gi"}},
        },
    })
}

/// What the kubelet would report for a started pod whose probes pass.
async fn start(pods: &Api<Pod>, pod: &Pod) {
    let name = pod.metadata.name.as_deref().unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let ready = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    let status = json!({"status": {
        "phase": "Running",
        "startTime": now,
        "conditions": [ready("PodScheduled"), ready("Initialized"), ready("ContainersReady"), ready("Ready")],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Starts every pod not started yet whose name `select` accepts.
pub(super) async fn start_pods(client: &Client, namespace: &str, select: impl Fn(&Pod) -> bool) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut started = 0;
    for pod in pods.list(&ListParams::default()).await.unwrap().items {
        if !is_ready(&pod) && pod.metadata.deletion_timestamp.is_none() && select(&pod) {
            start(&pods, &pod).await;
            started += 1;
        }
    }
    started
}

async fn ready_condition(client: &Client, namespace: &str) -> Result<(String, String, String), String> {
    let clusters: Api<PaymentCluster> = Api::namespaced(client.clone(), namespace);
    let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
    let status = cr.status.ok_or("no status")?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").ok_or("no Ready")?;
    Ok((ready.status.clone(), ready.reason.clone(), status.app.summary.clone()))
}

#[tokio::test]
async fn ready_when_every_pod_is_and_not_before_a_rollout_is_done() {
    let plane = shared();
    let namespace = Namespace::new(plane, "ready").await;
    let _operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    apply_cluster(&admin, &cluster(ns, "ghcr.io/payrail/payment-app:0.1.0")).await.unwrap();

    // Every pod the controllers make is started, as they appear (a
    // StatefulSet makes its pods one by one): the cluster becomes Ready.
    eventually("Ready with every pod started", SETTLE, async || {
        start_pods(&admin, ns, |_| true).await;
        match ready_condition(&admin, ns).await? {
            (status, reason, app) if status == "True" => Ok((reason, app)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A new image: the Deployment surges one new pod; the test starts it,
    // so the Deployment makes the second new pod and takes one old pod
    // away. Now two pods are ready (one old, one new) and two are updated,
    // but the last new pod has not started: the app is not 2/2 and the
    // cluster is not Ready until it has.
    apply_cluster(&admin, &cluster(ns, "ghcr.io/payrail/payment-app:0.2.0")).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), ns);
    let app_pod = |pod: &Pod| pod.metadata.name.as_deref().is_some_and(|n| n.starts_with("mini-app-"));
    eventually("the first new app pod", SETTLE, async || {
        if start_pods(&admin, ns, app_pod).await > 0 { Ok(()) } else { Err("none yet".to_owned()) }
    })
    .await;
    eventually("the second new app pod, one old pod left", SETTLE, async || {
        let app = deployments.get("mini-app").await.map_err(|e| e.to_string())?;
        let status = app.status.unwrap_or_default();
        let (total, updated, ready) = (
            status.replicas.unwrap_or(0),
            status.updated_replicas.unwrap_or(0),
            status.ready_replicas.unwrap_or(0),
        );
        if (total, updated, ready) == (3, 2, 2) && status.observed_generation == app.metadata.generation {
            Ok(())
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await;
    // Let the operator see that status (it watches its Deployments).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, reason, app) = ready_condition(&admin, ns).await.unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str(), app.as_str()),
        ("False", "ComponentsNotReady", "1/2"),
        "Ready while the last new app pod is not"
    );

    // Start the new pods as they come: the rollout ends and Ready returns.
    eventually("Ready again once the new pods are", SETTLE, async || {
        start_pods(&admin, ns, |_| true).await;
        match ready_condition(&admin, ns).await? {
            (status, _, app) if status == "True" => Ok(app),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
