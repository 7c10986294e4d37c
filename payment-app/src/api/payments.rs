//! `/api/v1/payment`: submit a payment, read one, capture or void an
//! authorized one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{instrument, warn};

use super::error::{ApiError, ErrorCode};
use super::extract::{IdempotencyHeader, JsonBody, OptionalJsonBody};
use super::{AppState, answer_create, parse_id};
use crate::db;
use crate::domain::{AccountId, Amount, Capture, NewPayment, PaymentId, PaymentRuleError};
use crate::error::chain;
use crate::events::PaymentView;

/// The request as sent. Fields are strings so that each can be parsed into
/// its domain type with an error that names it; unknown fields are refused,
/// since a misspelt field in a payment is a mistake, not an extension.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    from_account: String,
    to_account: String,
    amount: String,
    #[serde(default)]
    payment_description: Option<String>,
    /// `automatic` (default) or `manual`.
    #[serde(default)]
    capture: Option<String>,
    /// For `manual`: seconds the hold lasts once authorized.
    #[serde(default)]
    hold_expires_in_secs: Option<i64>,
}

impl CreatePayment {
    /// Everything the API can know at once; whether the payer can afford it
    /// is for settle to decide.
    fn validate(self) -> Result<NewPayment, ApiError> {
        let from_account: AccountId = self
            .from_account
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::InvalidAccountId, format!("from_account: {e}")))?;
        let to_account: AccountId = self
            .to_account
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::InvalidAccountId, format!("to_account: {e}")))?;
        let amount = Amount::parse(&self.amount)
            .map_err(|e| ApiError::new(ErrorCode::InvalidAmount, e.to_string()))?;
        let capture =
            Capture::parse(self.capture.as_deref(), self.hold_expires_in_secs).map_err(rule_error)?;
        NewPayment::new(from_account, to_account, amount, self.payment_description)
            .map(|p| p.with_capture(capture))
            .map_err(rule_error)
    }
}

fn rule_error(e: PaymentRuleError) -> ApiError {
    let code = match e {
        PaymentRuleError::ZeroAmount => ErrorCode::InvalidAmount,
        PaymentRuleError::SameAccount => ErrorCode::SameAccount,
        PaymentRuleError::DescriptionTooLong => ErrorCode::DescriptionTooLong,
        PaymentRuleError::DescriptionHasNul => ErrorCode::InvalidBody,
        PaymentRuleError::UnknownCapture(_)
        | PaymentRuleError::HoldOutOfRange
        | PaymentRuleError::HoldWithoutManualCapture => ErrorCode::InvalidCapture,
    };
    ApiError::new(code, e.to_string())
}

/// `POST /api/v1/payment/{id}/capture`: all that is authorized, or `amount`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    #[serde(default)]
    amount: Option<String>,
}

impl CaptureRequest {
    /// The amount to capture; `None` for all that is authorized.
    fn amount(&self) -> Result<Option<Amount>, ApiError> {
        let Some(text) = self.amount.as_deref() else { return Ok(None) };
        let amount =
            Amount::parse(text).map_err(|e| ApiError::new(ErrorCode::InvalidAmount, e.to_string()))?;
        if amount.is_zero() {
            return Err(ApiError::new(ErrorCode::InvalidAmount, PaymentRuleError::ZeroAmount.to_string()));
        }
        Ok(Some(amount))
    }
}

#[instrument(skip_all, fields(payment_id = %id))]
pub async fn capture(
    State(app): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CaptureRequest>,
) -> Result<Response, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let amount = body.amount()?;
    let payment = app.intake.request_hold(id, false, amount).await?;
    Ok((StatusCode::ACCEPTED, Json(PaymentView::from(payment))).into_response())
}

#[instrument(skip_all, fields(payment_id = %id))]
pub async fn void(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let payment = app.intake.request_hold(id, true, None).await?;
    Ok((StatusCode::ACCEPTED, Json(PaymentView::from(payment))).into_response())
}

#[instrument(skip_all)]
pub async fn create(
    State(app): State<AppState>,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CreatePayment>,
) -> Result<Response, ApiError> {
    let payment = body.validate()?;
    let outcome =
        app.intake.accept_payment(payment, key.as_ref(), |p| json!(PaymentView::from(p.clone()))).await?;
    answer_create(outcome, StatusCode::ACCEPTED, |p| {
        (format!("/api/v1/payment/{}", p.id), PaymentView::from(p))
    })
}

#[instrument(skip_all, fields(payment_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<PaymentView>, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    // The replica serves reads. A payment it has not received yet (lag right
    // after the 202) is looked up on the primary before answering 404, and
    // so is everything while the replica is unreachable.
    let payment = match db::payments::get(&app.db.replica, id).await {
        Ok(Some(payment)) => Some(payment),
        Ok(None) => db::payments::get(&app.db.primary, id).await?,
        Err(e) => {
            warn!(error = %chain(&e), "read replica failed; reading the primary");
            db::payments::get(&app.db.primary, id).await?
        }
    };
    payment.map(|p| Json(p.into())).ok_or_else(|| ApiError::not_found(format!("payment {id} does not exist")))
}
