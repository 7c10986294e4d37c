//! The status of a `PaymentCluster`, computed from what the cluster
//! reports about its children: pure, so every transition is tested without
//! a cluster.

mod backups;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::child::Source;
use crate::cnpg::RecoveryWindow;
use crate::crd::{ComponentStatus, PaymentCluster, PaymentClusterStatus};
use crate::names::Names;
use crate::reconcile::build::{Child, postgres};
use crate::reconcile::failure::ChildFailure;
use crate::reconcile::validate::PostgresPlan;

/// The reason of a cluster whose credentials Secret was lost beside
/// volumes that hold data initialised with it.
pub const CREDENTIALS_LOST: &str = "CredentialsLost";

/// The reason of a cluster whose credentials Secret the API server
/// refused (RBAC, admission): nothing else is applied until it is taken.
pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";

/// The reason of a cluster whose spec names another PostgreSQL provider
/// than the one its data is on (the CRD's transition rule refuses that;
/// an older CRD may not have).
pub const PROVIDER_SWITCH: &str = "ProviderSwitch";

/// The reason of a cluster whose PostgreSQL pod refused to start on its
/// volume, to keep the ledger (a primary's lost volume, a replica of
/// another database).
pub const VOLUME_REFUSED: &str = "VolumeRefused";
/// `Degraded`: the builtin read replica has not streamed from its primary
/// for a minute or more while the primary serves; at five its pod is
/// restarted (`reconcile::replica`).
pub const REPLICA_NOT_STREAMING: &str = "ReplicaNotStreaming";
/// The Warning event of that restart.
pub const REPLICA_RESTARTED: &str = "ReplicaRestarted";

/// What a reconcile came to.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// The spec breaks rules the schema cannot state; nothing was applied.
    Invalid(&'a [String]),
    /// Something outside the spec must be fixed first (`reason`); nothing
    /// was applied.
    Blocked { reason: &'a str, message: &'a str },
    /// Every child was attempted: `objects` as the API server returned them
    /// (status included), `failures` those it refused, with its message;
    /// `refusals` the data pods that refused their volume, with theirs.
    /// `not_streaming` says why the builtin read replica is about to be
    /// restarted (`reconcile::replica`). `postgres` is the validated
    /// provider: which of the objects run the database.
    Applied {
        postgres: &'a PostgresPlan,
        objects: &'a [Child],
        failures: &'a [ChildFailure],
        refusals: &'a [String],
        not_streaming: Option<&'a str>,
    },
}

/// What `Outcome::Applied` says about the children.
#[derive(Clone, Copy)]
struct Applied<'a> {
    objects: &'a [Child],
    failures: &'a [ChildFailure],
    refusals: &'a [String],
    not_streaming: Option<&'a str>,
}

/// Makes conditions whose transition time moves only when their status does.
struct Conditions<'a> {
    previous: &'a [Condition],
    generation: Option<i64>,
    now: Time,
}

impl Conditions<'_> {
    fn condition(&self, type_: &str, ok: bool, reason: &str, message: String) -> Condition {
        let status = if ok { "True" } else { "False" };
        let last_transition_time = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map_or_else(|| self.now.clone(), |c| c.last_transition_time.clone());
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: self.generation,
            last_transition_time,
        }
    }
}

pub fn compute(
    cr: &PaymentCluster,
    outcome: &Outcome<'_>,
    previous: Option<&PaymentClusterStatus>,
    now: Time,
) -> PaymentClusterStatus {
    let conditions = Conditions {
        previous: previous.map(|p| p.conditions.as_slice()).unwrap_or_default(),
        generation: cr.metadata.generation,
        now,
    };
    let stopped = |conditions: Vec<Condition>| PaymentClusterStatus {
        observed_generation: cr.metadata.generation,
        conditions,
        ..previous.cloned().unwrap_or_default()
    };
    match outcome {
        Outcome::Invalid(problems) => {
            let message = format!("invalid spec: {}", problems.join("; "));
            stopped(vec![
                conditions.condition("Ready", false, "InvalidSpec", message.clone()),
                conditions.condition(
                    "Progressing",
                    false,
                    "InvalidSpec",
                    "waiting for the spec to be fixed".into(),
                ),
                conditions.condition("Degraded", true, "InvalidSpec", message),
            ])
        }
        Outcome::Blocked { reason, message } => stopped(vec![
            conditions.condition("Ready", false, reason, (*message).to_owned()),
            conditions.condition("Progressing", false, reason, "waiting for the cause to be fixed".into()),
            conditions.condition("Degraded", true, reason, (*message).to_owned()),
        ]),
        Outcome::Applied { postgres, objects, failures, refusals, not_streaming } => {
            let outcome = Applied { objects, failures, refusals, not_streaming: *not_streaming };
            applied(cr, postgres, &outcome, previous, &conditions)
        }
    }
}

/// The status after every child was attempted: counts from what the API
/// server returned, conditions from them and from the failures.
fn applied(
    cr: &PaymentCluster,
    plan: &PostgresPlan,
    outcome: &Applied<'_>,
    previous: Option<&PaymentClusterStatus>,
    conditions: &Conditions<'_>,
) -> PaymentClusterStatus {
    let Applied { objects: children, failures, refusals, not_streaming } = *outcome;
    let names = Names::of(cr);
    // A workload that was not applied keeps the counts last seen.
    let before = previous.cloned().unwrap_or_default();
    let app = children.iter().find_map(|c| match c {
        Child::Deployment(d) if d.name_any() == names.app() => Some(deployment_status(d)),
        _ => None,
    });
    let statefulset = |name: String| {
        children.iter().find_map(|c| match c {
            Child::StatefulSet(s) if s.name_any() == name => Some(statefulset_status(s)),
            _ => None,
        })
    };
    let app = app.unwrap_or(before.app);
    let redis = statefulset(names.redis()).unwrap_or(before.redis);
    let rabbitmq = statefulset(names.rabbitmq()).unwrap_or(before.rabbitmq);
    let cnpg = children.iter().find_map(|c| match c {
        Child::CnpgCluster(cluster) => Some(cluster.as_ref()),
        _ => None,
    });
    // The database is counted from what runs it, as the provider says:
    // payrail's own StatefulSets, or CloudNativePG's Cluster.
    let provider = postgres::provider(plan);
    let servers = provider.server_statefulsets(&names);
    let runs_cnpg = provider.sources().contains(&Source::Cnpg);
    let postgres = match servers.split_first() {
        Some((primary, replica)) => {
            let primary = statefulset(primary.clone());
            let replica = replica.first().and_then(|r| statefulset(r.clone()));
            match (primary, &replica) {
                (Some(p), Some(r)) => ComponentStatus::new(p.ready + r.ready, p.desired + r.desired),
                (Some(p), None) => p,
                (None, _) => before.postgres,
            }
        }
        None if runs_cnpg => cnpg.map_or(before.postgres, cnpg_status),
        // Nothing of it runs here: nothing to wait for.
        None => ComponentStatus { ready: 0, desired: 0, summary: "external".into() },
    };
    let waiting: Vec<String> =
        [("app", &app), ("redis", &redis), ("rabbitmq", &rabbitmq), ("postgres", &postgres)]
            .iter()
            .filter(|(_, c)| !c.is_ready())
            .map(|(name, c)| format!("{name} {}", c.summary))
            .collect();
    let mut all = readiness(conditions, &waiting, failures, refusals, not_streaming);
    if runs_cnpg {
        // The plugin keys its report by server name, which payrail leaves
        // at its default: the CNPG Cluster's name.
        let window = children.iter().find_map(|c| match c {
            Child::ObjectStore(store) => {
                store.status.as_ref().and_then(|s| s.server_recovery_window.get(&names.postgres()))
            }
            _ => None,
        });
        let backup = provider.backs_up().then_some(window);
        all.extend(cnpg_conditions(conditions, cnpg, backup));
    }
    PaymentClusterStatus {
        observed_generation: cr.metadata.generation,
        conditions: all,
        app,
        redis,
        rabbitmq,
        postgres,
        api_service: Some(names.api_service()),
    }
}

/// `Ready`, `Progressing` and `Degraded` of a cluster whose children were
/// applied, with `waiting` the components not ready yet.
fn readiness(
    conditions: &Conditions<'_>,
    waiting: &[String],
    failures: &[ChildFailure],
    refusals: &[String],
    not_streaming: Option<&str>,
) -> Vec<Condition> {
    let each: Vec<String> = refusals
        .iter()
        .cloned()
        .chain(not_streaming.map(str::to_owned))
        .chain(failures.iter().map(ChildFailure::to_string))
        .collect();
    // A pod guarding the ledger outranks an object not applied: it needs a
    // person (docs/operator.md says what to do), and it is what the
    // message leads with.
    // A replica about to be restarted comes next: reads all go to the
    // primary meanwhile, and the operator acts on it by itself.
    let degraded = if !refusals.is_empty() {
        conditions.condition("Degraded", true, VOLUME_REFUSED, each.join("; "))
    } else if not_streaming.is_some() {
        conditions.condition("Degraded", true, REPLICA_NOT_STREAMING, each.join("; "))
    } else if !failures.is_empty() {
        conditions.condition("Degraded", true, "ApplyFailed", each.join("; "))
    } else {
        conditions.condition("Degraded", false, "AsExpected", "all objects applied".into())
    };
    if waiting.is_empty() {
        vec![
            conditions.condition("Ready", true, "AllComponentsReady", "every component is ready".into()),
            conditions.condition("Progressing", false, "Stable", "nothing is rolling out".into()),
            degraded,
        ]
    } else {
        let message = format!("waiting for {}", waiting.join(", "));
        vec![
            conditions.condition("Ready", false, "ComponentsNotReady", message.clone()),
            conditions.condition("Progressing", true, "RollingOut", message),
            degraded,
        ]
    }
}

/// CNPG's own count of ready instances (it runs and replaces the pods).
fn cnpg_status(cluster: &crate::cnpg::Cluster) -> ComponentStatus {
    let status = cluster.status.as_ref();
    let desired = status.and_then(|s| s.instances).unwrap_or(cluster.spec.instances);
    ComponentStatus::new(status.and_then(|s| s.ready_instances).unwrap_or(0), desired)
}

/// CNPG's `Ready`, mirrored as `DatabaseReady`, and `BackupsHealthy`
/// (`kubectl get paycl` shows it) from CNPG's `ContinuousArchiving` and
/// the plugin's recovery window ([`backups::verdict`]). `backup` is `None`
/// without `postgres.backup`, else the recovery window if reported.
fn cnpg_conditions(
    conditions: &Conditions<'_>,
    cluster: Option<&crate::cnpg::Cluster>,
    backup: Option<Option<&RecoveryWindow>>,
) -> Vec<Condition> {
    let reported = |type_: &str| {
        cluster
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .map(|c| (c.status == "True", c.message.as_str()))
    };
    let ready = match reported("Ready") {
        Some((true, message)) => conditions.condition("DatabaseReady", true, "ClusterReady", message.into()),
        Some((false, message)) => {
            conditions.condition("DatabaseReady", false, "ClusterNotReady", message.into())
        }
        None => conditions.condition(
            "DatabaseReady",
            false,
            "NotReported",
            "CloudNativePG has not reported on the cluster yet".into(),
        ),
    };
    let backups = match backup {
        None => conditions.condition(
            "BackupsHealthy",
            false,
            "BackupsNotConfigured",
            "postgres.backup is not set: no WAL is archived and no base backup taken".into(),
        ),
        Some(window) => {
            let verdict = backups::verdict(reported("ContinuousArchiving"), window);
            conditions.condition("BackupsHealthy", verdict.healthy, verdict.reason, verdict.message)
        }
    };
    vec![ready, backups]
}

/// Ready counts only pods of the current template: during a rollout the old
/// ones do not make the app "ready" on the new image.
fn deployment_status(d: &Deployment) -> ComponentStatus {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.as_ref();
    let current = d.metadata.generation.is_some()
        && status.and_then(|s| s.observed_generation) >= d.metadata.generation;
    let count =
        |f: fn(&k8s_openapi::api::apps::v1::DeploymentStatus) -> Option<i32>| status.and_then(f).unwrap_or(0);
    let ready = new_ready(count(|s| s.replicas), count(|s| s.updated_replicas), count(|s| s.ready_replicas));
    ComponentStatus::new(if current { ready } else { 0 }, desired)
}

fn statefulset_status(s: &StatefulSet) -> ComponentStatus {
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = s.status.as_ref();
    let current = s.metadata.generation.is_some()
        && status.and_then(|s| s.observed_generation) >= s.metadata.generation;
    let count = |f: fn(&k8s_openapi::api::apps::v1::StatefulSetStatus) -> Option<i32>| {
        status.and_then(f).unwrap_or(0)
    };
    let ready =
        new_ready(count(|s| Some(s.replicas)), count(|s| s.updated_replicas), count(|s| s.ready_replicas));
    ComponentStatus::new(if current { ready } else { 0 }, desired)
}

/// How many pods of the current revision are ready, for certain. The
/// controllers count ready pods of every revision together: while pods of
/// the old one remain (`total - updated`), as many of the ready ones may
/// be old. Counting them as new would call a rollout done while its last
/// new pod has not started.
fn new_ready(total: i32, updated: i32, ready: i32) -> i32 {
    let old = (total - updated).max(0);
    (ready - old).clamp(0, updated.max(0))
}

/// The `Ready` condition's status, if any.
pub fn is_ready(status: Option<&PaymentClusterStatus>) -> bool {
    status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests;
