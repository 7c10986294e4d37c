//! Batches of payments recorded at once (`POST /api/v1/payments/batch`).
//!
//! A batch is its own group: its payments are recorded with one insert in
//! one transaction, their idempotency keys claimed and answered with one
//! statement each in the same transaction, and queued as one lock-queue
//! message. Per batch, that is a fixed number of round trips whatever its
//! size, which is the point of a batch.
//!
//! An item's key is a payment's key (scope `payment`, the same request as
//! the `Idempotency-Key` of `POST /api/v1/payment` remembers), so resending
//! a batch replays what was recorded and records only what was not.
//!
//! An atomic batch is linked: its payments share a `link_id`, and settle
//! applies them all or none. Its keys must all be new, or all be replays of
//! the same linked set: a set half recorded before could not be all or
//! none. So an atomic item's key remembers the set it was recorded in (see
//! [`linked_set`]): keys first used by single payments, or by another
//! batch, are not a replay of this one, though each payment alone matches.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::{info, instrument};

use super::{Intake, key_request, queue};
use crate::db;
use crate::db::idempotency::{self, Claim, Idempotent};
use crate::db::payments::{Accepted, Payment};
use crate::domain::{IdempotencyKey, LinkId, NewPayment};
use crate::error::{Error, Result};

/// The idempotency scope of payments, shared with single creates.
const SCOPE: &str = "payment";

/// One valid item of a batch: the payment and its key, if any. Keys are
/// distinct within a batch (the API refuses a repeated one).
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub payment: NewPayment,
    pub key: Option<IdempotencyKey>,
}

impl Intake {
    /// Records a batch's new payments and queues them, each at most once per
    /// key; returns each item's outcome, in order. `atomic` links them (see
    /// the module doc). A failure records nothing: the one transaction is
    /// rolled back. `snapshot` renders a payment as a replay is to see it.
    ///
    /// The keys go through the same primitive as a single payment's
    /// ([`idempotency::claim_each`]): claimed in the transaction that
    /// records the payments, so keys and payments commit or vanish together.
    #[instrument(skip_all, fields(items = items.len(), atomic))]
    pub async fn accept_batch(
        &self,
        items: Vec<BatchItem>,
        atomic: bool,
        snapshot: impl Fn(&Payment) -> Value,
    ) -> Result<Vec<Idempotent<Payment>>> {
        let requests = key_requests(&items, atomic);
        let keyed: Vec<Option<(&str, &Value)>> =
            requests.iter().map(|r| r.as_ref().map(|(key, request)| (*key, request))).collect();
        let any_key = keyed.iter().any(Option::is_some);

        // Without keys, the lock wait is bounded from the start; with keys,
        // only after the claim, which waits for a concurrent claim of the
        // same key (as a single create does) rather than failing it.
        let mut tx = if any_key {
            self.db.primary.begin().await?
        } else {
            db::tx::begin_bounded_tx(&self.db.primary, self.lock_timeout).await?
        };
        let claims = idempotency::claim_each(&mut tx, SCOPE, &keyed).await?;
        let new = claims.iter().filter(|c| **c == Claim::New).count();
        // An atomic batch is all new or all a replay of the same linked set
        // (a reused key is neither).
        if atomic && ((new != 0 && new != claims.len()) || claims.contains(&Claim::KeyReused)) {
            tx.rollback().await?;
            return Err(Error::AtomicBatchKeys);
        }
        if new == 0 {
            tx.rollback().await?;
            return Ok(answers(claims, Vec::new()));
        }
        if any_key {
            db::payments::bound_lock_wait(&mut tx, self.lock_timeout).await?;
        }
        let link = atomic.then(LinkId::new);
        let fresh: Vec<&BatchItem> =
            items.iter().zip(&claims).filter(|(_, c)| **c == Claim::New).map(|(item, _)| item).collect();
        let created = insert_in_order(&mut tx, &fresh, link).await?;
        let snapshots: Vec<(&str, Value)> = fresh
            .iter()
            .zip(&created)
            .filter_map(|(item, row)| Some((item.key.as_ref()?.as_str(), snapshot(row))))
            .collect();
        if !snapshots.is_empty() {
            idempotency::record_many(&mut tx, SCOPE, &snapshots).await?;
        }
        tx.commit().await?;

        // Accepted the moment it committed, whether or not the publish works.
        let m = crate::metrics::get();
        m.payments_accepted.inc_by(created.len() as u64);
        m.intake_group_payments.observe(created.len() as f64);
        info!(payments = created.len(), link = ?link, "payment batch accepted");
        let traces = match crate::trace_context::current() {
            Some(tp) => created.iter().map(|p| (p.id, tp)).collect(),
            None => HashMap::new(),
        };
        queue(&self.publisher, &created.iter().collect::<Vec<_>>(), &traces, link).await;

        Ok(answers(claims, created))
    }
}

/// Each item's key and the request it is to remember (`None` without a
/// key). An atomic item's request also names its linked set.
fn key_requests(items: &[BatchItem], atomic: bool) -> Vec<Option<(&str, Value)>> {
    let set = atomic.then(|| linked_set(items));
    items
        .iter()
        .map(|item| {
            let key = item.key.as_ref()?;
            let mut request = key_request(&item.payment);
            if let Some(set) = &set {
                request["linked_set"] = json!(set);
            }
            Some((key.as_str(), request))
        })
        .collect()
}

/// Inserts the new items' payments with one statement and returns their
/// rows in the items' order (one each, or the batch is refused as corrupt).
async fn insert_in_order(
    tx: &mut sqlx::PgConnection,
    fresh: &[&BatchItem],
    link: Option<LinkId>,
) -> Result<Vec<Payment>> {
    // Every item is in the batch request's trace (as `queue` sends them).
    let traceparent = crate::trace_context::current();
    let accepted: Vec<Accepted> =
        fresh.iter().map(|item| Accepted { payment: item.payment.clone(), traceparent }).collect();
    let rows = db::payments::insert_rows(tx, &accepted, link).await?;
    let mut by_id: HashMap<_, _> = rows.into_iter().map(|p| (p.id, p)).collect();
    accepted
        .iter()
        .map(|Accepted { payment, .. }| {
            by_id.remove(&payment.id).ok_or_else(|| {
                Error::Corrupt(format!("payment {} is missing from its batch's insert", payment.id))
            })
        })
        .collect()
}

/// What identifies an atomic batch among requests: a digest of every
/// item's key and request, whatever their order. An atomic item's key
/// remembers it beside the payment, so a key replays only when the same
/// set is sent again. Without it, an atomic batch made of the keys of two
/// earlier single payments (never linked, one `done` and one `failed`) was
/// answered `replayed` as if it had been recorded all or none.
fn linked_set(items: &[BatchItem]) -> String {
    let mut members: Vec<String> = items
        .iter()
        .map(|item| {
            json!([item.key.as_ref().map(IdempotencyKey::as_str), key_request(&item.payment)]).to_string()
        })
        .collect();
    members.sort_unstable();
    let mut digest = Sha256::new();
    for member in &members {
        // A newline never occurs inside compact JSON: it separates members
        // unambiguously.
        digest.update(member.as_bytes());
        digest.update(b"\n");
    }
    hex::encode(digest.finalize())
}

/// Each item's outcome, in order: `created` holds the rows of the new
/// items, in their order (one each, as checked after the insert).
fn answers(claims: Vec<Claim>, created: Vec<Payment>) -> Vec<Idempotent<Payment>> {
    let mut created = created.into_iter();
    claims
        .into_iter()
        .filter_map(|claim| {
            Some(match claim {
                Claim::New => Idempotent::Created(created.next()?),
                Claim::Replayed(snapshot) => Idempotent::Replayed(snapshot),
                Claim::KeyReused => Idempotent::KeyReused,
            })
        })
        .collect()
}
