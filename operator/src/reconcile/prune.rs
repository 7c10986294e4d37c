//! The prune step: objects this cluster made and no longer builds (the
//! replica's StatefulSet once `readReplica` is off, the NetworkPolicies
//! once they are switched off) are deleted. An object is this cluster's
//! only when it carries the cluster's instance label, the operator's
//! managed-by label *and* a controller owner reference to this very
//! `PaymentCluster` (its uid): a lookalike someone else made is never
//! touched. The credentials Secret, the volumes and a CloudNativePG
//! `Cluster` are never pruned. The monitoring objects are pruned once
//! `monitoring.enabled` is off. A kind the API server does not serve
//! (CloudNativePG's, the Prometheus Operator's, where they are not
//! installed) has nothing to prune.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tracing::info;

use super::failure::ChildFailure;
use crate::child::{Child, Lifetime, Source, child_kinds};
use crate::reconcile::build::{owned_selector, postgres};
use crate::reconcile::validate::ValidatedCluster;

/// The name a failed list is reported under.
const LIST: &str = "(list)";

/// Which of the `found` objects of one kind are to be deleted: owned by
/// the cluster with `owner_uid` as its controller, and not desired.
pub fn select(kind: &str, desired: &[Child], found: &[ObjectMeta], owner_uid: &str) -> Vec<String> {
    let wanted: BTreeSet<&str> = desired.iter().filter(|c| c.kind() == kind).map(Child::name).collect();
    found
        .iter()
        .filter(|meta| {
            meta.owner_references
                .iter()
                .flatten()
                .any(|owner| owner.uid == owner_uid && owner.controller == Some(true))
        })
        .filter_map(|meta| meta.name.clone())
        .filter(|name| !wanted.contains(name.as_str()))
        .collect()
}

pub async fn prune(client: &Client, valid: &ValidatedCluster, desired: &[Child]) -> Vec<ChildFailure> {
    // Without a uid (never the case for a resource read from the API
    // server) nothing can be proven to be ours: delete nothing.
    let Some(uid) = valid.owner.uid() else {
        return Vec::new();
    };
    let mut failures = Vec::new();
    let namespace = valid.names.namespace.as_str();
    macro_rules! prune_each_kind {
        ($($variant:ident($name:literal): $type:ty, $source:ident, $lifetime:ident;)*) => {$(
            if prunes(valid, Source::$source, Lifetime::$lifetime) {
                failures.extend(prune_kind::<$type>(client, namespace, $name, valid, desired, &uid).await);
            }
        )*};
    }
    child_kinds!(prune_each_kind);
    failures
}

/// Whether prune looks at a kind: one the cluster owns (never the
/// credentials Secret or the CNPG Cluster: they hold the passwords and the
/// data). A PostgreSQL provider's operators' only with that provider in
/// use (CloudNativePG's with CNPG: without it the kinds do not exist); the
/// Prometheus Operator's whether monitoring is on or off.
fn prunes(valid: &ValidatedCluster, source: Source, lifetime: Lifetime) -> bool {
    let in_use = match source {
        Source::Core | Source::PrometheusOperator => true,
        provider => postgres::provider(&valid.postgres).sources().contains(&provider),
    };
    lifetime == Lifetime::Owned && in_use
}

async fn prune_kind<K>(
    client: &Client,
    namespace: &str,
    kind: &'static str,
    valid: &ValidatedCluster,
    desired: &[Child],
    uid: &str,
) -> Vec<ChildFailure>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let found = match api.list(&ListParams::default().labels(&owned_selector(&valid.owner))).await {
        Ok(list) => list.items.into_iter().map(|o| o.meta().clone()).collect::<Vec<_>>(),
        Err(error) => {
            let failure = ChildFailure::from_list_error(kind, LIST, &error);
            // The kind does not exist here (CloudNativePG or the Prometheus
            // Operator is not installed): nothing of it can be left to
            // prune. Where the spec needs the kind, apply has said so once.
            return if failure.is_kind_missing() { Vec::new() } else { vec![failure] };
        }
    };
    let mut failures = Vec::new();
    for name in select(kind, desired, &found, uid) {
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => info!(kind, %name, "pruned: no longer built"),
            // Gone already (a second operator, or a person): done.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => failures.push(ChildFailure::from_error(kind, &name, &error)),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::crd::PostgresProvider;
    use crate::reconcile::build::tests::{fixture, valid};

    #[test]
    fn prune_looks_at_the_owned_kinds_and_at_cnpgs_only_with_cnpg() {
        let pruned = |cr: &crate::crd::PaymentCluster| {
            let valid = valid(cr);
            Child::KINDS
                .iter()
                .filter(|k| prunes(&valid, k.source, k.lifetime))
                .map(|k| k.name)
                .collect::<Vec<_>>()
        };
        let builtin = fixture("minimal");
        let core =
            ["ConfigMap", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget", "NetworkPolicy"];
        assert_eq!(pruned(&builtin), [&core[..], &["PodMonitor", "PrometheusRule"]].concat());
        let mut cnpg = builtin;
        cnpg.spec.postgres.provider = PostgresProvider::Cnpg;
        let cnpgs = ["ScheduledBackup", "Pooler", "ObjectStore", "PodMonitor", "PrometheusRule"];
        assert_eq!(pruned(&cnpg), [&core[..], &cnpgs[..]].concat());
    }

    fn meta(name: &str, owner: Option<(&str, bool)>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|(uid, controller)| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(controller),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn only_owned_objects_no_longer_built_are_selected() {
        let desired = vec![Child::ConfigMap(Box::new(ConfigMap {
            metadata: meta("kept", None),
            ..ConfigMap::default()
        }))];
        let found = [
            meta("kept", Some(("me", true))),
            meta("stale", Some(("me", true))),
            meta("someone-elses", Some(("other", true))),
            meta("not-controlled", Some(("me", false))),
            meta("unowned", None),
        ];
        assert_eq!(select("ConfigMap", &desired, &found, "me"), ["stale"]);
        // A desired object of another kind with the same name does not save it.
        assert_eq!(select("Service", &desired, &found[..1], "me"), ["kept"]);
    }
}
