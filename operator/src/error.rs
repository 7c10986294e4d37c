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

    /// The builders always make the credentials Secret first; a build
    /// without it is a bug, reported rather than applied.
    #[error("the build made no credentials Secret")]
    NothingBuilt,

    /// Children no longer built could not all be deleted.
    #[error("{0} objects no longer built could not be deleted")]
    PruneFailed(usize),

    /// kube-runtime's finalizer helper met an object it cannot patch (no
    /// name); never expected of an object read from the API.
    #[error("the PaymentCluster's finalizer could not be handled")]
    Finalizer,

    #[error("could not serialize an object")]
    Serialize(#[from] serde_json::Error),

    #[error("could not read or write YAML")]
    Yaml(#[from] serde_norway::Error),

    #[error("cannot read {path}")]
    Read { path: std::path::PathBuf, source: std::io::Error },

    /// A `PaymentCluster` given to `render` that breaks the spec's rules.
    #[error("invalid PaymentCluster: {0}")]
    InvalidSpec(#[from] InvalidSpec),

    #[error("no Kubernetes client configuration (in-cluster or KUBECONFIG)")]
    Kubeconfig(#[from] kube::config::InferConfigError),

    #[error("I/O error")]
    Io(#[from] std::io::Error),

    #[error("the health and metrics server stopped")]
    Server(#[from] tokio::task::JoinError),

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
            Error::Finalizer => "finalizer".into(),
            Error::NothingBuilt => "nothing_built".into(),
            Error::ApplyFailed { .. } => "apply_failed".into(),
            Error::PruneFailed(_) => "prune_failed".into(),
            Error::Serialize(_) | Error::Yaml(_) => "serialize".into(),
            Error::InvalidSpec(_) => "invalid_spec".into(),
            Error::Kubeconfig(_) => "kubeconfig".into(),
            Error::Io(_) | Error::Read { .. } | Error::Server(_) => "io".into(),
            Error::Lease(_) => "lease".into(),
        }
    }
}

/// Everything wrong with a spec, one problem per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSpec(pub Vec<String>);

impl std::fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for InvalidSpec {}

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
