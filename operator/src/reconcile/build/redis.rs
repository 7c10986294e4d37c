//! The lock's Redis nodes: one StatefulSet of independent nodes (no
//! replication between them: Redlock needs nodes that fail on their own),
//! each with its own volume and on a node of its own, behind a headless
//! Service that gives every node a stable name. Nodes run as the image's
//! own non-root user; the password reaches them as a file from the
//! credentials Secret that `redis.conf` includes, never as an argument.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, ExecAction, KeyToPath, PodSpec,
    PodTemplateSpec, Probe, SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::credentials::{REDIS_AUTH_CONF, REDIS_PASSWORD};
use super::env::{plain, secret_env};
use super::meta::{Component, labels, meta, selector, selector_labels};
use super::observed::Observed;
use super::workload::{data_of, disruption_budget, retention, stamp, volume_claim};
use super::{placement, scrape, security};
use crate::child::Child;
use crate::pod;
use crate::reconcile::validate::ValidatedCluster;

pub const PORT: u16 = 6379;
/// The uid and gid of the redis user in the official image.
const REDIS_UID: i64 = 999;
const DATA: &str = "/data";
const CONF_DIR: &str = "/etc/payrail";
const CONF_FILE: &str = "redis.conf";
const START_FILE: &str = "start.sh";
/// Beside the ConfigMap's mount, not inside it, where its mount point would
/// have to be made inside that read-only volume.
const AUTH_DIR: &str = "/etc/payrail-auth";
const AUTH_FILE: &str = "auth.conf";

/// The URL of each node, for `REDIS_URLS`; the password is expanded from
/// the app container's `REDIS_PASSWORD`.
pub fn urls(valid: &ValidatedCluster) -> Vec<String> {
    let names = &valid.names;
    (0..valid.redis.nodes)
        .map(|i| {
            format!("redis://:$(REDIS_PASSWORD)@{}-{i}.{}:{PORT}", names.redis(), names.host(&names.redis()))
        })
        .collect()
}

pub fn children(
    valid: &ValidatedCluster,
    observed: &Observed,
    credentials: &BTreeMap<String, Vec<u8>>,
) -> Vec<Child> {
    let (cr, names) = (&valid.owner, &valid.names);
    let config = config(valid);
    let stamped =
        stamp(statefulset(valid, observed), &[(&names.credentials(), credentials)], &[&data_of(&config)]);
    vec![
        config,
        service(valid),
        stamped,
        // A drain takes one vote at a time, so a 3-node quorum keeps a majority.
        disruption_budget(cr, names.redis(), Component::Redis, selector(cr, Component::Redis)),
    ]
}

fn service(valid: &ValidatedCluster) -> Child {
    let cr = &valid.owner;
    Child::Service(Box::new(Service {
        metadata: meta(cr, valid.names.redis(), Component::Redis),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Nodes are addressed one by one, ready or not: a lock client
            // counts an unready node as a failed vote, which is correct.
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(cr, Component::Redis)),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: PORT.into(),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }))
}

/// `redis.conf` and the start script.
fn config(valid: &ValidatedCluster) -> Child {
    // Validate left no restart delay exactly when every write is fsynced.
    let fsync_always = valid.redis_restart_delay_seconds.is_none();
    Child::ConfigMap(Box::new(ConfigMap {
        metadata: meta(&valid.owner, valid.names.redis_config(), Component::Redis),
        data: Some(BTreeMap::from([
            (
                CONF_FILE.to_owned(),
                pod::redis_conf(DATA, PORT, fsync_always, &format!("{AUTH_DIR}/{AUTH_FILE}")),
            ),
            (START_FILE.to_owned(), pod::REDIS_START.to_owned()),
        ])),
        ..ConfigMap::default()
    }))
}

fn exec(probe: pod::Probe) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(pod::redis_probe(probe)) }),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn container(valid: &ValidatedCluster, tmp: VolumeMount) -> Container {
    let (names, spec) = (&valid.names, &valid.redis);
    let delay = valid.redis_restart_delay_seconds.unwrap_or(0);
    Container {
        name: "redis".into(),
        image: Some(spec.image.clone()),
        command: Some(vec!["sh".into(), format!("{CONF_DIR}/{START_FILE}")]),
        env: Some(vec![
            plain("REDIS_CONF", format!("{CONF_DIR}/{CONF_FILE}")),
            plain("DATA_DIR", DATA),
            plain("RESTART_DELAY_SECONDS", delay.to_string()),
            plain("EMPTY_VOLUME_DELAY_SECONDS", valid.redis_empty_volume_delay_seconds.to_string()),
            // redis-cli reads it, so the probes pass no password in argv.
            secret_env("REDISCLI_AUTH", &names.credentials(), REDIS_PASSWORD),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: PORT.into(),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![
            mount("data", DATA, false),
            mount("config", CONF_DIR, true),
            mount("auth", AUTH_DIR, true),
            tmp,
        ]),
        resources: Some(spec.resources.clone()),
        // Up to the restart delay plus ten minutes of loading the
        // append-only file before the node must serve.
        startup_probe: Some(Probe {
            period_seconds: Some(5),
            failure_threshold: Some((delay + 600) / 5 + 1),
            ..exec(pod::Probe::Serves)
        }),
        readiness_probe: Some(Probe { period_seconds: Some(5), ..exec(pod::Probe::Serves) }),
        liveness_probe: Some(Probe {
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..exec(pod::Probe::Alive)
        }),
        security_context: Some(security::container(true)),
        ..Container::default()
    }
}

/// The configuration, and the password file from the credentials Secret.
fn volumes(valid: &ValidatedCluster, tmp_volume: Volume) -> Vec<Volume> {
    let names = &valid.names;
    vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.redis_config(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "auth".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names.credentials()),
                items: Some(vec![KeyToPath {
                    key: REDIS_AUTH_CONF.into(),
                    path: AUTH_FILE.into(),
                    mode: None,
                }]),
                // Readable by the redis group (fsGroup) only.
                default_mode: Some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        tmp_volume,
    ]
}

fn statefulset(valid: &ValidatedCluster, observed: &Observed) -> Child {
    let (cr, names, spec) = (&valid.owner, &valid.names, &valid.redis);
    let (tmp_volume, tmp) = security::scratch("tmp", "/tmp");
    Child::StatefulSet(Box::new(StatefulSet {
        metadata: meta(cr, names.redis(), Component::Redis),
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.nodes),
            service_name: Some(names.redis()),
            // Nodes are independent: start and replace them all at once.
            pod_management_policy: Some("Parallel".into()),
            selector: selector(cr, Component::Redis),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cr, Component::Redis)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: [container(valid, tmp)]
                        .into_iter()
                        .chain(scrape::enabled(valid).then(|| redis_exporter(valid)))
                        .collect(),
                    volumes: Some(volumes(valid, tmp_volume)),
                    security_context: Some(security::pod(REDIS_UID)),
                    affinity: Some(placement::apart(valid, &[Component::Redis])),
                    automount_service_account_token: Some(false),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim(
                observed.claim_templates.get(&names.redis()),
                &spec.storage,
            )]),
            persistent_volume_claim_retention_policy: Some(retention(&valid.placement)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }))
}

/// The Redis exporter beside a lock node, logged in with the node's
/// password (from the credentials Secret, never in argv).
fn redis_exporter(valid: &ValidatedCluster) -> Container {
    scrape::exporter(
        "redis-exporter",
        &valid.monitoring_settings.redis_exporter_image,
        scrape::REDIS_EXPORTER_PORT,
        "/health",
        vec![
            plain("REDIS_ADDR", format!("redis://localhost:{}", PORT)),
            secret_env("REDIS_PASSWORD", &valid.names.credentials(), REDIS_PASSWORD),
        ],
    )
}
