//! Pure builders: every object a `PaymentCluster` needs, as a function of
//! the validated resource and of what the dereference step read (the
//! credentials, whose passwords are never regenerated; the claim templates
//! that exist, which can never change). No client, no I/O: the controller
//! applies what these return, `payment-operator render` prints it, and the
//! tests read it directly.
//!
//! Each data service is its own module behind the same seam (children of
//! a `ValidatedCluster`), so another way to run one (an operator-managed
//! PostgreSQL, an external server) is a sibling module, not an edit of
//! every builder.

mod alerts;
pub mod app;
pub mod cnpg;
pub mod credentials;
pub mod monitoring;
mod network;
mod placement;
mod postgres;
mod rabbitmq;
mod redis;
mod security;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy};
use k8s_openapi::api::core::v1::{
    ConfigMap, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, Secret, Service,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use credentials::{Credentials, PasswordSource, RandomPasswords};

use crate::crd::{PaymentCluster, PostgresProvider, StorageSpec};
use crate::validate::ValidatedCluster;

/// The field manager of every write: one owner for every field we set.
pub const MANAGER: &str = "payrail-operator";

/// The pod-template annotation that changes whenever a ConfigMap or
/// Secret the pod reads changes, so an edit rolls the pods.
pub const CONFIG_CHECKSUM: &str = "payrail.dev/config-checksum";

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
    NetworkPolicy(Box<NetworkPolicy>),
    /// CloudNativePG's kinds (`postgres.provider: cnpg`).
    CnpgCluster(Box<crate::cnpg::Cluster>),
    ScheduledBackup(Box<crate::cnpg::ScheduledBackup>),
    Pooler(Box<crate::cnpg::Pooler>),
    ObjectStore(Box<crate::cnpg::ObjectStore>),
    /// The Prometheus Operator's kinds (`monitoring.enabled`).
    PodMonitor(Box<crate::prometheus::PodMonitor>),
    PrometheusRule(Box<crate::prometheus::PrometheusRule>),
}

impl Child {
    /// Every kind a child can be.
    pub const KINDS: [&'static str; 13] = [
        "Secret",
        "ConfigMap",
        "Service",
        "StatefulSet",
        "Deployment",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Cluster",
        "ScheduledBackup",
        "Pooler",
        "ObjectStore",
        "PodMonitor",
        "PrometheusRule",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Child::Secret(_) => "Secret",
            Child::ConfigMap(_) => "ConfigMap",
            Child::Service(_) => "Service",
            Child::StatefulSet(_) => "StatefulSet",
            Child::Deployment(_) => "Deployment",
            Child::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Child::NetworkPolicy(_) => "NetworkPolicy",
            Child::CnpgCluster(_) => "Cluster",
            Child::ScheduledBackup(_) => "ScheduledBackup",
            Child::Pooler(_) => "Pooler",
            Child::ObjectStore(_) => "ObjectStore",
            Child::PodMonitor(_) => "PodMonitor",
            Child::PrometheusRule(_) => "PrometheusRule",
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
            Child::NetworkPolicy(o) => &o.metadata,
            Child::CnpgCluster(o) => &o.metadata,
            Child::ScheduledBackup(o) => &o.metadata,
            Child::Pooler(o) => &o.metadata,
            Child::ObjectStore(o) => &o.metadata,
            Child::PodMonitor(o) => &o.metadata,
            Child::PrometheusRule(o) => &o.metadata,
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
    Monitoring,
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
            Component::Monitoring => "monitoring",
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
    pub fn rabbitmq_config(&self) -> String {
        format!("{}-rabbitmq-config", self.cluster)
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
    /// The CNPG pooler and its Service.
    pub fn postgres_pooler(&self) -> String {
        format!("{}-postgres-pooler", self.cluster)
    }
    /// The CNPG backups' object store and their schedule.
    pub fn postgres_backups(&self) -> String {
        format!("{}-postgres-backups", self.cluster)
    }
    /// A host name inside the cluster.
    pub fn host(&self, service: &str) -> String {
        format!("{service}.{}.svc", self.namespace)
    }
}

/// What the dereference step read that the objects depend on.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The claim template of each data StatefulSet that exists, by name:
    /// Kubernetes never lets it change, so it is built as it is.
    pub claim_templates: BTreeMap<String, VolumeTemplate>,
    /// The API-tokens Secret the spec names, for the app's checksum.
    pub tokens: Option<Secret>,
    /// The `external` provider's database Secret, for the app's checksum.
    pub database: Option<Secret>,
    /// The pod management policy of each StatefulSet that exists: it can
    /// never change either.
    pub pod_management: BTreeMap<String, String>,
    /// The CNPG `Cluster`, once it exists, as an owner for what must live
    /// exactly as long as it does (`cnpg` provider).
    pub cnpg_cluster: Option<OwnerReference>,
}

/// The size and class a StatefulSet's claim template was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeTemplate {
    pub size: String,
    pub storage_class: Option<String>,
}

impl VolumeTemplate {
    pub fn of(claim: &PersistentVolumeClaim) -> Option<Self> {
        let spec = claim.spec.as_ref()?;
        let size = spec.resources.as_ref()?.requests.as_ref()?.get("storage")?.0.clone();
        Some(VolumeTemplate { size, storage_class: spec.storage_class_name.clone() })
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

/// The pods of any of `components` of this cluster.
pub fn components_selector(cr: &PaymentCluster, components: &[Component]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            [
                ("app.kubernetes.io/name".to_owned(), "payrail".to_owned()),
                ("app.kubernetes.io/instance".to_owned(), cr.name_any()),
            ]
            .into(),
        ),
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "app.kubernetes.io/component".into(),
            operator: "In".into(),
            values: Some(components.iter().map(|c| c.label().to_owned()).collect()),
        }]),
    }
}

/// The label selector of every object the operator applied for `cr`
/// (prune narrows it further to objects this `PaymentCluster` controls).
pub fn owned_selector(cr: &PaymentCluster) -> String {
    format!("app.kubernetes.io/instance={},app.kubernetes.io/managed-by={MANAGER}", cr.name_any())
}

/// The label selector of the cluster's volumes: the StatefulSet controller
/// labels each claim with its pods' selector labels.
pub fn volume_labels(cr: &PaymentCluster) -> String {
    format!("app.kubernetes.io/name=payrail,app.kubernetes.io/instance={}", cr.name_any())
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

/// A PersistentVolumeClaim template for a StatefulSet: as it already
/// exists when it does (it can never change; `reconcile::volumes` grows
/// the claims instead), from the spec otherwise.
fn volume_claim(existing: Option<&VolumeTemplate>, storage: &StorageSpec) -> PersistentVolumeClaim {
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
fn retention(cr: &PaymentCluster) -> StatefulSetPersistentVolumeClaimRetentionPolicy {
    let when_deleted = if cr.spec.delete_volumes_on_delete { "Delete" } else { "Retain" };
    StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(when_deleted.into()),
        when_scaled: Some("Retain".into()),
    }
}

/// A PodDisruptionBudget letting a drain evict at most one of the pods
/// `selector` picks at a time.
fn disruption_budget(
    cr: &PaymentCluster,
    name: String,
    component: Component,
    selector: LabelSelector,
) -> Child {
    budget(
        cr,
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
fn unevictable_budget(
    cr: &PaymentCluster,
    name: String,
    component: Component,
    selector: LabelSelector,
) -> Child {
    budget(
        cr,
        name,
        component,
        selector,
        PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        },
    )
}

fn budget(
    cr: &PaymentCluster,
    name: String,
    component: Component,
    selector: LabelSelector,
    spec: PodDisruptionBudgetSpec,
) -> Child {
    Child::PodDisruptionBudget(Box::new(PodDisruptionBudget {
        metadata: meta(cr, name, component),
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
fn stamp(
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
fn read_by(pod: &PodSpec, name: &str, data: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
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
fn checksum<'a>(parts: impl IntoIterator<Item = &'a BTreeMap<String, Vec<u8>>>) -> String {
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
fn data_of(child: &Child) -> BTreeMap<String, Vec<u8>> {
    match child {
        Child::ConfigMap(c) => {
            c.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect()
        }
        Child::Secret(s) => secret_data(s),
        _ => BTreeMap::new(),
    }
}

fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// Every object of the cluster, in the order they are applied: credentials
/// and scripts first, then the data services, then the app.
pub fn build(valid: &ValidatedCluster, credentials: &Credentials, observed: &Observed) -> Vec<Child> {
    let secret = credentials::secret(valid, credentials);
    let credentials_data = data_of(&secret);
    let mut children = vec![secret];
    match valid.spec().postgres.provider {
        PostgresProvider::Builtin => children.extend(postgres::children(valid, observed, &credentials_data)),
        PostgresProvider::Cnpg => children.extend(cnpg::children(valid, credentials, observed)),
        PostgresProvider::External => {}
    }
    children.extend(redis::children(valid, observed, &credentials_data));
    children.extend(rabbitmq::children(valid, observed, &credentials_data));
    let tokens = observed.tokens.as_ref().map(secret_data).unwrap_or_default();
    let database = observed.database.as_ref().map(secret_data).unwrap_or_default();
    children.extend(app::children(valid, &credentials_data, &tokens, &database));
    if valid.spec().network_policies {
        children.extend(network::policies(valid));
    }
    if monitoring::enabled(valid) {
        children.extend(monitoring::children(valid));
    }
    for child in &mut children {
        set_pull_policies(child);
    }
    children
}

/// Every container's `imagePullPolicy`, from its image
/// ([`crate::image::pull_policy`]), set here once for every workload.
fn set_pull_policies(child: &mut Child) {
    let pod = match child {
        Child::StatefulSet(s) => s.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
        Child::Deployment(d) => d.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
        _ => None,
    };
    let Some(pod) = pod else { return };
    for container in pod.init_containers.iter_mut().flatten().chain(pod.containers.iter_mut()) {
        container.image_pull_policy =
            container.image.as_deref().map(|i| crate::image::pull_policy(i).to_owned());
    }
}

#[cfg(test)]
pub(crate) mod tests;
