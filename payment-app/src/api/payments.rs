//! `/api/v1/payment`: submit a payment, read one, change its metadata,
//! capture or void an authorized one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use payrail_types::{CaptureRequest, CreatePayment};
use serde_json::json;
use tracing::instrument;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{IdempotencyHeader, JsonBody, OptionalJsonBody};
use super::{AppState, answer_create, parse_id};
use crate::db;
use crate::db::payments::Payment;
use crate::domain::{AccountId, Amount, Capture, NewPayment, PaymentId, PaymentRuleError, payment_currency};
use crate::events::PaymentView;

/// The accounts a payment names, those that parse: what a batch looks the
/// currencies of up front.
pub(super) fn accounts_of(p: &CreatePayment) -> [Option<AccountId>; 2] {
    [p.from_account.parse().ok(), p.to_account.parse().ok()]
}

/// Everything the API can know of a payment at once; whether the payer can
/// afford it is for settle to decide. The amount's decimals depend on the
/// accounts' currency, which `intake` looks up.
pub(super) async fn validate(
    p: CreatePayment,
    intake: &crate::intake::Intake,
) -> Result<NewPayment, ApiError> {
    let from_account: AccountId = p
        .from_account
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidAccountId, format!("from_account: {e}")))?;
    let to_account: AccountId = p
        .to_account
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidAccountId, format!("to_account: {e}")))?;
    let metadata = super::accounts::parse_metadata(p.metadata.as_ref())?;
    let invalid_amount =
        |e: crate::domain::AmountError| ApiError::new(ErrorCode::InvalidAmount, e.to_string());
    Amount::check_syntax(&p.amount).map_err(invalid_amount)?;
    let capture = Capture::parse(p.capture.as_deref(), p.hold_expires_in_secs).map_err(rule_broken)?;
    let [from_currency, to_currency] = intake.currencies_of([from_account, to_account]).await?;
    let currency = payment_currency(from_currency, to_currency).map_err(rule_broken)?;
    let amount = currency.amount(&p.amount).map_err(invalid_amount)?;
    let payment = NewPayment::new(from_account, to_account, amount, currency, p.payment_description)
        .map_err(rule_broken)?;
    Ok(NewPayment { metadata, ..payment.with_capture(capture) })
}

fn rule_broken(e: PaymentRuleError) -> ApiError {
    let code = match e {
        PaymentRuleError::ZeroAmount => ErrorCode::InvalidAmount,
        PaymentRuleError::SameAccount => ErrorCode::SameAccount,
        PaymentRuleError::DescriptionTooLong => ErrorCode::DescriptionTooLong,
        PaymentRuleError::DescriptionHasNul => ErrorCode::InvalidBody,
        PaymentRuleError::CurrencyMismatch { .. } => ErrorCode::CurrencyMismatch,
        PaymentRuleError::UnknownCapture(_)
        | PaymentRuleError::HoldOutOfRange
        | PaymentRuleError::HoldWithoutManualCapture => ErrorCode::InvalidCapture,
    };
    ApiError::new(code, e.to_string())
}

/// The amount to capture, in the payment's currency (its decimals); `None`
/// for all that is authorized. The payment is read only when an amount is
/// given: it is what says how many decimals the amount may have.
async fn capture_amount(
    body: &CaptureRequest,
    app: &AppState,
    id: PaymentId,
) -> Result<Option<Amount>, ApiError> {
    let Some(text) = body.amount.as_deref() else { return Ok(None) };
    let invalid_amount =
        |e: crate::domain::AmountError| ApiError::new(ErrorCode::InvalidAmount, e.to_string());
    Amount::check_syntax(text).map_err(invalid_amount)?;
    let payment = read(app, id).await?.ok_or_else(|| not_found(id))?;
    let amount = payment.currency.amount(text).map_err(invalid_amount)?;
    if amount.is_zero() {
        return Err(ApiError::new(ErrorCode::InvalidAmount, PaymentRuleError::ZeroAmount.to_string()));
    }
    Ok(Some(amount))
}

/// Captures an authorized payment, all of it or `amount`.
#[utoipa::path(post, path = "/api/v1/payment/{id}/capture", operation_id = "capturePayment", tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment's id")),
    request_body(content = Option<CaptureRequest>, description = "Optional: without a body, all that is authorized is captured"),
    responses(
        (status = 202, description = "The capture is recorded; the payment is still `authorized` until settle applies it", body = PaymentView),
        (status = 409, description = "`invalid_state`: not authorized, expired, or already asked to capture or void", body = ErrorBody),
    ),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn capture(
    State(app): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CaptureRequest>,
) -> Result<Response, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let amount = capture_amount(&body, &app, id).await?;
    let payment = app.intake.request_hold(id, false, amount).await?;
    Ok((StatusCode::ACCEPTED, Json(PaymentView::from(payment))).into_response())
}

/// Voids an authorized payment: settle releases the hold.
#[utoipa::path(post, path = "/api/v1/payment/{id}/void", operation_id = "voidPayment", tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment's id")),
    responses(
        (status = 202, description = "The void is recorded; the payment is still `authorized` until settle applies it", body = PaymentView),
        (status = 409, description = "`invalid_state`: not authorized, expired, or already asked to capture or void", body = ErrorBody),
    ),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn void(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let payment = app.intake.request_hold(id, true, None).await?;
    Ok((StatusCode::ACCEPTED, Json(PaymentView::from(payment))).into_response())
}

/// Submits a payment: recorded `pending`, settled moments later.
#[utoipa::path(post, path = "/api/v1/payment", operation_id = "createPayment", tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: 1 to 255 visible ASCII characters")),
    request_body = CreatePayment,
    responses(
        (status = 202, description = "Accepted, `pending`; the replay of an earlier request with the same Idempotency-Key answers as it did, with `Idempotent-Replayed: true`", body = PaymentView,
            headers(("Location" = String, description = "The payment's URL (not on a replay)"), ("Idempotent-Replayed" = String, description = "`true` on a replay"))),
    ),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all)]
pub async fn create(
    State(app): State<AppState>,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<CreatePayment>,
) -> Result<Response, ApiError> {
    let payment = validate(body, &app.intake).await?;
    let outcome =
        app.intake.accept_payment(payment, key.as_ref(), |p| json!(PaymentView::from(p.clone()))).await?;
    answer_create(outcome, StatusCode::ACCEPTED, |p| {
        (format!("/api/v1/payment/{}", p.id), PaymentView::from(p))
    })
}

/// One payment.
#[utoipa::path(get, path = "/api/v1/payment/{id}", operation_id = "getPayment", tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment's id")),
    responses((status = 200, description = "The payment", body = PaymentView)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<PaymentView>, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let payment = read(&app, id).await?;
    payment.map(|p| Json(p.into())).ok_or_else(|| not_found(id))
}

/// A payment, by the read policy (`db::reads`): one the replica has not
/// received yet (lag right after the 202) is looked up on the primary
/// before it is called missing.
pub(super) async fn read(app: &AppState, id: PaymentId) -> Result<Option<Payment>, ApiError> {
    Ok(app.db.read_one(|pool| db::payments::get(pool, id)).await?)
}

pub(super) fn not_found(id: PaymentId) -> ApiError {
    ApiError::not_found(format!("payment {id} does not exist"))
}

/// Changes a payment's metadata, whatever its status, and nothing else.
#[utoipa::path(patch, path = "/api/v1/payment/{id}", operation_id = "updatePaymentMetadata", tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment's id")),
    request_body = super::accounts::UpdateMetadata,
    responses((status = 200, description = "The payment with its metadata changed", body = PaymentView)),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(payment_id = %id))]
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<super::accounts::UpdateMetadata>,
) -> Result<Json<PaymentView>, ApiError> {
    let id: PaymentId = parse_id(&id)?;
    let patch = super::accounts::metadata_patch(&body)?;
    db::payments::update_metadata(&app.db.primary, id, &patch)
        .await?
        .map(|p| Json(p.into()))
        .ok_or_else(|| not_found(id))
}
