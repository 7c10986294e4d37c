//! A container's environment variables, as every builder writes them: a
//! value written out, or a key of a Secret.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};

/// An environment variable read from a Secret.
pub fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// An environment variable from a Secret key that may be absent.
pub fn optional_secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    let mut var = secret_env(name, secret, key);
    if let Some(selector) = var.value_from.as_mut().and_then(|v| v.secret_key_ref.as_mut()) {
        selector.optional = Some(true);
    }
    var
}

/// An environment variable with its value written out.
pub fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}
