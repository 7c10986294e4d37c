//! RabbitMQ: one broker with its data on a volume and credentials from the
//! cluster's Secret, behind a headless Service that also names its pod.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, ExecAction, PodSpec, PodTemplateSpec, Probe, Service, ServicePort,
    ServiceSpec, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::app::secret_env;
use super::credentials::{RABBITMQ_ERLANG_COOKIE, RABBITMQ_PASSWORD};
use super::{Child, Component, Names, labels, meta, retention, selector, selector_labels, volume_claim};
use crate::crd::PaymentCluster;

pub const PORT: u16 = 5672;
pub const USER: &str = "payrail";

/// `AMQP_URL` for the app; the password is expanded from its environment.
pub fn url(names: &Names) -> String {
    format!("amqp://{USER}:$(RABBITMQ_PASSWORD)@{}:{PORT}/%2f", names.host(&names.rabbitmq()))
}

pub fn children(cr: &PaymentCluster, names: &Names) -> Vec<Child> {
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
        period_seconds: Some(10),
        timeout_seconds: Some(8),
        ..Probe::default()
    };
    let container = Container {
        name: "rabbitmq".into(),
        image: Some(cr.spec.rabbitmq.image.clone()),
        env: Some(vec![
            EnvVar { name: "RABBITMQ_DEFAULT_USER".into(), value: Some(USER.into()), ..EnvVar::default() },
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
        readiness_probe: Some(diagnostics("check_port_connectivity")),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(60),
            failure_threshold: Some(6),
            ..diagnostics("ping")
        }),
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
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    // Let the broker finish writing before it is killed.
                    termination_grace_period_seconds: Some(60),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim("data", &cr.spec.rabbitmq.storage)]),
            persistent_volume_claim_retention_policy: Some(retention(cr)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    vec![Child::Service(Box::new(service)), Child::StatefulSet(Box::new(statefulset))]
}
