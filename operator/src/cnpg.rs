//! CloudNativePG's resources, typed: only the fields payrail sets or reads,
//! written by hand from CNPG's `postgresql.cnpg.io/v1` API and the Barman
//! Cloud plugin's `barmancloud.cnpg.io/v1` `ObjectStore` (the way current
//! CNPG documents for backups to an object store; the in-tree
//! `spec.backup.barmanObjectStore` is deprecated since CNPG 1.26).
//!
//! What the builders make of them is checked offline against CNPG's
//! published schema (npm `@kubernetes-models/cloudnative-pg`), unknown keys
//! included: `operator/tests/cnpg/validate.mjs`, run by the render tests.
//! Every field is optional on the way in, so a response from the API
//! server (with CNPG's defaults filled in) always reads back.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// The Barman Cloud plugin's name, as `Cluster.spec.plugins` and
/// `ScheduledBackup.spec.pluginConfiguration` name it.
pub const BARMAN_CLOUD_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

/// A PostgreSQL cluster: one primary, `instances - 1` streaming replicas
/// that CNPG fails over to, and the `-rw`, `-ro` and `-r` Services.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "postgresql.cnpg.io",
    version = "v1",
    kind = "Cluster",
    namespaced,
    status = "ClusterStatus",
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub instances: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// As for every other image ([`crate::image::pull_policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Off: the `postgres` superuser gets no password and no Secret; the
    /// app's owner role is all anyone connects as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_superuser_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgresql: Option<PostgresConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<Plugin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupConfiguration>,
    /// Roles CNPG keeps in the database besides the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedConfiguration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedConfiguration {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleConfiguration>,
}

/// A role CNPG creates and keeps, its password from a basic-auth Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleConfiguration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<LocalObjectReference>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initdb: Option<InitDb>,
}

/// A new, empty database owned by `owner`, whose password CNPG generates
/// into the `<cluster>-app` Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InitDb {
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub owner: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    #[serde(default)]
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PostgresConfiguration {
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pod_anti_affinity: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_key: Option<String>,
    /// `required` or `preferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity_type: Option<String>,
}

/// A CNPG-I plugin the cluster uses (the Barman Cloud plugin archives WAL).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub name: String,
    #[serde(default, rename = "isWALArchiver", skip_serializing_if = "Option::is_none")]
    pub is_wal_archiver: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// In-tree backup settings: only volume snapshots (object-store backups go
/// through the plugin).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot: Option<VolumeSnapshotConfiguration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotConfiguration {
    #[serde(default)]
    pub class_name: String,
    /// Hot snapshots (`pg_backup_start`/`stop`), without stopping an instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
}

/// What CNPG reports; payrail mirrors its conditions and counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_instances: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterCondition>,
}

/// One of CNPG's conditions (`Ready`, `ContinuousArchiving`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// Base backups on a schedule.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[kube(
    group = "postgresql.cnpg.io",
    version = "v1",
    kind = "ScheduledBackup",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackupSpec {
    /// Six fields, seconds first (`0 0 2 * * *`).
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub cluster: LocalObjectReference,
    /// `self`: each Backup is owned by this ScheduledBackup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_owner_reference: Option<String>,
    /// `plugin` (to the object store) or `volumeSnapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_configuration: Option<BackupPluginConfiguration>,
    /// A first backup as soon as the schedule exists, not only at its first tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupPluginConfiguration {
    #[serde(default)]
    pub name: String,
}

/// PgBouncer in front of the cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[kube(
    group = "postgresql.cnpg.io",
    version = "v1",
    kind = "Pooler",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSpec {
    #[serde(default)]
    pub cluster: LocalObjectReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// `rw`: to the primary.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default)]
    pub pgbouncer: PgBouncer,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PgBouncer {
    /// `session` or `transaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// Where the Barman Cloud plugin puts base backups and WAL.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[kube(
    group = "barmancloud.cnpg.io",
    version = "v1",
    kind = "ObjectStore",
    namespaced,
    status = "ObjectStoreStatus",
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    #[serde(default)]
    pub configuration: BarmanObjectStore,
    /// How far back recovery must reach (`30d`, `4w`, `6m`): older base
    /// backups and WAL are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
}

/// What the plugin reports of the backups in the store, per server (the
/// plugin's `serverName`, the CNPG Cluster's name unless set otherwise).
/// CNPG's own `Cluster.status.lastSuccessfulBackup` and its siblings are
/// not set for plugin backups: this is where they are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreStatus {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_recovery_window: BTreeMap<String, RecoveryWindow>,
}

/// How far back a server can be restored, and how its base backups went.
/// The plugin sets the failure time when a backup fails and never clears
/// it: a later success is what ends a failure.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryWindow {
    /// The earliest moment the server can be restored to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_recoverability_point: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_backup_time: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BarmanObjectStore {
    /// `s3://bucket/path`.
    #[serde(default)]
    pub destination_path: String,
    /// An S3-compatible endpoint (MinIO, Ceph, R2, ...); AWS when absent.
    #[serde(default, rename = "endpointURL", skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_credentials: Option<S3Credentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<Compression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Compression>,
}

/// Keys of a Secret in the cluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Credentials {
    pub access_key_id: SecretKeySelector,
    pub secret_access_key: SecretKeySelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<SecretKeySelector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Compression {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}
