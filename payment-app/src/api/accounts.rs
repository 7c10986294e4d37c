//! `/api/v1/accounts`: open an account, read one.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::instrument;

use super::auth::{Caller, Scope};
use super::error::{ApiError, ErrorCode};
use super::extract::{IdempotencyHeader, OptionalJsonBody};
use super::{AppState, answer_create, parse_id};
use crate::db::{self, accounts::Account};
use crate::domain::{AccountId, Amount};
use crate::intake;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Decimal string; absent means zero.
    initial_balance: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AccountView {
    id: AccountId,
    balance: Amount,
    /// Balance minus what open authorizations hold.
    available_balance: Amount,
    created_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            id: a.id,
            balance: a.balance,
            available_balance: a.available(),
            created_at: a.created_at,
        }
    }
}

#[instrument(skip_all)]
pub async fn create(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    IdempotencyHeader(key): IdempotencyHeader,
    OptionalJsonBody(body): OptionalJsonBody<CreateAccount>,
) -> Result<Response, ApiError> {
    let initial_balance = match body.initial_balance.as_deref() {
        None => Amount::ZERO,
        Some(text) => Amount::parse(text)
            .map_err(|e| ApiError::new(ErrorCode::InvalidAmount, format!("initial_balance: {e}")))?,
    };
    // An opening balance is new money.
    caller.require(if initial_balance.is_zero() { Scope::Pay } else { Scope::Issue })?;
    let outcome = intake::open_account(&app.db, app.issuance, initial_balance, key.as_ref(), |a| {
        json!(AccountView::from(a.clone()))
    })
    .await?;
    answer_create(outcome, StatusCode::CREATED, |a| {
        (format!("/api/v1/accounts/{}", a.id), AccountView::from(a))
    })
}

#[instrument(skip_all, fields(account_id = %id))]
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<AccountView>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    // The replica serves reads; an account it does not have yet (just
    // opened) or a replica that fails is read from the primary. A balance
    // shown here may lag the primary by the replica's delay: nothing is
    // decided on it (settle reads balances on the primary, under row locks).
    let account = match db::accounts::get(&app.db.replica, id).await {
        Ok(Some(account)) => Some(account),
        Ok(None) => db::accounts::get(&app.db.primary, id).await?,
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "read replica failed; reading the primary");
            db::accounts::get(&app.db.primary, id).await?
        }
    };
    account.map(|a| Json(a.into())).ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}
