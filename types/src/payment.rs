//! The payment and the refund as the API shows them, a credit limit's
//! change, and the event object the events feed lists and webhooks
//! deliver. One shape for both, so an event's `data` is exactly what `GET
//! /payment/{id}` (or `GET /refunds/{id}`) answered at that moment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    AccountId, Currency, EventId, EventType, FailureReason, Metadata, Money, PaymentId, PaymentStatus,
    RefundId, RefundStatus,
};

// When a payment's money moves: at settle (`automatic`), or once it is
// captured after settle held it on the payer (`manual`). What the API shows
// and is sent; payment-app's `Capture` adds the hold's length to `manual`.
// (Not a doc comment: utoipa would make it the schema's description, which
// the document has never had.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Capture)]
pub enum CaptureMode {
    #[default]
    Automatic,
    Manual,
}

/// A payment as `GET /api/v1/payment/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    pub capture: CaptureMode,
    /// When an authorization's hold ends unless captured or voided (set
    /// once authorized).
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// What moved, once `done`, with the currency's decimals.
    pub amount_captured: Option<Money>,
    /// The sum of its refunds that are `done`, with the currency's decimals.
    pub amount_refunded: Money,
}

/// A refund as `GET /api/v1/refunds/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// A change of an account's credit limit, as `account.credit_limit_changed`
/// sends it: made by the account's opening (from 0) or by a `PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = CreditLimitChange)]
pub struct CreditLimitChangeView {
    pub account_id: AccountId,
    /// The account's.
    pub currency: Currency,
    /// The limit before the change (0 for an account just opened), with the
    /// currency's decimals.
    pub old_credit_limit: Money,
    /// The limit from `changed_at` on.
    pub new_credit_limit: Money,
    pub changed_at: DateTime<Utc>,
}

/// What an event is about: a payment (`payment.*`), a refund (`refund.*`)
/// or an account's credit limit (`account.credit_limit_changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    Payment(PaymentView),
    Refund(RefundView),
    CreditLimit(CreditLimitChangeView),
}

/// One event: `{id, type, created_at, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
}
