//! The dereference step: everything outside the `PaymentCluster` that its
//! objects depend on, read before anything is built, so the builders stay
//! pure functions of what was read.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use payrail_common::SecretUrl;
use tracing::debug;

use crate::child::Source;
use crate::cnpg::Cluster;
use crate::error::Result;
use crate::reconcile::build::postgres;
use crate::reconcile::build::postgres::external::{DATABASE_READ_URL_KEY, DATABASE_URL_KEY};
use crate::reconcile::build::{Component, Observed, VolumeTemplate, volume_labels};
use crate::reconcile::failure::ChildFailure;
use crate::reconcile::replica::{NotStreaming, not_streaming};
use crate::reconcile::validate::ValidatedCluster;

/// What was read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// The credentials Secret, if it exists.
    pub credentials: Option<Secret>,
    /// The user's API-tokens Secret, when the spec names one and it exists.
    pub tokens: Option<Secret>,
    /// The cluster's data volumes (made by the StatefulSet controller from
    /// the claim templates, labelled with the pods' selector labels).
    pub claims: Vec<PersistentVolumeClaim>,
    /// The claim templates of the data StatefulSets as they exist.
    pub templates: Vec<(String, VolumeTemplate)>,
    /// The pod management policy of each StatefulSet that exists.
    pub pod_management: Vec<(String, String)>,
    /// The `external` provider's database Secret, when it exists.
    pub database: Option<Secret>,
    /// The CNPG `Cluster` (`cnpg` provider), once it exists.
    pub cnpg_cluster: Option<OwnerReference>,
    /// Why a builtin PostgreSQL pod refused to start on its volume, one
    /// line per pod (see [`refusals`]).
    pub refusals: Vec<String>,
    /// The builtin read replica, when it has not streamed from its primary
    /// for a while (see [`replica`](super::replica)).
    pub not_streaming: Option<NotStreaming>,
    /// The cluster's StatefulSets as they are, status included: the
    /// PostgreSQL pair rolls one at a time (`order`).
    pub statefulsets: Vec<StatefulSet>,
}

impl Read {
    /// The builders' view of it.
    pub fn inputs(&self) -> Observed {
        Observed {
            claim_templates: self.templates.iter().cloned().collect(),
            tokens: self.tokens.clone(),
            database: self.database.clone(),
            pod_management: self.pod_management.iter().cloned().collect(),
            cnpg_cluster: self.cnpg_cluster.clone(),
        }
    }
}

/// The builtin PostgreSQL StatefulSet still exists while the spec names
/// another provider: applying would prune the server the data is on and
/// start the app on an empty database. (The CRD's transition rule refuses
/// the switch; this holds where the CRD is older than the operator.)
pub fn provider_switch(valid: &ValidatedCluster, read: &Read) -> Option<String> {
    let primary = valid.names.postgres();
    let builtin_exists = read.templates.iter().any(|(name, _)| *name == primary);
    let runs_it = postgres::provider(&valid.postgres).server_statefulsets(&valid.names).contains(&primary);
    (!runs_it && builtin_exists).then(|| {
        format!(
            "postgres.provider is {:?} but the StatefulSet {primary} of the builtin server still holds the data; \
             nothing was applied. Set postgres.provider back to builtin, or move the data first \
             (docs/operator.md, \"Moving between providers\")",
            valid.postgres.provider()
        )
    })
}

/// What keeps the app from being rolled out as built: a Secret it reads
/// that is missing or unreadable (the user's API-tokens Secret, the
/// `external` database Secret). Pods rolled onto it could not start, so
/// the app is kept as it runs and each problem is reported instead.
pub fn app_input_problems(valid: &ValidatedCluster, read: &Read) -> Vec<ChildFailure> {
    let tokens = valid.app.api_tokens_secret.as_ref().filter(|_| read.tokens.is_none()).map(|reference| {
        ChildFailure::refused(
            "Secret",
            reference.name.clone(),
            format!(
                "app.apiTokensSecret names a Secret that does not exist in the cluster's namespace; the app keeps \
                 running on the tokens it has and is not rolled out until the Secret (with the key {}) is back",
                reference.key
            ),
        )
    });
    tokens.into_iter().chain(database_secret_problem(valid, read.database.as_ref())).collect()
}

/// What is wrong with the `external` provider's database Secret, if
/// anything: missing, without `DATABASE_URL`, or holding URLs that do not
/// parse. The URLs are parsed as [`SecretUrl`]s, so no message can carry
/// a password; nothing else of the Secret is read.
pub fn database_secret_problem(valid: &ValidatedCluster, secret: Option<&Secret>) -> Option<ChildFailure> {
    let name = postgres::provider(&valid.postgres).app_secret()?;
    let failure = |message: String| Some(ChildFailure::refused("Secret", name.to_owned(), message));
    let Some(secret) = secret else {
        return failure(
            "postgres.external.secretName names a Secret that does not exist in the cluster's namespace: the app cannot start".into(),
        );
    };
    let value =
        |key: &str| secret.data.as_ref()?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    for (key, required) in [(DATABASE_URL_KEY, true), (DATABASE_READ_URL_KEY, false)] {
        match value(key) {
            None if required => return failure(format!("the Secret has no {key}: the app cannot start")),
            None => {}
            Some(text) => {
                if let Err(e) = SecretUrl::parse(&text) {
                    return failure(format!("its {key} is {e}"));
                }
            }
        }
    }
    None
}

pub async fn read(client: &Client, valid: &ValidatedCluster) -> Result<Read> {
    let names = &valid.names;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    let credentials = secrets.get_opt(&names.credentials()).await?;
    let tokens = match &valid.app.api_tokens_secret {
        Some(reference) => secrets.get_opt(&reference.name).await?,
        None => None,
    };
    let selector = volume_labels(&valid.owner);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &names.namespace);
    let claims = claims.list(&ListParams::default().labels(&selector)).await?.items;
    let provider = postgres::provider(&valid.postgres);
    let database = match provider.app_secret() {
        Some(name) => secrets.get_opt(name).await?,
        None => None,
    };
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let owned = crate::reconcile::build::owned_selector(&valid.owner);
    let existing = statefulsets.list(&ListParams::default().labels(&owned)).await?.items;
    let pod_management = existing
        .iter()
        .filter_map(|s| Some((s.metadata.name.clone()?, s.spec.as_ref()?.pod_management_policy.clone()?)))
        .collect();
    let templates = existing
        .iter()
        .filter_map(|s| {
            let name = s.metadata.name.clone()?;
            let claim = s.spec.as_ref()?.volume_claim_templates.as_ref()?.first()?;
            Some((name, VolumeTemplate::of(claim)?))
        })
        .collect();
    let cnpg_cluster =
        if provider.sources().contains(&Source::Cnpg) { cnpg_cluster(client, valid).await } else { None };
    // The pods of payrail's own servers: the refusals their scripts wrote,
    // and whether the replica streams.
    let (refusals, not_streaming) = if provider.server_statefulsets(names).is_empty() {
        (Vec::new(), None)
    } else {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
        let selector = format!(
            "{},app.kubernetes.io/component in ({},{})",
            volume_labels(&valid.owner),
            Component::PostgresPrimary.label(),
            Component::PostgresReplica.label()
        );
        let pods = pods.list(&ListParams::default().labels(&selector)).await?.items;
        (refusals(&pods), not_streaming(&pods, k8s_openapi::jiff::Timestamp::now()))
    };
    Ok(Read {
        credentials,
        tokens,
        claims,
        templates,
        pod_management,
        database,
        cnpg_cluster,
        refusals,
        not_streaming,
        statefulsets: existing,
    })
}

/// What the builtin PostgreSQL pods' init containers said when they
/// stopped with a failure: the primary's `volume-guard` refusing to
/// initialise an empty volume while the replica holds the database, the
/// replica's bootstrap refusing to follow a primary of another database.
/// Both write their reason where the kubelet reads it (the termination
/// message); the pod then waits in a crash loop, which by itself says
/// nothing, so the cluster's status says it instead.
pub fn refusals(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .flat_map(|pod| {
            let name = pod.name_any();
            let statuses = pod.status.iter().flat_map(|s| s.init_container_statuses.iter().flatten());
            statuses.filter_map(move |container| {
                let states = [container.state.as_ref(), container.last_state.as_ref()];
                let stopped = states.into_iter().flatten().find_map(|s| s.terminated.as_ref())?;
                let message = stopped.message.as_deref().map(str::trim).filter(|m| !m.is_empty())?;
                (stopped.exit_code != 0).then(|| format!("Pod {name}, {}: {message}", container.name))
            })
        })
        .collect()
}

/// The CNPG `Cluster` as an owner reference (not a controller, and not
/// blocking its deletion: it is CNPG's object). Unreadable is as good as
/// absent here (CNPG not installed yet, say): the apply step reports
/// that, and the owner is set by a later reconcile.
async fn cnpg_cluster(client: &Client, valid: &ValidatedCluster) -> Option<OwnerReference> {
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), &valid.names.namespace);
    let found = match clusters.get_opt(&valid.names.postgres()).await {
        Ok(found) => found?,
        Err(e) => {
            debug!(error = %payrail_common::chain(&e), "cannot read the CNPG Cluster");
            return None;
        }
    };
    Some(OwnerReference {
        api_version: Cluster::api_version(&()).into_owned(),
        kind: Cluster::kind(&()).into_owned(),
        name: found.name_any(),
        uid: found.uid()?,
        controller: None,
        block_owner_deletion: None,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;
    use crate::reconcile::build::tests::{fixture, valid};

    fn external() -> ValidatedCluster {
        let mut cr = fixture("minimal");
        cr.spec.postgres = serde_json::from_value(serde_json::json!({
            "provider": "external", "external": {"secretName": "db"}
        }))
        .expect("postgres");
        valid(&cr)
    }

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect(),
            ),
            ..Secret::default()
        }
    }

    // Issue 13/14: the external database Secret is checked before the app
    // needs it, and a message about it never carries its password.
    #[test]
    fn the_external_database_secret_is_checked_without_showing_it() {
        let cluster = external();
        let problem = |s: Option<&Secret>| database_secret_problem(&cluster, s).map(|f| f.message());
        assert!(problem(None).expect("missing").contains("does not exist"));
        assert!(problem(Some(&secret(&[]))).expect("no URL").contains("no DATABASE_URL"));
        let good = secret(&[("DATABASE_URL", "postgres://u:s3cret@db:5432/payrail?sslmode=verify-full")]);
        assert_eq!(problem(Some(&good)), None, "DATABASE_READ_URL is optional");
        let bad = secret(&[
            ("DATABASE_URL", "postgres://u:s3cret@db/x"),
            ("DATABASE_READ_URL", "s3cret-not-a-url"),
        ]);
        let message = problem(Some(&bad)).expect("a bad read URL");
        assert!(message.contains("DATABASE_READ_URL") && !message.contains("s3cret"), "{message}");
        assert_eq!(
            database_secret_problem(&valid(&fixture("minimal")), None),
            None,
            "builtin reads no Secret"
        );
    }

    fn pod(name: &str, init: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"initContainerStatuses": init},
        }))
        .expect("pod")
    }

    fn stopped(exit_code: i32, message: Option<&str>) -> serde_json::Value {
        serde_json::json!({"terminated": {"exitCode": exit_code, "message": message}})
    }

    // Issue 25: a primary refusing to initialise over a lost volume, or a
    // replica refusing another database, only crash-looped: the status
    // said "waiting for postgres", never why.
    #[test]
    fn a_data_pods_refusal_is_read_from_its_termination_message() {
        let guard = "payrail: refusing to initialise an empty database: ...";
        let waiting = serde_json::json!({"waiting": {"reason": "CrashLoopBackOff"}});
        let pods = [
            // In its back-off: the reason is in the last state.
            pod(
                "mini-postgres-0",
                serde_json::json!([{"name": "volume-guard", "image": "postgres", "ready": false, "restartCount": 3,
                    "state": waiting, "lastState": stopped(1, Some(guard))}]),
            ),
            // Succeeded, or failed without a word: nothing to report.
            pod(
                "mini-postgres-ro-0",
                serde_json::json!([{"name": "replica-bootstrap", "image": "postgres", "ready": true, "restartCount": 0,
                    "state": stopped(0, Some("payrail: copied")), "lastState": {}}]),
            ),
            pod(
                "mini-postgres-ro-1",
                serde_json::json!([{"name": "replica-bootstrap", "image": "postgres", "ready": false, "restartCount": 1,
                    "state": stopped(137, None), "lastState": {}}]),
            ),
        ];
        assert_eq!(refusals(&pods), [format!("Pod mini-postgres-0, volume-guard: {guard}")]);
        assert!(refusals(&[pod("mini-postgres-0", serde_json::json!([]))]).is_empty());
    }
}
