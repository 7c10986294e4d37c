//! A PostgreSQL server the operator does not run (`postgres.provider:
//! external`): nothing is built for it. The app reads its URLs from the
//! user's Secret (`DATABASE_URL`, optionally `DATABASE_READ_URL`), migrate
//! connects as the app does (the owner is the server's owner's business),
//! and when a CA is named the app verifies the server's certificate with it.

use k8s_openapi::api::core::v1::{EnvVar, KeyToPath, SecretVolumeSource, Volume, VolumeMount};
use payrail_common::settings::vars;

use super::provider::{Inputs, Owner, Provider};
use crate::child::Child;
use crate::crd::ComponentStatus;
use crate::names::Names;
use crate::reconcile::build::env::{optional_secret_env, plain, secret_env};
use crate::reconcile::validate::{ExternalPlan, ValidatedCluster};

/// The keys of the `external` provider's Secret.
pub const DATABASE_URL_KEY: &str = "DATABASE_URL";
pub const DATABASE_READ_URL_KEY: &str = "DATABASE_READ_URL";
/// Where the external server's CA certificate is mounted.
const CA_DIR: &str = "/etc/payrail/postgres-ca";

impl Provider for ExternalPlan {
    fn children(&self, _: &ValidatedCluster, _: &Inputs<'_>) -> Vec<Child> {
        Vec::new()
    }

    /// The user's URLs; with a CA, `sslmode=verify-full` against it (a
    /// `sslmode` in the URL itself wins).
    fn app_env(&self, _: &ValidatedCluster) -> (Option<EnvVar>, Vec<EnvVar>) {
        let mut env = vec![
            secret_env(vars::DATABASE_URL, &self.secret_name, DATABASE_URL_KEY),
            optional_secret_env(vars::DATABASE_READ_URL, &self.secret_name, DATABASE_READ_URL_KEY),
        ];
        if let Some(ca) = &self.ca_secret {
            env.push(plain(vars::PGSSLMODE, "verify-full"));
            env.push(plain(vars::PGSSLROOTCERT, format!("{CA_DIR}/{}", ca.key)));
        }
        (None, env)
    }

    fn migrate_owner(&self, _: &ValidatedCluster) -> Option<Owner> {
        None
    }

    /// Nothing of it runs here: nothing to wait for.
    fn readiness(&self, _: &Names, _: &[Child]) -> Option<ComponentStatus> {
        Some(ComponentStatus { ready: 0, desired: 0, summary: "external".into() })
    }

    /// The server's CA certificate, from its Secret.
    fn app_volume(&self) -> Option<(Volume, VolumeMount)> {
        let ca = self.ca_secret.as_ref()?;
        Some((
            Volume {
                name: "postgres-ca".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(ca.name.clone()),
                    items: Some(vec![KeyToPath { key: ca.key.clone(), path: ca.key.clone(), mode: None }]),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            VolumeMount {
                name: "postgres-ca".into(),
                mount_path: CA_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ))
    }

    fn app_secret(&self) -> Option<&str> {
        Some(&self.secret_name)
    }
}
