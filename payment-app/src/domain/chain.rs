//! The hash chain over the ledger (issue 29): what one checkpoint's
//! `entries_hash` covers, and how it is computed. Pure: the same entries
//! after the same previous hash always give the same hash, so the tests
//! below pin it without a database, and the database layer only streams
//! the entries in.
//!
//! A segment is SHA-256 over a header (the previous checkpoint's hash and
//! the id the segment starts after) and then every ledger entry of the
//! segment, in id order, one line each with every column. Chained through
//! the checkpoints' own hashes (which cover `entries_hash` and the previous
//! hash), an edit, deletion or insertion of any entry up to the latest
//! checkpoint changes the segment it falls in, and so every hash after it:
//! `audit --verify-chain` finds it by recomputing, and whoever kept a copy
//! of an earlier head (`GET /api/v1/ledger/head`) finds a rewritten chain
//! by comparing.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One ledger entry, every column of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub id: i64,
    pub account_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

/// A segment's hash, fed one entry at a time (a segment may be all of
/// history: nothing is held but the hash state).
#[derive(Debug)]
pub struct Segment(Sha256);

impl Segment {
    /// A segment after `previous_hash` (none for the first checkpoint)
    /// covering the entries with an id greater than `from`.
    pub fn new(previous_hash: Option<&str>, from: i64) -> Self {
        let mut hash = Sha256::new();
        hash.update(format!(
            "payrail ledger chain v1\nprevious={}\nfrom={from}\n",
            previous_hash.unwrap_or("-")
        ));
        Segment(hash)
    }

    /// The next entry, in id order. Tabs and newlines cannot occur in any
    /// field (uuids, integers, a kind, an ISO code, a time), so the lines
    /// are unambiguous.
    pub fn add(&mut self, e: &ChainEntry) {
        let id = |id: Option<Uuid>| id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        self.0.update(format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            e.id,
            e.account_id,
            id(e.payment_id),
            id(e.refund_id),
            e.kind,
            e.amount,
            e.currency,
            e.balance_after,
            e.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        ));
    }

    /// The hex hash of the segment ending at entry id `to`.
    pub fn finish(mut self, to: i64) -> String {
        self.0.update(format!("to={to}\n"));
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<ChainEntry> {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap();
        (1..=3)
            .map(|id| ChainEntry {
                id,
                account_id: Uuid::from_u128(id as u128),
                payment_id: (id > 1).then(|| Uuid::from_u128(100)),
                refund_id: None,
                kind: if id == 1 { "issuance".into() } else { "debit".into() },
                amount: 10 * id,
                currency: "USD".into(),
                balance_after: 5,
                created_at: at,
            })
            .collect()
    }

    fn hash(previous: Option<&str>, from: i64, entries: &[ChainEntry], to: i64) -> String {
        let mut segment = Segment::new(previous, from);
        entries.iter().for_each(|e| segment.add(e));
        segment.finish(to)
    }

    #[test]
    fn the_same_entries_after_the_same_hash_give_the_same_hash() {
        assert_eq!(hash(Some("ab"), 0, &entries(), 3), hash(Some("ab"), 0, &entries(), 3));
        assert_eq!(hash(None, 0, &[], 0).len(), 64);
    }

    #[test]
    fn any_edit_deletion_insertion_or_reorder_changes_it() {
        let base = hash(Some("ab"), 0, &entries(), 3);
        let edits: [fn(&mut Vec<ChainEntry>); 10] = [
            |e| e[1].amount += 1,
            |e| e[1].balance_after -= 1,
            |e| e[0].account_id = Uuid::from_u128(9),
            |e| e[2].payment_id = None,
            |e| e[2].refund_id = Some(Uuid::from_u128(1)),
            |e| e[1].kind = "credit".into(),
            |e| e[1].currency = "EUR".into(),
            |e| e[1].created_at += chrono::Duration::microseconds(1),
            |e| {
                e.remove(1);
            },
            |e| e.swap(1, 2),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut changed = entries();
            edit(&mut changed);
            assert_ne!(hash(Some("ab"), 0, &changed, 3), base, "edit {i} went unnoticed");
        }
        let mut inserted = entries();
        inserted.insert(1, ChainEntry { id: 2, ..entries()[1].clone() });
        assert_ne!(hash(Some("ab"), 0, &inserted, 3), base);
        // The chain: another previous hash or other bounds give another hash.
        assert_ne!(hash(Some("ac"), 0, &entries(), 3), base);
        assert_ne!(hash(None, 0, &entries(), 3), base);
        assert_ne!(hash(Some("ab"), 0, &entries(), 4), base);
    }
}
