//! The controller: reconcile is a pipeline of named steps (read, validate,
//! build, apply, status), with the pure parts in `builders` and `status`.
//!
//! Writes are server-side apply with one field manager, so a reconcile that
//! finds everything as it should be changes nothing. An invalid spec is
//! reported (`Degraded`) and waits for the next change to the resource; a
//! failing API call is retried with a growing backoff.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use crate::builders::{self, Child, Credentials, MANAGER, Names, PasswordSource, RandomPasswords};
use crate::crd::{PaymentCluster, PaymentClusterStatus};
use crate::error::{Error, Result, chain};
use crate::status::{self, Outcome};

/// How often a ready cluster is looked at again anyway, to repair drift.
const RESYNC: Duration = Duration::from_secs(300);
/// How often a cluster that is still coming up is looked at.
const WAITING: Duration = Duration::from_secs(15);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub reconciles: AtomicU64,
    pub failures: AtomicU64,
    pub invalid_specs: AtomicU64,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per cluster, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
    passwords: Mutex<Box<dyn PasswordSource + Send>>,
}

impl Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self::with_passwords(client, metrics, Box::new(RandomPasswords))
    }

    /// With a given source of new passwords (tests use a fixed one).
    pub fn with_passwords(
        client: Client,
        metrics: Arc<Metrics>,
        passwords: Box<dyn PasswordSource + Send>,
    ) -> Self {
        let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
            passwords: Mutex::new(passwords),
        }
    }
}

fn key(cr: &PaymentCluster) -> String {
    format!("{}/{}", cr.namespace().unwrap_or_default(), cr.name_any())
}

#[instrument(skip_all, fields(cluster = %key(&cr)))]
pub async fn reconcile(cr: Arc<PaymentCluster>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
    let namespace = cr.namespace().ok_or(Error::NoNamespace)?;
    let names = Names::of(&cr);

    // read
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = secrets.get_opt(&names.credentials()).await?;

    // validate
    let problems = cr.spec.problems();
    if !problems.is_empty() {
        ctx.metrics.invalid_specs.fetch_add(1, Ordering::Relaxed);
        let status = status::compute(&cr, &Outcome::Invalid(&problems), cr.status.as_ref(), now());
        if cr.status.as_ref() != Some(&status) {
            warn!(problems = ?problems, "invalid spec; waiting for a change");
            publish(&ctx, &cr, EventType::Warning, "InvalidSpec", problems.join("; ")).await;
            patch_status(&ctx.client, &cr, &status).await?;
        }
        ctx.failures.lock().await.remove(&key(&cr));
        return Ok(Action::await_change());
    }

    // build
    let credentials = Credentials::complete(existing.as_ref(), ctx.passwords.lock().await.as_mut());
    let children = builders::build(&cr, &credentials);

    // apply
    let mut applied = Vec::with_capacity(children.len());
    for child in &children {
        applied.push(apply(&ctx.client, &namespace, child).await?);
    }
    if existing.is_none() {
        let note = format!("created credentials and applied {} objects", applied.len());
        publish(&ctx, &cr, EventType::Normal, "Created", note).await;
    }

    // status
    let status = status::compute(&cr, &Outcome::Applied(&applied), cr.status.as_ref(), now());
    let ready = status::is_ready(Some(&status));
    if cr.status.as_ref() != Some(&status) {
        if ready != status::is_ready(cr.status.as_ref()) {
            let (kind, reason) =
                if ready { (EventType::Normal, "Ready") } else { (EventType::Warning, "NotReady") };
            let message = status.conditions.first().map(|c| c.message.clone()).unwrap_or_default();
            publish(&ctx, &cr, kind, reason, message).await;
        }
        patch_status(&ctx.client, &cr, &status).await?;
    }
    ctx.failures.lock().await.remove(&key(&cr));
    info!(ready, "reconciled");
    Ok(Action::requeue(if ready { RESYNC } else { WAITING }))
}

/// Transient failures back off: 5 s, 10 s, 20 s ... up to 5 minutes.
pub fn error_policy(cr: Arc<PaymentCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failures.fetch_add(1, Ordering::Relaxed);
    let failures = match ctx.failures.try_lock() {
        Ok(mut map) => {
            let n = map.entry(key(&cr)).or_insert(0);
            *n += 1;
            *n
        }
        Err(_) => 1,
    };
    let delay = backoff(failures);
    warn!(cluster = %key(&cr), error = %chain(error), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.saturating_sub(1).min(6))).min(RESYNC)
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Events are for people; failing to record one must not fail a reconcile.
async fn publish(ctx: &Context, cr: &PaymentCluster, type_: EventType, reason: &str, note: String) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note), action: "Reconcile".into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&event, &cr.object_ref(&())).await {
        warn!(error = %chain(&e), reason, "could not record an event");
    }
}

async fn patch_status(client: &Client, cr: &PaymentCluster, status: &PaymentClusterStatus) -> Result<()> {
    let api: Api<PaymentCluster> =
        Api::namespaced(client.clone(), &cr.namespace().ok_or(Error::NoNamespace)?);
    let patch = json!({
        "apiVersion": PaymentCluster::api_version(&()),
        "kind": PaymentCluster::kind(&()),
        "status": status,
    });
    api.patch_status(&cr.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Server-side applies one child and returns it as the server has it.
pub async fn apply(client: &Client, namespace: &str, child: &Child) -> Result<Child> {
    Ok(match child {
        Child::Secret(o) => Child::Secret(Box::new(ssa(client, namespace, o.as_ref()).await?)),
        Child::ConfigMap(o) => Child::ConfigMap(Box::new(ssa(client, namespace, o.as_ref()).await?)),
        Child::Service(o) => Child::Service(Box::new(ssa(client, namespace, o.as_ref()).await?)),
        Child::StatefulSet(o) => Child::StatefulSet(Box::new(ssa(client, namespace, o.as_ref()).await?)),
        Child::Deployment(o) => Child::Deployment(Box::new(ssa(client, namespace, o.as_ref()).await?)),
        Child::PodDisruptionBudget(o) => {
            Child::PodDisruptionBudget(Box::new(ssa(client, namespace, o.as_ref()).await?))
        }
    })
}

async fn ssa<K>(client: &Client, namespace: &str, object: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(MANAGER).force();
    Ok(api.patch(&object.name_any(), &params, &Patch::Apply(object)).await?)
}

/// Runs the controller until `shutdown`: watches every PaymentCluster and
/// every kind of child it owns, so a deleted or edited child is put back.
pub async fn run(client: Client, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let clusters: Api<PaymentCluster> = Api::all(client.clone());
    let context = Arc::new(Context::new(client.clone(), metrics));
    let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=payrail-operator");
    Controller::new(clusters, watcher::Config::default())
        .owns(Api::<Secret>::all(client.clone()), config.clone())
        .owns(Api::<ConfigMap>::all(client.clone()), config.clone())
        .owns(Api::<Service>::all(client.clone()), config.clone())
        .owns(Api::<StatefulSet>::all(client.clone()), config.clone())
        .owns(Api::<Deployment>::all(client.clone()), config.clone())
        .owns(Api::<PodDisruptionBudget>::all(client.clone()), config)
        .graceful_shutdown_on(async move { shutdown.cancelled().await })
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %chain(&e), "controller event");
            }
        })
        .await;
    info!("controller stopped");
}
