//! Builder tests from the YAML fixtures in `tests/fixtures`: names, labels,
//! owner references, wiring, volumes, probes, the replica bootstrap and the
//! credentials that must never be regenerated.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, Secret, Service};

use super::*;
use crate::crd::PaymentCluster;
use crate::pod;

pub(crate) struct Counting(pub u32);

impl PasswordSource for Counting {
    fn password(&mut self) -> String {
        self.0 += 1;
        format!("pw{}", self.0)
    }
}

pub(crate) fn fixture(name: &str) -> PaymentCluster {
    let text = match name {
        "minimal" => include_str!("../../tests/fixtures/minimal.yaml"),
        "full" => include_str!("../../tests/fixtures/full.yaml"),
        other => panic!("no fixture {other}"),
    };
    serde_yaml::from_str(text).expect("fixture parses")
}

fn built(name: &str) -> Vec<Child> {
    let cr = fixture(name);
    build(&cr, &Credentials::complete(None, &mut Counting(0)))
}

fn find<'a>(children: &'a [Child], kind: &str, name: &str) -> &'a Child {
    children
        .iter()
        .find(|c| c.kind() == kind && c.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn deployment(children: &[Child], name: &str) -> Deployment {
    match find(children, "Deployment", name) {
        Child::Deployment(d) => (**d).clone(),
        _ => unreachable!(),
    }
}

fn statefulset(children: &[Child], name: &str) -> StatefulSet {
    match find(children, "StatefulSet", name) {
        Child::StatefulSet(s) => (**s).clone(),
        _ => unreachable!(),
    }
}

fn containers(s: &StatefulSet) -> (Vec<Container>, Vec<Container>) {
    let pod = s.spec.as_ref().and_then(|s| s.template.spec.clone()).expect("pod spec");
    (pod.init_containers.unwrap_or_default(), pod.containers)
}

fn env_value(env: &[EnvVar], name: &str) -> Option<String> {
    env.iter().find(|e| e.name == name).and_then(|e| e.value.clone())
}

fn app_container(children: &[Child], cluster: &str) -> Container {
    let d = deployment(children, &format!("{cluster}-app"));
    d.spec.and_then(|s| s.template.spec).expect("pod").containers[0].clone()
}

#[test]
fn a_minimal_cluster_becomes_the_whole_stack() {
    let kinds_and_names: Vec<(&str, String)> =
        built("minimal").iter().map(|c| (c.kind(), c.name().to_owned())).collect();
    let expected = [
        ("Secret", "mini-credentials"),
        ("ConfigMap", "mini-postgres-scripts"),
        ("Service", "mini-postgres"),
        ("StatefulSet", "mini-postgres"),
        ("Service", "mini-postgres-ro"),
        ("StatefulSet", "mini-postgres-ro"),
        ("ConfigMap", "mini-redis-config"),
        ("Service", "mini-redis"),
        ("StatefulSet", "mini-redis"),
        ("Service", "mini-rabbitmq"),
        ("StatefulSet", "mini-rabbitmq"),
        ("Deployment", "mini-app"),
        ("Service", "mini-api"),
        ("PodDisruptionBudget", "mini-app"),
    ];
    let expected: Vec<(&str, String)> = expected.iter().map(|(k, n)| (*k, (*n).to_owned())).collect();
    assert_eq!(kinds_and_names, expected);
}

#[test]
fn every_child_is_labelled_and_owned_by_its_cluster_but_credentials_kept_with_volumes() {
    for name in ["minimal", "full"] {
        let cr = fixture(name);
        for child in built(name) {
            let meta = child.meta();
            assert_eq!(meta.namespace, cr.metadata.namespace, "{}", child.name());
            let labels = meta.labels.clone().expect("labels");
            assert_eq!(labels["app.kubernetes.io/name"], "payrail");
            assert_eq!(labels["app.kubernetes.io/instance"], cr.metadata.name.clone().expect("name"));
            assert_eq!(labels["app.kubernetes.io/managed-by"], MANAGER);
            assert!(labels.contains_key("app.kubernetes.io/component"));
            if matches!(child, Child::Secret(_)) && !cr.spec.delete_volumes_on_delete {
                // Kept with the kept volumes, whose passwords it holds.
                assert_eq!(meta.owner_references, None, "{name}: the credentials outlive the cluster");
                continue;
            }
            let owners = meta.owner_references.clone().expect("owner");
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].kind, "PaymentCluster");
            assert_eq!(owners[0].api_version, "payrail.dev/v1alpha1");
            assert_eq!(Some(&owners[0].uid), cr.metadata.uid.as_ref());
            assert_eq!(owners[0].controller, Some(true));
        }
    }
}

#[test]
fn the_app_is_wired_to_each_service() {
    let children = built("minimal");
    let app = app_container(&children, "mini");
    let env = app.env.clone().expect("env");
    assert_eq!(
        env_value(&env, "DATABASE_URL").as_deref(),
        Some("postgres://payrail:$(POSTGRES_PASSWORD)@mini-postgres.shop.svc:5432/payrail")
    );
    assert_eq!(
        env_value(&env, "DATABASE_READ_URL").as_deref(),
        Some("postgres://payrail:$(POSTGRES_PASSWORD)@mini-postgres-ro.shop.svc:5432/payrail")
    );
    assert_eq!(
        env_value(&env, "AMQP_URL").as_deref(),
        Some("amqp://payrail:$(RABBITMQ_PASSWORD)@mini-rabbitmq.shop.svc:5672/%2f")
    );
    let redis: Vec<String> =
        env_value(&env, "REDIS_URLS").expect("REDIS_URLS").split(',').map(str::to_owned).collect();
    assert_eq!(
        redis,
        (0..3)
            .map(|i| format!("redis://:$(REDIS_PASSWORD)@mini-redis-{i}.mini-redis.shop.svc:6379"))
            .collect::<Vec<_>>()
    );
    // Every $(VAR) refers to a variable defined earlier, or Kubernetes
    // leaves it unexpanded.
    for (i, var) in env.iter().enumerate() {
        for reference in var.value.as_deref().unwrap_or("").split("$(").skip(1) {
            let name = reference.split(')').next().expect("closed");
            assert!(
                env[..i].iter().any(|e| e.name == name),
                "{} uses $({name}) before it is defined",
                var.name
            );
        }
    }
    // Secrets come from the credentials Secret; the tokens too by default.
    let tokens = env.iter().find(|e| e.name == "API_TOKENS").expect("API_TOKENS");
    let selector = tokens.value_from.as_ref().and_then(|v| v.secret_key_ref.clone()).expect("from a secret");
    assert_eq!(
        (selector.name.as_str(), selector.key.as_str()),
        ("mini-credentials", credentials::API_TOKENS)
    );
    // Unset tuning gets payment-app's own defaults.
    for (name, default) in [("LOCK_PREFETCH", "1024"), ("SETTLE_PREFETCH", "64"), ("SETTLE_BATCH_MAX", "16")]
    {
        assert_eq!(env_value(&env, name).as_deref(), Some(default), "{name}");
    }
}

#[test]
fn the_full_fixture_changes_what_it_says() {
    let children = built("full");
    let app = app_container(&children, "full");
    let env = app.env.clone().expect("env");
    assert_eq!(app.image.as_deref(), Some("registry.example/payrail/payment-app:1.2.3"));
    assert!(env_value(&env, "DATABASE_READ_URL").is_none(), "no replica, no read URL");
    assert!(!children.iter().any(|c| c.name() == "full-postgres-ro"));
    assert_eq!(env_value(&env, "REDIS_URLS").expect("urls").split(',').count(), 5);
    assert_eq!(env_value(&env, "LOG_FORMAT").as_deref(), Some("text"));
    assert_eq!(env_value(&env, "SETTLE_BATCH_MAX").as_deref(), Some("200"));
    let tokens =
        env.iter().find(|e| e.name == "API_TOKENS").and_then(|e| e.value_from.clone()).expect("tokens");
    let selector = tokens.secret_key_ref.expect("secret");
    assert_eq!((selector.name.as_str(), selector.key.as_str()), ("shop-tokens", "tokens"));
    let d = deployment(&children, "full-app");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));
    let redis = statefulset(&children, "full-redis");
    assert_eq!(redis.spec.as_ref().and_then(|s| s.replicas), Some(5));
    for s in ["full-redis", "full-rabbitmq", "full-postgres"] {
        let policy = statefulset(&children, s).spec.and_then(|s| s.persistent_volume_claim_retention_policy);
        assert_eq!(policy.and_then(|p| p.when_deleted).as_deref(), Some("Delete"), "{s}");
    }
}

#[test]
fn data_lives_on_volumes_that_outlive_the_cluster_by_default() {
    let children = built("minimal");
    for (name, mount, size) in [
        ("mini-redis", "/data", "1Gi"),
        ("mini-rabbitmq", "/var/lib/rabbitmq", "10Gi"),
        ("mini-postgres", "/var/lib/postgresql/data", "10Gi"),
        ("mini-postgres-ro", "/var/lib/postgresql/data", "10Gi"),
    ] {
        let s = statefulset(&children, name);
        let spec = s.spec.clone().expect("spec");
        let claim = &spec.volume_claim_templates.expect("claims")[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data"));
        let requested =
            claim.spec.as_ref().and_then(|c| c.resources.as_ref()).and_then(|r| r.requests.clone());
        assert_eq!(requested.expect("requests")["storage"].0, size, "{name}");
        let (_, main) = containers(&s);
        let mounts = main[0].volume_mounts.clone().expect("mounts");
        assert!(mounts.iter().any(|m| m.name == "data" && m.mount_path == mount), "{name}");
        let policy = spec.persistent_volume_claim_retention_policy.expect("policy");
        assert_eq!(policy.when_deleted.as_deref(), Some("Retain"));
        assert_eq!(spec.service_name.as_deref(), Some(name), "governed by its headless Service");
    }
}

#[test]
fn probes_and_migrations_come_before_traffic() {
    let children = built("minimal");
    let d = deployment(&children, "mini-app");
    let pod = d.spec.and_then(|s| s.template.spec).expect("pod");
    let migrate = &pod.init_containers.expect("init")[0];
    assert_eq!(migrate.args.as_deref(), Some(&["migrate".to_owned()][..]));
    let app = &pod.containers[0];
    assert_eq!(app.args.as_deref(), Some(&["all".to_owned(), "--skip-migrations".to_owned()][..]));
    let path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe.as_ref().and_then(|p| p.http_get.as_ref()).and_then(|h| h.path.clone())
    };
    assert_eq!(path(&app.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(path(&app.readiness_probe).as_deref(), Some("/readyz"));
    let security = app.security_context.clone().expect("security");
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    let spread = pod.topology_spread_constraints.expect("spread");
    assert_eq!(spread[0].topology_key, "kubernetes.io/hostname");
    let pdb = find(&children, "PodDisruptionBudget", "mini-app");
    assert!(
        matches!(pdb, Child::PodDisruptionBudget(p) if p.spec.as_ref().and_then(|s| s.max_unavailable.clone()).is_some())
    );
    for s in ["mini-redis", "mini-rabbitmq", "mini-postgres", "mini-postgres-ro"] {
        let (_, main) = containers(&statefulset(&children, s));
        assert!(main[0].readiness_probe.is_some(), "{s} has a readiness probe");
    }
}

#[test]
fn the_replica_bootstraps_from_the_primary() {
    let children = built("minimal");
    let scripts = match find(&children, "ConfigMap", "mini-postgres-scripts") {
        Child::ConfigMap(c) => ConfigMap::clone(c),
        _ => unreachable!(),
    };
    let data = scripts.data.expect("scripts");
    assert!(data.values().any(|v| v == pod::POSTGRES_PRIMARY_INIT));
    assert!(data.values().any(|v| v == pod::POSTGRES_REPLICA_BOOTSTRAP));

    let (init, main) = containers(&statefulset(&children, "mini-postgres-ro"));
    assert_eq!(init.len(), 1);
    let bootstrap = &init[0];
    assert_eq!(
        bootstrap.command.as_deref(),
        Some(&["bash".to_owned(), "/scripts/replica-bootstrap.sh".to_owned()][..])
    );
    let env = bootstrap.env.clone().expect("env");
    assert_eq!(env_value(&env, "PRIMARY_HOST").as_deref(), Some("mini-postgres.shop.svc"));
    assert_eq!(env_value(&env, "PRIMARY_PORT").as_deref(), Some("5432"));
    assert_eq!(env_value(&env, "REPLICATION_USER").as_deref(), Some(pod::REPLICATION_USER));
    assert!(env.iter().any(|e| e.name == "REPLICATION_PASSWORD" && e.value_from.is_some()));
    assert_eq!(main[0].args, Some(pod::postgres_args()));

    let (primary_init, primary) = containers(&statefulset(&children, "mini-postgres"));
    assert!(primary_init.is_empty());
    let mounts = primary[0].volume_mounts.clone().expect("mounts");
    assert!(mounts.iter().any(|m| m.mount_path == "/docker-entrypoint-initdb.d"));
}

#[test]
fn redis_nodes_are_independent_and_addressable() {
    let children = built("minimal");
    let s = statefulset(&children, "mini-redis");
    let spec = s.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let (_, main) = containers(&s);
    let args = main[0].args.clone().expect("args");
    assert_eq!(args, pod::redis_args("/etc/payrail/redis.conf", "$(REDIS_PASSWORD)"));
    // The file the arguments name is mounted from the ConfigMap.
    let mounts = main[0].volume_mounts.clone().expect("mounts");
    let config_mount = mounts.iter().find(|m| m.name == "config").expect("config mounted");
    assert!(args[0].starts_with(&format!("{}/", config_mount.mount_path)), "{args:?} vs {config_mount:?}");
    let volumes = s
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.volumes.clone())
        .expect("volumes");
    let source = volumes
        .iter()
        .find(|v| v.name == "config")
        .and_then(|v| v.config_map.clone())
        .expect("from a ConfigMap");
    assert_eq!(source.name, "mini-redis-config");
    let config = match find(&children, "ConfigMap", "mini-redis-config") {
        Child::ConfigMap(c) => ConfigMap::clone(c),
        _ => unreachable!(),
    };
    let conf = &config.data.expect("data")["redis.conf"];
    assert_eq!(conf, &pod::redis_conf("/data", 6379));
    assert!(!conf.contains("replicaof"), "nodes are independent");
    let service = match find(&children, "Service", "mini-redis") {
        Child::Service(s) => Service::clone(s),
        _ => unreachable!(),
    };
    assert_eq!(service.spec.and_then(|s| s.cluster_ip).as_deref(), Some("None"));
}

#[test]
fn credentials_are_generated_once_and_then_kept() {
    let cr = fixture("minimal");
    let first = Credentials::complete(None, &mut Counting(0));
    let secret = match &build(&cr, &first)[0] {
        Child::Secret(s) => Secret::clone(s),
        _ => unreachable!(),
    };
    // Read back from the cluster, the same Secret yields the same values,
    // whatever the password source would make now.
    let again = Credentials::complete(Some(&secret), &mut Counting(100));
    assert_eq!(again, first);

    // A key that went missing is filled in; the others stay.
    let mut partial = secret.clone();
    let mut data: BTreeMap<String, ByteString> = partial.data.take().expect("data");
    data.remove(credentials::REDIS_PASSWORD);
    partial.data = Some(data);
    let filled = Credentials::complete(Some(&partial), &mut Counting(100));
    assert_eq!(filled.get(credentials::REDIS_PASSWORD), "pw101");
    assert_eq!(filled.get(credentials::POSTGRES_PASSWORD), first.get(credentials::POSTGRES_PASSWORD));
}

#[test]
fn random_passwords_are_long_and_url_safe() {
    let mut source = RandomPasswords;
    let (a, b) = (source.password(), source.password());
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}
