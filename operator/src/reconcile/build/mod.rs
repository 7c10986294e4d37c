//! Pure builders: every object a `PaymentCluster` needs, as a function of
//! the validated resource and of what the dereference step read (the
//! credentials, whose passwords are never regenerated; the claim templates
//! that exist, which can never change). No client, no I/O: the controller
//! applies what these return, `payment-operator render` prints it, and the
//! tests read it directly.
//!
//! Each data service is its own module behind the same seam (children of
//! a `ValidatedCluster`), so another way to run one (an operator-managed
//! PostgreSQL, an external server) is a sibling module, not an edit of
//! every builder. What the builders share lives in modules below them
//! (`meta`, `observed`, `workload`, `env`, `scrape`), never here:
//! this module only puts the children together, so no builder imports it.

mod alerts;
pub mod app;
pub mod counts;
pub mod credentials;
pub mod env;
pub mod meta;
pub mod monitoring;
mod network;
pub mod observed;
mod placement;
pub mod postgres;
mod rabbitmq;
mod redis;
pub mod scrape;
mod security;
pub mod workload;

pub use crate::child::Child;
pub use credentials::{Credentials, PasswordSource, RandomPasswords};
pub use meta::{Component, MANAGER, owned_selector, volume_labels};
pub use observed::{Observed, VolumeTemplate};

use crate::reconcile::validate::ValidatedCluster;
use postgres::Inputs;
use workload::{data_of, secret_data};

/// Every object of the cluster, in the order they are applied: credentials
/// and scripts first, then the data services, then the app.
pub fn build(valid: &ValidatedCluster, credentials: &Credentials, observed: &Observed) -> Vec<Child> {
    let secret = credentials::secret(valid, credentials);
    let credentials_data = data_of(&secret);
    let mut children = vec![secret];
    let inputs = Inputs { credentials, credentials_data: &credentials_data, observed };
    children.extend(postgres::provider(&valid.postgres).children(valid, &inputs));
    children.extend(redis::children(valid, observed, &credentials_data));
    children.extend(rabbitmq::children(valid, observed, &credentials_data));
    let tokens = observed.tokens.as_ref().map(secret_data).unwrap_or_default();
    let database = observed.database.as_ref().map(secret_data).unwrap_or_default();
    children.extend(app::children(valid, &credentials_data, &tokens, &database));
    if valid.placement.network_policies {
        children.extend(network::policies(valid));
    }
    if scrape::enabled(valid) {
        children.extend(monitoring::children(valid));
    }
    for child in &mut children {
        set_pull_policies(child);
    }
    children
}

/// Every container's `imagePullPolicy`, from its image
/// ([`crate::image::pull_policy`]), set here once for every workload.
fn set_pull_policies(child: &mut Child) {
    let pod = match child {
        Child::StatefulSet(s) => s.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
        Child::Deployment(d) => d.spec.as_mut().and_then(|s| s.template.spec.as_mut()),
        _ => None,
    };
    let Some(pod) = pod else { return };
    for container in pod.init_containers.iter_mut().flatten().chain(pod.containers.iter_mut()) {
        container.image_pull_policy =
            container.image.as_deref().map(|i| crate::image::pull_policy(i).to_owned());
    }
}

#[cfg(test)]
pub(crate) mod tests;
