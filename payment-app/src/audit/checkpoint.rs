//! What a checkpoint's hash covers, and how it is checked. Pure: the same
//! fields always give the same hash, so the tests below pin it without a
//! database.
//!
//! The hash covers every field the next audit trusts (where history ends,
//! what counts as new, the sums per currency and, through their digest,
//! per account) and the previous checkpoint's hash, so the checkpoints form
//! a chain. Without a key it is SHA-256: an edit that does not also redo
//! the hash is noticed. With `AUDIT_CHECKPOINT_KEY` it is HMAC-SHA-256:
//! whoever can write the table but does not hold the key cannot redo it.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::audit_checkpoint::{NewCheckpoint, StoredCheckpoint, Sums};

/// The fields a checkpoint's hash covers, borrowed from a stored one or one
/// being written.
#[derive(Debug, Clone, Copy)]
pub struct Covered<'a> {
    pub full_run: bool,
    pub last_entry_id: i64,
    pub new_from: Uuid,
    pub open_payments: &'a [Uuid],
    pub open_refunds: &'a [Uuid],
    pub issuance: &'a serde_json::Value,
    pub accounts_digest: &'a str,
    pub previous_hash: Option<&'a str>,
    /// The ledger entries it chains (`entries_from`, `entries_hash`); none
    /// for checkpoints written before the chain (hashed as version 1).
    pub chain: Option<(i64, &'a str)>,
}

impl<'a> Covered<'a> {
    pub fn of_stored(stored: &'a StoredCheckpoint) -> Self {
        Covered {
            full_run: stored.full_run,
            last_entry_id: stored.last_entry_id,
            new_from: stored.new_from,
            open_payments: &stored.open_payments,
            open_refunds: &stored.open_refunds,
            issuance: &stored.issuance,
            accounts_digest: &stored.accounts_digest,
            previous_hash: stored.previous_hash.as_deref(),
            chain: stored.chained.as_ref().map(|c| (c.entries_from, c.entries_hash.as_str())),
        }
    }

    pub fn of_new(new: &'a NewCheckpoint, sums: &'a Sums) -> Self {
        Covered {
            full_run: new.full_run,
            last_entry_id: new.last_entry_id,
            new_from: new.new_from,
            open_payments: &new.open_payments,
            open_refunds: &new.open_refunds,
            issuance: &sums.issuance,
            accounts_digest: &sums.accounts_digest,
            previous_hash: new.previous_hash.as_deref(),
            chain: Some((new.entries_from, &new.entries_hash)),
        }
    }

    /// One line per field, in a fixed order; the issuance as sorted
    /// `currency=amount` pairs (a JSON object's key order is no part of it).
    fn canonical(&self) -> String {
        let issuance: BTreeMap<&str, String> = self
            .issuance
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect()
            })
            .unwrap_or_default();
        let ids = |ids: &[Uuid]| {
            let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            ids.sort();
            ids.join(",")
        };
        let (version, chain) = match self.chain {
            Some((from, hash)) => ("v2", format!("entries_from={from}\nentries={hash}\n")),
            None => ("v1", String::new()),
        };
        format!(
            "payrail audit checkpoint {version}\nfull_run={}\nlast_entry_id={}\nnew_from={}\nopen_payments={}\n\
             open_refunds={}\nissuance={}\naccounts={}\nprevious={}\n{chain}",
            self.full_run,
            self.last_entry_id,
            self.new_from,
            ids(self.open_payments),
            ids(self.open_refunds),
            issuance.iter().map(|(c, a)| format!("{c}={a}")).collect::<Vec<_>>().join(","),
            self.accounts_digest,
            self.previous_hash.unwrap_or("-"),
        )
    }

    /// The hex hash, keyed when a key is given.
    pub fn hash(&self, key: Option<&SecretString>) -> String {
        let text = self.canonical();
        match key {
            Some(key) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(text.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            None => hex::encode(Sha256::digest(text.as_bytes())),
        }
    }
}

/// Why a stored checkpoint is not to be trusted, if it is not.
pub fn verify(stored: &StoredCheckpoint, key: Option<&SecretString>) -> Result<(), String> {
    if Covered::of_stored(stored).hash(key) != stored.hash {
        return Err(format!(
            "checkpoint {} does not match its hash: it, or its per-account sums, were changed after it was \
             written (or AUDIT_CHECKPOINT_KEY differs from the one it was written with)",
            stored.id
        ));
    }
    if stored.previous_hash != stored.before_hash {
        return Err(format!("checkpoint {} does not follow the checkpoint before it", stored.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn stored() -> StoredCheckpoint {
        let mut stored = StoredCheckpoint {
            id: 2,
            created_at: Utc::now(),
            full_run: false,
            last_entry_id: 42,
            new_from: Uuid::from_u128(7),
            open_payments: vec![Uuid::from_u128(2), Uuid::from_u128(1)],
            open_refunds: Vec::new(),
            issuance: json!({"USD": "100", "EUR": "5"}),
            previous_hash: Some("ab".into()),
            hash: String::new(),
            accounts_digest: "cd".into(),
            before_hash: Some("ab".into()),
            chained: Some(crate::db::audit_checkpoint::Chained {
                entries_from: 40,
                entries_hash: "ef".into(),
                accounts_digest: "cd".into(),
            }),
        };
        stored.hash = Covered::of_stored(&stored).hash(None);
        stored
    }

    #[test]
    fn a_checkpoint_as_written_verifies() {
        assert_eq!(verify(&stored(), None), Ok(()));
    }

    #[test]
    fn every_covered_field_changes_the_hash() {
        let edits: [fn(&mut StoredCheckpoint); 11] = [
            |s| s.chained.as_mut().unwrap().entries_from = 41,
            |s| s.chained.as_mut().unwrap().entries_hash = "eg".into(),
            |s| s.chained = None,
            |s| s.full_run = true,
            |s| s.last_entry_id += 1,
            |s| s.new_from = Uuid::from_u128(8),
            |s| {
                s.open_payments.pop();
            },
            |s| s.open_refunds.push(Uuid::from_u128(3)),
            |s| s.issuance = json!({"USD": "101", "EUR": "5"}),
            |s| s.accounts_digest = "ce".into(),
            |s| s.previous_hash = None,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut s = stored();
            edit(&mut s);
            assert!(verify(&s, None).is_err(), "edit {i} went unnoticed");
        }
    }

    #[test]
    fn key_order_and_id_order_are_no_part_of_it() {
        let mut s = stored();
        s.issuance = json!({"EUR": "5", "USD": "100"});
        s.open_payments.reverse();
        assert_eq!(verify(&s, None), Ok(()));
    }

    #[test]
    fn a_keyed_hash_needs_the_key() {
        let key = SecretString::from("k".repeat(32));
        let mut s = stored();
        s.hash = Covered::of_stored(&s).hash(Some(&key));
        assert_eq!(verify(&s, Some(&key)), Ok(()));
        assert!(verify(&s, None).is_err());
        assert!(verify(&s, Some(&SecretString::from("other"))).is_err());
    }

    #[test]
    fn a_broken_chain_is_noticed() {
        let mut s = stored();
        s.before_hash = Some("zz".into());
        assert!(verify(&s, None).unwrap_err().contains("does not follow"));
    }
}
