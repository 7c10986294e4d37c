//! The payment app: a Deployment of `payment-app all` replicas wired to the
//! data services, a migration init container so the schema is in place
//! before any replica serves, a Service for the API, and a
//! PodDisruptionBudget and topology spread so a node drain or loss never
//! takes every replica at once.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler, PodSpec, PodTemplateSpec,
    Probe, Service, ServicePort, ServiceSpec, SleepAction, TopologySpreadConstraint, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use payrail_common::settings::{self, vars};

use super::credentials::{API_TOKENS, RABBITMQ_PASSWORD, REDIS_PASSWORD};
use super::env::{plain, secret_env};
use super::meta::{Component, labels, meta, selector, selector_labels};
use super::postgres;
use super::workload::{disruption_budget, stamp};
use super::{rabbitmq, redis, security};
use crate::child::Child;
use crate::crd::{AppLimits, TracingSettings, WebhookSettings};
use crate::reconcile::validate::{APP_PRESTOP_SECONDS, APP_SURGE, ValidatedCluster};

/// payment-app's own default port: its `HTTP_ADDR` is set to it.
pub const HTTP_PORT: u16 = payrail_common::defaults::HTTP_PORT;
/// The port of payment-app's probes and metrics (`OPS_ADDR`), named
/// [`OPS_PORT_NAME`]. The API's Service does not expose it: an Ingress in
/// front of the API publishes neither `/readyz` (the dependencies' states)
/// nor `/metrics`, while the kubelet and Prometheus reach the pods on it.
pub const OPS_PORT: u16 = payrail_common::defaults::OPS_PORT;
pub const OPS_PORT_NAME: &str = "ops";
/// The uid of payment-app's image (Dockerfile.payment-app).
const APP_UID: i64 = 65_532;

/// The app's environment. Secrets come first: Kubernetes expands `$(VAR)`
/// only from variables defined earlier in the list.
pub fn env(valid: &ValidatedCluster) -> Vec<EnvVar> {
    let (spec, names) = (&valid.app, &valid.names);
    let tokens = match &spec.api_tokens_secret {
        Some(secret) => secret_env(vars::API_TOKENS, &secret.name, &secret.key),
        None => secret_env(vars::API_TOKENS, &names.credentials(), API_TOKENS),
    };
    let (database_password, database) = postgres::provider(&valid.postgres).app_env(valid);
    let mut env: Vec<EnvVar> = database_password.into_iter().collect();
    env.extend([
        secret_env("RABBITMQ_PASSWORD", &names.credentials(), RABBITMQ_PASSWORD),
        secret_env("REDIS_PASSWORD", &names.credentials(), REDIS_PASSWORD),
        tokens,
    ]);
    env.extend(database);
    env.extend([
        plain(settings::DB_POOL_SIZE.env, valid.connections.pool_size.to_string()),
        plain(vars::AMQP_URL, rabbitmq::url(valid)),
        plain(vars::REDIS_URLS, redis::urls(valid).join(",")),
        plain(vars::HTTP_ADDR, format!("0.0.0.0:{HTTP_PORT}")),
        plain(vars::OPS_ADDR, format!("0.0.0.0:{OPS_PORT}")),
        plain(vars::LOG_FORMAT, spec.log_format.as_str()),
        plain(settings::LOCK_PREFETCH.env, spec.worker.lock_prefetch.to_string()),
        plain(settings::SETTLE_PREFETCH.env, spec.worker.settle_prefetch.to_string()),
        plain(settings::SETTLE_BATCH_MAX.env, spec.worker.settle_batch_max.to_string()),
        plain(settings::LOCK_TTL_MS.env, spec.worker.lock_ttl_ms.to_string()),
        plain(settings::SHUTDOWN_TIMEOUT_SECS.env, spec.shutdown_timeout_seconds.to_string()),
        plain(vars::DEFAULT_CURRENCY, spec.default_currency.as_str()),
    ]);
    env.extend(limits_env(&spec.limits));
    env.extend(webhooks_env(&spec.webhooks));
    env.extend(spec.tracing.as_ref().map(tracing_env).unwrap_or_default());
    env
}

/// The standard OpenTelemetry variables payment-app reads; none when
/// tracing is off.
fn tracing_env(tracing: &TracingSettings) -> Vec<EnvVar> {
    let mut env = vec![
        plain(vars::OTEL_EXPORTER_OTLP_ENDPOINT, tracing.otlp_endpoint.clone()),
        plain(vars::OTEL_EXPORTER_OTLP_PROTOCOL, tracing.protocol.clone()),
    ];
    let optional = [
        (vars::OTEL_SERVICE_NAME, &tracing.service_name),
        (vars::OTEL_TRACES_SAMPLER, &tracing.sampler),
        (vars::OTEL_TRACES_SAMPLER_ARG, &tracing.sampler_arg),
    ];
    env.extend(optional.into_iter().filter_map(|(name, value)| Some(plain(name, value.clone()?))));
    env
}

/// Per-token and issuance limits. Scopes travel with the tokens, in the
/// tokens Secret.
fn limits_env(limits: &AppLimits) -> Vec<EnvVar> {
    let mut env = vec![
        plain(settings::API_RATE_PER_SEC.env, limits.api_rate_per_sec.to_string()),
        plain(settings::API_RATE_BURST.env, limits.api_rate_burst.to_string()),
        plain(settings::MAX_ACCOUNT_ISSUANCE.env, limits.max_account_issuance.clone()),
        plain(settings::MAX_TOTAL_ISSUANCE.env, limits.max_total_issuance.clone()),
        plain(settings::INTAKE_LOCK_TIMEOUT_MS.env, limits.intake_lock_timeout_ms.to_string()),
    ];
    if let Some(share) = limits.max_in_flight_per_token {
        env.push(plain(settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.env, share.to_string()));
    }
    env
}

fn webhooks_env(webhooks: &WebhookSettings) -> Vec<EnvVar> {
    vec![
        plain(vars::WEBHOOK_ALLOW_HTTP, webhooks.allow_http.to_string()),
        plain(vars::WEBHOOK_ALLOW_PRIVATE, webhooks.allow_private.to_string()),
        plain(settings::WEBHOOK_MAX_ENDPOINTS.env, webhooks.max_endpoints.to_string()),
        plain(settings::WEBHOOK_TIMEOUT_MS.env, webhooks.timeout_ms.to_string()),
    ]
}

/// The migrate init container's environment: the app's, except that it
/// connects as the schema's owner and grants the app's role
/// (`DB_APP_ROLE`) what the app needs before the app starts. Who the owner
/// is, and whether migrate also sets the role's password, is the
/// provider's answer ([`postgres::Owner`]); without an owner migrate
/// connects as the app does.
fn migrate_env(valid: &ValidatedCluster) -> Vec<EnvVar> {
    let Some(owner) = postgres::provider(&valid.postgres).migrate_owner(valid) else { return env(valid) };
    let mut env = env(valid);
    env.retain(|e| {
        e.name != vars::DATABASE_URL
            && e.name != vars::DATABASE_READ_URL
            && (owner.sets_app_password || e.name != vars::DB_APP_PASSWORD)
    });
    // The owner's password first: it is expanded into the URL.
    env.insert(0, owner.password);
    env.push(plain(vars::DATABASE_URL, owner.url));
    env.push(plain(vars::DB_APP_ROLE, postgres::connection::APP_USER));
    env
}

/// `database` is the `external` provider's Secret (empty otherwise): a new
/// URL there rolls the app, as a new API token does.
pub fn children(
    valid: &ValidatedCluster,
    credentials: &BTreeMap<String, Vec<u8>>,
    tokens: &BTreeMap<String, Vec<u8>>,
    database: &BTreeMap<String, Vec<u8>>,
) -> Vec<Child> {
    let (cr, names) = (&valid.owner, &valid.names);
    let credentials_name = names.credentials();
    let mut secrets = vec![(credentials_name.as_str(), credentials)];
    secrets.extend(valid.app.api_tokens_secret.as_ref().map(|s| (s.name.as_str(), tokens)));
    secrets.extend(postgres::provider(&valid.postgres).app_secret().map(|name| (name, database)));
    vec![
        stamp(deployment(valid), &secrets, &[]),
        service(valid),
        disruption_budget(cr, names.app(), Component::App, selector(cr, Component::App)),
    ]
}

fn http_probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(OPS_PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

/// The init container that applies the migrations before any replica
/// of a new template serves.
fn migrate_container(valid: &ValidatedCluster, mounts: Vec<VolumeMount>) -> Container {
    let spec = &valid.app;
    Container {
        name: "migrate".into(),
        image: Some(spec.image.clone()),
        args: Some(vec!["migrate".into()]),
        env: Some(migrate_env(valid)),
        resources: Some(spec.resources.clone()),
        security_context: Some(security::container(true)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

/// `payment-app all`: the API and both workers.
fn app_container(valid: &ValidatedCluster, mounts: Vec<VolumeMount>) -> Container {
    let spec = &valid.app;
    Container {
        name: "payment-app".into(),
        image: Some(spec.image.clone()),
        args: Some(vec!["all".into(), "--skip-migrations".into()]),
        env: Some(env(valid)),
        ports: Some(vec![
            ContainerPort {
                name: Some("http".into()),
                container_port: HTTP_PORT.into(),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(OPS_PORT_NAME.into()),
                container_port: OPS_PORT.into(),
                ..ContainerPort::default()
            },
        ]),
        liveness_probe: Some(Probe { failure_threshold: Some(6), ..http_probe("/healthz") }),
        readiness_probe: Some(http_probe("/readyz")),
        // Serve on while the Service's routes forget this pod (the image
        // has no shell: the kubelet's own sleep, Kubernetes 1.30+).
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: APP_PRESTOP_SECONDS.into() }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        resources: Some(spec.resources.clone()),
        security_context: Some(security::container(true)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn deployment(valid: &ValidatedCluster) -> Child {
    let (cr, names, spec) = (&valid.owner, &valid.names, &valid.app);
    let (tmp_volume, tmp) = security::scratch("tmp", "/tmp");
    let (mut volumes, mut mounts) = (vec![tmp_volume], vec![tmp]);
    if let Some((volume, mount)) = postgres::provider(&valid.postgres).app_volume() {
        volumes.push(volume);
        mounts.push(mount);
    }
    let pod = PodSpec {
        init_containers: Some(vec![migrate_container(valid, mounts.clone())]),
        containers: vec![app_container(valid, mounts)],
        volumes: Some(volumes),
        security_context: Some(security::pod(APP_UID)),
        // payment-app's own bound for the whole stop, plus a margin.
        termination_grace_period_seconds: Some(valid.app_grace_period_seconds),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(selector(cr, Component::App)),
            ..TopologySpreadConstraint::default()
        }]),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    };
    Child::Deployment(Box::new(Deployment {
        metadata: meta(cr, names.app(), Component::App),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: selector(cr, Component::App),
            // A new pod counts as available only once the old pod it
            // replaces can have finished stopping, so a rollout has at most
            // `validate::APP_STOPPING` pods stopping, pools open, at a time:
            // the connection budget counts them. (It also keeps a rollout
            // from going on past a pod that fails within its first minute.)
            // Cost: a rollout takes at least one grace period per pod.
            min_ready_seconds: Some(i32::try_from(valid.app_grace_period_seconds).unwrap_or(i32::MAX)),
            // One new pod at a time and none taken away before its
            // replacement is ready: an image change never drops capacity.
            // The connection budget counts that surge pod.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(APP_SURGE)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cr, Component::App)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }))
}

/// The API's Service, port 80: the API only (see [`OPS_PORT`]).
fn service(valid: &ValidatedCluster) -> Child {
    let cr = &valid.owner;
    Child::Service(Box::new(Service {
        metadata: meta(cr, valid.names.api_service(), Component::App),
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
    }))
}
