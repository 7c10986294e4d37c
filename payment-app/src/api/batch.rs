//! `POST /api/v1/payments/batch`: many payments in one request, each
//! validated, recorded and answered on its own (or, `atomic`, linked: all
//! recorded and settled all or none). The request and response shapes are
//! payrail-types' (`BatchRequest`, `BatchResponse`, `AtomicBatchRefusal`),
//! which the client reads too.

pub use payrail_types::{AtomicBatchRefusal, BatchItemResult as ItemResult, BatchRequest, BatchResponse};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::{instrument, warn};

use super::auth::Caller;
use super::error::{ApiError, ErrorCode};
use super::extract::JsonBody;
use super::payments::CreatePayment;
use super::{AppState, MAX_BODY_BYTES};
use crate::db::idempotency::Idempotent;
use crate::domain::{AccountId, IdempotencyKey, PaymentId};
use crate::events::PaymentView;
use crate::intake::BatchItem;

/// The route, also what the body limit of the route is chosen by (the
/// router writes it out; the batch tests' large bodies fail if the two
/// differ).
pub const ROUTE: &str = "/api/v1/payments/batch";

/// The body a batch may have per item allowed: a payment with a long
/// description and some metadata is well under it (a single payment may
/// be larger, up to [`MAX_BODY_BYTES`], which a batch always allows).
const BYTES_PER_ITEM: usize = 4 * 1024;

/// The largest body of a batch of at most `max_items` items.
pub fn body_limit(max_items: usize) -> usize {
    max_items.saturating_mul(BYTES_PER_ITEM).max(MAX_BODY_BYTES)
}

fn refused_item(index: usize, e: ApiError) -> ItemResult {
    ItemResult { index, status: e.status().as_u16(), payment: None, replayed: false, error: Some(e.into()) }
}

fn accepted_item(index: usize, payment: Option<PaymentView>, replayed: bool) -> ItemResult {
    ItemResult { index, status: StatusCode::ACCEPTED.as_u16(), payment, replayed, error: None }
}

/// A replayed item's payment. The snapshot was written from this same
/// `PaymentView`, so it reads back as it was first answered. One that does
/// not (written by a release whose shape differs, e.g. one before refunds,
/// whose payments had no `amount_refunded`) is answered with the payment as
/// it is now, by the id the snapshot names: without it the client would
/// know its item was accepted but not which payment to follow. Only a
/// snapshot naming no payment (or a failed read) leaves the item without
/// one. Never an error: other items of this batch may have just been
/// recorded, and an error answer must not hide that.
async fn replayed_view(app: &AppState, index: usize, snapshot: Value) -> Option<PaymentView> {
    let unreadable = match serde_json::from_value(snapshot.clone()) {
        Ok(view) => return Some(view),
        Err(e) => e,
    };
    let id = snapshot.get("id").and_then(Value::as_str).and_then(|id| id.parse::<PaymentId>().ok());
    let now = match id {
        Some(id) => super::payments::read(app, id).await.unwrap_or_else(|e| {
            warn!(index, payment_id = %id, error = %e.message, "a replayed batch item's payment could not be read");
            None
        }),
        None => None,
    };
    let answered = if now.is_some() { "the payment as it is now" } else { "no payment" };
    warn!(index, error = %unreadable, answered, "a replayed batch item's snapshot does not read as a payment");
    now.map(PaymentView::from)
}

/// Submits many payments in one request, each answered on its own (or,
/// `atomic`, linked: recorded and settled all or none).
#[utoipa::path(post, path = "/api/v1/payments/batch", operation_id = "createPaymentBatch", tag = "payments",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Every item answered in `results`, in order: 202 with the payment (`replayed` when its \
            idempotency_key answered it), or the error status and error the item alone would have had", body = BatchResponse),
        (status = 422, description = "Nothing recorded. `invalid_body`: not an object with a non-empty `payments` list; \
            `too_many_items`: over BATCH_MAX_ITEMS; `atomic_batch_refused`: an atomic batch with an invalid item, each \
            refused item in `results`; `idempotency_key_reused`: an atomic batch whose keys are neither all new nor all replays \
            of that same atomic batch; `too_many_items` also when the batch has more items than the token's API_RATE_BURST \
            (it counts one request per item against the token's rate: over the rate, 429 `rate_limited`)", body = AtomicBatchRefusal),
    ),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(items = body.payments.len(), atomic = body.atomic))]
pub async fn create(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let max = app.batch_max_items;
    if body.payments.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("payments: 1 to {max} items expected, got none"),
        ));
    }
    if body.payments.len() > max {
        return Err(ApiError::new(
            ErrorCode::TooManyItems,
            format!("payments: at most {max} items per batch, got {}", body.payments.len()),
        ));
    }
    // A batch costs its token one request per item, charged before any
    // item is looked at: its work (account look-ups, inserts) grows with
    // its items, and a 1,000-item batch counted as one request let a token
    // do a thousand requests' work within its rate.
    let items = u32::try_from(body.payments.len()).unwrap_or(u32::MAX);
    if items > app.tokens.burst() {
        return Err(ApiError::new(
            ErrorCode::TooManyItems,
            format!(
                "payments: a batch counts as one request per item, and this token may make at most {} at once; got {items}",
                app.tokens.burst()
            ),
        ));
    }
    // The request itself was counted on the way in.
    if let Err(over) = app.tokens.charge(&caller, items - 1) {
        return Ok(over.into_response());
    }
    let atomic = body.atomic;
    let (valid, refused) = validate(&app, body.payments, atomic).await?;
    if atomic && !refused.is_empty() {
        return Ok(refuse_atomic(refused));
    }
    let (indexes, items): (Vec<usize>, Vec<BatchItem>) = valid.into_iter().unzip();
    let mut results: Vec<ItemResult> = refused;
    if !items.is_empty() {
        let outcomes =
            app.intake.accept_batch(items, atomic, |p| json!(PaymentView::from(p.clone()))).await?;
        for (index, outcome) in indexes.into_iter().zip(outcomes) {
            results.push(match outcome {
                Idempotent::Created(p) => accepted_item(index, Some(PaymentView::from(p)), false),
                Idempotent::Replayed(snapshot) => {
                    accepted_item(index, replayed_view(&app, index, snapshot).await, true)
                }
                Idempotent::KeyReused => refused_item(
                    index,
                    ApiError::new(
                        ErrorCode::IdempotencyKeyReused,
                        "idempotency_key: already used with a different request",
                    ),
                ),
            });
        }
    }
    results.sort_unstable_by_key(|r| r.index);
    Ok((StatusCode::OK, Json(BatchResponse { results })).into_response())
}

/// Each item parsed and validated as `POST /api/v1/payment` would be, by
/// index: the valid ones, and the results of the refused ones. The
/// accounts' currencies are looked up for the whole batch first, with one
/// query, rather than per item.
async fn validate(
    app: &AppState,
    items: Vec<Value>,
    atomic: bool,
) -> Result<(Vec<(usize, BatchItem)>, Vec<ItemResult>), ApiError> {
    let parsed: Vec<Result<(CreatePayment, Option<IdempotencyKey>), ApiError>> =
        items.into_iter().map(parse_item).collect();
    let accounts: Vec<AccountId> =
        parsed.iter().flatten().flat_map(|(item, _)| super::payments::accounts_of(item)).flatten().collect();
    app.intake.learn_currencies(&accounts).await?;

    let (mut valid, mut refused) = (Vec::new(), Vec::new());
    let mut keys: HashMap<String, usize> = HashMap::new();
    for (index, item) in parsed.into_iter().enumerate() {
        let checked = async {
            let (item, key) = item?;
            let payment = super::payments::validate(item, &app.intake).await?;
            if atomic && payment.capture.hold_secs().is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidCapture,
                    "capture: an atomic batch takes automatic payments only",
                ));
            }
            if let Some(key) = &key {
                if let Some(first) = keys.get(key.as_str()) {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyKeyReused,
                        format!("idempotency_key: already used by item {first} of this batch"),
                    ));
                }
                keys.insert(key.as_str().to_owned(), index);
            }
            Ok::<_, ApiError>(BatchItem { payment, key })
        };
        match checked.await {
            Ok(item) => valid.push((index, item)),
            Err(e) => refused.push(refused_item(index, e)),
        }
    }
    Ok((valid, refused))
}

/// One item: a payment's body, with its own `idempotency_key`.
fn parse_item(item: Value) -> Result<(CreatePayment, Option<IdempotencyKey>), ApiError> {
    let Value::Object(mut fields) = item else {
        return Err(ApiError::new(ErrorCode::InvalidBody, "an item must be a JSON object"));
    };
    let key = match fields.remove("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(IdempotencyKey::parse(&text).map_err(|e| {
                ApiError::new(ErrorCode::InvalidIdempotencyKey, format!("idempotency_key: {e}"))
            })?)
        }
        Some(_) => {
            return Err(ApiError::new(ErrorCode::InvalidIdempotencyKey, "idempotency_key: must be a string"));
        }
    };
    let payment = serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.to_string()))?;
    Ok((payment, key))
}

/// An atomic batch with an invalid item: 422, nothing recorded, with every
/// refused item's result.
fn refuse_atomic(refused: Vec<ItemResult>) -> Response {
    let first = &refused[0];
    let reason =
        first.error.as_ref().map_or(String::new(), |e| format!("{}: {}", e.code.as_str(), e.message));
    let error = ApiError::new(
        ErrorCode::AtomicBatchRefused,
        format!(
            "item {} is invalid ({reason}); an atomic batch is recorded whole or not at all: nothing was recorded",
            first.index
        ),
    );
    crate::metrics::get().api_error(error.code.as_str());
    (error.status(), Json(AtomicBatchRefusal { error: error.into(), results: refused })).into_response()
}
