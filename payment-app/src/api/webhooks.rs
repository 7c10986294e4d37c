//! `/api/v1/webhook-endpoints`: register, list, show and delete endpoints,
//! rotate their secrets, and list their delivery attempts.

pub use payrail_types::CreateEndpoint;
pub use payrail_types::{
    AttemptPage, AttemptView, CreatedEndpoint, EndpointPage, EndpointView, RotatedSecret,
};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use tracing::instrument;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::JsonBody;
use super::{AppState, Page, parse_id};
use crate::db::{self, webhooks::Endpoint};
use crate::domain::{AttemptId, DescriptionError, EndpointDescription, EndpointId, EventType};
use crate::events::Subscription;
use crate::webhooks::{self, MAX_RETIRED_SECRETS, Rotation};

/// `events` omitted, or `["*"]`: every type. Otherwise known types only.
fn subscription(events: Option<Vec<String>>) -> Result<Subscription, ApiError> {
    let Some(names) = events else { return Ok(Subscription::All) };
    if names.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "events: list at least one type, or omit it for all",
        ));
    }
    if names.iter().any(|n| n == "*") {
        return if names.len() == 1 {
            Ok(Subscription::All)
        } else {
            Err(ApiError::new(ErrorCode::InvalidBody, "events: \"*\" stands alone"))
        };
    }
    let mut types = names
        .iter()
        .map(|n| n.parse::<EventType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(ErrorCode::UnknownEventType, e.to_string()))?;
    types.sort_unstable();
    types.dedup();
    Ok(Subscription::Only(types))
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            events: e.subscription.names().into_iter().map(String::from).collect(),
            description: e.description,
            created_at: e.created_at,
        }
    }
}

/// Registers a webhook endpoint.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", operation_id = "createWebhookEndpoint", tag = "webhooks",
    request_body = CreateEndpoint,
    responses((status = 201, description = "Registered; the `secret` is shown here only", body = CreatedEndpoint,
        headers(("Location" = String, description = "The endpoint's URL")))),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all)]
pub async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<Response, ApiError> {
    let subscription = subscription(body.events)?;
    let description = body.description.map(EndpointDescription::parse).transpose().map_err(|e| {
        let code = match e {
            DescriptionError::TooLong => ErrorCode::DescriptionTooLong,
            DescriptionError::HasNul => ErrorCode::InvalidBody,
        };
        ApiError::new(code, e.to_string())
    })?;
    let (endpoint, secret) =
        webhooks::register(&app.db, &app.webhooks, &body.url, subscription, description).await?;
    let location = format!("/api/v1/webhook-endpoints/{}", endpoint.id);
    let created = CreatedEndpoint { endpoint: endpoint.into(), secret: secret.expose_secret().to_owned() };
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)).into_response())
}

/// Webhook endpoints, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", operation_id = "listWebhookEndpoints", tag = "webhooks",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("cursor" = Option<EndpointId>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of endpoints", body = EndpointPage)),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all)]
pub async fn list(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<EndpointPage>, ApiError> {
    let page = Page::<EndpointId>::parse(&query)?;
    let endpoints = db::webhooks::list(&app.db.primary, page.cursor, page.limit).await?;
    let next_cursor = page.next_cursor(&endpoints, |e| e.id);
    Ok(Json(EndpointPage { webhook_endpoints: endpoints.into_iter().map(Into::into).collect(), next_cursor }))
}

async fn require(app: &AppState, id: EndpointId) -> Result<Endpoint, ApiError> {
    db::webhooks::get(&app.db.primary, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook endpoint {id} does not exist")))
}

/// One webhook endpoint, never its secret.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}", operation_id = "getWebhookEndpoint", tag = "webhooks",
    params(("id" = EndpointId, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint", body = EndpointView)),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all, fields(endpoint_id = %id))]
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let id: EndpointId = parse_id(&id)?;
    Ok(Json(require(&app, id).await?.into()))
}

/// 204; nothing more is sent to it, and its pending deliveries are dropped.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", operation_id = "deleteWebhookEndpoint", tag = "webhooks",
    params(("id" = EndpointId, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted: nothing more is sent to it, and its pending deliveries are dropped")),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all, fields(endpoint_id = %id))]
pub async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id: EndpointId = parse_id(&id)?;
    if db::webhooks::delete(&app.db.primary, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("webhook endpoint {id} does not exist")))
    }
}

/// Gives an endpoint a new secret; the old one signs beside it for 24 h,
/// and so do the secrets earlier rotations replaced, each for its own 24 h.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    params(("id" = EndpointId, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The new secret", body = RotatedSecret),
        (status = 409, description = "`invalid_state`: 4 rotated-out secrets still sign; nothing changed", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all, fields(endpoint_id = %id))]
pub async fn rotate_secret(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: EndpointId = parse_id(&id)?;
    match webhooks::rotate_secret(&app.db, id).await? {
        Rotation::Rotated { secret, previous_secret_expires_at } => Ok(Json(RotatedSecret {
            id,
            secret: secret.expose_secret().to_owned(),
            previous_secret_expires_at,
        })
        .into_response()),
        Rotation::TooMany { first_expires } => Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "{MAX_RETIRED_SECRETS} rotated-out secrets still sign, as their rotations promised; \
                 the first stops at {first_expires}: rotate again after then"
            ),
        )),
        Rotation::NoSuchEndpoint => Err(ApiError::not_found(format!("webhook endpoint {id} does not exist"))),
    }
}

/// An endpoint's delivery attempts, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/attempts", operation_id = "listDeliveryAttempts", tag = "webhooks",
    params(("id" = EndpointId, Path, description = "The endpoint's id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("cursor" = Option<AttemptId>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of attempts", body = AttemptPage)),
    security(("bearer" = ["admin"])))]
#[instrument(skip_all, fields(endpoint_id = %id))]
pub async fn attempts(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AttemptPage>, ApiError> {
    let id: EndpointId = parse_id(&id)?;
    let page = Page::<AttemptId>::parse(&query)?;
    require(&app, id).await?;
    let attempts = db::webhooks::attempts(&app.db.primary, id, page.cursor, page.limit).await?;
    let next_cursor = page.next_cursor(&attempts, |a| a.id);
    Ok(Json(AttemptPage { attempts, next_cursor }))
}
