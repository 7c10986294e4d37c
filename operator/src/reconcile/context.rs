//! `Context`: what every reconcile shares (the client, the event
//! recorder, the metrics, the backoff's failure counts, the source of new
//! passwords, the operator's defaults). The controller makes it; the
//! pipeline's steps read it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use payrail_common::chain;
use tokio::sync::Mutex;
use tracing::warn;

use super::build::{MANAGER, PasswordSource, RandomPasswords};
use super::validate::OperatorDefaults;
use crate::crd::PaymentCluster;
use crate::metrics::Metrics;

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per cluster, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
    pub(crate) passwords: Mutex<Box<dyn PasswordSource + Send>>,
    /// What a spec that leaves a setting unsaid gets.
    pub defaults: OperatorDefaults,
}

impl Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self::with_passwords(client, metrics, Box::new(RandomPasswords))
    }

    /// With a given source of new passwords (tests use a fixed one).
    pub fn with_passwords(
        client: Client,
        metrics: Arc<Metrics>,
        passwords: Box<dyn PasswordSource + Send>,
    ) -> Self {
        let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
            passwords: Mutex::new(passwords),
            defaults: OperatorDefaults::default(),
        }
    }

    /// With the operator's defaults for what specs leave unsaid.
    pub fn with_defaults(mut self, defaults: OperatorDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// Events are for people; failing to record one must not fail a reconcile.
    pub(crate) async fn publish(&self, cr: &PaymentCluster, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &cr.object_ref(&())).await {
            warn!(error = %chain(&e), reason, "could not record an event");
        }
    }

    /// Counts one more failure of `cr` in a row, for the backoff; returns
    /// how many there are now (1 when the count is busy: never a wait on
    /// the lock in the controller's error path).
    pub(crate) fn count_failure(&self, cr: &PaymentCluster) -> u32 {
        match self.failures.try_lock() {
            Ok(mut map) => {
                let n = map.entry(key(cr)).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 1,
        }
    }

    /// A success resets the backoff.
    pub(crate) async fn forget_failures(&self, cr: &PaymentCluster) {
        self.failures.lock().await.remove(&key(cr));
    }
}

pub(crate) fn key(cr: &PaymentCluster) -> String {
    format!("{}/{}", cr.namespace().unwrap_or_default(), cr.name_any())
}
