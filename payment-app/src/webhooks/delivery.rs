//! The delivery worker: sends each event to the endpoints that asked for
//! it, signed, retrying on the schedule until a 2xx or the last attempt.
//!
//! It shares nothing with settle but the database: settle writes events
//! and deliveries in its transaction and moves on, so a slow or dead
//! receiver can delay only its own deliveries. Concurrency is bounded
//! twice: at most `per_endpoint` attempts in flight per endpoint (counted
//! in the database, across instances), and at most `concurrency` in this
//! process. Several instances share the table through leased claims (see
//! `db::webhooks::claim`), so no attempt is made twice at once; a worker
//! killed mid-attempt leaves a lease that runs out, and the event is sent
//! again: delivery is at least once, and receivers dedupe on
//! `Payrail-Event-Id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use payrail_common::{Backoff, chain};
use reqwest::header::CONTENT_TYPE;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::guard::GuardedResolver;
use super::schedule::RetrySchedule;
use super::sign;
use crate::db::webhooks::{AttemptRecord, Claimed, Next};
use crate::db::{self, Db};
use crate::domain::{TargetRefused, UrlError, WebhookUrl, forbidden};
use crate::error::{Error, Result};

/// Backoff while the database itself is unavailable.
const DB_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Longest an attempt may take, connect to last header; past it the attempt failed.
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    /// Attempts in flight in this process.
    pub concurrency: usize,
    /// Attempts in flight per endpoint, across instances.
    pub per_endpoint: usize,
    /// How often the worker looks for due deliveries when it found none.
    pub poll_interval: Duration,
    pub allow_http: bool,
    pub allow_private: bool,
}

impl DeliveryConfig {
    /// How long a claim keeps a delivery from every other claim: the whole
    /// attempt with room to record it. A worker killed mid-attempt delays
    /// the retry by at most this.
    fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// The worker. Cheap to clone: every attempt's task holds one.
#[derive(Debug, Clone)]
pub struct Deliverer {
    db: Db,
    config: Arc<DeliveryConfig>,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(db: &Db, config: DeliveryConfig) -> Result<Self> {
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect is an answer like any other non-2xx: following it
            // would send the event (and its signature) somewhere unchecked.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the guard.
            .no_proxy()
            .user_agent(concat!("payrail-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            client = client.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Deliverer { db: db.clone(), config: Arc::new(config), client: client.build()? })
    }

    /// Delivers until `shutdown`, then lets attempts in flight finish
    /// (each is bounded by the timeout).
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        info!(
            concurrency = self.config.concurrency,
            per_endpoint = self.config.per_endpoint,
            schedule = %self.config.schedule,
            "webhook delivery started"
        );
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut attempts = JoinSet::new();
        let mut failures = 0;
        while !shutdown.is_cancelled() {
            while let Some(done) = attempts.try_join_next() {
                if let Err(e) = done {
                    warn!(error = %e, "a webhook attempt's task failed");
                }
            }
            let free = slots.available_permits();
            let claimed = if free == 0 { Ok(Vec::new()) } else { self.claim(free).await };
            let claimed = match claimed {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(e) => {
                    warn!(error = %chain(&e), "could not claim webhook deliveries; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(DB_BACKOFF.delay(failures)) => {}
                        () = shutdown.cancelled() => {}
                    }
                    failures += 1;
                    continue;
                }
            };
            let more_waiting = free > 0 && claimed.len() == free;
            for delivery in claimed {
                let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                attempts.spawn(self.clone().attempt(delivery, slot));
            }
            if more_waiting {
                continue;
            }
            // Nothing more is due: look again after the interval, or as soon
            // as an attempt ends (it may have freed a payment's next event).
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                () = shutdown.cancelled() => {}
            }
        }
        while attempts.join_next().await.is_some() {}
        info!("webhook delivery stopped");
        Ok(())
    }

    async fn claim(&self, free: usize) -> Result<Vec<Claimed>> {
        let limit = i64::try_from(free).unwrap_or(i64::MAX);
        let per_endpoint = i64::try_from(self.config.per_endpoint).unwrap_or(i64::MAX);
        db::webhooks::claim(&self.db.primary, limit, per_endpoint, self.config.lease()).await
    }

    /// One attempt, then its record. If the record cannot be written, the
    /// lease runs out and the event is sent again (at least once).
    #[instrument(skip_all, fields(endpoint_id = %delivery.endpoint_id, event_id = %delivery.event_id))]
    async fn attempt(self, delivery: Claimed, _slot: OwnedSemaphorePermit) {
        let attempt = delivery.attempts.saturating_add(1);
        let started = Instant::now();
        let sent = match self.send(&delivery).await {
            Ok(sent) => sent,
            Err(e) => {
                warn!(error = %chain(&e), "could not prepare a webhook attempt; it is retried after its lease");
                return;
            }
        };
        let duration = started.elapsed();
        let (status_code, error) = match sent {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        let delivered = status_code.is_some_and(|s| (200..300).contains(&s));
        let next = if delivered {
            Next::Delivered
        } else {
            let failed_attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
            self.config.schedule.jittered_delay_after(failed_attempt).map_or(Next::GiveUp, Next::RetryIn)
        };
        match next {
            Next::Delivered => debug!(attempt, "webhook delivered"),
            Next::RetryIn(delay) => {
                debug!(attempt, ?status_code, ?error, retry_in = ?delay, "webhook attempt failed")
            }
            Next::GiveUp => {
                warn!(attempt, ?status_code, ?error, "webhook attempt failed; it was the last, giving up")
            }
        }
        crate::metrics::get().webhook_attempt(delivered);
        let record = AttemptRecord {
            endpoint_id: delivery.endpoint_id,
            event_id: delivery.event_id,
            attempt,
            status_code,
            error,
            duration,
            next,
        };
        if let Err(e) = db::webhooks::finish_attempt(&self.db.primary, &record).await {
            warn!(error = %chain(&e), "could not record a webhook attempt; it is retried after its lease");
        }
    }

    /// Sends the event: `Ok(Ok(status))` for any answer, `Ok(Err(why))`
    /// when there was none (refused target, connection, TLS, timeout).
    /// `Err` only when the event could not be read.
    async fn send(&self, delivery: &Claimed) -> Result<std::result::Result<u16, String>> {
        let url = match self.target(&delivery.url) {
            Ok(url) => url,
            Err(refused) => return Ok(Err(format!("refused: {refused}"))),
        };
        let event = db::events::get(&self.db.primary, delivery.event_id)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("event {} vanished", delivery.event_id)))?;
        let body = serde_json::to_vec(&event).map_err(|e| Error::Corrupt(e.to_string()))?;
        let signature = sign::signature_header(&delivery.secrets, Utc::now().timestamp(), &body);
        let response = self
            .client
            .post(url.as_url().clone())
            .header(CONTENT_TYPE, "application/json")
            .header("Payrail-Event-Id", event.id.to_string())
            .header("Payrail-Signature", signature)
            .body(body)
            .send()
            .await;
        Ok(match response {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(chain(&e)),
        })
    }

    /// The endpoint's URL, checked again under today's rules: the scheme,
    /// and an address literal (names are checked by the resolver, on the
    /// addresses the connection then uses).
    fn target(&self, url: &str) -> std::result::Result<WebhookUrl, TargetRefused> {
        let url = WebhookUrl::parse(url, self.config.allow_http)?;
        if !self.config.allow_private
            && let Some(ip) = url.ip_literal()
            && forbidden(ip)
        {
            return Err(UrlError::Forbidden(ip).into());
        }
        Ok(url)
    }
}
