//! A builtin read replica that has stopped following its primary, and
//! what the operator does about it: restart its pod, so the replica's
//! bootstrap (its init container) runs again.
//!
//! The replica's readiness probe asks whether it streams from the primary;
//! one that does not leaves its Service within 30 s, and the app reads from
//! the primary. Most causes pass by themselves (the primary restarting, a
//! network blip: the WAL receiver retries every 5 s). One never does: the
//! primary gave the replica's slot up (it was away longer than
//! `max_slot_wal_keep_size` lets the primary keep WAL for it), and the WAL
//! it needs is gone. A container restart cannot mend that, since the
//! kubelet runs init containers only when a pod starts; a new pod can: its
//! bootstrap copies the primary again when the slot is gone, starts the
//! copy as it is when the slot is kept, and refuses, deleting nothing,
//! when the primary holds another database.
//!
//! So the decision what to do with the data stays in that one script, with
//! its guards; all the operator decides is when a replica has not streamed
//! long enough while its primary serves ([`not_streaming`]), and it deletes
//! that pod ([`restart`]), with a Warning event, and says so in `Degraded`
//! beforehand. The pace is bounded twice: a new pod must itself fail to
//! stream for [`RESTART_AFTER`] before it is restarted again, and the
//! bootstrap spaces re-clones out (5 minutes, doubling up to 30).
//!
//! CloudNativePG leaves this to a person (`kubectl cnpg destroy` of the
//! instance, its volume with it); the builtin provider keeps the volume and
//! lets its bootstrap decide, which never deletes a copy of another
//! database than the primary's.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::reconcile::build::Component;

/// How long a replica may fail to stream, while its primary serves,
/// before its pod is restarted: well past a primary's restart and the
/// receiver's retries, short of serving nothing for good.
pub const RESTART_AFTER: i64 = 300;
/// From when a replica that does not stream is reported in `Degraded`.
pub const REPORT_AFTER: i64 = 60;
/// How long the primary must have been ready: a replica reconnects to a
/// primary that came back within seconds, and is not to blame before.
pub const PRIMARY_SERVING: i64 = 60;

/// A replica pod that has not streamed from its primary for `seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStreaming {
    pub pod: String,
    /// The pod's uid: the deletion is of this pod only, never of the one
    /// its StatefulSet makes next under the same name.
    pub uid: String,
    pub seconds: i64,
}

impl NotStreaming {
    /// Whether the pod is due for a restart.
    pub fn restart_due(&self) -> bool {
        self.seconds >= RESTART_AFTER
    }

    /// What `Degraded` says while it lasts.
    pub fn message(&self) -> String {
        format!(
            "Pod {}: the read replica has not streamed from the primary for {}s while the primary serves; \
             at {RESTART_AFTER}s its pod is restarted, to be copied again if the primary gave its slot up \
             (never over another database): docs/operator.md, \"A replica that fell behind\"",
            self.pod, self.seconds
        )
    }
}

/// The replica pod that has not streamed for [`REPORT_AFTER`] or more
/// while the primary has been ready for [`PRIMARY_SERVING`], if there is
/// one. `pods` are the cluster's PostgreSQL pods, as listed.
///
/// Only a pod whose server has started counts: one still in its bootstrap
/// (copying, or refusing another database) is not restarted, and one in
/// start-up is still recovering. Not streaming is read from the pod's
/// `Ready` condition, which the readiness probe sets: a replica is ready
/// only while its WAL receiver streams.
pub fn not_streaming(pods: &[Pod], now: Timestamp) -> Option<NotStreaming> {
    let component = |pod: &Pod| pod.labels().get("app.kubernetes.io/component").cloned();
    let is = |pod: &Pod, c: Component| component(pod).as_deref() == Some(c.label());
    let primary_serving = pods
        .iter()
        .filter(|p| is(p, Component::PostgresPrimary) && p.metadata.deletion_timestamp.is_none())
        .any(|p| ready_since(p, "True").is_some_and(|t| seconds(now, t) >= PRIMARY_SERVING));
    if !primary_serving {
        return None;
    }
    pods.iter()
        .filter(|p| is(p, Component::PostgresReplica) && p.metadata.deletion_timestamp.is_none())
        .filter(|p| server_up_not_ready(p))
        .find_map(|p| {
            let since = seconds(now, ready_since(p, "False")?);
            (since >= REPORT_AFTER).then(|| NotStreaming {
                pod: p.name_any(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                seconds: since,
            })
        })
}

/// When the pod's `Ready` condition last became `status`, if it is.
fn ready_since<'a>(pod: &'a Pod, status: &str) -> Option<&'a Time> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready" && c.status == status)?;
    ready.last_transition_time.as_ref()
}

/// The postgres container runs, its start-up probe passed and its
/// readiness probe fails. (The pod's `Ready` says when; the container's
/// own flag keeps a sidecar that is not ready, the metrics exporter, from
/// passing for a replica that does not stream.)
fn server_up_not_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let containers = status.and_then(|s| s.container_statuses.as_ref());
    running
        && containers.is_some_and(|c| {
            c.iter().any(|c| {
                c.name == "postgres"
                    && c.started == Some(true)
                    && !c.ready
                    && c.state.as_ref().is_some_and(|s| s.running.is_some())
            })
        })
}

fn seconds(now: Timestamp, then: &Time) -> i64 {
    now.as_second() - then.0.as_second()
}

/// Deletes the replica's pod (that very pod: a uid precondition), so its
/// StatefulSet starts a new one, init container first. Gone already, or
/// replaced meanwhile, is as good as done.
pub async fn restart(client: &Client, namespace: &str, replica: &NotStreaming) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let only_this = DeleteParams {
        preconditions: Some(Preconditions { uid: Some(replica.uid.clone()), resource_version: None }),
        ..DeleteParams::default()
    };
    match pods.delete(&replica.pod, &only_this).await {
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        result => result.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("a time")
    }

    /// A PostgreSQL pod as the kubelet reports it: `ready` since `since`
    /// (seconds), its server started or not.
    fn pod(component: Component, ready: bool, since: i64, started: bool) -> Pod {
        let state =
            if started { serde_json::json!({"running": {}}) } else { serde_json::json!({"waiting": {}}) };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("mini-{}-0", component.label()), "uid": "u-1",
                         "labels": {"app.kubernetes.io/component": component.label()}},
            "status": {
                "phase": if started { "Running" } else { "Pending" },
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                "lastTransitionTime": at(since).to_string()}],
                "containerStatuses": [{"name": "postgres", "image": "postgres", "imageID": "", "ready": ready,
                                       "restartCount": 0, "started": started, "state": state}],
            },
        }))
        .expect("pod")
    }

    fn judged(pods: &[Pod], now: i64) -> Option<(i64, bool)> {
        not_streaming(pods, at(now)).map(|n| (n.seconds, n.restart_due()))
    }

    // Issue 25, item 6: a replica whose slot was given up left its Service
    // and stayed out of it for good; nothing but a person restarted it.
    #[test]
    fn a_replica_not_streaming_while_its_primary_serves_is_restarted_after_five_minutes() {
        let primary = pod(Component::PostgresPrimary, true, 0, true);
        let replica = pod(Component::PostgresReplica, false, 1_000, true);
        let pods = [primary.clone(), replica.clone()];
        assert_eq!(judged(&pods, 1_030), None, "half a minute: a blip");
        assert_eq!(judged(&pods, 1_100), Some((100, false)), "reported, not yet restarted");
        assert_eq!(judged(&pods, 1_300), Some((300, true)));
        let found = not_streaming(&pods, at(1_300)).expect("stale");
        assert_eq!((found.pod.as_str(), found.uid.as_str()), ("mini-postgres-replica-0", "u-1"));

        // Never while the primary is down or just back: the replica is not
        // to blame, and a new pod of it would decide nothing.
        let down = pod(Component::PostgresPrimary, false, 0, true);
        assert_eq!(judged(&[down, replica.clone()], 1_300), None);
        let just_back = pod(Component::PostgresPrimary, true, 1_280, true);
        assert_eq!(judged(&[just_back, replica.clone()], 1_300), None);
        // Never a replica still in its bootstrap (copying, or refusing
        // another database), nor one that streams.
        let bootstrapping = pod(Component::PostgresReplica, false, 1_000, false);
        assert_eq!(judged(&[primary.clone(), bootstrapping], 1_300), None);
        let streaming = pod(Component::PostgresReplica, true, 1_000, true);
        assert_eq!(judged(&[primary.clone(), streaming], 5_000), None);
        // Nor one whose server streams while a sidecar is not ready.
        let mut exporter_down = replica.clone();
        let statuses =
            exporter_down.status.as_mut().and_then(|s| s.container_statuses.as_mut()).expect("statuses");
        statuses[0].ready = true;
        assert_eq!(judged(&[primary.clone(), exporter_down], 1_300), None);
        // Nor one already being deleted.
        let mut going = replica;
        going.metadata.deletion_timestamp = Some(Time(at(1_299)));
        assert_eq!(judged(&[primary, going], 1_300), None);
    }
}
