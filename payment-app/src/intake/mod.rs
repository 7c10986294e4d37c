//! Creating payments and accounts, each at most once per idempotency key.
//!
//! A payment is committed `pending` before it is published, so a payment
//! the broker has is always one the database has, and the 202 rests on the
//! commit alone: if the broker is down or does not confirm, the payment
//! stays `pending` and the relay (`worker::relay`) publishes it once the
//! broker is back. The API therefore keeps accepting through a broker outage.
//!
//! Payments without a key are recorded and queued in groups (`group`);
//! a payment with a key is recorded in its own transaction with the key.
//! A client's batch is a group of its own, keys included (`batch`).

mod batch;
mod group;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::{debug, info, instrument, warn};

use crate::broker::{LOCK_QUEUE, Publisher};
use crate::db::accounts::{Account, Opening};
use crate::db::idempotency::{self, Idempotent};
use crate::db::payments::{Accepted, Payment};
use crate::db::{self, Db, refunds::Refund};
use crate::domain::issuance::IssuanceLimits;
use crate::domain::refund;
use crate::domain::{AccountId, Amount, Currency, IdempotencyKey, LinkId, Metadata, NewPayment, PaymentId};
use crate::error::{Error, Result, chain};
use crate::messages::{LockGroup, PaymentRoute, TraceParent};

pub use batch::BatchItem;
pub use group::Grouper;

/// How payments without an Idempotency-Key are grouped. A payment never
/// waits for others: a group is whatever arrived while the previous groups
/// were being recorded, so grouping only happens under load.
#[derive(Debug, Clone, Copy)]
pub struct IntakeConfig {
    /// Most payments recorded with one insert and queued as one message.
    pub group_max: usize,
    /// Groups of payments being recorded at once.
    pub groups_in_flight: usize,
    /// Longest a payment's insert waits for a lock on an account row held
    /// by another session; past it the payment is refused (`account_busy`),
    /// definitely not recorded.
    pub lock_timeout: Duration,
}

/// Where the API hands accepted payments. Clones share one [`Grouper`],
/// which must run for payments without a key to be recorded; it stops once
/// every clone is dropped.
#[derive(Debug, Clone)]
pub struct Intake {
    db: Db,
    lock_timeout: Duration,
    publisher: Publisher,
    groups: group::Submitter,
    /// Accounts' currencies, which never change: a payment's currency is
    /// known without a query once its accounts were seen.
    currencies: moka::sync::Cache<AccountId, Currency>,
}

/// Most accounts whose currency intake keeps in memory (a few MiB).
const CURRENCIES_CACHED: u64 = 100_000;

impl Intake {
    pub fn new(db: &Db, publisher: &Publisher, config: &IntakeConfig) -> (Intake, Grouper) {
        let (groups, grouper) = group::channel(db, publisher, config);
        (
            Intake {
                db: db.clone(),
                lock_timeout: config.lock_timeout,
                publisher: publisher.clone(),
                groups,
                currencies: moka::sync::Cache::new(CURRENCIES_CACHED),
            },
            grouper,
        )
    }

    /// The currencies of a payment's two accounts, `[from, to]`; an
    /// unknown account is `UnknownAccount`. From memory, else the replica,
    /// else the primary (an account just opened may not be on the replica
    /// yet).
    pub async fn currencies_of(&self, accounts: [AccountId; 2]) -> Result<[Currency; 2]> {
        let cached = accounts.map(|a| self.currencies.get(&a));
        if let [Some(from), Some(to)] = cached {
            return Ok([from, to]);
        }
        self.learn_currencies(&accounts).await?;
        let lookup = |a: AccountId| self.currencies.get(&a).ok_or(Error::UnknownAccount(a));
        Ok([lookup(accounts[0])?, lookup(accounts[1])?])
    }

    /// Looks up the currencies of those of `accounts` not in memory yet,
    /// with one query (a batch's accounts at once, rather than a query per
    /// item); an account that does not exist is simply not found.
    pub async fn learn_currencies(&self, accounts: &[AccountId]) -> Result<()> {
        let mut missing: Vec<AccountId> =
            accounts.iter().copied().filter(|a| self.currencies.get(a).is_none()).collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let mut found = self.db.read(|pool| db::accounts::currencies(pool, &missing)).await?;
        if found.len() < missing.len() {
            found = db::accounts::currencies(&self.db.primary, &missing).await?;
        }
        for (account, currency) in found {
            self.currencies.insert(account, currency);
        }
        Ok(())
    }

    /// Records and queues a payment. `snapshot` renders the payment as a
    /// retry under the same key is to receive it again.
    #[instrument(skip_all, fields(payment_id = %payment.id))]
    pub async fn accept_payment(
        &self,
        payment: NewPayment,
        key: Option<&IdempotencyKey>,
        snapshot: impl Fn(&Payment) -> Value,
    ) -> Result<Idempotent<Payment>> {
        let Some(key) = key else {
            return Ok(Idempotent::Created(self.groups.submit(payment).await?));
        };
        let request = key_request(&payment);
        let accepted = Accepted { payment, traceparent: crate::trace_context::current() };
        let outcome = idempotency::once(
            &self.db.primary,
            "payment",
            Some(key),
            &request,
            async |tx| {
                db::payments::bound_lock_wait(tx, self.lock_timeout).await?;
                db::payments::insert(tx, &accepted).await
            },
            snapshot,
        )
        .await?;
        if let Idempotent::Created(recorded) = &outcome {
            // Accepted the moment it committed, whether or not the publish works.
            crate::metrics::get().payments_accepted.inc();
            let traced = crate::trace_context::current().map(|tp| (recorded.id, tp));
            queue(&self.publisher, &[recorded], &traced.into_iter().collect(), None).await;
        }
        Ok(outcome)
    }
}

/// A payment's request as its idempotency key remembers it: parsed values,
/// not raw text, so a retry that differs only in spacing or number
/// formatting matches. The same for a key sent as a header and a batch
/// item's key.
fn key_request(payment: &NewPayment) -> Value {
    let mut request = json!({
        "from_account": payment.from_account,
        "to_account": payment.to_account,
        "amount_minor": payment.amount.minor(),
        "currency": payment.currency,
        "payment_description": payment.description,
        "metadata": payment.metadata,
    });
    // Only when asked for: a key first used before captures existed
    // still matches its automatic retries.
    if let Some(hold_secs) = payment.capture.hold_secs() {
        request["capture"] = json!(payment.capture.as_str());
        request["hold_secs"] = json!(hold_secs);
    }
    request
}

impl Intake {
    /// Where accepted work is queued.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Records a capture (`capture`: the amount, `None` for all) or a void
    /// of an authorized payment and queues the payment, for settle to apply
    /// it. Refused (nothing recorded) unless the payment is authorized,
    /// unexpired, and nothing was asked of it before.
    #[instrument(skip_all, fields(payment_id = %id))]
    pub async fn request_hold(&self, id: PaymentId, void: bool, capture: Option<Amount>) -> Result<Payment> {
        let payment = db::payments::request_hold(&self.db.primary, id, void, capture).await?;
        info!(payment_id = %id, action = if void { "void" } else { "capture" }, "authorization close requested");
        // The capture or void is a request of its own: its lock and settle
        // spans join this request's trace.
        let traced = crate::trace_context::current().map(|tp| (payment.id, tp));
        queue(&self.publisher, &[&payment], &traced.into_iter().collect(), None).await;
        Ok(payment)
    }
}

/// Records a refund of `payment_id` (see `db::refunds::create`) at most once
/// per idempotency key, and queues its payment, whose pending refunds
/// settle applies when it comes by. `snapshot` renders the refund as a
/// retry under the same key is to receive it again.
#[instrument(skip_all, fields(payment_id = %payment_id))]
pub async fn request_refund(
    db: &Db,
    publisher: &Publisher,
    payment_id: PaymentId,
    amount: Option<Amount>,
    reason: Option<String>,
    key: Option<&IdempotencyKey>,
    snapshot: impl Fn(&Refund) -> Value,
) -> Result<Idempotent<Refund>> {
    refund::check_reason(reason.as_deref())?;
    let request = json!({
        "payment_id": payment_id,
        "amount_minor": amount.map(Amount::minor),
        "reason": reason,
    });
    let outcome = idempotency::once(
        &db.primary,
        "refund",
        key,
        &request,
        async |tx| db::refunds::create(tx, payment_id, amount, reason.as_deref()).await,
        |(refund, _)| snapshot(refund),
    )
    .await?;
    Ok(match outcome {
        Idempotent::Created((refund, route)) => {
            info!(refund_id = %refund.id, amount = %refund.amount, "refund requested");
            let mut group = LockGroup::of([route]);
            for request in &mut group.payments {
                request.traceparent = crate::trace_context::current();
            }
            if let Err(e) = publisher.publish(LOCK_QUEUE, &group).await {
                warn!(refund_id = %refund.id, error = %chain(&e), "refund accepted but not queued yet; the relay will queue it");
            }
            Idempotent::Created(refund)
        }
        Idempotent::Replayed(snapshot) => Idempotent::Replayed(snapshot),
        Idempotent::KeyReused => Idempotent::KeyReused,
    })
}

/// Publishes recorded payments to the lock queue as one message. A failure
/// is logged, not returned: the payments are committed, and the relay will
/// queue them. Each payment carries its trace context from `traces`, and
/// `link` when they are an atomic batch's.
async fn queue(
    publisher: &Publisher,
    payments: &[&Payment],
    traces: &HashMap<PaymentId, TraceParent>,
    link: Option<LinkId>,
) {
    let mut group = LockGroup::of(payments.iter().map(|p| PaymentRoute {
        payment_id: p.id,
        from_account: p.from_account,
        to_account: p.to_account,
        link,
    }));
    for request in &mut group.payments {
        request.traceparent = traces.get(&request.route.payment_id).copied();
    }
    match publisher.publish(LOCK_QUEUE, &group).await {
        // Per-payment success is debug: at thousands a second, info would
        // spend more on logging than on the payment.
        Ok(()) => {
            for p in payments {
                debug!(payment_id = %p.id, amount = %p.amount, "payment accepted");
            }
        }
        Err(e) => {
            for p in payments {
                warn!(payment_id = %p.id, error = %chain(&e), "payment accepted but not queued yet; the relay will queue it");
            }
        }
    }
}

/// Opens an account; a non-zero initial balance is recorded as issuance,
/// and it and the credit limit are counted within the per-account and
/// total limits.
#[instrument(skip_all)]
pub async fn open_account(
    db: &Db,
    limits: IssuanceLimits,
    opening: Opening,
    metadata: &Metadata,
    key: Option<&IdempotencyKey>,
    snapshot: impl Fn(&Account) -> Value,
) -> Result<Idempotent<Account>> {
    let Opening { currency, initial_balance, credit_limit } = opening;
    limits.check(initial_balance, currency)?;
    limits.check_credit(credit_limit, currency)?;
    let mut request = json!({ "initial_balance_minor": initial_balance.minor(), "currency": currency, "metadata": metadata });
    // Only when set: a key recorded before credit limits existed still
    // matches the same request sent again.
    if !credit_limit.is_zero() {
        request["credit_limit_minor"] = json!(credit_limit.minor());
    }
    let id = AccountId::new();
    let outcome = idempotency::once(
        &db.primary,
        "account",
        key,
        &request,
        async |tx| db::accounts::create(tx, id, opening, metadata, limits.total).await,
        snapshot,
    )
    .await?;
    if let Idempotent::Created(account) = &outcome {
        info!(account_id = %account.id, currency = %account.currency, balance = %crate::domain::SignedMoney::balance(account.balance, account.currency),
              credit_limit = %account.currency.money(account.credit_limit), "account opened");
    }
    Ok(outcome)
}
