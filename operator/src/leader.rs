//! Leader election over a `coordination.k8s.io` Lease
//! (kube-lease-manager), so the chart can run two operator replicas with a
//! rolling update: only the replica that holds the Lease reconciles. Two
//! reconcilers at once could both generate a new cluster's passwords.
//!
//! A leader stops reconciling as soon as it cannot renew the Lease (an
//! API error, a partition), not only when it sees another holder, and it
//! abandons the reconciles it has in flight rather than waiting for them
//! (only a shutdown waits for them, while the Lease is still held): the
//! renewal is attempted `grace` seconds before the Lease expires, and the
//! Lease's client gives up on a call well within `grace`
//! (`server::lease_client`), so the old leader has stopped before anyone
//! else may take the Lease. (The
//! crate's own `watch()` keeps reporting leadership through renewal
//! errors, so this drives `changed()` directly.) A term that ends on an
//! error starts a fresh campaign with a fresh manager, whose view of the
//! Lease is read from the API server again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::{DurationSeconds, LeaseManager, LeaseManagerBuilder};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use payrail_common::chain;

use crate::error::Result;
use crate::metrics::Metrics;

/// How long to wait before campaigning again after an API error.
const RETRY: Duration = Duration::from_secs(1);

/// The Lease and this replica's part in it.
#[derive(Debug, Clone)]
pub struct Election {
    pub lease: String,
    pub namespace: String,
    /// Unique among the replicas: the pod name.
    pub identity: String,
    /// How long a holder keeps the Lease without renewing it.
    pub duration: DurationSeconds,
    /// How long before the end a holder renews (and so the margin by which
    /// a leader that cannot renew stops before the Lease can pass on).
    pub grace: DurationSeconds,
}

impl Election {
    async fn manager(&self, client: Client) -> Result<LeaseManager> {
        Ok(LeaseManagerBuilder::new(client, &self.lease)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(self.duration)
            .with_grace(self.grace)
            .build()
            .await?)
    }
}

/// Why a term of leadership ended.
enum TermEnd {
    /// `shutdown` was cancelled (or the work returned): stop for good.
    Shutdown,
    /// Another replica holds the Lease, or it could not be renewed.
    Lost,
}

/// Runs `work` while this replica holds the Lease, with a token that is
/// cancelled when the Lease is lost or `shutdown` is; campaigns again after
/// a loss. Returns once `shutdown` is cancelled, releasing the Lease.
pub async fn lead<F, Fut>(
    client: Client,
    election: &Election,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    mut work: F,
) -> Result<()>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    while !shutdown.is_cancelled() {
        let manager = match election.manager(client.clone()).await {
            Ok(manager) => manager,
            Err(e) => {
                warn!(error = %chain(&e), "cannot reach the leader Lease; retrying");
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => continue,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let end = term(&manager, election, &metrics, &shutdown, &mut work).await;
        metrics.leader.set(0);
        if let TermEnd::Shutdown = end {
            if let Err(e) = manager.release().await {
                warn!(error = %chain(&e), "could not release the Lease; it expires on its own");
            }
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = shutdown.cancelled() => break,
        }
    }
    Ok(())
}

/// One campaign and, if won, one term of leadership.
async fn term<F, Fut>(
    manager: &LeaseManager,
    election: &Election,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    work: &mut F,
) -> TermEnd
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            changed = manager.changed() => match changed {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    warn!(error = %chain(&e), "leader election failed; campaigning again");
                    return TermEnd::Lost;
                }
            },
            () = shutdown.cancelled() => return TermEnd::Shutdown,
        }
    }
    info!(identity = %election.identity, "leading: reconciling");
    metrics.leader.set(1);
    let stop = shutdown.child_token();
    // Boxed, so that a lost Lease can drop it where it stands.
    let mut running = Box::pin(work(stop.clone()));
    let lost = async {
        loop {
            match manager.changed().await {
                Ok(true) => {}
                Ok(false) => return "another replica holds the Lease".to_owned(),
                Err(e) => return format!("the Lease could not be renewed: {}", chain(&e)),
            }
        }
    };
    tokio::select! {
        () = &mut running => TermEnd::Shutdown,
        why = lost => {
            warn!(identity = %election.identity, reason = %why, "no longer leading: abandoning reconciles in flight");
            stop.cancel();
            // Dropped, not awaited: a graceful stop would let reconciles
            // in flight finish, writing as a leader for as long as they
            // take, while another replica may already hold the Lease.
            // kube-runtime aborts each reconcile's task when the
            // controller is dropped, at its next await (a call to the API
            // server); whatever a reconcile had not written is written by
            // the next leader's, which starts from what it reads.
            drop(running);
            if shutdown.is_cancelled() { TermEnd::Shutdown } else { TermEnd::Lost }
        }
    }
}
