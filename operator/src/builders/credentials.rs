//! The cluster's generated secrets: made once, then read back on every
//! reconcile and never regenerated, since the data services keep the first
//! passwords they were started with.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Child, Component, Names, meta};
use crate::crd::PaymentCluster;

pub const POSTGRES_PASSWORD: &str = "postgres-password";
pub const REPLICATION_PASSWORD: &str = "replication-password";
pub const RABBITMQ_PASSWORD: &str = "rabbitmq-password";
pub const RABBITMQ_ERLANG_COOKIE: &str = "rabbitmq-erlang-cookie";
pub const REDIS_PASSWORD: &str = "redis-password";
/// Bearer tokens for the API, unless the spec names a Secret of its own.
pub const API_TOKENS: &str = "api-tokens";

const KEYS: [&str; 6] = [
    POSTGRES_PASSWORD,
    REPLICATION_PASSWORD,
    RABBITMQ_PASSWORD,
    RABBITMQ_ERLANG_COOKIE,
    REDIS_PASSWORD,
    API_TOKENS,
];

/// Where new passwords come from: random in the operator, fixed in tests.
pub trait PasswordSource {
    fn password(&mut self) -> String;
}

/// 32 alphanumeric characters (about 190 bits), safe inside a URL.
#[derive(Debug, Default)]
pub struct RandomPasswords;

impl PasswordSource for RandomPasswords {
    fn password(&mut self) -> String {
        rand::rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
    }
}

/// The values of the credentials Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, String>);

impl Credentials {
    /// Keeps every value the existing Secret has and generates only the
    /// missing ones.
    pub fn complete(existing: Option<&Secret>, source: &mut dyn PasswordSource) -> Self {
        let data = existing.and_then(|s| s.data.as_ref());
        let values = KEYS
            .iter()
            .map(|key| {
                let kept = data
                    .and_then(|d| d.get(*key))
                    .and_then(|v| String::from_utf8(v.0.clone()).ok())
                    .filter(|v| !v.is_empty());
                ((*key).to_owned(), kept.unwrap_or_else(|| source.password()))
            })
            .collect();
        Credentials(values)
    }

    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
}

/// The credentials Secret. It is owned by the cluster (and deleted with it)
/// only when the volumes are too: kept volumes keep the passwords they were
/// initialised with, so the Secret stays beside them, and a cluster
/// re-created on them finds and reuses it ([`Credentials::complete`]).
pub fn secret(cr: &PaymentCluster, names: &Names, credentials: &Credentials) -> Child {
    let data = credentials.0.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect();
    let mut metadata = meta(cr, names.credentials(), Component::Credentials);
    if !cr.spec.delete_volumes_on_delete {
        metadata.owner_references = None;
    }
    Child::Secret(Box::new(Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }))
}
