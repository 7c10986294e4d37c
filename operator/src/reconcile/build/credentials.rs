//! The cluster's generated secrets: made once, then read back on every
//! reconcile and never regenerated, since the data services keep the first
//! passwords they were started with. They travel as `SecretString`, which
//! never prints its value (a `Debug` of `Credentials` shows `[REDACTED]`);
//! only the Secret builder and the Redis password file expose them.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::ResourceExt;
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};

use super::meta::{Component, meta};
use crate::child::Child;
use crate::pod;
use crate::reconcile::validate::ValidatedCluster;

pub const POSTGRES_PASSWORD: &str = "postgres-password";
pub const REPLICATION_PASSWORD: &str = "replication-password";
pub const RABBITMQ_PASSWORD: &str = "rabbitmq-password";
pub const RABBITMQ_ERLANG_COOKIE: &str = "rabbitmq-erlang-cookie";
pub const REDIS_PASSWORD: &str = "redis-password";
/// The password of the role payment-app connects to the builtin PostgreSQL
/// as (not the schema owner): set again by every `migrate`, so not bound to
/// the data.
pub const APP_DB_PASSWORD: &str = "app-db-password";
/// Bearer tokens for the API, unless the spec names a Secret of its own.
pub const API_TOKENS: &str = "api-tokens";
/// The Redis password as a configuration line, for the file each node's
/// `redis.conf` includes: derived from [`REDIS_PASSWORD`] on every build.
pub const REDIS_AUTH_CONF: &str = "redis-auth.conf";

/// The generated values.
pub(crate) const KEYS: [&str; 7] = [
    POSTGRES_PASSWORD,
    APP_DB_PASSWORD,
    REPLICATION_PASSWORD,
    RABBITMQ_PASSWORD,
    RABBITMQ_ERLANG_COOKIE,
    REDIS_PASSWORD,
    API_TOKENS,
];

/// The values existing data was initialised with: PostgreSQL keeps its
/// roles' passwords and RabbitMQ its user and cookie on their volumes.
/// (Redis reads its password from the Secret at every start, and a new API
/// token only means clients need the new one.)
const BOUND_TO_DATA: [&str; 4] =
    [POSTGRES_PASSWORD, REPLICATION_PASSWORD, RABBITMQ_PASSWORD, RABBITMQ_ERLANG_COOKIE];

/// Where new passwords come from: random in the operator, fixed in tests.
pub trait PasswordSource {
    fn password(&mut self) -> SecretString;
}

/// 32 alphanumeric characters (about 190 bits), safe inside a URL.
#[derive(Debug, Default)]
pub struct RandomPasswords;

impl PasswordSource for RandomPasswords {
    fn password(&mut self) -> SecretString {
        rand::rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect::<String>().into()
    }
}

/// The values of the credentials Secret, and which Secret they were read
/// from.
#[derive(Debug, Clone)]
pub struct Credentials {
    values: BTreeMap<String, SecretString>,
    /// The uid of the Secret the kept values came from (none when it did
    /// not exist). Applied back as a precondition: a Secret deleted while a
    /// reconcile held its values is not brought back by that reconcile,
    /// so the next one sees it gone and says so (`CredentialsLost`) rather
    /// than the outcome depending on which reconcile happened to be running.
    read_from: Option<String>,
}

/// Equal when every value is: for tests of "kept, not regenerated".
impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|((ka, va), (kb, vb))| ka == kb && va.expose_secret() == vb.expose_secret())
    }
}

impl Eq for Credentials {}

fn stored(existing: Option<&Secret>, key: &str) -> Option<SecretString> {
    existing
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

impl Credentials {
    /// Keeps every value the existing Secret has and generates only the
    /// missing ones.
    pub fn complete(existing: Option<&Secret>, source: &mut dyn PasswordSource) -> Self {
        let values = KEYS
            .iter()
            .map(|key| ((*key).to_owned(), stored(existing, key).unwrap_or_else(|| source.password())))
            .collect();
        Credentials { values, read_from: existing.and_then(|s| s.metadata.uid.clone()) }
    }

    /// The value of `key` (empty when it is not one of [`KEYS`]).
    pub fn get(&self, key: &str) -> &SecretString {
        static NONE: std::sync::LazyLock<SecretString> = std::sync::LazyLock::new(SecretString::default);
        self.values.get(key).unwrap_or(&NONE)
    }
}

/// The credentials Secret is gone (or lacks values) while volumes that
/// were initialised with its passwords exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsLost {
    pub secret: String,
    pub missing: Vec<&'static str>,
    pub volumes: Vec<String>,
}

impl fmt::Display for CredentialsLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Secret {} lacks {} while the volumes {} hold data initialised with them; \
             new passwords would lock the app out, so nothing was applied. Restore the Secret \
             from a backup (docs/operator.md, \"Restoring the credentials Secret\")",
            self.secret,
            self.missing.join(", "),
            self.volumes.join(", ")
        )
    }
}

impl std::error::Error for CredentialsLost {}

/// The credentials to build with: the existing ones completed, or a
/// refusal when completing them would replace a password that data on an
/// existing PostgreSQL or RabbitMQ volume was initialised with.
pub fn plan(
    valid: &ValidatedCluster,
    existing: Option<&Secret>,
    claims: &[PersistentVolumeClaim],
    source: &mut dyn PasswordSource,
) -> Result<Credentials, CredentialsLost> {
    let holding_data: Vec<String> = claims
        .iter()
        .filter(|c| {
            let component = c.labels().get("app.kubernetes.io/component").map(String::as_str);
            [Component::PostgresPrimary, Component::PostgresReplica, Component::Rabbitmq]
                .iter()
                .any(|k| Some(k.label()) == component)
        })
        .map(ResourceExt::name_any)
        .collect();
    let missing: Vec<&'static str> =
        BOUND_TO_DATA.iter().copied().filter(|key| stored(existing, key).is_none()).collect();
    if !holding_data.is_empty() && !missing.is_empty() {
        return Err(CredentialsLost { secret: valid.names.credentials(), missing, volumes: holding_data });
    }
    Ok(Credentials::complete(existing, source))
}

/// The credentials Secret. It is owned by the cluster (and deleted with it)
/// only when the volumes are too: kept volumes keep the passwords they were
/// initialised with, so the Secret stays beside them, and a cluster
/// re-created on them finds and reuses it ([`Credentials::complete`]).
pub fn secret(valid: &ValidatedCluster, credentials: &Credentials) -> Child {
    let cr = &valid.owner;
    // The one place the generated values are exposed: into the Secret's data.
    let mut data: BTreeMap<String, ByteString> = credentials
        .values
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.expose_secret().as_bytes().to_vec())))
        .collect();
    data.insert(
        REDIS_AUTH_CONF.into(),
        ByteString(pod::redis_auth_conf(credentials.get(REDIS_PASSWORD).expose_secret()).into_bytes()),
    );
    let mut metadata = meta(cr, valid.names.credentials(), Component::Credentials);
    if !valid.placement.delete_volumes_on_delete {
        metadata.owner_references = None;
    }
    metadata.uid.clone_from(&credentials.read_from);
    Child::Secret(Box::new(Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }))
}
