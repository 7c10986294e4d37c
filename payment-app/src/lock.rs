//! The account lock: both accounts of a payment locked together, over one
//! Redis node or a Redlock quorum of several.
//!
//! On each node one Lua script sets both keys (`SET .. PX`) with a random
//! token only if neither exists, so a node grants both or none. With `n`
//! nodes the lock is held when a majority granted it within its validity
//! time; otherwise every node is asked to release, since a node that timed
//! out may still have granted. Release is compare-and-delete on the token.
//!
//! The lock keeps payments on the same accounts from racing and from
//! meeting as row-lock waits in PostgreSQL. It is not what makes settle
//! correct: a lock can expire under a slow worker, and settle is safe
//! without it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tracing::{debug, warn};

use payrail_common::SecretUrl;

use crate::domain::{AccountId, LockToken};
use crate::error::{Error, Result};

/// Locks payments' account pairs under one token, payment by payment:
/// KEYS come two per payment; a pair is granted (both keys set, `PX` TTL)
/// when each key is free or already holds this same token, so payments of
/// one batch that share an account (a hot payee) are granted together,
/// while a key held by anyone else makes that payment busy. Returns one
/// 1 (granted) or 0 (busy) per payment.
const ACQUIRE: &str = r"
local granted = {}
for i = 1, #KEYS, 2 do
  local a, b = redis.call('GET', KEYS[i]), redis.call('GET', KEYS[i + 1])
  if (a == false or a == ARGV[1]) and (b == false or b == ARGV[1]) then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    redis.call('SET', KEYS[i + 1], ARGV[1], 'PX', ARGV[2])
    granted[#granted + 1] = 1
  else
    granted[#granted + 1] = 0
  end
end
return granted";

/// Deletes each key that still holds its token (`ARGV[i]` for `KEYS[i]`).
/// Returns how many keys were deleted.
const RELEASE: &str = r"
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released";

#[derive(Debug, Clone)]
pub struct LockConfig {
    /// One URL per independent Redis node; a database index in a URL is used.
    pub urls: Vec<SecretUrl>,
    /// How long a granted lock lives unless released.
    pub ttl: Duration,
    /// Cap on one call to one node, so a dead node costs this much at most.
    pub node_timeout: Duration,
    /// Prefix of every key written, e.g. `payrail`.
    pub key_prefix: String,
}

/// One attempt to lock a batch of payments: the shared token and, per
/// payment in the order given, whether it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLock {
    pub token: LockToken,
    outcomes: Vec<Decision>,
}

impl BatchLock {
    /// Whether payment `i` of the batch holds its lock.
    pub fn granted(&self, i: usize) -> bool {
        matches!(self.outcomes[i], Decision::Granted(_))
    }

    /// Whether payment `i` was refused for lack of a quorum (nodes down)
    /// rather than because another holder has one of its accounts.
    pub fn unavailable(&self, i: usize) -> bool {
        self.outcomes[i] == Decision::Unavailable
    }
}

/// What an attempt to lock a pair of accounts came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Held on a quorum; valid for `validity` from now.
    Granted { token: LockToken, validity: Duration },
    /// Another holder has one of the accounts on enough nodes.
    Busy,
    /// Too few nodes answered to reach a quorum either way.
    Unavailable,
}

/// The outcome of one node's script call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeReply {
    Granted,
    Busy,
    Failed,
}

/// Pure quorum decision, separate from I/O so its edge cases are tested
/// directly: granted on a majority, and only if time is left on the lock
/// after subtracting what acquiring took and an allowance for clock drift.
fn decide(replies: &[NodeReply], ttl: Duration, elapsed: Duration) -> Decision {
    let quorum = quorum(replies.len());
    let granted = replies.iter().filter(|r| **r == NodeReply::Granted).count();
    let failed = replies.iter().filter(|r| **r == NodeReply::Failed).count();
    // Redlock's drift allowance: 1% of the TTL plus 2 ms.
    let drift = ttl / 100 + Duration::from_millis(2);
    let validity = ttl.checked_sub(elapsed).and_then(|left| left.checked_sub(drift));
    if granted >= quorum {
        // A quorum granted, but too late to leave any time on the lock.
        return match validity {
            Some(validity) if !validity.is_zero() => Decision::Granted(validity),
            _ => Decision::Unavailable,
        };
    }
    // Busy only when the answers we got rule the quorum out; when too many
    // nodes failed, contention cannot be told from an outage.
    if replies.len() - failed >= quorum { Decision::Busy } else { Decision::Unavailable }
}

/// Keys an acquire call may have set but that no granted payment needs: a
/// granted minority, or a node that timed out after setting them. Keys a
/// granted payment holds stay, even where another payment of the batch that
/// shares them was refused.
fn stray_keys(pair_keys: &[Vec<String>], outcomes: &[Decision]) -> Vec<String> {
    let kept: BTreeSet<&String> = pair_keys
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| matches!(o, Decision::Granted(_)))
        .flat_map(|(keys, _)| keys.iter())
        .collect();
    let stray: BTreeSet<&String> = pair_keys.iter().flatten().filter(|k| !kept.contains(k)).collect();
    stray.into_iter().cloned().collect()
}

/// How many of `nodes` make a majority: the Redlock quorum.
fn quorum(nodes: usize) -> usize {
    nodes / 2 + 1
}

/// How many lock nodes answer, and whether that is enough to lock anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockHealth {
    pub reachable: usize,
    pub nodes: usize,
}

impl LockHealth {
    /// Whether enough nodes answer for a lock to be granted at all.
    pub fn has_quorum(&self) -> bool {
        self.reachable >= quorum(self.nodes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Granted(Duration),
    Busy,
    Unavailable,
}

#[derive(Clone)]
struct Node {
    /// For logs: the URL without credentials.
    name: String,
    conn: ConnectionManager,
}

/// The lock over all configured nodes. Cheap to clone.
#[derive(Clone)]
pub struct AccountLock {
    nodes: Vec<Node>,
    ttl: Duration,
    node_timeout: Duration,
    key_prefix: String,
    acquire: Script,
    release: Script,
    /// Told of every release made through this lock or its clones: in one
    /// process (`payment-app all`) the settle worker's releases wake the
    /// lock worker's waiting payments at once.
    released: Arc<Notify>,
}

impl std::fmt::Debug for AccountLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        f.debug_struct("AccountLock").field("nodes", &names).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl AccountLock {
    /// Sets up a connection to every node. Connections are made lazily and
    /// remade after failures, so a node that is down at start-up or later
    /// only counts as a failed vote until it is back.
    pub fn new(config: &LockConfig) -> Result<Self> {
        if config.urls.is_empty() {
            return Err(Error::Config("REDIS_URLS names no Redis node".into()));
        }
        if config.ttl <= config.node_timeout * 2 {
            return Err(Error::Config(format!(
                "lock TTL ({:?}) must be well above the Redis node timeout ({:?})",
                config.ttl, config.node_timeout
            )));
        }
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.node_timeout))
            .set_response_timeout(Some(config.node_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let nodes = config
            .urls
            .iter()
            .map(|url| {
                let client = Client::open(url.expose_secret())
                    .map_err(|e| Error::Config(format!("{url} is not a Redis URL: {:?}", e.kind())))?;
                let conn = ConnectionManager::new_lazy_with_config(client, manager_config.clone())?;
                Ok(Node { name: url.to_string(), conn })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AccountLock {
            nodes,
            ttl: config.ttl,
            node_timeout: config.node_timeout,
            key_prefix: config.key_prefix.clone(),
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
            released: Arc::new(Notify::new()),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Resolves after the next release made through this lock or a clone of
    /// it. Only releases in this process are heard: a caller that waits on
    /// it also waits on a timer, for locks other processes free.
    pub fn released(&self) -> Notified<'_> {
        self.released.notified()
    }

    /// The keys of a set of accounts, in a fixed (id) order, each once.
    fn keys(&self, accounts: &[AccountId]) -> Vec<String> {
        let mut accounts = accounts.to_vec();
        accounts.sort_unstable();
        accounts.dedup();
        accounts.iter().map(|id| format!("{}:lock:account:{id}", self.key_prefix)).collect()
    }

    /// Tries once to lock both accounts of one payment. Never waits for a
    /// busy lock: the caller decides when to try again.
    pub async fn acquire(&self, accounts: [AccountId; 2]) -> Acquired {
        let batch = self.acquire_batch(&[accounts]).await;
        match batch.outcomes[0] {
            Decision::Granted(validity) => Acquired::Granted { token: batch.token, validity },
            Decision::Busy => Acquired::Busy,
            Decision::Unavailable => Acquired::Unavailable,
        }
    }

    /// Tries once to lock each payment's pair of accounts, all under one
    /// token, one script call per node for the whole batch. Payments of the
    /// batch that share an account are granted together; the lock of the
    /// granted ones is then released as one by [`AccountLock::release`] with
    /// the union of their accounts.
    pub async fn acquire_batch(&self, pairs: &[[AccountId; 2]]) -> BatchLock {
        let token = LockToken::random();
        let pair_keys: Vec<Vec<String>> = pairs.iter().map(|pair| self.keys(pair)).collect();
        let started = Instant::now();
        let replies = self.ask_nodes(&pair_keys, token).await;
        let elapsed = started.elapsed();

        let outcomes: Vec<Decision> = (0..pairs.len())
            .map(|i| {
                let votes: Vec<NodeReply> = replies
                    .iter()
                    .map(|reply| match reply {
                        Some(granted) if granted[i] == 1 => NodeReply::Granted,
                        Some(_) => NodeReply::Busy,
                        None => NodeReply::Failed,
                    })
                    .collect();
                decide(&votes, self.ttl, elapsed)
            })
            .collect();
        if outcomes.contains(&Decision::Unavailable) {
            warn!(
                nodes = self.nodes.len(),
                answered = replies.iter().filter(|r| r.is_some()).count(),
                "lock quorum unreachable"
            );
        }

        let stray = stray_keys(&pair_keys, &outcomes);
        let anything_set = replies.iter().any(|r| r.as_ref().is_none_or(|g| g.contains(&1)));
        if !stray.is_empty() && anything_set {
            let tokens = vec![token; stray.len()];
            self.release_keys(&stray, &tokens).await;
        }
        BatchLock { token, outcomes }
    }

    /// Runs the acquire script for every pair on every node at once. Per
    /// node: the 1/0 grant of each pair, or `None` when the node failed,
    /// timed out or answered something else.
    async fn ask_nodes(&self, pair_keys: &[Vec<String>], token: LockToken) -> Vec<Option<Vec<i64>>> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let expected = pair_keys.len();
        join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            let mut invocation = self.acquire.prepare_invoke();
            for keys in pair_keys {
                // Both keys of a pair; a payment between equal accounts never
                // reaches here (the API refuses it), but two keys are sent
                // regardless so the script's pairing holds.
                invocation.key(&keys[0]).key(keys.get(1).unwrap_or(&keys[0]));
            }
            invocation.arg(token.to_string()).arg(ttl_ms);
            async move {
                match tokio::time::timeout(self.node_timeout, invocation.invoke_async::<Vec<i64>>(&mut conn))
                    .await
                {
                    Ok(Ok(granted)) if granted.len() == expected => Some(granted),
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => {
                        debug!(node = %node.name, error = %e, "lock node failed");
                        None
                    }
                    Err(_) => {
                        debug!(node = %node.name, "lock node timed out");
                        None
                    }
                }
            }
        }))
        .await
    }

    /// Releases the lock `token` holds on `accounts`, on every node where it
    /// still does. Returns how many keys were deleted over all nodes; a lock
    /// that already expired, or was never granted on a node, counts for
    /// nothing.
    pub async fn release(&self, accounts: &[AccountId], token: LockToken) -> usize {
        let keys = self.keys(accounts);
        let tokens = vec![token; keys.len()];
        self.release_keys(&keys, &tokens).await
    }

    /// Releases several locks with one call per node (settle frees a whole
    /// batch of messages at once).
    pub async fn release_many(&self, held: &[(Vec<AccountId>, LockToken)]) -> usize {
        let mut keys = Vec::new();
        let mut tokens = Vec::new();
        for (accounts, token) in held {
            for key in self.keys(accounts) {
                keys.push(key);
                tokens.push(*token);
            }
        }
        self.release_keys(&keys, &tokens).await
    }

    /// Compare-and-delete of `keys[i]` against `tokens[i]` on every node.
    async fn release_keys(&self, keys: &[String], tokens: &[LockToken]) -> usize {
        if keys.is_empty() {
            return 0;
        }
        let released = join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            let mut invocation = self.release.prepare_invoke();
            for (key, token) in keys.iter().zip(tokens) {
                invocation.key(key).arg(token.to_string());
            }
            async move {
                match tokio::time::timeout(self.node_timeout, invocation.invoke_async::<i64>(&mut conn)).await
                {
                    Ok(Ok(n)) => usize::try_from(n).unwrap_or_default(),
                    Ok(Err(e)) => {
                        debug!(node = %node.name, error = %e, "lock release failed; the keys expire by TTL");
                        0
                    }
                    Err(_) => 0,
                }
            }
        }))
        .await;
        self.released.notify_waiters();
        released.into_iter().sum()
    }

    /// Pings every node.
    pub async fn health(&self) -> LockHealth {
        let pongs = join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            async move {
                let ping = redis::cmd("PING");
                let pong = ping.query_async::<String>(&mut conn);
                matches!(tokio::time::timeout(self.node_timeout, pong).await, Ok(Ok(_)))
            }
        }))
        .await;
        LockHealth { reachable: pongs.into_iter().filter(|p| *p).count(), nodes: self.nodes.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::NodeReply::{Busy as B, Failed as F, Granted as G};
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn quick(replies: &[NodeReply]) -> Decision {
        decide(replies, TTL, Duration::from_millis(5))
    }

    #[test]
    fn a_single_node_decides_alone() {
        assert!(matches!(quick(&[G]), Decision::Granted(_)));
        assert_eq!(quick(&[B]), Decision::Busy);
        assert_eq!(quick(&[F]), Decision::Unavailable);
    }

    #[test]
    fn three_nodes_need_two() {
        assert!(matches!(quick(&[G, G, G]), Decision::Granted(_)));
        assert!(matches!(quick(&[G, G, F]), Decision::Granted(_)));
        assert!(matches!(quick(&[G, B, G]), Decision::Granted(_)));
        assert_eq!(quick(&[G, B, B]), Decision::Busy);
        assert_eq!(quick(&[G, B, F]), Decision::Busy);
        assert_eq!(quick(&[G, F, F]), Decision::Unavailable);
        assert_eq!(quick(&[F, F, F]), Decision::Unavailable);
    }

    #[test]
    fn even_counts_need_a_strict_majority() {
        assert_eq!(quick(&[G, G, B, B]), Decision::Busy);
        assert!(matches!(quick(&[G, G, G, B]), Decision::Granted(_)));
        assert_eq!(quick(&[G, G, F, F]), Decision::Unavailable);
    }

    #[test]
    fn health_needs_the_same_majority_as_a_grant() {
        let health = |reachable, nodes| LockHealth { reachable, nodes }.has_quorum();
        assert!(health(1, 1) && health(2, 3) && health(3, 5));
        assert!(!health(0, 1) && !health(1, 3) && !health(2, 4) && !health(2, 5));
    }

    #[test]
    fn validity_is_ttl_less_elapsed_and_drift() {
        let Decision::Granted(validity) = decide(&[G, G, G], TTL, Duration::from_millis(100)) else {
            panic!("expected a grant");
        };
        // 10 s - 100 ms - (100 ms drift + 2 ms)
        assert_eq!(validity, Duration::from_millis(9_798));
    }

    #[test]
    fn a_quorum_that_took_too_long_is_no_lock() {
        assert_eq!(decide(&[G, G, G], TTL, TTL), Decision::Unavailable);
        assert_eq!(decide(&[G, G, G], TTL, Duration::from_millis(9_898)), Decision::Unavailable);
        assert!(matches!(decide(&[G, G, G], TTL, Duration::from_millis(9_897)), Decision::Granted(_)));
    }

    #[tokio::test]
    async fn keys_come_in_a_fixed_order_whichever_way_the_payment_goes() {
        let lock = AccountLock::new(&LockConfig {
            urls: vec!["redis://127.0.0.1:1".parse().expect("a URL")],
            ttl: TTL,
            node_timeout: Duration::from_millis(50),
            key_prefix: "t".into(),
        })
        .expect("lazy connections need no server");
        let (a, b) = (AccountId::new(), AccountId::new());
        assert_eq!(lock.keys(&[a, b]), lock.keys(&[b, a]));
        assert_eq!(lock.keys(&[a, b])[0], format!("t:lock:account:{a}"));
        assert_eq!(lock.keys(&[b, a, b]).len(), 2, "each account once");
    }
}
