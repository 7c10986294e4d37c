//! Issuance: the only way money enters payrail (an account's initial
//! balance), within a limit per account and a limit in total. A credit
//! limit counts like issuance (it lets an account spend money nobody put
//! in): at most the per-account limit, and part of the total. Bounded
//! issuance is also what keeps every balance, and every sum of balances,
//! far from the largest number a balance can hold.
//!
//! The limits count minor units, written as two-decimal amounts: a limit of
//! `"1000.00"` is 100,000 minor units, which is 1,000 dollars, 100,000 yen
//! or 100 dinars. What they bound is the size of the numbers (balances and
//! their sums), which is the same in every currency.

use super::{Amount, Currency, Money};

/// The most money one account may be opened with, and the most issued in
/// all (every currency's minor units together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuanceLimits {
    pub per_account: Amount,
    pub total: Amount,
}

/// Why an issuance was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceRefused {
    #[error("an account may be opened with at most {0}")]
    PerAccount(Money),
    #[error("issuing this would take the money issued in all (credit limits included) past its limit of {0}")]
    Total(Amount),
    #[error("a credit limit may be at most {0}")]
    CreditLimit(Money),
}

impl IssuanceLimits {
    /// The per-account limit; the total is checked where the running total
    /// is kept, in the same transaction as the issuance.
    pub fn check(&self, initial_balance: Amount, currency: Currency) -> Result<(), IssuanceRefused> {
        if initial_balance > self.per_account {
            return Err(IssuanceRefused::PerAccount(currency.money(self.per_account)));
        }
        Ok(())
    }

    /// The per-account bound on a credit limit; its part of the total is
    /// checked with the running total, as for issuance.
    pub fn check_credit(&self, credit_limit: Amount, currency: Currency) -> Result<(), IssuanceRefused> {
        if credit_limit > self.per_account {
            return Err(IssuanceRefused::CreditLimit(currency.money(self.per_account)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_may_be_opened_with_up_to_its_limit() {
        let amount = |s| Amount::parse(s).expect("an amount");
        let limits = IssuanceLimits { per_account: amount("100.00"), total: amount("150.00") };
        let usd = Currency::usd();
        assert_eq!(limits.check(amount("100.00"), usd), Ok(()));
        assert_eq!(limits.check(Amount::ZERO, usd), Ok(()));
        assert_eq!(
            limits.check(amount("100.01"), usd),
            Err(IssuanceRefused::PerAccount(usd.money(amount("100.00"))))
        );
        // The same minor units in every currency, shown in the account's.
        let jpy = Currency::parse("JPY").expect("a currency");
        let refused = limits.check(amount("100.01"), jpy).expect_err("over the limit");
        assert_eq!(refused.to_string(), "an account may be opened with at most 10000");
        assert_eq!(limits.check_credit(amount("100.00"), usd), Ok(()));
        assert_eq!(
            limits.check_credit(amount("100.01"), usd),
            Err(IssuanceRefused::CreditLimit(usd.money(amount("100.00"))))
        );
    }
}
