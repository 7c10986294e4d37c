//! PostgreSQL: a primary and, unless turned off, a streaming read replica,
//! each a StatefulSet with its own volume behind its own Service (read-write
//! and read-only). The replica's init container copies the primary with
//! `pg_basebackup` when its volume is empty; the primary's first start
//! creates the replication role. Both scripts come from `pod`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, ExecAction, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::app::secret_env;
use super::credentials::{POSTGRES_PASSWORD, REPLICATION_PASSWORD};
use super::{Child, Component, Names, labels, meta, retention, selector, selector_labels, volume_claim};
use crate::crd::PaymentCluster;
use crate::pod;

pub const PORT: u16 = 5432;
pub const USER: &str = "payrail";
pub const DATABASE: &str = "payrail";
/// The uid of the postgres user in the official image.
const POSTGRES_UID: i64 = 999;
const DATA_MOUNT: &str = "/var/lib/postgresql/data";
/// A directory below the mount: initdb refuses a mount point that holds
/// `lost+found`.
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
const PRIMARY_INIT: &str = "10-payrail-replication.sh";
const REPLICA_BOOTSTRAP: &str = "replica-bootstrap.sh";

/// A database URL for the app; the password is expanded from its environment.
pub fn url(names: &Names, service: &str) -> String {
    format!("postgres://{USER}:$(POSTGRES_PASSWORD)@{}:{PORT}/{DATABASE}", names.host(service))
}

pub fn children(cr: &PaymentCluster, names: &Names) -> Vec<Child> {
    let scripts = ConfigMap {
        metadata: meta(cr, names.postgres_scripts(), Component::PostgresPrimary),
        data: Some(BTreeMap::from([
            (PRIMARY_INIT.to_owned(), pod::POSTGRES_PRIMARY_INIT.to_owned()),
            (REPLICA_BOOTSTRAP.to_owned(), pod::POSTGRES_REPLICA_BOOTSTRAP.to_owned()),
        ])),
        ..ConfigMap::default()
    };
    let mut children = vec![
        Child::ConfigMap(Box::new(scripts)),
        service(cr, names.postgres(), Component::PostgresPrimary),
        statefulset(cr, names, Component::PostgresPrimary),
    ];
    if cr.spec.postgres.read_replica {
        children.push(service(cr, names.postgres_replica(), Component::PostgresReplica));
        children.push(statefulset(cr, names, Component::PostgresReplica));
    }
    children
}

/// Headless: it governs the StatefulSet and is the address clients use.
fn service(cr: &PaymentCluster, name: String, component: Component) -> Child {
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
    let plain = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    vec![
        plain("PGDATA", PGDATA),
        plain("POSTGRES_USER", USER),
        plain("POSTGRES_DB", DATABASE),
        secret_env("POSTGRES_PASSWORD", &names.credentials(), POSTGRES_PASSWORD),
        plain("REPLICATION_USER", pod::REPLICATION_USER),
        secret_env("REPLICATION_PASSWORD", &names.credentials(), REPLICATION_PASSWORD),
    ]
}

fn statefulset(cr: &PaymentCluster, names: &Names, component: Component) -> Child {
    let primary = component == Component::PostgresPrimary;
    let name = if primary { names.postgres() } else { names.postgres_replica() };
    let data = VolumeMount { name: "data".into(), mount_path: DATA_MOUNT.into(), ..VolumeMount::default() };
    let scripts_at = |path: &str| VolumeMount {
        name: "scripts".into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let ready = Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                "pg_isready".into(),
                "-h".into(),
                "127.0.0.1".into(),
                "-U".into(),
                USER.into(),
                "-d".into(),
                DATABASE.into(),
            ]),
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(3),
        ..Probe::default()
    };
    let mut mounts = vec![data.clone()];
    if primary {
        // The image's entrypoint runs these once, on an empty volume.
        mounts.push(scripts_at("/docker-entrypoint-initdb.d"));
    }
    let server = Container {
        name: "postgres".into(),
        image: Some(cr.spec.postgres.image.clone()),
        args: Some(pod::postgres_args()),
        env: Some(env(names)),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".into()),
            container_port: PORT.into(),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(mounts),
        readiness_probe: Some(ready.clone()),
        liveness_probe: Some(Probe { initial_delay_seconds: Some(30), failure_threshold: Some(6), ..ready }),
        ..Container::default()
    };
    let bootstrap = (!primary).then(|| {
        let mut bootstrap_env = env(names);
        bootstrap_env.push(EnvVar {
            name: "PRIMARY_HOST".into(),
            value: Some(names.host(&names.postgres())),
            ..EnvVar::default()
        });
        bootstrap_env.push(EnvVar {
            name: "PRIMARY_PORT".into(),
            value: Some(PORT.to_string()),
            ..EnvVar::default()
        });
        vec![Container {
            name: "bootstrap".into(),
            image: Some(cr.spec.postgres.image.clone()),
            command: Some(vec!["bash".into(), format!("/scripts/{REPLICA_BOOTSTRAP}")]),
            env: Some(bootstrap_env),
            volume_mounts: Some(vec![data, scripts_at("/scripts")]),
            security_context: Some(k8s_openapi::api::core::v1::SecurityContext {
                run_as_user: Some(POSTGRES_UID),
                ..Default::default()
            }),
            ..Container::default()
        }]
    });
    let pod = PodSpec {
        init_containers: bootstrap,
        containers: vec![server],
        volumes: Some(vec![Volume {
            name: "scripts".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.postgres_scripts(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        security_context: Some(PodSecurityContext {
            fs_group: Some(POSTGRES_UID),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: Some(60),
        ..PodSpec::default()
    };
    Child::StatefulSet(Box::new(StatefulSet {
        metadata: meta(cr, name.clone(), component),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name),
            selector: selector(cr, component),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(cr, component)), ..ObjectMeta::default() }),
                spec: Some(pod),
            },
            volume_claim_templates: Some(vec![volume_claim("data", &cr.spec.postgres.storage)]),
            persistent_volume_claim_retention_policy: Some(retention(cr)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }))
}
