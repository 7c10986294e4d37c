//! A steady stream of payments, refunds, captures and voids sent as careful
//! clients send them, and what must hold once a fault is over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::app::{App, client};
use super::env::TestEnv;
use super::{TOKEN, eventually, poll_within};

/// A steady stream of payments among `accounts`, as careful clients send
/// them: each payment has its own idempotency key and is retried with it
/// on 5xx answers and connection errors until it gets a definite answer.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
    refunds: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<usize>,
}

/// What the clients saw.
#[derive(Debug)]
pub struct TrafficReport {
    /// Ids of payments answered 202.
    pub accepted: Vec<String>,
    /// Payments (keys) sent.
    pub sent: usize,
    /// Ids of refunds answered 202.
    pub refunds: Vec<String>,
}

/// What the traffic does with a payment once it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowUp {
    None,
    /// A manual payment, captured in part once authorized.
    Capture,
    /// A manual payment, voided once authorized.
    Void,
    /// A manual payment left to expire (its hold lasts 3 s).
    Expire,
    /// An automatic payment, refunded in part once done.
    Refund,
}

impl FollowUp {
    /// One payment in four is manual (captured, voided or left to expire in
    /// turn), one in four is refunded once done.
    fn of(sent: usize) -> FollowUp {
        match (sent % 4, sent / 4 % 3) {
            (1, _) => FollowUp::Refund,
            (3, 0) => FollowUp::Capture,
            (3, 1) => FollowUp::Void,
            (3, _) => FollowUp::Expire,
            _ => FollowUp::None,
        }
    }

    fn manual(self) -> bool {
        matches!(self, FollowUp::Capture | FollowUp::Void | FollowUp::Expire)
    }
}

impl Traffic {
    /// One new payment every `every`, amounts 1.00 to 9.00; a quarter of
    /// them manual (then captured, voided or left to expire) and a quarter
    /// refunded in part once done, so faults meet every kind of work settle
    /// does.
    pub fn start(base: &str, accounts: &[String], every: Duration) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let refunds = Arc::new(Mutex::new(Vec::new()));
        let (base, accounts) = (base.to_owned(), accounts.to_vec());
        let task = tokio::spawn({
            let (stop, accepted, refunds) = (stop.clone(), accepted.clone(), refunds.clone());
            async move {
                let http = client(Some(TOKEN));
                let mut clients = tokio::task::JoinSet::new();
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let from = sent % accounts.len();
                    let to = (from + 1 + sent / accounts.len() % (accounts.len() - 1)) % accounts.len();
                    let follow_up = FollowUp::of(sent);
                    let mut body = json!({
                        "from_account": accounts[from],
                        "to_account": accounts[to],
                        "amount": format!("{}.00", 1 + sent % 9),
                    });
                    if follow_up.manual() {
                        body["capture"] = json!("manual");
                        body["hold_expires_in_secs"] = json!(3);
                    }
                    let (http, base, accepted, refunds) =
                        (http.clone(), base.clone(), accepted.clone(), refunds.clone());
                    clients.spawn(async move {
                        let id = send_until_answered(&http, &base, body, &accepted).await;
                        follow(&http, &base, &id, follow_up, &refunds).await;
                    });
                    sent += 1;
                    tokio::time::sleep(every).await;
                }
                while let Some(done) = clients.join_next().await {
                    done.unwrap();
                }
                sent
            }
        });
        Traffic { stop, accepted, refunds, task }
    }

    pub fn accepted_so_far(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Ids of the payments answered 202 so far.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }

    /// Stops sending new payments, at once; [`Traffic::stop`] then waits
    /// for the clients. Several streams are halted together before any is
    /// waited for, or the others keep sending while the first drains.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops sending new payments and waits for every client's answer and
    /// follow-up.
    pub async fn stop(self) -> TrafficReport {
        self.halt();
        let sent = self.task.await.unwrap();
        let accepted = std::mem::take(&mut *self.accepted.lock().unwrap());
        let refunds = std::mem::take(&mut *self.refunds.lock().unwrap());
        TrafficReport { accepted, sent, refunds }
    }
}

/// How long a careful client keeps trying for a definite answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// Answers a client rides out by trying again: a fault (5xx) or a 429,
/// which records nothing. Under load a token's in-flight limit is reached
/// now and then (the polling follow-ups count against it too).
fn retryable(status: u16) -> bool {
    status >= 500 || status == 429
}

/// POSTs `body` until a definite answer, with one Idempotency-Key for
/// every try; returns the id of what was created.
async fn post_until_answered(http: &reqwest::Client, url: &str, body: &Value, what: &str) -> String {
    let key = Uuid::new_v4().to_string();
    eventually(ANSWER_WITHIN, &format!("a definite answer for {what} {key}"), || async {
        let r = http
            .post(url)
            .header("idempotency-key", &key)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        if status == 202 {
            let json: Value = r.json().await.unwrap();
            return Ok(json["id"].as_str().unwrap().to_owned());
        }
        let text = r.text().await.unwrap_or_default();
        assert!(retryable(status), "a {what} was refused with {status}: {text}");
        Err(format!("{status} {text}"))
    })
    .await
}

async fn send_until_answered(
    http: &reqwest::Client,
    base: &str,
    body: Value,
    accepted: &Mutex<Vec<String>>,
) -> String {
    let id = post_until_answered(http, &format!("{base}/api/v1/payment"), &body, "payment").await;
    accepted.lock().unwrap().push(id.clone());
    id
}

/// Polls a payment (riding out faults) until its status is no longer
/// `pending`.
async fn settled_status(http: &reqwest::Client, base: &str, id: &str) -> String {
    eventually(ANSWER_WITHIN, &format!("payment {id} leaves pending"), || async {
        let r = http.get(format!("{base}/api/v1/payment/{id}")).send().await.map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(r.status().to_string());
        }
        let json: Value = r.json().await.unwrap();
        match json["status"].as_str().unwrap() {
            "pending" => Err("pending".to_owned()),
            status => Ok(status.to_owned()),
        }
    })
    .await
}

async fn follow(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    follow_up: FollowUp,
    refunds: &Mutex<Vec<String>>,
) {
    let action = match follow_up {
        FollowUp::None | FollowUp::Expire => return,
        FollowUp::Refund => {
            if settled_status(http, base, id).await == "done" {
                let url = format!("{base}/api/v1/payment/{id}/refunds");
                let refund = post_until_answered(http, &url, &json!({"amount": "0.50"}), "refund").await;
                refunds.lock().unwrap().push(refund);
            }
            return;
        }
        FollowUp::Capture => "capture",
        FollowUp::Void => "void",
    };
    if settled_status(http, base, id).await != "authorized" {
        return;
    }
    // Capture and void take no Idempotency-Key: after a lost answer, a
    // retry's 409 `invalid_state` means the first one (or the expiry) stood.
    let body = if action == "capture" { json!({"amount": "0.50"}) } else { json!({}) };
    eventually(ANSWER_WITHIN, &format!("a definite answer to the {action} of {id}"), || async {
        let url = format!("{base}/api/v1/payment/{id}/{action}");
        let r = http.post(url).json(&body).send().await.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        if status == 202 || status == 409 {
            return Ok(());
        }
        let text = r.text().await.unwrap_or_default();
        assert!(retryable(status), "a {action} was refused with {status}: {text}");
        Err(format!("{status} {text}"))
    })
    .await;
}

/// After a fault: every payment answered 202 ends `done` or `failed`, no
/// payment at all is left `pending` (including any whose answer was lost),
/// nothing was created twice, and the audit passes.
#[allow(clippy::print_stdout)] // a summary for --nocapture runs
pub async fn assert_all_settled(app: &App, env: &TestEnv, report: &TrafficReport) {
    assert!(!report.accepted.is_empty(), "the traffic got no payment through");
    app.wait_terminal(&report.accepted, Duration::from_secs(120)).await;
    let pg = env.pg().await;
    poll_within(Duration::from_secs(120), || async {
        // Nothing pending, no hold left open (the traffic's last ones
        // expire 3 s after their authorization), no refund pending.
        let (pending, authorized, refunds): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM payments WHERE status = 'pending'),
                    (SELECT count(*) FROM payments WHERE status = 'authorized'),
                    (SELECT count(*) FROM refunds WHERE status = 'pending')",
        )
        .fetch_one(&pg)
        .await
        .unwrap();
        if pending + authorized + refunds == 0 {
            return Ok(());
        }
        Err(format!("{pending} payments still pending, {authorized} authorized, {refunds} refunds pending"))
    })
    .await
    .unwrap_or_else(|seen| panic!("{seen}; log:\n{}", app.log_problems()));
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&pg).await.unwrap();
    assert_eq!(payments as usize, report.sent, "one payment per key sent, each exactly once");
    let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&pg).await.unwrap();
    assert_eq!(refunds as usize, report.refunds.len(), "one refund per key answered 202, each exactly once");
    let ends: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM payments GROUP BY status ORDER BY status")
            .fetch_all(&pg)
            .await
            .unwrap();
    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");
    // What the fault looked like from inside, for whoever runs with --nocapture.
    let log = app.log_text();
    let mut seen: Vec<String> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("relay re-queued"))
        .map(|l| l.split_once(": ").map_or(l, |(_, m)| m).chars().take(110).collect())
        .collect();
    seen.sort();
    seen.dedup_by(|a, b| a.get(..40) == b.get(..40));
    println!(
        "{} payments sent, {} answered 202, all settled ({ends:?}), {} refunds; the app logged:\n  {}",
        report.sent,
        report.accepted.len(),
        report.refunds.len(),
        seen.join("\n  ")
    );
}
