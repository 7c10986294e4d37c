//! What every workload's builder shares: volume claim templates and their
//! retention, disruption budgets, and the checksum that rolls a pod when
//! what it reads changes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;
use k8s_openapi::api::core::v1::{
    KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, Secret, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::meta::{Component, meta};
use super::observed::VolumeTemplate;
use crate::child::Child;
use crate::crd::StorageSpec;
use crate::owner::Owner;
use crate::reconcile::validate::Placement;

/// The pod-template annotation that changes whenever a ConfigMap or
/// Secret the pod reads changes, so an edit rolls the pods.
pub const CONFIG_CHECKSUM: &str = "payrail.dev/config-checksum";

/// A PersistentVolumeClaim template for a StatefulSet: as it already
/// exists when it does (it can never change; `reconcile::volumes` grows
/// the claims instead), from the spec otherwise.
pub(super) fn volume_claim(
    existing: Option<&VolumeTemplate>,
    storage: &StorageSpec,
) -> PersistentVolumeClaim {
    let (size, class) = match existing {
        Some(template) => (template.size.clone(), template.storage_class.clone()),
        None => (storage.size.clone(), storage.storage_class.clone()),
    };
    PersistentVolumeClaim {
        metadata: ObjectMeta { name: Some("data".to_owned()), ..ObjectMeta::default() },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: class,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(size))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// What happens to a StatefulSet's volumes when it is deleted with its
/// `PaymentCluster`: kept unless the spec asks otherwise.
pub(super) fn retention(placement: &Placement) -> StatefulSetPersistentVolumeClaimRetentionPolicy {
    let when_deleted = if placement.delete_volumes_on_delete { "Delete" } else { "Retain" };
    StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(when_deleted.into()),
        when_scaled: Some("Retain".into()),
    }
}

/// A PodDisruptionBudget letting a drain evict at most one of the pods
/// `selector` picks at a time.
pub(super) fn disruption_budget(
    owner: &Owner,
    name: String,
    component: Component,
    selector: LabelSelector,
) -> Child {
    budget(
        owner,
        name,
        component,
        selector,
        PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        },
    )
}

/// A PodDisruptionBudget for a single pod that must never be evicted
/// (`minAvailable: 1`): the eviction API refuses every eviction of it
/// (429), so `kubectl drain` waits until a person deletes the pod knowingly.
pub(super) fn unevictable_budget(
    owner: &Owner,
    name: String,
    component: Component,
    selector: LabelSelector,
) -> Child {
    budget(
        owner,
        name,
        component,
        selector,
        PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        },
    )
}

pub(super) fn budget(
    owner: &Owner,
    name: String,
    component: Component,
    selector: LabelSelector,
    spec: PodDisruptionBudgetSpec,
) -> Child {
    Child::PodDisruptionBudget(Box::new(PodDisruptionBudget {
        metadata: meta(owner, name, component),
        spec: Some(PodDisruptionBudgetSpec { selector: Some(selector), ..spec }),
        ..PodDisruptionBudget::default()
    }))
}

/// Stamps the [`CONFIG_CHECKSUM`] annotation on `workload`'s pod template:
/// a SHA-256 over what its pod reads, so it rolls for an edit of that and
/// for nothing else. Of each Secret in `secrets` (its name and data) only
/// the keys the pod reads count, found in the pod as built: the credentials
/// Secret holds every service's password and the API tokens, and rotating
/// a token must not restart PostgreSQL, Redis or RabbitMQ. Each of
/// `config_maps` counts whole.
pub(super) fn stamp(
    mut workload: Child,
    secrets: &[(&str, &BTreeMap<String, Vec<u8>>)],
    config_maps: &[&BTreeMap<String, Vec<u8>>],
) -> Child {
    let template = match &mut workload {
        Child::StatefulSet(s) => s.spec.as_mut().map(|s| &mut s.template),
        Child::Deployment(d) => d.spec.as_mut().map(|s| &mut s.template),
        _ => None,
    };
    if let Some(template) = template {
        let pod = template.spec.clone().unwrap_or_default();
        let read: Vec<_> = secrets.iter().map(|(name, data)| read_by(&pod, name, data)).collect();
        let sum = checksum(read.iter().chain(config_maps.iter().copied()));
        let metadata = template.metadata.get_or_insert_default();
        metadata.annotations.get_or_insert_default().insert(CONFIG_CHECKSUM.to_owned(), sum);
    }
    workload
}

/// The part of Secret `name`'s `data` that `pod` reads: the keys its
/// containers take as variables and its volumes project, or all of it
/// where the whole Secret is taken (`envFrom`, a volume without items).
pub(super) fn read_by(
    pod: &PodSpec,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Vec<u8>> {
    let (mut keys, mut whole) = (BTreeSet::new(), false);
    for container in pod.init_containers.iter().flatten().chain(&pod.containers) {
        for env in container.env.iter().flatten() {
            if let Some(secret) = env.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref())
                && secret.name == name
            {
                keys.insert(secret.key.clone());
            }
        }
        whole |= container
            .env_from
            .iter()
            .flatten()
            .any(|e| e.secret_ref.as_ref().is_some_and(|s| s.name == name));
    }
    let mut project = |items: Option<&Vec<KeyToPath>>| match items {
        Some(items) => keys.extend(items.iter().map(|item| item.key.clone())),
        None => whole = true,
    };
    for volume in pod.volumes.iter().flatten() {
        if let Some(secret) = &volume.secret
            && secret.secret_name.as_deref() == Some(name)
        {
            project(secret.items.as_ref());
        }
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(secret) = &source.secret
                && secret.name == name
            {
                project(secret.items.as_ref());
            }
        }
    }
    data.iter().filter(|(key, _)| whole || keys.contains(*key)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A SHA-256 over every ConfigMap and Secret a pod reads, for its
/// [`CONFIG_CHECKSUM`] annotation.
pub(super) fn checksum<'a>(parts: impl IntoIterator<Item = &'a BTreeMap<String, Vec<u8>>>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        for (key, value) in part {
            hash.update((key.len() as u64).to_be_bytes());
            hash.update(key.as_bytes());
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(value);
        }
        hash.update(b"\n--\n");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A ConfigMap's or Secret's data as bytes, for [`checksum`].
pub(super) fn data_of(child: &Child) -> BTreeMap<String, Vec<u8>> {
    match child {
        Child::ConfigMap(c) => {
            c.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect()
        }
        Child::Secret(s) => secret_data(s),
        _ => BTreeMap::new(),
    }
}

pub(super) fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}
