//! Status follows the children's readiness.

use k8s_openapi::api::apps::v1::{DeploymentStatus, StatefulSet, StatefulSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::cnpg::RecoveryWindow;
use crate::crd::ComponentStatus;
use crate::reconcile::build::counts::{new_ready, statefulset_status};
use crate::reconcile::build::tests::{Counting, fixture, valid};
use crate::reconcile::build::{Credentials, Observed, build};
use crate::reconcile::failure::ChildFailure;

fn at(seconds: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(seconds).expect("valid"))
}

/// The children as a server would return them, every pod ready or not.
fn with_readiness(cr: &PaymentCluster, ready: bool) -> Vec<Child> {
    build(&valid(cr), &Credentials::complete(None, &mut Counting(0)), &Observed::default())
        .into_iter()
        .map(|child| match child {
            Child::Deployment(mut d) => {
                d.metadata.generation = Some(2);
                let replicas = d.spec.as_ref().and_then(|s| s.replicas);
                d.status = Some(DeploymentStatus {
                    observed_generation: Some(2),
                    replicas,
                    ready_replicas: if ready { replicas } else { Some(1) },
                    updated_replicas: replicas,
                    ..DeploymentStatus::default()
                });
                Child::Deployment(d)
            }
            Child::StatefulSet(mut s) => {
                let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                s.metadata.generation = Some(1);
                s.status = Some(StatefulSetStatus {
                    observed_generation: Some(1),
                    replicas,
                    updated_replicas: Some(replicas),
                    ready_replicas: Some(if ready { replicas } else { 0 }),
                    ..StatefulSetStatus::default()
                });
                Child::StatefulSet(s)
            }
            other => other,
        })
        .collect()
}

fn condition<'a>(status: &'a PaymentClusterStatus, type_: &str) -> &'a Condition {
    status.conditions.iter().find(|c| c.type_ == type_).expect("condition")
}

#[test]
fn a_cluster_coming_up_is_progressing_not_ready() {
    let cr = fixture("minimal");
    let children = with_readiness(&cr, false);
    let status = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &children,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    );
    assert_eq!(status.app, ComponentStatus::new(1, 3));
    assert_eq!(status.redis, ComponentStatus::new(0, 3));
    assert_eq!(status.postgres, ComponentStatus::new(0, 2));
    assert_eq!(condition(&status, "Ready").status, "False");
    assert_eq!(condition(&status, "Ready").reason, "ComponentsNotReady");
    assert!(condition(&status, "Ready").message.contains("redis 0/3"));
    assert_eq!(condition(&status, "Progressing").status, "True");
    assert_eq!(condition(&status, "Degraded").status, "False");
    assert_eq!(status.api_service.as_deref(), Some("mini-api"));
    assert!(!is_ready(Some(&status)));
}

#[test]
fn ready_when_every_component_is_and_transition_times_hold_still() {
    let cr = fixture("minimal");
    let coming = with_readiness(&cr, false);
    let first = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &coming,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    );
    let up = with_readiness(&cr, true);
    let ready = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &up,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        Some(&first),
        at(200),
    );
    assert!(is_ready(Some(&ready)));
    assert_eq!(condition(&ready, "Ready").last_transition_time, at(200));
    // Degraded stayed False, so its transition time is the first one.
    assert_eq!(condition(&ready, "Degraded").last_transition_time, at(100));
    // Nothing changed: a second computation is identical, so no status write.
    let again = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &up,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        Some(&ready),
        at(300),
    );
    assert_eq!(again, ready);
}

#[test]
fn a_rollout_in_progress_is_not_ready_on_old_pods() {
    let cr = fixture("minimal");
    let mut children = with_readiness(&cr, true);
    for child in &mut children {
        if let Child::Deployment(d) = child {
            d.metadata.generation = Some(3); // a new image, not yet observed
        }
    }
    let status = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &children,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    );
    assert_eq!(status.app.ready, 0);
    assert_eq!(condition(&status, "Progressing").status, "True");
}

#[test]
fn an_invalid_spec_is_degraded_and_keeps_the_last_counts() {
    let cr = fixture("minimal");
    let up = with_readiness(&cr, true);
    let ready = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &up,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    );
    let problems = vec!["redis.nodes must be odd".to_owned()];
    let status = compute(&cr, &Outcome::Invalid(&problems), Some(&ready), at(200));
    assert_eq!(condition(&status, "Degraded").status, "True");
    assert_eq!(condition(&status, "Degraded").reason, "InvalidSpec");
    assert!(condition(&status, "Degraded").message.contains("redis.nodes must be odd"));
    assert_eq!(condition(&status, "Ready").status, "False");
    assert_eq!(status.app, ready.app);
}

#[test]
fn a_refused_object_is_degraded_and_keeps_its_last_counts() {
    let cr = fixture("minimal");
    let up = with_readiness(&cr, true);
    let ready = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &up,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    );
    let without_redis: Vec<Child> = up.iter().filter(|c| c.name() != "mini-redis").cloned().collect();
    let failures = [ChildFailure::refused("StatefulSet", "mini-redis", "spec: Forbidden")];
    let status = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &without_redis,
            failures: &failures,
            refusals: &[],
            not_streaming: None,
        },
        Some(&ready),
        at(200),
    );
    assert_eq!(condition(&status, "Degraded").status, "True");
    assert_eq!(condition(&status, "Degraded").reason, "ApplyFailed");
    assert_eq!(condition(&status, "Degraded").message, "StatefulSet mini-redis: spec: Forbidden");
    assert_eq!(status.redis, ready.redis, "the Redis counts last seen");
    assert!(is_ready(Some(&status)), "the pods that run are still ready");
}

/// The minimal fixture with `postgres` replaced, its children as a server
/// returns them (every pod ready), the CNPG Cluster reporting `conditions`
/// and `ready` of 3 instances.
fn with_postgres(
    postgres: serde_json::Value,
    conditions: &[(&str, &str, &str)],
    ready: i32,
) -> PaymentClusterStatus {
    with_backups(postgres, conditions, ready, None)
}

/// [`with_postgres`], the plugin's ObjectStore reporting `window` for the
/// cluster's server.
fn with_backups(
    postgres: serde_json::Value,
    conditions: &[(&str, &str, &str)],
    ready: i32,
    window: Option<RecoveryWindow>,
) -> PaymentClusterStatus {
    let mut cr = fixture("minimal");
    cr.spec.postgres = serde_json::from_value(postgres).expect("postgres");
    let children: Vec<Child> = with_readiness(&cr, true)
        .into_iter()
        .map(|child| match child {
            Child::CnpgCluster(mut cluster) => {
                cluster.status = Some(crate::cnpg::ClusterStatus {
                    instances: Some(3),
                    ready_instances: Some(ready),
                    phase: None,
                    conditions: conditions
                        .iter()
                        .map(|(type_, status, message)| crate::cnpg::ClusterCondition {
                            type_: (*type_).into(),
                            status: (*status).into(),
                            reason: String::new(),
                            message: (*message).into(),
                        })
                        .collect(),
                });
                Child::CnpgCluster(cluster)
            }
            Child::ObjectStore(mut store) => {
                store.status = window.clone().map(|window| crate::cnpg::ObjectStoreStatus {
                    server_recovery_window: [("mini-postgres".to_owned(), window)].into(),
                });
                Child::ObjectStore(store)
            }
            other => other,
        })
        .collect();
    compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &children,
            failures: &[],
            refusals: &[],
            not_streaming: None,
        },
        None,
        at(100),
    )
}

// Issue 13: CNPG's Ready and ContinuousArchiving reach the PaymentCluster
// as DatabaseReady and BackupsHealthy (a printer column), and its ready
// instances as the postgres counts.
#[test]
fn cnpgs_conditions_are_mirrored() {
    let backup = serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3},
        "backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}}});
    let failing = with_postgres(
        backup.clone(),
        &[
            ("Ready", "True", "Cluster is Ready"),
            ("ContinuousArchiving", "False", "barman-cloud-wal-archive: exit status 1"),
        ],
        3,
    );
    assert_eq!(failing.postgres, ComponentStatus::new(3, 3));
    assert_eq!(condition(&failing, "Ready").status, "True", "backups do not make the stack unready");
    assert_eq!(condition(&failing, "DatabaseReady").reason, "ClusterReady");
    let backups = condition(&failing, "BackupsHealthy");
    assert_eq!((backups.status.as_str(), backups.reason.as_str()), ("False", "ArchivingFailing"));
    assert!(backups.message.contains("exit status 1"), "{}", backups.message);

    let good = RecoveryWindow {
        first_recoverability_point: Some(at(1_000)),
        last_successful_backup_time: Some(at(2_000)),
        last_failed_backup_time: None,
    };
    let healthy = with_backups(
        backup.clone(),
        &[("Ready", "True", ""), ("ContinuousArchiving", "True", "")],
        3,
        Some(good),
    );
    assert_eq!(condition(&healthy, "BackupsHealthy").status, "True");

    let failover = with_postgres(backup, &[("Ready", "False", "Failing over")], 2);
    assert_eq!(failover.postgres, ComponentStatus::new(2, 3));
    assert_eq!(condition(&failover, "Ready").reason, "ComponentsNotReady");
    assert_eq!(condition(&failover, "DatabaseReady").message, "Failing over");
    assert_eq!(condition(&failover, "BackupsHealthy").reason, "ArchivingNotReported");

    let no_backup = with_postgres(serde_json::json!({"provider": "cnpg"}), &[("Ready", "True", "")], 3);
    assert_eq!(condition(&no_backup, "BackupsHealthy").reason, "BackupsNotConfigured");
}

// Issue 25, item 7: BackupsHealthy mirrored WAL archiving alone, so it was
// True while every base backup failed or before any had succeeded, when
// nothing could be restored. The plugin's recovery window now decides too.
#[test]
fn backups_are_healthy_only_with_a_good_base_backup() {
    let backup = serde_json::json!({"provider": "cnpg", "cnpg": {"instances": 3},
        "backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}}}});
    let archiving = [("Ready", "True", ""), ("ContinuousArchiving", "True", "")];
    let window = |succeeded: Option<i64>, failed: Option<i64>| RecoveryWindow {
        first_recoverability_point: succeeded.map(|_| at(500)),
        last_successful_backup_time: succeeded.map(at),
        last_failed_backup_time: failed.map(at),
    };
    for (reported, healthy, reason) in [
        (None, false, "NoBaseBackup"),
        (Some(window(None, None)), false, "NoBaseBackup"),
        (Some(window(None, Some(1_000))), false, "BaseBackupFailing"),
        (Some(window(Some(1_000), Some(2_000))), false, "BaseBackupFailing"),
        (Some(window(Some(2_000), Some(1_000))), true, "Recoverable"),
        (Some(window(Some(2_000), None)), true, "Recoverable"),
    ] {
        let status = with_backups(backup.clone(), &archiving, 3, reported.clone());
        let backups = condition(&status, "BackupsHealthy");
        assert_eq!(
            (backups.status.as_str(), backups.reason.as_str()),
            (if healthy { "True" } else { "False" }, reason),
            "{reported:?}: {}",
            backups.message
        );
        assert_eq!(condition(&status, "Ready").status, "True", "backups do not make the stack unready");
    }
    let failing = with_backups(backup, &archiving, 3, Some(window(Some(1_000), Some(2_000))));
    let message = &condition(&failing, "BackupsHealthy").message;
    assert!(message.contains("failed at 1970-01-01T00:33:20Z"), "{message}");
    assert!(message.contains("last good one is from 1970-01-01T00:16:40Z"), "{message}");
}

// Issue 13: an external server has nothing to wait for, and no CNPG
// conditions; the builtin servers neither.
#[test]
fn an_external_server_is_not_waited_for() {
    let status =
        with_postgres(serde_json::json!({"provider": "external", "external": {"secretName": "db"}}), &[], 0);
    assert_eq!(status.postgres.summary, "external");
    assert_eq!(condition(&status, "Ready").status, "True");
    assert!(status.conditions.iter().all(|c| c.type_ != "BackupsHealthy" && c.type_ != "DatabaseReady"));
}

// Issue 25, item 10: the controllers count ready pods of both revisions
// together; while old pods remain, a rollout is not done however many
// pods are ready.
#[test]
fn only_pods_surely_of_the_new_revision_count_as_ready() {
    // (pods in all, of the new revision, ready) -> new and ready for certain
    let cases = [
        ((2, 2, 2), 2), // settled
        ((3, 1, 2), 0), // one new pod surged: the two ready may be the old ones
        ((3, 1, 3), 1), // ... and it started
        ((3, 2, 2), 1), // the last new pod has not started: one of the ready is old
        ((3, 2, 3), 2),
        ((3, 0, 3), 0), // nothing new yet
        ((1, 1, 0), 0),
        ((0, 0, 0), 0),
    ];
    for ((total, updated, ready), expected) in cases {
        assert_eq!(new_ready(total, updated, ready), expected, "{total} pods, {updated} new, {ready} ready");
    }
}

#[test]
fn a_statefulset_the_controller_has_not_seen_is_not_ready() {
    let mut s = StatefulSet::default();
    s.metadata.generation = Some(3);
    s.spec = Some(k8s_openapi::api::apps::v1::StatefulSetSpec { replicas: Some(1), ..Default::default() });
    s.status = Some(StatefulSetStatus {
        observed_generation: Some(2),
        replicas: 1,
        updated_replicas: Some(1),
        ready_replicas: Some(1),
        ..StatefulSetStatus::default()
    });
    assert_eq!(statefulset_status(&s), ComponentStatus::new(0, 1), "the new spec is not rolled out yet");
}

// Issue 25: a PostgreSQL pod that refuses its volume (to keep the ledger)
// makes the cluster Degraded with the pod's own reason, ahead of any
// object that was not applied.
#[test]
fn a_data_pod_refusing_its_volume_is_degraded_with_its_reason() {
    let cr = fixture("minimal");
    let children = with_readiness(&cr, false);
    let refusal =
        "Pod mini-postgres-0, volume-guard: payrail: refusing to initialise an empty database".to_owned();
    let failure = ChildFailure::refused("ConfigMap", "mini-redis-config", "refused");
    let status = compute(
        &cr,
        &Outcome::Applied {
            postgres: &valid(&cr).postgres,
            objects: &children,
            failures: &[failure],
            refusals: std::slice::from_ref(&refusal),
            not_streaming: None,
        },
        None,
        at(100),
    );
    let degraded = condition(&status, "Degraded");
    assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", VOLUME_REFUSED));
    assert!(degraded.message.starts_with(&refusal), "{}", degraded.message);
    assert!(degraded.message.contains("ConfigMap mini-redis-config: refused"), "{}", degraded.message);
    assert_eq!(condition(&status, "Ready").status, "False");
}

// Issue 25, item 6: a read replica that does not stream is said in
// `Degraded`, ahead of an object not applied, until its pod is restarted.
#[test]
fn a_replica_that_does_not_stream_is_degraded_with_its_reason() {
    let cr = fixture("minimal");
    let children = with_readiness(&cr, false);
    let failure = ChildFailure::refused("ConfigMap", "mini-redis-config", "refused");
    let why = "Pod mini-postgres-ro-0: the read replica has not streamed from the primary for 120s";
    let plan = valid(&cr).postgres;
    let outcome = |not_streaming| Outcome::Applied {
        postgres: &plan,
        objects: &children,
        failures: std::slice::from_ref(&failure),
        refusals: &[],
        not_streaming,
    };
    let status = compute(&cr, &outcome(Some(why)), None, at(100));
    let degraded = condition(&status, "Degraded");
    assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", REPLICA_NOT_STREAMING));
    assert!(degraded.message.starts_with(why), "{}", degraded.message);
    assert_eq!(condition(&compute(&cr, &outcome(None), None, at(100)), "Degraded").reason, "ApplyFailed");
}
