//! What a node drain may take, as the real API server's eviction API and
//! the controller manager's disruption controller decide it from the
//! operator's PodDisruptionBudgets. The test plays the kubelet (pods
//! started through their status subresource, see `readiness`) and
//! `kubectl drain` (an eviction per pod, which is all a drain is).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{EvictParams, ListParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::readiness::start_pods;
use super::{Namespace, Operator, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);

fn cluster(namespace: &str) -> Value {
    json!({
        "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": namespace},
        "spec": {
            "app": {"replicas": 1},
            "redis": {"nodes": 1, "storage": {"size": "256Mi"}},
            "postgres": {"storage": {"size": "1Gi"}},
            "rabbitmq": {"storage": {"size": "1Gi"}},
        },
    })
}

/// Every budget has been computed by the disruption controller over the
/// pods as they are now (each of its pods counted healthy).
async fn budgets_settled(client: &Client, namespace: &str) -> Result<(), String> {
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let list = budgets.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
    if list.is_empty() {
        return Err("no budgets yet".into());
    }
    for budget in list {
        let status = budget.status.clone().unwrap_or_default();
        let computed = status.observed_generation == budget.metadata.generation;
        if !computed || status.expected_pods == 0 || status.current_healthy < status.expected_pods {
            return Err(format!("{:?}: {status:?}", budget.metadata.name));
        }
    }
    Ok(())
}

// Issue 25 item 4: with one budget over primary and replica, a drain of the
// primary's node evicted the only server that takes writes.
#[tokio::test]
async fn a_drain_takes_the_postgres_replica_but_never_the_primary() {
    let plane = shared();
    let namespace = Namespace::new(plane, "drain").await;
    let _operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    apply_cluster(&admin, &cluster(ns)).await.unwrap();

    eventually("every pod started and every budget computed", SETTLE, async || {
        start_pods(&admin, ns, |_| true).await;
        let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
        let names: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        if !["mini-postgres-0", "mini-postgres-ro-0"].iter().all(|n| names.iter().any(|m| m == n)) {
            return Err(format!("pods: {names:?}"));
        }
        budgets_settled(&admin, ns).await
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(plane.admin_without_retries().await, ns);
    let refused = pods.evict("mini-postgres-0", &EvictParams::default()).await;
    match refused {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 429, "{status:?}");
            assert!(status.message.contains("disruption budget"), "{status:?}");
        }
        other => panic!("the primary was evicted: {other:?}"),
    }
    pods.evict("mini-postgres-ro-0", &EvictParams::default()).await.expect("the replica may be drained");
}
