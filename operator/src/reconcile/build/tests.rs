//! Builder tests from the YAML fixtures in `tests/fixtures`: names, labels,
//! owner references, wiring, volumes, probes, the replica bootstrap and the
//! credentials that must never be regenerated.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, Secret, Service};

use secrecy::{ExposeSecret, SecretString};

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::workload::CONFIG_CHECKSUM;
use super::*;
use crate::crd::PaymentCluster;
use crate::pod;
use crate::reconcile::validate::ValidatedCluster;

pub(crate) struct Counting(pub u32);

impl PasswordSource for Counting {
    fn password(&mut self) -> SecretString {
        self.0 += 1;
        format!("pw{}", self.0).into()
    }
}

pub(crate) fn fixture(name: &str) -> PaymentCluster {
    let text = match name {
        "minimal" => include_str!("../../../tests/fixtures/minimal.yaml"),
        "full" => include_str!("../../../tests/fixtures/full.yaml"),
        other => panic!("no fixture {other}"),
    };
    serde_norway::from_str(text).expect("fixture parses")
}

pub(crate) fn valid(cr: &PaymentCluster) -> ValidatedCluster {
    crate::reconcile::validate::validate(cr).expect("valid")
}

fn built(name: &str) -> Vec<Child> {
    build(&valid(&fixture(name)), &Credentials::complete(None, &mut Counting(0)), &Observed::default())
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
        ("PodDisruptionBudget", "mini-postgres"),
        ("PodDisruptionBudget", "mini-postgres-ro"),
        ("ConfigMap", "mini-redis-config"),
        ("Service", "mini-redis"),
        ("StatefulSet", "mini-redis"),
        ("PodDisruptionBudget", "mini-redis"),
        ("ConfigMap", "mini-rabbitmq-config"),
        ("Service", "mini-rabbitmq"),
        ("StatefulSet", "mini-rabbitmq"),
        ("PodDisruptionBudget", "mini-rabbitmq"),
        ("Deployment", "mini-app"),
        ("Service", "mini-api"),
        ("PodDisruptionBudget", "mini-app"),
        ("NetworkPolicy", "mini-postgres-primary"),
        ("NetworkPolicy", "mini-postgres-replica"),
        ("NetworkPolicy", "mini-redis"),
        ("NetworkPolicy", "mini-rabbitmq"),
        ("NetworkPolicy", "mini-app"),
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
    // The app connects as its own role, never the owner; the migrate init
    // container connects as the owner and makes that role.
    assert_eq!(
        env_value(&env, "DATABASE_URL").as_deref(),
        Some("postgres://payrail_app:$(DB_APP_PASSWORD)@mini-postgres.shop.svc:5432/payrail")
    );
    assert_eq!(
        env_value(&env, "DATABASE_READ_URL").as_deref(),
        Some("postgres://payrail_app:$(DB_APP_PASSWORD)@mini-postgres-ro.shop.svc:5432/payrail")
    );
    assert!(env.iter().all(|e| e.name != "POSTGRES_PASSWORD"), "the app never sees the owner's password");
    let d = deployment(&children, "mini-app");
    let migrate =
        d.spec.and_then(|s| s.template.spec).expect("pod").init_containers.expect("init")[0].clone();
    let migrate_env = migrate.env.expect("env");
    assert_eq!(
        env_value(&migrate_env, "DATABASE_URL").as_deref(),
        Some("postgres://payrail:$(POSTGRES_PASSWORD)@mini-postgres.shop.svc:5432/payrail")
    );
    assert_eq!(env_value(&migrate_env, "DB_APP_ROLE").as_deref(), Some("payrail_app"));
    assert!(env_value(&migrate_env, "DATABASE_READ_URL").is_none());
    for (name, key) in [
        ("POSTGRES_PASSWORD", credentials::POSTGRES_PASSWORD),
        ("DB_APP_PASSWORD", credentials::APP_DB_PASSWORD),
    ] {
        let from =
            migrate_env.iter().find(|e| e.name == name).and_then(|e| e.value_from.clone()).expect(name);
        assert_eq!(from.secret_key_ref.expect("secret").key, key, "{name}");
    }
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
    for (name, default) in [
        ("LOCK_PREFETCH", "1024"),
        ("SETTLE_PREFETCH", "64"),
        ("SETTLE_BATCH_MAX", "16"),
        ("API_RATE_PER_SEC", "10000"),
        ("MAX_ACCOUNT_ISSUANCE", "1000000000.00"),
        ("DEFAULT_CURRENCY", "USD"),
        ("WEBHOOK_ALLOW_PRIVATE", "false"),
    ] {
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
    for (name, value) in [
        ("API_RATE_PER_SEC", "500"),
        ("API_RATE_BURST", "800"),
        ("HTTP_MAX_IN_FLIGHT_PER_TOKEN", "64"),
        ("MAX_ACCOUNT_ISSUANCE", "5000.00"),
        ("MAX_TOTAL_ISSUANCE", "1000000"),
        ("DEFAULT_CURRENCY", "EUR"),
        ("INTAKE_LOCK_TIMEOUT_MS", "250"),
        ("WEBHOOK_ALLOW_HTTP", "true"),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_MAX_ENDPOINTS", "4"),
        ("WEBHOOK_TIMEOUT_MS", "3000"),
    ] {
        assert_eq!(env_value(&env, name).as_deref(), Some(value), "{name}");
    }
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
    assert!(data.values().any(|v| v == pod::POSTGRES_PRIMARY_GUARD));
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
    // Why it stopped (a primary that is another database) shows in
    // `kubectl describe pod`, even where the script could not write it.
    assert_eq!(bootstrap.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
    assert!(main[0].args.as_ref().is_some_and(|a| a.contains(&"hot_standby=on".to_owned())));
}

// Issue 25, item 8: the image's entrypoint runs every script in
// /docker-entrypoint-initdb.d; the primary's first start ran the replica's
// bootstrap too, and crashed. Item 1: before the entrypoint could
// initialise an empty volume, the guard asks the replica.
#[test]
fn the_primary_runs_only_its_own_first_start_script_after_its_volume_guard() {
    let children = built("minimal");
    let pod = statefulset(&children, "mini-postgres").spec.and_then(|s| s.template.spec).expect("pod");
    let initdb = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/docker-entrypoint-initdb.d")
        .expect("initdb.d");
    let volume = pod.volumes.iter().flatten().find(|v| v.name == initdb.name).expect("volume");
    let items = volume.config_map.as_ref().and_then(|c| c.items.clone()).expect("only some keys");
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["10-payrail-replication.sh"]);

    let init = pod.init_containers.clone().expect("init containers");
    assert_eq!(init.len(), 1);
    let guard = &init[0];
    assert_eq!(
        guard.command.as_deref(),
        Some(&["bash".to_owned(), "/scripts/primary-guard.sh".to_owned()][..])
    );
    let env = guard.env.clone().expect("env");
    assert_eq!(env_value(&env, "REPLICA_HOST").as_deref(), Some("mini-postgres-ro.shop.svc"));
    assert_eq!(env_value(&env, "PGDATA"), env_value(&pod.containers[0].env.clone().expect("env"), "PGDATA"));
    assert_eq!(guard.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
    let data = |c: &Container| c.volume_mounts.iter().flatten().any(|m| m.name == "data");
    assert!(data(guard) && data(&pod.containers[0]), "the guard sees the volume the server uses");

    // Turning the replica off does not change (and restart) the primary.
    let without = built_from(serde_json::json!({"postgres": {"readReplica": false}}));
    let primary = |c: &[Child]| statefulset(c, "mini-postgres").spec.map(|s| s.template.spec);
    assert_eq!(primary(&without), primary(&children));
}

#[test]
fn redis_nodes_are_independent_and_addressable() {
    let children = built("minimal");
    let s = statefulset(&children, "mini-redis");
    let spec = s.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let (_, main) = containers(&s);
    // The file the start script names is mounted from the ConfigMap.
    let conf_path = env_value(main[0].env.as_deref().unwrap_or_default(), "REDIS_CONF").expect("REDIS_CONF");
    let mounts = main[0].volume_mounts.clone().expect("mounts");
    let config_mount = mounts.iter().find(|m| m.name == "config").expect("config mounted");
    assert!(
        conf_path.starts_with(&format!("{}/", config_mount.mount_path)),
        "{conf_path} vs {config_mount:?}"
    );
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
    assert!(conf.contains("dir /data\nappendonly yes\n"), "{conf}");
    assert!(!conf.contains("replicaof"), "nodes are independent");
    let service = match find(&children, "Service", "mini-redis") {
        Child::Service(s) => Service::clone(s),
        _ => unreachable!(),
    };
    assert_eq!(service.spec.and_then(|s| s.cluster_ip).as_deref(), Some("None"));
}

// The CI run of fa107c8: a reconcile that had read the credentials Secret
// before a user deleted it applied it again, so the loss went unreported
// (and whether it was depended on timing). The Secret it applies names the
// one it read, and the server refuses to re-create it under that uid.
#[test]
fn the_credentials_secret_is_applied_only_onto_the_one_it_was_read_from() {
    let cr = fixture("minimal");
    let secret_of =
        |credentials: &Credentials| match &build(&valid(&cr), credentials, &Observed::default())[0] {
            Child::Secret(s) => Secret::clone(s),
            _ => unreachable!(),
        };
    let new = secret_of(&Credentials::complete(None, &mut Counting(0)));
    assert_eq!(new.metadata.uid, None, "a new Secret is created");

    let mut read = new.clone();
    read.metadata.uid = Some("0b7d3c1e-uid-of-the-secret-read".into());
    let kept = secret_of(&Credentials::complete(Some(&read), &mut Counting(100)));
    assert_eq!(kept.metadata.uid.as_deref(), Some("0b7d3c1e-uid-of-the-secret-read"));
}

#[test]
fn credentials_are_generated_once_and_then_kept() {
    let cr = fixture("minimal");
    let first = Credentials::complete(None, &mut Counting(0));
    let secret = match &build(&valid(&cr), &first, &Observed::default())[0] {
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
    assert_eq!(filled.get(credentials::REDIS_PASSWORD).expose_secret(), "pw101");
    assert_eq!(
        filled.get(credentials::POSTGRES_PASSWORD).expose_secret(),
        first.get(credentials::POSTGRES_PASSWORD).expose_secret()
    );
    // And none of them ever prints.
    let shown = format!("{filled:?}");
    assert!(!shown.contains("pw101") && !shown.contains("pw1\""), "{shown}");
}

#[test]
fn random_passwords_are_long_and_url_safe() {
    let mut source = RandomPasswords;
    let (a, b) = (source.password(), source.password());
    let (a, b) = (a.expose_secret(), b.expose_secret());
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}

fn every_pod(children: &[Child]) -> Vec<(String, PodSpec)> {
    children
        .iter()
        .filter_map(|c| match c {
            Child::Deployment(d) => {
                d.spec.as_ref().and_then(|s| s.template.spec.clone()).map(|p| (c.name().to_owned(), p))
            }
            Child::StatefulSet(s) => {
                s.spec.as_ref().and_then(|s| s.template.spec.clone()).map(|p| (c.name().to_owned(), p))
            }
            _ => None,
        })
        .collect()
}

fn built_from(spec: serde_json::Value) -> Vec<Child> {
    let mut cr = fixture("minimal");
    cr.spec = serde_json::from_value(spec).expect("spec");
    build(&valid(&cr), &Credentials::complete(None, &mut Counting(0)), &Observed::default())
}

// Bug 5: PostgreSQL, Redis and RabbitMQ may take long to recover after a
// crash; a liveness probe must not kill them while they do.
#[test]
fn every_data_pod_has_a_startup_probe_and_a_liveness_that_tolerates_recovery() {
    let children = built("minimal");
    // (RabbitMQ has neither: see the next test.)
    for s in ["mini-redis", "mini-postgres", "mini-postgres-ro"] {
        let (_, main) = containers(&statefulset(&children, s));
        let startup = main[0].startup_probe.clone().unwrap_or_else(|| panic!("{s} has no startupProbe"));
        let patience = startup.period_seconds.unwrap_or(10) * startup.failure_threshold.unwrap_or(3);
        assert!(
            patience >= 600,
            "{s}: a startup probe that gives up after {patience} s kills a long recovery"
        );
        let readiness = main[0].readiness_probe.clone().expect("readiness");
        let liveness = main[0].liveness_probe.clone().expect("liveness");
        assert_ne!(liveness.exec, readiness.exec, "{s}: liveness must not be 'serves', or recovery kills it");
    }
    let (_, postgres) = containers(&statefulset(&children, "mini-postgres"));
    let command = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref().and_then(|p| p.exec.clone()).and_then(|e| e.command).expect("exec")
    };
    assert_eq!(command(&postgres[0].liveness_probe), pod::postgres_probe(pod::Probe::Alive));
    assert_eq!(command(&postgres[0].readiness_probe), pod::postgres_probe(pod::Probe::Serves));
    // Issue 25 item 6: a replica is ready only while it streams.
    let (_, replica) = containers(&statefulset(&children, "mini-postgres-ro"));
    assert_eq!(command(&replica[0].readiness_probe), pod::postgres_probe(pod::Probe::Streams));
    assert_eq!(command(&replica[0].liveness_probe), pod::postgres_probe(pod::Probe::Alive));
}

// Issue 25 item 9: RabbitMQ's probes started an Erlang VM at every check,
// and its liveness probe could restart a broker in a long recovery. Ready
// when the AMQP port is open (as RabbitMQ's cluster-operator has it), no
// liveness.
#[test]
fn rabbitmq_is_ready_when_its_port_is_open_and_never_killed_by_a_probe() {
    for spec in [serde_json::json!({}), serde_json::json!({"rabbitmq": {"replicas": 3}})] {
        let (_, main) = containers(&statefulset(&built_from(spec), "mini-rabbitmq"));
        let readiness = main[0].readiness_probe.clone().expect("readiness");
        assert_eq!(readiness.tcp_socket.map(|t| t.port), Some(IntOrString::String("amqp".into())));
        assert!(readiness.exec.is_none());
        assert!(main[0].liveness_probe.is_none() && main[0].startup_probe.is_none());
    }
}

// Issue 25 item 11: /dev/shm is 64 MB in a container; PostgreSQL's parallel
// queries need more.
#[test]
fn postgres_has_its_shared_memory_in_a_memory_volume() {
    let children = built("minimal");
    for name in ["mini-postgres", "mini-postgres-ro"] {
        let pod = statefulset(&children, name).spec.and_then(|s| s.template.spec).expect("pod");
        let mount = pod.containers[0].volume_mounts.iter().flatten().find(|m| m.mount_path == "/dev/shm");
        let mount = mount.unwrap_or_else(|| panic!("{name}: no /dev/shm"));
        let volume = pod.volumes.iter().flatten().find(|v| v.name == mount.name).expect("volume");
        assert_eq!(volume.empty_dir.clone().and_then(|e| e.medium).as_deref(), Some("Memory"), "{name}");
    }
}

// Bug 6: what Pod Security `restricted` checks, on every pod of both fixtures.
#[test]
fn every_pod_and_container_is_locked_down() {
    for name in ["minimal", "full"] {
        for (owner, pod) in every_pod(&built(name)) {
            let context = pod.security_context.clone().unwrap_or_default();
            assert_eq!(context.run_as_non_root, Some(true), "{owner}");
            assert_eq!(
                context.seccomp_profile.map(|p| p.type_).as_deref(),
                Some("RuntimeDefault"),
                "{owner}"
            );
            for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
                let security = c.security_context.clone().unwrap_or_default();
                assert_eq!(security.allow_privilege_escalation, Some(false), "{owner}/{}", c.name);
                let drop = security.capabilities.and_then(|c| c.drop).unwrap_or_default();
                assert_eq!(drop, ["ALL"], "{owner}/{}", c.name);
                assert_ne!(security.run_as_user, Some(0), "{owner}/{}", c.name);
                // RabbitMQ's entrypoint writes under /etc/rabbitmq (scripts/checkov.yaml).
                if !owner.ends_with("-rabbitmq") {
                    assert_eq!(security.read_only_root_filesystem, Some(true), "{owner}/{}", c.name);
                }
            }
            assert_eq!(pod.automount_service_account_token, Some(false), "{owner}: no API access needed");
        }
    }
}

// Bug 7: no password in a command line (where `ps` shows it) or a ConfigMap.
#[test]
fn no_secret_is_in_arguments_or_config_maps() {
    let cr = fixture("minimal");
    let credentials = Credentials::complete(None, &mut Counting(0));
    let children = build(&valid(&cr), &credentials, &Observed::default());
    let secrets: Vec<&str> = credentials::KEYS.iter().map(|k| credentials.get(k).expose_secret()).collect();
    let leaks = |text: &str| secrets.iter().any(|s| text.contains(s)) || text.contains("PASSWORD)");
    for (owner, pod) in every_pod(&children) {
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            for arg in c.command.iter().flatten().chain(c.args.iter().flatten()) {
                assert!(!leaks(arg), "{owner}/{}: {arg}", c.name);
            }
        }
    }
    for child in &children {
        if let Child::ConfigMap(cm) = child {
            for (key, value) in cm.data.iter().flatten() {
                assert!(!leaks(value), "ConfigMap {}/{key}", child.name());
            }
        }
    }
}

// Bug 7: Redis as the image's own non-root user, its password in a file.
#[test]
fn redis_runs_as_its_image_user_with_the_password_from_a_file() {
    let children = built("minimal");
    let s = statefulset(&children, "mini-redis");
    let pod = s.spec.as_ref().and_then(|s| s.template.spec.clone()).expect("pod");
    let context = pod.security_context.clone().expect("pod security");
    assert_eq!((context.run_as_user, context.run_as_group), (Some(999), Some(999)), "the redis image's user");
    let conf = match find(&children, "ConfigMap", "mini-redis-config") {
        Child::ConfigMap(c) => c.data.clone().expect("data")["redis.conf"].clone(),
        _ => unreachable!(),
    };
    let include = conf.lines().find_map(|l| l.strip_prefix("include ")).expect("an include line").to_owned();
    let (dir, file) = include.rsplit_once('/').expect("a path");
    let mount = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == dir)
        .unwrap_or_else(|| panic!("{dir} is mounted"));
    let volume = pod.volumes.iter().flatten().find(|v| v.name == mount.name).expect("volume");
    let secret = volume.secret.clone().expect("from a Secret");
    assert_eq!(secret.secret_name.as_deref(), Some("mini-credentials"));
    let item = secret.items.unwrap_or_default().into_iter().find(|i| i.path == file).expect("item");
    assert_eq!(item.key, credentials::REDIS_AUTH_CONF);
    let secret_object = match &children[0] {
        Child::Secret(s) => Secret::clone(s),
        _ => unreachable!(),
    };
    let auth = String::from_utf8(secret_object.data.expect("data")[credentials::REDIS_AUTH_CONF].0.clone())
        .expect("utf8");
    assert_eq!(auth, "requirepass pw6\n");
}

// Bug 8: a restarted Redis node either fsyncs every grant or waits out
// every lock it may have forgotten; which is the spec's choice.
#[test]
fn redis_crash_safety_is_a_spec_choice() {
    let conf_of = |children: &[Child]| match find(children, "ConfigMap", "mini-redis-config") {
        Child::ConfigMap(c) => c.data.clone().expect("data")["redis.conf"].clone(),
        _ => unreachable!(),
    };
    let delay_of = |children: &[Child], name: &str| {
        let (_, main) = containers(&statefulset(children, "mini-redis"));
        env_value(main[0].env.as_deref().unwrap_or_default(), name)
    };
    let delayed = built_from(serde_json::json!({"app": {"worker": {"lockTtlMs": 45000}}}));
    assert!(conf_of(&delayed).contains("appendfsync everysec"));
    assert_eq!(
        delay_of(&delayed, "RESTART_DELAY_SECONDS").as_deref(),
        Some("46"),
        "longer than the 45 s locks"
    );
    let always = built_from(serde_json::json!({"redis": {"crashSafety": "FsyncAlways"}}));
    assert!(conf_of(&always).contains("appendfsync always"));
    assert_eq!(delay_of(&always, "RESTART_DELAY_SECONDS").as_deref(), Some("0"));
    // Issue 25, item 11: an empty volume may be a lost one, and fsyncing
    // every grant does not bring them back: it waits in both modes.
    assert_eq!(delay_of(&delayed, "EMPTY_VOLUME_DELAY_SECONDS").as_deref(), Some("46"));
    assert_eq!(delay_of(&always, "EMPTY_VOLUME_DELAY_SECONDS").as_deref(), Some("31"));
}

// Bug 10: every app pod of a rollout gets its pool, and PostgreSQL admits them.
#[test]
fn the_connection_budget_reaches_the_app_and_postgres() {
    let children = built_from(serde_json::json!({"app": {"replicas": 6, "maxReplicas": 12}}));
    let app = app_container(&children, "mini");
    assert_eq!(env_value(app.env.as_deref().unwrap_or_default(), "DB_POOL_SIZE").as_deref(), Some("16"));
    for s in ["mini-postgres", "mini-postgres-ro"] {
        let (_, main) = containers(&statefulset(&children, s));
        let args = main[0].args.clone().expect("args");
        // (12 + 1 starting + 1 stopping) x 16 + 10.
        assert!(args.contains(&"max_connections=234".to_owned()), "{s}: {args:?}");
    }
}

// Issue 25 item 3: scaling the app (a routine edit) changed max_connections,
// so both PostgreSQL StatefulSets rolled, primary and replica at once.
// PostgreSQL is sized for the largest app the spec allows.
#[test]
fn scaling_the_app_does_not_restart_postgres() {
    let postgres = |spec: serde_json::Value| {
        let children = built_from(spec);
        [statefulset(&children, "mini-postgres"), statefulset(&children, "mini-postgres-ro")]
    };
    use serde_json::json;
    assert_eq!(postgres(json!({"app": {"replicas": 1}})), postgres(json!({"app": {"replicas": 10}})));
    assert_eq!(
        postgres(json!({"app": {"replicas": 2, "maxReplicas": 30}})),
        postgres(json!({"app": {"replicas": 30, "maxReplicas": 30}}))
    );
    // The app's own pods do roll (nothing else would scale them).
    let app = |replicas: i32| deployment(&built_from(json!({"app": {"replicas": replicas}})), "mini-app");
    assert_ne!(app(1).spec.and_then(|s| s.replicas), app(10).spec.and_then(|s| s.replicas));
}

// Shutdown bound: the pod's grace period comes from the app's own.
#[test]
fn the_grace_period_follows_the_apps_shutdown_bound() {
    let children = built_from(serde_json::json!({"app": {"shutdownTimeoutSeconds": 50}}));
    let app = app_container(&children, "mini");
    assert_eq!(
        env_value(app.env.as_deref().unwrap_or_default(), "SHUTDOWN_TIMEOUT_SECS").as_deref(),
        Some("50")
    );
    let d = deployment(&children, "mini-app");
    let pod = d.spec.and_then(|s| s.template.spec).expect("pod");
    // Issue 25 item 11: 5 s of serving while the routes forget the pod,
    // then payment-app's 50 s, then a margin before SIGKILL.
    let sleep = pod.containers[0].lifecycle.clone().and_then(|l| l.pre_stop).and_then(|h| h.sleep);
    assert_eq!(sleep.map(|s| s.seconds), Some(5), "a preStop delay before SIGTERM");
    assert_eq!(pod.termination_grace_period_seconds, Some(65));
}

fn checksum_of(children: &[Child], kind: &str, name: &str) -> String {
    let template = match find(children, kind, name) {
        Child::Deployment(d) => d.spec.clone().map(|s| s.template),
        Child::StatefulSet(s) => s.spec.clone().map(|s| s.template),
        _ => None,
    };
    template
        .and_then(|t| t.metadata)
        .and_then(|m| m.annotations)
        .and_then(|a| a.get(CONFIG_CHECKSUM).cloned())
        .unwrap_or_else(|| panic!("{name} has no checksum"))
}

// An edit of a Secret or ConfigMap a pod reads rolls that pod, the user's
// API-tokens Secret included; nothing else does.
#[test]
fn pods_roll_when_what_they_read_changes() {
    let cr = fixture("full"); // API tokens from the Secret shop-tokens
    let credentials = Credentials::complete(None, &mut Counting(0));
    let tokens = |value: &str| Observed {
        tokens: Some(Secret {
            data: Some([("tokens".to_owned(), ByteString(value.as_bytes().to_vec()))].into()),
            ..Secret::default()
        }),
        ..Observed::default()
    };
    let before = build(&valid(&cr), &credentials, &tokens("one"));
    let same = build(&valid(&cr), &credentials, &tokens("one"));
    let new_token = build(&valid(&cr), &credentials, &tokens("two"));
    let new_passwords = build(&valid(&cr), &Credentials::complete(None, &mut Counting(50)), &tokens("one"));
    let app = |c: &[Child]| checksum_of(c, "Deployment", "full-app");
    let redis = |c: &[Child]| checksum_of(c, "StatefulSet", "full-redis");
    assert_eq!(app(&before), app(&same));
    assert_ne!(app(&before), app(&new_token), "a new API token rolls the app");
    assert_eq!(redis(&before), redis(&new_token), "and nothing else");
    for (kind, name) in [
        ("Deployment", "full-app"),
        ("StatefulSet", "full-redis"),
        ("StatefulSet", "full-postgres"),
        ("StatefulSet", "full-rabbitmq"),
    ] {
        assert_ne!(checksum_of(&before, kind, name), checksum_of(&new_passwords, kind, name), "{name}");
    }
    // A new Redis setting rolls the Redis nodes.
    let mut fsync = cr.clone();
    fsync.spec.redis.crash_safety = crate::crd::RedisCrashSafety::FsyncAlways;
    assert_ne!(redis(&before), redis(&build(&valid(&fsync), &credentials, &tokens("one"))));
}

// Issue 25 item 3: the credentials Secret holds every service's password
// and the API tokens; a pod's checksum covers only the keys it reads, so
// rotating a token rolls the app and nothing else.
#[test]
fn a_pod_rolls_only_for_the_credentials_it_reads() {
    let cr = fixture("minimal"); // API tokens in the credentials Secret
    let before = Credentials::complete(None, &mut Counting(0));
    let with = |key: &str| {
        let Child::Secret(mut secret) = credentials::secret(&valid(&cr), &before) else { unreachable!() };
        secret.data.get_or_insert_default().insert(key.to_owned(), ByteString(b"rotated".to_vec()));
        build(&valid(&cr), &Credentials::complete(Some(&secret), &mut Counting(100)), &Observed::default())
    };
    let old = build(&valid(&cr), &before, &Observed::default());
    let rolled = |new: &[Child]| -> Vec<&str> {
        [
            ("Deployment", "mini-app"),
            ("StatefulSet", "mini-postgres"),
            ("StatefulSet", "mini-postgres-ro"),
            ("StatefulSet", "mini-redis"),
            ("StatefulSet", "mini-rabbitmq"),
        ]
        .into_iter()
        .filter(|(kind, name)| checksum_of(&old, kind, name) != checksum_of(new, kind, name))
        .map(|(_, name)| name)
        .collect()
    };
    use credentials::{
        API_TOKENS, APP_DB_PASSWORD, POSTGRES_PASSWORD, RABBITMQ_ERLANG_COOKIE, RABBITMQ_PASSWORD,
        REDIS_PASSWORD, REPLICATION_PASSWORD,
    };
    assert_eq!(rolled(&with(API_TOKENS)), ["mini-app"]);
    assert_eq!(rolled(&with(APP_DB_PASSWORD)), ["mini-app"]);
    assert_eq!(rolled(&with(REDIS_PASSWORD)), ["mini-app", "mini-redis"]);
    assert_eq!(rolled(&with(RABBITMQ_PASSWORD)), ["mini-app", "mini-rabbitmq"]);
    assert_eq!(rolled(&with(RABBITMQ_ERLANG_COOKIE)), ["mini-rabbitmq"]);
    assert_eq!(rolled(&with(REPLICATION_PASSWORD)), ["mini-postgres", "mini-postgres-ro"]);
    assert_eq!(rolled(&with(POSTGRES_PASSWORD)), ["mini-app", "mini-postgres", "mini-postgres-ro"]);
}

// Only the app reaches the data services; the switch turns them off.
#[test]
fn network_policies_let_only_the_app_reach_the_data_services() {
    let children = built("minimal");
    let policies: Vec<_> = children
        .iter()
        .filter_map(|c| match c {
            Child::NetworkPolicy(p) => Some(p.spec.clone().expect("spec")),
            _ => None,
        })
        .collect();
    assert_eq!(policies.len(), 5);
    let component =
        |s: &LabelSelector| s.match_labels.as_ref().expect("labels")["app.kubernetes.io/component"].clone();
    for policy in &policies {
        let target = component(policy.pod_selector.as_ref().expect("selector"));
        let rule = &policy.ingress.as_ref().expect("ingress")[0];
        let from: Vec<String> = rule
            .from
            .iter()
            .flatten()
            .map(|peer| component(peer.pod_selector.as_ref().expect("pods")))
            .collect();
        let port = rule.ports.as_ref().expect("ports")[0].port.clone();
        use IntOrString::Int;
        let expected: (&[&str], i32) = match target.as_str() {
            "postgres-primary" => (&["app", "postgres-replica"], 5432),
            "postgres-replica" => (&["app", "postgres-primary"], 5432),
            "redis" => (&["app"], 6379),
            "rabbitmq" => (&["app"], 5672),
            "app" => (&[], 8080),
            other => panic!("a policy for {other}"),
        };
        assert_eq!(
            (from.as_slice(), port),
            (
                expected.0.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().as_slice(),
                Some(Int(expected.1))
            ),
            "{target}"
        );
    }
    let off = built_from(serde_json::json!({"networkPolicies": false}));
    assert!(!off.iter().any(|c| matches!(c, Child::NetworkPolicy(_))));
}

// Redis nodes and the PostgreSQL pair keep apart; drains take one at a time.
#[test]
fn data_pods_keep_apart_and_drain_one_at_a_time() {
    let affinity = |children: &[Child], name: &str| {
        let s = statefulset(children, name);
        s.spec
            .and_then(|s| s.template.spec)
            .and_then(|p| p.affinity)
            .and_then(|a| a.pod_anti_affinity)
            .expect("anti")
    };
    let required = built("minimal");
    let redis = affinity(&required, "mini-redis");
    let term = &redis.required_during_scheduling_ignored_during_execution.expect("required")[0];
    assert_eq!(term.topology_key, "kubernetes.io/hostname");
    let values = |t: &k8s_openapi::api::core::v1::PodAffinityTerm| {
        t.label_selector.clone().and_then(|s| s.match_expressions).expect("expr")[0]
            .values
            .clone()
            .expect("values")
    };
    assert_eq!(values(term), ["redis"]);
    let replica = affinity(&required, "mini-postgres-ro");
    assert_eq!(
        values(&replica.required_during_scheduling_ignored_during_execution.expect("required")[0]),
        ["postgres-primary"]
    );
    let preferred = built_from(serde_json::json!({"antiAffinity": "Preferred"}));
    let redis = affinity(&preferred, "mini-redis");
    assert!(
        redis.required_during_scheduling_ignored_during_execution.is_none(),
        "a one-node cluster can schedule"
    );
    assert_eq!(redis.preferred_during_scheduling_ignored_during_execution.expect("preferred")[0].weight, 100);

    let pdb = |children: &[Child], name: &str| match find(children, "PodDisruptionBudget", name) {
        Child::PodDisruptionBudget(p) => p.spec.clone().expect("spec"),
        _ => unreachable!(),
    };
    for name in ["mini-redis", "mini-postgres-ro", "mini-rabbitmq", "mini-app"] {
        assert_eq!(pdb(&required, name).max_unavailable, Some(IntOrString::Int(1)), "{name}");
    }
}

// Issue 25 item 4: one budget per PostgreSQL role. The primary's alone
// and never met by an eviction (a drain waits for a person); the
// replica's alone, so evicting it never counts against the primary.
#[test]
fn a_drain_never_evicts_the_postgres_primary() {
    let pdb = |children: &[Child], name: &str| match find(children, "PodDisruptionBudget", name) {
        Child::PodDisruptionBudget(p) => p.spec.clone().expect("spec"),
        _ => unreachable!(),
    };
    let component = |s: &PodDisruptionBudgetSpec| {
        let selector = s.selector.clone().expect("selector");
        assert_eq!(selector.match_expressions, None, "one role only");
        selector.match_labels.expect("labels")["app.kubernetes.io/component"].clone()
    };
    let children = built("minimal");
    let primary = pdb(&children, "mini-postgres");
    assert_eq!(component(&primary), "postgres-primary");
    assert_eq!((primary.min_available, primary.max_unavailable), (Some(IntOrString::Int(1)), None));
    let replica = pdb(&children, "mini-postgres-ro");
    assert_eq!(component(&replica), "postgres-replica");
    assert_eq!((replica.min_available, replica.max_unavailable), (None, Some(IntOrString::Int(1))));

    let alone = built_from(serde_json::json!({"postgres": {"readReplica": false}}));
    assert!(alone.iter().all(|c| !(c.kind() == "PodDisruptionBudget" && c.name() == "mini-postgres-ro")));
    assert_eq!(pdb(&alone, "mini-postgres").min_available, Some(IntOrString::Int(1)));
}

// Every data container has its resources, from the spec's defaults.
#[test]
fn every_container_has_resources() {
    for (owner, pod) in every_pod(&built("minimal")) {
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            let resources = c.resources.clone().unwrap_or_else(|| panic!("{owner}/{}", c.name));
            for (what, set) in [("requests", resources.requests), ("limits", resources.limits)] {
                let set = set.unwrap_or_else(|| panic!("{owner}/{}: no {what}", c.name));
                assert!(set.contains_key("cpu") && set.contains_key("memory"), "{owner}/{}: {what}", c.name);
            }
        }
    }
}

fn cnpg_spec() -> serde_json::Value {
    serde_json::json!({
        "postgres": {
            "provider": "cnpg",
            "cnpg": {"instances": 3, "pooler": {"instances": 2}},
            "backup": {
                "retentionPolicy": "14d",
                "objectStore": {
                    "bucket": "backups", "path": "/prod/", "endpointUrl": "https://minio:9000",
                    "credentialsSecret": {"name": "s3"}
                },
                "volumeSnapshot": {"className": "csi"}
            }
        }
    })
}

// Issue 13: the cnpg provider makes a CNPG Cluster (initdb, no superuser,
// the connection budget, anti-affinity, WAL archiving through the Barman
// Cloud plugin, volume snapshots), its object store, both backup schedules
// and a session-mode pooler, and none of the builtin servers.
#[test]
fn the_cnpg_provider_makes_a_cnpg_cluster_with_backups() {
    let children = built_from(cnpg_spec());
    assert!(children.iter().all(|c| c.kind() != "StatefulSet" || !c.name().contains("postgres")));
    let Child::CnpgCluster(cluster) = find(&children, "Cluster", "mini-postgres") else { unreachable!() };
    let spec = &cluster.spec;
    assert_eq!(spec.instances, 3);
    assert_eq!(spec.enable_superuser_access, Some(false));
    let initdb = spec.bootstrap.as_ref().and_then(|b| b.initdb.as_ref()).expect("initdb");
    assert_eq!((initdb.database.as_str(), initdb.owner.as_str()), ("payrail", "payrail"));
    // 2 PgBouncer instances x ((10, the default app.maxReplicas, + 1 starting + 1 stopping) x 16 + 1) + 10.
    assert_eq!(spec.postgresql.as_ref().expect("parameters").parameters["max_connections"], "396");
    assert_eq!(spec.affinity.as_ref().and_then(|a| a.pod_anti_affinity_type.as_deref()), Some("required"));
    let [plugin] = spec.plugins.as_slice() else { panic!("{:?}", spec.plugins) };
    assert_eq!(
        (plugin.name.as_str(), plugin.is_wal_archiver),
        ("barman-cloud.cloudnative-pg.io", Some(true))
    );
    assert_eq!(plugin.parameters["barmanObjectName"], "mini-postgres-backups");
    let snapshot = spec.backup.as_ref().and_then(|b| b.volume_snapshot.as_ref()).expect("snapshots");
    assert_eq!(snapshot.class_name, "csi");

    let Child::ObjectStore(store) = find(&children, "ObjectStore", "mini-postgres-backups") else {
        unreachable!()
    };
    let configuration = &store.spec.configuration;
    assert_eq!(configuration.destination_path, "s3://backups/prod/");
    assert_eq!(configuration.endpoint_url.as_deref(), Some("https://minio:9000"));
    let keys = configuration.s3_credentials.as_ref().expect("credentials");
    assert_eq!((keys.access_key_id.name.as_str(), keys.access_key_id.key.as_str()), ("s3", "ACCESS_KEY_ID"));
    assert_eq!(keys.secret_access_key.key, "ACCESS_SECRET_KEY");
    assert_eq!(store.spec.retention_policy.as_deref(), Some("14d"));

    let schedule = |name: &str| match find(&children, "ScheduledBackup", name) {
        Child::ScheduledBackup(s) => s.spec.clone(),
        _ => unreachable!(),
    };
    let base = schedule("mini-postgres-backups");
    assert_eq!((base.method.as_deref(), base.schedule.as_str()), (Some("plugin"), "0 0 2 * * *"));
    assert_eq!(base.plugin_configuration.map(|p| p.name).as_deref(), Some("barman-cloud.cloudnative-pg.io"));
    assert_eq!(base.cluster.name, "mini-postgres");
    let snapshots = schedule("mini-postgres-snapshots");
    assert_eq!(
        (snapshots.method.as_deref(), snapshots.schedule.as_str()),
        (Some("volumeSnapshot"), "0 0 3 * * *")
    );

    let Child::Pooler(pooler) = find(&children, "Pooler", "mini-postgres-pooler") else { unreachable!() };
    assert_eq!(
        pooler.spec.pgbouncer.pool_mode.as_deref(),
        Some("session"),
        "advisory locks need session mode"
    );
    assert_eq!(pooler.spec.type_.as_deref(), Some("rw"));
}

// Issue 25: two PgBouncer instances each pooled every app connection (64)
// against max_connections 74, so PostgreSQL refused server connections the
// pooler had admitted clients for. Every instance's pool (capped per
// database, whoever connects), its auth connection and the reserve now fit.
#[test]
fn every_pooler_instances_pool_fits_in_max_connections() {
    use crate::reconcile::validate::{POOLER_AUTH_CONNECTIONS, RESERVED_CONNECTIONS};
    for instances in [1, 2, 5] {
        let mut spec = cnpg_spec();
        spec["postgres"]["cnpg"]["pooler"]["instances"] = instances.into();
        let children = built_from(spec);
        let Child::CnpgCluster(cluster) = find(&children, "Cluster", "mini-postgres") else { unreachable!() };
        let parameters = &cluster.spec.postgresql.as_ref().expect("parameters").parameters;
        let max_connections: i32 = parameters["max_connections"].parse().expect("a number");
        let Child::Pooler(pooler) = find(&children, "Pooler", "mini-postgres-pooler") else { unreachable!() };
        assert_eq!(pooler.spec.instances, Some(instances));
        let pgbouncer = &pooler.spec.pgbouncer.parameters;
        let pool: i32 = pgbouncer["default_pool_size"].parse().expect("a number");
        // Without max_db_connections each user's pool is default_pool_size.
        let per_instance: i32 = pgbouncer
            .get("max_db_connections")
            .unwrap_or(&pgbouncer["default_pool_size"])
            .parse()
            .expect("a number");
        // The largest app the spec allows: 10 replicas (the default
        // app.maxReplicas) + 1 pod starting and 1 stopping, 16 connections each.
        assert_eq!(pool, 12 * 16, "each instance can serve every app connection");
        assert!(pool <= per_instance, "{pgbouncer:?}");
        let pooled = instances * (per_instance + POOLER_AUTH_CONNECTIONS);
        assert!(
            pooled + RESERVED_CONNECTIONS <= max_connections,
            "{instances} instances x {per_instance} + auth + {RESERVED_CONNECTIONS} reserved > max_connections {max_connections}"
        );
    }
}

// Issue 13: the app reaches CNPG through its Services (writes through the
// pooler when there is one, reads on -ro when there are replicas). Issue
// 11: as the app role CNPG keeps (a managed role, its password from a
// basic-auth Secret made from the credentials), while the migrate init
// container connects as the owner with CNPG's app Secret and grants it.
#[test]
fn the_app_reads_cnpgs_services_as_its_own_role() {
    let host =
        |service: &str| format!("postgres://payrail_app:$(DB_APP_PASSWORD)@{service}.shop.svc:5432/payrail");
    let env = |spec| app_container(&built_from(spec), "mini").env.unwrap_or_default();
    let pooled = env(cnpg_spec());
    assert_eq!(env_value(&pooled, "DATABASE_URL"), Some(host("mini-postgres-pooler")));
    assert_eq!(env_value(&pooled, "DATABASE_READ_URL"), Some(host("mini-postgres-ro")));
    let password = pooled.iter().find(|e| e.name == "DB_APP_PASSWORD").expect("password");
    let from = password.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).expect("a Secret");
    assert_eq!((from.name.as_str(), from.key.as_str()), ("mini-credentials", credentials::APP_DB_PASSWORD));
    assert!(pooled.iter().all(|e| e.name != "POSTGRES_PASSWORD"), "the app never sees the owner's password");
    // The password precedes the URLs that expand it.
    let at = |name: &str| pooled.iter().position(|e| e.name == name).expect(name);
    assert!(at("DB_APP_PASSWORD") < at("DATABASE_URL"));

    let children = built_from(cnpg_spec());
    let d = deployment(&children, "mini-app");
    let migrate =
        d.spec.and_then(|s| s.template.spec).expect("pod").init_containers.expect("init")[0].clone();
    let migrate = migrate.env.expect("env");
    assert_eq!(
        env_value(&migrate, "DATABASE_URL").as_deref(),
        Some("postgres://payrail:$(POSTGRES_PASSWORD)@mini-postgres-pooler.shop.svc:5432/payrail")
    );
    assert_eq!(env_value(&migrate, "DB_APP_ROLE").as_deref(), Some("payrail_app"));
    assert!(
        migrate.iter().all(|e| e.name != "DB_APP_PASSWORD"),
        "CNPG sets the role's password, not the owner"
    );
    let owner = migrate.iter().find(|e| e.name == "POSTGRES_PASSWORD").and_then(|e| e.value_from.clone());
    let owner = owner.and_then(|v| v.secret_key_ref).expect("from a Secret");
    assert_eq!((owner.name.as_str(), owner.key.as_str()), ("mini-postgres-app", "password"));

    let cluster = children
        .iter()
        .find_map(|c| match c {
            Child::CnpgCluster(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a CNPG Cluster");
    let role = &cluster.spec.managed.as_ref().expect("managed roles").roles[0];
    assert_eq!((role.name.as_str(), role.login), ("payrail_app", Some(true)));
    let secret_name = role.password_secret.as_ref().expect("a password Secret").name.clone();
    let secret = children
        .iter()
        .find_map(|c| match c {
            Child::Secret(s) if s.metadata.name.as_deref() == Some(secret_name.as_str()) => Some(s.clone()),
            _ => None,
        })
        .expect("the role's Secret is built");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    let data = secret.data.clone().expect("data");
    assert_eq!(data["username"].0, b"payrail_app");
    assert!(!data["password"].0.is_empty());

    let single = env(serde_json::json!({"postgres": {"provider": "cnpg", "cnpg": {"instances": 1}}}));
    assert_eq!(env_value(&single, "DATABASE_URL"), Some(host("mini-postgres-rw")));
    assert_eq!(env_value(&single, "DATABASE_READ_URL"), None, "-ro has no endpoints without a replica");
}

// Issue 13: the external provider creates nothing PostgreSQL; the app
// reads its URLs from the user's Secret (the read URL optional) and checks
// the server against the CA with verify-full.
#[test]
fn the_external_provider_reads_the_users_secret_and_ca() {
    let children = built_from(serde_json::json!({"postgres": {
        "provider": "external",
        "external": {"secretName": "db", "caSecret": {"name": "db-ca"}}
    }}));
    assert!(children.iter().all(|c| !c.name().contains("postgres")), "nothing PostgreSQL is made");
    let app = app_container(&children, "mini");
    let env = app.env.clone().unwrap_or_default();
    let from = |name: &str| {
        let var = env.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name}"));
        let key = var.value_from.as_ref().and_then(|v| v.secret_key_ref.clone()).expect("a Secret");
        (key.name, key.key, key.optional)
    };
    assert_eq!(from("DATABASE_URL"), ("db".into(), "DATABASE_URL".into(), Some(false)));
    assert_eq!(from("DATABASE_READ_URL"), ("db".into(), "DATABASE_READ_URL".into(), Some(true)));
    assert!(env.iter().all(|e| e.name != "POSTGRES_PASSWORD"));
    assert_eq!(env_value(&env, "PGSSLMODE").as_deref(), Some("verify-full"));
    assert_eq!(env_value(&env, "PGSSLROOTCERT").as_deref(), Some("/etc/payrail/postgres-ca/ca.crt"));
    let mounted = app.volume_mounts.unwrap_or_default();
    assert!(mounted.iter().any(|m| m.name == "postgres-ca" && m.mount_path == "/etc/payrail/postgres-ca"));
    let pod = deployment(&children, "mini-app").spec.and_then(|s| s.template.spec).expect("pod");
    let ca =
        pod.volumes.unwrap_or_default().into_iter().find(|v| v.name == "postgres-ca").expect("CA volume");
    assert_eq!(ca.secret.and_then(|s| s.secret_name).as_deref(), Some("db-ca"));
    // The migrations run against the same server, with the same settings.
    let migrate = pod.init_containers.unwrap_or_default().remove(0);
    assert_eq!(migrate.env, Some(env));
}

// Issue 13: three RabbitMQ nodes form one cluster over the StatefulSet's
// DNS names, pause the minority, keep quorum queues on every node, wait for
// quorum and drain before stopping, size memory from the limit, and the app
// gets every node; one node stays as it was.
#[test]
fn three_rabbitmq_nodes_form_one_cluster() {
    let children = built_from(serde_json::json!({"rabbitmq": {"replicas": 3}}));
    let Child::ConfigMap(config) = find(&children, "ConfigMap", "mini-rabbitmq-config") else {
        unreachable!()
    };
    let conf = &config.data.as_ref().expect("data")["payrail.conf"];
    for line in [
        "cluster_formation.peer_discovery_backend = classic_config",
        "cluster_formation.classic_config.nodes.1 = rabbit@mini-rabbitmq-0.mini-rabbitmq.shop.svc",
        "cluster_formation.classic_config.nodes.3 = rabbit@mini-rabbitmq-2.mini-rabbitmq.shop.svc",
        "cluster_partition_handling = pause_minority",
        "quorum_queue.continuous_membership_reconciliation.target_group_size = 3",
        // 60% of the default 1Gi limit.
        "vm_memory_high_watermark.absolute = 644245094",
    ] {
        assert!(conf.lines().any(|l| l == line), "{line}\n{conf}");
    }
    let broker = statefulset(&children, "mini-rabbitmq");
    let spec = broker.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
    let (_, broker_containers) = containers(&broker);
    let env = broker_containers[0].env.clone().unwrap_or_default();
    assert_eq!(
        env_value(&env, "RABBITMQ_NODENAME").as_deref(),
        Some("rabbit@$(POD_NAME).mini-rabbitmq.shop.svc")
    );
    let pre_stop =
        broker_containers[0].lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()).expect("preStop");
    let script = pre_stop.exec.as_ref().and_then(|e| e.command.as_ref()).expect("command").join(" ");
    let (await_quorum, drain) = (
        script.find("rabbitmq-upgrade await_online").expect("await"),
        script.find("rabbitmq-upgrade drain").expect("drain"),
    );
    assert!(await_quorum < drain, "{script}");
    let Child::Service(service) = find(&children, "Service", "mini-rabbitmq") else { unreachable!() };
    assert_eq!(service.spec.as_ref().and_then(|s| s.publish_not_ready_addresses), Some(true));
    let urls = env_value(&app_container(&children, "mini").env.unwrap_or_default(), "AMQP_URL").expect("url");
    let urls: Vec<&str> = urls.split(',').collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert!(urls[2].contains("@mini-rabbitmq-2.mini-rabbitmq.shop.svc:5672/"), "{urls:?}");
    let Child::PodDisruptionBudget(pdb) = find(&children, "PodDisruptionBudget", "mini-rabbitmq") else {
        unreachable!()
    };
    assert_eq!(pdb.spec.as_ref().and_then(|s| s.max_unavailable.clone()), Some(IntOrString::Int(1)));

    // One broker: no cluster settings, no node name of its own (its data
    // directory is named after the default one), one URL.
    let single = built_from(serde_json::json!({}));
    let Child::ConfigMap(config) = find(&single, "ConfigMap", "mini-rabbitmq-config") else { unreachable!() };
    assert!(!config.data.as_ref().expect("data")["payrail.conf"].contains("cluster_formation"));
    let (_, single_containers) = containers(&statefulset(&single, "mini-rabbitmq"));
    assert!(env_value(&single_containers[0].env.clone().unwrap_or_default(), "RABBITMQ_NODENAME").is_none());
    assert!(single_containers[0].lifecycle.is_none());
    let url = env_value(&app_container(&single, "mini").env.unwrap_or_default(), "AMQP_URL").expect("url");
    assert_eq!(url, "amqp://payrail:$(RABBITMQ_PASSWORD)@mini-rabbitmq.shop.svc:5672/%2f");
}

// Issue 25, item 9: a cluster node's preStop waits up to 10 minutes for
// quorum, also when the whole cluster is deleted. It reads the operator's
// mark of a deletion from the pod's own annotation, projected into a file
// (a variable would keep the value the container started with).
#[test]
fn a_rabbitmq_node_sees_the_deletion_mark_through_a_downward_api_file() {
    let children = built_from(serde_json::json!({"rabbitmq": {"replicas": 3}}));
    let broker = statefulset(&children, "mini-rabbitmq");
    let pod = broker.spec.as_ref().and_then(|s| s.template.spec.clone()).expect("pod");
    let volume = pod.volumes.iter().flatten().find(|v| v.name == "pod-info").expect("pod-info volume");
    let items = volume.downward_api.as_ref().and_then(|d| d.items.clone()).expect("items");
    let field = items[0].field_ref.as_ref().map(|f| f.field_path.as_str());
    assert_eq!(field, Some("metadata.annotations['payrail.dev/cluster-deleting']"));
    let main = &pod.containers[0];
    let mount = main.volume_mounts.iter().flatten().find(|m| m.name == "pod-info").expect("mounted");
    let env = main.env.clone().unwrap_or_default();
    assert_eq!(
        env_value(&env, "DELETING_MARK").as_deref(),
        Some(format!("{}/{}", mount.mount_path, items[0].path).as_str())
    );
    assert_eq!(pod::RABBITMQ_DELETING_ANNOTATION, "payrail.dev/cluster-deleting");
    // One broker has no preStop, so nothing to mark, and its pod does not
    // change (an upgrade restarts no single broker).
    let single = statefulset(&built_from(serde_json::json!({})), "mini-rabbitmq");
    let volumes = single.spec.and_then(|s| s.template.spec).and_then(|p| p.volumes).unwrap_or_default();
    assert!(volumes.iter().all(|v| v.name != "pod-info"));
}

// Issue 25, item 2: the cookie on the volume was loosened by the kubelet
// at every mount (fsGroup) and Erlang refused it: it is written from the
// Secret, owner-only, by an init container at every start, and the broker
// reads that file rather than RabbitMQ's deprecated variable.
#[test]
fn the_erlang_cookie_is_put_in_place_from_the_secret_at_every_start() {
    for spec in [serde_json::json!({}), serde_json::json!({"rabbitmq": {"replicas": 3}})] {
        let children = built_from(spec);
        let broker = statefulset(&children, "mini-rabbitmq");
        let (init, main) = containers(&broker);
        assert_eq!(init.len(), 1);
        let cookie = &init[0];
        assert_eq!(
            cookie.command.as_deref(),
            Some(&["sh".to_owned(), "/scripts/erlang-cookie.sh".to_owned()][..])
        );
        let env = cookie.env.clone().expect("env");
        let from = env.iter().find(|e| e.name == "ERLANG_COOKIE").and_then(|e| e.value_from.clone());
        let key = from.and_then(|f| f.secret_key_ref).expect("from the Secret");
        assert_eq!((key.name.as_str(), key.key.as_str()), ("mini-credentials", "rabbitmq-erlang-cookie"));
        // Where it writes is where the broker reads: HOME, on the volume.
        let main_env = main[0].env.clone().expect("env");
        assert_eq!(env_value(&env, "HOME"), env_value(&main_env, "HOME"));
        let data = |c: &Container| {
            c.volume_mounts.iter().flatten().find(|m| m.name == "data").map(|m| m.mount_path.clone())
        };
        assert_eq!(data(cookie), env_value(&env, "HOME"));
        assert_eq!(data(&main[0]), env_value(&env, "HOME"));
        assert!(!main_env.iter().any(|e| e.name == "RABBITMQ_ERLANG_COOKIE"), "the deprecated variable");
        let Child::ConfigMap(config) = find(&children, "ConfigMap", "mini-rabbitmq-config") else {
            unreachable!()
        };
        assert_eq!(config.data.as_ref().expect("data")["erlang-cookie.sh"], pod::RABBITMQ_ERLANG_COOKIE);
    }
}

// Issue 13: a RabbitMQ StatefulSet that exists keeps its pod management
// policy (Kubernetes refuses a change).
#[test]
fn an_existing_broker_keeps_its_pod_management_policy() {
    let cr = fixture("minimal");
    let observed = Observed {
        pod_management: [("mini-rabbitmq".to_owned(), "OrderedReady".to_owned())].into(),
        ..Observed::default()
    };
    let children = build(&valid(&cr), &Credentials::complete(None, &mut Counting(0)), &observed);
    let broker = statefulset(&children, "mini-rabbitmq");
    assert_eq!(broker.spec.and_then(|s| s.pod_management_policy).as_deref(), Some("OrderedReady"));
}

// Issue 13: a RabbitMQ cluster's nodes reach each other; CNPG's pods get no
// payrail policy (they carry CNPG's labels).
#[test]
fn rabbitmq_nodes_may_reach_each_other() {
    let children =
        built_from(serde_json::json!({"rabbitmq": {"replicas": 3}, "postgres": {"provider": "cnpg"}}));
    let Child::NetworkPolicy(policy) = find(&children, "NetworkPolicy", "mini-rabbitmq") else {
        unreachable!()
    };
    let rules = policy.spec.as_ref().and_then(|s| s.ingress.clone()).expect("ingress");
    let ports = |i: usize| -> Vec<IntOrString> {
        rules[i].ports.iter().flatten().filter_map(|p| p.port.clone()).collect()
    };
    assert_eq!(ports(0), [IntOrString::Int(5672)]);
    assert_eq!(ports(1), [IntOrString::Int(4369), IntOrString::Int(25672)]);
    let peers = rules[1].from.as_ref().expect("from");
    let labels = peers[0].pod_selector.as_ref().and_then(|s| s.match_labels.clone()).expect("labels");
    assert_eq!(labels["app.kubernetes.io/component"], "rabbitmq");
    assert!(children.iter().all(|c| c.kind() != "NetworkPolicy" || !c.name().contains("postgres")));
}

// Issue 13: deleting a CNPG Cluster deletes its volumes, so it outlives a
// deleted PaymentCluster unless deleteVolumesOnDelete says otherwise.
#[test]
fn the_cnpg_cluster_outlives_its_payment_cluster_by_default() {
    let owners = |delete_volumes: bool| {
        let mut spec = cnpg_spec();
        spec["deleteVolumesOnDelete"] = serde_json::json!(delete_volumes);
        let children = built_from(spec);
        let owned = |kind: &str, name: &str| find(&children, kind, name).meta().owner_references.is_some();
        (owned("Cluster", "mini-postgres"), owned("ScheduledBackup", "mini-postgres-backups"))
    };
    assert_eq!(owners(false), (false, true), "kept; its backup schedule goes with the PaymentCluster");
    assert_eq!(owners(true), (true, true));
}

// Issue 25, item 11: `/readyz` (every dependency's state) and `/metrics`
// were served on the port the API Service targets, so any Ingress in front
// of the API published them. The Service's port now reaches the API only;
// the probes (and the PodMonitor, in the monitoring tests) use the
// operations port, which payment-app serves them on once `OPS_ADDR` is set.
#[test]
fn the_api_service_reaches_the_api_and_not_the_probes_or_metrics() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let children = built("minimal");
    let Child::Service(service) = find(&children, "Service", "mini-api") else { unreachable!() };
    let targets: Vec<IntOrString> = service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| p.target_port.clone())
        .collect();
    let pod = deployment(&children, "mini-app").spec.and_then(|s| s.template.spec).expect("pod");
    let app = &pod.containers[0];
    let port_number = |port: &IntOrString| match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            app.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port {name}"))
                .container_port
        }
    };
    let env = |name: &str| {
        let value = app.env.iter().flatten().find(|e| e.name == name).and_then(|e| e.value.clone());
        let value = value.unwrap_or_else(|| panic!("{name} is not set"));
        value.rsplit_once(':').and_then(|(_, port)| port.parse::<i32>().ok()).expect("an address")
    };
    let (api, ops) = (env("HTTP_ADDR"), env("OPS_ADDR"));
    assert_ne!(api, ops);
    assert_eq!(
        targets.iter().map(port_number).collect::<Vec<_>>(),
        [api],
        "the Service reaches the API's port only"
    );
    for probe in [&app.readiness_probe, &app.liveness_probe] {
        let port =
            probe.as_ref().and_then(|p| p.http_get.as_ref()).map(|h| h.port.clone()).expect("an HTTP probe");
        assert_eq!(port_number(&port), ops, "probed on the operations port");
    }
}

// Issue 25, item 11: with Kubernetes' default (`IfNotPresent` for a tag),
// each node ran whatever a tag meant when it first pulled it, so primary
// and replica could run different builds. A tag is now pulled at every
// start, a digest (which cannot move) only when missing: every container
// of every workload, and CNPG's instances.
#[test]
fn a_tag_is_pulled_at_every_start_and_a_digest_only_when_missing() {
    let digest = format!("ghcr.io/payrail/payment-app:0.1.0@sha256:{}", "a".repeat(64));
    let policies = |children: &[Child]| {
        let mut seen = Vec::new();
        for child in children {
            let pod = match child {
                Child::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.template.spec.clone()),
                Child::Deployment(d) => d.spec.as_ref().and_then(|s| s.template.spec.clone()),
                _ => None,
            };
            for c in pod.iter().flat_map(|p| p.init_containers.iter().flatten().chain(&p.containers)) {
                seen.push((c.image.clone().expect("an image"), c.image_pull_policy.clone()));
            }
        }
        seen
    };
    let tagged = built("full");
    let all = policies(&tagged);
    assert!(all.len() > 5, "{all:?}");
    for (image, policy) in &all {
        assert_eq!(policy.as_deref(), Some("Always"), "{image}");
    }
    let pinned = built_from(serde_json::json!({"app": {"image": digest}}));
    for (image, policy) in policies(&pinned) {
        let want = if image == digest { "IfNotPresent" } else { "Always" };
        assert_eq!(policy.as_deref(), Some(want), "{image}");
    }
    let cnpg = |image: &str| {
        let children =
            built_from(serde_json::json!({"postgres": {"provider": "cnpg", "cnpg": {"imageName": image}}}));
        let Child::CnpgCluster(cluster) = find(&children, "Cluster", "mini-postgres") else { unreachable!() };
        cluster.spec.image_pull_policy.clone()
    };
    assert_eq!(cnpg("ghcr.io/cloudnative-pg/postgresql:17.2").as_deref(), Some("Always"));
    assert_eq!(
        cnpg(&format!("ghcr.io/cloudnative-pg/postgresql@sha256:{}", "b".repeat(64))).as_deref(),
        Some("IfNotPresent")
    );
}

// Issue 25, item 11: the connection budget counted the replicas and the
// surge pod, but a pod the Deployment has stopped still holds its pools
// until it exits, and the Deployment starts the next new pod at once: a
// fast rollout had every replaced pod stopping at once, past the budget. A
// new app pod now counts as available only after the whole grace period of
// the pod it replaces, so at most `APP_STOPPING` pods stop at a time.
#[test]
fn a_rollout_stops_no_more_app_pods_at_a_time_than_the_budget_counts() {
    let cr = fixture("minimal");
    let valid = valid(&cr);
    let d = deployment(
        &build(&valid, &Credentials::complete(None, &mut Counting(0)), &Observed::default()),
        "mini-app",
    );
    let spec = d.spec.expect("spec");
    let grace = spec.template.spec.as_ref().and_then(|p| p.termination_grace_period_seconds).expect("grace");
    assert!(
        spec.min_ready_seconds.map(i64::from) >= Some(grace),
        "minReadySeconds {:?} < grace period {grace}: the pod replaced may still hold its pools",
        spec.min_ready_seconds
    );
    let rolling = spec.strategy.and_then(|s| s.rolling_update).expect("rolling update");
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(crate::reconcile::validate::APP_SURGE)));
    assert_eq!(
        rolling.max_unavailable,
        Some(IntOrString::Int(0)),
        "an old pod stops only for an available new one"
    );
    let largest = cr.spec.app.max_replicas.unwrap_or(crate::reconcile::validate::DEFAULT_MAX_APP_REPLICAS);
    assert_eq!(
        valid.connections.app_pods,
        largest + crate::reconcile::validate::APP_SURGE + crate::reconcile::validate::APP_STOPPING,
        "running, starting and stopping pods each hold a pool"
    );
}
