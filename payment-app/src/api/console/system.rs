//! The system page: each dependency as `/readyz` reports it (the same
//! check and cache, not a copy), the queues' depths and consumers, and the
//! backlog: open payments and how long the oldest pending one has waited;
//! and the payments settled in each of the last minutes, from the rollup a
//! background job keeps (`db::throughput`), so the page reads 15 rows
//! whatever the rate.

use axum::extract::State;
use chrono::Utc;
use maud::{Markup, html};
use serde_json::Value;
use tracing::instrument;

use super::views::{self, time};
use super::{Console, ConsoleError, Signed};
use crate::api::auth::Scope;
use crate::broker::depths::QueueDepth;
use crate::broker::{DEAD_LETTER_QUEUE, LOCK_QUEUE, SETTLE_QUEUE};
use crate::db;
use crate::db::backlog::COUNT_CAP;

/// Minutes of throughput shown, the running one included.
pub const THROUGHPUT_MINUTES: u32 = 15;

#[instrument(skip_all)]
pub async fn page(State(console): State<Console>, signed: Signed) -> Result<Markup, ConsoleError> {
    signed.require(Scope::Read)?;
    let app = &console.app;
    let (_, readiness) = crate::api::ready::readyz(State(app.clone())).await;
    let readiness = serde_json::to_value(&readiness.0).unwrap_or(Value::Null);
    let mut queues: Vec<(String, Option<QueueDepth>)> = Vec::new();
    for queue in [
        LOCK_QUEUE.to_owned(),
        SETTLE_QUEUE.to_owned(),
        app.broker.topology().retry_queue(),
        DEAD_LETTER_QUEUE.to_owned(),
    ] {
        let depth = app.broker.queue_depth(&queue).await?;
        queues.push((queue, depth));
    }
    let backlog = app.db.read(db::backlog::backlog).await?;
    let now = Utc::now();
    let waited = backlog.oldest_pending.map(|at| (now - at).num_milliseconds().max(0));
    let throughput =
        app.db.read(|pool| db::throughput::settled_per_minute(pool, now, THROUGHPUT_MINUTES)).await?;
    let minutes = &throughput.minutes;
    let body = html! {
        h2 { "Dependencies" }
        dl class="facts readiness" {
            @if let Value::Object(map) = &readiness {
                @for (name, state) in map {
                    dt { (name) }
                    @let text = state.as_str().unwrap_or_default();
                    dd class={ "dependency " (if healthy(text) { "ok" } else { "bad" }) } { (text) }
                }
            }
        }
        h2 { "Queues" }
        table class="queues" {
            thead { tr { th { "Queue" } th { "Ready messages" } th { "Consumers" } } }
            tbody { @for (queue, depth) in &queues {
                tr { td { code { (queue) } }
                    @if let Some(d) = depth { td class="num" { (d.messages) } td class="num" { (d.consumers) } }
                    @else { td colspan="2" class="reason" { "missing" } } }
            } }
        }
        h2 { "Backlog" }
        dl class="facts" {
            dt { "Open payments" } dd class="open" { @if backlog.open > COUNT_CAP { "more than " (COUNT_CAP) } @else { (backlog.open) } " (pending or authorized)" }
            dt { "Oldest pending" } dd class="lag" {
                @match (backlog.oldest_pending, waited) {
                    (Some(at), Some(ms)) => { "accepted " (time(at)) ", waiting " (format!("{:.1}", ms as f64 / 1000.0)) " s" }
                    _ => "none: every accepted payment has settled",
                }
            }
        }
        h2 { "Settled per minute" }
        table class="throughput" {
            thead { tr { th { "Minute (UTC)" } th { "Done" } th { "Failed" } } }
            tbody { @for (i, m) in minutes.iter().enumerate().rev() {
                tr { td class="minute" { (m.at.format("%H:%M")) @if i + 1 == minutes.len() { " (so far)" } }
                    td class="num done" { (m.done) } td class="num failed" { (m.failed) } }
            } }
        }
        p class="hint" { "Counted from the payment.done, payment.captured and payment.failed events, across every worker, by a job that runs every few seconds: events up to " span class="counted-to" { (time(throughput.counted_to)) } " are counted." }
    };
    Ok(views::page("System", Some(signed.frame()), body))
}

/// Whether a `/readyz` value reads as healthy: `ok`, `ready`, or Redis's
/// `N/M nodes` with nothing after it (a problem is always spelt out after
/// the state: `unavailable: ...`, `... no quorum`, `... missing`).
fn healthy(text: &str) -> bool {
    matches!(text, "ok" | "ready") || (text.ends_with(" nodes") && !text.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::healthy;

    #[test]
    fn readyz_values_read_as_healthy_only_without_a_problem() {
        for good in ["ok", "ready", "3/3 nodes", "2/3 nodes"] {
            assert!(healthy(good), "{good}");
        }
        for bad in [
            "degraded",
            "not_ready",
            "1/3 nodes: no quorum",
            "unavailable: timed out",
            "payrail.lock has no consumer",
            "stale: last refreshed 90s ago",
            "lagging: 7s behind; reads go to the primary",
        ] {
            assert!(!healthy(bad), "{bad}");
        }
    }
}
