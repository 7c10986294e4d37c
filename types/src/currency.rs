//! Currencies: an account's ISO 4217 code, and how many decimals its
//! amounts have (its exponent: JPY 0, USD 2, BHD 3).
//!
//! The table of codes and exponents is the `iso_currency` crate's, kept
//! up to date with ISO 4217 there rather than copied here. payrail never
//! converts between currencies: money moves only between accounts of the
//! same one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Amount;

/// A currency payrail keeps accounts in: an active ISO 4217 code with an
/// exponent. Codes without one (gold `XAU`, "no currency" `XXX`) are not
/// money an account can hold in minor units, and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    exponent: u32,
}

/// Why a code is not a currency. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency must be an ISO 4217 code of three capital letters, like \"EUR\"")]
    Malformed,
    #[error("{0} is not an ISO 4217 currency code")]
    Unknown(String),
    #[error("{0} has no minor unit (ISO 4217 gives it no exponent): accounts cannot hold it")]
    NoMinorUnit(String),
}

impl Currency {
    /// The US dollar, the default's default.
    pub fn usd() -> Self {
        Currency { iso: iso_currency::Currency::USD, exponent: 2 }
    }

    /// Parses a code: exactly three ASCII capitals, known to ISO 4217, with
    /// an exponent.
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CurrencyError::Malformed);
        }
        let iso =
            iso_currency::Currency::from_code(code).ok_or_else(|| CurrencyError::Unknown(code.into()))?;
        let exponent = iso.exponent().ok_or_else(|| CurrencyError::NoMinorUnit(code.into()))?;
        Ok(Currency { iso, exponent: u32::from(exponent) })
    }

    /// The three-letter code, as stored and shown.
    pub fn code(self) -> &'static str {
        self.iso.code()
    }

    /// Decimals of its amounts: minor units per major unit are 10^exponent.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// Parses an amount of this currency: at most `exponent` decimals.
    pub fn amount(self, text: &str) -> Result<Amount, crate::AmountError> {
        Amount::parse_in(text, self.exponent)
    }

    /// An amount of this currency as the API shows it.
    pub fn money(self, amount: Amount) -> Money {
        Money { amount, exponent: self.exponent }
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// Every code [`Currency::parse`] accepts, so the schema says exactly that.
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let letters = b'A'..=b'Z';
        let codes: Vec<&'static str> = letters
            .clone()
            .flat_map(|a| letters.clone().flat_map(move |b| (b'A'..=b'Z').map(move |c| [a, b, c])))
            .filter_map(|code| Currency::parse(std::str::from_utf8(&code).ok()?).ok())
            .map(Currency::code)
            .collect();
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(codes))
            .description(Some("An ISO 4217 code with a minor unit"))
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

/// An amount shown with its currency's decimals: `"1500"` yen, `"15.00"`
/// dollars, `"1.500"` dinars. It keeps the decimals, not the currency: the
/// answers that carry money name the currency beside it, and a client reads
/// the text back into the same amount and decimals (`"15.00"`: 1500 minor
/// units, 2 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: Amount,
    exponent: u32,
}

impl Money {
    /// Decimals it is shown with: its currency's exponent.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// Reads the text the API shows: digits, and a point with decimals
    /// when the currency has any.
    pub fn parse(text: &str) -> Result<Self, crate::AmountError> {
        let exponent = text.split_once('.').map_or(0, |(_, decimals)| decimals.len());
        let exponent = u32::try_from(exponent).map_err(|_| crate::AmountError::TooManyDecimals(u32::MAX))?;
        Ok(Money { amount: Amount::parse_in(text, exponent)?, exponent })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.amount.fmt_in(self.exponent, f)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Money::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::text_schema(crate::DECIMAL_PATTERN, "an amount with exactly its currency's decimals")
    }
}

impl utoipa::ToSchema for Money {}

/// A ledger entry's amount: signed, negative for what leaves the account
/// (`"-15.00"`), with its currency's decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMoney {
    negative: bool,
    money: Money,
}

impl SignedMoney {
    /// A balance (at least `-credit_limit`, so never `i64::MIN`, which
    /// alone has no absolute value; it would show as `-i64::MAX`).
    pub fn balance(minor: i64, currency: Currency) -> Self {
        let amount = Amount::from_minor(minor.checked_abs().unwrap_or(i64::MAX)).unwrap_or_default();
        SignedMoney { negative: minor < 0, money: currency.money(amount) }
    }

    /// None only for `i64::MIN`, which no entry can hold (an account's
    /// balance is a non-negative bigint).
    pub fn from_minor(minor: i64, currency: Currency) -> Option<Self> {
        let amount = Amount::from_minor(minor.checked_abs()?)?;
        Some(SignedMoney { negative: minor < 0, money: currency.money(amount) })
    }
}

impl SignedMoney {
    /// Minor units, below zero for a negative amount.
    pub fn minor(self) -> i64 {
        if self.negative { -self.money.amount.minor() } else { self.money.amount.minor() }
    }

    /// Reads the text the API shows: [`Money`]'s, with an optional `-`.
    pub fn parse(text: &str) -> Result<Self, crate::AmountError> {
        let (negative, digits) = text.strip_prefix('-').map_or((false, text), |digits| (true, digits));
        Ok(SignedMoney { negative, money: Money::parse(digits)? })
    }
}

impl<'de> Deserialize<'de> for SignedMoney {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SignedMoney::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SignedMoney {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        self.money.fmt(f)
    }
}

impl Serialize for SignedMoney {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl utoipa::PartialSchema for SignedMoney {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::text_schema(r"^-?[0-9]+(\.[0-9]+)?$", "a signed amount with exactly its currency's decimals")
    }
}

impl utoipa::ToSchema for SignedMoney {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AmountError;

    #[test]
    fn signed_money_shows_its_sign_and_decimals() {
        let usd = currency("USD");
        let shown = |minor| SignedMoney::from_minor(minor, usd).map(|m| m.to_string());
        assert_eq!(shown(-1505), Some("-15.05".to_owned()));
        assert_eq!(shown(7), Some("0.07".to_owned()));
        assert_eq!(shown(0), Some("0.00".to_owned()));
        assert_eq!(shown(i64::MIN), None);
        assert_eq!(
            SignedMoney::from_minor(-1500, currency("JPY")).map(|m| m.to_string()),
            Some("-1500".to_owned())
        );
    }

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect("a currency")
    }

    #[test]
    fn exponents_come_from_iso_4217() {
        for (code, exponent) in
            [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("BHD", 3), ("KWD", 3), ("CLF", 4)]
        {
            assert_eq!(currency(code).exponent(), exponent, "{code}");
            assert_eq!(currency(code).code(), code);
        }
        assert_eq!(Currency::usd(), currency("USD"));
    }

    #[test]
    fn refuses_what_is_not_an_active_code_with_a_minor_unit() {
        for code in ["usd", "Usd", "US", "USDD", "", " USD", "U$D", "ÜSD"] {
            assert_eq!(Currency::parse(code), Err(CurrencyError::Malformed), "{code:?}");
        }
        assert_eq!(Currency::parse("ABC"), Err(CurrencyError::Unknown("ABC".into())));
        for code in ["XAU", "XXX"] {
            assert_eq!(Currency::parse(code), Err(CurrencyError::NoMinorUnit(code.into())), "{code}");
        }
    }

    /// (input, minor units or the error) for each currency.
    #[test]
    fn amounts_parse_with_the_currencys_exponent() {
        type Table = &'static [(&'static str, Result<i64, AmountError>)];
        let cases: [(&str, Table); 3] = [
            (
                "JPY",
                &[
                    ("0", Ok(0)),
                    ("1500", Ok(1500)),
                    ("007", Ok(7)),
                    ("1.5", Err(AmountError::TooManyDecimals(0))),
                    ("1.0", Err(AmountError::TooManyDecimals(0))),
                    ("9223372036854775807", Ok(i64::MAX)),
                    ("9223372036854775808", Err(AmountError::Overflow)),
                    ("1.", Err(AmountError::Malformed)),
                ],
            ),
            (
                "USD",
                &[
                    ("15", Ok(1500)),
                    ("15.5", Ok(1550)),
                    ("15.05", Ok(1505)),
                    ("15.055", Err(AmountError::TooManyDecimals(2))),
                    ("92233720368547758.07", Ok(i64::MAX)),
                    ("92233720368547758.08", Err(AmountError::Overflow)),
                    ("-1", Err(AmountError::Malformed)),
                ],
            ),
            (
                "BHD",
                &[
                    ("1", Ok(1000)),
                    ("1.5", Ok(1500)),
                    ("1.05", Ok(1050)),
                    ("1.005", Ok(1005)),
                    ("1.0005", Err(AmountError::TooManyDecimals(3))),
                    ("9223372036854775.807", Ok(i64::MAX)),
                    ("9223372036854775.808", Err(AmountError::Overflow)),
                    ("", Err(AmountError::Empty)),
                ],
            ),
        ];
        for (code, table) in cases {
            for (input, expected) in table {
                let parsed = currency(code).amount(input).map(Amount::minor);
                assert_eq!(parsed, *expected, "{code} {input:?}");
            }
        }
    }

    #[test]
    fn money_shows_exactly_the_currencys_decimals_and_round_trips() {
        for (code, minor, text) in [
            ("JPY", 1500, "1500"),
            ("JPY", 0, "0"),
            ("USD", 1500, "15.00"),
            ("USD", 5, "0.05"),
            ("BHD", 1500, "1.500"),
            ("BHD", 7, "0.007"),
            ("CLF", 12345, "1.2345"),
        ] {
            let c = currency(code);
            let money = c.money(Amount::from_minor(minor).expect("non-negative"));
            assert_eq!(money.to_string(), text, "{code} {minor}");
            assert_eq!(serde_json::to_value(money).expect("serializes"), text);
            assert_eq!(c.amount(text).map(Amount::minor), Ok(minor), "{code} {text}");
        }
    }

    #[test]
    fn money_reads_back_from_the_text_it_is_shown_as() {
        for (code, minor) in [("JPY", 1500), ("USD", 1500), ("USD", 7), ("BHD", 1500)] {
            let money = currency(code).money(Amount::from_minor(minor).expect("non-negative"));
            let shown = serde_json::to_value(money).expect("serializes");
            assert_eq!(serde_json::from_value::<Money>(shown).expect("reads"), money, "{code} {minor}");
        }
        for minor in [-1505, 0, 7] {
            let signed = SignedMoney::from_minor(minor, currency("USD")).expect("not i64::MIN");
            let back: SignedMoney =
                serde_json::from_value(serde_json::to_value(signed).expect("serializes")).expect("reads");
            assert_eq!((back, back.minor()), (signed, minor));
        }
        for refused in ["", "1.", ".5", "-1.00", "1e3", " 5"] {
            assert!(serde_json::from_value::<Money>(refused.into()).is_err(), "{refused:?}");
        }
        assert!(serde_json::from_value::<Currency>("XAU".into()).is_err());
    }
}
