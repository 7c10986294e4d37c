//! The console's page handlers: parse the query, read through the read
//! policy, render. Each list is a keyset page (newest first, the id of the
//! last row as the cursor): no count over a table.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::Markup;
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, instrument};

use super::chart::Point;
use super::views::{self, PaymentQuery, Replayed, Timeline};
use super::{Console, ConsoleError, Signed};
use crate::api::auth::Scope;
use crate::db;
use crate::db::entries::Order;
use crate::domain::search::{IdRange, PaymentFilter};
use crate::domain::{AccountId, EventId, Metadata, PaymentId, PaymentStatus};

/// Rows per list page.
const PAGE: i64 = 50;

/// Entries drawn on an account's chart (its latest).
const CHART_ENTRIES: i64 = 200;

/// Payments on an account's page.
const RECENT: i64 = 10;

fn field(query: &HashMap<String, String>, name: &str) -> String {
    query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default()
}

fn id<T: std::str::FromStr<Err = crate::domain::IdError>>(text: &str, what: &str) -> Result<T, ConsoleError> {
    text.parse().map_err(|e| ConsoleError::BadRequest(format!("{what}: {e}")))
}

/// The filter a search form asks for.
fn filter(query: &PaymentQuery) -> Result<PaymentFilter, ConsoleError> {
    let status = match query.status.as_str() {
        "" => None,
        s => Some(
            PaymentStatus::from_db(s)
                .ok_or_else(|| ConsoleError::BadRequest(format!("unknown status {s:?}")))?,
        ),
    };
    let account = match query.account.as_str() {
        "" => None,
        text => Some(id::<AccountId>(text, "account")?),
    };
    let metadata = match (query.metadata_key.as_str(), query.metadata_value.as_str()) {
        ("", "") => None,
        (key, value) => {
            let pair = serde_json::Map::from_iter([(key.to_owned(), Value::String(value.to_owned()))]);
            Some(
                Metadata::from_json(&Value::Object(pair))
                    .map_err(|e| ConsoleError::BadRequest(format!("metadata: {e}")))?,
            )
        }
    };
    Ok(PaymentFilter {
        account,
        status,
        metadata,
        created_gte: utc_minute(&query.from, "from")?,
        created_lt: utc_minute(&query.until, "until")?,
    })
}

/// A time from the form's `datetime-local` field (`2026-12-07T16:30`, or
/// with seconds), read as UTC, as every time on these pages is shown.
fn utc_minute(text: &str, what: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    if text.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| ConsoleError::BadRequest(format!("{what}: expected a UTC time like 2026-12-07T16:30")))
}

/// The search form's query string, with `cursor`, for the next page link.
fn next_link(query: &HashMap<String, String>, cursor: PaymentId) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().filter(|(k, _)| k.as_str() != "cursor").map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    pairs.push(("cursor".to_owned(), cursor.to_string()));
    let mut url = url::Url::parse("http://console/console/payments").expect("a constant URL");
    url.query_pairs_mut().extend_pairs(pairs);
    format!("/console/payments?{}", url.query().unwrap_or_default())
}

#[instrument(skip_all)]
pub async fn payments(
    State(console): State<Console>,
    signed: Signed,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    signed.require(Scope::Read)?;
    let asked = PaymentQuery {
        status: field(&query, "status"),
        account: field(&query, "account"),
        metadata_key: field(&query, "metadata_key"),
        metadata_value: field(&query, "metadata_value"),
        id: field(&query, "id"),
        from: field(&query, "from"),
        until: field(&query, "until"),
    };
    if !asked.id.is_empty() {
        let payment: PaymentId = id(&asked.id, "id")?;
        return Ok(Redirect::to(&format!("/console/payments/{payment}")).into_response());
    }
    let filter = filter(&asked)?;
    let cursor = match field(&query, "cursor").as_str() {
        "" => None,
        text => Some(id::<PaymentId>(text, "cursor")?),
    };
    let range = IdRange::of_page(cursor.map(|c| c.as_uuid()), filter.created_gte, filter.created_lt);
    let found = console.app.db.read(|pool| db::statements::payments(pool, &filter, range, PAGE)).await?;
    let next = (found.len() as i64 == PAGE).then(|| found.last().map(|p| next_link(&query, p.id))).flatten();
    Ok(views::payments(signed.frame(), &asked, &found, next).into_response())
}

#[instrument(skip_all, fields(payment_id = %raw))]
pub async fn payment(
    State(console): State<Console>,
    signed: Signed,
    Path(raw): Path<String>,
) -> Result<Markup, ConsoleError> {
    signed.require(Scope::Read)?;
    let id: PaymentId = id(&raw, "payment id")?;
    let db = &console.app.db;
    let payment = db
        .read_one(|pool| db::payments::get(pool, id))
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("payment {id} does not exist")))?;
    let (created, updated) = (payment.created_at, payment.updated_at);
    let trace_id = db.read(|pool| db::timeline::trace_id(pool, id)).await?;
    let events = db.read(|pool| db::timeline::events(pool, id, created, updated)).await?;
    let entries = db.read(|pool| db::timeline::entries(pool, id)).await?;
    let refunds = db.read(|pool| db::refunds::of_payment(pool, id)).await?;
    let event_ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    // Endpoints (their URLs, their answers) are settings the API shows to
    // `admin` only: so does the console.
    let deliveries = if signed.caller.scopes.contains(Scope::Admin) {
        db.read(|pool| db::timeline::deliveries(pool, &event_ids)).await?
    } else {
        Vec::new()
    };
    let attempts = if deliveries.is_empty() {
        Vec::new()
    } else {
        db.read(|pool| db::timeline::attempts(pool, &event_ids, created)).await?
    };
    let timeline = Timeline { payment, trace_id, events, entries, refunds, deliveries, attempts };
    Ok(views::payment(signed.frame(), &timeline))
}

#[instrument(skip_all)]
pub async fn accounts(
    signed: Signed,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    signed.require(Scope::Read)?;
    let asked = field(&query, "id");
    if asked.is_empty() {
        return Ok(views::account_search(signed.frame(), "").into_response());
    }
    let account: AccountId = id(&asked, "account id")?;
    Ok(Redirect::to(&format!("/console/accounts/{account}")).into_response())
}

#[instrument(skip_all, fields(account_id = %raw))]
pub async fn account(
    State(console): State<Console>,
    signed: Signed,
    Path(raw): Path<String>,
) -> Result<Markup, ConsoleError> {
    signed.require(Scope::Read)?;
    let id: AccountId = id(&raw, "account id")?;
    let db = &console.app.db;
    let account = db
        .read_one(|pool| db::accounts::get(pool, id))
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("account {id} does not exist")))?;
    let mut entries =
        db.read(|pool| db::entries::page(pool, id, None, Order::NewestFirst, CHART_ENTRIES)).await?;
    entries.reverse();
    let points: Vec<Point> =
        entries.iter().map(|e| Point { at: e.created_at, balance: e.balance_after }).collect();
    let filter = PaymentFilter { account: Some(id), ..PaymentFilter::default() };
    let recent = db.read(|pool| db::statements::payments(pool, &filter, IdRange::ALL, RECENT)).await?;
    Ok(views::account(signed.frame(), &account, &points, &recent))
}

/// The dead-letter list; after a replay (`?replayed=` or `?not_found=`,
/// where the replay redirects to) with its outcome above it and the
/// payment's status as it is now.
#[instrument(skip_all)]
pub async fn dead_letters(
    State(console): State<Console>,
    signed: Signed,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Markup, ConsoleError> {
    signed.require(Scope::Read)?;
    let app = &console.app;
    let outcome = match (field(&query, "replayed").as_str(), field(&query, "not_found").as_str()) {
        ("", "") => None,
        ("", missing) => Some(Replayed::NotFound(id(missing, "payment id")?)),
        (sent, _) => {
            let payment: PaymentId = id(sent, "payment id")?;
            let now = app.db.read_one(|pool| db::payments::get(pool, payment)).await?.map(|p| p.status);
            Some(Replayed::Sent { payment, status: now })
        }
    };
    let letters = crate::dead_letters::list_first(&app.broker, views::DEAD_LETTERS_SHOWN).await?;
    Ok(views::dead_letters(signed.frame(), &letters, outcome.as_ref()))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf: String,
    payment_id: String,
}

/// Replays the dead letter holding one payment (`admin`), then sends the
/// browser to the list with the outcome (POST, redirect, GET): reloading
/// the page it lands on, or going back to it, shows the outcome again and
/// replays nothing.
#[instrument(skip_all, fields(payment_id = %form.payment_id))]
pub async fn replay(
    State(console): State<Console>,
    signed: Signed,
    Form(form): Form<ReplayForm>,
) -> Result<Response, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::Admin)?;
    let payment: PaymentId = id(form.payment_id.trim(), "payment id")?;
    let app = &console.app;
    let wanted = payment.to_string();
    let replayed = crate::dead_letters::replay(&app.broker, &app.db.primary, |p| p == wanted).await?;
    let outcome = if replayed.is_empty() {
        "not_found"
    } else {
        info!(token = signed.caller.token + 1, "console replayed a dead letter");
        "replayed"
    };
    Ok(Redirect::to(&format!("/console/dead-letters?{outcome}={payment}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(status: &str, key: &str, value: &str) -> PaymentQuery {
        PaymentQuery {
            status: status.into(),
            metadata_key: key.into(),
            metadata_value: value.into(),
            ..PaymentQuery::default()
        }
    }

    #[test]
    fn the_search_form_becomes_the_apis_filter() {
        let f = filter(&query("done", "order", "A-1")).expect("valid");
        assert_eq!(f.status, Some(PaymentStatus::Done));
        assert_eq!(f.metadata.map(|m| m.to_json()), Some(serde_json::json!({"order": "A-1"})));
        assert_eq!(filter(&query("", "", "")).expect("empty"), PaymentFilter::default());
        assert!(matches!(filter(&query("paid", "", "")), Err(ConsoleError::BadRequest(_))));
        assert!(matches!(filter(&query("", "bad key!", "x")), Err(ConsoleError::BadRequest(_))));
        let range = PaymentQuery {
            from: "2026-12-07T16:30".into(),
            until: "2026-12-07T17:00:05".into(),
            ..query("", "", "")
        };
        let f = filter(&range).expect("valid times");
        assert_eq!(f.created_gte.map(|t| t.to_rfc3339()), Some("2026-12-07T16:30:00+00:00".to_owned()));
        assert_eq!(f.created_lt.map(|t| t.to_rfc3339()), Some("2026-12-07T17:00:05+00:00".to_owned()));
        let bad = PaymentQuery { from: "yesterday".into(), ..query("", "", "") };
        assert!(matches!(filter(&bad), Err(ConsoleError::BadRequest(_))));
    }

    #[test]
    fn the_next_page_keeps_the_filters_and_moves_the_cursor() {
        let asked: HashMap<String, String> =
            [("status", "done"), ("metadata_value", "a&b"), ("cursor", "old")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let cursor = PaymentId::new();
        let link = next_link(&asked, cursor);
        assert_eq!(link, format!("/console/payments?metadata_value=a%26b&status=done&cursor={cursor}"));
    }
}
