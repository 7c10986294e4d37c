//! The crate's one error type.

pub use payrail_common::chain;

use crate::domain::hold::HoldRequestError;
use crate::domain::issuance::IssuanceRefused;
use crate::domain::refund::RefundError;
use crate::domain::settlement::PlanError;
use crate::domain::{AccountId, MetadataError, PaymentId, TargetRefused};
use crate::messages::BadMessage;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error")]
    Database(#[from] sqlx::Error),

    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("message broker error")]
    Broker(#[from] lapin::Error),

    #[error("the broker did not confirm the message to queue {queue}")]
    NotConfirmed { queue: String },

    #[error("the broker ended the consumer of queue {queue}")]
    ConsumerCancelled { queue: String },

    #[error("the intake is stopping")]
    IntakeStopped,

    /// The work was handed on, and its end was not seen: it may have
    /// committed.
    #[error("the outcome of {what} is unknown")]
    OutcomeUnknown { what: &'static str },

    #[error("timed out {what}")]
    Timeout { what: &'static str },

    #[error("redis error")]
    Redis(#[from] redis::RedisError),

    #[error("account {0} does not exist")]
    UnknownAccount(AccountId),

    #[error("payment {0} does not exist")]
    UnknownPayment(PaymentId),

    /// An atomic batch is recorded whole or replayed whole: some of its
    /// keys were new and others taken, or one was taken by another request.
    #[error("an atomic batch's idempotency keys must be all new or all replays of that same atomic batch")]
    AtomicBatchKeys,

    #[error("capture or void refused: {0}")]
    HoldRequest(#[from] HoldRequestError),

    #[error("refund refused: {0}")]
    RefundRefused(#[from] RefundError),

    #[error("metadata refused: {0}")]
    Metadata(#[from] MetadataError),

    #[error("issuance refused: {0}")]
    IssuanceRefused(#[from] IssuanceRefused),

    /// Lowering a credit limit below what the account already uses (spent
    /// past zero, plus held) would leave it over its limit.
    #[error("the credit limit cannot go below {used}, the credit the account already uses (spent and held)")]
    CreditLimitBelowUsed { used: crate::domain::Money },

    #[error("settle could not plan a batch")]
    Plan(#[from] PlanError),

    #[error("the database holds a value payrail cannot read: {0}")]
    Corrupt(String),

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error(transparent)]
    BadMessage(#[from] BadMessage),

    #[error("I/O error")]
    Io(#[from] std::io::Error),

    #[error("HTTP client error")]
    Http(#[from] reqwest::Error),

    #[error("webhook target refused")]
    WebhookRefused(#[from] TargetRefused),

    #[error("at most {0} webhook endpoints may be registered")]
    TooManyEndpoints(usize),
}

impl Error {
    /// Whether retrying the same operation later may succeed (a dependency
    /// was briefly unreachable), as opposed to a bug or bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                ) || db_error_code(e).is_some_and(|code| {
                    // serialization_failure, deadlock_detected, admin/crash shutdown,
                    // cannot_connect_now
                    matches!(code.as_str(), "40001" | "40P01" | "57P01" | "57P02" | "57P03")
                })
            }
            // A broker that does not answer in time (a node shutting down,
            // a queue electing a leader) may well answer the next attempt.
            Error::Broker(_)
            | Error::Timeout { .. }
            | Error::NotConfirmed { .. }
            | Error::ConsumerCancelled { .. }
            | Error::Redis(_)
            | Error::IntakeStopped
            | Error::OutcomeUnknown { .. }
            | Error::Io(_) => true,
            _ => false,
        }
    }

    /// A short description without any detail of the cause (hosts, queries,
    /// credentials), for answers that dependencies' health is shown in.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Database(sqlx::Error::PoolTimedOut) => "no connection available",
            Error::Database(sqlx::Error::Io(_)) => "connection failed",
            Error::Database(sqlx::Error::Database(_)) => "query failed",
            Error::Database(_) => "database error",
            Error::Timeout { .. } => "timed out",
            _ => "error",
        }
    }

    /// Whether a write that failed this way may still have committed: the
    /// connection broke or the server went away mid-statement (the commit
    /// may have landed before the answer was lost), or the work's end was
    /// not seen. Everything else a write fails with is a definite "nothing
    /// was written" (a rollback, a timeout that cancelled the statement, no
    /// connection to begin with).
    pub fn may_have_committed(&self) -> bool {
        match self {
            Error::Database(e) => {
                matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_))
                    || db_error_code(e).is_some_and(|code| matches!(code.as_str(), "57P01" | "57P02"))
            }
            Error::OutcomeUnknown { .. } => true,
            _ => false,
        }
    }

    /// Whether a statement gave up waiting for a row lock (`lock_timeout`):
    /// another transaction holds a row it needs; nothing was written.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Error::Database(e) if db_error_code(e).as_deref() == Some("55P03"))
    }

    /// Whether the database cancelled a statement that ran past its
    /// timeout: the database is too slow right now. Not transient for the
    /// workers, which rather split a slow batch than repeat it.
    pub fn is_statement_timeout(&self) -> bool {
        matches!(self, Error::Database(e) if db_error_code(e).as_deref() == Some("57014"))
    }
}

/// The SQLSTATE of a database error, if the server sent one.
pub(crate) fn db_error_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker ends on an error that is not transient, and takes the
    /// process down with it: a broker slow to answer must not.
    #[test]
    fn broker_timeouts_are_transient() {
        assert!(Error::Timeout { what: "connecting to the broker" }.is_transient());
        assert!(Error::Timeout { what: "publishing to the broker" }.is_transient());
        assert!(!Error::Config("x".into()).is_transient());
    }
}
