//! The pages of payments, refunds and events.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Event, EventId, PaymentId, PaymentView, RefundView};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentPage {
    pub payments: Vec<PaymentView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<PaymentId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundList {
    /// Oldest first.
    pub refunds: Vec<RefundView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The last event's id, to pass as `after` for the next page; null when
    /// the page is empty (ask again later with the same `after`).
    pub next_after: Option<EventId>,
}
