//! Webhooks: registering endpoints (under the SSRF rules, with a signing
//! secret shown once), rotating their secrets, and the delivery worker
//! that sends them events.

pub mod delivery;
pub mod guard;
pub mod schedule;
pub mod sign;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tracing::info;

use crate::db::webhooks::{Endpoint, NewEndpoint, Rotated};
use crate::db::{self, Db};
use crate::domain::{EndpointDescription, EndpointId, TargetRefused, WebhookUrl};
use crate::error::{Error, Result};
use crate::events::Subscription;

pub use delivery::{Deliverer, DeliveryConfig};
pub use schedule::RetrySchedule;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Most rotated-out secrets signing at once, each a `v1=` of every
/// delivery's signature: enough for a leaked secret to be replaced, and
/// its replacement too, several times a day.
pub const MAX_RETIRED_SECRETS: usize = 4;

/// What registration allows.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// `http://` URLs (local development and tests).
    pub allow_http: bool,
    /// Loopback, private and link-local targets (local development and tests).
    pub allow_private: bool,
    /// Most endpoints registered at once.
    pub max_endpoints: usize,
}

/// Registers an endpoint. Returns it with its secret, which is never shown
/// again. Refuses a URL that breaks the rules, a target that is not public
/// (unless allowed), and a registration past `max_endpoints`.
pub async fn register(
    db: &Db,
    policy: &WebhookPolicy,
    url: &str,
    subscription: Subscription,
    description: Option<EndpointDescription>,
) -> Result<(Endpoint, SecretString)> {
    let url = WebhookUrl::parse(url, policy.allow_http).map_err(TargetRefused::from)?;
    guard::check_target(&url, policy.allow_private).await?;
    let secret = sign::new_secret();
    let new = NewEndpoint { url, subscription, description, secret: secret.clone() };
    let max = i64::try_from(policy.max_endpoints).unwrap_or(i64::MAX);
    let endpoint = db::webhooks::create(&db.primary, &new, max)
        .await?
        .ok_or(Error::TooManyEndpoints(policy.max_endpoints))?;
    info!(endpoint_id = %endpoint.id, url = %endpoint.url, "webhook endpoint registered");
    Ok((endpoint, secret))
}

/// Gives an endpoint a new secret. The one it replaces signs beside it
/// until the time returned ([`ROTATION_OVERLAP`] from now), and so do the
/// secrets retired by earlier rotations, each until the time its own
/// rotation answered: a second rotation within the overlap keeps the first
/// one's promise. At most [`MAX_RETIRED_SECRETS`] retired secrets sign at
/// once (every one is a `v1=` of every delivery's signature header); a
/// rotation past them is refused (nothing changes) until the first of them
/// expires.
pub async fn rotate_secret(db: &Db, id: EndpointId) -> Result<Rotation> {
    let secret = sign::new_secret();
    let max = i64::try_from(MAX_RETIRED_SECRETS).unwrap_or(i64::MAX);
    Ok(match db::webhooks::rotate_secret(&db.primary, id, &secret, ROTATION_OVERLAP, max).await? {
        Rotated::Until(at) => {
            info!(endpoint_id = %id, "webhook secret rotated");
            Rotation::Rotated { secret, previous_secret_expires_at: at }
        }
        Rotated::TooMany { first_expires, .. } => Rotation::TooMany { first_expires },
        Rotated::NoSuchEndpoint => Rotation::NoSuchEndpoint,
    })
}

/// What a rotation request came to.
#[derive(Debug)]
pub enum Rotation {
    /// The new secret, shown once; the replaced one signs until then.
    Rotated {
        secret: SecretString,
        previous_secret_expires_at: DateTime<Utc>,
    },
    /// [`MAX_RETIRED_SECRETS`] retired secrets still sign, the first until then.
    TooMany {
        first_expires: DateTime<Utc>,
    },
    NoSuchEndpoint,
}
