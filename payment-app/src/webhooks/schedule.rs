//! When a failed delivery is tried again: a list of delays, one per retry,
//! written like `1m,5m,30m,2h`, each stretched or shrunk by random jitter
//! so that endpoints that failed together are not retried together.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// The default: growing delays, about three days from the first attempt
/// to the last (11 attempts).
pub const DEFAULT_SCHEDULE: &str = "1m,5m,30m,2h,5h,10h,12h,12h,12h,18h";

/// The share of a delay that jitter may add or take away.
const JITTER: f64 = 0.2;

/// The delays between attempts; after the last one the delivery is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// The delay after failed attempt number `attempt` (1 for the first),
    /// without jitter; `None` when that was the last attempt.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    /// [`delay_after`](Self::delay_after) with ±20 % jitter.
    pub fn jittered_delay_after(&self, attempt: u32) -> Option<Duration> {
        let delay = self.delay_after(attempt)?;
        Some(delay.mul_f64(rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER)))
    }

    /// Attempts in all, the first included.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        DEFAULT_SCHEDULE.parse().expect("the default schedule parses")
    }
}

/// Why a schedule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a delay: write a number and a unit (ms, s, m, h, d), e.g. 30s")]
pub struct ScheduleError(String);

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Comma-separated delays; an empty string means no retry at all.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(RetrySchedule(Vec::new()));
        }
        s.split(',').map(|step| parse_delay(step.trim())).collect::<Result<_, _>>().map(RetrySchedule)
    }
}

fn parse_delay(text: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError(text.to_owned());
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms).map(Duration::from_millis).ok_or_else(bad)
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.0.iter().map(|d| format!("{}ms", d.as_millis())).collect();
        f.write_str(&steps.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_counts_attempts() {
        let s: RetrySchedule = "50ms, 2s,3m,1h,1d".parse().unwrap();
        assert_eq!(s.delay_after(1), Some(Duration::from_millis(50)));
        assert_eq!(s.delay_after(2), Some(Duration::from_secs(2)));
        assert_eq!(s.delay_after(3), Some(Duration::from_secs(180)));
        assert_eq!(s.delay_after(5), Some(Duration::from_secs(86_400)));
        assert_eq!(s.delay_after(6), None, "the sixth attempt was the last");
        assert_eq!(s.delay_after(0), None);
        assert_eq!(s.attempts(), 6);
        assert_eq!("".parse::<RetrySchedule>().unwrap().attempts(), 1);
    }

    #[test]
    fn refuses_what_is_not_a_delay() {
        for bad in ["5", "s", "5 s", "5x", "-5s", "1m,,2m", "99999999999999999999d"] {
            assert!(bad.parse::<RetrySchedule>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_spans_about_three_days() {
        let s = RetrySchedule::default();
        let total: Duration = s.0.iter().sum();
        let days = total.as_secs_f64() / 86_400.0;
        assert!((2.5..=3.5).contains(&days), "{days} days");
        assert!(s.0.windows(2).all(|w| w[0] <= w[1]), "delays never shrink");
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let s: RetrySchedule = "10s".parse().unwrap();
        for _ in 0..100 {
            let d = s.jittered_delay_after(1).unwrap();
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12), "{d:?}");
        }
    }
}
