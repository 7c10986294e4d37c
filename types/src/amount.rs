//! Money amounts: decimal strings at the edge, integer minor units inside.
//!
//! Floating point never touches money here. The parser is deliberately
//! strict: a payments API that guesses what `"1e3"` or `" 5"` meant moves
//! the wrong amount sooner or later.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Decimals of the amounts parsed and shown without a currency (the
/// issuance limits of the command line, say): two, as for USD.
const DEFAULT_EXPONENT: u32 = 2;

/// A non-negative amount of money in minor units (cents, yen, fils...: the
/// currency's exponent says how many per major unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

/// Why a string is not an amount. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error(
        "amount must be a plain decimal like \"12.34\": digits, an optional '.' and the currency's decimals at most (no sign, exponent or spaces)"
    )]
    Malformed,
    #[error("amount has more than {0} decimals, the most its currency has")]
    TooManyDecimals(u32),
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

    /// Parses an amount with two decimals at most (`"123"`, `"123.4"`,
    /// `"123.45"`), as [`Amount::parse_in`] with exponent 2.
    pub fn parse(s: &str) -> Result<Self, AmountError> {
        Amount::parse_in(s, DEFAULT_EXPONENT)
    }

    /// Checks that `s` is a plain decimal, whatever its currency: what can
    /// be refused before the currency is known.
    pub fn check_syntax(s: &str) -> Result<(), AmountError> {
        split(s).map(drop)
    }

    /// Parses a decimal with at most `exponent` decimals into minor units
    /// (10^exponent per unit): `"1.5"` is 150 with exponent 2, 1500 with 3,
    /// and refused with 0.
    ///
    /// Rejected: signs, exponents, whitespace, `"1."`, `".5"`, more than
    /// `exponent` decimals, non-ASCII digits, and anything past `i64::MAX`
    /// minor units.
    pub fn parse_in(s: &str, exponent: u32) -> Result<Self, AmountError> {
        let (whole, frac) = split(s)?;
        if frac.len() > exponent as usize {
            return Err(AmountError::TooManyDecimals(exponent));
        }
        // The decimals padded to the exponent are the minor digits.
        let digits = whole
            .bytes()
            .chain(frac.bytes())
            .chain(std::iter::repeat_n(b'0', exponent as usize - frac.len()));
        let mut minor: i64 = 0;
        for digit in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        Ok(Amount(minor))
    }

    /// Writes the amount with `exponent` decimals (none for 0).
    pub fn fmt_in(self, exponent: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10_i64.pow(exponent);
        if exponent == 0 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{}.{:0width$}", self.0 / scale, self.0 % scale, width = exponent as usize)
        }
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).and_then(Amount::from_minor)
    }
}

/// The whole and decimal digits of a plain decimal.
fn split(s: &str) -> Result<(&str, &str), AmountError> {
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
    Ok((whole, frac.unwrap_or("")))
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl fmt::Display for Amount {
    /// Two decimals, as parsed by [`Amount::parse`]: `"99.01"`, `"0.50"`,
    /// `"12.00"`. Amounts of a currency are shown through `Money`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_in(DEFAULT_EXPONENT, f)
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
    /// From the minor units as non-negative decimal digits, shown with
    /// `exponent` decimals (`"12345"` is 123.45 with exponent 2); `None`
    /// for anything else.
    pub fn from_minor_text(minor: &str, exponent: u32) -> Option<Self> {
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let exponent = exponent as usize;
        let digits = minor.trim_start_matches('0');
        let digits = format!("{digits:0>width$}", width = exponent + 1);
        if exponent == 0 {
            return Some(AmountSum(digits));
        }
        let (whole, decimals) = digits.split_at(digits.len() - exponent);
        Some(AmountSum(format!("{whole}.{decimals}")))
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

impl<'de> serde::Deserialize<'de> for AmountSum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::check_syntax(&text).map_err(serde::de::Error::custom)?;
        Ok(AmountSum(text))
    }
}

impl utoipa::PartialSchema for AmountSum {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::text_schema(
            crate::DECIMAL_PATTERN,
            "a non-negative decimal with exactly the currency's decimals",
        )
    }
}

impl utoipa::ToSchema for AmountSum {}

/// A sum that may be below zero: an account's closing balance on a day,
/// below zero while it spends its credit. Kept as text like [`AmountSum`]
/// (a day's closing balance is a sum of entries, which a corrupt or
/// synthetic ledger can push past what a bigint holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAmountSum(String);

impl SignedAmountSum {
    /// From the minor units as decimal digits with an optional leading
    /// `-`, shown with `exponent` decimals; `None` for anything else.
    pub fn from_minor_text(minor: &str, exponent: u32) -> Option<Self> {
        let (negative, digits) = match minor.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, minor),
        };
        let AmountSum(shown) = AmountSum::from_minor_text(digits, exponent)?;
        let zero = shown.bytes().all(|b| b == b'0' || b == b'.');
        Some(SignedAmountSum(if negative && !zero { format!("-{shown}") } else { shown }))
    }
}

impl fmt::Display for SignedAmountSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SignedAmountSum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SignedAmountSum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::check_syntax(text.strip_prefix('-').unwrap_or(&text)).map_err(serde::de::Error::custom)?;
        Ok(SignedAmountSum(text))
    }
}

impl utoipa::PartialSchema for SignedAmountSum {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::text_schema(r"^-?[0-9]+(\.[0-9]+)?$", "a signed decimal with exactly the currency's decimals")
    }
}

impl utoipa::ToSchema for SignedAmountSum {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_sum_shows_its_sign_but_never_minus_zero() {
        let shown = |text| SignedAmountSum::from_minor_text(text, 2).map(|s| s.to_string());
        assert_eq!(shown("-5000"), Some("-50.00".to_owned()));
        assert_eq!(shown("18446744073709551714"), Some("184467440737095517.14".to_owned()));
        assert_eq!(shown("-0"), Some("0.00".to_owned()));
        assert_eq!(shown("--1"), None);
        assert_eq!(shown("-"), None);
    }

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
            assert_eq!(Amount::parse(input), Err(AmountError::TooManyDecimals(2)), "{input}");
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
        let sum = |t| AmountSum::from_minor_text(t, 2).map(|s| s.to_string());
        assert_eq!(sum("18446744073709551614").as_deref(), Some("184467440737095516.14"));
        assert_eq!(sum("5").as_deref(), Some("0.05"));
        assert_eq!(sum("0").as_deref(), Some("0.00"));
        assert_eq!(sum("000120").as_deref(), Some("1.20"));
        assert_eq!(sum("-5"), None);
        assert_eq!(sum(""), None);
        assert_eq!(sum("1.5"), None);
        let in_exponent = |t, e| AmountSum::from_minor_text(t, e).map(|s| s.to_string());
        assert_eq!(in_exponent("1500", 0).as_deref(), Some("1500"));
        assert_eq!(in_exponent("0", 0).as_deref(), Some("0"));
        assert_eq!(in_exponent("7", 3).as_deref(), Some("0.007"));
    }

    #[test]
    fn the_syntax_is_checked_before_any_currency_is_known() {
        assert_eq!(Amount::check_syntax("1.12345"), Ok(()));
        assert_eq!(Amount::check_syntax("1e3"), Err(AmountError::Malformed));
        assert_eq!(Amount::check_syntax(""), Err(AmountError::Empty));
    }
}
