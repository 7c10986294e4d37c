//! `Ready` as the real controllers report it. No kubelet runs here, so the
//! test plays the kubelet's part: it writes each Pod's status (Running,
//! Ready) through the Pod status subresource, and the controller manager's
//! own StatefulSet, ReplicaSet and Deployment controllers turn that into
//! the workload statuses the operator reads. No CloudNativePG runs either:
//! for `BackupsHealthy` the test writes what CNPG and its Barman Cloud
//! plugin report, through the status subresources of their real CRDs.

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

/// Issue 25: a primary whose volume was lost refuses to initialise a new,
/// empty database while the replica holds the ledger; its init container
/// stops with the reason in its termination message and the pod
/// crash-loops. The test plays the kubelet reporting exactly that; the
/// cluster must say why, not only "waiting for postgres".
#[tokio::test]
async fn a_primary_refusing_its_empty_volume_is_reported_with_its_reason() {
    let plane = shared();
    let namespace = Namespace::new(plane, "guard").await;
    let operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    apply_cluster(&admin, &cluster(ns, "ghcr.io/payrail/payment-app:0.1.0")).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let primary = eventually("the primary's pod", SETTLE, async || {
        pods.get_opt("mini-postgres-0").await.map_err(|e| e.to_string())?.ok_or("not yet".to_owned())
    })
    .await;
    let guard = primary
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|c| c.first())
        .expect("the primary has its volume guard");
    let reason = "payrail: refusing to initialise an empty database: /var/lib/postgresql/data/pgdata is empty, \
                  but the read replica at mini-postgres-ro:5432 holds database system 7350000000000000001. \
                  See docs/operator.md, \"A primary that lost its volume\".";
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = json!({"status": {
        "phase": "Pending",
        "initContainerStatuses": [{
            "name": guard.name, "image": guard.image, "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": reason,
                                         "startedAt": now, "finishedAt": now}},
        }],
    }});
    pods.patch_status("mini-postgres-0", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();

    let clusters: Api<PaymentCluster> = Api::namespaced(admin.clone(), ns);
    let (why, message) = eventually("the refusal in the status", SETTLE, async || {
        let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
        let status = cr.status.ok_or("no status")?;
        let degraded = status.conditions.iter().find(|c| c.type_ == "Degraded" && c.status == "True");
        degraded
            .map(|c| (c.reason.clone(), c.message.clone()))
            .ok_or_else(|| format!("{:?}", status.conditions))
    })
    .await;
    assert_eq!(why, "VolumeRefused", "{message}\n{}", operator.log());
    assert!(message.contains("Pod mini-postgres-0") && message.contains(reason), "{message}");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(admin.clone(), ns);
    eventually("a warning event", SETTLE, async || {
        let all = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
        all.iter()
            .any(|e| e.reason.as_deref() == Some("VolumeRefused"))
            .then_some(())
            .ok_or("none".to_owned())
    })
    .await;
}

async fn backups_condition(client: &Client, namespace: &str) -> Result<(String, String, String), String> {
    let clusters: Api<PaymentCluster> = Api::namespaced(client.clone(), namespace);
    let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
    let status = cr.status.ok_or("no status")?;
    let backups =
        status.conditions.iter().find(|c| c.type_ == "BackupsHealthy").ok_or("no BackupsHealthy")?;
    Ok((backups.status.clone(), backups.reason.clone(), backups.message.clone()))
}

/// Waits until `BackupsHealthy` has `status` and `reason`; returns its message.
async fn backups_become(client: &Client, namespace: &str, status: &str, reason: &str) -> String {
    eventually(&format!("BackupsHealthy {status} {reason}"), SETTLE, async || {
        match backups_condition(client, namespace).await? {
            (s, r, message) if s == status && r == reason => Ok(message),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

// Issue 25, item 7: BackupsHealthy mirrored CNPG's ContinuousArchiving
// alone, so it was True with WAL archived while no base backup had ever
// succeeded, or while every one failed: nothing could be restored. Here
// CNPG reports archiving working throughout, and the plugin's recovery
// window on the ObjectStore decides.
#[tokio::test]
async fn backups_are_healthy_only_once_a_base_backup_succeeded_and_while_none_failed_since() {
    let plane = shared();
    let namespace = Namespace::new(plane, "backups").await;
    let _operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    let mut spec = cluster(ns, "ghcr.io/payrail/payment-app:0.1.0");
    spec["spec"]["postgres"] = json!({
        "provider": "cnpg", "storage": {"size": "1Gi"},
        "backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}},
    });
    apply_cluster(&admin, &spec).await.unwrap();

    let cnpg: Api<payrail_operator::cnpg::Cluster> = Api::namespaced(admin.clone(), ns);
    let stores: Api<payrail_operator::cnpg::ObjectStore> = Api::namespaced(admin.clone(), ns);
    eventually("the CNPG Cluster and its ObjectStore", SETTLE, async || {
        let cluster = cnpg.get_opt("mini-postgres").await.map_err(|e| e.to_string())?;
        let store = stores.get_opt("mini-postgres-backups").await.map_err(|e| e.to_string())?;
        if cluster.is_some() && store.is_some() { Ok(()) } else { Err("not yet".to_owned()) }
    })
    .await;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let condition = |type_: &str, reason: &str| json!({"type": type_, "status": "True", "reason": reason, "message": "", "lastTransitionTime": now});
    let archiving = json!({"status": {"conditions": [
        condition("Ready", "ClusterIsReady"),
        condition("ContinuousArchiving", "ContinuousArchivingSuccess"),
    ]}});
    cnpg.patch_status("mini-postgres", &PatchParams::default(), &Patch::Merge(&archiving)).await.unwrap();
    backups_become(&admin, ns, "False", "NoBaseBackup").await;

    let window = |window: Value| json!({"status": {"serverRecoveryWindow": {"mini-postgres": window}}});
    let succeeded = window(json!({
        "firstRecoverabilityPoint": "2026-03-01T02:00:00Z",
        "lastSuccessfulBackupTime": "2026-03-02T02:00:00Z",
    }));
    stores
        .patch_status("mini-postgres-backups", &PatchParams::default(), &Patch::Merge(&succeeded))
        .await
        .unwrap();
    let message = backups_become(&admin, ns, "True", "Recoverable").await;
    assert!(message.contains("2026-03-02T02:00:00Z"), "{message}");

    let failed = window(json!({"lastFailedBackupTime": "2026-03-03T02:00:00Z"}));
    stores
        .patch_status("mini-postgres-backups", &PatchParams::default(), &Patch::Merge(&failed))
        .await
        .unwrap();
    let message = backups_become(&admin, ns, "False", "BaseBackupFailing").await;
    assert!(
        message.contains("2026-03-03T02:00:00Z") && message.contains("2026-03-02T02:00:00Z"),
        "{message}"
    );
}

/// What the kubelet reports for a builtin PostgreSQL pod whose server
/// started: `Ready` (its readiness probe) `ready` since `seconds` ago.
async fn report_server(pods: &Api<Pod>, name: &str, ready: bool, seconds: i64) {
    let now = k8s_openapi::jiff::Timestamp::now();
    let since = k8s_openapi::jiff::Timestamp::from_second(now.as_second() - seconds).unwrap().to_string();
    let flag = if ready { "True" } else { "False" };
    let condition = |t: &str, s: &str| json!({"type": t, "status": s, "lastTransitionTime": since});
    let status = json!({"status": {
        "phase": "Running",
        "startTime": since,
        "conditions": [condition("PodScheduled", "True"), condition("Initialized", "True"),
                       condition("ContainersReady", flag), condition("Ready", flag)],
        "containerStatuses": [{"name": "postgres", "image": "postgres", "imageID": "", "ready": ready,
                               "restartCount": 1, "started": true, "state": {"running": {"startedAt": since}}}],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

// Issue 25, item 6: a builtin read replica that stopped streaming (the
// primary gave its slot up) left its Service and stayed out for good; the
// runbook said "kubectl delete pod". The operator says so in `Degraded`
// after a minute, and at five, with the primary serving, deletes that pod
// (so its bootstrap re-clones), with a Warning event.
#[tokio::test]
async fn a_replica_that_does_not_stream_is_reported_then_restarted() {
    let plane = shared();
    let namespace = Namespace::new(plane, "stale").await;
    let operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let ns = namespace.name.as_str();
    let mut spec = cluster(ns, "ghcr.io/payrail/payment-app:0.1.0");
    spec["spec"]["postgres"]["readReplica"] = json!(true);
    apply_cluster(&admin, &spec).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns);
    let replica = eventually("the replica's pod", SETTLE, async || {
        pods.get_opt("mini-postgres-ro-0").await.map_err(|e| e.to_string())?.ok_or("not yet".to_owned())
    })
    .await;
    eventually("the primary's pod", SETTLE, async || {
        pods.get_opt("mini-postgres-0").await.map_err(|e| e.to_string())?.ok_or("not yet".to_owned())
    })
    .await;
    report_server(&pods, "mini-postgres-0", true, 3_600).await;
    // Two minutes without streaming: said, not acted on.
    report_server(&pods, "mini-postgres-ro-0", false, 120).await;
    let clusters: Api<PaymentCluster> = Api::namespaced(admin.clone(), ns);
    let message = eventually("ReplicaNotStreaming in Degraded", SETTLE, async || {
        let cr = clusters.get("mini").await.map_err(|e| e.to_string())?;
        let status = cr.status.ok_or("no status")?;
        let degraded = status.conditions.iter().find(|c| c.type_ == "Degraded" && c.status == "True");
        match degraded {
            Some(c) if c.reason == "ReplicaNotStreaming" => Ok(c.message.clone()),
            _ => Err(format!("{:?}", status.conditions)),
        }
    })
    .await;
    assert!(message.contains("Pod mini-postgres-ro-0") && message.contains("docs/operator.md"), "{message}");
    let uid = replica.metadata.uid.clone().unwrap();
    let now = pods.get("mini-postgres-ro-0").await.unwrap();
    assert_eq!(now.metadata.uid.as_ref(), Some(&uid), "restarted before its time\n{}", operator.log());
    assert!(now.metadata.deletion_timestamp.is_none());

    // Five minutes: that pod is deleted (no kubelet here to finish the
    // deletion: the pod is gone or terminating).
    report_server(&pods, "mini-postgres-ro-0", false, 301).await;
    eventually("the replica's pod deleted", SETTLE, async || {
        match pods.get_opt("mini-postgres-ro-0").await.map_err(|e| e.to_string())? {
            Some(p) if p.metadata.uid.as_ref() == Some(&uid) && p.metadata.deletion_timestamp.is_none() => {
                Err("still there".to_owned())
            }
            _ => Ok(()),
        }
    })
    .await;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(admin.clone(), ns);
    let note = eventually("a ReplicaRestarted event", SETTLE, async || {
        let all = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
        all.iter()
            .find(|e| e.reason.as_deref() == Some("ReplicaRestarted"))
            .and_then(|e| e.message.clone())
            .ok_or("none".to_owned())
    })
    .await;
    assert!(note.contains("mini-postgres-ro-0") && note.contains("never over another database"), "{note}");
    // The primary is never touched.
    assert!(pods.get("mini-postgres-0").await.unwrap().metadata.deletion_timestamp.is_none());
}
