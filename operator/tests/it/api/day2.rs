//! Day-2 edits of a live cluster, answered by a real API server: storage
//! grown (the claims patched, which the server allows only for bound
//! claims of a class that expands) and shrunk (refused, with the reason),
//! the read replica switched off (pruned), and an operator killed in the
//! middle of a reconcile (the next one finishes the work).

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use payrail_operator::crd::PaymentCluster;
use serde_json::{Value, json};

use super::{Namespace, Operator, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);
/// A class whose volumes may grow; nothing provisions it (the test binds
/// each claim to a volume it makes, as a provisioner would).
const EXPANDABLE: &str = "payrail-test-expandable";

fn cluster(namespace: &str, postgres_size: &str, read_replica: bool) -> Value {
    json!({
        "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": namespace},
        "spec": {
            "app": {"replicas": 1},
            "redis": {"nodes": 1, "storage": {"size": "256Mi", "storageClass": EXPANDABLE}},
            "rabbitmq": {"storage": {"size": "1Gi", "storageClass": EXPANDABLE}},
            "postgres": {"readReplica": read_replica, "storage": {"size": postgres_size, "storageClass": EXPANDABLE}},
        },
    })
}

async fn expandable_class(client: &Client) {
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class = serde_json::from_value(json!({
        "metadata": {"name": EXPANDABLE},
        "provisioner": "payrail.dev/none",
        "allowVolumeExpansion": true,
        "volumeBindingMode": "Immediate",
    }))
    .unwrap();
    match classes.create(&PostParams::default(), &class).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("{e}"),
    }
}

/// Makes a volume for every claim in `namespace` and lets the controller
/// manager's binder bind them, as a dynamic provisioner would.
async fn bind_claims(client: &Client, namespace: &str) {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for claim in claims.list(&ListParams::default()).await.unwrap().items {
        let name = claim.metadata.name.clone().unwrap();
        let size =
            claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"]
                .0
                .clone();
        let volume = serde_json::from_value(json!({
            "metadata": {"name": format!("{namespace}-{name}")},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": EXPANDABLE,
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": format!("/nonexistent/{namespace}/{name}")},
                "claimRef": {"namespace": namespace, "name": name},
            },
        }))
        .unwrap();
        volumes.create(&PostParams::default(), &volume).await.unwrap();
    }
    eventually("every claim bound", SETTLE, async || {
        let unbound: Vec<String> = claims
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound"))
            .filter_map(|c| c.metadata.name)
            .collect();
        if unbound.is_empty() { Ok(()) } else { Err(format!("unbound {unbound:?}")) }
    })
    .await;
}

async fn postgres_claims(client: &Client, namespace: &str) -> Vec<PersistentVolumeClaim> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let list = ListParams::default().labels("app.kubernetes.io/component=postgres-primary");
    claims.list(&list).await.unwrap().items
}

fn requested(claim: &PersistentVolumeClaim) -> String {
    claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0.clone()
}

async fn degraded(client: &Client, namespace: &str) -> Result<String, String> {
    let clusters: Api<PaymentCluster> = Api::namespaced(client.clone(), namespace);
    let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
    let status = cr.status.ok_or("no status")?;
    if status.observed_generation != cr.metadata.generation {
        return Err("not observed yet".into());
    }
    let degraded = status.conditions.iter().find(|c| c.type_ == "Degraded").ok_or("no Degraded")?;
    if degraded.status == "True" { Ok(degraded.message.clone()) } else { Err(degraded.message.clone()) }
}

#[tokio::test]
async fn storage_grows_on_bound_claims_and_never_shrinks() {
    let plane = shared();
    let admin = plane.admin().await;
    expandable_class(&admin).await;
    let namespace = Namespace::new(plane, "storage").await;
    let ns = namespace.name.as_str();
    let operator = Operator::start(plane, ns);
    apply_cluster(&admin, &cluster(ns, "1Gi", false)).await.unwrap();
    eventually("the claims", SETTLE, async || {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(admin.clone(), ns);
        let n = claims.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len();
        if n >= 3 { Ok(()) } else { Err(format!("{n} claims")) }
    })
    .await;
    bind_claims(&admin, ns).await;

    apply_cluster(&admin, &cluster(ns, "2Gi", false)).await.unwrap();
    eventually("the primary's claim asks for 2Gi", SETTLE, async || {
        let claims = postgres_claims(&admin, ns).await;
        match claims.as_slice() {
            [claim] if requested(claim) == "2Gi" => Ok(()),
            other => {
                Err(format!("{:?}\n{}", other.iter().map(requested).collect::<Vec<_>>(), operator.log()))
            }
        }
    })
    .await;
    // The template cannot change: the StatefulSet keeps the size it was made with.
    let statefulsets: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
    let primary = statefulsets.get("mini-postgres").await.unwrap();
    let template = &primary.spec.unwrap().volume_claim_templates.unwrap()[0];
    assert_eq!(requested(template), "1Gi");

    apply_cluster(&admin, &cluster(ns, "1Gi", false)).await.unwrap();
    let message = eventually("a shrink refused", SETTLE, async || degraded(&admin, ns).await).await;
    assert!(message.contains("cannot shrink") && message.contains("postgres.storage.size"), "{message}");
    assert_eq!(requested(&postgres_claims(&admin, ns).await[0]), "2Gi", "the volume shrank");
}

#[tokio::test]
async fn switching_the_read_replica_off_prunes_it() {
    let plane = shared();
    let admin = plane.admin().await;
    let namespace = Namespace::new(plane, "replica").await;
    let ns = namespace.name.as_str();
    let _operator = Operator::start(plane, ns);
    apply_cluster(&admin, &cluster(ns, "1Gi", true)).await.unwrap();
    let statefulsets: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
    eventually("the replica", SETTLE, async || {
        statefulsets.get_opt("mini-postgres-ro").await.map_err(|e| e.to_string())?.ok_or("none".to_owned())
    })
    .await;
    // A ConfigMap with the cluster's labels that the operator did not make:
    // pruning deletes what it built and no longer builds, nothing else.
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    let notes = serde_json::from_value(json!({"metadata": {"name": "mini-notes", "labels": {
        "app.kubernetes.io/instance": "mini", "app.kubernetes.io/managed-by": "payrail-operator"}}}))
    .unwrap();
    config_maps.create(&PostParams::default(), &notes).await.unwrap();
    apply_cluster(&admin, &cluster(ns, "1Gi", false)).await.unwrap();
    eventually("the replica pruned", SETTLE, async || match statefulsets.get_opt("mini-postgres-ro").await {
        Ok(None) => Ok(()),
        other => Err(format!("{:?}", other.map(|s| s.map(|s| s.metadata.name)))),
    })
    .await;
    assert!(statefulsets.get_opt("mini-postgres").await.unwrap().is_some(), "the primary went too");
    let services: Api<Service> = Api::namespaced(admin.clone(), ns);
    assert!(services.get_opt("mini-postgres-ro").await.unwrap().is_none(), "the replica's Service stayed");
    assert!(
        config_maps.get_opt("mini-notes").await.unwrap().is_some(),
        "a ConfigMap it did not make was pruned"
    );
}

// An operator killed (SIGKILL, as an OOM kill or a node loss) in the
// middle of its first reconcile: the next operator process finishes the
// work from what the server holds, with the same passwords.
#[tokio::test]
async fn an_operator_killed_mid_reconcile_is_finished_by_the_next() {
    let plane = shared();
    let admin = plane.admin().await;
    let namespace = Namespace::new(plane, "killed").await;
    let ns = namespace.name.as_str();
    let first = Operator::start_with(plane, ns, &["--leader-election=false"], "-first");
    apply_cluster(&admin, &cluster(ns, "1Gi", true)).await.unwrap();
    // As soon as the first object lands, before the reconcile can be done.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(admin.clone(), ns);
    let secret = eventually("the credentials Secret", SETTLE, async || {
        secrets.get_opt("mini-credentials").await.map_err(|e| e.to_string())?.ok_or("none".to_owned())
    })
    .await;
    let pid = first.pid();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    drop(first);

    let _second = Operator::start_with(plane, ns, &["--leader-election=false"], "-second");
    let clusters: Api<PaymentCluster> = Api::namespaced(admin.clone(), ns);
    eventually("the cluster reconciled by the second operator", SETTLE, async || {
        let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
        let status = cr.status.ok_or("no status")?;
        let degraded = status.conditions.iter().find(|c| c.type_ == "Degraded").ok_or("no Degraded")?;
        let applied = status.observed_generation == cr.metadata.generation && degraded.status == "False";
        let statefulsets: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
        let n = statefulsets.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len();
        if applied && n == 4 { Ok(()) } else { Err(format!("{n} StatefulSets, {:?}", status.conditions)) }
    })
    .await;
    let after = secrets.get("mini-credentials").await.unwrap();
    assert_eq!(after.data, secret.data, "the passwords changed");
    let owners = after.metadata.owner_references.unwrap_or_default();
    assert!(owners.is_empty(), "volumes are kept, so the Secret has no owner: {owners:?}");
}
