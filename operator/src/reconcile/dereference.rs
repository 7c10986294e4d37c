//! The dereference step: everything outside the `PaymentCluster` that its
//! objects depend on, read before anything is built, so the builders stay
//! pure functions of what was read.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::builders::{Observed, VolumeTemplate, volume_labels};
use crate::error::Result;
use crate::validate::ValidatedCluster;

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
}

impl Read {
    /// The builders' view of it.
    pub fn inputs(&self) -> Observed {
        Observed { claim_templates: self.templates.iter().cloned().collect(), tokens: self.tokens.clone() }
    }
}

pub async fn read(client: &Client, valid: &ValidatedCluster) -> Result<Read> {
    let names = &valid.names;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    let credentials = secrets.get_opt(&names.credentials()).await?;
    let tokens = match &valid.spec().app.api_tokens_secret {
        Some(reference) => secrets.get_opt(&reference.name).await?,
        None => None,
    };
    let selector = volume_labels(&valid.cluster);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &names.namespace);
    let claims = claims.list(&ListParams::default().labels(&selector)).await?.items;
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let owned = crate::builders::owned_selector(&valid.cluster);
    let templates = statefulsets
        .list(&ListParams::default().labels(&owned))
        .await?
        .items
        .into_iter()
        .filter_map(|s| {
            let name = s.metadata.name.clone()?;
            let claim = s.spec?.volume_claim_templates?.into_iter().next()?;
            Some((name, VolumeTemplate::of(&claim)?))
        })
        .collect();
    Ok(Read { credentials, tokens, claims, templates })
}
