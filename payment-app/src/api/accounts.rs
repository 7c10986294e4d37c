//! `/api/v1/accounts`: open an account, read one, change its metadata or
//! its credit limit.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
pub use payrail_types::AccountView;
pub use payrail_types::{CreateAccount, UpdateAccount, UpdateMetadata};
use serde_json::json;
use tracing::instrument;

use super::auth::{Caller, Scope};
use super::error::{ApiError, ErrorCode};
use super::extract::{IdempotencyHeader, JsonBody, OptionalJsonBody};
use super::{AppState, answer_create, parse_id};
use crate::db;
use crate::db::accounts::{Account, AccountChange, Opening};
use crate::domain::{AccountId, Amount, Currency, Metadata, MetadataPatch, SignedMoney};
use crate::intake;

/// The metadata change of a `PATCH` body.
pub fn metadata_patch(body: &UpdateMetadata) -> Result<MetadataPatch, ApiError> {
    MetadataPatch::from_json(&body.metadata)
        .map_err(|e| ApiError::new(ErrorCode::InvalidMetadata, e.to_string()))
}

/// Metadata as sent with a create; absent (or `null`) is none.
pub fn parse_metadata(value: Option<&serde_json::Value>) -> Result<Metadata, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Metadata::default()),
        Some(value) => {
            Metadata::from_json(value).map_err(|e| ApiError::new(ErrorCode::InvalidMetadata, e.to_string()))
        }
    }
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            id: a.id,
            currency: a.currency,
            balance: SignedMoney::balance(a.balance, a.currency),
            available_balance: a.currency.money(a.available()),
            credit_limit: a.currency.money(a.credit_limit),
            metadata: a.metadata,
            created_at: a.created_at,
        }
    }
}

/// A credit limit as sent, in the account's currency.
fn parse_credit_limit(text: &str, currency: Currency) -> Result<Amount, ApiError> {
    currency.amount(text).map_err(|e| ApiError::new(ErrorCode::InvalidAmount, format!("credit_limit: {e}")))
}

/// Opens an account.
#[utoipa::path(post, path = "/api/v1/accounts", operation_id = "createAccount", tag = "accounts",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retry safe: 1 to 255 visible ASCII characters")),
    request_body(content = Option<CreateAccount>, description = "Optional: an empty body opens a zero-balance account in the default currency"),
    responses(
        (status = 201, description = "Opened; the replay of an earlier request with the same Idempotency-Key answers as it did, with `Idempotent-Replayed: true`", body = AccountView,
            headers(("Location" = String, description = "The account's URL (not on a replay)"), ("Idempotent-Replayed" = String, description = "`true` on a replay"))),
    ),
    security(("bearer" = ["pay", "issue"])))]
#[instrument(skip_all)]
pub async fn create(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    IdempotencyHeader(key): IdempotencyHeader,
    OptionalJsonBody(body): OptionalJsonBody<CreateAccount>,
) -> Result<Response, ApiError> {
    let currency = match body.currency.as_deref() {
        None => app.default_currency,
        Some(code) => Currency::parse(code)
            .map_err(|e| ApiError::new(ErrorCode::InvalidCurrency, format!("currency: {e}")))?,
    };
    let initial_balance = match body.initial_balance.as_deref() {
        None => Amount::ZERO,
        Some(text) => currency
            .amount(text)
            .map_err(|e| ApiError::new(ErrorCode::InvalidAmount, format!("initial_balance: {e}")))?,
    };
    let credit_limit = match body.credit_limit.as_deref() {
        None => Amount::ZERO,
        Some(text) => parse_credit_limit(text, currency)?,
    };
    let metadata = parse_metadata(body.metadata.as_ref())?;
    // An opening balance is new money, and credit is money to spend too.
    let new_money = !initial_balance.is_zero() || !credit_limit.is_zero();
    caller.require(if new_money { Scope::Issue } else { Scope::Pay })?;
    let outcome = intake::open_account(
        &app.db,
        app.issuance,
        Opening { currency, initial_balance, credit_limit },
        &metadata,
        key.as_ref(),
        |a| json!(AccountView::from(a.clone())),
    )
    .await?;
    answer_create(outcome, StatusCode::CREATED, |a| {
        (format!("/api/v1/accounts/{}", a.id), AccountView::from(a))
    })
}

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", operation_id = "getAccount", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id")),
    responses((status = 200, description = "The account", body = AccountView)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<AccountView>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    // By the read policy: a balance shown here may lag the primary by the
    // replica's delay (at most `db::reads::MAX_LAG`): nothing is decided on
    // it (settle reads balances on the primary, under row locks).
    let account = app.db.read_one(|pool| db::accounts::get(pool, id)).await?;
    account.map(|a| Json(a.into())).ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}

/// Changes an account's metadata (`pay`), its credit limit (`issue`), or both.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", operation_id = "updateAccountMetadata", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id")),
    request_body = UpdateAccount,
    responses((status = 200, description = "The account with its metadata or credit limit changed", body = AccountView)),
    security(("bearer" = ["pay", "issue"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn update(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAccount>,
) -> Result<Json<AccountView>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let patch = match &body.metadata {
        Some(metadata) => {
            caller.require(Scope::Pay)?;
            Some(
                MetadataPatch::from_json(metadata)
                    .map_err(|e| ApiError::new(ErrorCode::InvalidMetadata, e.to_string()))?,
            )
        }
        None => None,
    };
    let credit_limit = match body.credit_limit.as_deref() {
        Some(text) => {
            caller.require(Scope::Issue)?;
            // The limit is in the account's currency, which never changes.
            let currency = db::accounts::get(&app.db.primary, id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))?
                .currency;
            let limit = parse_credit_limit(text, currency)?;
            app.issuance.check_credit(limit, currency).map_err(crate::Error::from)?;
            Some(limit)
        }
        None => None,
    };
    if patch.is_none() && credit_limit.is_none() {
        return Err(ApiError::new(ErrorCode::InvalidBody, "send metadata, credit_limit or both"));
    }
    let change = AccountChange { metadata: patch.as_ref(), credit_limit };
    db::accounts::update(&app.db.primary, id, change, app.issuance.total)
        .await?
        .map(|a| Json(a.into()))
        .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}
