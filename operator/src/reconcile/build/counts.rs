//! Ready and desired pods of a workload, from the object as the API server
//! returned it (status included). Status counts the app, Redis and RabbitMQ
//! with these; the PostgreSQL providers count their servers with them too.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, StatefulSet, StatefulSetStatus};

use crate::crd::ComponentStatus;

/// Ready counts only pods of the current template: during a rollout the old
/// ones do not make the app "ready" on the new image.
pub fn deployment_status(d: &Deployment) -> ComponentStatus {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.as_ref();
    let current = d.metadata.generation.is_some()
        && status.and_then(|s| s.observed_generation) >= d.metadata.generation;
    let count = |f: fn(&DeploymentStatus) -> Option<i32>| status.and_then(f).unwrap_or(0);
    let ready = new_ready(count(|s| s.replicas), count(|s| s.updated_replicas), count(|s| s.ready_replicas));
    ComponentStatus::new(if current { ready } else { 0 }, desired)
}

pub fn statefulset_status(s: &StatefulSet) -> ComponentStatus {
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = s.status.as_ref();
    let current = s.metadata.generation.is_some()
        && status.and_then(|s| s.observed_generation) >= s.metadata.generation;
    let count = |f: fn(&StatefulSetStatus) -> Option<i32>| status.and_then(f).unwrap_or(0);
    let ready =
        new_ready(count(|s| Some(s.replicas)), count(|s| s.updated_replicas), count(|s| s.ready_replicas));
    ComponentStatus::new(if current { ready } else { 0 }, desired)
}

/// How many pods of the current revision are ready, for certain. The
/// controllers count ready pods of every revision together: while pods of
/// the old one remain (`total - updated`), as many of the ready ones may
/// be old. Counting them as new would call a rollout done while its last
/// new pod has not started.
pub fn new_ready(total: i32, updated: i32, ready: i32) -> i32 {
    let old = (total - updated).max(0);
    (ready - old).clamp(0, updated.max(0))
}
