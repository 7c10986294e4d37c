//! PostgreSQL: a primary and, unless turned off, a streaming read replica,
//! each a StatefulSet with its own volume behind its own Service (read-write
//! and read-only), on different nodes, each with its own
//! PodDisruptionBudget (a drain never evicts the primary). The replica's
//! init container copies the primary with `pg_basebackup` through a
//! replication slot, and again when the slot was given up, never over a
//! copy of another database; the primary's first
//! start creates the replication role, and its init container keeps the
//! image from initialising an empty volume while the replica holds the
//! database (a lost volume, not a new cluster). The scripts, settings and
//! probes come from `pod`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, ExecAction,
    KeyToPath, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use payrail_common::settings::vars;

use super::connection::{DATABASE, PORT, USER, app_url, url};
use super::provider::{Inputs, Owner, Provider};
use crate::child::Child;
use crate::crd::ComponentStatus;
use crate::names::Names;
use crate::pod::{self, PostgresSettings};
use crate::reconcile::build::counts::statefulset_status;
use crate::reconcile::build::credentials::{APP_DB_PASSWORD, POSTGRES_PASSWORD, REPLICATION_PASSWORD};
use crate::reconcile::build::env::{plain, secret_env};
use crate::reconcile::build::meta::{Component, labels, meta, selector, selector_labels};
use crate::reconcile::build::observed::Observed;
use crate::reconcile::build::workload::{
    data_of, disruption_budget, retention, stamp, unevictable_budget, volume_claim,
};
use crate::reconcile::build::{placement, scrape, security};
use crate::reconcile::validate::{BuiltinPlan, ValidatedCluster};

/// The uid of the postgres user in the official image.
const POSTGRES_UID: i64 = 999;
const DATA_MOUNT: &str = "/var/lib/postgresql/data";
/// A directory below the mount: initdb refuses a mount point that holds
/// `lost+found`.
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
const PRIMARY_INIT: &str = "10-payrail-replication.sh";
const PRIMARY_GUARD: &str = "primary-guard.sh";
const REPLICA_BOOTSTRAP: &str = "replica-bootstrap.sh";
/// The kubelet shows the end of a failed init container's output as its
/// termination message when the script could not write one itself.
const LOGS_ON_ERROR: &str = "FallbackToLogsOnError";
/// Crash recovery replays WAL before the server serves; a large WAL
/// backlog can take many minutes. The startup probe waits up to an hour.
const STARTUP_PERIOD_SECONDS: i32 = 10;
const STARTUP_FAILURES: i32 = 360;

impl Provider for BuiltinPlan {
    fn children(&self, valid: &ValidatedCluster, inputs: &Inputs<'_>) -> Vec<Child> {
        children(valid, self, inputs.observed, inputs.credentials_data)
    }

    /// The app connects as a role of its own, which the migrate init
    /// container (connecting as the owner) creates and grants.
    fn app_env(&self, valid: &ValidatedCluster) -> (Option<EnvVar>, Vec<EnvVar>) {
        let names = &valid.names;
        let mut urls = vec![plain(vars::DATABASE_URL, app_url(names, &names.postgres()))];
        if self.read_replica {
            urls.push(plain(vars::DATABASE_READ_URL, app_url(names, &names.postgres_replica())));
        }
        (Some(secret_env(vars::DB_APP_PASSWORD, &names.credentials(), APP_DB_PASSWORD)), urls)
    }

    /// The owner is a superuser here: migrate also creates the app's role
    /// and sets its password.
    fn migrate_owner(&self, valid: &ValidatedCluster) -> Option<Owner> {
        let names = &valid.names;
        Some(Owner {
            password: secret_env("POSTGRES_PASSWORD", &names.credentials(), POSTGRES_PASSWORD),
            url: url(names, &names.postgres()),
            sets_app_password: true,
        })
    }

    fn network_peers(&self) -> Vec<(Component, &'static [Component])> {
        let mut peers: Vec<(Component, &'static [Component])> =
            vec![(Component::PostgresPrimary, &[Component::App, Component::PostgresReplica])];
        if self.read_replica {
            // The primary's volume guard asks the replica which database it holds.
            peers.push((Component::PostgresReplica, &[Component::App, Component::PostgresPrimary]));
        }
        peers
    }

    fn scraped_components(&self) -> &'static [Component] {
        &[Component::PostgresPrimary, Component::PostgresReplica]
    }

    fn replication_lag_metric(&self) -> Option<&'static str> {
        self.read_replica.then_some("pg_replication_lag_seconds")
    }

    /// Primary and replica together: the app needs both (reads go to the
    /// replica).
    fn readiness(&self, names: &Names, objects: &[Child]) -> Option<ComponentStatus> {
        let statefulset = |name: String| {
            objects.iter().find_map(|c| match c {
                Child::StatefulSet(s) if s.metadata.name.as_ref() == Some(&name) => {
                    Some(statefulset_status(s))
                }
                _ => None,
            })
        };
        let primary = statefulset(names.postgres())?;
        match self.read_replica.then(|| statefulset(names.postgres_replica())).flatten() {
            Some(replica) => {
                Some(ComponentStatus::new(primary.ready + replica.ready, primary.desired + replica.desired))
            }
            None => Some(primary),
        }
    }

    fn server_statefulsets(&self, names: &Names) -> Vec<String> {
        let mut sets = vec![names.postgres()];
        sets.extend(self.read_replica.then(|| names.postgres_replica()));
        sets
    }
}

fn children(
    valid: &ValidatedCluster,
    plan: &BuiltinPlan,
    observed: &Observed,
    credentials: &BTreeMap<String, Vec<u8>>,
) -> Vec<Child> {
    let (cr, names) = (&valid.owner, &valid.names);
    let scripts = Child::ConfigMap(Box::new(ConfigMap {
        metadata: meta(cr, names.postgres_scripts(), Component::PostgresPrimary),
        data: Some(BTreeMap::from([
            (PRIMARY_INIT.to_owned(), pod::POSTGRES_PRIMARY_INIT.to_owned()),
            (PRIMARY_GUARD.to_owned(), pod::POSTGRES_PRIMARY_GUARD.to_owned()),
            (REPLICA_BOOTSTRAP.to_owned(), pod::POSTGRES_REPLICA_BOOTSTRAP.to_owned()),
        ])),
        ..ConfigMap::default()
    }));
    let reads = |set: Child| stamp(set, &[(&names.credentials(), credentials)], &[&data_of(&scripts)]);
    let mut children = vec![
        service(valid, names.postgres(), Component::PostgresPrimary),
        reads(statefulset(valid, plan, observed, Component::PostgresPrimary)),
    ];
    if plan.read_replica {
        children.push(service(valid, names.postgres_replica(), Component::PostgresReplica));
        children.push(reads(statefulset(valid, plan, observed, Component::PostgresReplica)));
    }
    // One budget per role, as CloudNativePG has. The primary is the only
    // server that takes writes and nothing promotes the replica: evicted,
    // every payment fails until it is scheduled again, and on a node-local
    // volume it cannot be scheduled anywhere else until that node is back.
    // So a drain never evicts it (minAvailable 1 of 1): `kubectl drain`
    // waits, and a person decides to delete the pod and take the write
    // outage. The replica only serves reads that may lag anyway; a drain
    // may always take it.
    let primary = selector(cr, Component::PostgresPrimary);
    children.push(unevictable_budget(cr, names.postgres(), Component::PostgresPrimary, primary));
    if plan.read_replica {
        let replica = selector(cr, Component::PostgresReplica);
        children.push(disruption_budget(cr, names.postgres_replica(), Component::PostgresReplica, replica));
    }
    children.insert(0, scripts);
    children
}

/// Headless: it governs the StatefulSet and is the address clients use.
fn service(valid: &ValidatedCluster, name: String, component: Component) -> Child {
    let cr = &valid.owner;
    Child::Service(Box::new(Service {
        metadata: meta(cr, name, component),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(cr, component)),
            ports: Some(vec![ServicePort {
                name: Some("postgres".into()),
                port: PORT.into(),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }))
}

fn env(names: &Names) -> Vec<EnvVar> {
    vec![
        plain("PGDATA", PGDATA),
        plain("POSTGRES_USER", USER),
        plain("POSTGRES_DB", DATABASE),
        secret_env("POSTGRES_PASSWORD", &names.credentials(), POSTGRES_PASSWORD),
        plain("REPLICATION_USER", pod::REPLICATION_USER),
        secret_env("REPLICATION_PASSWORD", &names.credentials(), REPLICATION_PASSWORD),
    ]
}

fn exec(command: Vec<String>) -> Probe {
    Probe { exec: Some(ExecAction { command: Some(command) }), timeout_seconds: Some(5), ..Probe::default() }
}

fn scripts_at(path: &str) -> VolumeMount {
    VolumeMount {
        name: "scripts".into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// The scripts ConfigMap as a volume, with only `keys` in it when given.
fn scripts_volume(valid: &ValidatedCluster, name: &str, keys: Option<&[&str]>) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: valid.names.postgres_scripts(),
            items: keys.map(|keys| {
                keys.iter()
                    .map(|key| KeyToPath { key: (*key).into(), path: (*key).into(), ..KeyToPath::default() })
                    .collect()
            }),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn data_mount() -> VolumeMount {
    VolumeMount { name: "data".into(), mount_path: DATA_MOUNT.into(), ..VolumeMount::default() }
}

/// A replica not streaming for this many readiness periods (5 s) leaves its
/// Service: long enough for a primary's restart, short of serving stale
/// reads for good.
const REPLICA_NOT_STREAMING_FAILURES: i32 = 6;

/// The server itself, primary or replica: the same settings and probes,
/// but a replica is ready only while it streams from the primary.
fn server(
    valid: &ValidatedCluster,
    plan: &BuiltinPlan,
    mounts: Vec<VolumeMount>,
    primary: bool,
) -> Container {
    let server = &valid.postgres_server;
    let settings = PostgresSettings {
        max_connections: valid.connections.max_connections,
        max_slot_wal_keep_mb: valid.max_slot_wal_keep_mb,
    };
    Container {
        name: "postgres".into(),
        image: Some(plan.image.clone()),
        args: Some(pod::postgres_args(&settings)),
        env: Some(env(&valid.names)),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".into()),
            container_port: PORT.into(),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(mounts),
        resources: Some(server.resources.clone()),
        startup_probe: Some(Probe {
            period_seconds: Some(STARTUP_PERIOD_SECONDS),
            failure_threshold: Some(STARTUP_FAILURES),
            ..exec(pod::postgres_probe(pod::Probe::Serves))
        }),
        readiness_probe: Some(if primary {
            Probe { period_seconds: Some(5), ..exec(pod::postgres_probe(pod::Probe::Serves)) }
        } else {
            Probe {
                period_seconds: Some(5),
                failure_threshold: Some(REPLICA_NOT_STREAMING_FAILURES),
                ..exec(pod::postgres_probe(pod::Probe::Streams))
            }
        }),
        liveness_probe: Some(Probe {
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..exec(pod::postgres_probe(pod::Probe::Alive))
        }),
        security_context: Some(security::container(true)),
        ..Container::default()
    }
}

/// The replica's init container: a copy of the primary, when it has none
/// (or one that can no longer follow).
fn bootstrap(valid: &ValidatedCluster, plan: &BuiltinPlan, tmp: VolumeMount) -> Container {
    let (names, server) = (&valid.names, &valid.postgres_server);
    let mut bootstrap_env = env(names);
    bootstrap_env.extend([
        plain("PRIMARY_HOST", names.host(&names.postgres())),
        plain("PRIMARY_PORT", PORT.to_string()),
        plain("REPLICA_SLOT", pod::REPLICA_SLOT),
    ]);
    Container {
        name: "bootstrap".into(),
        image: Some(plan.image.clone()),
        command: Some(vec!["bash".into(), format!("/scripts/{REPLICA_BOOTSTRAP}")]),
        env: Some(bootstrap_env),
        volume_mounts: Some(vec![data_mount(), scripts_at("/scripts"), tmp]),
        resources: Some(server.resources.clone()),
        security_context: Some(security::container(true)),
        termination_message_policy: Some(LOGS_ON_ERROR.into()),
        ..Container::default()
    }
}

/// The primary's init container, before the image's entrypoint could
/// initialise an empty volume: an empty volume while the read replica
/// answers is a lost volume, not a new cluster, and stops here. Built
/// whether or not the spec has a replica (nothing answers without one), so
/// turning the replica on or off does not restart the primary.
fn guard(valid: &ValidatedCluster, plan: &BuiltinPlan, tmp: VolumeMount) -> Container {
    let (names, server) = (&valid.names, &valid.postgres_server);
    Container {
        name: "volume-guard".into(),
        image: Some(plan.image.clone()),
        command: Some(vec!["bash".into(), format!("/scripts/{PRIMARY_GUARD}")]),
        env: Some(vec![
            plain("PGDATA", PGDATA),
            plain("REPLICA_HOST", names.host(&names.postgres_replica())),
            plain("REPLICA_PORT", PORT.to_string()),
            plain("REPLICATION_USER", pod::REPLICATION_USER),
            secret_env("REPLICATION_PASSWORD", &names.credentials(), REPLICATION_PASSWORD),
        ]),
        volume_mounts: Some(vec![data_mount(), scripts_at("/scripts"), tmp]),
        resources: Some(server.resources.clone()),
        security_context: Some(security::container(true)),
        termination_message_policy: Some(LOGS_ON_ERROR.into()),
        ..Container::default()
    }
}

/// PostgreSQL's dynamic shared memory (POSIX, what parallel queries use)
/// lives in `/dev/shm`, which container runtimes cap at 64 MB: a parallel
/// hash join over a large ledger failed with "could not resize shared
/// memory segment". A memory-backed volume there instead, as CloudNativePG
/// mounts one; what it holds counts against the container's memory limit.
fn shared_memory() -> (Volume, VolumeMount) {
    let (mut volume, mount) = security::scratch("shm", "/dev/shm");
    volume.empty_dir =
        Some(EmptyDirVolumeSource { medium: Some("Memory".into()), ..EmptyDirVolumeSource::default() });
    (volume, mount)
}

fn pod_spec(valid: &ValidatedCluster, plan: &BuiltinPlan, primary: bool) -> PodSpec {
    // The root filesystem is read-only: the server's socket directory and
    // temporary files get volumes of their own.
    let (run_volume, run) = security::scratch("run", "/var/run/postgresql");
    let (tmp_volume, tmp) = security::scratch("tmp", "/tmp");
    let (shm_volume, shm) = shared_memory();
    let mut mounts = vec![data_mount(), run, tmp.clone(), shm];
    let mut volumes = vec![scripts_volume(valid, "scripts", None), run_volume, tmp_volume, shm_volume];
    if primary {
        // The image's entrypoint runs every script in this directory once,
        // on an empty volume: the primary's own and nothing else.
        mounts.push(VolumeMount {
            name: "initdb".into(),
            mount_path: "/docker-entrypoint-initdb.d".into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(scripts_volume(valid, "initdb", Some(&[PRIMARY_INIT])));
    }
    let apart_from = if primary { Component::PostgresReplica } else { Component::PostgresPrimary };
    PodSpec {
        init_containers: Some(vec![if primary {
            guard(valid, plan, tmp)
        } else {
            bootstrap(valid, plan, tmp)
        }]),
        containers: [server(valid, plan, mounts, primary)]
            .into_iter()
            .chain(scrape::enabled(valid).then(|| postgres_exporter(valid)))
            .collect(),
        volumes: Some(volumes),
        security_context: Some(security::pod(POSTGRES_UID)),
        affinity: Some(placement::apart(valid, &[apart_from])),
        termination_grace_period_seconds: Some(60),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    }
}

fn statefulset(
    valid: &ValidatedCluster,
    plan: &BuiltinPlan,
    observed: &Observed,
    component: Component,
) -> Child {
    let (cr, names, server) = (&valid.owner, &valid.names, &valid.postgres_server);
    let primary = component == Component::PostgresPrimary;
    let name = if primary { names.postgres() } else { names.postgres_replica() };
    Child::StatefulSet(Box::new(StatefulSet {
        metadata: meta(cr, name.clone(), component),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name.clone()),
            selector: selector(cr, component),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(cr, component)), ..ObjectMeta::default() }),
                spec: Some(pod_spec(valid, plan, primary)),
            },
            volume_claim_templates: Some(vec![volume_claim(
                observed.claim_templates.get(&name),
                &server.storage,
            )]),
            persistent_volume_claim_retention_policy: Some(retention(&valid.placement)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }))
}

/// The PostgreSQL exporter beside a builtin server, connecting to it over
/// loopback as the database's owner (its statistics views and replication
/// functions need no more).
fn postgres_exporter(valid: &ValidatedCluster) -> Container {
    scrape::exporter(
        "postgres-exporter",
        &valid.monitoring_settings.postgres_exporter_image,
        scrape::POSTGRES_EXPORTER_PORT,
        "/",
        vec![
            plain("DATA_SOURCE_URI", format!("localhost:{}/{}?sslmode=disable", PORT, DATABASE)),
            plain("DATA_SOURCE_USER", USER),
            secret_env("DATA_SOURCE_PASS", &valid.names.credentials(), POSTGRES_PASSWORD),
        ],
    )
}
