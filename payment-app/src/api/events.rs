//! `/api/v1/events`: every event in order, for clients that pull instead of
//! being pushed, or catch up after downtime; and one event by id.

pub use payrail_types::EventPage;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use tracing::instrument;

use super::error::ApiError;
use super::{AppState, parse_id, parse_limit, query_id};
use crate::db;
use crate::domain::EventId;
use crate::events::Event;

const MAX_LIMIT: i64 = 500;
const DEFAULT_LIMIT: i64 = 100;

/// Every event in id order after `after` (from the first without it).
#[utoipa::path(get, path = "/api/v1/events", operation_id = "listEvents", tag = "events",
    params(("after" = Option<EventId>, Query, description = "`next_after` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 100")),
    responses((status = 200, description = "A page of events", body = EventPage)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all)]
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = parse_limit(&query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = query_id::<EventId>(&query, "after")?;
    // The primary: a client handed an event by a webhook a moment ago
    // finds it here at once.
    let events = db::events::list_after(&app.db.primary, after, limit).await?;
    let next_after = events.last().map(|e| e.id);
    Ok(Json(EventPage { events, next_after }))
}

/// One event.
#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "getEvent", tag = "events",
    params(("id" = EventId, Path, description = "The event's id")),
    responses((status = 200, description = "The event", body = Event)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(event_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Event>, ApiError> {
    let id: EventId = parse_id(&id)?;
    db::events::get(&app.db.primary, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("event {id} does not exist")))
}
