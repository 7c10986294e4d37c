//! The operator's one error type.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error")]
    Kube(#[from] kube::Error),

    #[error("the PaymentCluster has no namespace")]
    NoNamespace,

    #[error("could not serialize an object")]
    Serialize(#[from] serde_json::Error),

    #[error("could not read YAML")]
    Yaml(#[from] serde_yaml::Error),

    #[error("I/O error")]
    Io(#[from] std::io::Error),
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
