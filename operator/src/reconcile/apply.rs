//! The apply step: server-side apply of every desired object with one
//! field manager, and the expansion of volumes that must grow.
//!
//! Every object is attempted whatever happened to the ones before it: a
//! StatefulSet the API server refuses must not hold back an image upgrade
//! of the app. Each failure is kept with the API server's own message for
//! the status.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::build::MANAGER;
use super::failure::ChildFailure;
use super::volumes::Growth;
use crate::child::{Child, child_kinds};

/// What the apply step came to.
#[derive(Debug, Default)]
pub struct Applied {
    /// The objects as the API server returned them, status included.
    pub objects: Vec<Child>,
    pub failures: Vec<ChildFailure>,
}

pub async fn apply_all(client: &Client, namespace: &str, children: &[Child]) -> Applied {
    let mut applied = Applied::default();
    for child in children {
        match apply(client, namespace, child).await {
            Ok(object) => applied.objects.push(object),
            Err(error) => applied.failures.push(ChildFailure::from_error(child.kind(), child.name(), &error)),
        }
    }
    applied
}

macro_rules! apply_each_kind {
    ($($variant:ident($name:literal): $type:ty, $source:ident, $lifetime:ident;)*) => {
        /// Server-side applies one child and returns it as the server has it.
        pub async fn apply(client: &Client, namespace: &str, child: &Child) -> Result<Child, kube::Error> {
            Ok(match child {
                $(Child::$variant(o) => Child::$variant(Box::new(ssa(client, namespace, o.as_ref()).await?)),)*
            })
        }
    };
}
child_kinds!(apply_each_kind);

/// The server refused the change for a precondition (409): for the
/// credentials Secret, its uid no longer names an existing Secret. With a
/// forced apply, field ownership never conflicts.
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(response) if response.code == 409)
}

async fn ssa<K>(client: &Client, namespace: &str, object: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(MANAGER).force();
    api.patch(&object.name_any(), &params, &Patch::Apply(object)).await
}

/// Asks for more storage on each claim that must grow. The claim template
/// of a StatefulSet cannot change, so its claims are patched one by one;
/// the StorageClass's volume expansion does the rest.
pub async fn expand(client: &Client, namespace: &str, growth: &[Growth]) -> Vec<ChildFailure> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let mut failures = Vec::new();
    for grow in growth {
        let patch = json!({"spec": {"resources": {"requests": {"storage": grow.size}}}});
        let params = PatchParams { field_manager: Some(MANAGER.into()), ..PatchParams::default() };
        if let Err(error) = claims.patch(&grow.claim, &params, &Patch::Merge(&patch)).await {
            failures.push(ChildFailure::from_error("PersistentVolumeClaim", &grow.claim, &error));
        }
    }
    failures
}
