//! The controller's runtime: what it watches and the retry policy. The
//! reconcile itself, and the context every reconcile shares, are
//! `reconcile`'s.
//!
//! Writes are server-side apply with one field manager, so a reconcile that
//! finds everything as it should be changes nothing. A failing reconcile is
//! retried with a growing backoff.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::controller::Error as ControllerError;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::child::{Lifetime, Source, child_kinds};
use crate::cnpg::Cluster;
use crate::crd::{PaymentCluster, PostgresProvider};
use crate::error::Error;
use crate::names::Names;
use crate::reconcile::build::MANAGER;
use crate::reconcile::context::key;
use crate::reconcile::{RESYNC, reconcile};
use payrail_common::{Backoff, chain};

use crate::reconcile::context::Context;

/// Transient failures back off: 5 s, 10 s, 20 s ... up to 5 minutes.
pub fn error_policy(cr: Arc<PaymentCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.count_failure(&cr);
    let delay = backoff(failures);
    warn!(cluster = %key(&cr), error = %chain(error), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The delays between retries of a failing cluster.
pub const RETRY: Backoff = Backoff::new(Duration::from_secs(5), RESYNC);

/// The delay after the `failures`-th failure in a row (the first is 1).
pub fn backoff(failures: u32) -> Duration {
    RETRY.delay(failures.saturating_sub(1))
}

/// The label a Secret of the user's (an `apiTokensSecret`, the `external`
/// database's) carries for the operator to notice its changes at once.
/// Without it a change is read at the cluster's next reconcile (within
/// [`RESYNC`]), as CloudNativePG does with `cnpg.io/reload`.
pub const WATCH_LABEL: &str = "payrail.dev/watch";

/// The two Secret watches: the operator's own (the credentials Secrets) and
/// those labelled [`WATCH_LABEL`]. Never all Secrets: a platform team will
/// not let an operator cache every Secret of the cluster, and none is
/// cached here beyond its metadata.
pub fn secret_watches() -> [watcher::Config; 2] {
    [ours(), watcher::Config::default().labels(WATCH_LABEL)]
}

/// The objects the operator made: each carries this label.
fn ours() -> watcher::Config {
    watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"))
}

/// The clusters that read `secret`: the cluster whose credentials Secret it
/// is (kept without an owner reference while volumes are kept, so `owns`
/// cannot see it), and every cluster whose `apiTokensSecret` or
/// `postgres.external.secretName` names it.
pub fn clusters_reading(
    secret: &impl Resource,
    clusters: &[Arc<PaymentCluster>],
) -> Vec<ObjectRef<PaymentCluster>> {
    let (Some(namespace), name) = (secret.namespace(), secret.name_any()) else {
        return Vec::new();
    };
    clusters
        .iter()
        .filter(|cr| cr.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|cr| {
            Names::of(cr).credentials() == name
                || cr.spec.app.api_tokens_secret.as_ref().is_some_and(|t| t.name == name)
                || cr.spec.postgres.external.as_ref().is_some_and(|e| e.secret_name == name)
        })
        .map(|cr| ObjectRef::from_obj(cr.as_ref()))
        .collect()
}

/// The PaymentCluster whose CNPG `Cluster` this is (`<name>-postgres` in
/// its namespace, with the cnpg provider).
pub fn clusters_running(
    cluster: &Cluster,
    clusters: &[Arc<PaymentCluster>],
) -> Vec<ObjectRef<PaymentCluster>> {
    let (Some(namespace), name) = (cluster.namespace(), cluster.name_any()) else {
        return Vec::new();
    };
    clusters
        .iter()
        .filter(|cr| cr.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|cr| cr.spec.postgres.provider == PostgresProvider::Cnpg && Names::of(cr).postgres() == name)
        .map(|cr| ObjectRef::from_obj(cr.as_ref()))
        .collect()
}

/// Whether the API server serves the API group `group`.
async fn serves(client: &Client, group: &str) -> bool {
    let served = kube::discovery::group(client, group).await.is_ok();
    info!(group, served, "API group");
    served
}

/// Which namespaces the controller watches: the whole cluster (the chart's
/// default), or one namespace, for a team that may not grant cluster-wide
/// list and watch (on Secrets above all) and for tests that share one API
/// server, each in a namespace of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    Cluster,
    Namespace(String),
}

impl Scope {
    /// The API of kind `K` over this scope.
    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Debug
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        match self {
            Scope::Cluster => Api::all(client.clone()),
            Scope::Namespace(namespace) => Api::namespaced(client.clone(), namespace),
        }
    }
}

/// A watch of `api` that backs off on its own after an error, as each of
/// client-go's reflectors does (0.8 s doubling to 30 s, reset after two
/// quiet minutes). kube-rs' own `Controller::owns` and `watches` feed every
/// watch into one stream with one backoff, so each watch's error paused
/// them all: after an API server restart a dozen watches failed in turn
/// (refused, then 410 "too old resource version" and a re-list each), the
/// shared pause grew to its 30 s cap, and the PaymentCluster cache stayed
/// stale for minutes, every reconcile acting on an old spec.
fn backing_off<K>(
    api: Api<K>,
    config: &watcher::Config,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static
where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned + Send + 'static,
{
    watcher(api, config.clone()).default_backoff()
}

/// The children of kind `K`, watched by their metadata only (all an owner
/// reference needs), each kind backing off on its own.
fn owned<K>(
    client: &Client,
    scope: &Scope,
    config: &watcher::Config,
) -> impl Stream<Item = watcher::Result<PartialObjectMeta<K>>> + Send + 'static
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    backing_off(scope.api::<PartialObjectMeta<K>>(client), config).touched_objects()
}

/// The controller's own backoff, over all its watches together: none, since
/// each watch backs off by itself (`backing_off`), and a pause here would
/// stop every watch for one watch's error.
struct EachWatchBacksOff;

impl Iterator for EachWatchBacksOff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOff {
    fn reset(&mut self) {}
}

/// Runs the controller until `stop`: watches every PaymentCluster in
/// `scope`, every kind of child it owns (so a deleted or edited child is
/// put back), and the Secrets its clusters read (so a lost credentials
/// Secret is noticed at once and a new API token rolls the app).
/// `client` is the watches' (`clients::Clients::watches`: no read timeout);
/// reconciles call through `context`'s.
pub async fn run(client: Client, context: Arc<Context>, scope: Scope, stop: CancellationToken) {
    let config = ours();
    let (store, writer) = reflector::store();
    let clusters =
        reflector(writer, backing_off(scope.api::<PaymentCluster>(&client), &watcher::Config::default()))
            .applied_objects();
    let mut controller = Controller::for_stream(clusters, store.clone()).trigger_backoff(EachWatchBacksOff);
    // Another operator's kinds exist only where it is installed: watch them
    // there (so CNPG's status reaches the PaymentCluster at once), and not
    // elsewhere, where a watch would fail over and over.
    let mut served = vec![Source::Core];
    for source in Source::INSTALLED {
        if let Some(group) = source.group()
            && serves(&client, group).await
        {
            served.push(source);
        }
    }
    if served.contains(&Source::Cnpg) {
        let store = store.clone();
        // Kept without an owner reference while volumes are kept, so
        // mapped back by name, like the credentials Secret.
        controller = controller.watches_stream(
            backing_off(scope.api::<Cluster>(&client), &config).touched_objects(),
            move |cluster| clusters_running(&cluster, &store.state()),
        );
    }
    // Every kind the cluster owns, through its owner reference.
    macro_rules! own_each_kind {
        ($($variant:ident($name:literal): $type:ty, $source:ident, $lifetime:ident;)*) => {$(
            if Lifetime::$lifetime == Lifetime::Owned && served.contains(&Source::$source) {
                controller = controller.owns_stream(owned::<$type>(&client, &scope, &config));
            }
        )*};
    }
    child_kinds!(own_each_kind);
    let [ours, labelled] = secret_watches();
    let reading = store.clone();
    controller
        .watches_stream(owned::<Secret>(&client, &scope, &ours), move |secret| {
            clusters_reading(&secret, &reading.state())
        })
        .watches_stream(owned::<Secret>(&client, &scope, &labelled), move |secret| {
            clusters_reading(&secret, &store.state())
        })
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                // A child's event after its cluster was deleted: expected
                // (kube-rs issue 1167), and nothing is left to do.
                Err(ControllerError::ObjectNotFound(object)) => {
                    debug!(%object, "event for a cluster that no longer exists");
                }
                // error_policy has logged it, with the retry delay.
                Err(ControllerError::ReconcilerFailed(..)) => {}
                Err(e) => warn!(error = %chain(&e), "controller event"),
            }
        })
        .await;
    info!("controller stopped");
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::crd::{PaymentClusterSpec, SecretKeyRef};

    fn cluster(name: &str, namespace: &str, tokens: Option<&str>) -> Arc<PaymentCluster> {
        let mut spec = PaymentClusterSpec::default();
        spec.app.api_tokens_secret =
            tokens.map(|t| SecretKeyRef { name: t.into(), key: "api-tokens".into() });
        let mut cr = PaymentCluster::new(name, spec);
        cr.metadata.namespace = Some(namespace.into());
        Arc::new(cr)
    }

    fn secret(name: &str, namespace: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    // Issue 13: a CNPG Cluster, kept without an owner reference, still
    // wakes the PaymentCluster that runs it (for CNPG's status).
    #[test]
    fn a_cnpg_cluster_wakes_the_cluster_that_runs_it() {
        let mut cnpg = (*cluster("pay", "shop", None)).clone();
        cnpg.spec.postgres.provider = PostgresProvider::Cnpg;
        let clusters = [Arc::new(cnpg), cluster("mini", "shop", None)];
        let named = |name: &str, namespace: &str| {
            let mut c = Cluster::new(name, crate::cnpg::ClusterSpec::default());
            c.metadata.namespace = Some(namespace.into());
            clusters_running(&c, &clusters).into_iter().map(|r| r.name).collect::<Vec<_>>()
        };
        assert_eq!(named("pay-postgres", "shop"), ["pay"]);
        assert!(named("mini-postgres", "shop").is_empty(), "mini runs the builtin servers");
        assert!(named("pay-postgres", "other").is_empty());
    }

    // Bug 9: the credentials Secret has no owner reference while volumes
    // are kept, so only this mapping wakes its cluster when it is deleted.
    #[test]
    fn a_secret_wakes_the_clusters_that_read_it() {
        let clusters = [
            cluster("mini", "shop", None),
            cluster("full", "shop", Some("tokens")),
            cluster("mini", "other", None),
        ];
        let names =
            |s: &Secret| clusters_reading(s, &clusters).into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(&secret("mini-credentials", "shop")), ["mini"]);
        assert_eq!(names(&secret("tokens", "shop")), ["full"]);
        let mut external = (*cluster("ext", "shop", None)).clone();
        external.spec.postgres.external =
            Some(crate::crd::ExternalPostgresSpec { secret_name: "db".into(), ca_secret: None });
        let with_external = [Arc::new(external)];
        let reading = clusters_reading(&secret("db", "shop"), &with_external);
        assert_eq!(
            reading.into_iter().map(|r| r.name).collect::<Vec<_>>(),
            ["ext"],
            "the external database Secret"
        );
        assert!(names(&secret("tokens", "other")).is_empty(), "another namespace's Secret");
        assert!(names(&secret("unrelated", "shop")).is_empty());
    }
}
