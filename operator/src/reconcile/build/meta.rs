//! What every child carries: the `app.kubernetes.io/*` labels, the owner
//! reference, the field manager; and the selectors built from them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use kube::{Resource, ResourceExt};

use crate::crd::PaymentCluster;

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
