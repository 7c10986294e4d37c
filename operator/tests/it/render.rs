//! What the operator would apply, checked offline: the committed CRD is
//! the generated one, its CEL rules mean what the operator assumes (run
//! with kube's own CEL evaluator), renders of the fixtures match their
//! snapshots, and everything rendered from the fixtures and `examples/`
//! passes `kubernetes-validate --strict` (the real Kubernetes schemas) at
//! the oldest and the newest supported version, while the examples and
//! fixtures pass the CRD's own schema.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p payment-operator --test it render`
//! rewrites the snapshots and the CRD after a deliberate change; review the
//! diff like any other.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::core::cel::{validate_cel, validate_cel_update};
use payrail_operator::crd::{PaymentCluster, StorageSpec};
use payrail_operator::reconcile::validate::is_quantity;
use payrail_operator::render;
use serde::Deserialize;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some()
}

/// Compares `actual` with the committed file, or rewrites it when updating.
fn snapshot(path: &Path, actual: &str) {
    if updating() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == actual,
        "{} is stale: run `UPDATE_SNAPSHOTS=1 cargo test -p payment-operator --test it render` and review the diff",
        path.display()
    );
}

#[test]
fn the_committed_crd_is_the_generated_one() {
    snapshot(&root().join("crds/paymentclusters.payrail.dev.yaml"), &render::crd_yaml().unwrap());
}

#[test]
fn renders_match_their_snapshots() {
    for fixture in ["minimal", "full"] {
        let text =
            std::fs::read_to_string(root().join(format!("operator/tests/fixtures/{fixture}.yaml"))).unwrap();
        let rendered = render::render(&text).unwrap();
        snapshot(&root().join(format!("operator/tests/snapshots/{fixture}.yaml")), &rendered);
    }
}

#[test]
fn a_render_of_an_invalid_cluster_says_what_is_wrong() {
    let error = render::render("apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {name: x}\nspec: {redis: {nodes: 2}}\n")
        .unwrap_err();
    assert!(error.to_string().contains("redis.nodes must be odd"), "{error}");
}

fn manifests() -> Vec<PathBuf> {
    let mut paths = vec![
        root().join("operator/tests/fixtures/minimal.yaml"),
        root().join("operator/tests/fixtures/full.yaml"),
    ];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 2, "examples/ holds the minimal and production clusters");
    paths.extend(examples);
    paths
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/check-chart installs it): {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// The API groups of CloudNativePG and its Barman Cloud plugin: custom
/// kinds that kubernetes-validate does not know, checked against CNPG's
/// own schema instead.
const CNPG_GROUPS: [&str; 2] = ["postgresql.cnpg.io/", "barmancloud.cnpg.io/"];

fn is_cnpg(object: &serde_json::Value) -> bool {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    CNPG_GROUPS.iter().any(|g| api_version.starts_with(g))
}

/// The Prometheus Operator's kinds (`monitoring.enabled`), checked against
/// its own published schema.
fn is_monitoring(object: &serde_json::Value) -> bool {
    object["apiVersion"].as_str().unwrap_or_default().starts_with("monitoring.coreos.com/")
}

/// Every object `payment-operator render` prints for `manifest`.
fn rendered_objects(manifest: &Path) -> Vec<serde_json::Value> {
    let text = render::render_file(manifest).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn everything_rendered_passes_strict_kubernetes_validation() {
    let dir = std::env::temp_dir().join(format!("payrail-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut files, mut objects) = (Vec::new(), 0);
    for manifest in manifests() {
        let built_in: Vec<_> =
            rendered_objects(&manifest).into_iter().filter(|o| !is_cnpg(o) && !is_monitoring(o)).collect();
        objects += built_in.len();
        let yaml: String =
            built_in.iter().map(|o| format!("---\n{}", serde_norway::to_string(o).unwrap())).collect();
        let out = dir.join(manifest.file_name().unwrap());
        std::fs::write(&out, yaml).unwrap();
        files.push(out.to_str().unwrap().to_owned());
    }
    for version in [kubernetes_version("minimum"), kubernetes_version("newest")] {
        let mut args = vec!["--strict", "--kubernetes-version", version.as_str()];
        args.extend(files.iter().map(String::as_str));
        let report = run("kubernetes-validate", &args);
        // One line per object, every one of them valid.
        assert_eq!(
            report.lines().filter(|l| l.contains(" passed for resource ")).count(),
            objects,
            "{version}: {report}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs operator/tests/cnpg/validate.mjs (CNPG's schema from npm
/// `@kubernetes-models/cloudnative-pg` and the Prometheus Operator's from
/// `@kubernetes-models/prometheus-operator`, unknown keys refused) over
/// `objects`; returns whether it passed, and its report.
fn cnpg_schema_check(name: &str, objects: &[serde_json::Value]) -> (bool, String) {
    let checker = root().join("operator/tests/cnpg/validate.mjs");
    for package in ["cloudnative-pg", "prometheus-operator"] {
        assert!(
            root().join("operator/tests/cnpg/node_modules/@kubernetes-models").join(package).exists(),
            "the {package} schema is not installed: run scripts/check-chart, which installs it (npm, pinned)"
        );
    }
    let file = std::env::temp_dir().join(format!("payrail-cnpg-{name}-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string(objects).unwrap()).unwrap();
    let out = Command::new("node")
        .args([checker.to_str().unwrap(), file.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    std::fs::remove_file(file).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

// Issue 13: the CloudNativePG objects are what CNPG's published schema
// admits, with no key it does not define, and the production example
// renders all of them.
#[test]
fn cnpg_objects_pass_cnpgs_schema() {
    let mut production = std::collections::BTreeSet::new();
    for manifest in manifests() {
        let cnpg: Vec<_> = rendered_objects(&manifest).into_iter().filter(is_cnpg).collect();
        if cnpg.is_empty() {
            continue;
        }
        if manifest.ends_with("examples/paymentcluster-production.yaml") {
            production.extend(cnpg.iter().map(|o| o["kind"].as_str().unwrap().to_owned()));
        }
        let (passed, report) = cnpg_schema_check(manifest.file_stem().unwrap().to_str().unwrap(), &cnpg);
        assert!(passed, "{}:\n{report}", manifest.display());
        assert_eq!(report.lines().filter(|l| l.starts_with("ok ")).count(), cnpg.len(), "{report}");
    }
    // Issue 25: production runs on CloudNativePG, with its pooler and backups.
    assert_eq!(
        production.into_iter().collect::<Vec<_>>(),
        ["Cluster", "ObjectStore", "Pooler", "ScheduledBackup"],
        "examples/paymentcluster-production.yaml renders every CNPG kind"
    );

    // And the check has teeth: a wrong type, and a key CNPG does not define.
    let mut cluster = rendered_objects(&root().join("examples/paymentcluster-production.yaml"))
        .into_iter()
        .find(|o| o["kind"] == "Cluster")
        .unwrap();
    cluster["spec"]["instances"] = serde_json::json!("3");
    cluster["spec"]["bootstrap"]["initdb"]["ownr"] = serde_json::json!("payrail");
    let (passed, report) = cnpg_schema_check("bad", &[cluster]);
    assert!(!passed, "{report}");
    assert!(report.contains("instances") && report.contains("/spec/bootstrap/initdb/ownr"), "{report}");
}

// Issue 18: the monitoring objects are what the Prometheus Operator's
// published schema admits, with no key it does not define; the production
// example (on CNPG) renders the PodMonitor and the PrometheusRule, and
// CNPG's PodMonitor as well.
#[test]
fn monitoring_objects_pass_the_prometheus_operators_schema() {
    let mut rendered = std::collections::BTreeMap::new();
    for manifest in manifests() {
        let objects: Vec<_> = rendered_objects(&manifest).into_iter().filter(is_monitoring).collect();
        if objects.is_empty() {
            continue;
        }
        let name = manifest.file_stem().unwrap().to_str().unwrap().to_owned();
        let (passed, report) = cnpg_schema_check(&format!("monitoring-{name}"), &objects);
        assert!(passed, "{}:\n{report}", manifest.display());
        assert_eq!(report.lines().filter(|l| l.starts_with("ok ")).count(), objects.len(), "{report}");
        let names: Vec<String> = objects
            .iter()
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["metadata"]["name"]))
            .collect();
        rendered.insert(name, names);
    }
    assert_eq!(
        rendered["paymentcluster-production"],
        ["PodMonitor \"payrail\"", "PodMonitor \"payrail-postgres\"", "PrometheusRule \"payrail\""],
        "{rendered:?}"
    );
    assert!(!rendered.contains_key("paymentcluster-minimal"), "monitoring is off by default: {rendered:?}");

    // And the check has teeth: a wrong type, and a key the schema does not define.
    let mut objects: Vec<_> = rendered_objects(&root().join("examples/paymentcluster-production.yaml"))
        .into_iter()
        .filter(is_monitoring)
        .collect();
    let rule = objects.iter().position(|o| o["kind"] == "PrometheusRule").unwrap();
    objects[0]["spec"]["podMetricsEndpoints"][0]["scrapeIntervall"] = serde_json::json!("30s");
    objects[rule]["spec"]["groups"][0]["rules"][0]["for"] = serde_json::json!(5);
    let (passed, report) = cnpg_schema_check("monitoring-bad", &objects);
    assert!(!passed, "{report}");
    assert!(
        report.contains("/spec/podMetricsEndpoints/0/scrapeIntervall: not a field")
            && report.contains("rules/0/for"),
        "{report}"
    );
}

#[test]
fn examples_and_fixtures_pass_the_crd_schema() {
    let crd = root().join("crds/paymentclusters.payrail.dev.yaml");
    let script = root().join("operator/tests/validate.py");
    let mut args = vec![script.to_str().unwrap().to_owned(), crd.to_str().unwrap().to_owned()];
    args.extend(manifests().iter().map(|p| p.to_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = run("python3", &args);
    assert_eq!(report.matches("checked against the CRD schema").count(), manifests().len(), "{report}");

    // And the check has teeth: a misspelt field and a bad enum fail.
    let bad = std::env::temp_dir().join(format!("payrail-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {name: bad}\nspec:\n  app: {replicas: 0, imagee: x}\n",
    )
    .unwrap();
    let out = Command::new("python3").args([args[0], args[1], bad.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("imagee") && text.contains("replicas"), "{text}");
    std::fs::remove_file(bad).unwrap();
}

/// A version from scripts/kubernetes-versions (`minimum` or `newest`).
fn kubernetes_version(which: &str) -> String {
    let text = std::fs::read_to_string(root().join("scripts/kubernetes-versions")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{which}=")))
        .unwrap_or_else(|| panic!("no {which}= in scripts/kubernetes-versions"))
        .to_owned()
}

fn cluster_with(postgres_storage: StorageSpec) -> PaymentCluster {
    let mut cr: PaymentCluster = serde_norway::from_str(
        &std::fs::read_to_string(root().join("operator/tests/fixtures/minimal.yaml")).unwrap(),
    )
    .unwrap();
    cr.spec.postgres.storage = postgres_storage;
    cr
}

fn storage(size: &str, class: Option<&str>) -> StorageSpec {
    StorageSpec { size: size.into(), storage_class: class.map(str::to_owned) }
}

// Bug 1: the API server refuses a new storage class (the volumes keep the
// one they were made with) and admits a larger size.
#[test]
fn the_crd_refuses_a_new_storage_class_and_admits_a_larger_size() {
    let old = cluster_with(storage("10Gi", Some("fast")));
    for (new, admitted) in [
        (storage("20Gi", Some("fast")), true),
        (storage("10Gi", Some("slow")), false),
        (storage("10Gi", None), false),
    ] {
        let result = validate_cel_update(&cluster_with(new.clone()), &old);
        assert_eq!(result.is_ok(), admitted, "{new:?}: {result:?}");
    }
    let unset = cluster_with(storage("10Gi", None));
    assert!(validate_cel_update(&cluster_with(storage("10Gi", Some("fast"))), &unset).is_err(), "set later");
}

// Issue 25 item 9: three brokers never become one (node 0 would come back
// as an empty broker under another name); one may become three.
#[test]
fn the_crd_refuses_three_rabbitmq_nodes_becoming_one() {
    let (one, three) = (cluster_from("{rabbitmq: {replicas: 1}}"), cluster_from("{rabbitmq: {replicas: 3}}"));
    let refusal = validate_cel_update(&one, &three).expect_err("3 -> 1 is refused").to_string();
    assert!(refusal.contains("rabbitmq.replicas cannot go from 3 to 1"), "{refusal}");
    assert!(validate_cel_update(&three, &one).is_ok());
    assert!(validate_cel_update(&three, &three).is_ok() && validate_cel_update(&one, &one).is_ok());
}

// Bug 3: the schema's size rule and the operator's validation admit the
// same quantities.
#[test]
fn the_crd_and_the_operator_agree_on_sizes() {
    for size in ["1Gi", "1.5Gi", "500M", "0.5Ti", "1e9", "10", "0", "0Gi", "-1Gi", "ten", "Gi", "1..5Gi"] {
        let cel = validate_cel(&cluster_with(storage(size, None))).is_ok();
        assert_eq!(cel, is_quantity(size), "{size}: the CRD says {cel}");
    }
}

// Issue 25: every image field takes a digest (`repo@sha256:...`, with or
// without a tag before it); what is refused, the API server's CEL rules
// and the operator refuse alike, with the message that says which part is
// wrong.
#[test]
fn the_crd_and_the_operator_agree_on_image_references() {
    use payrail_operator::image::{DIGEST_MESSAGE, FORM_MESSAGE};
    let digest = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";
    let accepted = [
        "redis".to_owned(),
        "redis:7.2".to_owned(),
        "ghcr.io/payrail/payment-app:0.1.0".to_owned(),
        format!("ghcr.io/payrail/payment-app@sha256:{digest}"),
        format!("ghcr.io/payrail/payment-app:0.1.0@sha256:{digest}"),
        format!("localhost:5000/team/payment-app:dev_build-1@sha256:{digest}"),
        "quay.io/prometheuscommunity/postgres-exporter:v0.16.0".to_owned(),
        "docker.io/library/rabbitmq:3.13-management".to_owned(),
    ];
    let refused = [
        (String::new(), FORM_MESSAGE),
        ("payrail app".to_owned(), FORM_MESSAGE),
        ("ghcr.io/Payrail/App:1".to_owned(), FORM_MESSAGE),
        ("ghcr.io/payrail/payment-app:".to_owned(), FORM_MESSAGE),
        (format!("ghcr.io/payrail/payment-app:{}", "x".repeat(129)), FORM_MESSAGE),
        ("ghcr.io/payrail/payment-app@sha256:a3ed95ca".to_owned(), DIGEST_MESSAGE),
        (format!("ghcr.io/payrail/payment-app@sha256:{}", digest.to_uppercase()), DIGEST_MESSAGE),
        (format!("ghcr.io/payrail/payment-app@md5:{}", &digest[..32]), DIGEST_MESSAGE),
        (format!("ghcr.io/payrail/payment-app@sha256:{digest}:0.1.0"), DIGEST_MESSAGE),
        (format!("ghcr.io/payrail/payment-app:0.1.0@sha256:{digest}@sha256:{digest}"), DIGEST_MESSAGE),
        ("ghcr.io/payrail/payment-app:0.1.0@".to_owned(), DIGEST_MESSAGE),
    ];
    let fields = ["{app: {image: 'IMAGE'}}", "{postgres: {provider: cnpg, cnpg: {imageName: 'IMAGE'}}}"];
    for field in fields {
        for image in &accepted {
            let cr = cluster_from(&field.replace("IMAGE", image));
            assert!(validate_cel(&cr).is_ok(), "{image}: the CRD refused it: {:?}", validate_cel(&cr));
            let operator = payrail_operator::reconcile::validate::validate(&cr);
            assert!(operator.is_ok(), "{image}: the operator refused it: {:?}", operator.err());
        }
        for (image, message) in &refused {
            let cr = cluster_from(&field.replace("IMAGE", image));
            let cel = validate_cel(&cr).expect_err(&format!("the CRD admitted {image:?}")).to_string();
            assert!(cel.contains(message), "{image:?}: the CRD said {cel}");
            let operator = payrail_operator::reconcile::validate::validate(&cr).expect_err(image).to_string();
            assert!(operator.contains(message), "{image:?}: the operator said {operator}");
        }
    }
}

// Bug 3: one minimum Kubernetes version, named alike everywhere.
#[test]
fn the_minimum_kubernetes_version_is_the_same_everywhere() {
    let minimum = kubernetes_version("minimum");
    let minor = minimum.trim_end_matches(".0");
    let chart = std::fs::read_to_string(root().join("charts/payment-operator/Chart.yaml")).unwrap();
    assert!(
        chart.contains(&format!("kubeVersion: \">={minimum}-0\"")),
        "Chart.yaml kubeVersion is not >={minimum}-0"
    );
    let docs = std::fs::read_to_string(root().join("docs/operator.md")).unwrap();
    assert!(docs.contains(&format!("Kubernetes {minor} or newer")), "docs/operator.md does not name {minor}");
}

// Bug 6 and the hardening: checkov's Kubernetes checks over every object
// rendered from both fixtures and both examples; each check it skips is
// in scripts/checkov.yaml with its reason.
#[test]
fn everything_rendered_passes_checkov() {
    let dir = std::env::temp_dir().join(format!("payrail-checkov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for manifest in manifests() {
        let rendered = render::render_file(&manifest).unwrap();
        std::fs::write(dir.join(manifest.file_name().unwrap()), rendered).unwrap();
    }
    let config = root().join("scripts/checkov.yaml");
    let out = Command::new("checkov")
        .args([
            "--config-file",
            config.to_str().unwrap(),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
        ])
        .args(["--output", "json", "--directory", dir.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run checkov (scripts/check-chart installs it): {e}"));
    std::fs::remove_dir_all(&dir).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("checkov printed no report ({e}): {}", String::from_utf8_lossy(&out.stderr))
    });
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} {}: {}", c["check_id"], c["file_path"], c["resource"], c["check_name"]))
        .collect();
    assert!(failed.is_empty(), "checkov:\n{}", failed.join("\n"));
    assert!(report["summary"]["passed"].as_u64().unwrap_or(0) > 100, "checkov checked nothing: {report}");
}

// Issue 14: the CRD's defaults are payment-app's own (payrail-common's
// `defaults`), so a pod the operator makes runs as payment-app would by
// default. Read from the generated CRD, as the API server applies them.
#[test]
fn the_crds_defaults_are_payment_apps_own() {
    use payrail_common::defaults;
    let crd: serde_json::Value = serde_norway::from_str(&render::crd_yaml().unwrap()).unwrap();
    let app = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["app"]
        ["properties"];
    let worker = &app["worker"]["properties"];
    for (field, default, want) in [
        ("app.dbPoolSize", &app["dbPoolSize"]["default"], u64::from(defaults::DB_POOL_SIZE)),
        (
            "app.shutdownTimeoutSeconds",
            &app["shutdownTimeoutSeconds"]["default"],
            defaults::SHUTDOWN_TIMEOUT_SECS,
        ),
        ("app.worker.lockPrefetch", &worker["lockPrefetch"]["default"], defaults::LOCK_PREFETCH.into()),
        ("app.worker.settlePrefetch", &worker["settlePrefetch"]["default"], defaults::SETTLE_PREFETCH.into()),
        (
            "app.worker.settleBatchMax",
            &worker["settleBatchMax"]["default"],
            defaults::SETTLE_BATCH_MAX.into(),
        ),
        ("app.worker.lockTtlMs", &worker["lockTtlMs"]["default"], defaults::LOCK_TTL_MS),
    ] {
        assert_eq!(default.as_u64(), Some(want), "{field}: the CRD says {default}, payment-app {want}");
    }
}

fn cluster_from(spec: &str) -> PaymentCluster {
    serde_norway::from_str(&format!(
        "apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {{name: c, namespace: n}}\nspec: {spec}\n"
    ))
    .unwrap()
}

const BACKUP: &str = "backup: {objectStore: {bucket: b, credentialsSecret: {name: s3}}}";

// Issue 13: a live cluster cannot switch PostgreSQL providers (the data
// would stay behind); the refusal says how to move instead.
#[test]
fn the_crd_refuses_a_provider_switch_with_a_way_to_migrate() {
    let builtin = cluster_from("{}");
    let cnpg = cluster_from("{postgres: {provider: cnpg}}");
    let external = cluster_from("{postgres: {provider: external, external: {secretName: db}}}");
    for (old, new) in [(&builtin, &cnpg), (&cnpg, &builtin), (&cnpg, &external), (&external, &builtin)] {
        let refusal = validate_cel_update(new, old).expect_err("a switch is refused").to_string();
        assert!(refusal.contains("cannot change on a live cluster"), "{refusal}");
        assert!(refusal.contains("Moving between providers"), "{refusal}");
    }
    for same in [&builtin, &cnpg, &external] {
        assert!(validate_cel_update(same, same).is_ok(), "{:?}", same.spec.postgres.provider);
    }
    let more_instances = cluster_from("{postgres: {provider: cnpg, cnpg: {instances: 3}}}");
    assert!(validate_cel_update(&more_instances, &cnpg).is_ok(), "other edits still pass");
}

// Issue 13: what each provider needs, and RabbitMQ's sizes, as the API
// server checks them; the operator's own validation agrees.
#[test]
fn the_crd_states_what_each_provider_needs() {
    for (spec, admitted) in [
        ("{postgres: {provider: external}}".to_owned(), false),
        ("{postgres: {provider: external, external: {secretName: db}}}".to_owned(), true),
        ("{postgres: {external: {secretName: db}}}".to_owned(), false),
        (format!("{{postgres: {{provider: cnpg, {BACKUP}}}}}"), true),
        (format!("{{postgres: {{{BACKUP}}}}}"), false),
        (format!("{{postgres: {{provider: external, external: {{secretName: db}}, {BACKUP}}}}}"), false),
        ("{postgres: {provider: cnpg, backup: {schedule: '0 2 * * *', objectStore: {bucket: b, credentialsSecret: {name: s}}}}}".to_owned(), false),
        ("{postgres: {provider: cnpg, backup: {retentionPolicy: 30 days, objectStore: {bucket: b, credentialsSecret: {name: s}}}}}".to_owned(), false),
        ("{rabbitmq: {replicas: 3}}".to_owned(), true),
        ("{rabbitmq: {replicas: 2}}".to_owned(), false),
    ] {
        let cr = cluster_from(&spec);
        let cel = validate_cel(&cr);
        assert_eq!(cel.is_ok(), admitted, "{spec}: {cel:?}");
        let operator = payrail_operator::reconcile::validate::validate(&cr);
        assert_eq!(operator.is_ok(), admitted, "{spec}: the operator says {:?}", operator.err());
    }
}
