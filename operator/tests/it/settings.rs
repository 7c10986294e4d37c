//! The settings contract between the operator and payment-app: every
//! variable the operator puts in the app's pods is one the app's command
//! line reads (or one named below that something else reads), and every
//! setting of `payrail_common::settings` has the same default and range in
//! the CRD as in payment-app's command, and payment-app's own parser takes
//! every value the operator renders for the fixtures and examples. Read
//! from payment-app's own clap `Command`, so a variable misspelt on either
//! side fails here.
//!
//! The test lives here, not in payment-app, because the operator already
//! builds against payment-app for its tests (the PromQL check reads its
//! metrics): the rendered environment and the parser meet without a new
//! dependency in either direction. Names, defaults and bounds come from
//! `payrail_common::settings`, which both programs use; this test is what
//! says they use it the same way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use k8s_openapi::api::core::v1::{Container, EnvVar};
use kube::core::cel::validate_cel;
use payment_app::config::Cli;
use payrail_common::settings::{self, vars};
use payrail_operator::crd::PaymentCluster;
use payrail_operator::reconcile::build::{self, Child, Credentials, Observed};
use payrail_operator::render::Placeholder;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The fixtures and examples: between them every provider, tracing, a
/// replica URL, a CA and the optional limits.
fn clusters() -> Vec<(PathBuf, PaymentCluster)> {
    let mut paths = vec![
        root().join("operator/tests/fixtures/minimal.yaml"),
        root().join("operator/tests/fixtures/full.yaml"),
    ];
    let examples = std::fs::read_dir(root().join("examples")).unwrap();
    paths.extend(examples.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let cluster = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (path, cluster)
        })
        .collect()
}

/// The containers of the app's Deployment, init containers first.
fn app_containers(cluster: &PaymentCluster) -> Vec<Container> {
    let valid = payrail_operator::reconcile::validate::validate(cluster).unwrap();
    let credentials = Credentials::complete(None, &mut Placeholder);
    let built = build::build(&valid, &credentials, &Observed::default());
    let pod = built
        .iter()
        .find_map(|c| match c {
            Child::Deployment(d) if c.name().ends_with("-app") => d.spec.as_ref()?.template.spec.clone(),
            _ => None,
        })
        .expect("the app's Deployment");
    pod.init_containers.into_iter().flatten().chain(pod.containers).collect()
}

/// The variables the subcommand `name` reads, with the global ones.
fn variables_of(name: &str) -> BTreeSet<String> {
    let mut cli = Cli::command();
    cli.build(); // propagates the global arguments into the subcommands
    let sub = cli.find_subcommand(name).unwrap_or_else(|| panic!("payment-app has no subcommand {name}"));
    sub.get_arguments().filter_map(|a| Some(a.get_env()?.to_string_lossy().into_owned())).collect()
}

/// What is wrong with `env` for a container running `payment-app <args>`.
fn unread(env: &[EnvVar], args: &[String]) -> Vec<String> {
    let subcommand = args.first().expect("the container names a subcommand");
    let mut read = variables_of(subcommand);
    if subcommand == "migrate" {
        // migrate is given the app's environment on purpose (with its own
        // DATABASE_URL and role); what only `all` reads it ignores.
        read.extend(variables_of("all"));
    }
    env.iter()
        .enumerate()
        .filter(|(i, var)| {
            let expanded = env[i + 1..]
                .iter()
                .any(|later| later.value.as_deref().is_some_and(|v| v.contains(&format!("$({})", var.name))));
            !read.contains(&var.name) && !expanded && !vars::READ_BY_LIBRARIES.contains(&var.name.as_str())
        })
        .map(|(_, var)| var.name.clone())
        .collect()
}

#[test]
fn every_variable_the_operator_sets_is_one_payment_app_reads() {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, cluster) in clusters() {
        for container in app_containers(&cluster) {
            let env = container.env.unwrap_or_default();
            seen.extend(env.iter().map(|v| v.name.clone()));
            let args = container.args.unwrap_or_default();
            for name in unread(&env, &args) {
                problems.push(format!("{}: container {} sets {name}", path.display(), container.name));
            }
        }
    }
    assert!(problems.is_empty(), "payment-app reads none of these:\n{}", problems.join("\n"));
    // The inputs reach every kind of variable, so the check above covers them.
    for name in
        ["LOCK_TTL_MS", "DATABASE_READ_URL", "PGSSLROOTCERT", "OTEL_TRACES_SAMPLER", "DB_APP_PASSWORD"]
    {
        assert!(seen.contains(name), "no fixture or example makes the operator set {name}");
    }
}

/// Where each shared setting sits in the CRD, under `spec`.
const CRD_FIELDS: [(&str, &str); 11] = [
    ("DB_POOL_SIZE", "app.dbPoolSize"),
    ("LOCK_PREFETCH", "app.worker.lockPrefetch"),
    ("SETTLE_PREFETCH", "app.worker.settlePrefetch"),
    ("SETTLE_BATCH_MAX", "app.worker.settleBatchMax"),
    ("LOCK_TTL_MS", "app.worker.lockTtlMs"),
    ("SHUTDOWN_TIMEOUT_SECS", "app.shutdownTimeoutSeconds"),
    ("API_RATE_PER_SEC", "app.limits.apiRatePerSec"),
    ("API_RATE_BURST", "app.limits.apiRateBurst"),
    ("INTAKE_LOCK_TIMEOUT_MS", "app.limits.intakeLockTimeoutMs"),
    ("WEBHOOK_MAX_ENDPOINTS", "app.webhooks.maxEndpoints"),
    ("WEBHOOK_TIMEOUT_MS", "app.webhooks.timeoutMs"),
];

fn crd_field(path: &str) -> serde_json::Value {
    let crd = serde_json::to_value(<PaymentCluster as kube::CustomResourceExt>::crd()).unwrap();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone();
    for part in path.split('.') {
        schema = schema["properties"][part].clone();
    }
    assert!(schema.is_object(), "the CRD has no spec.{path}");
    schema
}

/// Whether `payment-app all` accepts `value` for the argument read from `env`.
fn app_accepts(env: &str, value: impl ToString) -> bool {
    let all = Cli::command();
    let all = all.find_subcommand("all").unwrap();
    let arg = all
        .get_arguments()
        .find(|a| a.get_env().is_some_and(|e| e == env))
        .unwrap_or_else(|| panic!("payment-app all reads no {env}"));
    let flag = format!("--{}", arg.get_long().unwrap());
    Cli::try_parse_from(["payment-app", "all", &flag, value.to_string().as_str()]).is_ok()
}

fn app_default(env: &str) -> Vec<String> {
    let cli = Cli::command();
    let all = cli.find_subcommand("all").unwrap();
    let arg = all.get_arguments().find(|a| a.get_env().is_some_and(|e| e == env)).unwrap();
    arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect()
}

#[test]
fn the_crd_and_payment_app_agree_on_each_settings_default_and_range() {
    let shared = settings::bounded();
    let listed: BTreeSet<_> = CRD_FIELDS.iter().map(|(env, _)| *env).collect();
    assert_eq!(listed, shared.iter().map(|s| s.env).collect(), "every shared setting has its CRD field here");
    let mut defaulted = PaymentCluster::new("mini", Default::default());
    defaulted.metadata.namespace = Some("shop".into());
    let written: Vec<EnvVar> =
        app_containers(&defaulted).into_iter().flat_map(|c| c.env.unwrap_or_default()).collect();
    for (env, path) in CRD_FIELDS {
        let setting = shared.iter().find(|s| s.env == env).unwrap();
        let schema = crd_field(path);
        // The schema's bounds are JSON numbers (floats); every bound is far below 2^53.
        assert_eq!(schema["minimum"].as_f64(), Some(setting.min as f64), "spec.{path} minimum: {schema}");
        assert_eq!(schema["maximum"].as_f64(), Some(setting.max as f64), "spec.{path} maximum: {schema}");
        assert_eq!(schema["default"].as_u64(), Some(setting.default), "spec.{path} default: {schema}");
        assert_eq!(app_default(env), [setting.default.to_string()], "payment-app's default of {env}");
        let value = written.iter().find(|v| v.name == env).and_then(|v| v.value.clone());
        assert_eq!(value, Some(setting.default.to_string()), "the operator's default of {env}");
        assert!(app_accepts(env, setting.min), "payment-app refuses {env}={}", setting.min);
        assert!(app_accepts(env, setting.max), "payment-app refuses {env}={}", setting.max);
        if setting.min > 0 {
            assert!(!app_accepts(env, setting.min - 1), "payment-app accepts {env}={}", setting.min - 1);
        }
        assert!(!app_accepts(env, setting.max + 1), "payment-app accepts {env}={}", setting.max + 1);
    }
}

#[test]
fn the_crd_and_payment_app_agree_on_the_range_of_each_setting_without_a_default() {
    // One such setting today; a second goes into this list.
    let list = [(settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN, "app.limits.maxInFlightPerToken")];
    #[allow(clippy::single_element_loop)]
    for (setting, path) in list {
        let (env, min, max) = (setting.env, u64::from(setting.min), u64::from(setting.max));
        let schema = crd_field(path);
        assert_eq!(schema["minimum"].as_f64(), Some(min as f64), "spec.{path} minimum: {schema}");
        assert_eq!(schema["maximum"].as_f64(), Some(max as f64), "spec.{path} maximum: {schema}");
        assert!(schema.get("default").is_none(), "spec.{path} has a default: {schema}");
        assert!(app_default(env).is_empty(), "payment-app has a default for {env}");
        assert!(app_accepts(env, min) && app_accepts(env, max), "payment-app refuses {env}={min} or {max}");
        assert!(!app_accepts(env, min - 1), "payment-app accepts {env}={}", min - 1);
        assert!(!app_accepts(env, max + 1), "payment-app accepts {env}={}", max + 1);
    }
}

fn cluster_from(spec: &str) -> PaymentCluster {
    serde_norway::from_str(&format!(
        "apiVersion: payrail.dev/v1alpha1\nkind: PaymentCluster\nmetadata: {{name: c, namespace: n}}\nspec: {spec}\n"
    ))
    .unwrap()
}

// An amount the API server admits but payment-app cannot hold as i64 minor
// units would roll out a Deployment whose pods exit at start: every amount
// the CRD's rule admits, the app accepts (and the operator's validation,
// for resources stored before the rule, agrees with the rule).
#[test]
fn every_amount_the_crd_admits_payment_app_accepts() {
    let probes = [
        "0",
        "1000",
        "1000.5",
        "1000.00",
        "1000.123",
        "1e3",
        "-5",
        " 5",
        "9999999999999999.99",
        "92233720368547758.07",
        "92233720368547758.08",
        "99999999999999999.99",
        "123456789012345678901234567890",
    ];
    for (setting, field) in [
        (settings::MAX_ACCOUNT_ISSUANCE, "maxAccountIssuance"),
        (settings::MAX_TOTAL_ISSUANCE, "maxTotalIssuance"),
    ] {
        let default = crd_field(&format!("app.limits.{field}"))["default"].clone();
        assert_eq!(default.as_str(), Some(setting.default), "spec.app.limits.{field} default");
        assert_eq!(app_default(setting.env), [setting.default], "payment-app's default of {}", setting.env);
        let mut admitted = Vec::new();
        for value in probes {
            let cluster = cluster_from(&format!("{{app: {{limits: {{{field}: '{value}'}}}}}}"));
            let admits = validate_cel(&cluster).is_ok();
            let operator = payrail_operator::reconcile::validate::validate(&cluster).map(drop);
            assert_eq!(
                operator.is_ok(),
                admits,
                "{field}: {value:?}: the CRD says {admits}, the operator {operator:?}"
            );
            if admits {
                admitted.push(value);
                assert!(
                    app_accepts(setting.env, value),
                    "the CRD admits {field}: {value:?}, payment-app refuses it"
                );
            }
        }
        // The rule is not so strict that it refuses plain amounts.
        assert_eq!(admitted, ["0", "1000", "1000.5", "1000.00", "9999999999999999.99"], "{field}");
    }
}

/// `env` as payment-app's flags for `subcommand`: each variable it reads,
/// with what a Secret or an expansion would hold filled in.
fn as_flags(subcommand: &str, env: &[EnvVar]) -> Vec<String> {
    let mut cli = Cli::command();
    cli.build();
    let sub = cli.find_subcommand(subcommand).unwrap();
    let mut flags = vec!["payment-app".to_owned(), subcommand.to_owned()];
    for var in env {
        let Some(arg) = sub.get_arguments().find(|a| a.get_env().is_some_and(|e| *e == *var.name)) else {
            continue; // migrate's share of the app's environment, or a library's: checked above
        };
        let value = match (&var.value, var.name.as_str()) {
            (Some(value), _) => expand(value),
            (None, name) if name == vars::DATABASE_URL || name == vars::DATABASE_READ_URL => {
                "postgres://payrail:secret@db.example:5432/payrail".to_owned()
            }
            (None, name) if name == vars::API_TOKENS => "a-token-of-twenty-chars=read+pay".to_owned(),
            (None, _) => "secret".to_owned(),
        };
        let flag = format!("--{}", arg.get_long().unwrap());
        if arg.get_action().takes_values() {
            flags.extend([flag, value]);
        } else {
            // A switch: clap reads its variable as true or false.
            assert!(value == "true" || value == "false", "{} is {value:?}, not true or false", var.name);
            flags.extend((value == "true").then_some(flag));
        }
    }
    flags
}

/// `value` with each `$(VAR)` replaced by a stand-in for the variable's value.
fn expand(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        let end = start + rest[start..].find(')').expect("a closed $(");
        out.push_str(&rest[..start]);
        out.push_str("secret");
        rest = &rest[end + 1..];
    }
    out + rest
}

#[test]
fn payment_app_parses_every_environment_the_operator_renders() {
    let mut problems = Vec::new();
    for (path, cluster) in clusters() {
        for container in app_containers(&cluster) {
            let args = container.args.unwrap_or_default();
            let flags = as_flags(&args[0], &container.env.unwrap_or_default());
            if let Err(e) = Cli::try_parse_from(&flags) {
                problems.push(format!("{}: container {}: {}", path.display(), container.name, e.render()));
            }
        }
    }
    assert!(problems.is_empty(), "payment-app refuses what the operator renders:\n{}", problems.join("\n"));
}
