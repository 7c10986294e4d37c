//! Money amounts: decimal strings at the edge, integer minor units inside.
//!
//! Floating point never touches money here. The parser is deliberately
//! strict: a payments API that guesses what `"1e3"` or `" 5"` meant moves
//! the wrong amount sooner or later.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Minor units per major unit (cents per unit): amounts carry two decimals.
const MINOR_PER_MAJOR: i64 = 100;

/// A non-negative amount of money in minor units (cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

/// Why a string is not an amount. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error(
        "amount must be a plain decimal like \"12.34\": digits, an optional '.' and at most two decimals (no sign, exponent or spaces)"
    )]
    Malformed,
    #[error("amount has more than two decimals")]
    TooManyDecimals,
    #[error("amount is too large")]
    Overflow,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Builds an amount from minor units; `None` for a negative value.
    pub fn from_minor(minor: i64) -> Option<Self> {
        (minor >= 0).then_some(Amount(minor))
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses `"123"`, `"123.4"` or `"123.45"`.
    ///
    /// Rejected: signs, exponents, whitespace, `"1."`, `".5"`, more than two
    /// decimals, non-ASCII digits, and anything past `i64::MAX` minor units.
    pub fn parse(s: &str) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        let (whole, frac) = match s.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (s, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || frac.is_some_and(|f| !all_digits(f)) {
            return Err(AmountError::Malformed);
        }
        let frac = frac.unwrap_or("");
        if frac.len() > 2 {
            return Err(AmountError::TooManyDecimals);
        }

        let mut minor: i64 = 0;
        for digit in whole.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        minor = minor.checked_mul(MINOR_PER_MAJOR).ok_or(AmountError::Overflow)?;
        let cents = match frac.as_bytes() {
            [] => 0,
            [d] => i64::from(d - b'0') * 10,
            [d1, d2] => i64::from(d1 - b'0') * 10 + i64::from(d2 - b'0'),
            _ => unreachable!("length checked above"),
        };
        minor = minor.checked_add(cents).ok_or(AmountError::Overflow)?;
        Ok(Amount(minor))
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).and_then(Amount::from_minor)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl fmt::Display for Amount {
    /// Always two decimals: `"99.01"`, `"0.50"`, `"12.00"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / MINOR_PER_MAJOR, self.0 % MINOR_PER_MAJOR)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A sum of amounts, which may pass what one amount holds (a day's credits
/// on an account, say): kept as the decimal text of its minor units, as the
/// database's numeric sum gives it, and shown like an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountSum(String);

impl AmountSum {
    /// From the minor units as non-negative decimal digits (`"12345"` is
    /// 123.45); `None` for anything else.
    pub fn from_minor_text(minor: &str) -> Option<Self> {
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = minor.trim_start_matches('0');
        let digits = format!("{digits:0>3}");
        let (whole, cents) = digits.split_at(digits.len() - 2);
        Some(AmountSum(format!("{whole}.{cents}")))
    }
}

impl fmt::Display for AmountSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for AmountSum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals_into_minor_units() {
        for (input, minor) in [
            ("0", 0),
            ("0.5", 50),
            ("0.05", 5),
            ("1", 100),
            ("99.01", 9901),
            ("100.00", 10000),
            ("007.10", 710),
            ("92233720368547758.07", i64::MAX),
        ] {
            assert_eq!(Amount::parse(input), Ok(Amount(minor)), "{input}");
        }
    }

    #[test]
    fn rejects_everything_that_is_not_a_plain_decimal() {
        for input in [
            "-1", "+1", "1e3", "1E3", " 1", "1 ", "1 000", "1,00", "1.", ".5", "NaN", "nan", "inf",
            "Infinity", "0x10", "1.2.3", "١", "1_000", "--1",
        ] {
            assert_eq!(Amount::parse(input), Err(AmountError::Malformed), "{input:?}");
        }
        assert_eq!(Amount::parse(""), Err(AmountError::Empty));
    }

    #[test]
    fn rejects_three_or_more_decimals() {
        for input in ["0.001", "1.000", "99.999"] {
            assert_eq!(Amount::parse(input), Err(AmountError::TooManyDecimals), "{input}");
        }
    }

    #[test]
    fn rejects_overflow_instead_of_wrapping() {
        for input in ["92233720368547758.08", "92233720368547759", "99999999999999999999999999"] {
            assert_eq!(Amount::parse(input), Err(AmountError::Overflow), "{input}");
        }
    }

    #[test]
    fn displays_two_decimals_and_round_trips() {
        for (minor, text) in
            [(0, "0.00"), (5, "0.05"), (50, "0.50"), (9901, "99.01"), (i64::MAX, "92233720368547758.07")]
        {
            let amount = Amount(minor);
            assert_eq!(amount.to_string(), text);
            assert_eq!(Amount::parse(text), Ok(amount));
        }
    }

    #[test]
    fn subtraction_never_goes_negative() {
        assert_eq!(Amount(5).checked_sub(Amount(6)), None);
        assert_eq!(Amount(6).checked_sub(Amount(6)), Some(Amount::ZERO));
        assert_eq!(Amount::from_minor(-1), None);
    }

    #[test]
    fn a_sum_reads_its_minor_units_past_what_an_amount_holds() {
        let sum = |t| AmountSum::from_minor_text(t).map(|s| s.to_string());
        assert_eq!(sum("18446744073709551614").as_deref(), Some("184467440737095516.14"));
        assert_eq!(sum("5").as_deref(), Some("0.05"));
        assert_eq!(sum("0").as_deref(), Some("0.00"));
        assert_eq!(sum("000120").as_deref(), Some("1.20"));
        assert_eq!(sum("-5"), None);
        assert_eq!(sum(""), None);
        assert_eq!(sum("1.5"), None);
    }
}
