//! The one read policy for what clients read: the replica first, the
//! primary when the replica is down, lags, or fails the read, and for one
//! row the primary again when the replica has not got it yet. Every client
//! read goes through [`Db::read`] or [`Db::read_one`], so no route can
//! answer 503 for a replica while the primary is up.
//!
//! Whether the replica is usable is checked at most once per
//! [`CHECK_EVERY`], one check at a time, within [`CHECK_TIMEOUT`]. Reads
//! never wait for a check: they go by the last answer (the primary until
//! the first one) and start the next check in the background when it is
//! due. So a replica that is down costs reads nothing, where the pool
//! alone retried connecting for its whole acquire timeout on each read. A
//! read that fails on the replica marks it unusable until the next check.
//! `/readyz` reports the same state, checked when due.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tracing::warn;

use super::Db;
use crate::error::{Result, chain};

/// How long a replica check's answer stands.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Longest a replica check may take; past it the replica counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// Most replay lag a replica may have and still serve reads: past it, reads
/// go to the primary, so a replica that fell behind does not show clients
/// minutes-old lists.
pub const MAX_LAG: Duration = Duration::from_secs(5);

/// The replica as reads last found it.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaState {
    /// No replica is configured: reads go to the primary.
    None,
    Ok,
    /// Behind the primary by more than [`MAX_LAG`].
    Lagging(Duration),
    /// Unreachable or failing, with a cause safe to show (no host, no query).
    Unavailable(&'static str),
}

impl ReplicaState {
    fn serves_reads(&self) -> bool {
        matches!(self, ReplicaState::Ok)
    }

    /// As `/readyz` shows it: `None` without a replica.
    pub fn report(&self) -> Option<Result<(), String>> {
        match self {
            ReplicaState::None => None,
            ReplicaState::Ok => Some(Ok(())),
            ReplicaState::Lagging(lag) => {
                Some(Err(format!("lagging: {}s behind; reads go to the primary", lag.as_secs())))
            }
            ReplicaState::Unavailable(kind) => {
                Some(Err(format!("unavailable: {kind}; reads go to the primary")))
            }
        }
    }
}

/// The replica's state, shared by every clone of a [`Db`].
#[derive(Debug, Clone)]
pub(super) struct ReplicaHealth(Arc<Mutex<Health>>);

#[derive(Debug)]
struct Health {
    state: ReplicaState,
    checked: Option<Instant>,
    checking: bool,
}

impl ReplicaHealth {
    pub(super) fn new(configured: bool) -> Self {
        let state =
            if configured { ReplicaState::Unavailable("not checked yet") } else { ReplicaState::None };
        ReplicaHealth(Arc::new(Mutex::new(Health { state, checked: None, checking: false })))
    }

    fn state(&self) -> ReplicaState {
        self.lock().state.clone()
    }

    /// Whether the caller should check the replica now: there is one, its
    /// last check is older than [`CHECK_EVERY`] and nobody is checking it.
    /// A `true` is a promise to call [`Db::check_replica`].
    fn claim_check(&self) -> bool {
        let mut health = self.lock();
        let fresh = health.checked.is_some_and(|at| at.elapsed() < CHECK_EVERY);
        let due = health.state != ReplicaState::None && !fresh && !health.checking;
        if due {
            health.checking = true;
        }
        due
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.0.lock().expect("never poisoned: no panics under the lock")
    }

    fn set(&self, state: ReplicaState) {
        let mut health = self.lock();
        health.state = state;
        health.checked = Some(Instant::now());
    }
}

impl Db {
    /// The replica's state, checked now when a check is due (for
    /// `/readyz`); while another caller checks it, the last answer.
    pub async fn replica_state(&self) -> ReplicaState {
        if self.health.claim_check() { self.check_replica().await } else { self.health.state() }
    }

    /// Whether reads go to the replica, by the last answer, without
    /// waiting: a check that is due runs in the background.
    fn replica_serves_reads(&self) -> bool {
        if self.health.claim_check() {
            let db = self.clone();
            tokio::spawn(async move { db.check_replica().await });
        }
        self.health.state().serves_reads()
    }

    async fn check_replica(&self) -> ReplicaState {
        let state = match tokio::time::timeout(CHECK_TIMEOUT, replay_lag(&self.replica)).await {
            Ok(Ok(lag)) if lag > MAX_LAG => ReplicaState::Lagging(lag),
            Ok(Ok(_)) => ReplicaState::Ok,
            Ok(Err(e)) => ReplicaState::Unavailable(e.kind()),
            Err(_) => ReplicaState::Unavailable("timed out"),
        };
        let mut health = self.health.lock();
        if health.state != state && state != ReplicaState::Ok {
            warn!(replica = ?state, "read replica cannot serve reads; reading the primary");
        }
        health.state = state.clone();
        health.checked = Some(Instant::now());
        health.checking = false;
        state
    }

    /// Runs a client read by the policy: on the replica when it serves
    /// reads, else on the primary; a read that fails on the replica is run
    /// again on the primary.
    pub async fn read<'a, T, F, Fut>(&'a self, query: F) -> Result<T>
    where
        F: Fn(&'a PgPool) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if !self.replica_serves_reads() {
            return query(&self.primary).await;
        }
        match query(&self.replica).await {
            Ok(found) => Ok(found),
            Err(e) => {
                warn!(error = %chain(&e), "read replica failed; reading the primary");
                self.health.set(ReplicaState::Unavailable(e.kind()));
                query(&self.primary).await
            }
        }
    }

    /// [`Self::read`] for one row, which the replica may not have yet (lag
    /// right after it was written): one it does not have is looked up on
    /// the primary before it is called missing.
    pub async fn read_one<'a, T, F, Fut>(&'a self, query: F) -> Result<Option<T>>
    where
        F: Fn(&'a PgPool) -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        match self.read(&query).await? {
            Some(found) => Ok(Some(found)),
            None if self.primary_is_replica() => Ok(None),
            None => query(&self.primary).await,
        }
    }

    /// Runs an export's `COPY` by the policy, writing to `out`: on the
    /// replica when it serves reads, else on the primary; one that fails on
    /// the replica before writing anything is run again on the primary.
    /// One that fails after writing fails: what went out cannot be taken
    /// back. Returns the bytes written.
    pub async fn read_copy<W>(&self, statement: &str, out: &mut W) -> Result<u64>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        if !self.replica_serves_reads() {
            return super::export::copy_to(&self.primary, statement, out).await.map_err(|p| p.error);
        }
        match super::export::copy_to(&self.replica, statement, out).await {
            Ok(written) => Ok(written),
            Err(super::export::Partial { written: 0, error }) => {
                warn!(error = %chain(&error), "read replica failed; exporting from the primary");
                self.health.set(ReplicaState::Unavailable(error.kind()));
                super::export::copy_to(&self.primary, statement, out).await.map_err(|p| p.error)
            }
            Err(partial) => Err(partial.error),
        }
    }

    /// Whether there is no replica (both pools are the primary's).
    fn primary_is_replica(&self) -> bool {
        self.health.lock().state == ReplicaState::None
    }
}

/// How far behind its primary the replica's replay is: zero when it has
/// replayed everything it received (or is no standby at all), else the age
/// of the last transaction it replayed.
async fn replay_lag(replica: &PgPool) -> Result<Duration> {
    let lag: Option<f64> = sqlx::query_scalar(
        "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END::float8",
    )
    .fetch_one(replica)
    .await?;
    Ok(Duration::try_from_secs_f64(lag.unwrap_or(0.0).max(0.0)).unwrap_or(Duration::ZERO))
}
