//! Accepting a payment: record it `pending`, then hand it to the broker.
//!
//! The row is committed before the publish, so a payment the broker has is
//! always one the database has, and the 202 rests on the commit alone: if
//! the broker is down or does not confirm, the payment stays `pending` and
//! the relay (`worker::relay`) publishes it once the broker is back. The
//! API therefore keeps accepting payments through a broker outage.

use tracing::{info, instrument, warn};

use crate::broker::{LOCK_QUEUE, LockRequest, Publisher};
use crate::db::{self, Db, payments::Payment};
use crate::domain::NewPayment;
use crate::error::{Result, chain};

#[instrument(skip_all, fields(payment_id = %payment.id))]
pub async fn accept(db: &Db, publisher: &Publisher, payment: NewPayment) -> Result<Payment> {
    let recorded = db::payments::insert(&db.primary, &payment).await?;
    queue(publisher, &recorded).await;
    Ok(recorded)
}

/// Publishes a recorded payment to the lock queue. A failure is logged, not
/// returned: the payment is committed, and the relay will queue it.
pub async fn queue(publisher: &Publisher, payment: &Payment) {
    let request = LockRequest {
        payment_id: payment.id,
        from_account: payment.from_account,
        to_account: payment.to_account,
    };
    match publisher.publish(LOCK_QUEUE, &request).await {
        Ok(()) => info!(amount = %payment.amount, "payment accepted"),
        Err(e) => warn!(error = %chain(&e), "payment accepted but not queued yet; the relay will queue it"),
    }
}
