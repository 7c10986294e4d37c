//! RabbitMQ: one broker, or three nodes forming one cluster
//! (`rabbitmq.replicas`), each with its data on a volume and credentials
//! from the cluster's Secret, behind a headless Service that names every
//! pod.
//!
//! Three nodes find each other over the StatefulSet's stable DNS names
//! (classic config peer discovery: the node list is known up front), stop
//! serving on the minority side of a partition (`pause_minority`), keep a
//! replica of every quorum queue on each node (membership reconciliation
//! grows a queue declared before all nodes joined), and leave one at a time:
//! a stopping node first waits until every quorum queue keeps a majority
//! without it (`rabbitmq-upgrade await_online_quorum_plus_one`), then hands
//! its leaders and clients over (`drain`). The PodDisruptionBudget lets a
//! drain take one node at a time.
//!
//! The Erlang cookie comes from the Secret, written onto the volume by an
//! init container at every start: Erlang refuses a cookie file others may
//! read, and the kubelet makes every file of the volume group-readable at
//! each mount (the pod's `fsGroup`), so a cookie kept from the last start
//! would keep the broker from starting again.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, DownwardAPIVolumeFile,
    DownwardAPIVolumeSource, EnvVar, EnvVarSource, ExecAction, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, TCPSocketAction,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::credentials::{RABBITMQ_ERLANG_COOKIE, RABBITMQ_PASSWORD};
use super::env::{plain, secret_env};
use super::meta::{Component, labels, meta, selector, selector_labels};
use super::observed::Observed;
use super::workload::{data_of, disruption_budget, retention, stamp, volume_claim};
use super::{placement, scrape, security};
use crate::child::Child;
use crate::names::Names;
use crate::pod;
use crate::reconcile::validate::ValidatedCluster;

pub const PORT: u16 = 5672;
/// Erlang's port mapper: how nodes find each other's distribution port.
pub const EPMD_PORT: u16 = 4369;
/// Inter-node traffic (Erlang distribution).
pub const DISTRIBUTION_PORT: u16 = 25672;
pub const USER: &str = "payrail";
/// The uid of the rabbitmq user in the official image.
const RABBITMQ_UID: i64 = 999;
/// Read after the image's own `10-defaults.conf`.
const CONF_PATH: &str = "/etc/rabbitmq/conf.d/20-payrail.conf";
const CONF_KEY: &str = "payrail.conf";
const COOKIE_SCRIPT: &str = "erlang-cookie.sh";
/// The image's data directory and its user's `HOME`, where Erlang reads
/// the cookie: the volume.
const DATA_DIR: &str = "/var/lib/rabbitmq";
/// How long a stopping node of a cluster waits for every quorum queue to
/// keep a majority without it, then for its drain.
const AWAIT_QUORUM_SECONDS: i64 = 600;
const DRAIN_SECONDS: i64 = 60;
/// Where a cluster node sees its own annotations (`pod_info`).
const POD_INFO: &str = "/etc/pod-info";
const DELETING_FILE: &str = "cluster-deleting";

/// Whether the brokers form a cluster.
fn clustered(valid: &ValidatedCluster) -> bool {
    valid.rabbitmq.replicas > 1
}

/// The DNS name of node `i` (its pod, through the headless Service).
fn node_host(names: &Names, i: i32) -> String {
    format!("{}-{i}.{}", names.rabbitmq(), names.host(&names.rabbitmq()))
}

/// `AMQP_URL` for the app; the password is expanded from its environment.
/// A cluster's nodes are listed one by one, comma-separated, so the app
/// can move to another node when the one it talks to goes away.
pub fn url(valid: &ValidatedCluster) -> String {
    let names = &valid.names;
    let at = |host: String| format!("amqp://{USER}:$(RABBITMQ_PASSWORD)@{host}:{PORT}/%2f");
    if clustered(valid) {
        (0..valid.rabbitmq.replicas).map(|i| at(node_host(names, i))).collect::<Vec<_>>().join(",")
    } else {
        at(names.host(&names.rabbitmq()))
    }
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
        // A drain takes one node at a time: two of three keep every quorum queue's majority.
        disruption_budget(cr, names.rabbitmq(), Component::Rabbitmq, selector(cr, Component::Rabbitmq)),
    ]
}

fn service(valid: &ValidatedCluster) -> Child {
    let cr = &valid.owner;
    let port = |name: &str, port: u16| ServicePort {
        name: Some(name.into()),
        port: port.into(),
        ..ServicePort::default()
    };
    let mut ports = vec![port("amqp", PORT)];
    if clustered(valid) {
        ports.extend([port("epmd", EPMD_PORT), port("cluster-links", DISTRIBUTION_PORT)]);
    }
    Child::Service(Box::new(Service {
        metadata: meta(cr, valid.names.rabbitmq(), Component::Rabbitmq),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Nodes of a cluster must find each other while they start,
            // before any of them is ready.
            publish_not_ready_addresses: clustered(valid).then_some(true),
            selector: Some(selector_labels(cr, Component::Rabbitmq)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }))
}

/// The broker's configuration file (`rabbitmq.conf` syntax), read after
/// the image's defaults.
fn config(valid: &ValidatedCluster) -> Child {
    let names = &valid.names;
    let nodes: Vec<String> = if clustered(valid) {
        (0..valid.rabbitmq.replicas).map(|i| format!("rabbit@{}", node_host(names, i))).collect()
    } else {
        Vec::new()
    };
    let memory_limit = valid.rabbitmq.resources.limits.as_ref().and_then(|l| l.get("memory"));
    let watermark = memory_limit
        .and_then(|q| crate::reconcile::validate::parse_quantity(&q.0))
        .map(pod::rabbitmq_watermark);
    Child::ConfigMap(Box::new(ConfigMap {
        metadata: meta(&valid.owner, names.rabbitmq_config(), Component::Rabbitmq),
        data: Some(BTreeMap::from([
            (CONF_KEY.to_owned(), pod::rabbitmq_conf(&nodes, watermark)),
            (COOKIE_SCRIPT.to_owned(), pod::RABBITMQ_ERLANG_COOKIE.to_owned()),
        ])),
        ..ConfigMap::default()
    }))
}

/// Ready when the AMQP port accepts connections, as RabbitMQ's own
/// cluster-operator does it: a `rabbitmq-diagnostics` probe starts an
/// Erlang VM at every check (seconds of CPU on a busy node, and a probe
/// that times out under load). The listener opens only once the broker
/// has booted and recovered its message store, so no startup probe is
/// needed; and no liveness probe: a broker busy with a long recovery or a
/// memory alarm is not helped by a restart, which only starts the
/// recovery over.
fn amqp_port_open() -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("amqp".into()),
            ..TCPSocketAction::default()
        }),
        initial_delay_seconds: Some(10),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        ..Probe::default()
    }
}

/// A cluster node's name: `rabbit@` and its pod's DNS name, which stays
/// the same when the pod is replaced.
fn cluster_env(names: &Names) -> Vec<EnvVar> {
    vec![
        EnvVar {
            name: "POD_NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
        plain("RABBITMQ_USE_LONGNAME", "true"),
        plain("RABBITMQ_NODENAME", format!("rabbit@$(POD_NAME).{}", names.host(&names.rabbitmq()))),
    ]
}

/// Before a cluster node stops: wait until every quorum queue keeps a
/// majority without it, then move its queue leaders and clients away; not
/// when the whole cluster is being deleted (`pod::RABBITMQ_PRE_STOP`).
fn pre_stop() -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec!["sh".into(), "-c".into(), pod::RABBITMQ_PRE_STOP.into()]),
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    }
}

/// What the preStop hook reads: its bounds, and where the operator's mark
/// of a cluster being deleted shows up.
fn pre_stop_env() -> Vec<EnvVar> {
    vec![
        plain("DELETING_MARK", format!("{POD_INFO}/{DELETING_FILE}")),
        plain("AWAIT_SECONDS", AWAIT_QUORUM_SECONDS.to_string()),
        plain("DRAIN_SECONDS", DRAIN_SECONDS.to_string()),
    ]
}

/// The pod's own annotation `pod::RABBITMQ_DELETING_ANNOTATION`, as a file
/// the kubelet keeps up to date while the pod runs (an environment
/// variable would keep the value the container started with).
fn pod_info() -> (Volume, VolumeMount) {
    let volume = Volume {
        name: "pod-info".into(),
        downward_api: Some(DownwardAPIVolumeSource {
            items: Some(vec![DownwardAPIVolumeFile {
                path: DELETING_FILE.into(),
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.annotations['{}']", pod::RABBITMQ_DELETING_ANNOTATION),
                    ..ObjectFieldSelector::default()
                }),
                ..DownwardAPIVolumeFile::default()
            }]),
            ..DownwardAPIVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: "pod-info".into(),
        mount_path: POD_INFO.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    (volume, mount)
}

fn container(valid: &ValidatedCluster) -> Container {
    let (names, spec) = (&valid.names, &valid.rabbitmq);
    // No cookie here: the server and the probes' CLI tools read the file
    // the init container wrote (RabbitMQ's own variable for it is
    // deprecated, and did not keep Erlang from reading the file anyway).
    let mut env = vec![
        plain("HOME", DATA_DIR),
        plain("RABBITMQ_DEFAULT_USER", USER),
        secret_env("RABBITMQ_DEFAULT_PASS", &names.credentials(), RABBITMQ_PASSWORD),
    ];
    let port = |name: &str, port: u16| ContainerPort {
        name: Some(name.into()),
        container_port: port.into(),
        ..ContainerPort::default()
    };
    let mut ports = vec![port("amqp", PORT)];
    let mut mounts = vec![
        data_mount(),
        VolumeMount {
            name: "config".into(),
            mount_path: CONF_PATH.into(),
            sub_path: Some(CONF_KEY.into()),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ];
    if clustered(valid) {
        env.extend(cluster_env(names));
        env.extend(pre_stop_env());
        ports.extend([port("epmd", EPMD_PORT), port("cluster-links", DISTRIBUTION_PORT)]);
        mounts.push(pod_info().1);
    }
    if scrape::enabled(valid) {
        ports.push(port(scrape::RABBITMQ_PORT_NAME, scrape::RABBITMQ_PROMETHEUS_PORT));
    }
    Container {
        name: "rabbitmq".into(),
        image: Some(spec.image.clone()),
        env: Some(env),
        ports: Some(ports),
        volume_mounts: Some(mounts),
        resources: Some(spec.resources.clone()),
        readiness_probe: Some(amqp_port_open()),
        lifecycle: clustered(valid).then(pre_stop),
        // The image's entrypoint writes its configuration under
        // /etc/rabbitmq at start, so the root filesystem stays writable.
        security_context: Some(security::container(false)),
        ..Container::default()
    }
}

fn data_mount() -> VolumeMount {
    VolumeMount { name: "data".into(), mount_path: DATA_DIR.into(), ..VolumeMount::default() }
}

/// Puts the cookie from the Secret on the volume, owner-only, before the
/// broker starts: at every start, since every mount loosens its mode.
fn erlang_cookie(valid: &ValidatedCluster) -> Container {
    let (names, spec) = (&valid.names, &valid.rabbitmq);
    Container {
        name: "erlang-cookie".into(),
        image: Some(spec.image.clone()),
        command: Some(vec!["sh".into(), format!("/scripts/{COOKIE_SCRIPT}")]),
        env: Some(vec![
            plain("HOME", DATA_DIR),
            secret_env("ERLANG_COOKIE", &names.credentials(), RABBITMQ_ERLANG_COOKIE),
        ]),
        volume_mounts: Some(vec![
            data_mount(),
            VolumeMount {
                name: "config".into(),
                mount_path: "/scripts".into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        resources: Some(spec.resources.clone()),
        security_context: Some(security::container(true)),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

fn statefulset(valid: &ValidatedCluster, observed: &Observed) -> Child {
    let (cr, names, spec) = (&valid.owner, &valid.names, &valid.rabbitmq);
    let name = names.rabbitmq();
    // Let the broker finish writing before it is killed; a cluster node
    // also waits for quorum and drains first.
    let grace = if clustered(valid) { AWAIT_QUORUM_SECONDS + DRAIN_SECONDS + 60 } else { 60 };
    Child::StatefulSet(Box::new(StatefulSet {
        metadata: meta(cr, name.clone(), Component::Rabbitmq),
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(name.clone()),
            // Nodes restarting together must all start: the last node to
            // stop waits for its peers before it serves, so one at a time
            // in order would wait forever. (Fixed once the StatefulSet
            // exists: an existing one keeps what it has.)
            pod_management_policy: Some(
                observed.pod_management.get(&name).cloned().unwrap_or_else(|| "Parallel".into()),
            ),
            selector: selector(cr, Component::Rabbitmq),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(cr, Component::Rabbitmq)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    init_containers: Some(vec![erlang_cookie(valid)]),
                    containers: vec![container(valid)],
                    volumes: Some(
                        [Volume {
                            name: "config".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: names.rabbitmq_config(),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        }]
                        .into_iter()
                        .chain(clustered(valid).then(|| pod_info().0))
                        .collect(),
                    ),
                    security_context: Some(security::pod(RABBITMQ_UID)),
                    affinity: clustered(valid).then(|| placement::apart(valid, &[Component::Rabbitmq])),
                    termination_grace_period_seconds: Some(grace),
                    automount_service_account_token: Some(false),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim(
                observed.claim_templates.get(&name),
                &spec.storage,
            )]),
            persistent_volume_claim_retention_policy: Some(retention(&valid.placement)),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }))
}
