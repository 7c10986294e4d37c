//! Issuance: the only way money enters payrail (an account's initial
//! balance), within a limit per account and a limit in total. Bounded
//! issuance is also what keeps every balance, and every sum of balances,
//! far from the largest number a balance can hold.

use super::Amount;

/// The most money one account may be opened with, and the most issued in
/// all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuanceLimits {
    pub per_account: Amount,
    pub total: Amount,
}

/// Why an issuance was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceRefused {
    #[error("an account may be opened with at most {0}")]
    PerAccount(Amount),
    #[error("issuing this would take the money issued in all past its limit of {0}")]
    Total(Amount),
}

impl IssuanceLimits {
    /// The per-account limit; the total is checked where the running total
    /// is kept, in the same transaction as the issuance.
    pub fn check(&self, initial_balance: Amount) -> Result<(), IssuanceRefused> {
        if initial_balance > self.per_account {
            return Err(IssuanceRefused::PerAccount(self.per_account));
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
        assert_eq!(limits.check(amount("100.00")), Ok(()));
        assert_eq!(limits.check(Amount::ZERO), Ok(()));
        assert_eq!(limits.check(amount("100.01")), Err(IssuanceRefused::PerAccount(amount("100.00"))));
    }
}
