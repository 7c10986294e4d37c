//! The kinds of event payrail emits: the events feed's and webhooks' `type`,
//! and what a webhook endpoint subscribes to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of event payrail emits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum EventType {
    /// A payment was accepted (its 202).
    #[serde(rename = "payment.created")]
    PaymentCreated,
    /// A payment settled `done`.
    #[serde(rename = "payment.done")]
    PaymentDone,
    /// A payment settled `failed`.
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    /// A manual payment's amount is held on the payer.
    #[serde(rename = "payment.authorized")]
    PaymentAuthorized,
    /// An authorization was captured: the payment is `done`.
    #[serde(rename = "payment.captured")]
    PaymentCaptured,
    #[serde(rename = "payment.voided")]
    PaymentVoided,
    /// An authorization reached its `hold_expires_at` uncaptured.
    #[serde(rename = "payment.expired")]
    PaymentExpired,
    /// A refund moved the money back.
    #[serde(rename = "refund.done")]
    RefundDone,
    /// A refund could not be applied (`failure_reason` says why).
    #[serde(rename = "refund.failed")]
    RefundFailed,
    /// An account's credit limit was set at its opening or changed.
    #[serde(rename = "account.credit_limit_changed")]
    AccountCreditLimitChanged,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::PaymentCreated,
        EventType::PaymentDone,
        EventType::PaymentFailed,
        EventType::PaymentAuthorized,
        EventType::PaymentCaptured,
        EventType::PaymentVoided,
        EventType::PaymentExpired,
        EventType::RefundDone,
        EventType::RefundFailed,
        EventType::AccountCreditLimitChanged,
    ];

    /// The type's name, as clients and the database see it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentCreated => "payment.created",
            EventType::PaymentDone => "payment.done",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentAuthorized => "payment.authorized",
            EventType::PaymentCaptured => "payment.captured",
            EventType::PaymentVoided => "payment.voided",
            EventType::PaymentExpired => "payment.expired",
            EventType::RefundDone => "refund.done",
            EventType::RefundFailed => "refund.failed",
            EventType::AccountCreditLimitChanged => "account.credit_limit_changed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an event type. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type {0:?}: known types are payment.created, payment.done, payment.failed, payment.authorized, payment.captured, payment.voided, payment.expired, refund.done, refund.failed, account.credit_limit_changed"
)]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_and_unknown_ones_are_named() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!("payment.refunded".parse::<EventType>(), Err(UnknownEventType("payment.refunded".into())));
    }
}
