//! `ChildFailure`: an object that was not applied (or not deleted), and
//! why, as a type: a kind the API server does not serve, a refusal in the
//! API server's (or the operator's) words, or a call that got no answer.
//! Apply, prune, the volume plan and the dereference step each report
//! them; prune passes over a kind that is missing by its variant, and the
//! status step turns the rest into the `Degraded` condition.

use std::fmt;

use payrail_common::chain;
use tracing::warn;

use crate::child::{Child, Source};

/// An object that was not applied (or not deleted), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFailure {
    pub kind: &'static str,
    pub name: String,
    pub cause: Cause,
}

/// Why a child was not applied (or not deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The API server does not serve the kind: the operator that adds it
    /// (CloudNativePG, the Prometheus Operator) is not installed. Holds the
    /// API server's message.
    KindMissing(String),
    /// The API server refused the call, or the operator refuses the change
    /// itself (a volume cannot shrink); in words a user can act on.
    Refused(String),
    /// The call got no answer from the API server; the whole error is in
    /// the operator's log, never in a status.
    Unreachable,
}

impl ChildFailure {
    /// A failure the operator states itself, before any call.
    pub fn refused(kind: &'static str, name: impl Into<String>, message: impl Into<String>) -> Self {
        ChildFailure { kind, name: name.into(), cause: Cause::Refused(message.into()) }
    }

    /// The failure of a call on one object of `kind`: a 404 is a missing
    /// kind only for the kinds another operator adds (for a core kind it
    /// is the object's namespace or the object that is missing).
    pub(crate) fn from_error(kind: &'static str, name: &str, error: &kube::Error) -> Self {
        let optional = Child::kind_named(kind).is_some_and(|k| k.source != Source::Core);
        let cause = match error {
            kube::Error::Api(status) if status.code == 404 && optional => {
                Cause::KindMissing(status.message.clone())
            }
            // The API server's own words: what a user can act on.
            kube::Error::Api(status) => Cause::Refused(status.message.clone()),
            // Anything else is internal: logged whole, summarised in status.
            other => {
                warn!(kind, name, error = %chain(other), "API call failed");
                Cause::Unreachable
            }
        };
        ChildFailure { kind, name: name.to_owned(), cause }
    }

    /// The failure of a list of every object of `kind`: a 404 here means
    /// the API server serves no such kind, whichever kind it is.
    pub(crate) fn from_list_error(kind: &'static str, name: &str, error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) if status.code == 404 => ChildFailure {
                kind,
                name: name.to_owned(),
                cause: Cause::KindMissing(status.message.clone()),
            },
            other => Self::from_error(kind, name, other),
        }
    }

    /// Whether the kind is not served here (nothing of it can exist).
    pub fn is_kind_missing(&self) -> bool {
        matches!(self.cause, Cause::KindMissing(_))
    }

    /// Why, in words fit for a status condition.
    pub fn message(&self) -> String {
        let kind = self.kind;
        match &self.cause {
            Cause::KindMissing(detail) => match Child::kind_named(kind).and_then(|k| k.source.remedy()) {
                Some(remedy) => format!("the API server has no {kind} kind: {remedy} ({detail})"),
                None => format!("the API server has no {kind} kind ({detail})"),
            },
            Cause::Refused(message) => message.clone(),
            Cause::Unreachable => "the API server could not be reached (see the operator's log)".into(),
        }
    }
}

/// `Kind name: why`, as the `Degraded` condition lists it.
impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.name, self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure(message, "NotFound").with_code(code).boxed())
    }

    #[test]
    fn a_404_is_a_missing_kind_only_for_another_operators_kind() {
        let monitor = ChildFailure::from_error("PodMonitor", "mini", &api(404, "the server could not find"));
        assert_eq!(monitor.cause, Cause::KindMissing("the server could not find".into()));
        assert!(monitor.message().contains("install the Prometheus Operator"), "{}", monitor.message());
        let pooler = ChildFailure::from_error("Pooler", "mini-postgres-pooler", &api(404, "not found"));
        assert!(pooler.message().contains("install CloudNativePG"), "{}", pooler.message());
        let config = ChildFailure::from_error("ConfigMap", "mini", &api(404, "namespaces \"x\" not found"));
        assert_eq!(config.cause, Cause::Refused("namespaces \"x\" not found".into()));
        assert_eq!(config.to_string(), "ConfigMap mini: namespaces \"x\" not found");
    }

    #[test]
    fn a_404_on_a_list_is_a_missing_kind_whatever_the_kind() {
        assert!(ChildFailure::from_list_error("ConfigMap", "(list)", &api(404, "no")).is_kind_missing());
        assert!(!ChildFailure::from_list_error("ConfigMap", "(list)", &api(403, "no")).is_kind_missing());
    }

    #[test]
    fn a_call_without_an_answer_says_so_without_the_error() {
        let failure = ChildFailure::from_error(
            "Secret",
            "mini-credentials",
            &kube::Error::LinesCodecMaxLineLengthExceeded,
        );
        assert_eq!(failure.cause, Cause::Unreachable);
        assert_eq!(failure.message(), "the API server could not be reached (see the operator's log)");
    }
}
