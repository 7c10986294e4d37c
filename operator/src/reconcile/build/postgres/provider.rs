//! The questions every PostgreSQL provider answers, so that the app, the
//! network policies, monitoring and the steps after build ask them without
//! knowing which provider runs the server. Each provider's plan
//! (`reconcile::validate::PostgresPlan`) implements [`Provider`] in its own
//! module; `postgres::provider` is the one place the plan is matched.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, Volume, VolumeMount};

use crate::child::{Child, Source};
use crate::crd::ComponentStatus;
use crate::names::Names;
use crate::reconcile::build::credentials::Credentials;
use crate::reconcile::build::meta::Component;
use crate::reconcile::build::observed::Observed;
use crate::reconcile::validate::ValidatedCluster;

/// What a provider's children are built from besides the validated spec.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The passwords, never regenerated.
    pub credentials: &'a Credentials,
    /// The credentials Secret's data as built: a pod that reads it is
    /// rolled when it changes.
    pub credentials_data: &'a BTreeMap<String, Vec<u8>>,
    /// What the dereference step read.
    pub observed: &'a Observed,
}

/// Who the migrate init container connects as when it is not the app: the
/// schema's owner, who grants the app's role what it needs.
#[derive(Debug)]
pub struct Owner {
    /// The owner's password (first in the environment: it is expanded into
    /// [`Owner::url`]).
    pub password: EnvVar,
    /// `DATABASE_URL` as the owner.
    pub url: String,
    /// Whether migrate also sets the app role's password (and so keeps
    /// `DB_APP_PASSWORD`): only where the owner may create roles.
    pub sets_app_password: bool,
}

/// A condition a provider reports about its server, worded by the
/// provider; `reconcile::status` gives it its transition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Report {
    pub fn new(type_: &'static str, ok: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Report { type_, ok, reason, message: message.into() }
    }
}

/// One PostgreSQL provider. `Sync`: the reconcile future holds one
/// across its reads, and that future is sent between threads.
pub trait Provider: Sync {
    /// The objects that run the server, in the order they are applied;
    /// none for a server the operator does not run.
    fn children(&self, valid: &ValidatedCluster, inputs: &Inputs<'_>) -> Vec<Child>;

    /// Where the app finds the database: the password (first in the
    /// environment: it is expanded into the URLs), then `DATABASE_URL`
    /// and, when there is a replica, `DATABASE_READ_URL`, and any TLS
    /// settings libpq and sqlx read.
    fn app_env(&self, valid: &ValidatedCluster) -> (Option<EnvVar>, Vec<EnvVar>);

    /// Who migrate connects as; `None` when it connects as the app does.
    fn migrate_owner(&self, valid: &ValidatedCluster) -> Option<Owner>;

    /// A volume the app pod mounts for the database (a CA certificate).
    fn app_volume(&self) -> Option<(Volume, VolumeMount)> {
        None
    }

    /// A Secret of the user's the app reads the database from: a change
    /// there rolls the app.
    fn app_secret(&self) -> Option<&str> {
        None
    }

    /// payrail's own pods that serve PostgreSQL, each with the pods that
    /// may connect to it (its NetworkPolicy); none where the server's pods
    /// are not payrail's.
    fn network_peers(&self) -> Vec<(Component, &'static [Component])> {
        Vec::new()
    }

    /// payrail's own PostgreSQL pods that the cluster's PodMonitor scrapes
    /// (on their exporter).
    fn scraped_components(&self) -> &'static [Component] {
        &[]
    }

    /// Monitors of pods that are not payrail's (CNPG's instances).
    fn pod_monitors(&self, _valid: &ValidatedCluster) -> Vec<Child> {
        Vec::new()
    }

    /// The series that measures the read replica's lag, when there is a
    /// replica the app reads from.
    fn replication_lag_metric(&self) -> Option<&'static str> {
        None
    }

    /// Whether base backups are taken (and so alerted on when they fail).
    fn backs_up(&self) -> bool {
        false
    }

    /// payrail's own StatefulSets that run the server, the primary first:
    /// the pods dereference reads (refusals, a replica not streaming), the
    /// pair whose updates `reconcile::order` keeps in turn, and the data a
    /// switch to another provider would leave behind.
    fn server_statefulsets(&self, _names: &Names) -> Vec<String> {
        Vec::new()
    }

    /// The database's ready and desired pods, from the objects as the API
    /// server returned them; `None` when what runs it was not applied this
    /// time (status keeps the counts last seen).
    fn readiness(&self, names: &Names, objects: &[Child]) -> Option<ComponentStatus>;

    /// Conditions of the provider's own (`kubectl get paycl` shows some),
    /// from the objects as the API server returned them.
    fn conditions(&self, _names: &Names, _objects: &[Child]) -> Vec<Report> {
        Vec::new()
    }

    /// The operators besides Kubernetes whose kinds its children are: those
    /// kinds are read and pruned only with this provider (without it they
    /// may not exist).
    fn sources(&self) -> &'static [Source] {
        &[]
    }
}
