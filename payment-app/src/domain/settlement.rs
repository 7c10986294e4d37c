//! The pure core of settle: given the balances of the accounts a batch
//! touches and the batch's work, decide each item's outcome, the balances
//! after it and the ledger entries that record it.
//!
//! The work of a batch is still-pending payments (automatic ones move the
//! money, manual ones hold it on the payer), authorizations to close
//! (capture, void or expiry) and pending refunds. Authorizations are
//! applied first, then the payments, then the refunds, one after another in
//! the order given, each against the
//! balances the previous ones left, so a batch decides exactly what the
//! same work settled one by one in that order would. Every payer's cover is
//! its *available* balance (balance plus its credit limit, minus held):
//! a balance may run below zero down to `-credit_limit`. Linked payments (an atomic
//! batch's) are decided as a unit where the first of them comes: all of
//! them apply, or none does and all fail with the first one's reason. Keeping this free of I/O is
//! what lets the database layer apply a whole batch in one transaction with
//! a fixed number of statements.

use std::collections::{BTreeMap, BTreeSet};

pub use super::hold::HoldAction;
use super::{AccountId, Amount, FailureReason, LinkId, PaymentId, RefundId};

/// An account as settle sees it: its balance (signed: below zero while it
/// spends its credit), how much is held for authorizations, and its credit
/// limit. `balance >= -credit_limit` and `held <= balance + credit_limit`
/// always (the database's constraints say the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountState {
    pub balance: i64,
    pub held: Amount,
    pub credit_limit: Amount,
}

impl AccountState {
    /// What payments may spend: balance plus credit limit, minus held.
    pub fn available(self) -> Amount {
        // In i128: a balance near either end of i64 plus a limit must not
        // wrap into a wrong answer.
        let minor =
            i128::from(self.balance) + i128::from(self.credit_limit.minor()) - i128::from(self.held.minor());
        Amount::from_minor(i64::try_from(minor.max(0)).unwrap_or(i64::MAX)).unwrap_or(Amount::ZERO)
    }
}

/// A payment as settle sees it: read from the database, still `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingPayment {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    /// Held on the payer (`authorized`) instead of moved.
    pub manual: bool,
    /// The atomic batch the payment belongs to, if any.
    pub link: Option<LinkId>,
}

/// What settle decided for one pending payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A manual payment: the amount is held on the payer.
    Authorized,
    Failed(FailureReason),
}

/// An `authorized` payment with the end it comes to in this batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    /// The amount held.
    pub amount: Amount,
    pub action: HoldAction,
}

/// What settle decided for one authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    Captured(Amount),
    Voided,
    Expired,
    /// The hold is released and nothing moved (the payee could not take it).
    Failed(FailureReason),
}

/// A pending refund as settle sees it: money back from the payment's payee
/// (`from_account`) to its payer (`to_account`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRefund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    /// What the payment moved less its refunds already `done`: the most
    /// this batch's refunds of the payment may give back together.
    pub refundable: Amount,
}

/// What settle decided for one refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundOutcome {
    Done,
    Failed(FailureReason),
}

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The payer's side of an automatic payment (-).
    Debit,
    /// The payee's side of a payment (+).
    Credit,
    /// Held on the payer by an authorization (+ to `held`).
    Hold,
    /// An authorization's hold released (- from `held`).
    Release,
    /// The payer's side of a captured payment (-).
    Capture,
    /// A refund taken from the payment's payee (-).
    RefundDebit,
    /// A refund given to the payment's payer (+).
    RefundCredit,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Debit => "debit",
            EntryKind::Credit => "credit",
            EntryKind::Hold => "hold",
            EntryKind::Release => "release",
            EntryKind::Capture => "capture",
            EntryKind::RefundDebit => "refund_debit",
            EntryKind::RefundCredit => "refund_credit",
        }
    }

    /// Whether the entry moves the balance; a hold or release moves only
    /// `held`.
    pub fn moves_balance(self) -> bool {
        !matches!(self, EntryKind::Hold | EntryKind::Release)
    }
}

/// An account's balance and held amount right after one of its entries:
/// what settle writes with the entry (`balance_after`, `held_after`), and
/// what the balance at an instant is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    pub balance: i64,
    pub held: i64,
}

/// Each entry's account balance and held amount after it, in the order
/// given, from the states the accounts had before: what settle writes with
/// the entries, under the account locks it read `before` with. A `hold` or
/// `release` moves the held amount, every other kind the balance. Pure, so
/// the chains the audit checks are tested without a database.
pub fn balances_after(
    before: &BTreeMap<AccountId, AccountState>,
    entries: &[Entry],
) -> Result<Vec<After>, PlanError> {
    let mut running: BTreeMap<AccountId, After> = before
        .iter()
        .map(|(id, state)| (*id, After { balance: state.balance, held: state.held.minor() }))
        .collect();
    entries
        .iter()
        .map(|entry| {
            let after = running.get_mut(&entry.account).ok_or(PlanError::MissingAccount(entry.account))?;
            let moved = if entry.kind.moves_balance() { &mut after.balance } else { &mut after.held };
            *moved = moved.checked_add(entry.amount).ok_or(PlanError::BalanceOverflow(entry.account))?;
            Ok(*after)
        })
        .collect()
}

/// One ledger entry to write: signed minor units, negative for what leaves
/// the account (or its held amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub account: AccountId,
    pub source: Source,
    pub kind: EntryKind,
    pub amount: i64,
}

/// What an entry is tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Payment(PaymentId),
    Refund(RefundId),
}

/// Everything a batch changes: outcomes, final states of the accounts that
/// changed, and the ledger entries recording every change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub outcomes: Vec<(PendingPayment, Outcome)>,
    pub holds: Vec<(Authorization, HoldOutcome)>,
    pub refunds: Vec<(PendingRefund, RefundOutcome)>,
    /// New states, ordered by account id (the order rows are updated in).
    pub accounts: BTreeMap<AccountId, AccountState>,
    pub entries: Vec<Entry>,
}

impl Plan {
    pub fn done(&self) -> impl Iterator<Item = &PendingPayment> {
        self.outcomes.iter().filter(|(_, o)| *o == Outcome::Done).map(|(p, _)| p)
    }
}

/// Why a batch cannot be planned: the database and the batch disagree,
/// which settle treats as a bug to surface, never to guess around.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("account {0} of a pending payment has no balance row")]
    MissingAccount(AccountId),
    #[error("authorization {0} holds more than its payer's held amount or what balance and credit cover")]
    HoldNotCovered(PaymentId),
    #[error("account {0}: an entry takes its balance past what a bigint holds")]
    BalanceOverflow(AccountId),
}

/// Decides every authorization, then every payment, of a batch, in order.
///
/// `accounts` holds the current state of every account the work touches.
/// A payment is `done` (automatic) or `authorized` (manual) when its
/// payer's running *available* balance covers it and, when it moves money,
/// its payee's balance can take it; otherwise `failed` with
/// `insufficient_funds` or `balance_overflow`. A failed payment changes
/// nothing. An overflowing credit is an outcome like an overdraft, not an
/// error: retrying it could never succeed, and an error would hold up
/// every payment behind it.
///
/// Payments sharing a `link` are decided together where the first of them
/// is: if each of them, applied in order, would succeed, they all apply;
/// otherwise none changes anything and every one fails with the reason of
/// the first that could not apply.
///
/// A refund is `done` when the payee's available balance covers it and the
/// payment's refunds done so far (this batch's included) leave room for it;
/// otherwise `failed` with `insufficient_funds` or `refund_exceeds_payment`.
pub fn plan(
    accounts: BTreeMap<AccountId, AccountState>,
    holds: &[Authorization],
    payments: &[PendingPayment],
    refunds: &[PendingRefund],
) -> Result<Plan, PlanError> {
    let mut planner = Planner { accounts, refundable: BTreeMap::new(), plan: Plan::default() };
    for hold in holds {
        planner.close(hold)?;
    }
    let mut linked_done = BTreeSet::new();
    for payment in payments {
        match payment.link {
            None => planner.settle(payment)?,
            Some(link) if linked_done.insert(link) => {
                let set: Vec<&PendingPayment> = payments.iter().filter(|p| p.link == Some(link)).collect();
                planner.settle_linked(&set)?;
            }
            Some(_) => {}
        }
    }
    for refund in refunds {
        planner.refund(refund)?;
    }
    Ok(planner.plan)
}

struct Planner {
    accounts: BTreeMap<AccountId, AccountState>,
    /// What each refunded payment has left to give back, as the batch goes.
    refundable: BTreeMap<PaymentId, Amount>,
    plan: Plan,
}

impl Planner {
    fn get(&self, id: AccountId) -> Result<AccountState, PlanError> {
        self.accounts.get(&id).copied().ok_or(PlanError::MissingAccount(id))
    }

    fn set(&mut self, id: AccountId, state: AccountState) {
        self.accounts.insert(id, state);
        self.plan.accounts.insert(id, state);
    }

    fn entry(&mut self, account: AccountId, payment: PaymentId, kind: EntryKind, amount: i64) {
        self.plan.entries.push(Entry { account, source: Source::Payment(payment), kind, amount });
    }

    fn refund(&mut self, refund: &PendingRefund) -> Result<(), PlanError> {
        let from = self.get(refund.from_account)?;
        let to = self.get(refund.to_account)?;
        let left = *self.refundable.entry(refund.payment_id).or_insert(refund.refundable);
        let Some(left_after) = left.checked_sub(refund.amount) else {
            self.plan.refunds.push((*refund, RefundOutcome::Failed(FailureReason::RefundExceedsPayment)));
            return Ok(());
        };
        if from.available() < refund.amount {
            self.plan.refunds.push((*refund, RefundOutcome::Failed(FailureReason::InsufficientFunds)));
            return Ok(());
        }
        let Some(credited) = to.balance.checked_add(refund.amount.minor()) else {
            self.plan.refunds.push((*refund, RefundOutcome::Failed(FailureReason::BalanceOverflow)));
            return Ok(());
        };
        let debited = from.balance.checked_sub(refund.amount.minor()).expect("available covers it");
        self.refundable.insert(refund.payment_id, left_after);
        self.set(refund.from_account, AccountState { balance: debited, ..from });
        self.set(refund.to_account, AccountState { balance: credited, ..to });
        let minor = refund.amount.minor();
        let source = Source::Refund(refund.id);
        self.plan.entries.push(Entry {
            account: refund.from_account,
            source,
            kind: EntryKind::RefundDebit,
            amount: -minor,
        });
        self.plan.entries.push(Entry {
            account: refund.to_account,
            source,
            kind: EntryKind::RefundCredit,
            amount: minor,
        });
        self.plan.refunds.push((*refund, RefundOutcome::Done));
        Ok(())
    }

    fn settle(&mut self, payment: &PendingPayment) -> Result<(), PlanError> {
        let from = self.get(payment.from_account)?;
        let to = self.get(payment.to_account)?;
        if from.available() < payment.amount {
            self.plan.outcomes.push((*payment, Outcome::Failed(FailureReason::InsufficientFunds)));
            return Ok(());
        }
        let minor = payment.amount.minor();
        if payment.manual {
            let held =
                from.held.checked_add(payment.amount).expect("held <= balance + credit, far from overflow");
            self.set(payment.from_account, AccountState { held, ..from });
            self.entry(payment.from_account, payment.id, EntryKind::Hold, minor);
            self.plan.outcomes.push((*payment, Outcome::Authorized));
            return Ok(());
        }
        let Some(credited) = to.balance.checked_add(payment.amount.minor()) else {
            self.plan.outcomes.push((*payment, Outcome::Failed(FailureReason::BalanceOverflow)));
            return Ok(());
        };
        let debited = from.balance.checked_sub(payment.amount.minor()).expect("available covers it");
        self.set(payment.from_account, AccountState { balance: debited, ..from });
        self.set(payment.to_account, AccountState { balance: credited, ..to });
        self.entry(payment.from_account, payment.id, EntryKind::Debit, -minor);
        self.entry(payment.to_account, payment.id, EntryKind::Credit, minor);
        self.plan.outcomes.push((*payment, Outcome::Done));
        Ok(())
    }

    /// Settles a linked set all or none. Each member is settled in turn as
    /// an unlinked payment would be; if one fails, what the members before
    /// it changed is undone (only the accounts the set touches are saved,
    /// so a set costs what its own size does, not the batch's).
    fn settle_linked(&mut self, set: &[&PendingPayment]) -> Result<(), PlanError> {
        let touched: BTreeSet<AccountId> = set.iter().flat_map(|p| [p.from_account, p.to_account]).collect();
        let saved: Vec<_> = touched
            .iter()
            .map(|id| (*id, self.accounts.get(id).copied(), self.plan.accounts.get(id).copied()))
            .collect();
        let (entries, outcomes) = (self.plan.entries.len(), self.plan.outcomes.len());
        for payment in set {
            self.settle(payment)?;
            if let Some((_, Outcome::Failed(reason))) = self.plan.outcomes.last().copied() {
                for (id, state, planned) in saved {
                    restore(&mut self.accounts, id, state);
                    restore(&mut self.plan.accounts, id, planned);
                }
                self.plan.entries.truncate(entries);
                self.plan.outcomes.truncate(outcomes);
                self.plan.outcomes.extend(set.iter().map(|p| (**p, Outcome::Failed(reason))));
                return Ok(());
            }
        }
        Ok(())
    }

    /// Releases an authorization's hold and, for a capture, moves the
    /// captured amount.
    fn close(&mut self, hold: &Authorization) -> Result<(), PlanError> {
        let from = self.get(hold.from_account)?;
        let to = self.get(hold.to_account)?;
        let released = from.held.checked_sub(hold.amount).ok_or(PlanError::HoldNotCovered(hold.id))?;
        if let HoldAction::Capture(amount) = hold.action
            && amount > hold.amount
        {
            return Err(PlanError::HoldNotCovered(hold.id));
        }
        let outcome = match hold.action {
            HoldAction::Void => HoldOutcome::Voided,
            HoldAction::Expire => HoldOutcome::Expired,
            HoldAction::Capture(amount) => match to.balance.checked_add(amount.minor()) {
                None => HoldOutcome::Failed(FailureReason::BalanceOverflow),
                Some(credited) => {
                    // The hold kept this much available: what it captures
                    // stays within balance and credit.
                    let debited = from
                        .balance
                        .checked_sub(amount.minor())
                        .filter(|debited| *debited >= -from.credit_limit.minor())
                        .ok_or(PlanError::HoldNotCovered(hold.id))?;
                    self.set(hold.to_account, AccountState { balance: credited, ..to });
                    self.set(hold.from_account, AccountState { balance: debited, held: released, ..from });
                    self.entry(hold.from_account, hold.id, EntryKind::Release, -hold.amount.minor());
                    self.entry(hold.from_account, hold.id, EntryKind::Capture, -amount.minor());
                    self.entry(hold.to_account, hold.id, EntryKind::Credit, amount.minor());
                    self.plan.holds.push((*hold, HoldOutcome::Captured(amount)));
                    return Ok(());
                }
            },
        };
        self.set(hold.from_account, AccountState { held: released, ..from });
        self.entry(hold.from_account, hold.id, EntryKind::Release, -hold.amount.minor());
        self.plan.holds.push((*hold, outcome));
        Ok(())
    }
}

fn restore(accounts: &mut BTreeMap<AccountId, AccountState>, id: AccountId, state: Option<AccountState>) {
    match state {
        Some(state) => accounts.insert(id, state),
        None => accounts.remove(&id),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_and_held_amounts_after_chain_per_account() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let before = BTreeMap::from([(a, state(100, 0)), (b, state(5, 0))]);
        let entry = |account, kind, amount| Entry {
            account,
            source: Source::Payment(PaymentId::new()),
            kind,
            amount,
        };
        let entries = [
            entry(a, EntryKind::Debit, -30),
            entry(b, EntryKind::Credit, 30),
            entry(a, EntryKind::Hold, 50),
            entry(a, EntryKind::Release, -50),
            entry(a, EntryKind::Capture, -20),
        ];
        let after = |balance, held| After { balance, held };
        assert_eq!(
            balances_after(&before, &entries),
            Ok(vec![after(70, 0), after(35, 0), after(70, 50), after(70, 0), after(50, 0)])
        );
        let stranger = [entry(AccountId::new(), EntryKind::Credit, 1)];
        assert!(matches!(balances_after(&before, &stranger), Err(PlanError::MissingAccount(_))));
    }

    fn cents(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("non-negative")
    }

    fn state(balance: i64, held: i64) -> AccountState {
        AccountState { balance, held: cents(held), credit_limit: Amount::ZERO }
    }

    fn with_credit(balance: i64, held: i64, credit_limit: i64) -> AccountState {
        AccountState { credit_limit: cents(credit_limit), ..state(balance, held) }
    }

    fn pay(from: AccountId, to: AccountId, minor: i64) -> PendingPayment {
        PendingPayment {
            id: PaymentId::new(),
            from_account: from,
            to_account: to,
            amount: cents(minor),
            manual: false,
            link: None,
        }
    }

    fn linked(link: LinkId, payment: PendingPayment) -> PendingPayment {
        PendingPayment { link: Some(link), ..payment }
    }

    fn authorize(from: AccountId, to: AccountId, minor: i64) -> PendingPayment {
        PendingPayment { manual: true, ..pay(from, to, minor) }
    }

    fn close(from: AccountId, to: AccountId, minor: i64, action: HoldAction) -> Authorization {
        Authorization {
            id: PaymentId::new(),
            from_account: from,
            to_account: to,
            amount: cents(minor),
            action,
        }
    }

    fn balances(accounts: &[(AccountId, i64)]) -> BTreeMap<AccountId, AccountState> {
        accounts.iter().map(|(id, minor)| (*id, state(*minor, 0))).collect()
    }

    fn payments_only(accounts: BTreeMap<AccountId, AccountState>, payments: &[PendingPayment]) -> Plan {
        plan(accounts, &[], payments, &[]).expect("plannable")
    }

    /// The sum of every balance, and every account's balance and held
    /// amount as the sums of its entries (starting from `before`).
    fn assert_entries_explain(before: &BTreeMap<AccountId, AccountState>, plan: &Plan) {
        for (id, after) in &plan.accounts {
            let start = before[id];
            let moved: i64 = plan
                .entries
                .iter()
                .filter(|e| e.account == *id && !matches!(e.kind, EntryKind::Hold | EntryKind::Release))
                .map(|e| e.amount)
                .sum();
            let held: i64 = plan
                .entries
                .iter()
                .filter(|e| e.account == *id && matches!(e.kind, EntryKind::Hold | EntryKind::Release))
                .map(|e| e.amount)
                .sum();
            assert_eq!(after.balance, start.balance + moved, "{id} balance");
            assert_eq!(after.held.minor(), start.held.minor() + held, "{id} held");
            assert!(after.balance >= -after.credit_limit.minor(), "{id} spends past its credit");
            assert!(
                after.held.minor() <= after.balance + after.credit_limit.minor(),
                "{id} holds more than it has"
            );
        }
        let total: i64 = plan
            .entries
            .iter()
            .filter(|e| e.kind != EntryKind::Hold && e.kind != EntryKind::Release)
            .map(|e| e.amount)
            .sum();
        assert_eq!(total, 0, "money is conserved");
    }

    #[test]
    fn applies_payments_in_order_against_running_balances() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        // b can only pay c because a paid b first in the same batch.
        let payments = [pay(a, b, 60), pay(b, c, 50), pay(a, c, 50)];
        let plan = payments_only(balances(&[(a, 100), (b, 0), (c, 0)]), &payments);

        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(
            outcomes,
            [Outcome::Done, Outcome::Done, Outcome::Failed(FailureReason::InsufficientFunds)]
        );
        assert_eq!(plan.accounts, balances(&[(a, 40), (b, 10), (c, 50)]));
        assert_eq!(plan.done().count(), 2);
        assert_eq!(plan.entries.len(), 4);
    }

    #[test]
    fn an_exact_balance_is_enough_and_a_cent_more_is_not() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let plan =
            payments_only(balances(&[(a, 100), (b, 0)]), &[pay(a, b, 101), pay(a, b, 100), pay(a, b, 1)]);
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Failed(FailureReason::InsufficientFunds),
                Outcome::Done,
                Outcome::Failed(FailureReason::InsufficientFunds)
            ]
        );
        assert_eq!(plan.accounts[&a].balance, 0);
    }

    #[test]
    fn failed_payments_leave_balances_untouched() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let plan = payments_only(balances(&[(a, 5), (b, 7)]), &[pay(a, b, 6)]);
        assert!(plan.accounts.is_empty() && plan.entries.is_empty());
    }

    #[test]
    fn conserves_money_across_a_cycle() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let before = balances(&[(a, 10), (b, 10)]);
        let plan = payments_only(before.clone(), &[pay(a, b, 10), pay(b, a, 20), pay(a, b, 5)]);
        let total: i64 = plan.accounts.values().map(|v| v.balance).sum();
        assert_eq!(total, 20);
        assert_eq!(plan.done().count(), 3);
        assert_entries_explain(&before, &plan);
    }

    #[test]
    fn credit_is_spent_to_the_cent_and_not_a_cent_more() {
        let (a, b) = (AccountId::new(), AccountId::new());
        // 10 of its own and 50 of credit: 60 in all, whatever the order.
        let before = BTreeMap::from([(a, with_credit(10, 0, 50)), (b, state(0, 0))]);
        let plan =
            payments_only(before.clone(), &[pay(a, b, 61), pay(a, b, 35), pay(a, b, 25), pay(a, b, 1)]);
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        let short = Outcome::Failed(FailureReason::InsufficientFunds);
        assert_eq!(outcomes, [short, Outcome::Done, Outcome::Done, short]);
        assert_eq!(plan.accounts[&a], with_credit(-50, 0, 50));
        assert_eq!(plan.accounts[&a].available(), Amount::ZERO);
        assert_entries_explain(&before, &plan);
        let balances: Vec<i64> = balances_after(&before, &plan.entries)
            .expect("planned accounts")
            .iter()
            .map(|a| a.balance)
            .collect();
        assert_eq!(balances, [-25, 35, -50, 60]);

        // A hold takes credit as a payment does, and its capture spends it.
        let before = BTreeMap::from([(a, with_credit(0, 0, 30)), (b, state(0, 0))]);
        let held = plan_of(before.clone(), &[], &[authorize(a, b, 30), pay(a, b, 1)]);
        assert_eq!(held.outcomes[1].1, short);
        assert_eq!(held.accounts[&a], with_credit(0, 30, 30));
        let authorized = BTreeMap::from([(a, held.accounts[&a]), (b, state(0, 0))]);
        let captured = plan_of(authorized.clone(), &[close(a, b, 30, HoldAction::Capture(cents(30)))], &[]);
        assert_eq!(captured.accounts[&a], with_credit(-30, 0, 30));
        assert_entries_explain(&authorized, &captured);
    }

    fn plan_of(
        accounts: BTreeMap<AccountId, AccountState>,
        holds: &[Authorization],
        payments: &[PendingPayment],
    ) -> Plan {
        plan(accounts, holds, payments, &[]).expect("plannable")
    }

    #[test]
    fn refuses_to_guess_when_an_account_is_missing() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let only_a = balances(&[(a, 10)]);
        assert_eq!(plan(only_a, &[], &[pay(a, b, 1)], &[]), Err(PlanError::MissingAccount(b)));
    }

    #[test]
    fn a_credit_that_would_overflow_fails_alone() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let plan = payments_only(balances(&[(a, 10), (b, i64::MAX), (c, 0)]), &[pay(a, b, 1), pay(a, c, 1)]);
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(outcomes, [Outcome::Failed(FailureReason::BalanceOverflow), Outcome::Done]);
        assert_eq!(plan.accounts, balances(&[(a, 9), (c, 1)]));
    }

    #[test]
    fn a_manual_payment_holds_and_payments_are_decided_on_what_is_available() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let before = balances(&[(a, 100), (b, 0)]);
        // The hold leaves 30 available: 31 fails, 30 goes through.
        let payments = [authorize(a, b, 70), pay(a, b, 31), authorize(a, b, 31), pay(a, b, 30)];
        let plan = plan(before.clone(), &[], &payments, &[]).expect("plannable");
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        let short = Outcome::Failed(FailureReason::InsufficientFunds);
        assert_eq!(outcomes, [Outcome::Authorized, short, short, Outcome::Done]);
        assert_eq!(plan.accounts[&a], state(70, 70));
        assert_eq!(plan.accounts[&b], state(30, 0));
        assert_entries_explain(&before, &plan);
    }

    #[test]
    fn a_capture_moves_what_is_captured_and_releases_the_whole_hold() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let before = BTreeMap::from([(a, state(100, 70)), (b, state(0, 0))]);
        let hold = close(a, b, 70, HoldAction::Capture(cents(50)));
        let plan = plan(before.clone(), &[hold], &[pay(a, b, 50)], &[]).expect("plannable");
        assert_eq!(plan.holds, [(hold, HoldOutcome::Captured(cents(50)))]);
        // Released before the payment is decided: 50 is available again.
        assert_eq!(plan.outcomes[0].1, Outcome::Done);
        assert_eq!(plan.accounts[&a], state(0, 0));
        assert_eq!(plan.accounts[&b], state(100, 0));
        assert_entries_explain(&before, &plan);
    }

    #[test]
    fn a_void_or_an_expiry_only_releases() {
        for action in [HoldAction::Void, HoldAction::Expire] {
            let (a, b) = (AccountId::new(), AccountId::new());
            let before = BTreeMap::from([(a, state(100, 70)), (b, state(5, 0))]);
            let hold = close(a, b, 70, action);
            let plan = plan(before.clone(), &[hold], &[], &[]).expect("plannable");
            let expected =
                if action == HoldAction::Void { HoldOutcome::Voided } else { HoldOutcome::Expired };
            assert_eq!(plan.holds, [(hold, expected)]);
            assert_eq!(plan.accounts, BTreeMap::from([(a, state(100, 0))]));
            assert_entries_explain(&before, &plan);
        }
    }

    #[test]
    fn a_hold_the_account_does_not_hold_is_a_bug_not_an_outcome() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let before = BTreeMap::from([(a, state(100, 10)), (b, state(0, 0))]);
        let hold = close(a, b, 70, HoldAction::Void);
        assert_eq!(plan(before.clone(), &[hold], &[], &[]), Err(PlanError::HoldNotCovered(hold.id)));
        let over =
            Authorization { action: HoldAction::Capture(cents(11)), ..close(a, b, 10, HoldAction::Void) };
        assert_eq!(plan(before, &[over], &[], &[]), Err(PlanError::HoldNotCovered(over.id)));
    }

    #[test]
    fn refunds_stop_at_what_the_payment_moved_and_at_what_the_payee_has() {
        let (payer, payee) = (AccountId::new(), AccountId::new());
        let before = balances(&[(payer, 0), (payee, 100)]);
        let payment = PaymentId::new();
        let refund = |minor: i64, refundable: i64| PendingRefund {
            id: RefundId::new(),
            payment_id: payment,
            from_account: payee,
            to_account: payer,
            amount: cents(minor),
            refundable: cents(refundable),
        };
        // 80 of the payment is refundable: 50 + 30 fit, the next 1 does not.
        let refunds = [refund(50, 80), refund(31, 80), refund(30, 80), refund(1, 80)];
        let plan = plan(before.clone(), &[], &[], &refunds).expect("plannable");
        let outcomes: Vec<_> = plan.refunds.iter().map(|(_, o)| *o).collect();
        let exceeds = RefundOutcome::Failed(FailureReason::RefundExceedsPayment);
        assert_eq!(outcomes, [RefundOutcome::Done, exceeds, RefundOutcome::Done, exceeds]);
        assert_eq!(plan.accounts, balances(&[(payer, 80), (payee, 20)]));
        assert_entries_explain(&before, &plan);

        // A payee that spent the money fails the refund: nothing moves.
        let held = BTreeMap::from([(payer, state(0, 0)), (payee, state(100, 90))]);
        let spent = super::plan(held, &[], &[], &[refund(11, 100)]).expect("plannable");
        assert_eq!(spent.refunds[0].1, RefundOutcome::Failed(FailureReason::InsufficientFunds));
        assert!(spent.entries.is_empty());
    }

    #[test]
    fn a_linked_set_applies_whole_when_every_member_can() {
        let (a, b, fee) = (AccountId::new(), AccountId::new(), AccountId::new());
        let before = balances(&[(a, 100), (b, 0), (fee, 0)]);
        let link = LinkId::new();
        // The set needs exactly all of a's 100.
        let payments = [linked(link, pay(a, b, 97)), pay(b, fee, 50), linked(link, pay(a, fee, 3))];
        let plan = payments_only(before.clone(), &payments);
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(p, o)| (p.id, *o)).collect();
        // Decided together where the first member is: b is paid before it pays on.
        assert_eq!(
            outcomes,
            [
                (payments[0].id, Outcome::Done),
                (payments[2].id, Outcome::Done),
                (payments[1].id, Outcome::Done)
            ]
        );
        assert_eq!(plan.accounts, balances(&[(a, 0), (b, 47), (fee, 53)]));
        assert_entries_explain(&before, &plan);
    }

    #[test]
    fn a_linked_set_fails_whole_with_its_first_failure_and_changes_nothing() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let before = balances(&[(a, 100), (b, 5), (c, 0)]);
        let link = LinkId::new();
        // The first two members could apply; the third cannot (a has 100).
        let set = [linked(link, pay(a, b, 60)), linked(link, pay(b, c, 65)), linked(link, pay(a, c, 41))];
        let after = pay(b, c, 5);
        let plan = payments_only(before.clone(), &[set[0], set[1], set[2], after]);
        let short = Outcome::Failed(FailureReason::InsufficientFunds);
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(p, o)| (p.id, *o)).collect();
        assert_eq!(
            outcomes,
            [(set[0].id, short), (set[1].id, short), (set[2].id, short), (after.id, Outcome::Done)]
        );
        // Only the unlinked payment after the set moved money.
        assert_eq!(plan.accounts, balances(&[(b, 0), (c, 5)]));
        assert_eq!(plan.entries.len(), 2);
        assert_entries_explain(&before, &plan);

        // An overflowing credit fails the set with its own reason.
        let full = balances(&[(a, 10), (b, i64::MAX), (c, 0)]);
        let link = LinkId::new();
        let plan = payments_only(full, &[linked(link, pay(a, c, 1)), linked(link, pay(a, b, 1))]);
        let overflow = Outcome::Failed(FailureReason::BalanceOverflow);
        assert!(plan.outcomes.iter().all(|(_, o)| *o == overflow), "{:?}", plan.outcomes);
        assert!(plan.accounts.is_empty() && plan.entries.is_empty());
    }
}
