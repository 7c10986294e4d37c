//! The lock's Redis nodes: one StatefulSet of independent nodes (no
//! replication between them: Redlock needs nodes that fail on their own),
//! each with its own volume, behind a headless Service that gives every
//! node a stable name.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, ExecAction, PodSpec, PodTemplateSpec, Probe,
    Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::credentials::REDIS_PASSWORD;
use super::{Child, Component, Names, labels, meta, retention, selector, selector_labels, volume_claim};
use crate::builders::app::secret_env;
use crate::crd::PaymentCluster;
use crate::pod;

pub const PORT: u16 = 6379;
const DATA: &str = "/data";
const CONF_DIR: &str = "/etc/payrail";
const CONF_FILE: &str = "redis.conf";

/// The URL of each node, for `REDIS_URLS`; the password is expanded from
/// the app container's `REDIS_PASSWORD`.
pub fn urls(cr: &PaymentCluster, names: &Names) -> Vec<String> {
    (0..cr.spec.redis.nodes)
        .map(|i| {
            format!("redis://:$(REDIS_PASSWORD)@{}-{i}.{}:{PORT}", names.redis(), names.host(&names.redis()))
        })
        .collect()
}

pub fn children(cr: &PaymentCluster, names: &Names) -> Vec<Child> {
    let service = Service {
        metadata: meta(cr, names.redis(), Component::Redis),
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
    };
    let ping = Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                "sh".into(),
                "-c".into(),
                "redis-cli -a \"$REDIS_PASSWORD\" --no-auth-warning ping | grep -q PONG".into(),
            ]),
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    let container = Container {
        name: "redis".into(),
        image: Some(cr.spec.redis.image.clone()),
        command: Some(vec!["redis-server".into()]),
        args: Some(pod::redis_args(&format!("{CONF_DIR}/{CONF_FILE}"), "$(REDIS_PASSWORD)")),
        env: Some(vec![secret_env("REDIS_PASSWORD", &names.credentials(), REDIS_PASSWORD)]),
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: PORT.into(),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![
            VolumeMount { name: "data".into(), mount_path: DATA.into(), ..VolumeMount::default() },
            // The redis.conf that `args` names.
            VolumeMount {
                name: "config".into(),
                mount_path: CONF_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        readiness_probe: Some(ping.clone()),
        liveness_probe: Some(Probe { initial_delay_seconds: Some(15), failure_threshold: Some(6), ..ping }),
        ..Container::default()
    };
    let statefulset = StatefulSet {
        metadata: meta(cr, names.redis(), Component::Redis),
        spec: Some(StatefulSetSpec {
            replicas: Some(cr.spec.redis.nodes),
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
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "config".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: names.redis_config(),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim("data", &cr.spec.redis.storage)]),
            persistent_volume_claim_retention_policy: Some(retention(cr)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    let config = ConfigMap {
        metadata: meta(cr, names.redis_config(), Component::Redis),
        data: Some(BTreeMap::from([(CONF_FILE.to_owned(), pod::redis_conf(DATA, PORT))])),
        ..ConfigMap::default()
    };
    vec![
        Child::ConfigMap(Box::new(config)),
        Child::Service(Box::new(service)),
        Child::StatefulSet(Box::new(statefulset)),
    ]
}
