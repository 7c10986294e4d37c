//! Leader election against the fake API server, which refuses a
//! server-side apply that conflicts with another field manager's value as
//! a real one does: that conflict is what keeps a second replica from
//! taking a held Lease (kube-lease-manager relies on it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use payrail_operator::leader::{Election, lead};
use payrail_operator::metrics::Metrics;
use tokio_util::sync::CancellationToken;

use crate::fake::Fake;

type Running = Arc<Mutex<Vec<String>>>;

/// A replica's name in `Running` for as long as its work lives: until it
/// returns or, on a lost Lease, is dropped where it stands.
struct Reconciling(Running, String);

impl Reconciling {
    fn start(running: &Running, name: &str) -> Self {
        running.lock().unwrap().push(name.to_owned());
        Reconciling(running.clone(), name.to_owned())
    }
}

impl Drop for Reconciling {
    fn drop(&mut self) {
        self.0.lock().unwrap().retain(|n| *n != self.1);
    }
}

fn election(identity: &str) -> Election {
    Election {
        lease: "payment-operator".into(),
        namespace: "ops".into(),
        identity: identity.into(),
        duration: 2,
        grace: 1,
    }
}

/// Starts a replica whose "controller" marks itself running until stopped.
fn replica(
    fake: &Fake,
    identity: &str,
    running: &Running,
) -> (CancellationToken, Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let (shutdown, partitioned) = (CancellationToken::new(), Arc::new(AtomicBool::new(false)));
    let client = fake.client_behind(partitioned.clone());
    let (election, running, stop) = (election(identity), running.clone(), shutdown.clone());
    let handle = tokio::spawn(async move {
        let name = election.identity.clone();
        let work = |token: CancellationToken| {
            let (running, name) = (running.clone(), name.clone());
            async move {
                let _reconciling = Reconciling::start(&running, &name);
                token.cancelled().await;
            }
        };
        lead(client, &election, Arc::new(Metrics::default()), stop, work).await.unwrap();
    });
    (shutdown, partitioned, handle)
}

/// Waits for `condition`, checking on the way that never more than one
/// replica reconciles.
async fn wait_for(
    what: &str,
    within: Duration,
    running: &Running,
    mut condition: impl FnMut(&[String]) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let now = running.lock().unwrap().clone();
        assert!(now.len() <= 1, "two replicas reconcile at once: {now:?}");
        if condition(&now) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn only_the_leader_reconciles_and_losing_the_lease_stops_it() {
    let fake = Fake::default();
    let running: Running = Arc::default();
    let (stop_a, cut_a, a) = replica(&fake, "a", &running);
    wait_for("a leading", Duration::from_secs(10), &running, |r| r == ["a"]).await;
    let (stop_b, _, b) = replica(&fake, "b", &running);

    // Over several renewals, b never runs while a holds the Lease.
    let calm = Instant::now() + Duration::from_secs(4);
    wait_for("four quiet seconds", Duration::from_secs(5), &running, |r| {
        assert_eq!(r, ["a"], "only the leader reconciles");
        Instant::now() > calm
    })
    .await;

    // a is cut off from the API server: it cannot renew, so it stops
    // before the Lease expires, and b takes over only after that.
    cut_a.store(true, Ordering::Relaxed);
    wait_for("a stopping", Duration::from_secs(5), &running, |r| r.is_empty()).await;
    wait_for("b taking over", Duration::from_secs(10), &running, |r| r == ["b"]).await;

    // a comes back: b keeps leading, a waits.
    cut_a.store(false, Ordering::Relaxed);
    let calm = Instant::now() + Duration::from_secs(3);
    wait_for("three quiet seconds", Duration::from_secs(4), &running, |r| {
        assert_eq!(r, ["b"], "the returning replica does not reconcile");
        Instant::now() > calm
    })
    .await;

    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap();
    b.await.unwrap();
    assert!(running.lock().unwrap().is_empty());
}
