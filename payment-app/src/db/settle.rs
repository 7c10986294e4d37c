//! Applying payments to the ledger: the only code that moves money.
//!
//! One transaction applies a whole batch with a fixed number of statements,
//! whatever its size. Safety does not depend on the Redis lock: payments
//! are re-read and locked here, and only the work their rows still hold is
//! applied (a `pending` payment; an `authorized` one with a capture or void
//! recorded, or past its expiry; a `done` one's `pending` refunds). Rows are
//! locked in id order (payments, then their refunds, then accounts), so
//! concurrent batches cannot deadlock, and a redelivered message finds its
//! work already done and changes nothing.
//!
//! A row another session holds never holds up the batch. Account rows are
//! locked `SKIP LOCKED`: the work that needs a held one is set aside
//! untouched (`Settled::blocked`, for the caller to retry later) and the
//! rest is applied (`domain::blocked`). Every other lock is waited for at
//! most [`LOCK_WAIT`], after which the batch fails with a lock timeout and
//! nothing written. Without these bounds, one account row held by another
//! session stalled every batch it was in until the statement timed out,
//! and the settle loop, shared by every payment, with it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::blocked;
use crate::domain::hold::{self, Requested};
use crate::domain::settlement::{
    self, AccountState, Authorization, HoldOutcome, Outcome, PendingPayment, PendingRefund, Plan,
    RefundOutcome, Source,
};
use crate::domain::{AccountId, Amount, EventId, EventType, LinkId, PaymentId, PaymentStatus, RefundId};
use crate::error::{Error, Result};

/// The longest settle waits for a payment or refund row another session
/// holds. The app holds those only for a moment (a capture or refund being
/// recorded, the relay, a duplicate delivery being settled); a longer wait
/// means a session holding one outright, and a batch gives up rather than
/// hold up the settle loop.
pub const LOCK_WAIT: Duration = Duration::from_millis(50);

/// What one batch did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Payments this batch moved out of `pending`, with their outcome.
    pub applied: Vec<(PendingPayment, Outcome)>,
    /// Authorizations this batch closed (captured, voided, expired).
    pub holds: Vec<(Authorization, HoldOutcome)>,
    /// Refunds this batch moved out of `pending`.
    pub refunds: Vec<(PendingRefund, RefundOutcome)>,
    /// Ids with nothing to do: already settled, authorized with nothing
    /// asked of them yet, or unknown (redeliveries, mostly).
    pub skipped: Vec<PaymentId>,
    /// Payments whose work needs an account row another session holds:
    /// untouched, to be settled again later.
    pub blocked: BTreeSet<PaymentId>,
    /// The account rows another session held.
    pub held_accounts: BTreeSet<AccountId>,
    /// The accounts of every payment found, as the database has them: what
    /// the batch's lock is released on, whatever the message claimed.
    pub routes: BTreeMap<PaymentId, [AccountId; 2]>,
}

struct PaymentRow {
    id: PaymentId,
    from_account: AccountId,
    to_account: AccountId,
    amount: i64,
    currency: String,
    status: String,
    capture: String,
    requested_action: Option<String>,
    requested_amount: Option<i64>,
    expired: bool,
    captured: i64,
    link_id: Option<LinkId>,
}

/// The work a locked payment row holds for settle, if any.
enum Work {
    Pay(PendingPayment),
    Close(Authorization),
}

impl PaymentRow {
    fn work(&self) -> Result<Option<Work>> {
        let corrupt = |what: &str| Error::Corrupt(format!("payment {}: {what}", self.id));
        let amount = Amount::from_minor(self.amount).ok_or_else(|| corrupt("negative amount"))?;
        match PaymentStatus::from_db(&self.status) {
            Some(PaymentStatus::Pending) => Ok(Some(Work::Pay(PendingPayment {
                id: self.id,
                from_account: self.from_account,
                to_account: self.to_account,
                amount,
                manual: self.capture == "manual",
                link: self.link_id,
            }))),
            Some(PaymentStatus::Authorized) => {
                let requested = match (self.requested_action.as_deref(), self.requested_amount) {
                    (None, _) => None,
                    (Some("void"), _) => Some(Requested::Void),
                    (Some("capture"), Some(minor)) => Some(Requested::Capture(
                        Amount::from_minor(minor).ok_or_else(|| corrupt("negative capture"))?,
                    )),
                    _ => return Err(corrupt("unknown requested action")),
                };
                Ok(hold::hold_action(requested, self.expired).map(|action| {
                    Work::Close(Authorization {
                        id: self.id,
                        from_account: self.from_account,
                        to_account: self.to_account,
                        amount,
                        action,
                    })
                }))
            }
            Some(_) => Ok(None),
            None => Err(corrupt("unknown status")),
        }
    }
}

/// Settles whatever `ids` hold for settle, in one transaction: pending
/// payments are decided, authorizations with a capture or void recorded
/// (or past their expiry) are closed. A linked payment brings its whole
/// set, whichever of its members the message named: the database, not the
/// message, says what belongs together, and a set is moved all at once.
pub async fn settle_batch(primary: &PgPool, ids: &[PaymentId]) -> Result<Settled> {
    let ids: Vec<Uuid> = ids.iter().map(PaymentId::as_uuid).collect();
    let mut tx = super::tx::begin_bounded_tx(primary, LOCK_WAIT).await?;

    let rows = lock_payments(&mut tx, &ids).await?;
    let routes = rows.iter().map(|row| (row.id, [row.from_account, row.to_account])).collect();
    let (mut pending, mut holds) = (Vec::new(), Vec::new());
    for row in &rows {
        match row.work()? {
            Some(Work::Pay(payment)) => pending.push(payment),
            Some(Work::Close(hold)) => holds.push(hold),
            None => {}
        }
    }
    let mut refunds = pending_refunds(&mut tx, &rows).await?;
    // A set, not a scan per id: a batch can name thousands of payments.
    let worked: HashSet<PaymentId> = pending
        .iter()
        .map(|p| p.id)
        .chain(holds.iter().map(|h| h.id))
        .chain(refunds.iter().map(|r| r.payment_id))
        .collect();
    let skipped = ids.iter().map(|id| PaymentId::from_uuid(*id)).filter(|id| !worked.contains(id)).collect();
    if pending.is_empty() && holds.is_empty() && refunds.is_empty() {
        tx.rollback().await?;
        return Ok(Settled { skipped, routes, ..Settled::default() });
    }

    let account_ids: Vec<Uuid> =
        accounts_of(&holds, &pending, &refunds).iter().map(AccountId::as_uuid).collect();
    let (locked, held_accounts) = lock_accounts(&mut tx, &account_ids).await?;
    let blocked = blocked::set_aside(&held_accounts, &mut holds, &mut pending, &mut refunds);
    if pending.is_empty() && holds.is_empty() && refunds.is_empty() {
        tx.rollback().await?;
        return Ok(Settled { skipped, routes, blocked, held_accounts, ..Settled::default() });
    }
    // Only the accounts the remaining work moves are planned and written.
    let used = accounts_of(&holds, &pending, &refunds);
    let accounts = account_states(locked, &used)?;

    // The balances as locked: each entry's `balance_after` runs on from them.
    // And the clock, read now that the locks are held: whoever held these
    // accounts before has committed, so the entries dated with it come
    // after theirs in each account's (created_at, id) order.
    let before = accounts.clone();
    let locked_at = sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#).fetch_one(&mut *tx).await?;
    let plan = settlement::plan(accounts, &holds, &pending, &refunds)?;
    let currencies = Currencies {
        payments: rows.iter().map(|row| (row.id, row.currency.as_str())).collect(),
        refunds: refunds.iter().map(|r| (r.id, r.payment_id)).collect(),
    };
    write_plan(&mut tx, &plan, &Locked { balances: &before, at: locked_at }, &currencies).await?;
    tx.commit().await?;
    Ok(Settled {
        applied: plan.outcomes,
        holds: plan.holds,
        refunds: plan.refunds,
        skipped,
        blocked,
        held_accounts,
        routes,
    })
}

/// The payments `ids` and every member of a linked set one of them is in,
/// locked in id order.
async fn lock_payments(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<PaymentRow>> {
    // No status predicate in SQL: with one, a generic plan may walk the
    // partial index of pending payments (a whole backlog) instead of
    // looking the batch up by primary key. Status is checked after the row
    // lock, on the row's latest version; so is expiry, against the
    // transaction's clock. The linked sets are found first, without locks
    // (a set never changes once inserted), so that every row, named or
    // brought by its set, is still locked in one pass in id order. Their
    // members are looked up by `link_id = ANY(links)`, which the partial
    // index on `link_id` serves, never by a join a plan could turn into a
    // scan of every payment.
    let rows = sqlx::query_as!(
        PaymentRow,
        r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                  to_account AS "to_account: AccountId", amount, currency, status, capture, requested_action,
                  requested_amount, COALESCE(hold_expires_at <= now(), false) AS "expired!",
                  COALESCE(amount_captured, amount) AS "captured!", link_id AS "link_id?: LinkId"
           FROM payments
           WHERE id = ANY($1::uuid[] || ARRAY(
               SELECT member.id FROM payments member
               WHERE member.link_id = ANY(ARRAY(
                   SELECT named.link_id FROM payments named WHERE named.id = ANY($1) AND named.link_id IS NOT NULL))))
           ORDER BY id FOR NO KEY UPDATE"#,
        ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows)
}

/// An account as locked for settling.
struct LockedAccount {
    id: AccountId,
    balance: i64,
    held: i64,
    credit_limit: i64,
}

/// Locks the accounts `ids` that no other session holds; returns those
/// rows, and the ids of the held ones.
async fn lock_accounts(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<(Vec<LockedAccount>, BTreeSet<AccountId>)> {
    // What another session holds is skipped, not waited for: the rows that
    // come back are locked, the others are held.
    let locked = sqlx::query_as!(
        LockedAccount,
        r#"SELECT id AS "id: AccountId", balance, held, credit_limit FROM accounts WHERE id = ANY($1)
           ORDER BY id FOR NO KEY UPDATE SKIP LOCKED"#,
        ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let held_accounts: BTreeSet<AccountId> = {
        let locked: HashSet<AccountId> = locked.iter().map(|row| row.id).collect();
        ids.iter().map(|id| AccountId::from_uuid(*id)).filter(|id| !locked.contains(id)).collect()
    };
    Ok((locked, held_accounts))
}

/// The locked accounts the work uses, as the plan reads them.
fn account_states(
    locked: Vec<LockedAccount>,
    used: &BTreeSet<AccountId>,
) -> Result<BTreeMap<AccountId, AccountState>> {
    locked
        .into_iter()
        .filter(|row| used.contains(&row.id))
        .map(|row| {
            let corrupt = |what: &str| Error::Corrupt(format!("account {} has a negative {what}", row.id));
            let held = Amount::from_minor(row.held).ok_or_else(|| corrupt("held amount"))?;
            let credit_limit = Amount::from_minor(row.credit_limit).ok_or_else(|| corrupt("credit limit"))?;
            Ok((row.id, AccountState { balance: row.balance, held, credit_limit }))
        })
        .collect()
}

/// Every account the work moves money on or holds it on, in id order.
fn accounts_of(
    holds: &[Authorization],
    pending: &[PendingPayment],
    refunds: &[PendingRefund],
) -> BTreeSet<AccountId> {
    pending
        .iter()
        .flat_map(|p| [p.from_account, p.to_account])
        .chain(holds.iter().flat_map(|h| [h.from_account, h.to_account]))
        .chain(refunds.iter().flat_map(|r| [r.from_account, r.to_account]))
        .collect()
}

/// The pending refunds of the `done` payments among `rows` (locked, in id
/// order), each with what its payment has left to give back.
async fn pending_refunds(tx: &mut PgConnection, rows: &[PaymentRow]) -> Result<Vec<PendingRefund>> {
    let done: Vec<&PaymentRow> = rows.iter().filter(|r| r.status == PaymentStatus::Done.as_str()).collect();
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let done_ids: Vec<Uuid> = done.iter().map(|r| r.id.as_uuid()).collect();
    let found = sqlx::query!(
        r#"SELECT r.id AS "id: RefundId", r.payment_id AS "payment_id: PaymentId", r.amount,
                  (SELECT COALESCE(sum(d.amount), 0)::bigint FROM refunds d
                   WHERE d.payment_id = r.payment_id AND d.status = 'done') AS "refunded!"
           FROM refunds r WHERE r.payment_id = ANY($1) AND r.status = 'pending'
           ORDER BY r.id FOR NO KEY UPDATE OF r"#,
        &done_ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    found
        .into_iter()
        .map(|r| {
            let corrupt = |what: &str| Error::Corrupt(format!("refund {}: {what}", r.id));
            let payment = done.iter().find(|p| p.id == r.payment_id).ok_or_else(|| corrupt("no payment"))?;
            let refundable = payment.captured.checked_sub(r.refunded).and_then(Amount::from_minor);
            Ok(PendingRefund {
                id: r.id,
                payment_id: r.payment_id,
                // Back from the payee to the payer.
                from_account: payment.to_account,
                to_account: payment.from_account,
                amount: Amount::from_minor(r.amount).ok_or_else(|| corrupt("negative amount"))?,
                refundable: refundable.ok_or_else(|| corrupt("refunds done pass the payment"))?,
            })
        })
        .collect()
}

/// The currency of each payment of the batch, and the payment of each of
/// its refunds: what a ledger entry's currency is looked up in.
struct Currencies<'a> {
    payments: BTreeMap<PaymentId, &'a str>,
    refunds: BTreeMap<RefundId, PaymentId>,
}

impl<'a> Currencies<'a> {
    fn of(&self, source: Source) -> Result<&'a str> {
        let payment = match source {
            Source::Payment(id) => id,
            Source::Refund(id) => *self
                .refunds
                .get(&id)
                .ok_or_else(|| Error::Corrupt(format!("refund {id}: planned outside its batch")))?,
        };
        self.payments
            .get(&payment)
            .copied()
            .ok_or_else(|| Error::Corrupt(format!("payment {payment}: planned outside its batch")))
    }
}

/// What settle read once it held the account locks: the balances, and the
/// clock its entries are dated with.
struct Locked<'a> {
    balances: &'a BTreeMap<AccountId, AccountState>,
    at: DateTime<Utc>,
}

async fn write_plan(
    tx: &mut PgConnection,
    plan: &Plan,
    locked: &Locked<'_>,
    currencies: &Currencies<'_>,
) -> Result<()> {
    if !plan.accounts.is_empty() {
        write_accounts(tx, plan).await?;
        write_entries(tx, plan, locked, currencies).await?;
    }
    write_outcomes(tx, plan).await?;
    write_refund_outcomes(tx, plan).await
}

async fn write_accounts(tx: &mut PgConnection, plan: &Plan) -> Result<()> {
    let ids: Vec<Uuid> = plan.accounts.keys().map(AccountId::as_uuid).collect();
    let balances: Vec<i64> = plan.accounts.values().map(|a| a.balance).collect();
    let held: Vec<i64> = plan.accounts.values().map(|a| a.held.minor()).collect();
    sqlx::query!(
        "UPDATE accounts SET balance = new.balance, held = new.held \
         FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[]) AS new(id, balance, held) WHERE accounts.id = new.id",
        &ids,
        &balances,
        &held,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Every entry the plan records: debits and credits, holds, releases and
/// captures.
///
/// With `COPY`, not `INSERT … SELECT FROM UNNEST`: PostgreSQL logs the rows
/// `COPY` puts on one page as one WAL record (a multi-insert), where an
/// `INSERT` logs a record, with its headers, per row: about 30 bytes less
/// per entry, two entries a payment. Every field is a uuid, an integer, a
/// kind, an ISO currency code (checked when its account was opened) or an RFC 3339 time, so
/// none needs escaping in COPY's text format.
///
/// Each carries its account's balance and held amount after it, run on from the states
/// read under the account row locks this transaction holds (no other
/// session writes an entry of these accounts until it commits), and is
/// dated with the clock read once those locks were held. Written here, not
/// left to a volatile column default, which would cost COPY its
/// multi-insert.
async fn write_entries(
    tx: &mut PgConnection,
    plan: &Plan,
    locked: &Locked<'_>,
    currencies: &Currencies<'_>,
) -> Result<()> {
    let balances = settlement::balances_after(locked.balances, &plan.entries)?;
    let at = locked.at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut rows = String::with_capacity(plan.entries.len() * 144);
    for (entry, after) in plan.entries.iter().zip(balances) {
        let (payment, refund) = match entry.source {
            Source::Payment(id) => (id.as_uuid().to_string(), NULL.to_owned()),
            Source::Refund(id) => (NULL.to_owned(), id.as_uuid().to_string()),
        };
        // Each entry is in its payment's currency (a refund's, its
        // payment's), written here rather than left to the column's
        // default; the foreign keys hold the account to it as well, so no
        // entry can move money across currencies.
        let currency = currencies.of(entry.source)?;
        let _ = writeln!(
            rows,
            "{}\t{payment}\t{refund}\t{}\t{}\t{currency}\t{}\t{}\t{at}",
            entry.account.as_uuid(),
            entry.kind.as_str(),
            entry.amount,
            after.balance,
            after.held,
        );
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY ledger_entries (account_id, payment_id, refund_id, kind, amount, currency, balance_after, \
             held_after, created_at) FROM STDIN",
        )
        .await?;
    // A failed send leaves the COPY to be abandoned when `copy` drops,
    // which fails the statement and with it the transaction.
    copy.send(rows.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// NULL in COPY's text format.
const NULL: &str = "\\N";

/// One payment's move, as `write_outcomes` writes it.
struct Move {
    id: PaymentId,
    from: PaymentStatus,
    to: PaymentStatus,
    reason: Option<&'static str>,
    captured: Option<i64>,
    event: EventType,
}

fn moves(plan: &Plan) -> Vec<Move> {
    let settled = plan.outcomes.iter().map(|(payment, outcome)| {
        let (to, reason, captured, event) = match outcome {
            // `amount_captured` stays NULL: an automatic payment moves its
            // whole amount, which every reader takes a NULL to mean. Set,
            // it made the in-place update log every column from `status`
            // to it (about 40 WAL bytes a payment); left alone, only
            // `status` to `updated_at` differ.
            Outcome::Done => (PaymentStatus::Done, None, None, EventType::PaymentDone),
            Outcome::Authorized => (PaymentStatus::Authorized, None, None, EventType::PaymentAuthorized),
            Outcome::Failed(reason) => {
                (PaymentStatus::Failed, Some(reason.as_str()), None, EventType::PaymentFailed)
            }
        };
        Move { id: payment.id, from: PaymentStatus::Pending, to, reason, captured, event }
    });
    let closed = plan.holds.iter().map(|(hold, outcome)| {
        let (to, reason, captured, event) = match outcome {
            HoldOutcome::Captured(amount) => {
                (PaymentStatus::Done, None, Some(amount.minor()), EventType::PaymentCaptured)
            }
            HoldOutcome::Voided => (PaymentStatus::Voided, None, None, EventType::PaymentVoided),
            HoldOutcome::Expired => (PaymentStatus::Expired, None, None, EventType::PaymentExpired),
            HoldOutcome::Failed(reason) => {
                (PaymentStatus::Failed, Some(reason.as_str()), None, EventType::PaymentFailed)
            }
        };
        Move { id: hold.id, from: PaymentStatus::Authorized, to, reason, captured, event }
    });
    settled.chain(closed).collect()
}

/// Moves every planned payment to its outcome (out of `pending`, or out of
/// `authorized`), and records the event of each.
async fn write_outcomes(tx: &mut PgConnection, plan: &Plan) -> Result<()> {
    let moves = moves(plan);
    if moves.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = moves.iter().map(|m| m.id.as_uuid()).collect();
    let from: Vec<&str> = moves.iter().map(|m| m.from.as_str()).collect();
    let to: Vec<&str> = moves.iter().map(|m| m.to.as_str()).collect();
    let reasons: Vec<Option<&str>> = moves.iter().map(|m| m.reason).collect();
    let captured: Vec<Option<i64>> = moves.iter().map(|m| m.captured).collect();
    let events: Vec<&str> = moves.iter().map(|m| m.event.as_str()).collect();
    // Each payment's event, its webhook deliveries and its publication to
    // `payrail.events` are written by the same statement that moves it: the
    // event commits exactly when the status change does. An authorization's expiry is counted from here.
    let event_ids: Vec<Uuid> = ids.iter().map(|_| EventId::new().as_uuid()).collect();
    let moved = sqlx::query_scalar!(
        r#"WITH moved AS (
               UPDATE payments SET status = new.status, failure_reason = new.reason,
                      amount_captured = new.captured,
                      hold_expires_at = CASE WHEN new.status = 'authorized'
                          THEN now() + make_interval(secs => payments.hold_secs) ELSE payments.hold_expires_at END,
                      relayed_at = CASE WHEN new.status = 'authorized' THEN NULL ELSE payments.relayed_at END,
                      updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::uuid[])
                   AS new(id, old_status, status, reason, captured, type, event_id)
               WHERE payments.id = new.id AND payments.status = new.old_status
               RETURNING payments.id, payments.status, payments.failure_reason, payments.updated_at,
                         new.type, new.event_id),
           e AS (
               INSERT INTO events (id, type, payment_id, status, failure_reason, payment_updated_at)
               SELECT event_id, type, id, status, failure_reason, updated_at FROM moved
               RETURNING id, type, payment_id),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id)
               SELECT w.id, e.id, e.payment_id FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events)),
           a AS (INSERT INTO event_publications (first_event, event_ids)
                 SELECT ids[1], ids FROM (SELECT array_agg(id ORDER BY id) AS ids FROM e) s WHERE ids IS NOT NULL)
           SELECT count(*) AS "moved!" FROM moved"#,
        &ids,
        &from as &[&str],
        &to as &[&str],
        &reasons as &[Option<&str>],
        &captured as &[Option<i64>],
        &events as &[&str],
        &event_ids,
    )
    .fetch_one(&mut *tx)
    .await?;
    // The rows are locked FOR UPDATE above, so every one is still as read.
    if moved != ids.len() as i64 {
        return Err(Error::Corrupt(format!(
            "settle expected to move {} payments, moved {}",
            ids.len(),
            moved
        )));
    }
    Ok(())
}

/// Moves every planned refund out of `pending`, with its `refund.done` or
/// `refund.failed` event, deliveries and publication in the same statement.
async fn write_refund_outcomes(tx: &mut PgConnection, plan: &Plan) -> Result<()> {
    if plan.refunds.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = plan.refunds.iter().map(|(r, _)| r.id.as_uuid()).collect();
    let (statuses, reasons): (Vec<&str>, Vec<Option<&str>>) = plan
        .refunds
        .iter()
        .map(|(_, outcome)| match outcome {
            RefundOutcome::Done => ("done", None),
            RefundOutcome::Failed(reason) => ("failed", Some(reason.as_str())),
        })
        .unzip();
    let event_ids: Vec<Uuid> = ids.iter().map(|_| EventId::new().as_uuid()).collect();
    let moved = sqlx::query_scalar!(
        r#"WITH moved AS (
               UPDATE refunds SET status = new.status, failure_reason = new.reason, updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[]) AS new(id, status, reason, event_id)
               WHERE refunds.id = new.id AND refunds.status = 'pending'
               RETURNING refunds.id, refunds.payment_id, refunds.status, refunds.failure_reason,
                         refunds.updated_at, new.event_id),
           e AS (
               INSERT INTO events (id, type, payment_id, refund_id, status, failure_reason, payment_updated_at)
               SELECT event_id, 'refund.' || status, payment_id, id, status, failure_reason, updated_at FROM moved
               RETURNING id, type, payment_id),
           d AS (
               INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_id)
               SELECT w.id, e.id, e.payment_id FROM e
               JOIN webhook_endpoints w ON w.events IS NULL OR e.type = ANY (w.events)),
           a AS (INSERT INTO event_publications (first_event, event_ids)
                 SELECT ids[1], ids FROM (SELECT array_agg(id ORDER BY id) AS ids FROM e) s WHERE ids IS NOT NULL)
           SELECT count(*) AS "moved!" FROM moved"#,
        &ids,
        &statuses as &[&str],
        &reasons as &[Option<&str>],
        &event_ids,
    )
    .fetch_one(&mut *tx)
    .await?;
    if moved != ids.len() as i64 {
        return Err(Error::Corrupt(format!(
            "settle expected to move {} refunds, moved {}",
            ids.len(),
            moved
        )));
    }
    Ok(())
}
