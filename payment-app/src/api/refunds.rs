//! Refunds: `POST /api/v1/payment/{id}/refunds` asks for one,
//! `GET /api/v1/payment/{id}/refunds` lists a payment's, `GET
//! /api/v1/refunds/{id}` reads one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
pub use payrail_types::CreateRefund;
pub use payrail_types::RefundList;
use serde_json::json;
use tracing::instrument;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{IdempotencyHeader, OptionalJsonBody};
use super::{AppState, answer_create, parse_id, payments};
use crate::db;
use crate::domain::{Amount, AmountError, PaymentId, RefundId};
use crate::events::RefundView;
use crate::intake;

/// The amount asked for, in the payment's currency (its decimals); `None`
/// for all that is left. The payment is read only when an amount is given:
/// it is what says how many decimals it may have.
async fn refund_amount(
    body: &CreateRefund,
    app: &AppState,
    payment_id: PaymentId,
) -> Result<Option<Amount>, ApiError> {
    let Some(text) = body.amount.as_deref() else { return Ok(None) };
    let invalid_amount = |e: AmountError| ApiError::new(ErrorCode::InvalidAmount, e.to_string());
    Amount::check_syntax(text).map_err(invalid_amount)?;
    let payment = payments::read(app, payment_id).await?.ok_or_else(|| payments::not_found(payment_id))?;
    let amount = payment.currency.amount(text).map_err(invalid_amount)?;
    if amount.is_zero() {
        return Err(ApiError::new(ErrorCode::InvalidAmount, "amount must be greater than zero"));
    }
    Ok(Some(amount))
}

/// Asks for a refund of a `done` payment, all that is left or `amount`.
#[utoipa::path(post, path = "/api/v1/payment/{id}/refunds", operation_id = "createRefund", tag = "refunds",
    params(("id" = PaymentId, Path, description = "The payment's id"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: 1 to 255 visible ASCII characters")),
    request_body(content = Option<CreateRefund>, description = "Optional: without a body, all that is left is refunded"),
    responses(
        (status = 202, description = "Accepted, `pending`; the replay of an earlier request with the same Idempotency-Key answers as it did, with `Idempotent-Replayed: true`", body = RefundView,
            headers(("Location" = String, description = "The refund's URL (not on a replay)"), ("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = 409, description = "`invalid_state`: the payment is not `done`", body = ErrorBody),
    ),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn create(
    State(app): State<AppState>,
    Path(id): Path<String>,
    IdempotencyHeader(key): IdempotencyHeader,
    OptionalJsonBody(body): OptionalJsonBody<CreateRefund>,
) -> Result<Response, ApiError> {
    let payment_id: PaymentId = parse_id(&id)?;
    let amount = refund_amount(&body, &app, payment_id).await?;
    let outcome = intake::request_refund(
        &app.db,
        app.intake.publisher(),
        payment_id,
        amount,
        body.reason,
        key.as_ref(),
        |r| json!(RefundView::from(r.clone())),
    )
    .await?;
    answer_create(outcome, StatusCode::ACCEPTED, |r| {
        (format!("/api/v1/refunds/{}", r.id), RefundView::from(r))
    })
}

/// Refunds are read from the primary: they are few, and a refund answered
/// 202 must be found at once.
#[utoipa::path(get, path = "/api/v1/payment/{id}/refunds", operation_id = "listPaymentRefunds", tag = "refunds",
    description = "A payment's refunds, oldest first.",
    params(("id" = PaymentId, Path, description = "The payment's id")),
    responses((status = 200, description = "The payment's refunds", body = RefundList)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn list(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<RefundList>, ApiError> {
    let payment_id: PaymentId = parse_id(&id)?;
    if db::payments::get(&app.db.primary, payment_id).await?.is_none() {
        return Err(ApiError::not_found(format!("payment {payment_id} does not exist")));
    }
    let refunds = db::refunds::of_payment(&app.db.primary, payment_id).await?;
    Ok(Json(RefundList { refunds: refunds.into_iter().map(RefundView::from).collect() }))
}

/// One refund.
#[utoipa::path(get, path = "/api/v1/refunds/{id}", operation_id = "getRefund", tag = "refunds",
    params(("id" = RefundId, Path, description = "The refund's id")),
    responses((status = 200, description = "The refund", body = RefundView)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(refund_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<RefundView>, ApiError> {
    let id: RefundId = parse_id(&id)?;
    let refund = db::refunds::get(&app.db.primary, id).await?;
    refund.map(|r| Json(r.into())).ok_or_else(|| ApiError::not_found(format!("refund {id} does not exist")))
}
