//! Identifiers of accounts, payments, events and webhook endpoints: UUID v7, so ids sort by creation
//! time and index pages stay warm on insert.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a payrail id. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not a UUID in its hyphenated form (8-4-4-4-12 hex digits)")]
    Malformed,
    #[error("not a payrail id: payrail ids are UUID version 7")]
    WrongVersion,
}

/// Parses the canonical hyphenated form only, and only version 7: every id
/// payrail hands out is one, so anything else is a client mistake worth
/// naming rather than a lookup that can only miss.
fn parse_v7(s: &str) -> Result<Uuid, IdError> {
    if s.len() != 36 {
        return Err(IdError::Malformed);
    }
    let uuid = Uuid::try_parse(s).map_err(|_| IdError::Malformed)?;
    if uuid.get_version_num() != 7 {
        return Err(IdError::WrongVersion);
    }
    Ok(uuid)
}

macro_rules! v7_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", sqlx(transparent))]
        #[schema(value_type = String, format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id (UUID v7: time-ordered, random tail).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Wraps a UUID read back from payrail's own database or
            /// messages, where only ids payrail made can appear.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_v7(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

v7_id!(
    /// An account's id.
    AccountId
);
v7_id!(
    /// A payment's id.
    PaymentId
);
v7_id!(
    /// An event's id: their order is the events' order.
    EventId
);
v7_id!(
    /// A webhook endpoint's id.
    EndpointId
);
v7_id!(
    /// One delivery attempt's id.
    AttemptId
);
v7_id!(
    /// A refund's id.
    RefundId
);
v7_id!(
    /// The link of an atomic batch's payments: settle applies every
    /// payment sharing one all or none.
    LinkId
);

/// Proof of a held account lock: the random value the lock's keys hold,
/// carried with the locked payments to settle, which releases the lock
/// with it (compare-and-delete, so only the holder can).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LockToken(Uuid);

impl LockToken {
    /// A fresh random token (v4: unguessable, unlike a time-ordered v7).
    pub fn random() -> Self {
        LockToken(Uuid::new_v4())
    }
}

impl fmt::Display for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_round_trip_through_their_text() {
        let id = PaymentId::new();
        assert_eq!(id.to_string().parse::<PaymentId>(), Ok(id));
        let id = AccountId::new();
        assert_eq!(id.to_string().parse::<AccountId>(), Ok(id));
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = AccountId::new();
        let second = AccountId::new();
        assert!(first < second);
    }

    #[test]
    fn rejects_other_forms_and_versions() {
        let v7 = Uuid::now_v7();
        for malformed in [
            String::new(),
            "not-a-uuid".to_owned(),
            v7.simple().to_string(),
            v7.braced().to_string(),
            v7.urn().to_string(),
            format!(" {v7}"),
            format!("{v7}x"),
            "0192f0c1-7b1e-7zzz-8abc-0123456789ab".to_owned(),
        ] {
            assert_eq!(malformed.parse::<AccountId>(), Err(IdError::Malformed), "{malformed:?}");
        }
        let v4 = Uuid::new_v4().to_string();
        assert_eq!(v4.parse::<AccountId>(), Err(IdError::WrongVersion));
        assert_eq!(Uuid::nil().to_string().parse::<PaymentId>(), Err(IdError::WrongVersion));
    }

    #[test]
    fn accepts_upper_case_hex() {
        let id = PaymentId::new();
        let upper = id.to_string().to_uppercase();
        assert_eq!(upper.parse::<PaymentId>(), Ok(id));
    }
}
