//! `/api/v1/accounts/{id}/entries` and `/api/v1/accounts/{id}/balance`: an
//! account's ledger entries as balance transactions, and its balance at an
//! instant. Both read by the read policy (the replica first), so the most
//! recent entries may show up to the replica's lag late.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use super::{AppState, parse_id, parse_limit};
use crate::db::{self, entries::Order};
use crate::domain::{AccountId, Currency, PaymentId, RefundId, SignedMoney};

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// One ledger entry of an account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LedgerEntry)]
pub struct EntryView {
    /// The entry's id: pass as `after` to page on from it.
    id: i64,
    /// `issuance`, `debit`, `credit`, `hold`, `release`, `capture`,
    /// `refund_debit` or `refund_credit`. A `hold` and a `release` move the
    /// held amount, not the balance.
    kind: String,
    /// The payment it belongs to (null for issuance and refunds).
    payment_id: Option<PaymentId>,
    /// The refund it belongs to (refund entries only).
    refund_id: Option<RefundId>,
    /// Signed: negative for what leaves the account (or its held amount).
    amount: SignedMoney,
    /// The account's balance right after this entry.
    balance_after: SignedMoney,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    entries: Vec<EntryView>,
    /// Pass as `after` (with the same `order`) for the next page; null on the last page.
    next_after: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceAt {
    account_id: AccountId,
    at: DateTime<Utc>,
    /// The balance at `at`: after every entry made at or before it.
    balance: SignedMoney,
}

fn signed(minor: i64, currency: Currency) -> Result<SignedMoney, ApiError> {
    SignedMoney::from_minor(minor, currency)
        .ok_or_else(|| crate::Error::Corrupt(format!("ledger amount {minor} out of range")).into())
}

async fn currency_of(app: &AppState, id: AccountId) -> Result<Currency, ApiError> {
    app.db
        .read_one(|pool| db::accounts::get(pool, id))
        .await?
        .map(|a| a.currency)
        .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}

/// An account's ledger entries, each with the balance after it (keyset pages, oldest first by default).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/entries", operation_id = "listAccountEntries", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("after" = Option<i64>, Query, description = "`next_after` of the previous page: the entries after that one"),
        ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "`asc` (default): oldest first; `desc`: newest first")),
    responses((status = 200, description = "A page of the account's entries", body = EntryPage)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<EntryPage>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let limit = parse_limit(&query, 50, 500)?;
    let after = query
        .get("after")
        .map(|text| text.parse::<i64>().map_err(|_| bad_query("after must be an entry id")))
        .transpose()?;
    let order = match query.get("order").map(String::as_str) {
        None | Some("asc") => Order::OldestFirst,
        Some("desc") => Order::NewestFirst,
        Some(_) => return Err(bad_query("order must be asc or desc")),
    };
    let currency = currency_of(&app, id).await?;
    let entries = app.db.read(|pool| db::entries::page(pool, id, after, order, limit)).await?;
    let next_after = if entries.len() as i64 == limit { entries.last().map(|e| e.id) } else { None };
    let entries = entries
        .into_iter()
        .map(|e| {
            Ok(EntryView {
                id: e.id,
                kind: e.kind,
                payment_id: e.payment_id,
                refund_id: e.refund_id,
                amount: signed(e.amount, currency)?,
                balance_after: signed(e.balance_after, currency)?,
                created_at: e.created_at,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(EntryPage { entries, next_after }))
}

/// An account's balance at an instant; 404 before the account was opened.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/balance", operation_id = "getAccountBalanceAt", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("at" = DateTime<Utc>, Query, description = "RFC 3339 instant, like 2026-12-07T14:00:00Z")),
    responses((status = 200, description = "The balance at that instant; 404 (`not_found`) when the account was opened after it", body = BalanceAt)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn balance_at(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<BalanceAt>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let at = query
        .get("at")
        .ok_or_else(|| bad_query("at is required: an RFC 3339 instant"))
        .and_then(|text| {
            DateTime::parse_from_rfc3339(text)
                .map_err(|e| bad_query(format!("at must be an RFC 3339 instant: {e}")))
        })?
        .with_timezone(&Utc);
    let currency = currency_of(&app, id).await?;
    let balance =
        app.db.read_one(|pool| db::entries::balance_at(pool, id, at)).await?.ok_or_else(|| {
            ApiError::not_found(format!("account {id} did not exist at {}", at.to_rfc3339()))
        })?;
    Ok(Json(BalanceAt { account_id: id, at, balance: signed(balance, currency)? }))
}
