//! RabbitMQ: one broker with its data on a volume and credentials from the
//! cluster's Secret, behind a headless Service that also names its pod.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ExecAction, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::app::{plain, secret_env};
use super::credentials::{RABBITMQ_ERLANG_COOKIE, RABBITMQ_PASSWORD};
use super::{
    CONFIG_CHECKSUM, Child, Component, Names, Observed, checksum, disruption_budget, labels, meta, retention,
    security, selector, selector_labels, volume_claim,
};
use crate::validate::ValidatedCluster;

pub const PORT: u16 = 5672;
pub const USER: &str = "payrail";
/// The uid of the rabbitmq user in the official image.
const RABBITMQ_UID: i64 = 999;

/// `AMQP_URL` for the app; the password is expanded from its environment.
pub fn url(names: &Names) -> String {
    format!("amqp://{USER}:$(RABBITMQ_PASSWORD)@{}:{PORT}/%2f", names.host(&names.rabbitmq()))
}

pub fn children(
    valid: &ValidatedCluster,
    observed: &Observed,
    credentials: &BTreeMap<String, Vec<u8>>,
) -> Vec<Child> {
    let (cr, names, spec) = (&valid.cluster, &valid.names, &valid.spec().rabbitmq);
    let service = Service {
        metadata: meta(cr, names.rabbitmq(), Component::Rabbitmq),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(cr, Component::Rabbitmq)),
            ports: Some(vec![ServicePort {
                name: Some("amqp".into()),
                port: PORT.into(),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let diagnostics = |check: &str| Probe {
        exec: Some(ExecAction {
            command: Some(vec!["rabbitmq-diagnostics".into(), "-q".into(), check.into()]),
        }),
        timeout_seconds: Some(8),
        ..Probe::default()
    };
    let container = Container {
        name: "rabbitmq".into(),
        image: Some(spec.image.clone()),
        env: Some(vec![
            plain("RABBITMQ_DEFAULT_USER", USER),
            secret_env("RABBITMQ_DEFAULT_PASS", &names.credentials(), RABBITMQ_PASSWORD),
            secret_env("RABBITMQ_ERLANG_COOKIE", &names.credentials(), RABBITMQ_ERLANG_COOKIE),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("amqp".into()),
            container_port: PORT.into(),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/var/lib/rabbitmq".into(),
            ..VolumeMount::default()
        }]),
        resources: Some(spec.resources.clone()),
        // Replaying the message store of a large queue takes minutes.
        startup_probe: Some(Probe {
            period_seconds: Some(10),
            failure_threshold: Some(90),
            ..diagnostics("ping")
        }),
        readiness_probe: Some(Probe { period_seconds: Some(10), ..diagnostics("check_port_connectivity") }),
        liveness_probe: Some(Probe {
            period_seconds: Some(30),
            failure_threshold: Some(6),
            ..diagnostics("ping")
        }),
        // The image's entrypoint writes its configuration under
        // /etc/rabbitmq at start, so the root filesystem stays writable.
        security_context: Some(security::container(false)),
        ..Container::default()
    };
    let statefulset = StatefulSet {
        metadata: meta(cr, names.rabbitmq(), Component::Rabbitmq),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(names.rabbitmq()),
            selector: selector(cr, Component::Rabbitmq),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cr, Component::Rabbitmq)),
                    annotations: Some([(CONFIG_CHECKSUM.to_owned(), checksum([credentials]))].into()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    security_context: Some(security::pod(RABBITMQ_UID)),
                    // Let the broker finish writing before it is killed.
                    termination_grace_period_seconds: Some(60),
                    automount_service_account_token: Some(false),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim(
                observed.claim_templates.get(&names.rabbitmq()),
                &spec.storage,
            )]),
            persistent_volume_claim_retention_policy: Some(retention(cr)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    vec![
        Child::Service(Box::new(service)),
        Child::StatefulSet(Box::new(statefulset)),
        // One broker today (a 3-node one is planned): the budget already
        // says "one at a time" for when there are more.
        disruption_budget(cr, names.rabbitmq(), Component::Rabbitmq, selector(cr, Component::Rabbitmq)),
    ]
}
