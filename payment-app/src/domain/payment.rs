//! What a payment is: its request, once validated, and its life cycle.

use std::fmt;

use serde::Serialize;

use super::{AccountId, Amount, Currency, Metadata, PaymentId};

/// Longest `payment_description` accepted, in characters (not bytes).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A payment's state. `pending` moves to exactly one of the terminal states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Done,
    Failed,
}

impl PaymentStatus {
    /// The text stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Done => "done",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(PaymentStatus::Pending),
            "done" => Some(PaymentStatus::Done),
            "failed" => Some(PaymentStatus::Failed),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        self != PaymentStatus::Pending
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payment ended `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The payer's balance did not cover the amount when settle applied it.
    InsufficientFunds,
    /// The payee's balance could not take the amount: it would pass the
    /// largest balance an account can hold.
    BalanceOverflow,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InsufficientFunds => "insufficient_funds",
            FailureReason::BalanceOverflow => "balance_overflow",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "insufficient_funds" => Some(FailureReason::InsufficientFunds),
            "balance_overflow" => Some(FailureReason::BalanceOverflow),
            _ => None,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        })
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
    fn statuses_round_trip_through_the_database_text() {
        for status in [PaymentStatus::Pending, PaymentStatus::Done, PaymentStatus::Failed] {
            assert_eq!(PaymentStatus::from_db(status.as_str()), Some(status));
        }
        assert_eq!(PaymentStatus::from_db("processing"), None);
        assert!(!PaymentStatus::Pending.is_terminal());
        assert!(PaymentStatus::Done.is_terminal() && PaymentStatus::Failed.is_terminal());
    }
}
