//! The operator's one error type, and the label each kind of failure
//! carries on the reconcile-failure metric.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error")]
    Kube(#[from] kube::Error),

    #[error("the PaymentCluster has no namespace")]
    NoNamespace,

    /// Some children were not applied; status names each with the API
    /// server's message, and the reconcile is retried with backoff.
    #[error("{failed} of {attempted} objects could not be applied")]
    ApplyFailed { failed: usize, attempted: usize },

    /// Children no longer built could not all be deleted.
    #[error("{0} objects no longer built could not be deleted")]
    PruneFailed(usize),

    #[error("could not serialize an object")]
    Serialize(#[from] serde_json::Error),

    #[error("could not read YAML")]
    Yaml(#[from] serde_yaml::Error),

    #[error("I/O error")]
    Io(#[from] std::io::Error),

    #[error("leader election failed")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
}

impl Error {
    /// The `error` label of `payrail_operator_reconcile_failures_total`: a
    /// small fixed set, so a dashboard can tell an RBAC gap (`kube_403`)
    /// from a refused child (`apply_failed`) without reading logs.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(kube::Error::Api(status)) => format!("kube_{}", status.code),
            Error::Kube(_) => "kube_client".into(),
            Error::NoNamespace => "no_namespace".into(),
            Error::ApplyFailed { .. } => "apply_failed".into(),
            Error::PruneFailed(_) => "prune_failed".into(),
            Error::Serialize(_) | Error::Yaml(_) => "serialize".into(),
            Error::Io(_) => "io".into(),
            Error::Lease(_) => "lease".into(),
        }
    }
}

/// Renders an error with its whole chain of causes, for logs.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_name_the_kind_of_failure() {
        let api = |code| {
            Error::Kube(kube::Error::Api(
                kube::core::Status::failure("no", "Forbidden").with_code(code).boxed(),
            ))
        };
        assert_eq!(api(403).metric_label(), "kube_403");
        assert_eq!(api(409).metric_label(), "kube_409");
        assert_eq!(Error::ApplyFailed { failed: 1, attempted: 14 }.metric_label(), "apply_failed");
        assert_eq!(Error::NoNamespace.metric_label(), "no_namespace");
    }
}
