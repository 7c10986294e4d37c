//! The limit on failed sign-ins: a client (its address, as the connection
//! shows it) may present a wrong token a few times; past that, every
//! sign-in from it is refused with 429 and `Retry-After` for a while that
//! doubles with each further failure, whether or not the token is right
//! (otherwise the refusals would tell a guesser when it guessed right).
//!
//! The decision ([`wait`]) is a pure function of the client's record and
//! the time, so its table tests need no server. The records are rows in
//! PostgreSQL (`db::console_sign_ins`), shared by every API process: behind
//! several replicas a client gets one allowance, not one from each (kept
//! in each process's memory, N replicas gave a guesser 5 x N tries). Behind
//! a proxy every client has the proxy's address and shares one allowance,
//! so a guesser there slows every sign-in through it (and nothing else).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::db::console_sign_ins::{self, Bounds, Failures};
use crate::error::Result;

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
/// is forgotten, so a spray from many addresses cannot grow the table.
pub const MAX_CLIENTS: i64 = 10_000;

/// How long a client with `record` must wait at `now` before it may try a
/// token again; `None` when it may try now.
pub fn wait(record: Option<Failures>, now: DateTime<Utc>) -> Option<Duration> {
    let r = record?;
    if r.count < FREE_FAILURES {
        return None;
    }
    let doublings = (r.count - FREE_FAILURES).min(16);
    let lockout = FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
    let until = r.last + chrono::Duration::from_std(lockout).unwrap_or(chrono::Duration::MAX);
    (until > now).then(|| (until - now).to_std().unwrap_or_default())
}

/// Lets `client` try a token now, counting the try as a wrong token until
/// [`succeeded`] says otherwise; or how long it must wait (nothing
/// counted). Counting before the token is checked, under the client's row
/// lock, keeps a burst of parallel tries within the allowance too, across
/// processes. Returns the client's failures, this try included.
pub async fn admit(primary: &PgPool, client: IpAddr) -> Result<std::result::Result<u32, Duration>> {
    let bounds = Bounds { forget_after: FORGET_AFTER, max_clients: MAX_CLIENTS };
    console_sign_ins::admit(primary, client, bounds, wait).await
}

/// A right token from `client`: its failures are forgotten.
pub async fn succeeded(primary: &PgPool, client: IpAddr) -> Result<()> {
    console_sign_ins::succeeded(primary, client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> chrono::Duration {
        chrono::Duration::seconds(s as i64)
    }

    #[test]
    fn the_wait_starts_past_the_free_failures_and_doubles_up_to_the_longest() {
        let t: DateTime<Utc> = "2026-12-08T10:00:00Z".parse().unwrap();
        let at = |count| Some(Failures { count, last: t });
        assert_eq!(wait(None, t), None);
        assert_eq!(wait(at(FREE_FAILURES - 1), t), None);
        assert_eq!(wait(at(FREE_FAILURES), t), Some(FIRST_WAIT));
        assert_eq!(wait(at(FREE_FAILURES + 1), t), Some(FIRST_WAIT * 2));
        assert_eq!(wait(at(FREE_FAILURES + 2), t + secs(10)), Some(FIRST_WAIT * 4 - Duration::from_secs(10)));
        assert_eq!(wait(at(FREE_FAILURES + 40), t), Some(LONGEST_WAIT));
        assert_eq!(wait(at(FREE_FAILURES), t + secs(15)), None, "over when the wait is");
    }
}
