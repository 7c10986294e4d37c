//! Where a payment or a refund is, and why one failed: the statuses the API
//! shows and the database stores (the same text, `as_str`/`from_db`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A payment's state. `pending` moves to exactly one of the terminal states,
/// or (a manual capture) to `authorized`, which moves to exactly one of
/// `done` (captured), `voided`, `expired` (or `failed` should the payee's
/// balance be unable to take the capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Done,
    Failed,
    /// The amount is held on the payer, waiting for a capture or void.
    Authorized,
    Voided,
    Expired,
}

impl PaymentStatus {
    /// Every status, in the order of a payment's life.
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Authorized,
        PaymentStatus::Done,
        PaymentStatus::Failed,
        PaymentStatus::Voided,
        PaymentStatus::Expired,
    ];

    /// The text stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Done => "done",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::Voided => "voided",
            PaymentStatus::Expired => "expired",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(PaymentStatus::Pending),
            "done" => Some(PaymentStatus::Done),
            "failed" => Some(PaymentStatus::Failed),
            "authorized" => Some(PaymentStatus::Authorized),
            "voided" => Some(PaymentStatus::Voided),
            "expired" => Some(PaymentStatus::Expired),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, PaymentStatus::Pending | PaymentStatus::Authorized)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payment ended `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The payer's balance did not cover the amount when settle applied it.
    InsufficientFunds,
    /// The payee's balance could not take the amount: it would pass the
    /// largest balance an account can hold.
    BalanceOverflow,
    /// A refund that would take a payment's refunds past what it moved.
    RefundExceedsPayment,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InsufficientFunds => "insufficient_funds",
            FailureReason::BalanceOverflow => "balance_overflow",
            FailureReason::RefundExceedsPayment => "refund_exceeds_payment",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "insufficient_funds" => Some(FailureReason::InsufficientFunds),
            "balance_overflow" => Some(FailureReason::BalanceOverflow),
            "refund_exceeds_payment" => Some(FailureReason::RefundExceedsPayment),
            _ => None,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refund's state: `pending` moves to exactly one of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Done,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Done => "done",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RefundStatus::Pending),
            "done" => Some(RefundStatus::Done),
            "failed" => Some(RefundStatus::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_db(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::from_db("settled"), None);
    }

    #[test]
    fn statuses_round_trip_through_the_database_text() {
        use PaymentStatus::*;
        for status in [Pending, Done, Failed, Authorized, Voided, Expired] {
            assert_eq!(PaymentStatus::from_db(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::from_db("processing"), None);
        assert!(!Pending.is_terminal() && !Authorized.is_terminal());
        assert!([Done, Failed, Voided, Expired].iter().all(|s| s.is_terminal()));
    }

    #[test]
    fn statuses_read_from_the_text_the_api_shows() {
        for status in PaymentStatus::ALL {
            let shown = serde_json::to_value(status).unwrap();
            assert_eq!(serde_json::from_value::<PaymentStatus>(shown).unwrap(), status);
        }
        assert_eq!(serde_json::from_str::<RefundStatus>("\"done\"").unwrap(), RefundStatus::Done);
        assert_eq!(
            serde_json::from_str::<FailureReason>("\"insufficient_funds\"").unwrap(),
            FailureReason::InsufficientFunds
        );
    }
}
