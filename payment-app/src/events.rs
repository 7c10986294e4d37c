//! What events say: the event object that the events feed lists and that
//! webhooks deliver, and the payment and refund as the API shows them. One
//! shape for both, so an event's `data` is exactly what `GET /payment/{id}`
//! (or `GET /refunds/{id}`) answered at that moment.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::refund::RefundStatus;
use crate::domain::{
    AccountId, Capture, Currency, EventId, EventType, FailureReason, Metadata, Money, PaymentId,
    PaymentStatus, RefundId,
};

/// A payment as `GET /api/v1/payment/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Payment)]
pub struct PaymentView {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    /// With the currency's decimals.
    pub amount: Money,
    pub currency: Currency,
    pub payment_description: Option<String>,
    pub status: PaymentStatus,
    pub failure_reason: Option<FailureReason>,
    /// The client's own references. In an event, the payment's metadata as
    /// it is when the event is read or delivered.
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `automatic` or `manual`.
    pub capture: Capture,
    /// When an authorization's hold ends unless captured or voided (set
    /// once authorized).
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// What moved, once `done`, with the currency's decimals.
    pub amount_captured: Option<Money>,
    /// The sum of its refunds that are `done`, with the currency's decimals.
    pub amount_refunded: Money,
}

/// A refund as `GET /api/v1/refunds/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Refund)]
pub struct RefundView {
    pub id: RefundId,
    pub payment_id: PaymentId,
    /// With the currency's decimals.
    pub amount: Money,
    /// Its payment's.
    pub currency: Currency,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub failure_reason: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an event is about: a payment (`payment.*`) or a refund (`refund.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    Payment(PaymentView),
    Refund(RefundView),
}

/// One event: `{id, type, created_at, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
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
