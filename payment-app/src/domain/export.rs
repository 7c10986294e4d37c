//! What an export asks for, parsed at the edge: which rows, in which
//! format, over which interval of creation times.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

/// The table an export reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Payments,
    Entries,
    Events,
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180: a header line, fields quoted when they hold a comma, a
    /// quote or a line break (quotes doubled).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

/// An instant given as RFC 3339 or as a date (its midnight, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound(pub DateTime<Utc>);

/// Why a bound does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an instant: write an RFC 3339 time (2026-12-07T14:00:00Z) or a date (2026-12-07, its midnight UTC)"
)]
pub struct BoundError(String);

impl FromStr for Bound {
    type Err = BoundError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(at) = DateTime::parse_from_rfc3339(s) {
            return Ok(Bound(at.with_timezone(&Utc)));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Bound(t.and_utc()))
            .ok_or_else(|| BoundError(s.to_owned()))
    }
}

/// The creation times an export covers: from `from` (included) to `to`
/// (excluded); either may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// An interval that ends before it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--from ({from}) must be before --to ({to})")]
pub struct EmptyInterval {
    pub from: String,
    pub to: String,
}

impl Interval {
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<Self, EmptyInterval> {
        match (from, to) {
            (Some(f), Some(t)) if f >= t => Err(EmptyInterval { from: f.to_rfc3339(), to: t.to_rfc3339() }),
            _ => Ok(Interval { from, to }),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |at: Option<DateTime<Utc>>| at.map_or_else(|| "…".to_owned(), |t| t.to_rfc3339());
        write!(f, "[{}, {})", show(self.from), show(self.to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_rfc3339_or_dates() {
        let at: Bound = "2026-12-07T14:00:00+01:00".parse().unwrap();
        assert_eq!(at.0.to_rfc3339(), "2026-12-07T13:00:00+00:00");
        let day: Bound = "2026-12-07".parse().unwrap();
        assert_eq!(day.0.to_rfc3339(), "2026-12-07T00:00:00+00:00");
        for bad in ["", "yesterday", "2026-13-01", "2026-12-07 14:00", "1701960000"] {
            assert!(bad.parse::<Bound>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_interval_must_not_end_before_it_starts() {
        let a: Bound = "2026-12-07".parse().unwrap();
        let b: Bound = "2026-12-08".parse().unwrap();
        assert!(Interval::new(Some(a.0), Some(b.0)).is_ok());
        assert!(Interval::new(Some(b.0), Some(a.0)).is_err());
        assert!(Interval::new(Some(a.0), Some(a.0)).is_err(), "empty");
        assert!(Interval::new(None, Some(a.0)).is_ok());
        assert!(Interval::new(Some(a.0), None).is_ok());
    }
}
