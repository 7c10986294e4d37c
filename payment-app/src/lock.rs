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

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::domain::AccountId;
use crate::error::{Error, Result};

/// Sets every key to the token, or none if any exists. 1 granted, 0 busy.
const ACQUIRE: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1";

/// Deletes each key that still holds its token: key `i` is compared with
/// token `ARGV[ceil(i / 2)]`, so one call releases many pairs. Returns how
/// many keys were deleted.
const RELEASE: &str = r"
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[math.floor((i + 1) / 2)] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released";

#[derive(Debug, Clone)]
pub struct LockConfig {
    /// One URL per independent Redis node; a database index in a URL is used.
    pub urls: Vec<String>,
    /// How long a granted lock lives unless released.
    pub ttl: Duration,
    /// Cap on one call to one node, so a dead node costs this much at most.
    pub node_timeout: Duration,
    /// Prefix of every key written, e.g. `payrail`.
    pub key_prefix: String,
}

/// Proof of a held lock, carried with the payment to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LockToken(Uuid);

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
    let quorum = replies.len() / 2 + 1;
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
                let client = Client::open(url.as_str()).map_err(|e| {
                    Error::Config(format!("bad Redis URL {}: {e}", crate::db::redact_url(url)))
                })?;
                let conn = ConnectionManager::new_lazy_with_config(client, manager_config.clone())?;
                Ok(Node { name: crate::db::redact_url(url), conn })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AccountLock {
            nodes,
            ttl: config.ttl,
            node_timeout: config.node_timeout,
            key_prefix: config.key_prefix.clone(),
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keys for the pair, in a fixed (id) order.
    fn keys(&self, accounts: [AccountId; 2]) -> [String; 2] {
        let [a, b] = accounts;
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        [first, second].map(|id| format!("{}:lock:account:{id}", self.key_prefix))
    }

    /// Tries once to lock both accounts. Never waits for a busy lock: the
    /// caller decides when to try again.
    pub async fn acquire(&self, accounts: [AccountId; 2]) -> Acquired {
        let token = LockToken(Uuid::new_v4());
        let keys = self.keys(accounts);
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let started = Instant::now();
        let replies = join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            let mut invocation = self.acquire.prepare_invoke();
            invocation.key(&keys[0]).key(&keys[1]).arg(token.0.to_string()).arg(ttl_ms);
            async move {
                match tokio::time::timeout(self.node_timeout, invocation.invoke_async::<i64>(&mut conn)).await
                {
                    Ok(Ok(1)) => NodeReply::Granted,
                    Ok(Ok(_)) => NodeReply::Busy,
                    Ok(Err(e)) => {
                        debug!(node = %node.name, error = %e, "lock node failed");
                        NodeReply::Failed
                    }
                    Err(_) => {
                        debug!(node = %node.name, "lock node timed out");
                        NodeReply::Failed
                    }
                }
            }
        }))
        .await;

        match decide(&replies, self.ttl, started.elapsed()) {
            Decision::Granted(validity) => Acquired::Granted { token, validity },
            decision => {
                // A node that timed out may have set the keys after all; a
                // granted minority must not linger until the TTL.
                if replies.iter().any(|r| *r != NodeReply::Busy) {
                    self.release_keys(&keys, token).await;
                }
                if decision == Decision::Unavailable {
                    warn!(?replies, "lock quorum unreachable");
                    Acquired::Unavailable
                } else {
                    Acquired::Busy
                }
            }
        }
    }

    /// Releases the pair's lock on every node where `token` still holds it.
    /// Returns how many keys were deleted over all nodes; a lock that
    /// already expired, or was never granted on a node, counts for nothing.
    pub async fn release(&self, accounts: [AccountId; 2], token: LockToken) -> usize {
        self.release_keys(&self.keys(accounts), token).await
    }

    async fn release_keys(&self, keys: &[String; 2], token: LockToken) -> usize {
        self.release_all(keys.as_slice(), &[token]).await
    }

    /// Releases many pairs with one call per node (settle frees a whole
    /// batch at once). Returns how many keys were deleted over all nodes.
    pub async fn release_many(&self, held: &[([AccountId; 2], LockToken)]) -> usize {
        if held.is_empty() {
            return 0;
        }
        let keys: Vec<String> = held.iter().flat_map(|(accounts, _)| self.keys(*accounts)).collect();
        let tokens: Vec<LockToken> = held.iter().map(|(_, token)| *token).collect();
        self.release_all(&keys, &tokens).await
    }

    /// `keys` in pairs, `tokens[i]` guarding `keys[2i]` and `keys[2i + 1]`.
    async fn release_all(&self, keys: &[String], tokens: &[LockToken]) -> usize {
        let released = join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            let mut invocation = self.release.prepare_invoke();
            for key in keys {
                invocation.key(key);
            }
            for token in tokens {
                invocation.arg(token.0.to_string());
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
        released.into_iter().sum()
    }

    /// Pings every node; returns how many answered.
    pub async fn reachable_nodes(&self) -> usize {
        let pongs = join_all(self.nodes.iter().map(|node| {
            let mut conn = node.conn.clone();
            async move {
                let ping = redis::cmd("PING");
                let pong = ping.query_async::<String>(&mut conn);
                matches!(tokio::time::timeout(self.node_timeout, pong).await, Ok(Ok(_)))
            }
        }))
        .await;
        pongs.into_iter().filter(|p| *p).count()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
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
            urls: vec!["redis://127.0.0.1:1".into()],
            ttl: TTL,
            node_timeout: Duration::from_millis(50),
            key_prefix: "t".into(),
        })
        .expect("lazy connections need no server");
        let (a, b) = (AccountId::new(), AccountId::new());
        assert_eq!(lock.keys([a, b]), lock.keys([b, a]));
        assert_eq!(lock.keys([a, b])[0], format!("t:lock:account:{a}"));
    }
}
