//! `payment-operator crd` and `render`: the CRD and a cluster's objects as
//! YAML, for GitOps users and for review, from the same code the controller
//! runs.

use std::path::Path;

use kube::CustomResourceExt;

use crate::builders::{self, Credentials, PasswordSource};
use crate::crd::PaymentCluster;

/// Stands in for generated passwords: the operator makes the real ones on
/// first apply and keeps them; a rendered file must never carry them.
#[derive(Debug)]
pub struct Placeholder;

impl PasswordSource for Placeholder {
    fn password(&mut self) -> String {
        "generated-by-the-operator-on-first-apply".into()
    }
}

pub fn crd_yaml() -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(&PaymentCluster::crd())?)
}

/// Every object of the PaymentCluster in `text`, as a YAML stream.
pub fn render(text: &str) -> anyhow::Result<String> {
    let mut cr: PaymentCluster = serde_yaml::from_str(text)?;
    if cr.metadata.namespace.is_none() {
        cr.metadata.namespace = Some("default".into());
    }
    let valid = crate::validate::validate(&cr)
        .map_err(|problems| anyhow::anyhow!("invalid PaymentCluster: {problems}"))?;
    let credentials = Credentials::complete(None, &mut Placeholder);
    let mut out = String::new();
    for child in builders::build(&valid, &credentials, &builders::Observed::default()) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&child)?);
    }
    Ok(out)
}

pub fn render_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    render(&text)
}
