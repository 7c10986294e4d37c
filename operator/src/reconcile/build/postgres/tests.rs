//! Each provider's answers to the seam's questions, side by side: what the
//! rest of the operator now learns only through [`super::provider`].

use super::*;
use crate::child::Source;
use crate::crd::PaymentCluster;
use crate::reconcile::build::Credentials;
use crate::reconcile::build::meta::Component;
use crate::reconcile::build::tests::{Counting, fixture, valid};
use crate::reconcile::validate::ValidatedCluster;

fn with(postgres: serde_json::Value) -> ValidatedCluster {
    let mut cr: PaymentCluster = fixture("minimal");
    cr.spec.postgres = serde_json::from_value(postgres).expect("postgres");
    valid(&cr)
}

fn env_names(env: &[k8s_openapi::api::core::v1::EnvVar]) -> Vec<&str> {
    env.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn builtin_runs_its_own_pair_and_its_owner_sets_the_app_roles_password() {
    let valid = with(serde_json::json!({"provider": "builtin", "readReplica": false}));
    let builtin = provider(&valid.postgres);
    assert_eq!(builtin.server_statefulsets(&valid.names), [valid.names.postgres()], "no replica asked for");
    assert_eq!(builtin.network_peers().len(), 1);
    assert_eq!(builtin.replication_lag_metric(), None, "no replica, no lag alert");
    let (password, env) = builtin.app_env(&valid);
    assert_eq!(password.map(|p| p.name), Some("DB_APP_PASSWORD".into()));
    assert_eq!(env_names(&env), ["DATABASE_URL"]);
    assert!(builtin.migrate_owner(&valid).expect("an owner").sets_app_password);
    assert!(builtin.sources().is_empty() && builtin.app_secret().is_none() && !builtin.backs_up());

    let valid = with(serde_json::json!({"provider": "builtin"}));
    let builtin = provider(&valid.postgres);
    assert_eq!(
        builtin.server_statefulsets(&valid.names),
        [valid.names.postgres(), valid.names.postgres_replica()]
    );
    let peers: Vec<_> = builtin.network_peers().into_iter().map(|(c, _)| c).collect();
    assert_eq!(peers, [Component::PostgresPrimary, Component::PostgresReplica]);
    assert_eq!(builtin.replication_lag_metric(), Some("pg_replication_lag_seconds"));
    assert_eq!(env_names(&builtin.app_env(&valid).1), ["DATABASE_URL", "DATABASE_READ_URL"]);
}

#[test]
fn cnpg_answers_with_cnpgs_services_kinds_and_owner() {
    let valid =
        with(serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 1, "pooler": {"instances": 2}}}));
    let cnpg = provider(&valid.postgres);
    let (_, env) = cnpg.app_env(&valid);
    assert_eq!(env_names(&env), ["DATABASE_URL"], "one instance: no -ro Service to read from");
    let url = env[0].value.as_deref().unwrap_or_default();
    assert!(url.contains(&valid.names.postgres_pooler()), "writes go through the pooler: {url}");
    let owner = cnpg.migrate_owner(&valid).expect("an owner");
    assert!(!owner.sets_app_password, "CNPG keeps the app role's password");
    assert_eq!(cnpg.sources(), [Source::Cnpg, Source::BarmanCloud]);
    assert!(cnpg.server_statefulsets(&valid.names).is_empty() && cnpg.network_peers().is_empty());
    assert_eq!((cnpg.replication_lag_metric(), cnpg.backs_up()), (None, false));
    assert_eq!(cnpg.pod_monitors(&valid).len(), 1);

    let valid = with(serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3}}));
    let cnpg = provider(&valid.postgres);
    assert_eq!(env_names(&cnpg.app_env(&valid).1), ["DATABASE_URL", "DATABASE_READ_URL"]);
    assert_eq!(cnpg.replication_lag_metric(), Some("cnpg_pg_replication_lag"));
}

#[test]
fn an_external_server_builds_nothing_and_is_read_from_the_users_secret() {
    let valid = with(serde_json::json!({"provider": "external", "external": {"secretName": "db"}}));
    let external = provider(&valid.postgres);
    let credentials = Credentials::complete(None, &mut Counting(0));
    let inputs = Inputs {
        credentials: &credentials,
        credentials_data: &Default::default(),
        observed: &Default::default(),
    };
    assert!(external.children(&valid, &inputs).is_empty());
    assert_eq!(external.app_secret(), Some("db"));
    assert!(external.migrate_owner(&valid).is_none(), "migrate connects as the app");
    let (password, env) = external.app_env(&valid);
    assert!(password.is_none());
    assert_eq!(env_names(&env), ["DATABASE_URL", "DATABASE_READ_URL"]);
    assert!(external.app_volume().is_none(), "no CA named");

    let valid = with(serde_json::json!({
        "provider": "external", "external": {"secretName": "db", "caSecret": {"name": "ca"}}
    }));
    let external = provider(&valid.postgres);
    assert_eq!(
        env_names(&external.app_env(&valid).1),
        ["DATABASE_URL", "DATABASE_READ_URL", "PGSSLMODE", "PGSSLROOTCERT"]
    );
    assert!(external.app_volume().is_some());
}

// Issue 28: status asks the seam how far the database is and what to say
// about it; each provider words its own conditions.
#[test]
fn each_provider_counts_its_servers_and_words_its_own_conditions() {
    use crate::reconcile::build::{Observed, build};
    let built = |valid: &ValidatedCluster| {
        build(valid, &Credentials::complete(None, &mut Counting(0)), &Observed::default())
    };
    let types =
        |reports: Vec<Report>| reports.into_iter().map(|r| (r.type_, r.ok, r.reason)).collect::<Vec<_>>();

    let valid = with(serde_json::json!({"provider": "builtin"}));
    let builtin = provider(&valid.postgres);
    let children = built(&valid);
    let count = builtin.readiness(&valid.names, &children).expect("the pair was built");
    assert_eq!((count.ready, count.desired), (0, 2), "primary and replica, none ready yet");
    assert_eq!(builtin.readiness(&valid.names, &[]), None, "nothing applied: the last counts stand");
    assert!(builtin.conditions(&valid.names, &children).is_empty());

    let valid = with(serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3}}));
    let cnpg = provider(&valid.postgres);
    let children = built(&valid);
    let count = cnpg.readiness(&valid.names, &children).expect("the Cluster was built");
    assert_eq!((count.ready, count.desired), (0, 3), "CNPG's instances");
    assert_eq!(
        types(cnpg.conditions(&valid.names, &children)),
        [("DatabaseReady", false, "NotReported"), ("BackupsHealthy", false, "BackupsNotConfigured")]
    );

    let valid = with(serde_json::json!({"provider": "external", "external": {"secretName": "db"}}));
    let external = provider(&valid.postgres);
    let count = external.readiness(&valid.names, &[]).expect("nothing to wait for");
    assert_eq!((count.ready, count.desired, count.summary.as_str()), (0, 0, "external"));
    assert!(external.conditions(&valid.names, &[]).is_empty());
}
