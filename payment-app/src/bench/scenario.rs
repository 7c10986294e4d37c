//! The load shapes the benchmark can drive.

use clap::ValueEnum;
use rand::Rng;
use rand::rngs::SmallRng;

/// Which payments to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Payments among many accounts: collisions are rare.
    Uniform,
    /// Every payment credits one account.
    Hot,
    /// A handful of small accounts: constant collisions and overdraft attempts.
    Contended,
}

impl Scenario {
    /// Accounts to open when `--accounts` is not given.
    pub fn default_accounts(self) -> usize {
        match self {
            Scenario::Uniform | Scenario::Hot => 1000,
            Scenario::Contended => 5,
        }
    }

    /// The initial balance of every account, in the API's decimal form.
    pub fn initial_balance(self) -> &'static str {
        match self {
            // Enough that no uniform or hot payment fails for funds.
            Scenario::Uniform | Scenario::Hot => "1000000.00",
            // Small, so concurrent payments race into overdrafts.
            Scenario::Contended => "20.00",
        }
    }

    /// One payment: indexes of payer and payee among the accounts, and the
    /// amount in cents.
    pub fn next(self, rng: &mut SmallRng, accounts: usize) -> (usize, usize, u64) {
        match self {
            Scenario::Uniform => {
                let from = rng.random_range(0..accounts);
                let to = (from + rng.random_range(1..accounts)) % accounts;
                (from, to, rng.random_range(1..=100))
            }
            // Account 0 is the hot payee; everyone else pays it.
            Scenario::Hot => (rng.random_range(1..accounts), 0, rng.random_range(1..=100)),
            Scenario::Contended => {
                let from = rng.random_range(0..accounts);
                let to = (from + rng.random_range(1..accounts)) % accounts;
                (from, to, rng.random_range(100..=800))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn payments_never_pay_themselves_and_hot_always_credits_one_account() {
        let mut rng = SmallRng::seed_from_u64(7);
        for scenario in [Scenario::Uniform, Scenario::Hot, Scenario::Contended] {
            let accounts = scenario.default_accounts();
            for _ in 0..10_000 {
                let (from, to, cents) = scenario.next(&mut rng, accounts);
                assert_ne!(from, to);
                assert!(from < accounts && to < accounts && cents > 0);
                if scenario == Scenario::Hot {
                    assert_eq!(to, 0);
                }
            }
        }
    }
}
