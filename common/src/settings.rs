//! The app's numeric settings that the operator also writes, each once:
//! the environment variable payment-app reads it from, its default and the
//! range it must fall in. payment-app's command line takes its `env`,
//! default and `value_parser` range from here, the operator the variable's
//! name, its CRD default and its validation, so a value the operator
//! admits is one the app accepts and the other way round
//! (`operator/tests/it/settings.rs` checks it against both programs).
//!
//! The defaults' reasons stay with them in [`crate::defaults`].

use crate::defaults;

/// A setting with an inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<T> {
    /// The environment variable payment-app reads.
    pub env: &'static str,
    pub default: T,
    pub min: T,
    pub max: T,
}

impl<T: Copy + Into<u64>> Bounded<T> {
    /// The same setting in one integer type, so the list can be walked.
    pub fn widen(&self) -> Bounded<u64> {
        Bounded { env: self.env, default: self.default.into(), min: self.min.into(), max: self.max.into() }
    }
}

/// Connections per PostgreSQL pool (primary and replica each).
pub const DB_POOL_SIZE: Bounded<u32> =
    Bounded { env: "DB_POOL_SIZE", default: defaults::DB_POOL_SIZE, min: 1, max: 1000 };
/// Lock-queue messages a lock worker holds unacknowledged.
pub const LOCK_PREFETCH: Bounded<u16> =
    Bounded { env: "LOCK_PREFETCH", default: defaults::LOCK_PREFETCH, min: 1, max: u16::MAX };
/// Settle-queue messages a settle worker holds unacknowledged.
pub const SETTLE_PREFETCH: Bounded<u16> =
    Bounded { env: "SETTLE_PREFETCH", default: defaults::SETTLE_PREFETCH, min: 1, max: u16::MAX };
/// Most settle messages applied in one transaction.
pub const SETTLE_BATCH_MAX: Bounded<u16> =
    Bounded { env: "SETTLE_BATCH_MAX", default: defaults::SETTLE_BATCH_MAX, min: 1, max: 1000 };
/// How long an account lock lives unless released, in milliseconds. At
/// least a second: a lock is an optimisation (settle is correct without
/// one), but one that expires under a normal settle lets the next payments
/// on the account through to wait on its rows instead, and the Redis
/// restart delay the operator derives from it would round to almost
/// nothing. payment-app's own tests of expiry hold rows for seconds.
pub const LOCK_TTL_MS: Bounded<u64> =
    Bounded { env: "LOCK_TTL_MS", default: defaults::LOCK_TTL_MS, min: 1000, max: 600_000 };
/// The whole of a graceful stop, in seconds.
pub const SHUTDOWN_TIMEOUT_SECS: Bounded<u64> =
    Bounded { env: "SHUTDOWN_TIMEOUT_SECS", default: defaults::SHUTDOWN_TIMEOUT_SECS, min: 1, max: 3600 };
/// Requests per second each API token may make, sustained.
pub const API_RATE_PER_SEC: Bounded<u32> =
    Bounded { env: "API_RATE_PER_SEC", default: defaults::API_RATE_PER_SEC, min: 1, max: 1_000_000 };
/// Requests each API token may make at once above its sustained rate.
pub const API_RATE_BURST: Bounded<u32> =
    Bounded { env: "API_RATE_BURST", default: defaults::API_RATE_BURST, min: 1, max: 1_000_000 };
/// Longest a payment waits for an account row another session holds, in
/// milliseconds.
pub const INTAKE_LOCK_TIMEOUT_MS: Bounded<u64> =
    Bounded { env: "INTAKE_LOCK_TIMEOUT_MS", default: defaults::INTAKE_LOCK_TIMEOUT_MS, min: 1, max: 60_000 };
/// Most webhook endpoints.
pub const WEBHOOK_MAX_ENDPOINTS: Bounded<u16> =
    Bounded { env: "WEBHOOK_MAX_ENDPOINTS", default: defaults::WEBHOOK_MAX_ENDPOINTS, min: 1, max: 1000 };
/// Longest one webhook delivery may take, in milliseconds.
pub const WEBHOOK_TIMEOUT_MS: Bounded<u64> =
    Bounded { env: "WEBHOOK_TIMEOUT_MS", default: defaults::WEBHOOK_TIMEOUT_MS, min: 100, max: 600_000 };

/// Every bounded setting above, for the tests that hold both programs to it.
pub fn bounded() -> Vec<Bounded<u64>> {
    vec![
        DB_POOL_SIZE.widen(),
        LOCK_PREFETCH.widen(),
        SETTLE_PREFETCH.widen(),
        SETTLE_BATCH_MAX.widen(),
        LOCK_TTL_MS.widen(),
        SHUTDOWN_TIMEOUT_SECS.widen(),
        API_RATE_PER_SEC.widen(),
        API_RATE_BURST.widen(),
        INTAKE_LOCK_TIMEOUT_MS.widen(),
        WEBHOOK_MAX_ENDPOINTS.widen(),
        WEBHOOK_TIMEOUT_MS.widen(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_within_its_range_and_every_name_is_unique() {
        let all = bounded();
        for s in &all {
            assert!(s.min <= s.default && s.default <= s.max, "{s:?}");
        }
        let mut names: Vec<_> = all.iter().map(|s| s.env).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
