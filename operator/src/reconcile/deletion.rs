//! What happens before a `PaymentCluster` with a RabbitMQ cluster goes:
//! its broker pods are marked, so their preStop hooks stop at once instead
//! of each waiting up to 10 minutes for a quorum that no longer matters
//! (every node is going). RabbitMQ's cluster-operator does the same with
//! its `skipPreStopChecks` label.
//!
//! A finalizer (kube-runtime's `finalizer` helper) holds the deletion
//! until the pods carry `pod::RABBITMQ_DELETING_ANNOTATION`; the hook
//! reads it through a downward API volume (`build::rabbitmq`). Only a
//! clustered RabbitMQ gets the finalizer: a single broker has no such
//! hook, and nothing is worth holding a deletion for.
//!
//! A finalizer must never hold a deletion for good. A failed marking is
//! retried with the reconcile's backoff, but only for as long as the hooks
//! would have waited anyway ([`GIVE_UP_AFTER`]): past that the finalizer
//! goes unmarked, with a Warning event, and the brokers take their wait.
//! With no operator running at all nothing removes it: docs/operator.md
//! ("Deleting a cluster") gives the `kubectl patch` that does.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::crd::PaymentCluster;
use crate::error::{Error, Result};
use crate::owner::Owner;
use crate::pod::RABBITMQ_DELETING_ANNOTATION;
use crate::reconcile::build::{Component, volume_labels};
use crate::reconcile::context::Context;

/// The finalizer on a `PaymentCluster` whose brokers must be marked first.
pub const FINALIZER: &str = "payrail.dev/rabbitmq-marked";

/// How long a failing marking holds the deletion: as long as a broker's
/// preStop hook would wait by itself, so giving up costs no more than
/// having no finalizer.
pub const GIVE_UP_AFTER: i64 = 600;

/// Whether `cr` needs the finalizer: its brokers form a cluster, whose
/// nodes wait for quorum before they stop.
pub fn needs_finalizer(cr: &PaymentCluster) -> bool {
    cr.spec.rabbitmq.replicas > 1
}

/// Marks every RabbitMQ pod of `cr` (being deleted), then lets the
/// deletion proceed; a failure is retried with backoff until
/// [`GIVE_UP_AFTER`] has passed since the deletion began.
pub async fn mark_brokers(cr: &PaymentCluster, ctx: &Context) -> Result<Action> {
    let namespace = cr.namespace().ok_or(Error::NoNamespace)?;
    match mark(ctx, cr, &namespace).await {
        Ok(marked) => {
            info!(marked, "cluster being deleted: RabbitMQ pods marked, their preStop skips the quorum wait");
            Ok(Action::await_change())
        }
        Err(error) => {
            let since = cr.metadata.deletion_timestamp.as_ref().map(|t| t.0.as_second());
            let waited = since.map_or(0, |s| Timestamp::now().as_second() - s);
            if waited < GIVE_UP_AFTER {
                return Err(error);
            }
            let chain = payrail_common::chain(&error);
            warn!(error = %chain, waited, "cannot mark the RabbitMQ pods; letting the deletion proceed unmarked");
            let note = format!(
                "could not mark the RabbitMQ pods for {waited}s; the deletion proceeds and each broker waits for \
                 quorum in its preStop hook (up to {GIVE_UP_AFTER}s)"
            );
            ctx.publish(cr, EventType::Warning, "BrokersNotMarked", note).await;
            Ok(Action::await_change())
        }
    }
}

/// Puts the annotation on every RabbitMQ pod of `cr`; returns how many.
async fn mark(ctx: &Context, cr: &PaymentCluster, namespace: &str) -> Result<usize> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{},app.kubernetes.io/component={}",
        volume_labels(&Owner::of(cr)),
        Component::Rabbitmq.label()
    );
    let found = pods.list(&ListParams::default().labels(&selector)).await?.items;
    let patch = json!({"metadata": {"annotations": {RABBITMQ_DELETING_ANNOTATION: "true"}}});
    for pod in &found {
        match pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
            // Gone meanwhile: nothing left to mark.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            result => drop(result?),
        }
    }
    Ok(found.len())
}
