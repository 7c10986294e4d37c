//! `/api/v1/accounts/{id}/payments` and `/api/v1/accounts/{id}/statement`:
//! an account's payments page by page, and its per-day totals. Both read
//! the replica; the statement comes from a materialized view and says when
//! it was last refreshed.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, Utc};
use serde::Serialize;
use tracing::instrument;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use super::{AppState, Page, parse_id};
use crate::db::{self, accounts::Account};
use crate::domain::search::{IdRange, PaymentFilter};
use crate::domain::{AccountId, AmountSum, PaymentId};
use crate::events::PaymentView;

/// Longest statement span, in days.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    payments: Vec<PaymentView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<PaymentId>,
}

impl PaymentPage {
    pub fn new(payments: Vec<PaymentView>, next_cursor: Option<PaymentId>) -> Self {
        PaymentPage { payments, next_cursor }
    }
}

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// The account, or 404 (by the read policy, so a just-opened account is
/// found).
async fn require_account(app: &AppState, id: AccountId) -> Result<Account, ApiError> {
    app.db
        .read_one(|pool| db::accounts::get(pool, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))
}

/// An account's payments, newest first (keyset pages: stable while new payments arrive).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/payments", operation_id = "listAccountPayments", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("cursor" = Option<PaymentId>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of the account's payments", body = PaymentPage)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn payments(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<PaymentPage>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let page = Page::<PaymentId>::parse(&query)?;
    require_account(&app, id).await?;
    let filter = PaymentFilter { account: Some(id), ..PaymentFilter::default() };
    let range = IdRange::of_page(page.cursor.map(|c| c.as_uuid()), None, None);
    let payments = app.db.read(|pool| db::statements::payments(pool, &filter, range, page.limit)).await?;
    let next_cursor = page.next_cursor(&payments, |p| p.id);
    Ok(Json(PaymentPage { payments: payments.into_iter().map(PaymentView::from).collect(), next_cursor }))
}

/// One UTC day of an account's ledger.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatementDay)]
pub struct DayView {
    day: NaiveDate,
    debits: AmountSum,
    credits: AmountSum,
    entries: i64,
    closing_balance: AmountSum,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    account_id: AccountId,
    from: NaiveDate,
    to: NaiveDate,
    /// Days with ledger activity, oldest first.
    days: Vec<DayView>,
    /// The statement reflects the ledger as of this time (the view's last
    /// refresh); newer activity appears after the next refresh.
    as_of: DateTime<Utc>,
}

fn date(query: &HashMap<String, String>, name: &str, default: NaiveDate) -> Result<NaiveDate, ApiError> {
    match query.get(name) {
        None => Ok(default),
        // Years 1 to 9999 only: chrono reads years PostgreSQL cannot store
        // and date arithmetic near them overflows.
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|d| (1..=9999).contains(&d.year()))
            .ok_or_else(|| {
                bad_query(format!("{name} must be a date from 0001-01-01 to 9999-12-31, like 2026-11-24"))
            }),
    }
}

fn sum(minor: &str, exponent: u32) -> Result<AmountSum, ApiError> {
    AmountSum::from_minor_text(minor, exponent).ok_or_else(|| {
        crate::Error::Corrupt(format!("statement sum {minor:?} is not a non-negative amount")).into()
    })
}

/// An account's per-day totals (UTC days), from a view refreshed every `STATEMENT_REFRESH_SECS`.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/statement", operation_id = "getAccountStatement", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("from" = Option<NaiveDate>, Query, description = "First day; default 29 days before `to`"),
        ("to" = Option<NaiveDate>, Query, description = "Last day; default today. The span is at most 366 days")),
    responses((status = 200, description = "The statement", body = Statement)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn statement(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Statement>, ApiError> {
    let id: AccountId = parse_id(&id)?;
    let today = Utc::now().date_naive();
    let to = date(&query, "to", today)?;
    let month_before =
        to.checked_sub_signed(Days::days(29)).ok_or_else(|| bad_query("to is too far in the past"))?;
    let from = date(&query, "from", month_before)?;
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(bad_query(format!("from must not be after to, and the span at most {MAX_DAYS} days")));
    }
    let exponent = require_account(&app, id).await?.currency.exponent();
    let (days, as_of) = app.db.read(|pool| db::statements::days(pool, id, from, to)).await?;
    let days = days
        .into_iter()
        .map(|d| {
            Ok(DayView {
                day: d.day,
                debits: sum(&d.debits, exponent)?,
                credits: sum(&d.credits, exponent)?,
                entries: d.entries,
                closing_balance: sum(&d.closing_balance, exponent)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(Statement { account_id: id, from, to, days, as_of }))
}
