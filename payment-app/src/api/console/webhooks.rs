//! The webhook endpoints page (`admin`, as the API's endpoint routes):
//! each endpoint with its recent attempts, their failure rate and the
//! next retry; rotating an endpoint's secret, shown once.

use axum::Form;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tracing::instrument;

use super::views::{self, Frame, time};
use super::{Console, ConsoleError, Signed};
use crate::api::auth::Scope;
use crate::api::webhooks::AttemptView;
use crate::db;
use crate::db::webhooks::Endpoint;
use crate::domain::EndpointId;
use crate::webhooks::{MAX_RETIRED_SECRETS, Rotation};

/// Endpoints on the page (the newest).
const ENDPOINTS: i64 = 50;

/// Attempts per endpoint the failure rate is taken over (its latest).
const RECENT_ATTEMPTS: i64 = 20;

/// What an endpoint's latest attempts say.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub attempts: usize,
    /// Attempts not answered 2xx, out of `attempts`.
    pub failed: usize,
    /// The earliest retry still ahead of `now`.
    pub next_retry: Option<DateTime<Utc>>,
}

impl Health {
    /// `attempts` are an endpoint's latest, any order.
    pub fn of(attempts: &[AttemptView], now: DateTime<Utc>) -> Health {
        let ok = |a: &&AttemptView| a.status_code.is_some_and(|c| (200..300).contains(&c));
        Health {
            attempts: attempts.len(),
            failed: attempts.len() - attempts.iter().filter(ok).count(),
            next_retry: attempts.iter().filter_map(|a| a.next_retry_at).filter(|at| *at > now).min(),
        }
    }

    /// "25 % of 4", or "no attempts".
    pub fn rate(&self) -> String {
        if self.attempts == 0 {
            return "no attempts".to_owned();
        }
        format!("{} % of {}", self.failed * 100 / self.attempts, self.attempts)
    }
}

#[instrument(skip_all)]
pub async fn list(State(console): State<Console>, signed: Signed) -> Result<Markup, ConsoleError> {
    signed.require(Scope::Admin)?;
    Ok(page(signed.frame(), &endpoints(&console).await?, None))
}

/// The newest endpoints, each with its latest attempts: one index range
/// scan per endpoint, no more than [`ENDPOINTS`] of them.
async fn endpoints(console: &Console) -> Result<Vec<(Endpoint, Vec<AttemptView>)>, ConsoleError> {
    let db = &console.app.db;
    let endpoints = db.read(|pool| db::webhooks::list(pool, None, ENDPOINTS)).await?;
    let mut rows = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let id = endpoint.id;
        let attempts = db.read(|pool| db::webhooks::attempts(pool, id, None, RECENT_ATTEMPTS)).await?;
        rows.push((endpoint, attempts));
    }
    Ok(rows)
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    csrf: String,
}

/// Rotates the secret and shows the new one, once (the page is not cached).
#[instrument(skip_all, fields(endpoint_id = %raw))]
pub async fn rotate(
    State(console): State<Console>,
    signed: Signed,
    Path(raw): Path<String>,
    Form(form): Form<RotateForm>,
) -> Result<Markup, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Scope::Admin)?;
    let id: EndpointId = raw.parse().map_err(|e| ConsoleError::BadRequest(format!("endpoint id: {e}")))?;
    let outcome = match crate::webhooks::rotate_secret(&console.app.db, id).await? {
        Rotation::Rotated { secret, previous_secret_expires_at } => html! {
            p class="outcome" { "The secret of " code { (id) } " was rotated. The new secret, shown once: "
                code class="secret" { (secret.expose_secret()) }
                ". The old one signs too until " (time(previous_secret_expires_at)) "." }
        },
        Rotation::TooMany { first_expires } => html! {
            p class="error" { (MAX_RETIRED_SECRETS) " rotated-out secrets still sign; the first stops at "
                (time(first_expires)) ": rotate again after then." }
        },
        Rotation::NoSuchEndpoint => {
            return Err(ConsoleError::NotFound(format!("webhook endpoint {id} does not exist")));
        }
    };
    Ok(page(signed.frame(), &endpoints(&console).await?, Some(outcome)))
}

fn page(frame: Frame<'_>, rows: &[(Endpoint, Vec<AttemptView>)], outcome: Option<Markup>) -> Markup {
    let now = Utc::now();
    let body = html! {
        @if let Some(outcome) = outcome { (outcome) }
        @if rows.is_empty() { p class="empty" { "No webhook endpoints." } }
        @for (endpoint, attempts) in rows {
            @let health = Health::of(attempts, now);
            section class="endpoint" {
                h2 { span class="url" { (endpoint.url) } }
                dl class="facts" {
                    dt { "Id" } dd { code { (endpoint.id) } }
                    dt { "Events" } dd { (endpoint.subscription.names().join(", ")) }
                    dt { "Description" } dd { (endpoint.description.as_deref().unwrap_or("")) }
                    dt { "Failure rate" } dd class="rate" { (health.rate()) " (latest attempts)" }
                    dt { "Next retry" } dd { @if let Some(at) = health.next_retry { (time(at)) } @else { "none due" } }
                }
                form method="post" action={ "/console/webhooks/" (endpoint.id) "/rotate" } {
                    input type="hidden" name="csrf" value=(frame.csrf);
                    button type="submit" { "Rotate secret" }
                }
                @if !attempts.is_empty() {
                    table class="attempts" {
                        thead { tr { th { "Attempted" } th { "Event" } th { "#" } th { "Answer" } th { "Took" } th { "Retry at" } } }
                        tbody { @for a in attempts {
                            tr { td { (time(a.attempted_at)) } td { code { (a.event_id) } } td { (a.attempt) }
                                td { @if let Some(code) = a.status_code { "HTTP " (code) } @if let Some(e) = &a.error { " " span class="reason" { (e) } } }
                                td class="num" { (a.duration_ms) " ms" } td { @if let Some(at) = a.next_retry_at { (time(at)) } } }
                        } }
                    }
                }
            }
        }
    };
    views::page("Webhook endpoints", Some(frame), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttemptId, EventId};
    use chrono::Duration;

    fn attempt(status: Option<i32>, retry_in: Option<i64>, now: DateTime<Utc>) -> AttemptView {
        AttemptView {
            id: AttemptId::new(),
            event_id: EventId::new(),
            attempt: 1,
            attempted_at: now,
            status_code: status,
            error: status.is_none().then(|| "connection refused".to_owned()),
            duration_ms: 3,
            next_retry_at: retry_in.map(|s| now + Duration::seconds(s)),
        }
    }

    #[test]
    fn the_failure_rate_counts_every_answer_but_2xx_and_the_next_retry_is_the_earliest_ahead() {
        let now = Utc::now();
        let attempts = [
            attempt(Some(200), None, now),
            attempt(Some(500), Some(300), now),
            attempt(None, Some(60), now),
            attempt(Some(404), Some(-10), now),
        ];
        let health = Health::of(&attempts, now);
        assert_eq!((health.attempts, health.failed), (4, 3));
        assert_eq!(health.rate(), "75 % of 4");
        assert_eq!(health.next_retry, Some(now + Duration::seconds(60)), "the past one is not ahead");
        assert_eq!(Health::of(&[], now).rate(), "no attempts");
    }
}
