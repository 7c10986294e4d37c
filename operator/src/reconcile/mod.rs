//! Reconcile, as a pipeline of named steps, each in its own module:
//!
//! 1. [`validate`]: the spec becomes a `ValidatedCluster`
//!    or a list of problems (`Degraded`/`InvalidSpec`, wait for an edit);
//! 2. [`dereference`]: read what the objects depend on (the credentials
//!    Secret, the API-tokens Secret, the volumes and their claim templates);
//! 3. [`build`]: every desired object, a pure function
//!    of those two, plus the volume expansions (`volumes`);
//! 4. [`apply`]: server-side apply of every object, each one attempted
//!    whatever happened to the others, failures kept per object; the
//!    PostgreSQL pair one at a time, in the [`order`] CloudNativePG keeps;
//! 5. [`prune`]: delete what this cluster made and no longer builds; and
//!    restart a builtin read replica that has not streamed for minutes
//!    ([`replica`]);
//! 6. [`status`]: conditions and counts, written only when
//!    they change.
//!
//! A cluster with a 3-node RabbitMQ carries the finalizer of [`deletion`]:
//! deleted, its broker pods are marked (their preStop hooks then skip the
//! quorum wait) before the deletion proceeds.
//!
//! Every step shares the [`context`] the controller made; each child that
//! was not applied (or not deleted) is a [`failure::ChildFailure`].
//!
//! An invalid spec waits for a change; a refused object or a failed call
//! is retried with a growing backoff (`controller::error_policy`).

pub mod apply;
pub mod build;
pub mod context;
pub mod deletion;
pub mod dereference;
pub mod failure;
pub mod order;
pub mod prune;
pub mod replica;
pub mod status;
pub mod validate;
pub mod volumes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use self::build::{Credentials, MANAGER};
use self::context::{Context, key};
use self::failure::ChildFailure;
use self::status::Outcome;
use self::validate::{ValidatedCluster, validate_with};
use crate::crd::{PaymentCluster, PaymentClusterStatus};
use crate::error::{Error, InvalidSpec, Result};

/// How often a ready cluster is looked at again anyway, to repair drift.
pub const RESYNC: Duration = Duration::from_secs(300);
/// How often a cluster that is still coming up is looked at.
pub const WAITING: Duration = Duration::from_secs(15);

/// One reconcile of one cluster, timed and counted in the metrics.
#[instrument(skip_all, fields(cluster = %key(&cr)))]
pub async fn reconcile(cr: Arc<PaymentCluster>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = with_finalizer(cr.clone(), &ctx).await;
    ctx.metrics.reconciled(started.elapsed(), result.as_ref().err());
    if result.is_ok() {
        ctx.forget_failures(&cr).await;
    }
    result
}

/// The steps, behind the finalizer of [`deletion`] when the cluster needs
/// it (or still has it): added first, and on deletion the RabbitMQ pods
/// are marked before it is removed.
async fn with_finalizer(cr: Arc<PaymentCluster>, ctx: &Context) -> Result<Action> {
    let ours = cr.finalizers().iter().any(|f| f == deletion::FINALIZER);
    if !(ours || deletion::needs_finalizer(&cr)) {
        return steps(&cr, ctx).await;
    }
    let api: Api<PaymentCluster> =
        Api::namespaced(ctx.client.clone(), &cr.namespace().ok_or(Error::NoNamespace)?);
    finalizer(&api, deletion::FINALIZER, cr, async |event| match event {
        finalizer::Event::Apply(cr) => steps(&cr, ctx).await,
        finalizer::Event::Cleanup(cr) => deletion::mark_brokers(&cr, ctx).await,
    })
    .await
    .map_err(|error| match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => Error::Kube(e),
        finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer => Error::Finalizer,
    })
}

async fn steps(cr: &PaymentCluster, ctx: &Context) -> Result<Action> {
    let namespace = cr.namespace().ok_or(Error::NoNamespace)?;
    let valid = match validate_with(cr, &ctx.defaults) {
        Ok(valid) => valid,
        Err(InvalidSpec(problems)) => return invalid(cr, ctx, &problems).await,
    };
    let observed = dereference::read(&ctx.client, &valid).await?;
    if let Some(message) = dereference::provider_switch(&valid, &observed) {
        return blocked(cr, ctx, status::PROVIDER_SWITCH, &message).await;
    }
    let credentials = {
        let mut passwords = ctx.passwords.lock().await;
        build::credentials::plan(&valid, observed.credentials.as_ref(), &observed.claims, passwords.as_mut())
    };
    let credentials: Credentials = match credentials {
        Ok(credentials) => credentials,
        Err(lost) => return blocked(cr, ctx, status::CREDENTIALS_LOST, &lost.to_string()).await,
    };

    let children = build::build(&valid, &credentials, &observed.inputs());
    let expansions = volumes::plan(&valid, &observed.claims);
    // The credentials Secret first, alone: every password lives there, and
    // its owner reference follows deleteVolumesOnDelete like the volumes'
    // retention does. If it is refused, nothing else may change (the
    // volumes must never get another lifetime than their passwords).
    let (secret, rest) = children
        .split_first()
        .filter(|(first, _)| first.kind() == "Secret" && first.name() == valid.names.credentials())
        .ok_or(Error::NothingBuilt)?;
    if let Some(action) = apply_credentials(cr, ctx, &namespace, secret, &observed, children.len()).await? {
        return Ok(action);
    }
    let app_problems = dereference::app_input_problems(&valid, &observed);
    let mut applied = apply_in_turn(ctx, &namespace, &valid, &observed, rest, app_problems.is_empty()).await;
    applied.failures.extend(expansions.refused.iter().cloned());
    applied.failures.extend(apply::expand(&ctx.client, &namespace, &expansions.grow).await);
    applied.failures.extend(prune::prune(&ctx.client, &valid, &children).await);
    applied.failures.extend(app_problems);
    if let Some(replica) = observed.not_streaming.as_ref().filter(|r| r.restart_due()) {
        restart_replica(cr, ctx, &namespace, replica, &mut applied.failures).await;
    }

    if observed.credentials.is_none() && applied.failures.is_empty() {
        let note = format!("created credentials and applied {} objects", applied.objects.len());
        ctx.publish(cr, EventType::Normal, "Created", note).await;
    }
    let ready =
        report(cr, &valid, ctx, &applied, &observed.refusals, observed.not_streaming.as_ref()).await?;
    if !applied.failures.is_empty() {
        for failure in &applied.failures {
            warn!(kind = failure.kind, name = %failure.name, message = %failure.message(), "not applied");
        }
        return Err(Error::ApplyFailed {
            failed: applied.failures.len(),
            attempted: children.len() + expansions.grow.len(),
        });
    }
    info!(ready, "reconciled");
    Ok(Action::requeue(if ready { RESYNC } else { WAITING }))
}

/// Applies the credentials Secret. `Some` when the reconcile stops there:
/// at once when the Secret changed while it was read, or blocked (and
/// retried with backoff) when the API server refused it.
async fn apply_credentials(
    cr: &PaymentCluster,
    ctx: &Context,
    namespace: &str,
    secret: &build::Child,
    observed: &dereference::Read,
    attempted: usize,
) -> Result<Option<Action>> {
    let Err(error) = apply::apply(&ctx.client, namespace, secret).await else { return Ok(None) };
    // Deleted (or replaced) since it was read: the apply carried its uid,
    // so it was not brought back. Read it again at once, without a warning
    // or a backoff; the next reconcile reports what it finds.
    if observed.credentials.is_some() && apply::is_conflict(&error) {
        info!(secret = secret.name(), "the credentials Secret changed while it was read; reading it again");
        return Ok(Some(Action::requeue(Duration::ZERO)));
    }
    let failure = ChildFailure::from_error(secret.kind(), secret.name(), &error);
    let message = format!("Secret {}: {}; nothing else was applied", failure.name, failure.message());
    blocked(cr, ctx, status::CREDENTIALS_REFUSED, &message).await?;
    // Unlike a lost Secret, this may pass (a call that failed, RBAC being
    // fixed): retried with backoff.
    Err(Error::ApplyFailed { failed: 1, attempted })
}

/// Applies the children after the credentials Secret: the app's
/// Deployment only when its inputs are sound (`app_inputs_ok`), and the
/// PostgreSQL pair one at a time: the second StatefulSet is applied once
/// the first has rolled out (a later reconcile, woken by its status);
/// until then the status counts the second as it is now.
async fn apply_in_turn(
    ctx: &Context,
    namespace: &str,
    valid: &ValidatedCluster,
    observed: &dereference::Read,
    rest: &[build::Child],
    app_inputs_ok: bool,
) -> apply::Applied {
    let app = valid.names.app();
    let to_apply: Vec<build::Child> = rest
        .iter()
        .filter(|c| app_inputs_ok || !(c.kind() == "Deployment" && c.name() == app))
        .cloned()
        .collect();
    let turn = order::turn(valid, &observed.statefulsets);
    let is_second =
        |c: &build::Child| turn.as_ref().is_some_and(|t| c.kind() == "StatefulSet" && c.name() == t.second);
    let (second, now): (Vec<_>, Vec<_>) = to_apply.into_iter().partition(|c| is_second(c));
    let mut applied = apply::apply_all(&ctx.client, namespace, &now).await;
    let Some(turn) = &turn else { return applied };
    let first = applied.objects.iter().find_map(|c| match c {
        build::Child::StatefulSet(s) if s.name_any() == turn.first => Some(s.as_ref()),
        _ => None,
    });
    let current = observed.statefulsets.iter().find(|s| s.name_any() == turn.second);
    if order::waits(first, current) {
        info!(first = %turn.first, second = %turn.second, "PostgreSQL: one server at a time; waiting");
        applied.objects.extend(current.map(|s| build::Child::StatefulSet(Box::new(s.clone()))));
    } else {
        let more = apply::apply_all(&ctx.client, namespace, &second).await;
        applied.objects.extend(more.objects);
        applied.failures.extend(more.failures);
    }
    applied
}

/// The spec breaks rules the schema cannot state: say so once, and wait
/// for an edit.
async fn invalid(cr: &PaymentCluster, ctx: &Context, problems: &[String]) -> Result<Action> {
    ctx.metrics.invalid_spec();
    let status = status::compute(cr, &Outcome::Invalid(problems), cr.status.as_ref(), now());
    if cr.status.as_ref() != Some(&status) {
        warn!(problems = ?problems, "invalid spec; waiting for a change");
        ctx.publish(cr, EventType::Warning, "InvalidSpec", problems.join("; ")).await;
        patch_status(&ctx.client, cr, &status).await?;
    }
    Ok(Action::await_change())
}

/// Something outside the spec must be fixed first (`reason`): the
/// credentials Secret is gone beside volumes that hold data, or the spec
/// switched away from the builtin server that holds the data. Apply
/// nothing, say so, and wait for a change: an edit of the spec, or the
/// Secret restored (watched by its labels, so a copy that kept them wakes
/// this cluster at once; one restored without them is read at the next
/// resync).
async fn blocked(cr: &PaymentCluster, ctx: &Context, reason: &str, message: &str) -> Result<Action> {
    let outcome = Outcome::Blocked { reason, message };
    let status = status::compute(cr, &outcome, cr.status.as_ref(), now());
    if cr.status.as_ref() != Some(&status) {
        warn!(%reason, %message, "blocked; waiting for a change");
        ctx.publish(cr, EventType::Warning, reason, message.to_owned()).await;
        patch_status(&ctx.client, cr, &status).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// Restarts the builtin replica's pod that has not streamed for
/// `replica::RESTART_AFTER`, with a Warning event; a failed deletion is a
/// failure like a child not applied, retried with backoff.
async fn restart_replica(
    cr: &PaymentCluster,
    ctx: &Context,
    namespace: &str,
    replica: &replica::NotStreaming,
    failures: &mut Vec<ChildFailure>,
) {
    match replica::restart(&ctx.client, namespace, replica).await {
        Ok(()) => {
            warn!(pod = %replica.pod, seconds = replica.seconds, "read replica not streaming; pod restarted");
            let note = format!(
                "Pod {} had not streamed from the primary for {}s while the primary served: deleted, so its \
                 bootstrap runs again (a new copy if the primary gave its slot up; never over another database)",
                replica.pod, replica.seconds
            );
            ctx.publish(cr, EventType::Warning, status::REPLICA_RESTARTED, note).await;
        }
        Err(error) => failures.push(ChildFailure::from_error("Pod", &replica.pod, &error)),
    }
}

/// Writes the status of an applied cluster when it changed (with an event
/// when readiness did); returns whether the cluster is ready.
async fn report(
    cr: &PaymentCluster,
    valid: &ValidatedCluster,
    ctx: &Context,
    applied: &apply::Applied,
    refusals: &[String],
    not_streaming: Option<&replica::NotStreaming>,
) -> Result<bool> {
    let not_streaming = not_streaming.map(replica::NotStreaming::message);
    let outcome = Outcome::Applied {
        postgres: &valid.postgres,
        objects: &applied.objects,
        failures: &applied.failures,
        refusals,
        not_streaming: not_streaming.as_deref(),
    };
    let status = status::compute(cr, &outcome, cr.status.as_ref(), now());
    let ready = status::is_ready(Some(&status));
    if cr.status.as_ref() != Some(&status) {
        if ready != status::is_ready(cr.status.as_ref()) {
            let (kind, reason) =
                if ready { (EventType::Normal, "Ready") } else { (EventType::Warning, "NotReady") };
            let message = status.conditions.first().map(|c| c.message.clone()).unwrap_or_default();
            ctx.publish(cr, kind, reason, message).await;
        }
        // A new failure is news even while the cluster is not ready yet
        // (`kubectl describe` and event alerts see it, not only the status).
        let degraded = |s: Option<&PaymentClusterStatus>| {
            s.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Degraded" && c.status == "True"))
                .map(|c| (c.reason.clone(), c.message.clone()))
        };
        if let Some((reason, message)) = degraded(Some(&status))
            && degraded(cr.status.as_ref()).as_ref().map(|(_, m)| m) != Some(&message)
        {
            ctx.publish(cr, EventType::Warning, &reason, message).await;
        }
        patch_status(&ctx.client, cr, &status).await?;
    }
    Ok(ready)
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn patch_status(client: &Client, cr: &PaymentCluster, status: &PaymentClusterStatus) -> Result<()> {
    let api: Api<PaymentCluster> =
        Api::namespaced(client.clone(), &cr.namespace().ok_or(Error::NoNamespace)?);
    let patch = json!({
        "apiVersion": PaymentCluster::api_version(&()),
        "kind": PaymentCluster::kind(&()),
        "status": status,
    });
    match api.patch_status(&cr.name_any(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch)).await
    {
        // Deleted while this reconcile ran: there is no one to report to,
        // and what was applied meanwhile goes with it (owner references).
        Err(kube::Error::Api(status)) if status.code == 404 => {
            debug!("the cluster was deleted during its reconcile");
            Ok(())
        }
        result => result.map(drop).map_err(Error::from),
    }
}
