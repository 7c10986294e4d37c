//! The leader's Lease on the real coordination API: what a leader does
//! once another replica holds it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{Patch, PatchParams};
use payrail_operator::leader::{Election, lead};
use payrail_operator::metrics::Metrics;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Namespace, eventually, shared};

// Issue 25, item 11: a leader that lost its Lease stopped its controller
// gracefully, which waits for the reconciles in flight: they went on
// writing, as a leader, for as long as they took, while another replica
// held the Lease. Here the reconcile in flight writes a ConfigMap ten
// times a second for a minute and does not heed its stop token (as a
// reconcile midway through its applies does not). Once the test hands the
// Lease to another holder, the writes must stop within the Lease's
// renewal period, not at the end of the reconcile.
#[tokio::test]
async fn a_leader_that_loses_its_lease_stops_writing_at_once() {
    let plane = shared();
    let namespace = Namespace::new(plane, "lease").await;
    let admin = plane.admin().await;
    let lease_name = format!("lease-{}", namespace.name);
    let election = Election {
        lease: lease_name.clone(),
        namespace: namespace.name.clone(),
        identity: "a".into(),
        duration: 4,
        grace: 2,
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &namespace.name);
    let work = {
        let config_maps = config_maps.clone();
        move |_stop: CancellationToken| {
            let config_maps = config_maps.clone();
            async move {
                for n in 0..600 {
                    let object = json!({
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "in-flight"},
                        "data": {"n": n.to_string()},
                    });
                    let params = PatchParams::apply("leader-test").force();
                    config_maps.patch("in-flight", &params, &Patch::Apply(object)).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let shutdown = CancellationToken::new();
    let leader = tokio::spawn({
        let (client, shutdown) = (admin.clone(), shutdown.clone());
        async move { lead(client, &election, Arc::new(Metrics::default()), shutdown, work).await }
    });
    let written = async || -> Result<u32, String> {
        let object = config_maps.get_opt("in-flight").await.map_err(|e| e.to_string())?;
        let n = object.and_then(|c| c.data?.get("n")?.parse().ok()).ok_or("not written yet")?;
        Ok(n)
    };
    eventually("a to lead and write", Duration::from_secs(30), async || {
        written().await.and_then(|n| if n >= 3 { Ok(n) } else { Err(n.to_string()) })
    })
    .await;

    // Another replica holds the Lease now, for a minute.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &namespace.name);
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let taken = json!({"spec": {
        "holderIdentity": "b", "leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now,
    }});
    leases.patch(&lease_name, &PatchParams::default(), &Patch::Merge(taken)).await.unwrap();
    let taken_at = Instant::now();

    // a notices at its next renewal (within `duration - grace`, 2 s) and
    // stops: no write for two seconds, well before the reconcile's minute.
    let stopped_after = eventually("a to stop writing", Duration::from_secs(10), async || {
        let before = written().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = written().await?;
        if before == after { Ok(taken_at.elapsed()) } else { Err(format!("{before} -> {after}")) }
    })
    .await;
    let holder = leases.get(&lease_name).await.unwrap().spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("b"), "a did not take the Lease back");
    shutdown.cancel();
    leader.await.unwrap().unwrap();
    eprintln!("writes stopped {stopped_after:?} after the Lease was taken");
}
