//! Who holds the server's connections. One client address may hold at most
//! `per_client` of them, and connections that have not shown a valid token
//! yet are on a budget: at most `unauthenticated` at once (past it, the
//! oldest is closed), each closed `unauthenticated_for` after it opened
//! unless a request on it presents a valid token, and the first to go when
//! every connection is taken and another client connects. So a client
//! without a token cannot hold the server's connections and lock
//! authenticated clients out (issue 26: 1,024 kept-alive connections, each
//! with one `GET /healthz` a minute, took every connection for as long as
//! they were held).
//!
//! The registry only decides; the accept loop (`serve.rs`) closes what it
//! is told to through each connection's `CancellationToken`, and
//! `require_token` marks a connection authenticated through the
//! [`ConnectionAuth`] every request carries.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How connections are shared among clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections one client address may hold at once; more are closed
    /// as soon as they are accepted.
    pub per_client: usize,
    /// Connections without a valid token yet, at once; past it the oldest
    /// of them is closed.
    pub unauthenticated: usize,
    /// How long a connection may stay open without a request presenting
    /// a valid token.
    pub unauthenticated_for: Duration,
}

/// Every open connection, by client address, and those not authenticated
/// yet, oldest first.
#[derive(Debug)]
pub struct Connections {
    limits: ConnectionLimits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    per_client: HashMap<IpAddr, usize>,
    /// By opening order: the first entry is the oldest.
    unauthenticated: BTreeMap<u64, CancellationToken>,
    opened: u64,
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Connections { limits, inner: Mutex::new(Inner::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent across a panic elsewhere: every update
        // is a single insert or remove.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection from `peer`, closed through `close`; `None`
    /// (and nothing registered) when `peer` holds `per_client` already.
    /// Past the unauthenticated budget, the oldest unauthenticated
    /// connection is told to close.
    pub fn open(self: &Arc<Self>, peer: IpAddr, close: CancellationToken) -> Option<ConnectionAuth> {
        let mut inner = self.lock();
        let held = inner.per_client.entry(peer).or_default();
        if *held >= self.limits.per_client {
            return None;
        }
        *held += 1;
        let id = inner.opened;
        inner.opened += 1;
        inner.unauthenticated.insert(id, close);
        while inner.unauthenticated.len() > self.limits.unauthenticated {
            if let Some((_, oldest)) = inner.unauthenticated.pop_first() {
                closed_unauthenticated(&oldest);
            }
        }
        Some(ConnectionAuth(Arc::new(Entry {
            registry: self.clone(),
            peer,
            id,
            authenticated: AtomicBool::new(false),
        })))
    }

    /// Tells the oldest connection without a valid token to close, to make
    /// room for a new one; whether there was one.
    pub fn close_oldest_unauthenticated(&self) -> bool {
        let oldest = self.lock().unauthenticated.pop_first();
        oldest.map(|(_, close)| closed_unauthenticated(&close)).is_some()
    }
}

/// Tells a connection without a valid token to close, and counts it.
pub fn closed_unauthenticated(close: &CancellationToken) {
    crate::metrics::get().connections_unauthenticated_closed.inc();
    close.cancel();
}

/// A connection's place in the registry, carried by each of its requests
/// (in their extensions) so `require_token` can mark it authenticated. The
/// place is freed when the connection and its last request are gone.
#[derive(Debug, Clone)]
pub struct ConnectionAuth(Arc<Entry>);

#[derive(Debug)]
struct Entry {
    registry: Arc<Connections>,
    peer: IpAddr,
    id: u64,
    authenticated: AtomicBool,
}

impl ConnectionAuth {
    /// A request on this connection presented a valid token: it is no
    /// longer on the unauthenticated budget.
    pub fn authenticated(&self) {
        if !self.0.authenticated.swap(true, Ordering::Relaxed) {
            self.0.registry.lock().unauthenticated.remove(&self.0.id);
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.0.authenticated.load(Ordering::Relaxed)
    }

    /// The client's address, as the connection shows it.
    pub fn peer(&self) -> IpAddr {
        self.0.peer
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        inner.unauthenticated.remove(&self.id);
        if let Some(held) = inner.per_client.get_mut(&self.peer) {
            *held -= 1;
            if *held == 0 {
                inner.per_client.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(per_client: usize, unauthenticated: usize) -> Arc<Connections> {
        Connections::new(ConnectionLimits {
            per_client,
            unauthenticated,
            unauthenticated_for: Duration::from_secs(10),
        })
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let connections = registry(2, 10);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = connections.open(a, CancellationToken::new()).expect("first");
        let _second = connections.open(a, CancellationToken::new()).expect("second");
        assert!(connections.open(a, CancellationToken::new()).is_none(), "a third from one address");
        assert!(connections.open(b, CancellationToken::new()).is_some(), "another address");
        drop(first);
        assert!(connections.open(a, CancellationToken::new()).is_some(), "a place freed is free");
    }

    #[test]
    fn past_the_budget_the_oldest_unauthenticated_connection_closes() {
        let connections = registry(10, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let closes: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        let first = connections.open(ip, closes[0].clone()).unwrap();
        first.authenticated();
        let _second = connections.open(ip, closes[1].clone()).unwrap();
        let _third = connections.open(ip, closes[2].clone()).unwrap();
        assert!(closes.iter().all(|c| !c.is_cancelled()), "two unauthenticated: within the budget");
        let _fourth = connections.open(ip, closes[3].clone()).unwrap();
        let closed: Vec<bool> = closes.iter().map(CancellationToken::is_cancelled).collect();
        assert_eq!(
            closed,
            [false, true, false, false],
            "the oldest unauthenticated one, not the authenticated"
        );
        assert!(connections.close_oldest_unauthenticated());
        assert!(closes[2].is_cancelled());
        assert!(connections.close_oldest_unauthenticated());
        assert!(closes[3].is_cancelled());
        assert!(!connections.close_oldest_unauthenticated(), "only the authenticated one is left");
        assert!(!closes[0].is_cancelled());
    }
}
