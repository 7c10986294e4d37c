//! The two workers between the API and the ledger.
//!
//! Each consumes its queue with manual acks and a prefetch, and acks a
//! message only after its effect is durable (forwarded with a confirm, or
//! committed), so a crash at any point leaves the message to be delivered
//! again, and the steps after it are safe to repeat.

pub mod lock;
pub mod settle;

use std::time::Duration;

/// Backoff before retrying work that failed on a dependency: doubles from
/// 100 ms up to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(6), Duration::from_secs(5));
        assert_eq!(backoff(60), Duration::from_secs(5));
    }
}
