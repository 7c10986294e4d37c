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
use crate::db::idempotency::{self, Idempotent};
use crate::db::{self, payments::Payment};
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

/// What an item's key found before anything was recorded.
enum Fate {
    New,
    Replayed(Value),
    KeyReused,
}

impl Intake {
    /// Records a batch's new payments and queues them, each at most once per
    /// key; returns each item's outcome, in order. `atomic` links them (see
    /// the module doc). A failure records nothing: the one transaction is
    /// rolled back. `snapshot` renders a payment as a replay is to see it.
    #[instrument(skip_all, fields(items = items.len(), atomic))]
    pub async fn accept_batch(
        &self,
        items: Vec<BatchItem>,
        atomic: bool,
        snapshot: impl Fn(&Payment) -> Value,
    ) -> Result<Vec<Idempotent<Payment>>> {
        let set = atomic.then(|| linked_set(&items));
        let requests: Vec<Option<(&str, Value)>> = items
            .iter()
            .map(|item| {
                let key = item.key.as_ref()?;
                let mut request = key_request(&item.payment);
                if let Some(set) = &set {
                    request["linked_set"] = json!(set);
                }
                Some((key.as_str(), request))
            })
            .collect();
        let keyed: Vec<(&str, &Value)> =
            requests.iter().flatten().map(|(key, request)| (*key, request)).collect();

        // Without keys, the lock wait is bounded from the start; with keys,
        // only after the claim, which waits for a concurrent claim of the
        // same key (as a single create does) rather than failing it.
        let mut tx = if keyed.is_empty() {
            db::payments::begin_bounded_tx(&self.db.primary, self.lock_timeout).await?
        } else {
            self.db.primary.begin().await?
        };
        let mut fates: Vec<Fate> = items.iter().map(|_| Fate::New).collect();
        if !keyed.is_empty() {
            let claimed = idempotency::claim_many(&mut tx, SCOPE, &keyed).await?;
            let taken: Vec<&str> =
                keyed.iter().map(|(key, _)| *key).filter(|key| !claimed.contains(*key)).collect();
            let mut recorded = if taken.is_empty() {
                HashMap::new()
            } else {
                idempotency::get_many(&mut tx, SCOPE, &taken).await?
            };
            for (fate, request) in fates.iter_mut().zip(&requests) {
                let Some((key, request)) = request else { continue };
                if claimed.contains(*key) {
                    continue;
                }
                let first = recorded.remove(*key).ok_or_else(|| {
                    Error::Corrupt(format!("idempotency key {SCOPE}/{key} vanished after its claim"))
                })?;
                *fate =
                    if first.request == *request { Fate::Replayed(first.snapshot) } else { Fate::KeyReused };
            }
        }
        let new = fates.iter().filter(|f| matches!(f, Fate::New)).count();
        if atomic && new != 0 && new != fates.len() {
            tx.rollback().await?;
            return Err(Error::AtomicBatchKeys);
        }
        if atomic && fates.iter().any(|f| matches!(f, Fate::KeyReused)) {
            tx.rollback().await?;
            return Err(Error::AtomicBatchKeys);
        }
        if new == 0 {
            tx.rollback().await?;
            return Ok(answers(fates, Vec::new()));
        }

        let link = atomic.then(LinkId::new);
        let fresh: Vec<NewPayment> = items
            .iter()
            .zip(&fates)
            .filter(|(_, f)| matches!(f, Fate::New))
            .map(|(i, _)| i.payment.clone())
            .collect();
        if !keyed.is_empty() {
            db::payments::bound_lock_wait(&mut tx, self.lock_timeout).await?;
        }
        let rows = db::payments::insert_rows(&mut tx, &fresh, link).await?;
        let mut by_id: HashMap<_, _> = rows.into_iter().map(|p| (p.id, p)).collect();
        let mut created = Vec::with_capacity(fresh.len());
        for payment in &fresh {
            let row = by_id.remove(&payment.id).ok_or_else(|| {
                Error::Corrupt(format!("payment {} is missing from its batch's insert", payment.id))
            })?;
            created.push(row);
        }
        let snapshots: Vec<(&str, Value)> = items
            .iter()
            .zip(&fates)
            .filter(|(_, f)| matches!(f, Fate::New))
            .zip(&created)
            .filter_map(|((item, _), row)| Some((item.key.as_ref()?.as_str(), snapshot(row))))
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

        Ok(answers(fates, created))
    }
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
fn answers(fates: Vec<Fate>, created: Vec<Payment>) -> Vec<Idempotent<Payment>> {
    let mut created = created.into_iter();
    fates
        .into_iter()
        .filter_map(|fate| {
            Some(match fate {
                Fate::New => Idempotent::Created(created.next()?),
                Fate::Replayed(snapshot) => Idempotent::Replayed(snapshot),
                Fate::KeyReused => Idempotent::KeyReused,
            })
        })
        .collect()
}
