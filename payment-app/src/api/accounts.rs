//! `/api/v1/accounts`: open an account, read one, change its metadata.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::instrument;
use utoipa::ToSchema;

use super::auth::{Caller, Scope};
use super::error::{ApiError, ErrorCode};
use super::extract::{IdempotencyHeader, JsonBody, OptionalJsonBody};
use super::{AppState, answer_create, parse_id};
use crate::db::{self, accounts::Account};
use crate::domain::{AccountId, Amount, Currency, Metadata, MetadataPatch, Money};
use crate::intake;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Decimal string in the account's currency; absent means zero. Above
    /// zero it is new money, and takes the `issue` scope.
    #[schema(pattern = "^[0-9]+(\\.[0-9]+)?$")]
    initial_balance: Option<String>,
    /// ISO 4217 code; absent means the `DEFAULT_CURRENCY` setting.
    #[schema(value_type = Option<Currency>)]
    currency: Option<String>,
    /// The client's own references: an object of strings.
    #[schema(value_type = Option<Metadata>)]
    metadata: Option<serde_json::Value>,
}

/// `PATCH` bodies: the metadata change and nothing else.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMetadata {
    /// Keys to set to a string, or to remove with `null`.
    #[schema(value_type = MetadataPatch)]
    metadata: serde_json::Value,
}

impl UpdateMetadata {
    pub fn patch(&self) -> Result<MetadataPatch, ApiError> {
        MetadataPatch::from_json(&self.metadata)
            .map_err(|e| ApiError::new(ErrorCode::InvalidMetadata, e.to_string()))
    }
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

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    id: AccountId,
    currency: Currency,
    /// With the currency's decimals.
    balance: Money,
    /// Balance minus what open authorizations hold.
    available_balance: Money,
    metadata: Metadata,
    created_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            id: a.id,
            currency: a.currency,
            balance: a.currency.money(a.balance),
            available_balance: a.currency.money(a.available()),
            metadata: a.metadata,
            created_at: a.created_at,
        }
    }
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
    let metadata = parse_metadata(body.metadata.as_ref())?;
    // An opening balance is new money.
    caller.require(if initial_balance.is_zero() { Scope::Pay } else { Scope::Issue })?;
    let outcome = intake::open_account(
        &app.db,
        app.issuance,
        currency,
        initial_balance,
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

/// Changes an account's metadata, and nothing else.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", operation_id = "updateAccountMetadata", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id")),
    request_body = UpdateMetadata,
    responses((status = 200, description = "The account with its metadata changed", body = AccountView)),
    security(("bearer" = ["pay"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateMetadata>,
) -> Result<Json<AccountView>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let patch = body.patch()?;
    db::accounts::update_metadata(&app.db.primary, id, &patch)
        .await?
        .map(|a| Json(a.into()))
        .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}
