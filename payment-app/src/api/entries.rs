//! `/api/v1/accounts/{id}/entries` and `/api/v1/accounts/{id}/balance`: an
//! account's ledger entries as balance transactions, and its balance at an
//! instant. Both read by the read policy (the replica first), so the most
//! recent entries may show up to the replica's lag late. The entries also
//! come as one streamed CSV (`Accept: text/csv`), made by the export.

pub use payrail_types::{BalanceAt, EntryPage, EntryView};
use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use payrail_common::chain;
use tokio::io::AsyncReadExt;
use tracing::{instrument, warn};

use super::error::{ApiError, ErrorCode};
use super::{AppState, parse_id, parse_limit};
use crate::db::export::Export;
use crate::db::{self, entries::Order};
use crate::domain::export::{Bound, ExportFormat, ExportKind, Interval};
use crate::domain::settlement::AccountState;
use crate::domain::{AccountId, Amount, Currency, SignedMoney};

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
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

/// An account's ledger entries, each with the balance after it (keyset pages, oldest first by default); with `Accept: text/csv`, all of them (or those in `from`..`to`) as one streamed CSV.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/entries", operation_id = "listAccountEntries", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, default 50 (JSON only)"),
        ("after" = Option<i64>, Query, description = "`next_after` of the previous page: the entries after that one (JSON only)"),
        ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "`asc` (default): oldest first; `desc`: newest first (JSON only)"),
        ("from" = Option<String>, Query, description = "CSV only: entries created at or after this instant (RFC 3339, or a date: its midnight UTC)"),
        ("to" = Option<String>, Query, description = "CSV only: entries created before this instant (RFC 3339, or a date: its midnight UTC)")),
    responses((status = 200, description = "A page of the account's entries (JSON); or, asked with `Accept: text/csv`, every entry in the interval, oldest first, streamed as CSV with a header line (columns id, account_id, kind, payment_id, refund_id, amount, balance_after, held_after, currency, created_at; RFC 4180 quoting). A CSV cut short by a failure ends the response with an error instead of a clean end, so a complete download is a complete export",
        content((EntryPage = "application/json"), (String = "text/csv")))),
    security(("bearer" = ["read"])))]
#[instrument(skip_all, fields(account_id = %id))]
pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id: AccountId = parse_id(&id)?;
    if wants_csv(&headers) {
        return csv(app, id, &query).await;
    }
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
                held_after: currency.money(Amount::from_minor(e.held_after).ok_or_else(|| {
                    ApiError::from(crate::Error::Corrupt(format!("entry {}: negative held_after", e.id)))
                })?),
                created_at: e.created_at,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(EntryPage { entries, next_after }).into_response())
}

/// Whether the client asked for CSV (`Accept: text/csv`, among others or alone).
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/csv"))
}

fn bound(query: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    query
        .get(name)
        .map(|text| text.parse::<Bound>().map(|b| b.0).map_err(|e| bad_query(format!("{name}: {e}"))))
        .transpose()
}

/// Bytes the export runs ahead of the client at most.
const CSV_CHUNK: usize = 64 * 1024;

/// The account's entries in `from`..`to` as CSV, streamed: the export
/// writes into a bounded pipe that the body reads, so memory stays flat
/// and a slow client slows the export rather than filling memory.
async fn csv(app: AppState, id: AccountId, query: &HashMap<String, String>) -> Result<Response, ApiError> {
    let interval = Interval::new(bound(query, "from")?, bound(query, "to")?)
        .map_err(|e| bad_query(e.to_string().replace("--", "")))?;
    currency_of(&app, id).await?;
    let export = Export { kind: ExportKind::Entries, format: ExportFormat::Csv, interval, account: Some(id) };
    let statement = crate::export::prepare(&app.db, &export).await?;
    let (mut writer, reader) = tokio::io::duplex(CSV_CHUNK);
    let (outcome_tx, outcome_rx) = tokio::sync::oneshot::channel();
    let db = app.db.clone();
    tokio::spawn(async move {
        let outcome = db.read_copy(&statement, &mut writer).await;
        if let Err(e) = &outcome {
            warn!(account_id = %id, error = %chain(e), "CSV export of entries failed mid-way; the response is cut");
        }
        let _ = outcome_tx.send(outcome.is_ok());
    });
    let data = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut chunk = vec![0u8; CSV_CHUNK];
        match reader.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(Bytes::from(chunk)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    // After the data: a clean end only if the export finished.
    let end = futures_util::stream::once(async move {
        match outcome_rx.await {
            Ok(true) => None,
            _ => Some(Err(std::io::Error::other("the export failed"))),
        }
    })
    .filter_map(|failed| async move { failed });
    let body = Body::from_stream(data.chain(end));
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"entries-{id}.csv\""))
                    .map_err(|e| crate::Error::Corrupt(e.to_string()))?,
            ),
        ],
        body,
    )
        .into_response())
}

/// An account's balance, held and available amounts at an instant; 404 before the account was opened.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/balance", operation_id = "getAccountBalanceAt", tag = "accounts",
    params(("id" = AccountId, Path, description = "The account's id"),
        ("at" = DateTime<Utc>, Query, description = "RFC 3339 instant, like 2026-12-07T14:00:00Z")),
    responses((status = 200, description = "The balance and held amount at that instant, and what was available (with the credit limit as it was then); 404 (`not_found`) when the account was opened after it", body = BalanceAt)),
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
    let then =
        app.db.read_one(|pool| db::entries::balance_at(pool, id, at)).await?.ok_or_else(|| {
            ApiError::not_found(format!("account {id} did not exist at {}", at.to_rfc3339()))
        })?;
    let amount = |minor: i64, what: &str| {
        Amount::from_minor(minor).ok_or_else(|| {
            ApiError::from(crate::Error::Corrupt(format!("account {id}: negative {what} {minor}")))
        })
    };
    let state = AccountState {
        balance: then.balance,
        held: amount(then.held, "held amount")?,
        credit_limit: amount(then.credit_limit, "credit limit")?,
    };
    Ok(Json(BalanceAt {
        account_id: id,
        at,
        balance: signed(then.balance, currency)?,
        held: currency.money(state.held),
        available_balance: currency.money(state.available()),
    }))
}
