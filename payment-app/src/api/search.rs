//! `GET /api/v1/payments` and `GET /api/v1/accounts`: search by any
//! combination of the documented filters, in keyset pages newest first.
//! Both read the replica, like every list.

pub use payrail_types::AccountPage;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::instrument;

use super::accounts::AccountView;
use super::error::{ApiError, ErrorCode};
use super::statements::PaymentPage;
use super::{AppState, Page, query_id};
use crate::db;
use crate::domain::search::{AccountFilter, IdRange, PaymentFilter};
use crate::domain::{AccountId, Currency, Metadata, PaymentId, PaymentStatus};
use crate::events::PaymentView;

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// Refuses parameters other than `known` and `metadata[KEY]`: a misspelt
/// filter would otherwise list everything.
fn only_known(query: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match query.keys().find(|k| !known.contains(&k.as_str()) && metadata_key(k).is_none()) {
        Some(unknown) => Err(bad_query(format!(
            "unknown parameter {unknown:?}; this list takes {} and metadata[KEY]",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `KEY` of a `metadata[KEY]` parameter.
fn metadata_key(param: &str) -> Option<&str> {
    param.strip_prefix("metadata[")?.strip_suffix(']')
}

/// Every `metadata[KEY]=VALUE` as one map to match, under the rules of
/// metadata itself.
fn metadata_filter(query: &HashMap<String, String>) -> Result<Option<Metadata>, ApiError> {
    let pairs: serde_json::Map<String, Value> = query
        .iter()
        .filter_map(|(k, v)| metadata_key(k).map(|key| (key.to_owned(), Value::String(v.clone()))))
        .collect();
    if pairs.is_empty() {
        return Ok(None);
    }
    Metadata::from_json(&Value::Object(pairs)).map(Some).map_err(|e| bad_query(e.to_string()))
}

fn time(query: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    query
        .get(name)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| bad_query(format!("{name} must be an RFC 3339 time, like 2026-12-02T10:00:00Z")))
        })
        .transpose()
}

/// Payments that pass every filter given, newest first.
#[utoipa::path(get, path = "/api/v1/payments", operation_id = "searchPayments", tag = "payments",
    params(("account" = Option<AccountId>, Query, description = "Payments from or to this account"),
        ("status" = Option<PaymentStatus>, Query),
        ("created_gte" = Option<DateTime<Utc>>, Query, description = "Accepted at or after this RFC 3339 time"),
        ("created_lt" = Option<DateTime<Utc>>, Query, description = "Accepted before this RFC 3339 time"),
        ("metadata" = Option<Metadata>, Query, style = DeepObject, explode, description = "`metadata[KEY]=VALUE`, repeatable: every pair must match"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("cursor" = Option<PaymentId>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of payments", body = PaymentPage)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all)]
pub async fn payments(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<PaymentPage>, ApiError> {
    only_known(&query, &["account", "status", "created_gte", "created_lt", "limit", "cursor"])?;
    let page = Page::<PaymentId>::parse(&query)?;
    let status = query
        .get("status")
        .map(|s| {
            PaymentStatus::from_db(s).ok_or_else(|| {
                let known: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
                bad_query(format!("status {s:?} is not a payment status ({})", known.join(", ")))
            })
        })
        .transpose()?;
    let filter = PaymentFilter {
        account: query_id::<AccountId>(&query, "account")?,
        status,
        created_gte: time(&query, "created_gte")?,
        created_lt: time(&query, "created_lt")?,
        metadata: metadata_filter(&query)?,
    };
    let range = IdRange::of_page(page.cursor.map(|c| c.as_uuid()), filter.created_gte, filter.created_lt);
    let payments = app.db.read(|pool| db::statements::payments(pool, &filter, range, page.limit)).await?;
    let next_cursor = page.next_cursor(&payments, |p| p.id);
    Ok(Json(PaymentPage { payments: payments.into_iter().map(PaymentView::from).collect(), next_cursor }))
}

/// Accounts that pass every filter given, newest first.
#[utoipa::path(get, path = "/api/v1/accounts", operation_id = "searchAccounts", tag = "accounts",
    params(("currency" = Option<Currency>, Query),
        ("metadata" = Option<Metadata>, Query, style = DeepObject, explode, description = "`metadata[KEY]=VALUE`, repeatable: every pair must match"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50"),
        ("cursor" = Option<AccountId>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of accounts", body = AccountPage)),
    security(("bearer" = ["read"])))]
#[instrument(skip_all)]
pub async fn accounts(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AccountPage>, ApiError> {
    only_known(&query, &["currency", "limit", "cursor"])?;
    let page = Page::<AccountId>::parse(&query)?;
    let currency = query
        .get("currency")
        .map(|code| Currency::parse(code).map_err(|e| bad_query(format!("currency: {e}"))))
        .transpose()?;
    let filter = AccountFilter { currency, metadata: metadata_filter(&query)? };
    let accounts = app.db.read(|pool| db::accounts::list(pool, &filter, page.cursor, page.limit)).await?;
    let next_cursor = page.next_cursor(&accounts, |a| a.id);
    Ok(Json(AccountPage { accounts: accounts.into_iter().map(AccountView::from).collect(), next_cursor }))
}
