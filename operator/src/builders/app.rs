//! The payment app: a Deployment of `payment-app all` replicas wired to the
//! data services, a migration init container so the schema is in place
//! before any replica serves, a Service for the API, and a
//! PodDisruptionBudget and topology spread so a node drain or loss never
//! takes every replica at once.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction,
    PodSpec, PodTemplateSpec, Probe, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::credentials::{API_TOKENS, POSTGRES_PASSWORD, RABBITMQ_PASSWORD, REDIS_PASSWORD};
use super::{Child, Component, Names, labels, meta, postgres, rabbitmq, redis, selector, selector_labels};
use crate::crd::PaymentCluster;

pub const HTTP_PORT: u16 = 8080;

/// An environment variable read from a Secret.
pub(crate) fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}

/// The app's environment. Secrets come first: Kubernetes expands `$(VAR)`
/// only from variables defined earlier in the list.
pub fn env(cr: &PaymentCluster, names: &Names) -> Vec<EnvVar> {
    let spec = &cr.spec.app;
    let tokens = match &spec.api_tokens_secret {
        Some(secret) => secret_env("API_TOKENS", &secret.name, &secret.key),
        None => secret_env("API_TOKENS", &names.credentials(), API_TOKENS),
    };
    let mut env = vec![
        secret_env("POSTGRES_PASSWORD", &names.credentials(), POSTGRES_PASSWORD),
        secret_env("RABBITMQ_PASSWORD", &names.credentials(), RABBITMQ_PASSWORD),
        secret_env("REDIS_PASSWORD", &names.credentials(), REDIS_PASSWORD),
        tokens,
        plain("DATABASE_URL", postgres::url(names, &names.postgres())),
    ];
    if cr.spec.postgres.read_replica {
        env.push(plain("DATABASE_READ_URL", postgres::url(names, &names.postgres_replica())));
    }
    env.extend([
        plain("AMQP_URL", rabbitmq::url(names)),
        plain("REDIS_URLS", redis::urls(cr, names).join(",")),
        plain("HTTP_ADDR", format!("0.0.0.0:{HTTP_PORT}")),
        plain("LOG_FORMAT", spec.log_format.clone()),
        plain("LOCK_PREFETCH", spec.worker.lock_prefetch.to_string()),
        plain("SETTLE_PREFETCH", spec.worker.settle_prefetch.to_string()),
        plain("SETTLE_BATCH_MAX", spec.worker.settle_batch_max.to_string()),
        plain("LOCK_TTL_MS", spec.worker.lock_ttl_ms.to_string()),
    ]);
    env
}

/// Non-root, read-only root filesystem, no privilege escalation, no
/// capabilities: payment-app needs none of them.
fn locked_down() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65_532),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
        ..SecurityContext::default()
    }
}

pub fn children(cr: &PaymentCluster, names: &Names) -> Vec<Child> {
    let spec = &cr.spec.app;
    let http_probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    let tmp = VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..VolumeMount::default() };
    let migrate = Container {
        name: "migrate".into(),
        image: Some(spec.image.clone()),
        args: Some(vec!["migrate".into()]),
        env: Some(env(cr, names)),
        security_context: Some(locked_down()),
        volume_mounts: Some(vec![tmp.clone()]),
        ..Container::default()
    };
    let app = Container {
        name: "payment-app".into(),
        image: Some(spec.image.clone()),
        args: Some(vec!["all".into(), "--skip-migrations".into()]),
        env: Some(env(cr, names)),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT.into(),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(Probe { failure_threshold: Some(6), ..http_probe("/healthz") }),
        readiness_probe: Some(http_probe("/readyz")),
        resources: Some(spec.resources.clone()),
        security_context: Some(locked_down()),
        volume_mounts: Some(vec![tmp]),
        ..Container::default()
    };
    let deployment = Deployment {
        metadata: meta(cr, names.app(), Component::App),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: selector(cr, Component::App),
            // One new pod at a time and none taken away before its
            // replacement is ready: an image change never drops capacity.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cr, Component::App)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    init_containers: Some(vec![migrate]),
                    containers: vec![app],
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    // Longer than payment-app's own 30 s shutdown bound.
                    termination_grace_period_seconds: Some(40),
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname".into(),
                        when_unsatisfiable: "ScheduleAnyway".into(),
                        label_selector: Some(selector(cr, Component::App)),
                        ..TopologySpreadConstraint::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service = Service {
        metadata: meta(cr, names.api_service(), Component::App),
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(cr, Component::App)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let pdb = PodDisruptionBudget {
        metadata: meta(cr, names.app(), Component::App),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(cr, Component::App)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    };
    vec![
        Child::Deployment(Box::new(deployment)),
        Child::Service(Box::new(service)),
        Child::PodDisruptionBudget(Box::new(pdb)),
    ]
}
