//! `ChildFailure`: an object that was not applied (or not deleted), and
//! why. Apply, prune, the volume plan and the dereference step each report
//! them; the status step turns them into the `Degraded` condition.

use payrail_common::chain;
use tracing::warn;

/// The kinds CloudNativePG and its Barman Cloud plugin add to the cluster.
const CNPG_KINDS: [&str; 4] = ["Cluster", "ScheduledBackup", "Pooler", "ObjectStore"];
/// The kinds the Prometheus Operator adds to the cluster.
pub(crate) const PROMETHEUS_KINDS: [&str; 2] = ["PodMonitor", "PrometheusRule"];

/// An object that was not applied (or not deleted), and why, in words fit
/// for a status condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFailure {
    pub kind: &'static str,
    pub name: String,
    pub message: String,
}

impl ChildFailure {
    pub(crate) fn from_error(kind: &'static str, name: &str, error: &kube::Error) -> Self {
        let message = match error {
            // A CloudNativePG kind the API server does not know: CNPG (or
            // its Barman Cloud plugin) is not installed.
            kube::Error::Api(status) if status.code == 404 && CNPG_KINDS.contains(&kind) => format!(
                "the API server has no {kind} kind: install CloudNativePG (and, for backups, its Barman Cloud plugin) first ({})",
                status.message
            ),
            kube::Error::Api(status) if status.code == 404 && PROMETHEUS_KINDS.contains(&kind) => format!(
                "the API server has no {kind} kind: install the Prometheus Operator first, or turn monitoring.enabled off ({})",
                status.message
            ),
            // The API server's own words: what a user can act on.
            kube::Error::Api(status) => status.message.clone(),
            // Anything else is internal: logged whole, summarised here.
            other => {
                warn!(kind, name, error = %chain(other), "API call failed");
                "the API server could not be reached (see the operator's log)".into()
            }
        };
        ChildFailure { kind, name: name.to_owned(), message }
    }
}
