//! The incremental audit's checkpoints: where the next audit starts, read
//! and written on the audit's one connection. What a checkpoint means and
//! how it is hashed is `audit::checkpoint`'s; this is its SQL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::chain::{ChainEntry, Segment};
use crate::error::Result;

/// What a checkpoint chains of the ledger (none for those written before
/// the chain existed): the entries after `entries_from` up to its
/// `last_entry_id`, hashed after the previous checkpoint's hash, and the
/// digest of the per-account sums it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chained {
    pub entries_from: i64,
    pub entries_hash: String,
    pub accounts_digest: String,
}

/// A checkpoint as stored, with the digest of its per-account sums
/// computed again from the rows (never stored: it is what the hash checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub full_run: bool,
    pub last_entry_id: i64,
    pub new_from: Uuid,
    pub open_payments: Vec<Uuid>,
    pub open_refunds: Vec<Uuid>,
    pub issuance: serde_json::Value,
    pub previous_hash: Option<String>,
    pub hash: String,
    pub accounts_digest: String,
    /// The hash of the checkpoint before it, as that one stores it.
    pub before_hash: Option<String>,
    pub chained: Option<Chained>,
}

/// Where a run's work ends: every entry up to `last_entry_id` is committed
/// (no transaction that could still add a smaller id is open), and the
/// payments and refunds open at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Horizon {
    pub last_entry_id: i64,
    pub at: DateTime<Utc>,
    pub open_payments: Vec<Uuid>,
    pub open_refunds: Vec<Uuid>,
}

/// The latest checkpoint, if any.
pub async fn latest(conn: &mut PgConnection) -> Result<Option<StoredCheckpoint>> {
    let row = sqlx::query!(
        r#"SELECT c.id, c.created_at, c.full_run, c.last_entry_id, c.new_from, c.open_payments, c.open_refunds,
                  c.issuance, c.previous_hash, c.hash, c.entries_from, c.entries_hash,
                  c.accounts_digest AS stored_digest,
                  (SELECT b.hash FROM audit_checkpoints b WHERE b.id < c.id ORDER BY b.id DESC LIMIT 1)
                      AS before_hash,
                  (SELECT encode(sha256(convert_to(COALESCE(string_agg(
                              account_id::text || ':' || total::text || ':' || held::text, ','
                              ORDER BY account_id), ''), 'UTF8')), 'hex')
                   FROM audit_checkpoint_accounts) AS "accounts_digest!"
           FROM audit_checkpoints c ORDER BY c.id DESC LIMIT 1"#,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| StoredCheckpoint {
        id: r.id,
        created_at: r.created_at,
        full_run: r.full_run,
        last_entry_id: r.last_entry_id,
        new_from: r.new_from,
        open_payments: r.open_payments,
        open_refunds: r.open_refunds,
        issuance: r.issuance,
        previous_hash: r.previous_hash,
        hash: r.hash,
        accounts_digest: r.accounts_digest,
        before_hash: r.before_hash,
        chained: chained(r.entries_from, r.entries_hash, r.stored_digest),
    }))
}

fn chained(from: Option<i64>, hash: Option<String>, digest: Option<String>) -> Option<Chained> {
    Some(Chained { entries_from: from?, entries_hash: hash?, accounts_digest: digest? })
}

/// Every checkpoint, oldest first, each with the hash of the one before it
/// and the digest it stores (what `audit --verify-chain` walks).
pub async fn all(conn: &mut PgConnection) -> Result<Vec<StoredCheckpoint>> {
    let rows = sqlx::query!(
        r#"SELECT id, created_at, full_run, last_entry_id, new_from, open_payments, open_refunds, issuance,
                  previous_hash, hash, entries_from, entries_hash, accounts_digest,
                  lag(hash) OVER (ORDER BY id) AS before_hash
           FROM audit_checkpoints ORDER BY id"#,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoredCheckpoint {
            id: r.id,
            created_at: r.created_at,
            full_run: r.full_run,
            last_entry_id: r.last_entry_id,
            new_from: r.new_from,
            open_payments: r.open_payments,
            open_refunds: r.open_refunds,
            issuance: r.issuance,
            previous_hash: r.previous_hash,
            hash: r.hash,
            accounts_digest: r.accounts_digest.clone().unwrap_or_default(),
            before_hash: r.before_hash,
            chained: chained(r.entries_from, r.entries_hash, r.accounts_digest),
        })
        .collect())
}

/// The hash of the ledger entries after `from` up to `to`, in id order,
/// chained after `previous_hash` (`domain::chain`). Streamed: a segment may
/// be all of history (the first checkpoint's), and only the hash state is
/// held.
pub async fn segment_hash(
    conn: &mut PgConnection,
    previous_hash: Option<&str>,
    from: i64,
    to: i64,
) -> Result<String> {
    let mut segment = Segment::new(previous_hash, from);
    let mut rows = sqlx::query_as!(
        ChainEntry,
        r#"SELECT id, account_id, payment_id, refund_id, kind, amount, currency, balance_after, created_at
           FROM ledger_entries WHERE id > $1 AND id <= $2 ORDER BY id"#,
        from,
        to,
    )
    .fetch(&mut *conn);
    while let Some(entry) = rows.try_next().await? {
        segment.add(&entry);
    }
    Ok(segment.finish(to))
}

/// The latest checkpoint that chains the ledger: what an outside party
/// keeps a copy of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub checkpoint_id: i64,
    pub last_entry_id: i64,
    pub hash: String,
    pub created_at: DateTime<Utc>,
}

pub async fn head(pool: &PgPool) -> Result<Option<Head>> {
    let head = sqlx::query_as!(
        Head,
        r#"SELECT id AS checkpoint_id, last_entry_id, hash, created_at FROM audit_checkpoints
           WHERE entries_hash IS NOT NULL ORDER BY id DESC LIMIT 1"#,
    )
    .fetch_optional(pool)
    .await?;
    Ok(head)
}

/// Takes the horizon. Ledger entry ids come from a sequence, and a
/// transaction may commit a smaller id after another committed a larger
/// one: the largest id seen is a safe place to stop only once every
/// transaction writing entries has ended. A SHARE lock waits for exactly
/// those (each holds ROW EXCLUSIVE from its insert to its commit) and is
/// let go at once; writers wait for it at most `lock_timeout`. Writers also
/// wait while it is held, so what is read under it grows with the work in
/// flight only: the open payments come from `open_payments` (kept by the
/// triggers `missing_guards` checks), not from a scan of every payment's
/// status, which held settlement up for 1.8 s at ten million payments.
pub async fn horizon(conn: &mut PgConnection, lock_timeout: Duration) -> Result<Horizon> {
    let mut tx = conn.begin().await?;
    sqlx::query!("SELECT set_config('lock_timeout', $1, true)", format!("{}ms", lock_timeout.as_millis()))
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!("LOCK TABLE ledger_entries IN SHARE MODE").execute(&mut *tx).await?;
    let row = sqlx::query!(
        r#"SELECT (SELECT COALESCE(max(id), 0) FROM ledger_entries) AS "last_entry_id!",
                  now() AS "at!",
                  ARRAY(SELECT id FROM open_payments ORDER BY id) AS "open_payments!",
                  ARRAY(SELECT id FROM refunds WHERE status = 'pending' ORDER BY id) AS "open_refunds!""#,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Horizon {
        last_entry_id: row.last_entry_id,
        at: row.at,
        open_payments: row.open_payments,
        open_refunds: row.open_refunds,
    })
}

/// The sums a new checkpoint carries, computed in the transaction that
/// writes it (see [`write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    pub issuance: serde_json::Value,
    pub accounts_digest: String,
}

/// A new checkpoint's fields other than its sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckpoint {
    pub full_run: bool,
    pub last_entry_id: i64,
    pub new_from: Uuid,
    pub open_payments: Vec<Uuid>,
    pub open_refunds: Vec<Uuid>,
    pub previous_hash: Option<String>,
    /// The ledger entries it chains: after this id up to `last_entry_id`,
    /// and their hash after `previous_hash`.
    pub entries_from: i64,
    pub entries_hash: String,
}

/// Writes the next checkpoint: the per-account sums carried forward from
/// `base` (the checkpoint the run started from, `None` for a full run,
/// which sums from the first entry) by the entries up to the new horizon,
/// and the row itself with `hash(sums)`. Returns the new id and hash, or
/// `None` when the latest checkpoint is no longer `latest` (another audit
/// wrote one meanwhile: its own stands).
pub async fn write(
    conn: &mut PgConnection,
    base: Option<&StoredCheckpoint>,
    latest: Option<i64>,
    new: &NewCheckpoint,
    hash: impl FnOnce(&Sums) -> String,
) -> Result<Option<(i64, String)>> {
    let mut tx = conn.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('payrail.audit_checkpoint'))")
        .fetch_one(&mut *tx)
        .await?;
    let now_latest = sqlx::query_scalar!("SELECT max(id) FROM audit_checkpoints").fetch_one(&mut *tx).await?;
    if now_latest != latest {
        return Ok(None);
    }
    let sums = carry_sums(&mut tx, base, new.last_entry_id).await?;
    let hash = hash(&sums);
    let id = insert(&mut tx, new, &sums, &hash).await?;
    tx.commit().await?;
    Ok(Some((id, hash)))
}

/// Carries the per-account sums forward from `base` (from nothing for a
/// full run) by the entries up to `last_entry_id`, and sums what the new
/// checkpoint carries: issuance per currency and the accounts' digest.
async fn carry_sums(
    conn: &mut PgConnection,
    base: Option<&StoredCheckpoint>,
    last_entry_id: i64,
) -> Result<Sums> {
    let (from, issuance) = match base {
        Some(base) => (base.last_entry_id, base.issuance.clone()),
        None => {
            sqlx::query!("DELETE FROM audit_checkpoint_accounts").execute(&mut *conn).await?;
            (0, serde_json::json!({}))
        }
    };
    sqlx::query!(
        r#"INSERT INTO audit_checkpoint_accounts AS c (account_id, total, held)
           SELECT account_id,
                  COALESCE(sum(amount) FILTER (WHERE kind NOT IN ('hold', 'release')), 0),
                  COALESCE(sum(amount) FILTER (WHERE kind IN ('hold', 'release')), 0)
           FROM ledger_entries WHERE id > $1 AND id <= $2 GROUP BY account_id
           ON CONFLICT (account_id) DO UPDATE SET total = c.total + EXCLUDED.total, held = c.held + EXCLUDED.held"#,
        from,
        last_entry_id,
    )
    .execute(&mut *conn)
    .await?;
    let sums = sqlx::query!(
        r#"SELECT (SELECT COALESCE(jsonb_object_agg(currency, total::text ORDER BY currency), '{}')
                   FROM (SELECT currency, sum(amount) AS total FROM (
                             SELECT key AS currency, value::numeric AS amount FROM jsonb_each_text($1::jsonb)
                             UNION ALL
                             SELECT a.currency, l.amount FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
                             WHERE l.kind = 'issuance' AND l.id > $2 AND l.id <= $3) AS parts
                         GROUP BY currency) AS per_currency) AS "issuance!",
                  (SELECT encode(sha256(convert_to(COALESCE(string_agg(
                              account_id::text || ':' || total::text || ':' || held::text, ','
                              ORDER BY account_id), ''), 'UTF8')), 'hex')
                   FROM audit_checkpoint_accounts) AS "accounts_digest!""#,
        issuance,
        from,
        last_entry_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Sums { issuance: sums.issuance, accounts_digest: sums.accounts_digest })
}

/// The checkpoint's row; its id.
async fn insert(conn: &mut PgConnection, new: &NewCheckpoint, sums: &Sums, hash: &str) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO audit_checkpoints (full_run, last_entry_id, new_from, open_payments, open_refunds, \
                                        issuance, previous_hash, hash, entries_from, entries_hash, accounts_digest) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        new.full_run,
        new.last_entry_id,
        new.new_from,
        &new.open_payments,
        &new.open_refunds,
        sums.issuance,
        new.previous_hash,
        hash,
        new.entries_from,
        new.entries_hash,
        sums.accounts_digest,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Sets the statement timeout of the audit's connection: the incremental
/// run keeps `DB_TIMEOUT_MS`, `--full` has its own.
pub async fn set_statement_timeout(conn: &mut PgConnection, timeout: Duration) -> Result<()> {
    sqlx::query!("SELECT set_config('statement_timeout', $1, false)", format!("{}ms", timeout.as_millis()))
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}
