//! Updates of the builtin PostgreSQL in CloudNativePG's order: one server
//! at a time, the replica first and the primary only once the replica runs
//! its new template and is ready. A bad image or setting then stops at the
//! replica while the primary keeps taking writes, and the two are never
//! down together. Applying both StatefulSets at once rolled both at once.
//!
//! One exception, from PostgreSQL itself: a hot standby refuses to start
//! with a lower `max_connections` than its primary's, so a lower value
//! goes to the primary first and the replica follows.
//!
//! Pure: the decision is a function of the desired and the existing
//! StatefulSets; `reconcile` holds the second one back until the first is
//! rolled out (a later reconcile, woken by the StatefulSet's status), but
//! never a second that is down itself.

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::ResourceExt;

use crate::reconcile::build::postgres;
use crate::reconcile::validate::ValidatedCluster;

/// The two PostgreSQL StatefulSets in the order they roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub first: String,
    pub second: String,
}

/// The order of this update, or `None` when there is none to keep: no
/// primary and replica StatefulSets of payrail's (another provider, or no
/// replica), or one of the two not made yet (a new
/// primary is needed before a replica can copy it; a new replica has
/// nothing to roll).
pub fn turn(valid: &ValidatedCluster, existing: &[StatefulSet]) -> Option<Turn> {
    let sets = postgres::provider(&valid.postgres).server_statefulsets(&valid.names);
    let [primary, replica]: [String; 2] = sets.try_into().ok()?;
    let find = |name: &str| existing.iter().find(|s| s.name_any() == name);
    let (_, current_replica) = (find(&primary)?, find(&replica)?);
    let lowered = max_connections(current_replica).is_some_and(|now| valid.connections.max_connections < now);
    Some(if lowered {
        Turn { first: primary, second: replica }
    } else {
        Turn { first: replica, second: primary }
    })
}

/// `max_connections` of a PostgreSQL StatefulSet's server, as it runs.
fn max_connections(set: &StatefulSet) -> Option<i32> {
    let pod = set.spec.as_ref()?.template.spec.as_ref()?;
    let server = pod.containers.iter().find(|c| c.name == "postgres")?;
    server.args.iter().flatten().find_map(|arg| arg.strip_prefix("max_connections=")?.parse().ok())
}

/// Whether the second StatefulSet waits for the first (as this reconcile
/// applied it; `None` when it was refused): while the first has not rolled
/// out, a second that serves keeps what it runs. A second that is down
/// itself is not held back: its update may be the fix (a primary that
/// cannot start leaves the replica unable to copy it, and a cluster
/// waiting on both would wait forever).
pub fn waits(first: Option<&StatefulSet>, second: Option<&StatefulSet>) -> bool {
    second.is_some_and(rolled_out) && !first.is_some_and(rolled_out)
}

/// Whether a StatefulSet, as the API server returned it, has rolled out its
/// template: the controller saw its last change, every pod is of the new
/// revision, and every pod is ready.
pub fn rolled_out(set: &StatefulSet) -> bool {
    let desired = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = &set.status else { return false };
    let observed = set.metadata.generation.is_some() && status.observed_generation >= set.metadata.generation;
    observed
        && status.current_revision.is_some()
        && status.current_revision == status.update_revision
        && status.updated_replicas == Some(desired)
        && status.ready_replicas == Some(desired)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::StatefulSetStatus;

    use super::*;
    use crate::reconcile::build::tests::{fixture, valid};
    use crate::reconcile::build::{Child, Credentials, Observed, build, tests::Counting};

    fn built(cr: &crate::crd::PaymentCluster) -> Vec<StatefulSet> {
        build(&valid(cr), &Credentials::complete(None, &mut Counting(0)), &Observed::default())
            .into_iter()
            .filter_map(|c| match c {
                Child::StatefulSet(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    fn turn_of(first: &str, second: &str) -> Option<Turn> {
        Some(Turn { first: first.into(), second: second.into() })
    }

    #[test]
    fn the_replica_rolls_first_but_a_lower_max_connections_goes_to_the_primary_first() {
        let cr = fixture("minimal");
        let existing = built(&cr);
        assert_eq!(turn(&valid(&cr), &existing), turn_of("mini-postgres-ro", "mini-postgres"));
        let mut more = cr.clone();
        more.spec.postgres.max_connections = Some(500);
        assert_eq!(turn(&valid(&more), &existing), turn_of("mini-postgres-ro", "mini-postgres"));
        let mut fewer = cr.clone();
        fewer.spec.postgres.max_connections = Some(100);
        assert_eq!(turn(&valid(&fewer), &existing), turn_of("mini-postgres", "mini-postgres-ro"));

        // Nothing to order: a new cluster, a new replica, no replica.
        assert_eq!(turn(&valid(&cr), &[]), None);
        let primary_only: Vec<_> =
            existing.iter().filter(|s| s.name_any() == "mini-postgres").cloned().collect();
        assert_eq!(turn(&valid(&cr), &primary_only), None);
        let mut alone = cr.clone();
        alone.spec.postgres.read_replica = false;
        assert_eq!(turn(&valid(&alone), &existing), None);
    }

    #[test]
    fn rolled_out_means_observed_updated_and_ready() {
        let mut set = built(&fixture("minimal")).remove(0);
        set.metadata.generation = Some(2);
        let done = StatefulSetStatus {
            observed_generation: Some(2),
            replicas: 1,
            updated_replicas: Some(1),
            ready_replicas: Some(1),
            current_revision: Some("r2".into()),
            update_revision: Some("r2".into()),
            ..StatefulSetStatus::default()
        };
        let with = |status: StatefulSetStatus| StatefulSet { status: Some(status), ..set.clone() };
        assert!(rolled_out(&with(done.clone())));
        assert!(!rolled_out(&with(StatefulSetStatus { observed_generation: Some(1), ..done.clone() })));
        assert!(!rolled_out(&with(StatefulSetStatus {
            current_revision: Some("r1".into()),
            ..done.clone()
        })));
        assert!(!rolled_out(&with(StatefulSetStatus { ready_replicas: Some(0), ..done.clone() })));
        assert!(!rolled_out(&with(StatefulSetStatus { updated_replicas: Some(0), ..done.clone() })));
        assert!(!rolled_out(&StatefulSet { status: None, ..set.clone() }));

        let (serving, rolling) =
            (with(done.clone()), with(StatefulSetStatus { ready_replicas: Some(0), ..done }));
        assert!(waits(Some(&rolling), Some(&serving)), "the second waits for the first");
        assert!(waits(None, Some(&serving)), "and for a first the server refused");
        assert!(!waits(Some(&serving), Some(&serving)), "the first is done: the second's turn");
        assert!(!waits(Some(&rolling), Some(&rolling)), "a second that is down gets its update at once");
        assert!(!waits(Some(&rolling), None));
    }
}
