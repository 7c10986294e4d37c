//! Pure builders: every object a `PaymentCluster` needs, as a function of
//! the resource and of what was read from the cluster (the credentials
//! Secret, whose passwords are never regenerated). No client, no I/O: the
//! controller applies what these return, `payment-operator render` prints
//! it, and the tests read it directly.

mod app;
mod credentials;
mod postgres;
mod rabbitmq;
mod redis;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{Resource, ResourceExt};
use serde::Serialize;

pub use credentials::{Credentials, PasswordSource, RandomPasswords};

use crate::crd::PaymentCluster;

/// The field manager of every write: one owner for every field we set.
pub const MANAGER: &str = "payrail-operator";

/// One object to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Child {
    Secret(Box<Secret>),
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
    StatefulSet(Box<StatefulSet>),
    Deployment(Box<Deployment>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
}

impl Child {
    pub fn kind(&self) -> &'static str {
        match self {
            Child::Secret(_) => "Secret",
            Child::ConfigMap(_) => "ConfigMap",
            Child::Service(_) => "Service",
            Child::StatefulSet(_) => "StatefulSet",
            Child::Deployment(_) => "Deployment",
            Child::PodDisruptionBudget(_) => "PodDisruptionBudget",
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Child::Secret(o) => &o.metadata,
            Child::ConfigMap(o) => &o.metadata,
            Child::Service(o) => &o.metadata,
            Child::StatefulSet(o) => &o.metadata,
            Child::Deployment(o) => &o.metadata,
            Child::PodDisruptionBudget(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }
}

/// The components of a cluster, as named in labels and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    App,
    Redis,
    Rabbitmq,
    PostgresPrimary,
    PostgresReplica,
    Credentials,
}

impl Component {
    pub fn label(self) -> &'static str {
        match self {
            Component::App => "app",
            Component::Redis => "redis",
            Component::Rabbitmq => "rabbitmq",
            Component::PostgresPrimary => "postgres-primary",
            Component::PostgresReplica => "postgres-replica",
            Component::Credentials => "credentials",
        }
    }
}

/// Names of every child, in one place: Services are what other objects
/// point at, so a typo here would break wiring, not just a name.
#[derive(Debug, Clone)]
pub struct Names {
    pub cluster: String,
    pub namespace: String,
}

impl Names {
    pub fn of(cr: &PaymentCluster) -> Self {
        Names { cluster: cr.name_any(), namespace: cr.namespace().unwrap_or_else(|| "default".into()) }
    }
    pub fn credentials(&self) -> String {
        format!("{}-credentials", self.cluster)
    }
    pub fn app(&self) -> String {
        format!("{}-app", self.cluster)
    }
    pub fn api_service(&self) -> String {
        format!("{}-api", self.cluster)
    }
    pub fn redis(&self) -> String {
        format!("{}-redis", self.cluster)
    }
    pub fn redis_config(&self) -> String {
        format!("{}-redis-config", self.cluster)
    }
    pub fn rabbitmq(&self) -> String {
        format!("{}-rabbitmq", self.cluster)
    }
    /// The primary's StatefulSet and its read-write Service.
    pub fn postgres(&self) -> String {
        format!("{}-postgres", self.cluster)
    }
    /// The replica's StatefulSet and its read-only Service.
    pub fn postgres_replica(&self) -> String {
        format!("{}-postgres-ro", self.cluster)
    }
    pub fn postgres_scripts(&self) -> String {
        format!("{}-postgres-scripts", self.cluster)
    }
    /// A host name inside the cluster.
    pub fn host(&self, service: &str) -> String {
        format!("{service}.{}.svc", self.namespace)
    }
}

/// The `app.kubernetes.io` labels every child carries; `selector_labels`
/// is the subset that picks a component's pods and never changes.
pub fn labels(cr: &PaymentCluster, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(cr, component);
    labels.insert("app.kubernetes.io/part-of".into(), "payrail".into());
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
    labels
}

pub fn selector_labels(cr: &PaymentCluster, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "payrail".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), cr.name_any()),
        ("app.kubernetes.io/component".to_owned(), component.label().to_owned()),
    ])
}

pub fn selector(cr: &PaymentCluster, component: Component) -> LabelSelector {
    LabelSelector { match_labels: Some(selector_labels(cr, component)), ..LabelSelector::default() }
}

/// Metadata of a child: name, namespace, labels and the owner reference
/// that lets Kubernetes delete it with its `PaymentCluster`.
pub fn meta(cr: &PaymentCluster, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: cr.namespace(),
        labels: Some(labels(cr, component)),
        // A resource read from a file (`render`) has no uid yet: its
        // children get their owner when the operator applies them.
        owner_references: cr.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// A PersistentVolumeClaim template for a StatefulSet.
fn volume_claim(name: &str, storage: &crate::crd::StorageSpec) -> PersistentVolumeClaim {
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    PersistentVolumeClaim {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(storage.size.clone()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// What happens to a StatefulSet's volumes when it is deleted with its
/// `PaymentCluster`: kept unless the spec asks otherwise.
fn retention(
    cr: &PaymentCluster,
) -> k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
    let when_deleted = if cr.spec.delete_volumes_on_delete { "Delete" } else { "Retain" };
    k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(when_deleted.into()),
        when_scaled: Some("Retain".into()),
    }
}

/// Every object of the cluster, in the order they are applied: credentials
/// and scripts first, then the data services, then the app.
pub fn build(cr: &PaymentCluster, credentials: &Credentials) -> Vec<Child> {
    let names = Names::of(cr);
    let mut children = vec![credentials::secret(cr, &names, credentials)];
    children.extend(postgres::children(cr, &names));
    children.extend(redis::children(cr, &names));
    children.extend(rabbitmq::children(cr, &names));
    children.extend(app::children(cr, &names));
    children
}

#[cfg(test)]
pub(crate) mod tests;
