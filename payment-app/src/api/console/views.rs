//! The console's pages as maud templates. maud escapes every value it
//! interpolates (`&`, `<`, `>`, `"`, `'`), so what a client wrote (a
//! description, metadata, a webhook URL, a dead letter's body) is shown as
//! text; nothing here uses `PreEscaped` on anything but a constant.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::chart::{self, Point};
use crate::api::auth::{Caller, Scope};
use crate::db::accounts::Account;
use crate::db::payments::Payment;
use crate::db::refunds::Refund;
use crate::db::timeline::{Delivery, DeliveryAttempt, PaymentEntry, TimelineEvent};
use crate::dead_letters::DeadLetter;
use crate::domain::{Currency, Metadata, PaymentId, PaymentStatus, SignedMoney};
use crate::messages::TraceId;

/// Dead letters listed on their page (the first of the queue): the page
/// fetches this many and says so when the queue holds more.
pub const DEAD_LETTERS_SHOWN: usize = 200;

/// The signed-in user's view of the page frame: who they are and the form
/// token every POST carries.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub caller: Caller,
    pub csrf: &'a str,
}

pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

fn signed(minor: i64, currency: Currency) -> String {
    SignedMoney::from_minor(minor, currency).map_or_else(String::new, |m| m.to_string())
}

fn scopes(caller: Caller) -> String {
    Scope::ALL
        .iter()
        .filter(|s| caller.scopes.contains(**s))
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A whole page. `frame` is `None` before sign-in.
pub fn page(title: &str, frame: Option<Frame<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · payrail console" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                header {
                    a class="brand" href="/console/payments" { "payrail" }
                    @if let Some(frame) = frame {
                        nav {
                            a href="/console/payments" { "Payments" }
                            a href="/console/accounts" { "Accounts" }
                            a href="/console/dead-letters" { "Dead letters" }
                            @if frame.caller.scopes.contains(Scope::Admin) { a href="/console/webhooks" { "Webhooks" } }
                            a href="/console/system" { "System" }
                        }
                        form class="sign-out" method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(frame.csrf);
                            span class="who" { "token #" (frame.caller.token + 1) " · " (scopes(frame.caller)) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn sign_in(csrf: &str, refusal: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(refusal) = refusal { p class="error" { (refusal) } }
        form class="sign-in" method="post" action="/console/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            label for="token" { "API token" }
            input id="token" name="token" type="password" autocomplete="off" required autofocus;
            button type="submit" { "Sign in" }
        }
        p class="hint" { "The token is exchanged for a session cookie and is not kept. The session has the token's scopes; it ends when you sign out (on every API process at once) or after 8 hours." }
    };
    page("Sign in", None, body)
}

/// A refusal or failure, in the frame when signed in.
pub fn problem(title: &str, message: &str, frame: Option<Frame<'_>>) -> Markup {
    page(title, frame, html! { p class="error" { (message) } })
}

fn status(status: PaymentStatus) -> Markup {
    html! { span class={ "status " (status.as_str()) } { (status.as_str()) } }
}

fn metadata(metadata: &Metadata) -> Markup {
    let json = metadata.to_json();
    html! {
        @if let Value::Object(map) = &json {
            @if map.is_empty() { span class="muted" { "none" } }
            dl class="metadata" {
                @for (key, value) in map {
                    dt { (key) } dd { (value.as_str().unwrap_or_default()) }
                }
            }
        }
    }
}

/// What the payments search was asked, to fill the form again.
#[derive(Debug, Default)]
pub struct PaymentQuery {
    pub status: String,
    pub account: String,
    pub metadata_key: String,
    pub metadata_value: String,
    pub id: String,
    /// Accepted at or after, UTC (`datetime-local`).
    pub from: String,
    /// Accepted before, UTC.
    pub until: String,
}

fn payment_rows(payments: &[Payment]) -> Markup {
    html! {
        table class="payments" {
            thead { tr { th { "Payment" } th { "Status" } th { "Amount" } th { "From" } th { "To" } th { "Description" } th { "Created" } } }
            tbody {
                @for p in payments {
                    tr {
                        td { a href={ "/console/payments/" (p.id) } { code { (p.id) } } }
                        td { (status(p.status)) }
                        td class="num" { (p.currency.money(p.amount)) " " (p.currency) }
                        td { a href={ "/console/accounts/" (p.from_account) } { code { (short(p.from_account)) } } }
                        td { a href={ "/console/accounts/" (p.to_account) } { code { (short(p.to_account)) } } }
                        td { (p.description.as_deref().unwrap_or("")) }
                        td { (time(p.created_at)) }
                    }
                }
            }
        }
    }
}

fn short(id: impl std::fmt::Display) -> String {
    let text = id.to_string();
    format!("{}…", &text[..text.len().min(13)])
}

pub fn payments(frame: Frame<'_>, query: &PaymentQuery, found: &[Payment], next: Option<String>) -> Markup {
    let body = html! {
        form class="search" method="get" action="/console/payments" {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in PaymentStatus::ALL {
                        option value=(s.as_str()) selected[query.status == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            label { "Account " input name="account" value=(query.account) placeholder="account id" size="38"; }
            label { "Metadata " input name="metadata_key" value=(query.metadata_key) placeholder="key" size="12";
                " = " input name="metadata_value" value=(query.metadata_value) placeholder="value" size="16"; }
            label { "From " input name="from" type="datetime-local" step="1" value=(query.from); " UTC" }
            label { "Until " input name="until" type="datetime-local" step="1" value=(query.until); " UTC" }
            label { "Id " input name="id" value=(query.id) placeholder="payment id" size="38"; }
            button type="submit" { "Search" }
        }
        @if found.is_empty() { p class="empty" { "No payments match." } } @else { (payment_rows(found)) }
        @if let Some(next) = next { p { a class="next" href=(next) { "Older payments →" } } }
    };
    page("Payments", Some(frame), body)
}

/// Everything the payment page shows.
#[derive(Debug)]
pub struct Timeline {
    pub payment: Payment,
    /// Its trace id, recorded at intake when traces were on.
    pub trace_id: Option<TraceId>,
    pub events: Vec<TimelineEvent>,
    pub entries: Vec<PaymentEntry>,
    pub refunds: Vec<Refund>,
    pub deliveries: Vec<Delivery>,
    pub attempts: Vec<DeliveryAttempt>,
}

pub fn payment(frame: Frame<'_>, t: &Timeline) -> Markup {
    let p = &t.payment;
    let c = p.currency;
    let body = html! {
        dl class="facts" {
            dt { "Id" } dd { code { (p.id) } }
            dt { "Status" } dd { (status(p.status)) @if let Some(reason) = p.failure_reason { " — " span class="reason" { (reason) } } }
            dt { "Amount" } dd { (c.money(p.amount)) " " (c) }
            dt { "From" } dd { a href={ "/console/accounts/" (p.from_account) } { code { (p.from_account) } } }
            dt { "To" } dd { a href={ "/console/accounts/" (p.to_account) } { code { (p.to_account) } } }
            dt { "Description" } dd class="description" { (p.description.as_deref().unwrap_or("")) }
            dt { "Capture" } dd { (p.capture.as_str())
                @if let Some(at) = p.hold_expires_at { " · hold expires " (time(at)) }
                @if let Some(captured) = p.amount_captured { " · captured " (c.money(captured)) } }
            dt { "Refunded" } dd { (c.money(p.amount_refunded)) }
            dt { "Metadata" } dd { (metadata(&p.metadata)) }
            dt { "Created" } dd { (time(p.created_at)) }
            dt { "Updated" } dd { (time(p.updated_at)) }
            dt { "Trace id" }
            @if let Some(trace) = t.trace_id { dd class="trace" { code { (trace) } } }
            @else { dd class="muted" { "not recorded: traces were off when it was accepted; its log lines carry this payment_id" } }
        }
        (events(&t.events))
        (entries(&t.entries, c))
        (refunds(&t.refunds, c))
        (deliveries(frame, t))
    };
    page("Payment", Some(frame), body)
}

/// The payment's events, oldest first.
fn events(events: &[TimelineEvent]) -> Markup {
    html! {
        h2 { "Events" }
        @if events.is_empty() { p class="empty" { "No events (or they were removed by retention)." } }
        ol class="timeline" {
            @for e in events {
                li { time { (time(e.created_at)) } " " strong { (e.kind) } " → " (e.status)
                    @if let Some(reason) = &e.failure_reason { " (" span class="reason" { (reason) } ")" } }
            }
        }
    }
}

/// The ledger entries the payment and its refunds wrote.
fn entries(entries: &[PaymentEntry], c: Currency) -> Markup {
    html! {
        h2 { "Ledger entries" }
        @if entries.is_empty() { p class="empty" { "No ledger entries." } } @else {
            table class="entries" {
                thead { tr { th { "Entry" } th { "Kind" } th { "Account" } th { "Amount" } th { "Balance after" } th { "At" } } }
                tbody { @for e in entries {
                    tr { td { (e.id) } td { (e.kind) @if let Some(r) = e.refund_id { " (refund " code { (short(r)) } ")" } }
                        td { a href={ "/console/accounts/" (e.account_id) } { code { (short(e.account_id)) } } }
                        td class="num" { (signed(e.amount, c)) } td class="num" { (signed(e.balance_after, c)) }
                        td { (time(e.created_at)) } }
                } }
            }
        }
    }
}

/// The payment's refunds, each with its end.
fn refunds(refunds: &[Refund], c: Currency) -> Markup {
    html! {
        h2 { "Refunds" }
        @if refunds.is_empty() { p class="empty" { "No refunds." } } @else {
            table class="refunds" {
                thead { tr { th { "Refund" } th { "Status" } th { "Amount" } th { "Reason" } th { "Created" } } }
                tbody { @for r in refunds {
                    tr { td { code { (r.id) } } td { (r.status.as_str()) @if let Some(f) = r.failure_reason { " (" (f) ")" } }
                        td class="num" { (c.money(r.amount)) } td { (r.reason.as_deref().unwrap_or("")) } td { (time(r.created_at)) } }
                } }
            }
        }
    }
}

/// The webhook deliveries of the payment's events and their attempts, for
/// admin tokens only, as the API shows them.
fn deliveries(frame: Frame<'_>, t: &Timeline) -> Markup {
    html! {
        h2 { "Webhook deliveries" }
        @if !frame.caller.scopes.contains(Scope::Admin) {
            p class="hint" { "Webhook endpoints and their deliveries are shown to tokens with the admin scope, as the API shows them." }
        } @else if t.deliveries.is_empty() { p class="empty" { "No webhook endpoint was subscribed to these events." } } @else {
            table class="deliveries" {
                thead { tr { th { "Endpoint" } th { "Event" } th { "State" } th { "Attempts" } th { "Next attempt" } } }
                tbody { @for d in &t.deliveries {
                    tr { td { span class="url" { (d.url) } } td { (event_kind(&t.events, d)) } td class={ "state " (d.state) } { (d.state) }
                        td class="num" { (d.attempts) } td { @if d.state == "pending" { (time(d.next_attempt_at)) } } }
                } }
            }
            @if !t.attempts.is_empty() {
                table class="attempts" {
                    thead { tr { th { "Attempted" } th { "Endpoint" } th { "#" } th { "Answer" } th { "Took" } th { "Retry at" } } }
                    tbody { @for a in &t.attempts {
                        tr { td { (time(a.attempted_at)) } td { (endpoint_url(&t.deliveries, a)) } td { (a.attempt) }
                            td { @if let Some(code) = a.status_code { "HTTP " (code) } @if let Some(e) = &a.error { " " span class="reason" { (e) } } }
                            td class="num" { (a.duration_ms) " ms" } td { @if let Some(at) = a.next_retry_at { (time(at)) } } }
                    } }
                }
            }
        }
    }
}

fn event_kind(events: &[TimelineEvent], d: &Delivery) -> String {
    events.iter().find(|e| e.id == d.event_id).map_or_else(|| d.event_id.to_string(), |e| e.kind.clone())
}

fn endpoint_url(deliveries: &[Delivery], a: &DeliveryAttempt) -> String {
    deliveries
        .iter()
        .find(|d| d.endpoint_id == a.endpoint_id)
        .map_or_else(|| a.endpoint_id.to_string(), |d| d.url.clone())
}

pub fn account_search(frame: Frame<'_>, id: &str) -> Markup {
    let body = html! {
        form class="search" method="get" action="/console/accounts" {
            label { "Account id " input name="id" value=(id) size="38" required; }
            button type="submit" { "Open" }
        }
    };
    page("Accounts", Some(frame), body)
}

pub fn account(frame: Frame<'_>, a: &Account, chart_points: &[Point], recent: &[Payment]) -> Markup {
    let c = a.currency;
    let body = html! {
        dl class="facts" {
            dt { "Id" } dd { code { (a.id) } }
            dt { "Currency" } dd { (c) }
            dt { "Balance" } dd class="balance" { (signed(a.balance, c)) }
            dt { "Credit limit" } dd { (c.money(a.credit_limit)) }
            dt { "Held" } dd { (c.money(a.held)) }
            dt { "Available" } dd class="available" { (c.money(a.available())) }
            dt { "Metadata" } dd { (metadata(&a.metadata)) }
            dt { "Opened" } dd { (time(a.created_at)) }
        }
        h2 { "Statement" }
        (chart::statement(chart_points, c))
        h2 { "Recent payments" }
        @if recent.is_empty() { p class="empty" { "No payments." } } @else { (payment_rows(recent)) }
        p { a href={ "/console/payments?account=" (a.id) } { "All payments of this account →" } }
    };
    page("Account", Some(frame), body)
}

/// The outcome of a replay, shown above the list.
#[derive(Debug)]
pub enum Replayed {
    Sent { payment: PaymentId, status: Option<PaymentStatus> },
    NotFound(PaymentId),
}

pub fn dead_letters(frame: Frame<'_>, letters: &[DeadLetter], outcome: Option<&Replayed>) -> Markup {
    let admin = frame.caller.scopes.contains(Scope::Admin);
    let body = html! {
        @match outcome {
            Some(Replayed::Sent { payment, status: now }) => p class="outcome" {
                "Replayed payment " a href={ "/console/payments/" (payment) } { code { (payment) } } ": sent back to the lock queue; its status now: "
                @match now { Some(s) => (status(*s)), None => "unknown" }
                ". Open it to follow it to the end." }
            Some(Replayed::NotFound(payment)) => p class="error" { "No dead letter holds payment " code { (payment) } "; nothing was replayed." }
            None => {}
        }
        @if !admin { p class="hint" { "Replaying takes a token with the admin scope." } }
        @if letters.len() >= DEAD_LETTERS_SHOWN { p class="hint" { "The first " (DEAD_LETTERS_SHOWN) " dead letters of the queue are shown." } }
        @if letters.is_empty() { p class="empty" { "The dead-letter queue is empty." } } @else {
            table class="dead-letters" {
                thead { tr { th { "Payment" } th { "Died in" } th { "Reason" } th { "Message" } th {} } }
                tbody { @for l in letters {
                    tr {
                        td { @if let Some(id) = &l.payment_id { a href={ "/console/payments/" (id) } { code { (id) } } } @else { span class="muted" { "not a payment message" } } }
                        td { (l.queue.as_deref().unwrap_or("")) }
                        td class="reason" { (l.reason.as_deref().unwrap_or("")) }
                        td { code class="body" { (l.body) } }
                        td { @if let (true, Some(id)) = (admin, &l.payment_id) {
                            form method="post" action="/console/dead-letters/replay" {
                                input type="hidden" name="csrf" value=(frame.csrf);
                                input type="hidden" name="payment_id" value=(id);
                                button type="submit" { "Replay" }
                            }
                        } }
                    }
                } }
            }
        }
    };
    page("Dead letters", Some(frame), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::Scopes;

    #[test]
    fn what_a_client_wrote_is_escaped() {
        let frame =
            Frame { caller: Caller { token: 0, scopes: Scopes::ALL }, csrf: "\"><script>alert(1)</script>" };
        let html =
            problem("<img src=x onerror=alert(1)>", "<script>alert('x')</script> & \"q\"", Some(frame))
                .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
                || html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;q&quot;"),
            "{html}"
        );
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;"), "attribute values too: {html}");
    }

    #[test]
    fn metadata_keys_and_values_are_escaped() {
        let m = Metadata::from_json(&serde_json::json!({"order.ref": "<script>x</script>\"'&"})).unwrap();
        let html = metadata(&m).into_string();
        assert_eq!(
            html,
            "<dl class=\"metadata\"><dt>order.ref</dt><dd>&lt;script&gt;x&lt;/script&gt;&quot;'&amp;</dd></dl>"
        );
    }

    #[test]
    fn the_sign_in_form_posts_the_token_in_the_body_with_its_csrf_value() {
        let html = sign_in("abc123", Some("refused")).into_string();
        assert!(
            html.contains("<form class=\"sign-in\" method=\"post\" action=\"/console/sign-in\">"),
            "{html}"
        );
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"abc123\">"), "{html}");
        assert!(html.contains("type=\"password\""), "{html}");
        assert!(!html.contains("sign-out"), "no frame before sign-in");
    }
}
