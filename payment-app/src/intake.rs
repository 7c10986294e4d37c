//! Accepting a payment: record it `pending`, then hand it to the broker.
//!
//! The row is committed before the publish, so a payment the broker has is
//! always one the database has. If the broker does not confirm, the payment
//! is moved to `failed` (`not_queued`) and the client hears 503: no 202 is
//! ever given for a payment that is not on its way.

use tracing::{info, instrument, warn};

use crate::broker::{LOCK_QUEUE, LockRequest, Publisher};
use crate::db::{self, Db, payments::Payment};
use crate::domain::NewPayment;
use crate::error::{Result, chain};

/// What became of a submitted payment.
#[derive(Debug)]
pub enum Intake {
    /// Recorded and queued: the client gets 202.
    Accepted(Payment),
    /// Recorded, but the broker did not take it; it is now `failed`.
    NotQueued,
}

#[instrument(skip_all, fields(payment_id = %payment.id))]
pub async fn accept(db: &Db, publisher: &Publisher, payment: NewPayment) -> Result<Intake> {
    let recorded = db::payments::insert(&db.primary, &payment).await?;
    let request = LockRequest {
        payment_id: recorded.id,
        from_account: recorded.from_account,
        to_account: recorded.to_account,
    };
    match publisher.publish(LOCK_QUEUE, &request).await {
        Ok(()) => {
            info!(amount = %recorded.amount, "payment accepted");
            Ok(Intake::Accepted(recorded))
        }
        Err(e) => {
            warn!(error = %chain(&e), "payment not queued");
            if db::payments::fail_unqueued(&db.primary, recorded.id).await? {
                Ok(Intake::NotQueued)
            } else {
                // The broker took it after all and settle has already run:
                // the payment is on its way, so it is accepted.
                let current = db::payments::get(&db.primary, recorded.id).await?;
                Ok(current.map_or(Intake::NotQueued, Intake::Accepted))
            }
        }
    }
}
