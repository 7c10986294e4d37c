//! Pods that must not share a node: the Redis nodes of one quorum (a node
//! failure must cost at most one vote), and the PostgreSQL primary and its
//! replica (a node failure must not take both). `Required` by default;
//! `Preferred` lets a one-node cluster run at all.

use super::meta::{Component, components_selector};
use crate::crd::AntiAffinity;
use crate::reconcile::validate::ValidatedCluster;
use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm};

const HOSTNAME: &str = "kubernetes.io/hostname";

/// Keeps a pod off every node that runs a pod of `apart_from` (its own
/// component included, when listed) of the same cluster.
pub fn apart(valid: &ValidatedCluster, apart_from: &[Component]) -> Affinity {
    let term = PodAffinityTerm {
        topology_key: HOSTNAME.into(),
        label_selector: Some(components_selector(&valid.owner, apart_from)),
        ..PodAffinityTerm::default()
    };
    let anti = match valid.placement.anti_affinity {
        AntiAffinity::Required => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..PodAntiAffinity::default()
        },
        AntiAffinity::Preferred => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: term,
            }]),
            ..PodAntiAffinity::default()
        },
    };
    Affinity { pod_anti_affinity: Some(anti), ..Affinity::default() }
}
