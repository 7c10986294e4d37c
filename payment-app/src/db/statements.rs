//! Statements: payments page by page (an account's, or any search), per-day totals from the
//! `account_daily` table, and its incremental refresh.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::payments::{Payment, PaymentRow};
use crate::domain::search::{IdRange, PaymentFilter};
use crate::domain::{AccountId, Metadata, PaymentId, PaymentStatus};
use crate::error::Result;

/// Up to `limit` payments that pass `filter` with ids in `range`, newest
/// first. Keyset pagination on the id (UUID v7, time-ordered): a page
/// never shifts when newer payments arrive, and a time range is an id
/// range. Each shape of filter has its own statement, so that each is
/// planned onto its index (`tests/it/plans.rs` holds them to it): by
/// account, the payer and payee indexes; by metadata, its GIN index; by
/// status, where that status lives ([`ids_in_status`]); else the primary key.
/// Longer than most functions here for that reason: every statement is
/// written out beside the one `match` that picks it, so a reader sees each
/// filter's SQL next to its plan's reason.
pub async fn payments(
    pool: &PgPool,
    filter: &PaymentFilter,
    range: IdRange,
    limit: i64,
) -> Result<Vec<Payment>> {
    let status = filter.status.map(PaymentStatus::as_str);
    let metadata = filter.metadata.as_ref().map(Metadata::to_json);
    let rows = match (filter.account, metadata) {
        // Two index range scans (payer side, payee side), merged newest
        // first. A UNION hides NOT NULL from the macro's inference, hence
        // the `!`s.
        (Some(account), metadata) => {
            sqlx::query_as!(
                PaymentRow,
                r#"SELECT id AS "id!: PaymentId", from_account AS "from_account!: AccountId",
                          to_account AS "to_account!: AccountId", amount AS "amount!", currency AS "currency!",
                          description, status AS "status!", failure_reason, metadata AS "metadata!",
                          created_at AS "created_at!", updated_at AS "updated_at!",
                          capture AS "capture!", hold_secs, hold_expires_at, amount_captured,
                          (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                           WHERE r.payment_id = page.id AND r.status = 'done') AS "amount_refunded!"
                   FROM ((SELECT * FROM payments
                          WHERE from_account = $1 AND id >= $2 AND id < $3
                            AND ($4::text IS NULL OR status = $4) AND ($5::jsonb IS NULL OR metadata @> $5)
                          ORDER BY id DESC LIMIT $6)
                         UNION ALL
                         (SELECT * FROM payments
                          WHERE to_account = $1 AND id >= $2 AND id < $3
                            AND ($4::text IS NULL OR status = $4) AND ($5::jsonb IS NULL OR metadata @> $5)
                          ORDER BY id DESC LIMIT $6)) AS page
                   ORDER BY id DESC LIMIT $6"#,
                account.as_uuid(),
                range.lower,
                range.upper,
                status,
                metadata,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        // `metadata <> '{}'` is what lets the partial GIN index serve.
        // Planned for its values on every call: how many payments carry a
        // value decides the plan (the GIN index for a rare one, the ids
        // newest first for a common one). Kept as the connection's
        // prepared statement, it goes generic once five searches for
        // fairly common values cost more than the generic plan, and that
        // plan walks the ids filtering on metadata: every payment for a
        // value few carry (2.1 s at 2 M payments), for the connection's
        // life. An unnamed statement is planned with its parameters each
        // time; `persistent` exists on a runtime query only, hence no
        // macro here (`SET LOCAL plan_cache_mode` in a transaction would
        // cost three more round trips per search).
        // `plans::a_metadata_search_keeps_its_index_after_common_values`.
        (None, Some(metadata)) => {
            sqlx::query_as::<_, PaymentRow>(
                "SELECT id, from_account, to_account, amount, currency, description, status, failure_reason,
                        metadata, created_at, updated_at, capture, hold_secs, hold_expires_at, amount_captured,
                        (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                         WHERE r.payment_id = payments.id AND r.status = 'done') AS amount_refunded
                 FROM payments
                 WHERE metadata @> $1 AND metadata <> '{}' AND id >= $2 AND id < $3
                   AND ($4::text IS NULL OR status = $4)
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(metadata)
            .bind(range.lower)
            .bind(range.upper)
            .bind(status)
            .bind(limit)
            .persistent(false)
            .fetch_all(pool)
            .await?
        }
        (None, None) => match filter.status {
            Some(status) => {
                // Read again with the status: a payment may have moved on
                // since its id was found (the page is then shorter).
                let ids = ids_in_status(pool, status, range, limit).await?;
                sqlx::query_as!(
                    PaymentRow,
                    r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                              to_account AS "to_account: AccountId", amount, currency, description, status,
                              failure_reason, metadata, created_at, updated_at, capture, hold_secs,
                              hold_expires_at, amount_captured,
                              (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                               WHERE r.payment_id = payments.id AND r.status = 'done') AS "amount_refunded!"
                       FROM payments WHERE id = ANY($1) AND status = $2
                       ORDER BY id DESC"#,
                    &ids,
                    status.as_str(),
                )
                .fetch_all(pool)
                .await?
            }
            None => {
                sqlx::query_as!(
                    PaymentRow,
                    r#"SELECT id AS "id: PaymentId", from_account AS "from_account: AccountId",
                              to_account AS "to_account: AccountId", amount, currency, description, status,
                              failure_reason, metadata, created_at, updated_at, capture, hold_secs,
                              hold_expires_at, amount_captured,
                              (SELECT COALESCE(sum(r.amount), 0)::bigint FROM refunds r
                               WHERE r.payment_id = payments.id AND r.status = 'done') AS "amount_refunded!"
                       FROM payments WHERE id >= $1 AND id < $2
                       ORDER BY id DESC LIMIT $3"#,
                    range.lower,
                    range.upper,
                    limit,
                )
                .fetch_all(pool)
                .await?
            }
        },
    };
    rows.into_iter().map(Payment::try_from).collect()
}

/// The ids of up to `limit` payments in `status` with ids in `range`,
/// newest first. No index names `status`, so that settle's status changes
/// stay HOT (migration hot_status_updates); each status is found where it
/// lives (migration status_search): pending and authorized in
/// `open_payments`, only what is in flight; failed through the partial
/// index on `failure_reason`, set exactly when a payment fails; voided and
/// expired among the manual payments (`capture` never changes); done, the
/// usual end, by walking the ids newest first.
async fn ids_in_status(
    pool: &PgPool,
    status: PaymentStatus,
    range: IdRange,
    limit: i64,
) -> Result<Vec<Uuid>> {
    let wanted = status.as_str();
    let ids = match status {
        PaymentStatus::Pending | PaymentStatus::Authorized => {
            sqlx::query_scalar!(
                r#"SELECT o.id AS "id!" FROM open_payments o JOIN payments p ON p.id = o.id
                   WHERE p.status = $1 AND o.id >= $2 AND o.id < $3
                   ORDER BY o.id DESC LIMIT $4"#,
                wanted,
                range.lower,
                range.upper,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        PaymentStatus::Failed => {
            sqlx::query_scalar!(
                "SELECT id FROM payments WHERE failure_reason IS NOT NULL AND id >= $1 AND id < $2
                 ORDER BY id DESC LIMIT $3",
                range.lower,
                range.upper,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        PaymentStatus::Voided | PaymentStatus::Expired => {
            sqlx::query_scalar!(
                "SELECT id FROM payments WHERE capture = 'manual' AND status = $1 AND id >= $2 AND id < $3
                 ORDER BY id DESC LIMIT $4",
                wanted,
                range.lower,
                range.upper,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        PaymentStatus::Done => {
            sqlx::query_scalar!(
                "SELECT id FROM payments WHERE status = 'done' AND id >= $1 AND id < $2
                 ORDER BY id DESC LIMIT $3",
                range.lower,
                range.upper,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
    };
    Ok(ids)
}

/// One day of a statement. The sums are the decimal text of numeric minor
/// units: a day's sums may pass what a bigint holds. Not the API's
/// `DayView`: that one's sums are in major units, which takes the
/// account's currency (its exponent), and the table does not hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub debits: String,
    pub credits: String,
    pub entries: i64,
    pub closing_balance: String,
}

/// The account's days in `[from, to]`, and the moment up to which they
/// count every committed entry (the last refresh's horizon). Both are read
/// by one statement, so from one snapshot: read apart, a refresh
/// committing between the two reads paired the days from before it with
/// the `as_of` it wrote, and a statement said an entry it did not count was
/// counted. One statement is also one round trip, where a read-only
/// repeatable-read transaction around two took five (begin, set, two
/// selects, commit).
pub async fn days(
    pool: &PgPool,
    account: AccountId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<Day>, DateTime<Utc>)> {
    // The refresh row is always there, so the outer join gives at least one
    // row, whose day columns are NULL when the account has no day in range.
    let rows = sqlx::query!(
        r#"SELECT r.refreshed_at AS "as_of!", d.day AS "day?", d.debits::text AS "debits?",
                  d.credits::text AS "credits?", d.entries AS "entries?",
                  d.closing_balance::text AS "closing_balance?"
           FROM view_refreshes r
           LEFT JOIN account_daily d ON d.account_id = $1 AND d.day BETWEEN $2 AND $3
           WHERE r.name = 'account_daily'
           ORDER BY d.day"#,
        account.as_uuid(),
        from,
        to,
    )
    .fetch_all(pool)
    .await?;
    let as_of = rows.first().ok_or(sqlx::Error::RowNotFound)?.as_of;
    let days = rows
        .into_iter()
        .filter_map(|r| {
            Some(Day {
                day: r.day?,
                debits: r.debits?,
                credits: r.credits?,
                entries: r.entries?,
                closing_balance: r.closing_balance?,
            })
        })
        .collect();
    Ok((days, as_of))
}

/// When the totals were last brought up to date: every entry committed
/// before it is counted.
pub async fn refreshed_at(db: impl sqlx::PgExecutor<'_>) -> Result<DateTime<Utc>> {
    let at = sqlx::query_scalar!("SELECT refreshed_at FROM view_refreshes WHERE name = 'account_daily'")
        .fetch_one(db)
        .await?;
    Ok(at)
}

/// How long writers of ledger entries may wait behind a refresh taking its
/// horizon (see `payrail_account_daily_horizon`); past it the refresh
/// fails and is tried again next interval.
const HORIZON_LOCK_TIMEOUT_MS: i32 = 1000;

/// Brings the per-day totals up to date on the primary unless another
/// instance is doing it, which a session advisory lock tells (released
/// with the connection if this process dies mid-refresh). Incremental: the
/// entries written since the last refresh are added to their days, and no
/// other day is written. Returns how many days changed, or `None` when
/// another instance holds the lock.
pub async fn refresh_daily(primary: &PgPool) -> Result<Option<i64>> {
    let mut conn = primary.acquire().await?;
    let ours =
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock(hashtext('payrail.account_daily')) AS "ours!""#)
            .fetch_one(&mut *conn)
            .await?;
    if !ours {
        return Ok(None);
    }
    // Two statements, each its own transaction: the horizon's lock on
    // ledger_entries ends with the first, before any work is done. Through
    // the functions the migrations define: they run as the owner, and the
    // app role writes the totals no other way.
    let refreshed = async {
        sqlx::query_scalar!("SELECT payrail_account_daily_horizon($1)", HORIZON_LOCK_TIMEOUT_MS)
            .fetch_one(&mut *conn)
            .await?;
        let changed = sqlx::query_scalar!(r#"SELECT payrail_refresh_account_daily() AS "changed!""#)
            .fetch_one(&mut *conn)
            .await?;
        Ok::<_, crate::error::Error>(changed)
    }
    .await;
    sqlx::query_scalar!("SELECT pg_advisory_unlock(hashtext('payrail.account_daily'))")
        .fetch_one(&mut *conn)
        .await?;
    refreshed.map(Some)
}
