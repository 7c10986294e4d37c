//! The status of a `PaymentCluster`, computed from what the cluster
//! reports about its children: pure, so every transition is tested without
//! a cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::crd::{PaymentCluster, PaymentClusterStatus};
use crate::names::Names;
use crate::reconcile::build::counts::{deployment_status, statefulset_status};
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
    // The database is counted, and its own conditions worded, by its
    // provider: payrail's StatefulSets, CloudNativePG's Cluster, or nothing.
    let provider = postgres::provider(plan);
    let postgres = provider.readiness(&names, children).unwrap_or(before.postgres);
    let waiting: Vec<String> =
        [("app", &app), ("redis", &redis), ("rabbitmq", &rabbitmq), ("postgres", &postgres)]
            .iter()
            .filter(|(_, c)| !c.is_ready())
            .map(|(name, c)| format!("{name} {}", c.summary))
            .collect();
    let mut all = readiness(conditions, &waiting, failures, refusals, not_streaming);
    all.extend(
        provider
            .conditions(&names, children)
            .into_iter()
            .map(|report| conditions.condition(report.type_, report.ok, report.reason, report.message)),
    );
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

/// The `Ready` condition's status, if any.
pub fn is_ready(status: Option<&PaymentClusterStatus>) -> bool {
    status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests;
