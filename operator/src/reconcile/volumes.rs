//! Volume sizes after the first apply. A StatefulSet's claim templates
//! cannot change, so a new `storage.size` reaches the volumes as patches
//! of the existing claims (expansion), and a smaller one is refused with a
//! message: a volume never shrinks. Pure: a function of the spec and the
//! claims that were read.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt;

use super::failure::ChildFailure;
use crate::crd::StorageSpec;
use crate::reconcile::build::Component;
use crate::reconcile::validate::{ValidatedCluster, parse_quantity};

/// A claim to grow to `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    pub claim: String,
    pub size: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub grow: Vec<Growth>,
    pub refused: Vec<ChildFailure>,
}

fn storage_of<'a>(valid: &'a ValidatedCluster, component: &str) -> Option<(&'static str, &'a StorageSpec)> {
    match component {
        c if c == Component::Redis.label() => Some(("redis.storage.size", &valid.redis.storage)),
        c if c == Component::Rabbitmq.label() => Some(("rabbitmq.storage.size", &valid.rabbitmq.storage)),
        c if c == Component::PostgresPrimary.label() || c == Component::PostgresReplica.label() => {
            Some(("postgres.storage.size", &valid.postgres_server.storage))
        }
        _ => None,
    }
}

pub fn plan(valid: &ValidatedCluster, claims: &[PersistentVolumeClaim]) -> Plan {
    let mut plan = Plan::default();
    for claim in claims {
        let labels = claim.labels();
        let Some((field, storage)) =
            labels.get("app.kubernetes.io/component").and_then(|c| storage_of(valid, c))
        else {
            continue;
        };
        let requested = claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone());
        let (Some(requested), Some(wanted)) = (requested, parse_quantity(&storage.size)) else {
            continue;
        };
        match parse_quantity(&requested) {
            Some(current) if wanted > current => {
                plan.grow.push(Growth { claim: claim.name_any(), size: storage.size.clone() })
            }
            Some(current) if wanted < current => plan.refused.push(ChildFailure::refused(
                "PersistentVolumeClaim",
                claim.name_any(),
                format!(
                    "{field} {} is smaller than the volume's {requested}: a volume cannot shrink; set it back to {requested} or more",
                    storage.size
                ),
            )),
            _ => {}
        }
    }
    plan
}
