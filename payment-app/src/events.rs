//! What events say: the event object that the events feed lists and that
//! webhooks deliver, and the payment, refund and credit limit change as the
//! API shows them. One shape for both, so an event's `data` is exactly
//! what `GET /payment/{id}` (or `GET /refunds/{id}`) answered at that
//! moment.

pub use payrail_types::{CreditLimitChangeView, Event, EventData, PaymentView, RefundView};

use crate::domain::EventType;

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
