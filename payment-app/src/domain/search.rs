//! Search filters for payments and accounts, and the id range a page
//! covers.
//!
//! Lists are keyset pages on the id, newest first. Ids are UUID v7, whose
//! first 48 bits are the millisecond they were made in, so a time range is
//! an id range too: searching by creation time walks the same indexes as
//! paging does, and pages stay put when newer rows arrive.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AccountId, Currency, Metadata, PaymentStatus};

/// Which payments to list. Every field is optional; together they narrow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentFilter {
    /// Payments from or to this account.
    pub account: Option<AccountId>,
    pub status: Option<PaymentStatus>,
    /// Made at or after this time (to the millisecond, as the id has it).
    pub created_gte: Option<DateTime<Utc>>,
    /// Made before this time (to the millisecond).
    pub created_lt: Option<DateTime<Utc>>,
    /// Payments whose metadata holds every one of these pairs.
    pub metadata: Option<Metadata>,
}

/// Which accounts to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountFilter {
    pub currency: Option<Currency>,
    /// Accounts whose metadata holds every one of these pairs.
    pub metadata: Option<Metadata>,
}

/// The ids a page may hold: `lower <= id < upper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub lower: Uuid,
    pub upper: Uuid,
}

/// The first id a UUID v7 made at `at`'s millisecond can have; ids made
/// before that millisecond are all smaller. `None` before 1970 or past
/// what 48 bits of milliseconds hold.
pub fn first_id_at(at: DateTime<Utc>) -> Option<Uuid> {
    let ms = u128::try_from(at.timestamp_millis()).ok().filter(|ms| *ms < 1 << 48)?;
    Some(Uuid::from_u128(ms << 80))
}

impl IdRange {
    /// Every id.
    pub const ALL: IdRange = IdRange { lower: Uuid::nil(), upper: Uuid::max() };

    /// The ids of a page: older than `cursor` (the last id of the previous
    /// page), made in `[gte, lt)`. A bound before 1970 or too far ahead
    /// for an id clamps to the nearest end.
    pub fn of_page(cursor: Option<Uuid>, gte: Option<DateTime<Utc>>, lt: Option<DateTime<Utc>>) -> IdRange {
        let clamp = |at: DateTime<Utc>| {
            first_id_at(at).unwrap_or(if at.timestamp_millis() < 0 { Uuid::nil() } else { Uuid::max() })
        };
        let lower = gte.map_or(Uuid::nil(), clamp);
        let mut upper = lt.map_or(Uuid::max(), clamp);
        if let Some(cursor) = cursor {
            upper = upper.min(cursor);
        }
        IdRange { lower, upper }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().expect("a time")
    }

    /// An id made at `ms` with the largest random tail.
    fn last_id_at(ms: u64) -> Uuid {
        Uuid::from_u128((u128::from(ms) << 80) | ((1 << 80) - 1))
    }

    #[test]
    fn a_time_range_is_the_range_of_ids_made_in_it() {
        let range = IdRange::of_page(None, Some(at(1_000)), Some(at(2_000)));
        let inside = |id: Uuid| range.lower <= id && id < range.upper;
        assert!(inside(first_id_at(at(1_000)).expect("an id")));
        assert!(inside(last_id_at(1_999)));
        assert!(!inside(last_id_at(999)));
        assert!(!inside(first_id_at(at(2_000)).expect("an id")));
        // A real id carries its time.
        let id = Uuid::now_v7();
        let now = Utc::now();
        assert!(IdRange::of_page(None, Some(now - chrono::Duration::seconds(5)), None).lower <= id);
        assert!(id < IdRange::of_page(None, None, Some(now + chrono::Duration::seconds(5))).upper);
    }

    #[test]
    fn the_cursor_narrows_the_upper_end_and_bounds_clamp() {
        let cursor = last_id_at(1_500);
        assert_eq!(IdRange::of_page(Some(cursor), None, Some(at(2_000))).upper, cursor);
        assert_eq!(
            IdRange::of_page(Some(cursor), None, Some(at(1_000))).upper,
            first_id_at(at(1_000)).expect("id")
        );
        assert_eq!(IdRange::of_page(None, None, None), IdRange::ALL);
        assert_eq!(IdRange::of_page(None, Some(at(-5)), None).lower, Uuid::nil());
        let far = Utc.with_ymd_and_hms(20_000, 1, 1, 0, 0, 0).single().expect("a time");
        assert_eq!(IdRange::of_page(None, None, Some(far)).upper, Uuid::max());
    }
}
