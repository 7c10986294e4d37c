//! The pure core of settle: given the balances of the accounts a batch
//! touches and the batch's still-pending payments, decide each payment's
//! outcome and the balances after it.
//!
//! Payments are applied one after another in the order given, each against
//! the balances the previous ones left, so a batch decides exactly what the
//! same payments settled one by one would. Keeping this free of I/O is what
//! lets the database layer apply a whole batch in one transaction with a
//! fixed number of statements.

use std::collections::BTreeMap;

use super::{AccountId, Amount, FailureReason, PaymentId};

/// A payment as settle sees it: read from the database, still `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingPayment {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
}

/// What settle decided for one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Failed(FailureReason),
}

/// Everything a batch changes: per-payment outcomes and final balances of
/// the accounts whose balance moved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub outcomes: Vec<(PendingPayment, Outcome)>,
    /// New balances, ordered by account id (the order rows are updated in).
    pub balances: BTreeMap<AccountId, Amount>,
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
}

/// Decides every payment of a batch, in order.
///
/// `balances` holds the current balance of every account the payments touch.
/// A payment is `done` when its payer's running balance covers it and its
/// payee's can take it; otherwise `failed` with `insufficient_funds` or
/// `balance_overflow`. A failed payment changes nothing. An overflowing
/// credit is an outcome like an overdraft, not an error: retrying it could
/// never succeed, and an error would hold up every payment behind it.
pub fn plan(
    mut balances: BTreeMap<AccountId, Amount>,
    payments: &[PendingPayment],
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for payment in payments {
        let from =
            *balances.get(&payment.from_account).ok_or(PlanError::MissingAccount(payment.from_account))?;
        let to = *balances.get(&payment.to_account).ok_or(PlanError::MissingAccount(payment.to_account))?;
        let Some(new_from) = from.checked_sub(payment.amount) else {
            plan.outcomes.push((*payment, Outcome::Failed(FailureReason::InsufficientFunds)));
            continue;
        };
        let Some(new_to) = to.checked_add(payment.amount) else {
            plan.outcomes.push((*payment, Outcome::Failed(FailureReason::BalanceOverflow)));
            continue;
        };
        balances.insert(payment.from_account, new_from);
        balances.insert(payment.to_account, new_to);
        plan.balances.insert(payment.from_account, new_from);
        plan.balances.insert(payment.to_account, new_to);
        plan.outcomes.push((*payment, Outcome::Done));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("non-negative")
    }

    fn pay(from: AccountId, to: AccountId, minor: i64) -> PendingPayment {
        PendingPayment { id: PaymentId::new(), from_account: from, to_account: to, amount: cents(minor) }
    }

    #[test]
    fn applies_payments_in_order_against_running_balances() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let balances = BTreeMap::from([(a, cents(100)), (b, cents(0)), (c, cents(0))]);
        // b can only pay c because a paid b first in the same batch.
        let payments = [pay(a, b, 60), pay(b, c, 50), pay(a, c, 50)];
        let plan = plan(balances, &payments).expect("plannable");

        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(
            outcomes,
            [Outcome::Done, Outcome::Done, Outcome::Failed(FailureReason::InsufficientFunds)]
        );
        assert_eq!(plan.balances, BTreeMap::from([(a, cents(40)), (b, cents(10)), (c, cents(50))]));
        assert_eq!(plan.done().count(), 2);
    }

    #[test]
    fn an_exact_balance_is_enough_and_a_cent_more_is_not() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let balances = BTreeMap::from([(a, cents(100)), (b, cents(0))]);
        let plan = plan(balances, &[pay(a, b, 101), pay(a, b, 100), pay(a, b, 1)]).expect("plannable");
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Failed(FailureReason::InsufficientFunds),
                Outcome::Done,
                Outcome::Failed(FailureReason::InsufficientFunds)
            ]
        );
        assert_eq!(plan.balances[&a], Amount::ZERO);
    }

    #[test]
    fn failed_payments_leave_balances_untouched() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let balances = BTreeMap::from([(a, cents(5)), (b, cents(7))]);
        let plan = plan(balances, &[pay(a, b, 6)]).expect("plannable");
        assert!(plan.balances.is_empty());
    }

    #[test]
    fn conserves_money_across_a_cycle() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let balances = BTreeMap::from([(a, cents(10)), (b, cents(10))]);
        let plan = plan(balances, &[pay(a, b, 10), pay(b, a, 20), pay(a, b, 5)]).expect("plannable");
        let total: i64 = plan.balances.values().map(|v| v.minor()).sum();
        assert_eq!(total, 20);
        assert_eq!(plan.done().count(), 3);
    }

    #[test]
    fn refuses_to_guess_when_an_account_is_missing() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let only_a = BTreeMap::from([(a, cents(10))]);
        assert_eq!(plan(only_a, &[pay(a, b, 1)]), Err(PlanError::MissingAccount(b)));
    }

    #[test]
    fn a_credit_that_would_overflow_fails_alone() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let balances = BTreeMap::from([(a, cents(10)), (b, cents(i64::MAX)), (c, cents(0))]);
        let plan = plan(balances, &[pay(a, b, 1), pay(a, c, 1)]).expect("plannable");
        let outcomes: Vec<_> = plan.outcomes.iter().map(|(_, o)| *o).collect();
        assert_eq!(outcomes, [Outcome::Failed(FailureReason::BalanceOverflow), Outcome::Done]);
        assert_eq!(plan.balances, BTreeMap::from([(a, cents(9)), (c, cents(1))]));
    }
}
