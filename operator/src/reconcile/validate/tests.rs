//! The validate step's rules, one table each.

use super::*;

fn cluster(spec: PaymentClusterSpec) -> PaymentCluster {
    let mut cr = PaymentCluster::new("mini", spec);
    cr.metadata.namespace = Some("shop".into());
    cr
}

#[test]
fn a_minimal_spec_is_all_defaults_and_valid() {
    let spec: PaymentClusterSpec = serde_json::from_str("{}").expect("parses");
    assert_eq!(spec, PaymentClusterSpec::default(), "serde's defaults are Default's");
    assert_eq!(spec.app.replicas, 3);
    assert!(spec.postgres.read_replica && spec.network_policies);
    let valid = validate(&cluster(spec)).expect("valid");
    assert_eq!(
        valid.connections,
        ConnectionBudget { pool_size: 16, app_pods: 12, poolers: 0, max_connections: 202 }
    );
    assert_eq!(valid.redis_restart_delay_seconds, Some(31), "30 s locks, plus a second");
    assert_eq!(valid.app_grace_period_seconds, 45);
}

#[test]
fn problems_name_each_bad_field() {
    let mut spec = PaymentClusterSpec::default();
    spec.redis.nodes = 4;
    spec.postgres.storage.size = "ten gigs".into();
    spec.app.image = "payrail app".into();
    spec.app.worker.lock_ttl_ms = 200;
    let problems = validate(&cluster(spec)).expect_err("invalid").to_string();
    for needle in ["redis.nodes", "postgres.storage.size", "app.image", "lockTtlMs"] {
        assert!(problems.contains(needle), "{needle} missing from:\n{problems}");
    }
}

#[test]
fn quantities_are_what_the_schema_admits() {
    for ok in ["1Gi", "10Gi", "512Mi", "1", "100G", "1.5Gi", "0.5Ti", "1e9", "2E3", "+1Gi"] {
        assert!(is_quantity(ok), "{ok}");
    }
    for bad in ["", "Gi", "0Gi", "1gb", "-1Gi", " 1Gi", "1..5Gi", "1e", "1Gi "] {
        assert!(!is_quantity(bad), "{bad}");
    }
    assert_eq!(parse_quantity("1.5Gi"), Some(1.5 * 1024.0 * 1024.0 * 1024.0));
    assert!(parse_quantity("20Gi").unwrap() > parse_quantity("10Gi").unwrap());
}

#[test]
fn the_lock_ttl_minimum_is_the_schemas() {
    let crd = serde_json::to_value(<PaymentCluster as kube::CustomResourceExt>::crd()).expect("json");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["app"]["properties"]["worker"]["properties"]["lockTtlMs"];
    assert_eq!(schema["minimum"].as_f64(), Some(f64::from(MIN_LOCK_TTL_MS)), "{schema}");
    for (ttl, valid) in [(MIN_LOCK_TTL_MS - 1, false), (MIN_LOCK_TTL_MS, true)] {
        let mut spec = PaymentClusterSpec::default();
        spec.app.worker.lock_ttl_ms = ttl;
        assert_eq!(validate(&cluster(spec)).is_ok(), valid, "{ttl}");
    }
}

#[test]
fn the_connection_budget_covers_every_pod_of_a_rollout() {
    // At most 6 replicas, the surge pod and the pod it replaced still
    // stopping (issue 25, item 11), at payment-app's default pool of 16:
    // 128 connections, more than PostgreSQL's default 100.
    let mut spec = PaymentClusterSpec::default();
    spec.app.replicas = 2;
    spec.app.max_replicas = Some(6);
    let budget = validate(&cluster(spec.clone())).expect("valid").connections;
    assert_eq!(budget.app_connections(), 8 * 16);
    assert_eq!(budget.max_connections, 8 * 16 + RESERVED_CONNECTIONS);

    // Without app.maxReplicas: 10 replicas, or more when the app has them.
    spec.app.max_replicas = None;
    assert_eq!(validate(&cluster(spec.clone())).expect("valid").connections.app_pods, 12);
    spec.app.replicas = 12;
    assert_eq!(validate(&cluster(spec.clone())).expect("valid").connections.app_pods, 14);

    // More replicas than app.maxReplicas is refused, saying why.
    spec.app.max_replicas = Some(6);
    let problem = validate(&cluster(spec.clone())).expect_err("above").to_string();
    assert!(problem.contains("app.replicas 12 is above app.maxReplicas 6"), "{problem}");
    spec.app.replicas = 2;

    // A fixed max_connections that cannot hold them is refused, saying why.
    spec.postgres.max_connections = Some(100);
    let problem = validate(&cluster(spec.clone())).expect_err("too small").to_string();
    assert!(problem.contains("postgres.maxConnections 100"), "{problem}");
    assert!(
        problem.contains("8 app pods (app.maxReplicas 6 + 1 starting and 1 stopping")
            && problem.contains("= 138"),
        "{problem}"
    );
    // Without app.maxReplicas a fixed value is checked against the
    // replicas, as before: the value is the user's, so scaling the app
    // does not change it either.
    spec.app.max_replicas = None;
    assert_eq!(validate(&cluster(spec.clone())).expect("fits").connections.app_pods, 4);
    spec.app.max_replicas = Some(6);

    // Enough is kept as given.
    spec.postgres.max_connections = Some(200);
    assert_eq!(validate(&cluster(spec.clone())).expect("fits").connections.max_connections, 200);

    // A derived value past the cap is refused too.
    spec.postgres.max_connections = None;
    spec.app.max_replicas = Some(100);
    spec.app.db_pool_size = 1000;
    let problem = validate(&cluster(spec)).expect_err("too many").to_string();
    assert!(problem.contains("more than 10000"), "{problem}");
}

// Issue 25: through CNPG's Pooler every PgBouncer instance may hold a
// server connection for each app connection, so the budget is theirs.
#[test]
fn the_connection_budget_counts_every_pooler_instance() {
    let mut spec = PaymentClusterSpec::default();
    spec.postgres.provider = PostgresProvider::Cnpg;
    spec.postgres.cnpg.pooler = Some(crate::crd::PoolerSettings { instances: 3 });
    let budget = validate(&cluster(spec.clone())).expect("valid").connections;
    assert_eq!(budget.poolers, 3);
    // The largest app the spec allows: 10 replicas (the default
    // app.maxReplicas) + 1 pod starting and 1 stopping, 16 connections each.
    assert_eq!(budget.primary_connections(), 3 * (12 * 16 + POOLER_AUTH_CONNECTIONS));
    assert_eq!(budget.max_connections, 3 * 193 + RESERVED_CONNECTIONS);

    spec.postgres.max_connections = Some(150);
    let problem = validate(&cluster(spec.clone())).expect_err("too small").to_string();
    assert!(problem.contains("3 PgBouncer instances") && problem.contains("= 253"), "{problem}");

    // Only the cnpg provider makes a pooler: elsewhere the setting counts nothing.
    spec.postgres.max_connections = None;
    spec.postgres.provider = PostgresProvider::Builtin;
    assert_eq!(validate(&cluster(spec.clone())).expect("valid").connections.max_connections, 202);

    spec.postgres.provider = PostgresProvider::Cnpg;
    spec.postgres.cnpg.pooler = Some(crate::crd::PoolerSettings { instances: 0 });
    let problem = validate(&cluster(spec)).expect_err("no instances").to_string();
    assert!(problem.contains("postgres.cnpg.pooler.instances"), "{problem}");
}

#[test]
fn the_grace_period_follows_the_shutdown_timeout() {
    let mut spec = PaymentClusterSpec::default();
    spec.app.shutdown_timeout_seconds = 90;
    assert_eq!(validate(&cluster(spec)).expect("valid").app_grace_period_seconds, 105);
}

#[test]
fn monitoring_labels_must_be_label_keys() {
    for (key, ok) in [
        ("release", true),
        ("prometheus.io/team", true),
        ("a", true),
        ("", false),
        ("-release", false),
        ("two words", false),
        ("Upper.Case/name", false),
        ("/name", false),
    ] {
        let mut spec = PaymentClusterSpec::default();
        spec.monitoring.labels.insert(key.into(), "x".into());
        let result = validate(&cluster(spec));
        assert_eq!(result.is_ok(), ok, "{key:?}: {:?}", result.err());
    }
    let mut spec = PaymentClusterSpec::default();
    spec.monitoring.redis_exporter_image = " ".into();
    let problems = validate(&cluster(spec)).expect_err("invalid").to_string();
    assert!(problems.contains("monitoring.redisExporterImage"), "{problems}");
}

#[test]
fn monitoring_is_the_specs_choice_else_the_operators_default() {
    let on = OperatorDefaults { monitoring: true };
    for (enabled, default, built) in [
        (None, OperatorDefaults::default(), false),
        (None, on, true),
        (Some(false), on, false),
        (Some(true), OperatorDefaults::default(), true),
    ] {
        let mut spec = PaymentClusterSpec::default();
        spec.monitoring.enabled = enabled;
        let valid = validate_with(&cluster(spec), &default).expect("valid");
        assert_eq!(valid.monitoring, built, "{enabled:?} with {default:?}");
    }
}

// Issue 28: the provider is resolved once, into a plan that carries what
// only that provider reads; the settings of another provider are not in it.
#[test]
fn the_postgres_plan_carries_its_providers_settings() {
    let mut spec = PaymentClusterSpec::default();
    spec.postgres.read_replica = false;
    spec.postgres.cnpg.pooler = Some(crate::crd::PoolerSettings { instances: 2 });
    let plan = |spec: &PaymentClusterSpec| validate(&cluster(spec.clone())).expect("valid").postgres;
    assert_eq!(
        plan(&spec),
        PostgresPlan::Builtin(BuiltinPlan { read_replica: false, image: "postgres:16".into() })
    );

    spec.postgres.provider = PostgresProvider::Cnpg;
    spec.postgres.cnpg.instances = 3;
    spec.postgres.cnpg.image_name = Some("ghcr.io/cloudnative-pg/postgresql:16.4".into());
    assert_eq!(
        plan(&spec),
        PostgresPlan::Cnpg(CnpgPlan {
            instances: 3,
            pooler_instances: Some(2),
            backup: None,
            image_name: Some("ghcr.io/cloudnative-pg/postgresql:16.4".into())
        })
    );

    spec.postgres.provider = PostgresProvider::External;
    spec.postgres.external = Some(crate::crd::ExternalPostgresSpec {
        secret_name: "db".into(),
        ca_secret: Some(CaSecretRef { name: "ca".into(), key: "ca.crt".into() }),
    });
    let PostgresPlan::External(external) = plan(&spec) else { panic!("external") };
    assert_eq!(
        (external.secret_name.as_str(), external.ca_secret.map(|c| c.name)),
        ("db", Some("ca".into()))
    );
    assert_eq!(plan(&spec).provider(), PostgresProvider::External);

    // No plan without its settings: the spec is refused, with the reason.
    spec.postgres.external = None;
    let problem = validate(&cluster(spec)).expect_err("no secret").to_string();
    assert!(problem.contains("needs postgres.external.secretName"), "{problem}");
}

// Issue 28: the schema lists the codes payment-app takes; a resource stored
// under an older schema (which admitted any three capitals) is still refused
// here, named, instead of starting pods that exit on DEFAULT_CURRENCY.
#[test]
fn a_currency_the_app_refuses_is_refused_here_too() {
    for (code, valid) in
        [("EUR", true), ("JPY", true), ("BHD", true), ("XAU", false), ("XYZ", false), ("usd", false)]
    {
        let mut spec = PaymentClusterSpec::default();
        spec.app.default_currency = crate::crd::CurrencyCode(code.into());
        match validate(&cluster(spec)) {
            Ok(v) => assert!(valid, "{code} accepted as {:?}", v.app.default_currency),
            Err(InvalidSpec(problems)) => {
                assert!(!valid, "{code} refused: {problems:?}");
                assert!(
                    problems.iter().any(|p| p.contains("app.defaultCurrency") && p.contains(code)),
                    "{problems:?}"
                );
            }
        }
    }
    let known = crate::crd::CurrencyCode::known();
    assert!(known.iter().any(|c| c == "USD") && !known.iter().any(|c| c == "XAU" || c == "XXX"), "{known:?}");
    assert!(known.windows(2).all(|w| w[0] < w[1]), "sorted, once each");
}

// The log format is an enum in the CRD: serde (and the schema) take only
// what LOG_FORMAT takes.
#[test]
fn the_log_format_is_text_or_json() {
    let parse = |format: &str| {
        serde_json::from_value::<crate::crd::AppSpec>(serde_json::json!({"logFormat": format}))
    };
    assert_eq!(parse("text").expect("text").log_format, payrail_common::telemetry::LogFormat::Text);
    assert_eq!(parse("json").expect("json").log_format, payrail_common::telemetry::LogFormat::Json);
    assert!(parse("xml").is_err() && parse("JSON").is_err());
}
