//! Delays between retries that double from a base up to a cap.

use std::time::Duration;

/// An exponential backoff: `base`, `2 × base`, `4 × base` ... never above
/// `max`. Attempts count from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        // 2^20 × any sane base is past any sane cap: stop doubling there
        // rather than overflow.
        let factor = 1u32 << attempt.min(20);
        self.base.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(1), Duration::from_millis(200));
        assert_eq!(b.delay(5), Duration::from_millis(3200));
        assert_eq!(b.delay(6), Duration::from_secs(5));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn a_huge_base_is_capped_not_overflowed() {
        let b = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::from_secs(300));
        assert_eq!(b.delay(3), Duration::from_secs(300));
    }
}
