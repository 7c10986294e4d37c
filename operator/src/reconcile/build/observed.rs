//! What the dereference step read that the objects depend on: the input
//! of the builders besides the validated spec and the credentials.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// What the dereference step read that the objects depend on.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The claim template of each data StatefulSet that exists, by name:
    /// Kubernetes never lets it change, so it is built as it is.
    pub claim_templates: BTreeMap<String, VolumeTemplate>,
    /// The API-tokens Secret the spec names, for the app's checksum.
    pub tokens: Option<Secret>,
    /// The `external` provider's database Secret, for the app's checksum.
    pub database: Option<Secret>,
    /// The pod management policy of each StatefulSet that exists: it can
    /// never change either.
    pub pod_management: BTreeMap<String, String>,
    /// The CNPG `Cluster`, once it exists, as an owner for what must live
    /// exactly as long as it does (`cnpg` provider).
    pub cnpg_cluster: Option<OwnerReference>,
}

/// The size and class a StatefulSet's claim template was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeTemplate {
    pub size: String,
    pub storage_class: Option<String>,
}

impl VolumeTemplate {
    pub fn of(claim: &PersistentVolumeClaim) -> Option<Self> {
        let spec = claim.spec.as_ref()?;
        let size = spec.resources.as_ref()?.requests.as_ref()?.get("storage")?.0.clone();
        Some(VolumeTemplate { size, storage_class: spec.storage_class_name.clone() })
    }
}
