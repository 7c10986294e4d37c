//! What a payment is: its request, once validated, and its life cycle.

use super::{AccountId, Amount, Currency, Metadata, PaymentId};

/// Longest `payment_description` accepted, in characters (not bytes).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// Default life of a hold: 7 days.
pub const DEFAULT_HOLD_SECS: u32 = 7 * 24 * 3600;
/// Longest hold: 30 days.
pub const MAX_HOLD_SECS: u32 = 30 * 24 * 3600;

/// When a payment's money moves: at settle (`automatic`), or once it is
/// captured after settle held it on the payer (`manual`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Capture {
    #[default]
    Automatic,
    /// Held for `hold_secs` after authorization, then expired unless
    /// captured or voided.
    Manual { hold_secs: u32 },
}

impl Capture {
    /// Parses the request's `capture` and `hold_expires_in_secs`: the
    /// latter only for `manual`, 1 second to [`MAX_HOLD_SECS`],
    /// [`DEFAULT_HOLD_SECS`] when absent.
    pub fn parse(capture: Option<&str>, hold_expires_in_secs: Option<i64>) -> Result<Self, PaymentRuleError> {
        match (capture.unwrap_or("automatic"), hold_expires_in_secs) {
            ("automatic", None) => Ok(Capture::Automatic),
            ("automatic", Some(_)) => Err(PaymentRuleError::HoldWithoutManualCapture),
            ("manual", None) => Ok(Capture::Manual { hold_secs: DEFAULT_HOLD_SECS }),
            ("manual", Some(secs)) => u32::try_from(secs)
                .ok()
                .filter(|s| (1..=MAX_HOLD_SECS).contains(s))
                .map(|hold_secs| Capture::Manual { hold_secs })
                .ok_or(PaymentRuleError::HoldOutOfRange),
            (other, _) => Err(PaymentRuleError::UnknownCapture(other.to_owned())),
        }
    }

    /// The text stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Capture::Automatic => "automatic",
            Capture::Manual { .. } => "manual",
        }
    }

    /// The mode as the API shows it, without the hold's length.
    pub fn mode(self) -> payrail_types::CaptureMode {
        match self {
            Capture::Automatic => payrail_types::CaptureMode::Automatic,
            Capture::Manual { .. } => payrail_types::CaptureMode::Manual,
        }
    }

    pub fn hold_secs(self) -> Option<u32> {
        match self {
            Capture::Automatic => None,
            Capture::Manual { hold_secs } => Some(hold_secs),
        }
    }

    pub fn from_db(capture: &str, hold_secs: Option<i32>) -> Option<Self> {
        match (capture, hold_secs) {
            ("automatic", None) => Some(Capture::Automatic),
            ("manual", Some(secs)) => Some(Capture::Manual { hold_secs: u32::try_from(secs).ok()? }),
            _ => None,
        }
    }
}

/// Why a payment request breaks the rules, beyond the shape of its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRuleError {
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("from_account and to_account must differ")]
    SameAccount,
    #[error("payment_description is longer than {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    /// PostgreSQL text cannot hold NUL, and no description needs one.
    #[error("payment_description must not contain the NUL character")]
    DescriptionHasNul,
    #[error("capture must be \"automatic\" or \"manual\", not {0:?}")]
    UnknownCapture(String),
    #[error("hold_expires_in_secs must be 1 to {MAX_HOLD_SECS} (30 days)")]
    HoldOutOfRange,
    #[error("hold_expires_in_secs is for \"capture\": \"manual\" only")]
    HoldWithoutManualCapture,
    #[error("from_account is in {from} and to_account in {to}: payrail never converts between currencies")]
    CurrencyMismatch { from: Currency, to: Currency },
}

/// The currency of a payment between accounts held in `from` and `to`:
/// theirs when they agree, refused otherwise.
pub fn payment_currency(from: Currency, to: Currency) -> Result<Currency, PaymentRuleError> {
    if from == to { Ok(from) } else { Err(PaymentRuleError::CurrencyMismatch { from, to }) }
}

/// A payment request that passed every check the API can make at once.
/// Whether the payer can afford it is decided later, by settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub id: PaymentId,
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    /// Both accounts' currency, which the amount is in.
    pub currency: Currency,
    pub description: Option<String>,
    pub capture: Capture,
    pub metadata: Metadata,
}

impl NewPayment {
    /// A payment without metadata (set the field to give it some).
    pub fn new(
        from_account: AccountId,
        to_account: AccountId,
        amount: Amount,
        currency: Currency,
        description: Option<String>,
    ) -> Result<Self, PaymentRuleError> {
        if amount.is_zero() {
            return Err(PaymentRuleError::ZeroAmount);
        }
        if from_account == to_account {
            return Err(PaymentRuleError::SameAccount);
        }
        if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(PaymentRuleError::DescriptionTooLong);
        }
        if description.as_ref().is_some_and(|d| d.contains('\0')) {
            return Err(PaymentRuleError::DescriptionHasNul);
        }
        Ok(NewPayment {
            id: PaymentId::new(),
            from_account,
            to_account,
            amount,
            currency,
            description,
            metadata: Metadata::default(),
            capture: Capture::Automatic,
        })
    }

    /// The same payment, captured as `capture` says.
    pub fn with_capture(self, capture: Capture) -> Self {
        NewPayment { capture, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(s: &str) -> Amount {
        Amount::parse(s).expect("valid amount")
    }

    #[test]
    fn accepts_a_plain_payment() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let usd = Currency::usd();
        let payment = NewPayment::new(a, b, amount("1.00"), usd, Some("rent".into())).expect("valid");
        assert_eq!((payment.from_account, payment.to_account), (a, b));
        assert_eq!(payment.amount.minor(), 100);
    }

    #[test]
    fn rejects_zero_same_account_and_long_descriptions() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let usd = Currency::usd();
        assert_eq!(NewPayment::new(a, b, Amount::ZERO, usd, None), Err(PaymentRuleError::ZeroAmount));
        assert_eq!(NewPayment::new(a, a, amount("1"), usd, None), Err(PaymentRuleError::SameAccount));
        let long = "é".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(
            NewPayment::new(a, b, amount("1"), usd, Some(long)),
            Err(PaymentRuleError::DescriptionTooLong)
        );
        // The limit counts characters, not UTF-8 bytes.
        let at_limit = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert!(NewPayment::new(a, b, amount("1"), usd, Some(at_limit)).is_ok());
        assert_eq!(
            NewPayment::new(a, b, amount("1"), usd, Some("a\0b".into())),
            Err(PaymentRuleError::DescriptionHasNul)
        );
    }

    #[test]
    fn a_payment_is_in_its_accounts_one_currency() {
        let (usd, jpy) = (Currency::usd(), Currency::parse("JPY").expect("a currency"));
        assert_eq!(payment_currency(jpy, jpy), Ok(jpy));
        assert_eq!(
            payment_currency(usd, jpy),
            Err(PaymentRuleError::CurrencyMismatch { from: usd, to: jpy })
        );
    }

    #[test]
    fn capture_and_hold_are_parsed_within_their_range() {
        assert_eq!(Capture::parse(None, None), Ok(Capture::Automatic));
        assert_eq!(Capture::parse(Some("automatic"), None), Ok(Capture::Automatic));
        assert_eq!(
            Capture::parse(Some("manual"), None),
            Ok(Capture::Manual { hold_secs: DEFAULT_HOLD_SECS })
        );
        assert_eq!(Capture::parse(Some("manual"), Some(1)), Ok(Capture::Manual { hold_secs: 1 }));
        let max = i64::from(MAX_HOLD_SECS);
        assert_eq!(
            Capture::parse(Some("manual"), Some(max)),
            Ok(Capture::Manual { hold_secs: MAX_HOLD_SECS })
        );
        for bad in [0, -1, max + 1, i64::MAX] {
            assert_eq!(
                Capture::parse(Some("manual"), Some(bad)),
                Err(PaymentRuleError::HoldOutOfRange),
                "{bad}"
            );
        }
        assert_eq!(Capture::parse(None, Some(60)), Err(PaymentRuleError::HoldWithoutManualCapture));
        assert_eq!(
            Capture::parse(Some("later"), None),
            Err(PaymentRuleError::UnknownCapture("later".into()))
        );
        for capture in [Capture::Automatic, Capture::Manual { hold_secs: 60 }] {
            let secs = capture.hold_secs().map(|s| i32::try_from(s).expect("fits"));
            assert_eq!(Capture::from_db(capture.as_str(), secs), Some(capture));
        }
    }
}
