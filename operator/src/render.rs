//! `payment-operator crd` and `render`: the CRD and a cluster's objects as
//! YAML, for GitOps users and for review, from the same code the controller
//! runs.

use std::path::Path;

use kube::CustomResourceExt;
use secrecy::SecretString;

use crate::crd::PaymentCluster;
use crate::error::{Error, Result};
use crate::reconcile::build::{self, Credentials, PasswordSource};

/// Stands in for generated passwords: the operator makes the real ones on
/// first apply and keeps them; a rendered file must never carry them.
#[derive(Debug)]
pub struct Placeholder;

impl PasswordSource for Placeholder {
    fn password(&mut self) -> SecretString {
        "generated-by-the-operator-on-first-apply".into()
    }
}

pub fn crd_yaml() -> Result<String> {
    Ok(serde_norway::to_string(&PaymentCluster::crd())?)
}

/// Every object of the PaymentCluster in `text`, as a YAML stream.
pub fn render(text: &str) -> Result<String> {
    let mut cr: PaymentCluster = serde_norway::from_str(text)?;
    if cr.metadata.namespace.is_none() {
        cr.metadata.namespace = Some("default".into());
    }
    let valid = crate::reconcile::validate::validate(&cr)?;
    let credentials = Credentials::complete(None, &mut Placeholder);
    let mut out = String::new();
    for child in build::build(&valid, &credentials, &build::Observed::default()) {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&child)?);
    }
    Ok(out)
}

pub fn render_file(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    render(&text)
}
