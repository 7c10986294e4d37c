//! What a refund is: money given back from a `done` payment's payee to its
//! payer, never more in all than the payment moved.

pub use payrail_types::RefundStatus;

use super::{Amount, PaymentStatus};

/// Longest refund `reason`, in characters.
pub const MAX_REFUND_REASON_CHARS: usize = 500;

/// Why a refund is refused when it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("only done payments are refunded; this one is {0}")]
    NotDone(PaymentStatus),
    #[error("refunds would pass the {captured} the payment moved: {committed} is refunded or being refunded")]
    ExceedsPayment { captured: Amount, committed: Amount },
    #[error("reason is longer than {MAX_REFUND_REASON_CHARS} characters or contains NUL")]
    BadReason,
}

/// Checks a refund's reason: at most [`MAX_REFUND_REASON_CHARS`] characters, no NUL.
pub fn check_reason(reason: Option<&str>) -> Result<(), RefundError> {
    match reason {
        Some(r) if r.chars().count() > MAX_REFUND_REASON_CHARS || r.contains('\0') => {
            Err(RefundError::BadReason)
        }
        _ => Ok(()),
    }
}

/// The amount a refund is recorded for, given its payment as it is under
/// its row lock: `captured` is what the payment moved, `committed` the sum
/// of its refunds not failed (pending ones included). `requested` `None`
/// asks for all that is left.
pub fn refund_amount(
    status: PaymentStatus,
    captured: Amount,
    committed: Amount,
    requested: Option<Amount>,
) -> Result<Amount, RefundError> {
    if status != PaymentStatus::Done {
        return Err(RefundError::NotDone(status));
    }
    let exceeds = RefundError::ExceedsPayment { captured, committed };
    let left = captured.checked_sub(committed).ok_or_else(|| exceeds.clone())?;
    let amount = requested.unwrap_or(left);
    if amount.is_zero() || amount > left {
        return Err(exceeds);
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("non-negative")
    }

    #[test]
    fn refunds_never_pass_what_the_payment_moved() {
        use PaymentStatus::*;
        assert_eq!(refund_amount(Done, cents(100), cents(0), None), Ok(cents(100)));
        assert_eq!(refund_amount(Done, cents(100), cents(40), None), Ok(cents(60)));
        assert_eq!(refund_amount(Done, cents(100), cents(40), Some(cents(60))), Ok(cents(60)));
        let exceeds = Err(RefundError::ExceedsPayment { captured: cents(100), committed: cents(40) });
        assert_eq!(refund_amount(Done, cents(100), cents(40), Some(cents(61))), exceeds);
        let spent = Err(RefundError::ExceedsPayment { captured: cents(100), committed: cents(100) });
        assert_eq!(refund_amount(Done, cents(100), cents(100), None), spent);
        for status in [Pending, Authorized, Failed, Voided, Expired] {
            assert_eq!(refund_amount(status, cents(100), cents(0), None), Err(RefundError::NotDone(status)));
        }
    }

    #[test]
    fn reasons_are_bounded() {
        assert_eq!(check_reason(None), Ok(()));
        assert_eq!(check_reason(Some(&"é".repeat(MAX_REFUND_REASON_CHARS))), Ok(()));
        assert_eq!(check_reason(Some(&"é".repeat(MAX_REFUND_REASON_CHARS + 1))), Err(RefundError::BadReason));
        assert_eq!(check_reason(Some("a\0b")), Err(RefundError::BadReason));
    }

    #[test]
    fn statuses_round_trip_through_the_database_text() {
        for status in [RefundStatus::Pending, RefundStatus::Done, RefundStatus::Failed] {
            assert_eq!(RefundStatus::from_db(status.as_str()), Some(status));
        }
    }
}
