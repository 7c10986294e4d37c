//! `payment-app bench`: drives load against a running payrail, waits until
//! every accepted payment is terminal, runs the audit, and reports.
//!
//! Open loop (`--rate`) sends on a fixed schedule and measures each
//! request's latency from the time it was meant to be sent, so a stalled
//! server shows up as latency instead of being hidden by fewer requests
//! (no coordinated omission). Closed loop (`--concurrency`) keeps that many
//! requests in flight. Settlement times come from the database's own
//! `created_at`/`updated_at`, one clock for both ends.

mod chart;
mod scenario;
pub mod seed;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

pub use scenario::Scenario;
pub use stats::{Percentiles, Report, Second};

use crate::db::{self, bench::Terminal};
use crate::error::{Error, Result};

/// How load is offered.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `rate` payments per second on a fixed schedule, for `duration`.
    Open { rate: u32, duration: Duration },
    /// `concurrency` requests always in flight, for `duration`.
    Closed { concurrency: usize, duration: Duration },
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub url: String,
    pub token: String,
    /// The database payrail writes to: settlement is watched there and the
    /// audit runs there.
    pub database_url: payrail_common::SecretUrl,
    pub scenario: Scenario,
    pub accounts: usize,
    pub mode: Mode,
    /// How long to wait for the last payment to settle after sending stops.
    pub settle_timeout: Duration,
    pub chart: Option<PathBuf>,
    pub progress: bool,
    pub seed: u64,
}

/// One request as the client saw it.
#[derive(Debug, Clone)]
struct Sample {
    /// When it was meant to be sent, from the start of the run.
    intended: Duration,
    latency: Duration,
    outcome: Sent,
}

#[derive(Debug, Clone)]
enum Sent {
    Accepted(Uuid),
    Refused(u16),
    Transport,
}

/// Most requests in flight at once in open loop; past this the schedule
/// slips, and the slip counts as latency.
const MAX_IN_FLIGHT: usize = 8192;

pub async fn run(config: BenchConfig) -> Result<Report> {
    let http = client(&config.token)?;
    let pool = PgPool::connect(config.database_url.expose_secret()).await?;
    let accounts = open_accounts(&http, &config).await?;
    let samples = Arc::new(Mutex::new(Vec::new()));

    let (mode_text, send_seconds) = match config.mode {
        Mode::Open { rate, duration } => {
            (format!("open loop at {rate}/s for {}s", duration.as_secs()), duration)
        }
        Mode::Closed { concurrency, duration } => {
            (format!("closed loop, {concurrency} in flight, for {}s", duration.as_secs()), duration)
        }
    };
    let bar = progress(&config, send_seconds);
    let started = Instant::now();
    match config.mode {
        Mode::Open { rate, duration } => {
            open_loop(&http, &config, &accounts, &samples, rate, duration, &bar).await
        }
        Mode::Closed { concurrency, duration } => {
            closed_loop(&http, &config, &accounts, &samples, concurrency, duration, &bar).await;
        }
    }
    let sent_for = started.elapsed();
    bar.finish_and_clear();

    let samples = std::mem::take(&mut *samples.lock().await);
    let accepted: Vec<Uuid> = samples
        .iter()
        .filter_map(|s| match s.outcome {
            Sent::Accepted(id) => Some(id),
            _ => None,
        })
        .collect();
    let not_settled = wait_until_settled(&pool, &accepted, &config).await?;
    let settled = fetch_settled(&pool, &accepted).await?;
    // Incremental: after the first run, what this run added (the
    // checkpoint key, if any, is not the load generator's to hold).
    let audit_config = crate::audit::AuditConfig::new(Duration::from_secs(24 * 3600));
    let audit = crate::audit::run(&pool, &audit_config).await?;

    Ok(report(&config, mode_text, &samples, &settled, not_settled, sent_for, audit.ok))
}

/// Writes the chart, when asked for.
pub fn write_chart(config: &BenchConfig, report: &Report) -> Result<()> {
    if let Some(path) = &config.chart {
        let title = format!("payrail bench: {:?}, {}", report.scenario, report.mode);
        std::fs::write(path, chart::svg(&title, &report.per_second, "accept p99"))?;
    }
    Ok(())
}

/// Charts every payment of `database_url` from its own timestamps, for a
/// run this bench did not drive (k6's): accepted and settled per second,
/// and the accept→terminal p99 of each second's accepted payments.
pub async fn chart_from_database(
    database_url: &payrail_common::SecretUrl,
    title: &str,
    out: &std::path::Path,
) -> Result<()> {
    let pool = PgPool::connect(database_url.expose_secret()).await?;
    let seconds: Vec<Second> = db::bench::per_second(&pool)
        .await?
        .into_iter()
        .enumerate()
        .map(|(second, s)| Second {
            second,
            accepted: usize::try_from(s.accepted).unwrap_or(0),
            settled: usize::try_from(s.settled).unwrap_or(0),
            accept_p99_ms: s.p99_ms,
        })
        .collect();
    pool.close().await;
    std::fs::write(out, chart::svg(title, &seconds, "accept→terminal p99"))?;
    Ok(())
}

fn client(token: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| Error::Config("the API token is not a valid header value".into()))?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()?)
}

fn progress(config: &BenchConfig, duration: Duration) -> ProgressBar {
    if !config.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(duration.as_secs());
    bar.set_style(
        ProgressStyle::with_template("{spinner} sending [{bar:40}] {pos}/{len}s {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

async fn open_accounts(http: &reqwest::Client, config: &BenchConfig) -> Result<Vec<String>> {
    let url = format!("{}/api/v1/accounts", config.url);
    let body = json!({ "initial_balance": config.scenario.initial_balance() });
    let created: Vec<Result<String>> = stream::iter(0..config.accounts)
        .map(|_| async {
            let response = http.post(&url).json(&body).send().await?;
            let status = response.status();
            let json: Value = response.json().await?;
            json["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Config(format!("opening an account failed with {status}: {json}")))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    created.into_iter().collect()
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    accounts: &[String],
    (from, to, cents): (usize, usize, u64),
) -> Sent {
    let body = json!({
        "from_account": accounts[from],
        "to_account": accounts[to],
        "amount": format!("{}.{:02}", cents / 100, cents % 100),
        "payment_description": "bench",
    });
    match http.post(url).json(&body).send().await {
        Ok(r) if r.status().as_u16() == 202 => match r.json::<Value>().await {
            Ok(json) => {
                json["id"].as_str().and_then(|id| id.parse().ok()).map_or(Sent::Transport, Sent::Accepted)
            }
            Err(_) => Sent::Transport,
        },
        Ok(r) => Sent::Refused(r.status().as_u16()),
        Err(_) => Sent::Transport,
    }
}

async fn open_loop(
    http: &reqwest::Client,
    config: &BenchConfig,
    accounts: &[String],
    samples: &Arc<Mutex<Vec<Sample>>>,
    rate: u32,
    duration: Duration,
    bar: &ProgressBar,
) {
    let url = Arc::new(format!("{}/api/v1/payment", config.url));
    let accounts = Arc::new(accounts.to_vec());
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0u32.. {
        let intended = period * i;
        if intended >= duration {
            break;
        }
        tokio::time::sleep_until(start + intended).await;
        bar.set_position(intended.as_secs());
        let payment = config.scenario.next(&mut rng, accounts.len());
        let permit = in_flight.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (http, url, accounts, samples) = (http.clone(), url.clone(), accounts.clone(), samples.clone());
        tasks.spawn(async move {
            let outcome = send(&http, &url, &accounts, payment).await;
            // From the intended send time, not from when it went out.
            let latency = start.elapsed().saturating_sub(intended);
            samples.lock().await.push(Sample { intended, latency, outcome });
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn closed_loop(
    http: &reqwest::Client,
    config: &BenchConfig,
    accounts: &[String],
    samples: &Arc<Mutex<Vec<Sample>>>,
    concurrency: usize,
    duration: Duration,
    bar: &ProgressBar,
) {
    let url = format!("{}/api/v1/payment", config.url);
    let start = Instant::now();
    let workers = (0..concurrency).map(|worker| {
        let (http, url, samples) = (http.clone(), url.clone(), samples.clone());
        let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_add(worker as u64));
        async move {
            while start.elapsed() < duration {
                let intended = start.elapsed();
                let outcome =
                    send(&http, &url, accounts, config.scenario.next(&mut rng, accounts.len())).await;
                let latency = start.elapsed().saturating_sub(intended);
                samples.lock().await.push(Sample { intended, latency, outcome });
                if worker == 0 {
                    bar.set_position(start.elapsed().as_secs());
                }
            }
        }
    });
    futures_util::future::join_all(workers).await;
}

/// Polls the database until none of `ids` is pending; returns how many
/// still were when the timeout came.
async fn wait_until_settled(pool: &PgPool, ids: &[Uuid], config: &BenchConfig) -> Result<usize> {
    let bar = if config.progress { ProgressBar::new(ids.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("settling [{bar:40}] {pos}/{len}").expect("valid").progress_chars("=> "),
    );
    let deadline = Instant::now() + config.settle_timeout;
    loop {
        let mut pending = 0usize;
        for chunk in ids.chunks(10_000) {
            pending += usize::try_from(db::bench::pending_among(pool, chunk).await?).unwrap_or_default();
        }
        bar.set_position((ids.len() - pending) as u64);
        if pending == 0 || Instant::now() >= deadline {
            bar.finish_and_clear();
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn fetch_settled(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Terminal>> {
    let mut all = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000) {
        all.extend(db::bench::terminal_among(pool, chunk).await?);
    }
    Ok(all)
}

fn report(
    config: &BenchConfig,
    mode: String,
    samples: &[Sample],
    settled: &[Terminal],
    not_settled: usize,
    sent_for: Duration,
    audit_ok: bool,
) -> Report {
    let accepted = samples.iter().filter(|s| matches!(s.outcome, Sent::Accepted(_))).count();
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    for s in settled.iter().filter(|s| s.status == "failed") {
        *failed.entry(s.failure_reason.clone().unwrap_or_default()).or_default() += 1;
    }
    let first = settled.iter().map(|s| s.created_at).min();
    let last = settled.iter().map(|s| s.updated_at).max();
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default().as_secs_f64(),
        _ => 0.0,
    };
    let seconds = (sent_for.as_secs_f64().ceil() as usize).max(span.ceil() as usize).max(1);
    Report {
        scenario: config.scenario,
        mode,
        accounts: config.accounts,
        sent: samples.len(),
        accepted,
        errors: errors(samples),
        done: settled.iter().filter(|s| s.status == "done").count(),
        failed_by_reason: failed.into_iter().collect(),
        not_settled,
        send_seconds: sent_for.as_secs_f64(),
        accepted_per_second: accepted as f64 / sent_for.as_secs_f64().max(1e-9),
        settled_per_second: if span > 0.0 { settled.len() as f64 / span } else { 0.0 },
        accept_latency_ms: Percentiles::of(samples.iter().map(|s| s.latency.as_secs_f64() * 1e3).collect()),
        accept_to_terminal_ms: Percentiles::of(
            settled
                .iter()
                .map(|s| (s.updated_at - s.created_at).num_microseconds().unwrap_or(0) as f64 / 1e3)
                .collect(),
        ),
        audit_ok,
        per_second: per_second(samples, settled, first, seconds),
    }
}

/// The refused sends, counted by HTTP status (or `transport`).
fn errors(samples: &[Sample]) -> Vec<(String, usize)> {
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        match s.outcome {
            Sent::Accepted(_) => {}
            Sent::Refused(code) => *errors.entry(format!("http {code}")).or_default() += 1,
            Sent::Transport => *errors.entry("transport".into()).or_default() += 1,
        }
    }
    errors.into_iter().collect()
}

/// Each second of the run: payments accepted and settled in it (by the
/// database's clock, from the first payment settled) and the p99 accept
/// latency of the requests meant to be sent in it (by the sender's).
fn per_second(
    samples: &[Sample],
    settled: &[Terminal],
    first: Option<DateTime<Utc>>,
    seconds: usize,
) -> Vec<Second> {
    let mut per_second: Vec<Second> =
        (0..seconds).map(|second| Second { second, ..Second::default() }).collect();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    for s in samples {
        let i = (s.intended.as_secs() as usize).min(seconds - 1);
        latencies[i].push(s.latency.as_secs_f64() * 1e3);
    }
    if let Some(first) = first {
        let index =
            |t: DateTime<Utc>| ((t - first).num_milliseconds().max(0) as usize / 1000).min(seconds - 1);
        for s in settled {
            per_second[index(s.created_at)].accepted += 1;
            per_second[index(s.updated_at)].settled += 1;
        }
    }
    for (second, samples) in per_second.iter_mut().zip(latencies) {
        second.accept_p99_ms = Percentiles::of(samples).p99;
    }
    per_second
}
