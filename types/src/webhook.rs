//! Webhook endpoints as the API shows them, their secrets when created or
//! rotated, and their delivery attempts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AttemptId, EndpointId, EventId};

/// A webhook endpoint, without its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointView {
    pub id: EndpointId,
    pub url: String,
    /// The event types it receives; `["*"]`: every type, including types added later.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The answer to a registration: the only one that shows the secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = CreatedWebhookEndpoint)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointPage {
    pub webhook_endpoints: Vec<EndpointView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<EndpointId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecret {
    pub id: EndpointId,
    pub secret: String,
    /// Until then the secret this rotation replaced signs too (a `v1=` of
    /// its own); secrets replaced by earlier rotations keep signing until
    /// the times their rotations answered.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// One delivery attempt of an event to an endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct AttemptView {
    pub id: AttemptId,
    pub event_id: EventId,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status, or null when there was no answer (see `error`).
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// When the event is tried again; null once delivered or given up.
    pub next_retry_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptPage {
    pub attempts: Vec<AttemptView>,
    pub next_cursor: Option<AttemptId>,
}
