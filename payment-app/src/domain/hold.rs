//! Holds: how an authorization ends, and the race rule between captures,
//! voids and expiry. Kept apart from the planner (which applies an end)
//! so the rule that decides *which* end reads on its own.

use super::{Amount, PaymentStatus};

/// How an authorization ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAction {
    /// Move this much (at most the authorized amount), release the rest.
    Capture(Amount),
    Void,
    Expire,
}

/// What an API request asked of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Capture(Amount),
    Void,
}

/// Which end an authorization comes to, if any yet: the race rule.
///
/// A capture or void is recorded only while the hold has not expired, and
/// only the first request is recorded; so a recorded request wins, even
/// when settle applies it after `hold_expires_at` has passed. Without one,
/// the hold expires once `hold_expires_at` has passed, and not before.
pub fn hold_action(requested: Option<Requested>, expired: bool) -> Option<HoldAction> {
    match requested {
        Some(Requested::Capture(amount)) => Some(HoldAction::Capture(amount)),
        Some(Requested::Void) => Some(HoldAction::Void),
        None if expired => Some(HoldAction::Expire),
        None => None,
    }
}

/// Why a capture or void is refused when it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldRequestError {
    #[error("the payment is {0}, not authorized")]
    NotAuthorized(PaymentStatus),
    #[error("a capture or void of this authorization was already requested")]
    AlreadyRequested,
    #[error("the authorization has expired")]
    Expired,
    #[error("amount {requested} is more than the {authorized} authorized")]
    ExceedsAuthorization { requested: Amount, authorized: Amount },
}

/// What a capture (`Some(amount)`, `None`: all) or void (`void`) of an
/// authorization records, given the payment as it is under its row lock.
/// The first request recorded is the one settle applies; later ones are
/// refused here, as are requests once the hold has expired.
pub fn request_hold(
    status: PaymentStatus,
    authorized: Amount,
    already_requested: bool,
    expired: bool,
    void: bool,
    capture: Option<Amount>,
) -> Result<Requested, HoldRequestError> {
    if let Some(requested) = capture
        && requested > authorized
    {
        return Err(HoldRequestError::ExceedsAuthorization { requested, authorized });
    }
    if status != PaymentStatus::Authorized {
        return Err(HoldRequestError::NotAuthorized(status));
    }
    if already_requested {
        return Err(HoldRequestError::AlreadyRequested);
    }
    if expired {
        return Err(HoldRequestError::Expired);
    }
    Ok(if void { Requested::Void } else { Requested::Capture(capture.unwrap_or(authorized)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(minor: i64) -> Amount {
        Amount::from_minor(minor).expect("non-negative")
    }

    #[test]
    fn a_hold_request_is_recorded_only_for_an_open_unrequested_authorization() {
        use PaymentStatus::*;
        let all = cents(70);
        assert_eq!(request_hold(Authorized, all, false, false, false, None), Ok(Requested::Capture(all)));
        assert_eq!(
            request_hold(Authorized, all, false, false, false, Some(cents(1))),
            Ok(Requested::Capture(cents(1)))
        );
        assert_eq!(request_hold(Authorized, all, false, false, true, None), Ok(Requested::Void));
        assert_eq!(
            request_hold(Authorized, all, false, false, false, Some(cents(71))),
            Err(HoldRequestError::ExceedsAuthorization { requested: cents(71), authorized: all })
        );
        for status in [Pending, Done, Failed, Voided, Expired] {
            assert_eq!(
                request_hold(status, all, false, false, false, None),
                Err(HoldRequestError::NotAuthorized(status))
            );
        }
        assert_eq!(
            request_hold(Authorized, all, true, false, true, None),
            Err(HoldRequestError::AlreadyRequested)
        );
        assert_eq!(request_hold(Authorized, all, false, true, false, None), Err(HoldRequestError::Expired));
    }

    #[test]
    fn the_first_recorded_request_wins_and_expiry_only_without_one() {
        let capture = Requested::Capture(cents(5));
        assert_eq!(hold_action(Some(capture), false), Some(HoldAction::Capture(cents(5))));
        assert_eq!(hold_action(Some(capture), true), Some(HoldAction::Capture(cents(5))));
        assert_eq!(hold_action(Some(Requested::Void), true), Some(HoldAction::Void));
        assert_eq!(hold_action(None, true), Some(HoldAction::Expire));
        assert_eq!(hold_action(None, false), None);
    }
}
