//! The limit on failed sign-ins: a client (its address, as the connection
//! shows it) may present a wrong token a few times; past that, every
//! sign-in from it is refused with 429 and `Retry-After` for a while that
//! doubles with each further failure, whether or not the token is right
//! (otherwise the refusals would tell a guesser when it guessed right).
//!
//! The decision is a pure function of the client's record and the time,
//! so its table tests need no server. Records live in this process: behind
//! several API replicas a client gets this allowance from each. Behind a
//! proxy every client has the proxy's address and shares one allowance, so
//! a guesser there slows every sign-in through it (and nothing else).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wrong tokens a client may present before it has to wait.
pub const FREE_FAILURES: u32 = 5;

/// The first wait, after the failure past the free ones; it doubles with
/// each further failure, up to [`LONGEST_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(15);

/// The longest a client is made to wait.
pub const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

/// A client's failures are forgotten this long after its last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

/// Clients remembered at once; past it the one that failed longest ago
/// is forgotten, so a spray from many addresses cannot grow the process.
pub const MAX_CLIENTS: usize = 10_000;

/// One client's failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    pub last: Instant,
}

/// How long a client with `record` must wait at `now` before it may try a
/// token again; `None` when it may try now.
pub fn wait(record: Option<Record>, now: Instant) -> Option<Duration> {
    let r = record?;
    if r.failures < FREE_FAILURES {
        return None;
    }
    let doublings = (r.failures - FREE_FAILURES).min(16);
    let lockout = FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
    let until = r.last + lockout;
    (until > now).then(|| until - now)
}

/// The failed sign-ins of this process's clients.
#[derive(Debug, Clone, Default)]
pub struct Attempts(Arc<Mutex<HashMap<IpAddr, Record>>>);

impl Attempts {
    /// Lets `client` try a token now, counting the try as a wrong token
    /// until [`Self::succeeded`] says otherwise; or how long it must wait
    /// (nothing counted). Counting before the token is checked, under one
    /// lock, keeps a burst of parallel tries within the allowance too.
    /// Returns the client's failures, this try included.
    pub fn admit(&self, client: IpAddr, now: Instant) -> Result<u32, Duration> {
        let mut map = self.lock();
        if let Some(r) = map.get_mut(&client)
            && now.duration_since(r.last) >= FORGET_AFTER
        {
            r.failures = 0;
        }
        if let Some(wait) = wait(map.get(&client).copied(), now) {
            return Err(wait);
        }
        if map.len() >= MAX_CLIENTS && !map.contains_key(&client) {
            map.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
            if map.len() >= MAX_CLIENTS
                && let Some(oldest) = map.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let record = map.entry(client).or_insert(Record { failures: 0, last: now });
        record.failures += 1;
        record.last = now;
        Ok(record.failures)
    }

    /// A right token from `client`: its failures are forgotten.
    pub fn succeeded(&self, client: IpAddr) {
        self.lock().remove(&client);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.0.lock().expect("never poisoned: no panics under the lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_wait_starts_past_the_free_failures_and_doubles_up_to_the_longest() {
        let t = Instant::now();
        let at = |failures| Some(Record { failures, last: t });
        assert_eq!(wait(None, t), None);
        assert_eq!(wait(at(FREE_FAILURES - 1), t), None);
        assert_eq!(wait(at(FREE_FAILURES), t), Some(FIRST_WAIT));
        assert_eq!(wait(at(FREE_FAILURES + 1), t), Some(FIRST_WAIT * 2));
        assert_eq!(wait(at(FREE_FAILURES + 2), t + secs(10)), Some(FIRST_WAIT * 4 - secs(10)));
        assert_eq!(wait(at(FREE_FAILURES + 40), t), Some(LONGEST_WAIT));
        assert_eq!(wait(at(FREE_FAILURES), t + FIRST_WAIT), None, "over when the wait is");
    }

    #[test]
    fn tries_count_per_client_and_a_success_or_an_hour_forgets_them() {
        let attempts = Attempts::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for n in 1..=FREE_FAILURES {
            assert_eq!(attempts.admit(a, t), Ok(n));
        }
        assert_eq!(attempts.admit(a, t), Err(FIRST_WAIT));
        assert_eq!(attempts.admit(a, t + secs(5)), Err(FIRST_WAIT - secs(5)), "a refused try is not counted");
        assert_eq!(attempts.admit(b, t), Ok(1), "another client is not slowed");
        assert_eq!(attempts.admit(a, t + FIRST_WAIT), Ok(FREE_FAILURES + 1), "after the wait, one more try");
        assert_eq!(attempts.admit(a, t + FIRST_WAIT), Err(FIRST_WAIT * 2), "then twice the wait");
        assert_eq!(attempts.admit(a, t + FIRST_WAIT + FORGET_AFTER), Ok(1), "counted afresh after an hour");
        attempts.succeeded(b);
        assert_eq!(attempts.admit(b, t), Ok(1), "a right token forgets the wrong ones");
    }

    #[test]
    fn the_records_are_bounded() {
        let attempts = Attempts::default();
        let t = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            attempts.admit(IpAddr::from(i.to_be_bytes()), t + Duration::from_millis(u64::from(i))).unwrap();
        }
        let newcomer: IpAddr = "192.0.2.1".parse().unwrap();
        attempts.admit(newcomer, t + secs(60)).unwrap();
        let map = attempts.lock();
        assert_eq!(map.len(), MAX_CLIENTS);
        assert!(!map.contains_key(&IpAddr::from(0u32.to_be_bytes())), "the longest ago went");
        assert!(map.contains_key(&newcomer));
    }
}
