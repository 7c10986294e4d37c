//! The account lock against real Redis: one node, and a Redlock quorum of
//! three started by `scripts/redis-nodes`.

use std::time::Duration;

use crate::common::{REDIS_URL, RedisNodes, eventually};
use payment_app::domain::AccountId;
use payment_app::lock::{AccountLock, Acquired, LockConfig};
use redis::AsyncCommands;

fn lock(urls: &[String], ttl: Duration) -> (AccountLock, String) {
    let prefix = format!("payrail_test_{}", uuid::Uuid::new_v4().simple());
    let lock = AccountLock::new(&LockConfig {
        urls: urls.iter().map(|u| u.parse().unwrap()).collect(),
        ttl,
        node_timeout: Duration::from_millis(100),
        key_prefix: prefix.clone(),
    })
    .unwrap();
    (lock, prefix)
}

fn granted(a: Acquired) -> payment_app::domain::LockToken {
    match a {
        Acquired::Granted { token, .. } => token,
        other => panic!("expected a grant, got {other:?}"),
    }
}

async fn keys_on(url: &str, prefix: &str) -> Vec<String> {
    let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    conn.keys(format!("{prefix}:*")).await.unwrap()
}

#[tokio::test]
async fn one_node_grants_a_pair_once_until_released() {
    let (lock, prefix) = lock(&[REDIS_URL.to_owned()], Duration::from_secs(10));
    let (a, b, c, d) = (AccountId::new(), AccountId::new(), AccountId::new(), AccountId::new());

    let token = granted(lock.acquire([a, b]).await);
    assert_eq!(lock.acquire([a, b]).await, Acquired::Busy);
    assert_eq!(lock.acquire([b, a]).await, Acquired::Busy, "the order of the pair does not matter");
    assert_eq!(lock.acquire([b, c]).await, Acquired::Busy, "one shared account is enough to wait");
    assert!(
        keys_on(REDIS_URL, &prefix).await.iter().all(|k| !k.contains(&c.to_string())),
        "c was not half-locked"
    );
    let other = granted(lock.acquire([c, d]).await);

    // A stale token (an expired holder's) releases nothing.
    assert_eq!(lock.release(&[c, d], token).await, 0);
    assert_eq!(lock.acquire([c, d]).await, Acquired::Busy);

    assert_eq!(lock.release(&[a, b], token).await, 2, "both keys, on the one node");
    granted(lock.acquire([b, a]).await);
    assert_eq!(lock.acquire([b, c]).await, Acquired::Busy, "c is still held with d");
    assert_eq!(lock.release(&[d, c], other).await, 2);
    granted(lock.acquire([c, AccountId::new()]).await);
}

#[tokio::test]
async fn a_batch_releases_each_pair_only_with_its_own_token() {
    let (lock, prefix) = lock(&[REDIS_URL.to_owned()], Duration::from_secs(10));
    let pairs: Vec<[AccountId; 2]> = (0..3).map(|_| [AccountId::new(), AccountId::new()]).collect();
    let mut held = Vec::new();
    for pair in &pairs {
        held.push((pair.to_vec(), granted(lock.acquire(*pair).await)));
    }
    // The last pair's token is stale: someone else holds that lock now.
    let stolen = held[2].1;
    held[2].1 = granted(lock.acquire([AccountId::new(), AccountId::new()]).await);
    assert_eq!(lock.release_many(&held).await, 4, "two pairs released, the third kept");
    granted(lock.acquire(pairs[0]).await);
    granted(lock.acquire(pairs[1]).await);
    assert_eq!(lock.acquire(pairs[2]).await, Acquired::Busy);
    assert_eq!(lock.release(&pairs[2], stolen).await, 2);
    assert_eq!(keys_on(REDIS_URL, &prefix).await.len(), 6);
}

/// One batch, one token: payments that share an account (a hot payee) are
/// granted together; one whose payer another holder has is refused without
/// leaving its own keys behind; the batch releases as one.
#[tokio::test]
async fn a_batch_locks_a_hot_account_once_for_all_its_payments() {
    let (lock, prefix) = lock(&[REDIS_URL.to_owned()], Duration::from_secs(10));
    let hot = AccountId::new();
    let payers: Vec<AccountId> = (0..4).map(|_| AccountId::new()).collect();
    // Someone else holds payer 3 (with another account).
    let elsewhere = AccountId::new();
    let other = granted(lock.acquire([payers[3], elsewhere]).await);

    let pairs: Vec<[AccountId; 2]> = payers.iter().map(|p| [*p, hot]).collect();
    let batch = lock.acquire_batch(&pairs).await;
    assert!((0..3).all(|i| batch.granted(i)), "payers 0-2 share the hot payee under one token");
    assert!(!batch.granted(3) && !batch.unavailable(3), "payer 3 is busy, not an outage");
    // Held: hot, payers 0-2 (ours) and payer 3 + elsewhere (the other holder).
    assert_eq!(keys_on(REDIS_URL, &prefix).await.len(), 6);
    assert_eq!(lock.acquire([payers[0], AccountId::new()]).await, Acquired::Busy);

    let accounts: Vec<AccountId> = pairs[..3].iter().flatten().copied().collect();
    assert_eq!(lock.release(&accounts, batch.token).await, 4, "hot and three payers, each once");
    granted(lock.acquire([hot, AccountId::new()]).await);
    lock.release(&[payers[3], elsewhere], other).await;
}

#[tokio::test]
async fn a_lock_nobody_releases_expires() {
    let (lock, _) = lock(&[REDIS_URL.to_owned()], Duration::from_millis(300));
    let (a, b) = (AccountId::new(), AccountId::new());
    granted(lock.acquire([a, b]).await);
    assert_eq!(lock.acquire([a, b]).await, Acquired::Busy);
    tokio::time::sleep(Duration::from_millis(400)).await;
    granted(lock.acquire([a, b]).await);
}

#[tokio::test]
async fn a_database_index_in_the_url_is_honoured() {
    let url = "redis://127.0.0.1:6379/7".to_owned();
    let (lock, prefix) = lock(std::slice::from_ref(&url), Duration::from_secs(10));
    granted(lock.acquire([AccountId::new(), AccountId::new()]).await);
    assert_eq!(keys_on(&url, &prefix).await.len(), 2);
    assert!(keys_on("redis://127.0.0.1:6379/0", &prefix).await.is_empty());
}

#[tokio::test]
async fn three_nodes_need_a_majority() {
    let nodes = RedisNodes::start(3);
    let (lock, prefix) = lock(&nodes.urls, Duration::from_secs(10));
    let pair = || [AccountId::new(), AccountId::new()];

    granted(lock.acquire(pair()).await);
    for url in &nodes.urls {
        assert_eq!(keys_on(url, &prefix).await.len(), 2, "all three nodes hold the lock");
    }
    assert_eq!(lock.health().await.reachable, 3);

    nodes.stop_one(1);
    granted(lock.acquire(pair()).await);
    assert_eq!(lock.health().await.reachable, 2);

    nodes.stop_one(2);
    assert_eq!(lock.acquire(pair()).await, Acquired::Unavailable);
    // The one node left granted its part of the failed attempt; it must
    // not keep it: only the two earlier grants' keys remain.
    assert_eq!(keys_on(&nodes.urls[2], &prefix).await.len(), 4);

    nodes.start_one(1);
    // The connection manager reconnects on its own.
    eventually(Duration::from_secs(5), "a grant after a node came back", || async {
        match lock.acquire(pair()).await {
            Acquired::Granted { .. } => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// A minority that granted must be released when the quorum fails, or it
/// would block the accounts until the TTL.
#[tokio::test]
async fn a_partial_grant_is_released() {
    let nodes = RedisNodes::start(3);
    let (lock, prefix) = lock(&nodes.urls, Duration::from_secs(10));
    let (a, b) = (AccountId::new(), AccountId::new());
    // Another holder has `a` on nodes 2 and 3 only.
    for url in &nodes.urls[1..] {
        let mut conn =
            redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = conn.set_ex(format!("{prefix}:lock:account:{a}"), "someone-else", 10).await.unwrap();
    }
    assert_eq!(lock.acquire([a, b]).await, Acquired::Busy);
    assert!(keys_on(&nodes.urls[0], &prefix).await.is_empty(), "node 1's grant was released");
    // b alone is free everywhere, so the half-grant did not leak onto it.
    granted(lock.acquire([b, AccountId::new()]).await);
}
