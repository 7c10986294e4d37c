//! Creating payments and accounts, each at most once per idempotency key.
//!
//! A payment is committed `pending` before it is published, so a payment
//! the broker has is always one the database has, and the 202 rests on the
//! commit alone: if the broker is down or does not confirm, the payment
//! stays `pending` and the relay (`worker::relay`) publishes it once the
//! broker is back. The API therefore keeps accepting through a broker outage.

use serde_json::{Value, json};
use tracing::{debug, info, instrument, warn};

use crate::broker::{LOCK_QUEUE, LockRequest, Publisher};
use crate::db::{self, Db, accounts::Account, payments::Payment};
use crate::domain::{AccountId, Amount, NewPayment};
use crate::error::{Result, chain};
use crate::idempotency::{self, IdempotencyKey, Once};

/// Records and queues a payment. `answer` renders the response a fresh
/// payment gets, which a retry under the same key receives again.
#[instrument(skip_all, fields(payment_id = %payment.id))]
pub async fn accept_payment(
    db: &Db,
    publisher: &Publisher,
    payment: NewPayment,
    key: Option<&IdempotencyKey>,
    answer: impl Fn(&Payment) -> (u16, Value),
) -> Result<Once<Payment>> {
    // The request as the key remembers it: parsed values, not raw text, so
    // a retry that differs only in spacing or number formatting matches.
    let request = json!({
        "from_account": payment.from_account,
        "to_account": payment.to_account,
        "amount_minor": payment.amount.minor(),
        "payment_description": payment.description,
    });
    let outcome = idempotency::once(
        &db.primary,
        "payment",
        key,
        &request,
        async |tx| db::payments::insert(tx, &payment).await,
        answer,
    )
    .await?;
    if let Once::Created(recorded) = &outcome {
        // Accepted the moment it committed, whether or not the publish works.
        crate::metrics::get().payments_accepted.inc();
        queue(publisher, recorded).await;
    }
    Ok(outcome)
}

/// Publishes a recorded payment to the lock queue. A failure is logged, not
/// returned: the payment is committed, and the relay will queue it.
pub async fn queue(publisher: &Publisher, payment: &Payment) {
    let request = LockRequest {
        payment_id: payment.id,
        from_account: payment.from_account,
        to_account: payment.to_account,
        alone: false,
    };
    match publisher.publish(LOCK_QUEUE, &request).await {
        // Per-payment success is debug: at thousands a second, info would
        // spend more on logging than on the payment.
        Ok(()) => debug!(amount = %payment.amount, "payment accepted"),
        Err(e) => warn!(error = %chain(&e), "payment accepted but not queued yet; the relay will queue it"),
    }
}

/// Opens an account; a non-zero initial balance is recorded as issuance.
#[instrument(skip_all)]
pub async fn open_account(
    db: &Db,
    initial_balance: Amount,
    key: Option<&IdempotencyKey>,
    answer: impl Fn(&Account) -> (u16, Value),
) -> Result<Once<Account>> {
    let request = json!({ "initial_balance_minor": initial_balance.minor() });
    let id = AccountId::new();
    let outcome = idempotency::once(
        &db.primary,
        "account",
        key,
        &request,
        async |tx| db::accounts::create(tx, id, initial_balance).await,
        answer,
    )
    .await?;
    if let Once::Created(account) = &outcome {
        info!(account_id = %account.id, balance = %account.balance, "account opened");
    }
    Ok(outcome)
}
