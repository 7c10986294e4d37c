//! PostgreSQL run by CloudNativePG (`postgres.provider: cnpg`): a CNPG
//! `Cluster` (primary and streaming replicas with automated failover, the
//! app's database and owner made by `bootstrap.initdb`, no superuser
//! access), and when `postgres.backup` is set, continuous WAL archiving and
//! scheduled base backups to an S3-compatible object store through the
//! Barman Cloud plugin (an `ObjectStore` and a `ScheduledBackup`), plus
//! scheduled volume snapshots when asked. An optional PgBouncer `Pooler`
//! runs in session mode (see [`pooler`]).
//!
//! The app connects to CNPG's Services (`<cluster>-rw` for writes, through
//! the pooler when there is one; `<cluster>-ro` for reads when there are
//! replicas) as `payrail_app`, a role CNPG keeps (a managed role, its
//! password from a basic-auth Secret made from the credentials); the
//! migrate init container connects as the owner, with the password CNPG
//! generates into its `<cluster>-app` Secret, and grants that role. No PodDisruptionBudget or NetworkPolicy is made
//! for the database: CNPG makes its own budgets, and its pods carry CNPG's
//! labels, not payrail's. The `Cluster` itself holds the data: it is never
//! pruned, and outlives its PaymentCluster unless `deleteVolumesOnDelete`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use payrail_common::settings::vars;
use secrecy::ExposeSecret;

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::backups;
use super::connection::{self, app_url, url};
use super::provider::{Inputs, Owner, Provider, Report};
use crate::child::{Child, Source};
use crate::cnpg::{
    Affinity, BARMAN_CLOUD_PLUGIN, BackupConfiguration, BackupPluginConfiguration, BarmanObjectStore,
    Bootstrap, Cluster, ClusterSpec, Compression, InitDb, LocalObjectReference, ManagedConfiguration,
    ObjectStore, ObjectStoreSpec, PgBouncer, Plugin, Pooler, PoolerSpec, PostgresConfiguration,
    RoleConfiguration, S3Credentials, ScheduledBackup, ScheduledBackupSpec, SecretKeySelector, Storage,
    VolumeSnapshotConfiguration,
};
use crate::crd::{AntiAffinity, BackupSpec, ComponentStatus};
use crate::names::Names;
use crate::prometheus::{PodMetricsEndpoint, PodMonitor, PodMonitorSpec};
use crate::reconcile::build::credentials::{APP_DB_PASSWORD, Credentials};
use crate::reconcile::build::env::{plain, secret_env};
use crate::reconcile::build::meta::{Component, meta};
use crate::reconcile::build::observed::Observed;
use crate::reconcile::build::scrape::{METRICS_PORT, monitoring_meta, relabelings};
use crate::reconcile::validate::{CnpgPlan, ValidatedCluster};

/// The key of the app's password in CNPG's `<cluster>-app` Secret.
const APP_SECRET_PASSWORD: &str = "password";

/// CNPG's `<cluster>-app` Secret: the owner's name and generated password.
fn app_secret(names: &Names) -> String {
    format!("{}-app", names.postgres())
}

impl Provider for CnpgPlan {
    fn children(&self, valid: &ValidatedCluster, inputs: &Inputs<'_>) -> Vec<Child> {
        children(valid, self, inputs.credentials, inputs.observed)
    }

    /// As with builtin, the app's own role; CNPG keeps it (a managed role)
    /// and the owner's migrate grants it.
    fn app_env(&self, valid: &ValidatedCluster) -> (Option<EnvVar>, Vec<EnvVar>) {
        let names = &valid.names;
        let mut urls = vec![plain(vars::DATABASE_URL, app_url(names, &write_service(self, names)))];
        if let Some(read) = read_service(self, names) {
            urls.push(plain(vars::DATABASE_READ_URL, app_url(names, &read)));
        }
        (Some(secret_env(vars::DB_APP_PASSWORD, &names.credentials(), APP_DB_PASSWORD)), urls)
    }

    /// The owner CNPG made, with the password it generated; it may not
    /// create roles, so CNPG sets the app role's password, and until CNPG
    /// has made the role, migrate fails and is retried.
    fn migrate_owner(&self, valid: &ValidatedCluster) -> Option<Owner> {
        let names = &valid.names;
        Some(Owner {
            password: secret_env("POSTGRES_PASSWORD", &app_secret(names), APP_SECRET_PASSWORD),
            url: url(names, &write_service(self, names)),
            sets_app_password: false,
        })
    }

    fn pod_monitors(&self, valid: &ValidatedCluster) -> Vec<Child> {
        vec![cnpg_pod_monitor(valid)]
    }

    fn replication_lag_metric(&self) -> Option<&'static str> {
        (self.instances > 1).then_some("cnpg_pg_replication_lag")
    }

    fn backs_up(&self) -> bool {
        self.backup.is_some()
    }

    /// CNPG's own count of ready instances (it runs and replaces the pods).
    fn readiness(&self, _: &Names, objects: &[Child]) -> Option<ComponentStatus> {
        let cluster = objects.iter().find_map(|c| match c {
            Child::CnpgCluster(cluster) => Some(cluster),
            _ => None,
        })?;
        let status = cluster.status.as_ref();
        let desired = status.and_then(|s| s.instances).unwrap_or(cluster.spec.instances);
        Some(ComponentStatus::new(status.and_then(|s| s.ready_instances).unwrap_or(0), desired))
    }

    /// CNPG's `Ready`, mirrored as `DatabaseReady`, and `BackupsHealthy`
    /// (`kubectl get paycl` shows it) from CNPG's `ContinuousArchiving` and
    /// the plugin's recovery window ([`backups::verdict`]).
    fn conditions(&self, names: &Names, objects: &[Child]) -> Vec<Report> {
        let cluster = objects.iter().find_map(|c| match c {
            Child::CnpgCluster(cluster) => Some(cluster.as_ref()),
            _ => None,
        });
        let reported = |type_: &str| {
            cluster
                .and_then(|c| c.status.as_ref())
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
                .map(|c| (c.status == "True", c.message.as_str()))
        };
        let ready = match reported("Ready") {
            Some((true, message)) => Report::new("DatabaseReady", true, "ClusterReady", message),
            Some((false, message)) => Report::new("DatabaseReady", false, "ClusterNotReady", message),
            None => Report::new(
                "DatabaseReady",
                false,
                "NotReported",
                "CloudNativePG has not reported on the cluster yet",
            ),
        };
        let backups = if self.backup.is_some() {
            // The plugin keys its report by server name, which payrail
            // leaves at its default: the CNPG Cluster's name.
            let window = objects.iter().find_map(|c| match c {
                Child::ObjectStore(store) => {
                    store.status.as_ref().and_then(|s| s.server_recovery_window.get(&names.postgres()))
                }
                _ => None,
            });
            let verdict = backups::verdict(reported("ContinuousArchiving"), window);
            Report::new("BackupsHealthy", verdict.healthy, verdict.reason, verdict.message)
        } else {
            Report::new(
                "BackupsHealthy",
                false,
                "BackupsNotConfigured",
                "postgres.backup is not set: no WAL is archived and no base backup taken",
            )
        };
        vec![ready, backups]
    }

    fn sources(&self) -> &'static [Source] {
        &[Source::Cnpg, Source::BarmanCloud]
    }
}

/// The Service the app writes through: the pooler's, or CNPG's `-rw`.
fn write_service(plan: &CnpgPlan, names: &Names) -> String {
    if plan.pooler_instances.is_some() { names.postgres_pooler() } else { format!("{}-rw", names.postgres()) }
}

/// The Service the app reads through, when the cluster has replicas: `-ro`
/// has no endpoints without one.
fn read_service(plan: &CnpgPlan, names: &Names) -> Option<String> {
    (plan.instances > 1).then(|| format!("{}-ro", names.postgres()))
}

fn children(
    valid: &ValidatedCluster,
    plan: &CnpgPlan,
    credentials: &Credentials,
    observed: &Observed,
) -> Vec<Child> {
    let mut children = vec![app_role_secret(valid, credentials, observed)];
    if let Some(backup) = &plan.backup {
        children.push(object_store(valid, backup));
    }
    children.push(cluster(valid, plan));
    if let Some(backup) = &plan.backup {
        children.push(scheduled_backup(valid, backup));
        if backup.volume_snapshot.is_some() {
            children.push(scheduled_snapshot(valid, backup));
        }
    }
    if plan.pooler_instances.is_some() {
        children.push(pooler(valid));
    }
    children
}

/// The basic-auth Secret CNPG sets the app role's password from: the
/// credentials Secret's `app-db-password`, which the app connects with.
fn app_role_secret_name(names: &Names) -> String {
    format!("{}-app-role", names.postgres())
}

fn app_role_secret(valid: &ValidatedCluster, credentials: &Credentials, observed: &Observed) -> Child {
    let (cr, names) = (&valid.owner, &valid.names);
    let data = BTreeMap::from([
        ("username".to_owned(), ByteString(connection::APP_USER.as_bytes().to_vec())),
        (
            "password".to_owned(),
            ByteString(credentials.get(APP_DB_PASSWORD).expose_secret().as_bytes().to_vec()),
        ),
    ]);
    // CNPG keeps setting the role's password from it as long as the CNPG
    // Cluster lives, and the Cluster outlives the PaymentCluster unless
    // volumes go with it: so the Secret is owned by the CNPG Cluster
    // (garbage-collected with it; from the first reconcile that finds it),
    // or by the PaymentCluster when everything goes with that.
    let mut metadata = meta(cr, app_role_secret_name(names), Component::PostgresPrimary);
    if !valid.placement.delete_volumes_on_delete {
        metadata.owner_references = observed.cnpg_cluster.clone().map(|owner| vec![owner]);
    }
    Child::Secret(Box::new(Secret {
        metadata,
        type_: Some("kubernetes.io/basic-auth".into()),
        data: Some(data),
        ..Secret::default()
    }))
}

/// The CNPG `Cluster`.
fn cluster(valid: &ValidatedCluster, plan: &CnpgPlan) -> Child {
    let (cr, names, server) = (&valid.owner, &valid.names, &valid.postgres_server);
    let parameters =
        BTreeMap::from([("max_connections".to_owned(), valid.connections.max_connections.to_string())]);
    let anti_affinity = match valid.placement.anti_affinity {
        AntiAffinity::Required => "required",
        AntiAffinity::Preferred => "preferred",
    };
    let backup = plan.backup.as_deref();
    // Deleting a CNPG Cluster deletes its volumes: like the builtin
    // servers' volumes, it outlives the PaymentCluster unless the spec asks
    // otherwise, so it is owned (and deleted with it) only then.
    let mut metadata = meta(cr, names.postgres(), Component::PostgresPrimary);
    if !valid.placement.delete_volumes_on_delete {
        metadata.owner_references = None;
    }
    Child::CnpgCluster(Box::new(Cluster {
        metadata,
        spec: ClusterSpec {
            instances: plan.instances,
            image_name: plan.image_name.clone(),
            // CNPG's own default image is its choice, and its pull policy too.
            image_pull_policy: plan.image_name.as_deref().map(|i| crate::image::pull_policy(i).to_owned()),
            enable_superuser_access: Some(false),
            bootstrap: Some(Bootstrap {
                initdb: Some(InitDb {
                    database: connection::DATABASE.into(),
                    owner: connection::USER.into(),
                }),
            }),
            storage: Some(Storage {
                size: server.storage.size.clone(),
                storage_class: server.storage.storage_class.clone(),
            }),
            resources: Some(server.resources.clone()),
            postgresql: Some(PostgresConfiguration { parameters }),
            affinity: Some(Affinity {
                enable_pod_anti_affinity: Some(true),
                topology_key: Some("kubernetes.io/hostname".into()),
                pod_anti_affinity_type: Some(anti_affinity.into()),
            }),
            plugins: backup
                .map(|_| {
                    vec![Plugin {
                        name: BARMAN_CLOUD_PLUGIN.into(),
                        is_wal_archiver: Some(true),
                        parameters: [("barmanObjectName".to_owned(), names.postgres_backups())].into(),
                    }]
                })
                .unwrap_or_default(),
            backup: backup.and_then(|b| b.volume_snapshot.as_ref()).map(|snapshot| BackupConfiguration {
                volume_snapshot: Some(VolumeSnapshotConfiguration {
                    class_name: snapshot.class_name.clone(),
                    online: Some(true),
                }),
            }),
            // The role the app connects as, apart from the owner that
            // applies the migrations (which grants it what the app needs).
            managed: Some(ManagedConfiguration {
                roles: vec![RoleConfiguration {
                    name: connection::APP_USER.into(),
                    ensure: Some("present".into()),
                    login: Some(true),
                    password_secret: Some(LocalObjectReference { name: app_role_secret_name(names) }),
                }],
            }),
        },
        status: None,
    }))
}

/// The object store the plugin archives WAL and base backups to, with
/// the retention that prunes them.
fn object_store(valid: &ValidatedCluster, backup: &BackupSpec) -> Child {
    let (cr, names) = (&valid.owner, &valid.names);
    let store = &backup.object_store;
    let key = |key: &str| SecretKeySelector { name: store.credentials_secret.name.clone(), key: key.into() };
    let path = store.path.as_deref().unwrap_or_default().trim_matches('/');
    let destination_path = if path.is_empty() {
        format!("s3://{}/", store.bucket)
    } else {
        format!("s3://{}/{path}/", store.bucket)
    };
    Child::ObjectStore(Box::new(ObjectStore {
        metadata: meta(cr, names.postgres_backups(), Component::PostgresPrimary),
        spec: ObjectStoreSpec {
            configuration: BarmanObjectStore {
                destination_path,
                endpoint_url: store.endpoint_url.clone(),
                s3_credentials: Some(S3Credentials {
                    access_key_id: key(&store.credentials_secret.access_key_id_key),
                    secret_access_key: key(&store.credentials_secret.secret_access_key_key),
                    region: store.credentials_secret.region_key.as_deref().map(key),
                }),
                // WAL is small and many: compress it; base backups too.
                wal: Some(Compression { compression: Some("gzip".into()) }),
                data: Some(Compression { compression: Some("gzip".into()) }),
            },
            retention_policy: Some(backup.retention_policy.clone()),
        },
        status: None,
    }))
}

fn scheduled(valid: &ValidatedCluster, name: String, schedule: &str, method: &str) -> ScheduledBackup {
    let (cr, names) = (&valid.owner, &valid.names);
    ScheduledBackup {
        metadata: meta(cr, name, Component::PostgresPrimary),
        spec: ScheduledBackupSpec {
            schedule: schedule.to_owned(),
            cluster: LocalObjectReference { name: names.postgres() },
            backup_owner_reference: Some("self".into()),
            method: Some(method.into()),
            plugin_configuration: (method == "plugin")
                .then(|| BackupPluginConfiguration { name: BARMAN_CLOUD_PLUGIN.into() }),
            // The first base backup at once: WAL archiving alone cannot
            // restore anything until one exists.
            immediate: Some(true),
        },
    }
}

/// Base backups to the object store, on the spec's schedule.
fn scheduled_backup(valid: &ValidatedCluster, backup: &BackupSpec) -> Child {
    let name = valid.names.postgres_backups();
    Child::ScheduledBackup(Box::new(scheduled(valid, name, &backup.schedule, "plugin")))
}

/// Volume snapshots of the instances' volumes, on their own schedule.
fn scheduled_snapshot(valid: &ValidatedCluster, backup: &BackupSpec) -> Child {
    let schedule = backup.volume_snapshot.as_ref().map_or(backup.schedule.as_str(), |s| s.schedule.as_str());
    let name = format!("{}-snapshots", valid.names.postgres());
    Child::ScheduledBackup(Box::new(scheduled(valid, name, schedule, "volumeSnapshot")))
}

/// PgBouncer in **session** mode in front of the primary. Transaction mode
/// would hand a server connection to another client after every
/// transaction, and payment-app relies on what lives in a session: the
/// statement refresher holds a session advisory lock
/// (`pg_try_advisory_lock`) for as long as it refreshes, and sqlx keeps
/// prepared statements per connection. In session mode a client keeps its
/// server connection until it disconnects, so both work; what the pooler
/// still gives is one stable endpoint across failovers and a queue, rather
/// than a refusal, when connections exceed the pool.
///
/// Each instance's pool holds every app connection, and `max_connections`
/// is sized for all instances' pools at once
/// ([`ConnectionBudget::primary_connections`]): a smaller pool would leave
/// a client of a busy instance queued behind sessions that last as long as
/// the app's pools. `max_db_connections` caps an instance's server
/// connections to the database at the same number whoever connects, so the
/// migrate container's pool (the owner's) adds none.
///
/// [`ConnectionBudget::primary_connections`]: crate::reconcile::validate::ConnectionBudget::primary_connections
fn pooler(valid: &ValidatedCluster) -> Child {
    let (cr, names) = (&valid.owner, &valid.names);
    let app = valid.connections.app_connections();
    let parameters = BTreeMap::from([
        ("default_pool_size".to_owned(), app.to_string()),
        ("max_db_connections".to_owned(), app.to_string()),
        ("max_client_conn".to_owned(), (app + crate::reconcile::validate::RESERVED_CONNECTIONS).to_string()),
    ]);
    Child::Pooler(Box::new(Pooler {
        metadata: meta(cr, names.postgres_pooler(), Component::PostgresPrimary),
        spec: PoolerSpec {
            cluster: LocalObjectReference { name: names.postgres() },
            instances: Some(valid.connections.poolers),
            type_: Some("rw".into()),
            pgbouncer: PgBouncer { pool_mode: Some("session".into()), parameters },
        },
    }))
}

/// CloudNativePG's instances (not its poolers), on CNPG's metrics port.
fn cnpg_pod_monitor(valid: &ValidatedCluster) -> Child {
    let cr = &valid.owner;
    Child::PodMonitor(Box::new(PodMonitor {
        metadata: monitoring_meta(valid, valid.names.postgres()),
        spec: PodMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([
                    ("cnpg.io/cluster".to_owned(), valid.names.postgres()),
                    ("cnpg.io/podRole".to_owned(), "instance".to_owned()),
                ])),
                ..LabelSelector::default()
            },
            pod_metrics_endpoints: vec![PodMetricsEndpoint {
                port: Some(METRICS_PORT.into()),
                relabelings: relabelings(cr, false),
                ..PodMetricsEndpoint::default()
            }],
        },
    }))
}
