//! The app's numeric settings that the operator also writes, each once:
//! the environment variable payment-app reads it from, its default and the
//! range it must fall in. payment-app's command line takes its `env`,
//! default and `value_parser` range from here, the operator the variable's
//! name, its CRD default and its validation, so a value the operator
//! admits is one the app accepts and the other way round
//! (`operator/tests/it/settings.rs` checks it against both programs).
//!
//! The variables whose values are not a number in a range (URLs, secrets,
//! addresses, switches) are named once in [`vars`], and the two amounts
//! with their common form in [`AMOUNT_RULE`].
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

/// A setting with an inclusive range and no default: unset, payment-app
/// works the value out from others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranged<T> {
    /// The environment variable payment-app reads.
    pub env: &'static str,
    pub min: T,
    pub max: T,
}

/// An amount of money, as payment-app parses one: a decimal with at most two
/// decimals, held as i64 minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountSetting {
    /// The environment variable payment-app reads.
    pub env: &'static str,
    pub default: &'static str,
}

/// The CEL rule the operator's CRD holds an amount setting to. At most 16
/// whole digits: payment-app holds an amount as i64 minor units, which end
/// at 92233720368547758.07, so 17 digits would let the API server admit
/// values the app refuses at start (a Deployment that never becomes
/// ready), and a rule that compared the number itself is beyond CEL's
/// int. 16 digits are nine thousand times the default total.
pub const AMOUNT_RULE: &str = "self.matches('^[0-9]{1,16}([.][0-9]{1,2})?$')";
/// What the API server answers for a value [`AMOUNT_RULE`] refuses.
pub const AMOUNT_MESSAGE: &str = "an amount like 1000.00, at most 16 digits before the point";

/// [`AMOUNT_RULE`] in Rust, for the operator's own validation of resources
/// stored before the CRD held them to it.
pub fn is_amount_setting(value: &str) -> bool {
    let digits = |part: &str, most: usize| {
        (1..=most).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    match value.split_once('.') {
        Some((whole, decimals)) => digits(whole, 16) && digits(decimals, 2),
        None => digits(value, 16),
    }
}

/// Largest initial balance an account may be opened with.
pub const MAX_ACCOUNT_ISSUANCE: AmountSetting =
    AmountSetting { env: "MAX_ACCOUNT_ISSUANCE", default: defaults::MAX_ACCOUNT_ISSUANCE };
/// Most money issued in all.
pub const MAX_TOTAL_ISSUANCE: AmountSetting =
    AmountSetting { env: "MAX_TOTAL_ISSUANCE", default: defaults::MAX_TOTAL_ISSUANCE };

/// Most requests one API token may have in flight. Unset, payment-app
/// gives one token every slot and each of several three quarters of them.
pub const HTTP_MAX_IN_FLIGHT_PER_TOKEN: Ranged<u16> =
    Ranged { env: "HTTP_MAX_IN_FLIGHT_PER_TOKEN", min: 1, max: u16::MAX };

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

/// The names of the other variables the operator writes into the app's
/// pods: payment-app's command line reads them with these names, except
/// where a line says who else does.
pub mod vars {
    /// The primary's URL (its password expanded from `DB_APP_PASSWORD` or
    /// the provider's Secret).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The read replica's URL; reads go to the primary without it.
    pub const DATABASE_READ_URL: &str = "DATABASE_READ_URL";
    /// The role `migrate` grants the app's tables to.
    pub const DB_APP_ROLE: &str = "DB_APP_ROLE";
    /// The password `migrate` gives that role.
    pub const DB_APP_PASSWORD: &str = "DB_APP_PASSWORD";
    /// RabbitMQ's URLs, comma-separated.
    pub const AMQP_URL: &str = "AMQP_URL";
    /// The Redis nodes of the lock quorum, comma-separated.
    pub const REDIS_URLS: &str = "REDIS_URLS";
    /// The API's bearer tokens with their scopes.
    pub const API_TOKENS: &str = "API_TOKENS";
    /// The API's listening address.
    pub const HTTP_ADDR: &str = "HTTP_ADDR";
    /// The probes' and metrics' listening address.
    pub const OPS_ADDR: &str = "OPS_ADDR";
    /// `text` or `json` ([`crate::telemetry::LogFormat`]).
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// The ISO 4217 currency of accounts opened without one.
    pub const DEFAULT_CURRENCY: &str = "DEFAULT_CURRENCY";
    /// Accept `http://` webhook endpoints.
    pub const WEBHOOK_ALLOW_HTTP: &str = "WEBHOOK_ALLOW_HTTP";
    /// Deliver webhooks to private addresses.
    pub const WEBHOOK_ALLOW_PRIVATE: &str = "WEBHOOK_ALLOW_PRIVATE";
    /// Read by [`crate::traces`]: tracing is off without it.
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// Read by [`crate::traces`].
    pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// Read by the OpenTelemetry SDK.
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// Read by the OpenTelemetry SDK.
    pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
    /// Read by the OpenTelemetry SDK.
    pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    /// Read by sqlx (as libpq would): verify the server's certificate.
    pub const PGSSLMODE: &str = "PGSSLMODE";
    /// Read by sqlx (as libpq would): the CA to verify it with.
    pub const PGSSLROOTCERT: &str = "PGSSLROOTCERT";

    /// The variables that payment-app's command line does not read and a
    /// library does.
    pub const READ_BY_LIBRARIES: [&str; 7] = [
        OTEL_EXPORTER_OTLP_ENDPOINT,
        OTEL_EXPORTER_OTLP_PROTOCOL,
        OTEL_SERVICE_NAME,
        OTEL_TRACES_SAMPLER,
        OTEL_TRACES_SAMPLER_ARG,
        PGSSLMODE,
        PGSSLROOTCERT,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_setting_has_at_most_16_whole_digits_and_2_decimals() {
        for (value, ok) in [
            ("0", true),
            ("1000.5", true),
            ("1000.00", true),
            ("9999999999999999.99", true),
            ("10000000000000000", false),
            ("1.", false),
            (".5", false),
            ("1.234", false),
            ("-1", false),
            ("1e3", false),
            ("", false),
            ("١٢", false),
        ] {
            assert_eq!(is_amount_setting(value), ok, "{value:?}");
        }
        assert!(
            is_amount_setting(MAX_ACCOUNT_ISSUANCE.default) && is_amount_setting(MAX_TOTAL_ISSUANCE.default)
        );
    }

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
