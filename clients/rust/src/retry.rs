//! The retry rule of docs/api.md, in one place. A request is sent again
//! only when the server says nothing was recorded (429 `rate_limited` with
//! `Retry-After`, 503 `overloaded`, a connection never made), or when the
//! outcome is unknown (503 `timeout`, a connection dropped or timed out after
//! the request left) *and* a replay cannot record it twice: a read, a
//! metadata change, a delete, a create carrying its `Idempotency-Key`, a
//! batch whose every item carries its `idempotency_key`. Bounded attempts,
//! backoff doubled with jitter, or the server's `Retry-After`.

use std::time::Duration;

use payrail_types::ErrorCode;
use reqwest::StatusCode;

/// How hard a call tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff, doubled each time, with jitter.
    pub base_delay: Duration,
    /// Longest wait between attempts, a server's `Retry-After` included.
    pub max_delay: Duration,
    /// Each attempt's own time limit.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What an attempt says about whether the request was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An answer to pass on as it is (a success, or an error that a retry
    /// would only repeat).
    Answered,
    /// The server recorded nothing: safe to send again.
    NotRecorded { retry_after: Option<u64> },
    /// It may have been recorded.
    Unknown,
}

/// The outcome of an error answer, from its status, code and `Retry-After`.
pub(crate) fn of_answer(status: StatusCode, code: Option<ErrorCode>, retry_after: Option<u64>) -> Outcome {
    match (status.as_u16(), code) {
        (429, Some(ErrorCode::RateLimited)) if retry_after.is_some() => Outcome::NotRecorded { retry_after },
        (503, Some(ErrorCode::Overloaded)) => Outcome::NotRecorded { retry_after },
        (503, Some(ErrorCode::Timeout)) => Outcome::Unknown,
        _ => Outcome::Answered,
    }
}

/// The outcome of a request that got no answer: a connection never made
/// recorded nothing; anything later may have.
pub(crate) fn of_transport(e: &reqwest::Error) -> Outcome {
    if e.is_connect() { Outcome::NotRecorded { retry_after: None } } else { Outcome::Unknown }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1`, or `None` to stop
    /// and pass the outcome on. `replay_safe`: a second copy of the
    /// request records nothing new (see the module's comment).
    pub(crate) fn next(&self, attempt: u32, outcome: Outcome, replay_safe: bool) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        match outcome {
            Outcome::Answered => None,
            Outcome::Unknown if !replay_safe => None,
            Outcome::NotRecorded { retry_after: Some(secs) } => {
                Some(Duration::from_secs(secs).min(self.max_delay))
            }
            Outcome::NotRecorded { retry_after: None } | Outcome::Unknown => {
                let exp = self.base_delay.saturating_mul(1 << (attempt - 1).min(16)).min(self.max_delay);
                Some(exp / 2 + exp.mul_f64(rand::random::<f64>() / 2.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_RECORDED: Outcome = Outcome::NotRecorded { retry_after: None };

    #[test]
    fn answers_are_classified_as_docs_api_md_says() {
        use ErrorCode::*;
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert_eq!(
            of_answer(s(429), Some(RateLimited), Some(2)),
            Outcome::NotRecorded { retry_after: Some(2) }
        );
        assert_eq!(
            of_answer(s(429), Some(RateLimited), None),
            Outcome::Answered,
            "no Retry-After: not retried"
        );
        assert_eq!(of_answer(s(503), Some(Overloaded), None), NOT_RECORDED);
        assert_eq!(of_answer(s(503), Some(Timeout), None), Outcome::Unknown);
        for (status, code) in [(503, Unavailable), (503, AccountBusy), (422, SameAccount), (500, Internal)] {
            assert_eq!(of_answer(s(status), Some(code), None), Outcome::Answered, "{code:?}");
        }
    }

    #[test]
    fn unknown_outcomes_are_retried_only_when_a_replay_is_safe_and_attempts_are_bounded() {
        let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::ZERO, ..RetryPolicy::default() };
        assert!(policy.next(1, Outcome::Unknown, true).is_some());
        assert_eq!(policy.next(1, Outcome::Unknown, false), None);
        assert!(policy.next(1, NOT_RECORDED, false).is_some(), "nothing recorded: always");
        assert!(policy.next(2, NOT_RECORDED, false).is_some());
        assert_eq!(policy.next(3, NOT_RECORDED, false), None, "the third attempt was the last");
        assert_eq!(policy.next(1, Outcome::Answered, true), None);
    }

    #[test]
    fn retry_after_is_obeyed_up_to_the_longest_wait() {
        let policy = RetryPolicy { max_delay: Duration::from_secs(5), ..RetryPolicy::default() };
        let after = |secs| policy.next(1, Outcome::NotRecorded { retry_after: Some(secs) }, false);
        assert_eq!(after(2), Some(Duration::from_secs(2)));
        assert_eq!(after(60), Some(Duration::from_secs(5)));
        let backoff = policy.next(3, NOT_RECORDED, false).unwrap();
        assert!(
            backoff >= Duration::from_millis(200) && backoff <= Duration::from_millis(400),
            "{backoff:?}"
        );
    }
}
