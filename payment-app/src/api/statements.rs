//! `/api/v1/accounts/{id}/payments` and `/api/v1/accounts/{id}/statement`:
//! an account's payments page by page, and its per-day totals. Both read
//! the replica; the statement comes from per-day totals that a refresh job
//! keeps up to date, and says up to when.

pub use payrail_types::{DayView, PaymentPage, Statement};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use tracing::instrument;

use super::error::{ApiError, ErrorCode};
use super::{AppState, Page, parse_id};
use crate::db::{self, accounts::Account};
use crate::domain::search::{IdRange, PaymentFilter};
use crate::domain::{AccountId, AmountSum, PaymentId, SignedAmountSum};
use crate::events::PaymentView;

/// Longest statement span, in days.
const MAX_DAYS: i64 = 366;

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

/// Days a statement may cover: years 1 to 9999. chrono reads years
/// PostgreSQL cannot store, and date arithmetic near them overflows.
fn in_range(day: NaiveDate) -> bool {
    (1..=9999).contains(&day.year())
}

fn date(query: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    query
        .get(name)
        .map(|text| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().filter(|d| in_range(*d)).ok_or_else(|| {
                bad_query(format!("{name} must be a date from 0001-01-01 to 9999-12-31, like 2026-11-24"))
            })
        })
        .transpose()
}

/// The days of a statement: `to` (default `today`), `from` (default 29
/// days before `to`), at most [`MAX_DAYS`]. A defaulted `from` obeys the
/// same range as a given one: `to=0001-01-01` alone would start the
/// statement in year 0, which `from=0000-01-01` is refused for.
fn span(query: &HashMap<String, String>, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = date(query, "to")?.unwrap_or(today);
    let from = match date(query, "from")? {
        Some(from) => from,
        None => to.checked_sub_signed(Days::days(29)).filter(|d| in_range(*d)).ok_or_else(|| {
            bad_query("from defaults to 29 days before to, which is before 0001-01-01: give from")
        })?,
    };
    if from > to || (to - from).num_days() >= MAX_DAYS {
        return Err(bad_query(format!("from must not be after to, and the span at most {MAX_DAYS} days")));
    }
    Ok((from, to))
}

/// A day's closing balance: below zero while the account spends its credit.
fn closing(minor: &str, exponent: u32) -> Result<SignedAmountSum, ApiError> {
    SignedAmountSum::from_minor_text(minor, exponent)
        .ok_or_else(|| crate::Error::Corrupt(format!("closing balance {minor:?} is not an amount")).into())
}

fn sum(minor: &str, exponent: u32) -> Result<AmountSum, ApiError> {
    AmountSum::from_minor_text(minor, exponent).ok_or_else(|| {
        crate::Error::Corrupt(format!("statement sum {minor:?} is not a non-negative amount")).into()
    })
}

/// An account's per-day totals (UTC days), brought up to date every `STATEMENT_REFRESH_SECS`.
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
    let (from, to) = span(&query, Utc::now().date_naive())?;
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
                closing_balance: closing(&d.closing_balance, exponent)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(Statement { account_id: id, from, to, days, as_of }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_of(query: &[(&str, &str)]) -> Result<(String, String), ErrorCode> {
        let query = query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        span(&query, today).map(|(f, t)| (f.to_string(), t.to_string())).map_err(|e| e.code)
    }

    #[test]
    fn a_defaulted_from_obeys_the_range_a_given_one_does() {
        let ok = |f: &str, t: &str| Ok((f.to_owned(), t.to_owned()));
        assert_eq!(span_of(&[]), ok("2026-11-08", "2026-12-07"));
        assert_eq!(span_of(&[("to", "0001-01-30")]), ok("0001-01-01", "0001-01-30"));
        assert_eq!(span_of(&[("from", "0001-01-01"), ("to", "0001-01-01")]), ok("0001-01-01", "0001-01-01"));
        for refused in [
            &[("to", "0001-01-29")][..],
            &[("to", "0001-01-01")],
            &[("from", "0000-01-01")],
            &[("from", "0000-12-03"), ("to", "0001-01-01")],
            &[("from", "2026-01-02"), ("to", "2026-01-01")],
            &[("from", "2024-12-31"), ("to", "2026-01-01")],
        ] {
            assert_eq!(span_of(refused), Err(ErrorCode::InvalidQuery), "{refused:?}");
        }
    }
}
