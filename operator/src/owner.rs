//! The `PaymentCluster` as its children see it: its name, its namespace and
//! the owner reference that deletes them with it. A validated cluster keeps
//! this, not the resource, so a builder that wants a setting has to take the
//! typed one validate resolved; it cannot reach past it into the raw spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use crate::crd::PaymentCluster;

/// Who owns a cluster's children.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The `PaymentCluster`'s name (`app.kubernetes.io/instance`).
    pub name: String,
    /// Its namespace as written: a resource read from a file (`render`) may
    /// have none, and its children then have none either.
    pub namespace: Option<String>,
    /// The controller owner reference; `None` before the resource has a uid
    /// (a file given to `render`): the operator adds it when it applies.
    pub reference: Option<OwnerReference>,
}

impl Owner {
    pub fn of(cr: &PaymentCluster) -> Self {
        Owner { name: cr.name_any(), namespace: cr.namespace(), reference: cr.controller_owner_ref(&()) }
    }

    /// The owning resource's uid, once it has one.
    pub fn uid(&self) -> Option<&str> {
        self.reference.as_ref().map(|r| r.uid.as_str())
    }
}
