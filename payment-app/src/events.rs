//! What events say: the event object that the events feed lists and that
//! webhooks deliver, and the payment as the API shows it. One shape for
//! both, so an event's `data` is exactly what `GET /payment/{id}` answered
//! at that moment.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{
    AccountId, Amount, Capture, EventId, EventType, FailureReason, PaymentId, PaymentStatus,
};

/// A payment as `GET /api/v1/payment/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentView {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    pub payment_description: Option<String>,
    pub status: PaymentStatus,
    pub failure_reason: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `automatic` or `manual`.
    pub capture: Capture,
    /// When an authorization's hold ends unless captured or voided (set
    /// once authorized).
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// What moved, once `done`.
    pub amount_captured: Option<Amount>,
}

/// One event: `{id, type, created_at, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: DateTime<Utc>,
    pub data: PaymentView,
}

/// Which event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Every type, including types added later; shown as `["*"]`.
    All,
    /// These types only.
    Only(Vec<EventType>),
}

impl Subscription {
    /// The list as the API shows it.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Subscription::All => vec!["*"],
            Subscription::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }
}
