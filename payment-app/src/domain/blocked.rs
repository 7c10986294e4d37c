//! Which of a settle batch's work waits for account rows another session
//! holds. Settle locks a batch's account rows without waiting for any that
//! another session holds (a manual `SELECT … FOR UPDATE`, a long report);
//! the work that needs one of those rows is set aside, untouched, and
//! retried later, and the rest of the batch settles now. Pure, like the
//! planner beside it, so the rule is tested without a database.

use std::collections::{BTreeSet, HashSet};

use super::settlement::{Authorization, PendingPayment, PendingRefund};
use super::{AccountId, LinkId, PaymentId};

/// Takes out of a batch's work everything that needs an account in `held`,
/// and returns the payments it belonged to: a payment on a held account, an
/// authorization to close on one, a refund of a payment between them. A
/// linked set (an atomic batch) is set aside whole when any member is, since
/// its members apply all together or not at all. What remains never needs
/// a held account, so it can be planned and applied as it is.
pub fn set_aside(
    held: &BTreeSet<AccountId>,
    holds: &mut Vec<Authorization>,
    payments: &mut Vec<PendingPayment>,
    refunds: &mut Vec<PendingRefund>,
) -> BTreeSet<PaymentId> {
    let blocked = |from: &AccountId, to: &AccountId| held.contains(from) || held.contains(to);
    let links: HashSet<LinkId> =
        payments.iter().filter(|p| blocked(&p.from_account, &p.to_account)).filter_map(|p| p.link).collect();
    let mut aside = BTreeSet::new();
    // Keeps what does not wait; what does is noted under its payment.
    let mut keep = |id: PaymentId, waits: bool| {
        if waits {
            aside.insert(id);
        }
        !waits
    };
    holds.retain(|h| keep(h.id, blocked(&h.from_account, &h.to_account)));
    payments.retain(|p| {
        keep(p.id, blocked(&p.from_account, &p.to_account) || p.link.is_some_and(|l| links.contains(&l)))
    });
    refunds.retain(|r| keep(r.payment_id, blocked(&r.from_account, &r.to_account)));
    aside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settlement::HoldAction;
    use crate::domain::{Amount, RefundId};

    fn pay(from: AccountId, to: AccountId) -> PendingPayment {
        PendingPayment {
            id: PaymentId::new(),
            from_account: from,
            to_account: to,
            amount: Amount::from_minor(100).expect("non-negative"),
            manual: false,
            link: None,
        }
    }

    fn accounts<const N: usize>() -> [AccountId; N] {
        std::array::from_fn(|_| AccountId::new())
    }

    #[test]
    fn nothing_held_sets_nothing_aside() {
        let [a, b] = accounts();
        let mut payments = vec![pay(a, b)];
        let aside = set_aside(&BTreeSet::new(), &mut Vec::new(), &mut payments, &mut Vec::new());
        assert!(aside.is_empty());
        assert_eq!(payments.len(), 1);
    }

    /// A held account is held on either side of a payment; payments that
    /// touch only free accounts stay, in their order.
    #[test]
    fn payments_on_a_held_account_wait_and_the_others_stay() {
        let [x, a, b, c] = accounts();
        let (from_x, to_x, free, free_too) = (pay(x, a), pay(b, x), pay(a, b), pay(c, a));
        let mut payments = vec![from_x, free, to_x, free_too];
        let aside = set_aside(&BTreeSet::from([x]), &mut Vec::new(), &mut payments, &mut Vec::new());
        assert_eq!(aside, BTreeSet::from([from_x.id, to_x.id]));
        assert_eq!(payments, [free, free_too]);
    }

    /// One member on a held account holds back its whole set, however
    /// free the other members' accounts are; another set stays.
    #[test]
    fn a_linked_set_waits_whole() {
        let [x, a, b, c] = accounts();
        let (link, other) = (LinkId::new(), LinkId::new());
        let blocked = PendingPayment { link: Some(link), ..pay(a, x) };
        let member = PendingPayment { link: Some(link), ..pay(b, c) };
        let free = PendingPayment { link: Some(other), ..pay(c, b) };
        let mut payments = vec![blocked, free, member];
        let aside = set_aside(&BTreeSet::from([x]), &mut Vec::new(), &mut payments, &mut Vec::new());
        assert_eq!(aside, BTreeSet::from([blocked.id, member.id]));
        assert_eq!(payments, [free]);
    }

    /// An authorization to close and a refund need their accounts as a
    /// payment does; each is set aside under its payment's id.
    #[test]
    fn closing_a_hold_and_a_refund_wait_for_their_accounts() {
        let [x, a, b] = accounts();
        let hold = |from, to| Authorization {
            id: PaymentId::new(),
            from_account: from,
            to_account: to,
            amount: Amount::from_minor(100).expect("non-negative"),
            action: HoldAction::Void,
        };
        let refund = |from, to| PendingRefund {
            id: RefundId::new(),
            payment_id: PaymentId::new(),
            from_account: from,
            to_account: to,
            amount: Amount::from_minor(10).expect("non-negative"),
            refundable: Amount::from_minor(100).expect("non-negative"),
        };
        let (held_hold, free_hold) = (hold(x, a), hold(a, b));
        let (held_refund, free_refund) = (refund(a, x), refund(b, a));
        let (mut holds, mut refunds) = (vec![held_hold, free_hold], vec![held_refund, free_refund]);
        let aside = set_aside(&BTreeSet::from([x]), &mut holds, &mut Vec::new(), &mut refunds);
        assert_eq!(aside, BTreeSet::from([held_hold.id, held_refund.payment_id]));
        assert_eq!((holds, refunds), (vec![free_hold], vec![free_refund]));
    }
}
