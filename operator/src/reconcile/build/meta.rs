//! What every child carries: the `app.kubernetes.io/*` labels, the owner
//! reference, the field manager; and the selectors built from them.

use std::collections::BTreeMap;

use crate::owner::Owner;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};

/// The field manager of every write: one owner for every field we set.
pub const MANAGER: &str = "payrail-operator";

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

/// The `app.kubernetes.io` labels every child carries; `selector_labels`
/// is the subset that picks a component's pods and never changes.
pub fn labels(owner: &Owner, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(owner, component);
    labels.insert("app.kubernetes.io/part-of".into(), "payrail".into());
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
    labels
}

pub fn selector_labels(owner: &Owner, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "payrail".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), owner.name.clone()),
        ("app.kubernetes.io/component".to_owned(), component.label().to_owned()),
    ])
}

pub fn selector(owner: &Owner, component: Component) -> LabelSelector {
    LabelSelector { match_labels: Some(selector_labels(owner, component)), ..LabelSelector::default() }
}

/// The pods of any of `components` of this cluster.
pub fn components_selector(owner: &Owner, components: &[Component]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            [
                ("app.kubernetes.io/name".to_owned(), "payrail".to_owned()),
                ("app.kubernetes.io/instance".to_owned(), owner.name.clone()),
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
pub fn owned_selector(owner: &Owner) -> String {
    format!("app.kubernetes.io/instance={},app.kubernetes.io/managed-by={MANAGER}", owner.name)
}

/// The label selector of the cluster's volumes: the StatefulSet controller
/// labels each claim with its pods' selector labels.
pub fn volume_labels(owner: &Owner) -> String {
    format!("app.kubernetes.io/name=payrail,app.kubernetes.io/instance={}", owner.name)
}

/// Metadata of a child: name, namespace, labels and the owner reference
/// that lets Kubernetes delete it with its `PaymentCluster`.
pub fn meta(owner: &Owner, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: owner.namespace.clone(),
        labels: Some(labels(owner, component)),
        // A resource read from a file (`render`) has no uid yet: its
        // children get their owner when the operator applies them.
        owner_references: owner.reference.clone().map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}
