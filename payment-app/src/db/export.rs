//! Exports: payments, ledger entries or events over an interval of
//! creation times, written by PostgreSQL itself (`COPY (…) TO STDOUT`) and
//! streamed to a writer chunk by chunk, so memory stays flat whatever the
//! size. The caller picks the pool (see `reads::Db::read_copy`).
//!
//! `COPY` takes no bind parameters, so the statement carries its values as
//! literals. Each one comes from a parsed domain type (a timestamp printed
//! by chrono, an account id printed as a UUID, a currency code of three
//! letters checked against ISO 4217), never from text a user typed, so
//! none can hold a quote.

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use sqlx::PgPool;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::domain::export::{ExportFormat, ExportKind, Interval};
use crate::domain::{AccountId, Currency};
use crate::error::Error;

/// One export.
#[derive(Debug, Clone, Copy)]
pub struct Export {
    pub kind: ExportKind,
    pub format: ExportFormat,
    pub interval: Interval,
    /// Only this account's rows: its entries, the payments it pays or is
    /// paid, the events of those payments and of its credit limit.
    pub account: Option<AccountId>,
}

/// An export that failed after `written` bytes had gone out (zero: it
/// failed before anything did, and may be run again elsewhere).
#[derive(Debug)]
pub struct Partial {
    pub written: u64,
    pub error: Error,
}

/// The columns of each kind, in order: `(name, SQL expression)`. `t` is
/// the row's table (`c` an event's credit limit change, `a` its account);
/// amounts are decimal strings with the currency's decimals (`exponent`
/// of the column that holds the currency code), times RFC 3339 in UTC with
/// microseconds.
fn columns(kind: ExportKind, exponent: &dyn Fn(&str) -> String) -> Vec<(&'static str, String)> {
    let decimal = |col: &str, currency: &str| {
        let exponent = exponent(currency);
        format!("round({col}::numeric / power(10::numeric, {exponent}), {exponent})::text")
    };
    let money = |col: &str| decimal(&format!("t.{col}"), "t.currency");
    let time =
        |col: &str| format!("to_char(t.{col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    let plain = |col: &str| format!("t.{col}");
    match kind {
        ExportKind::Payments => vec![
            ("id", plain("id")),
            ("from_account", plain("from_account")),
            ("to_account", plain("to_account")),
            ("amount", money("amount")),
            ("currency", plain("currency")),
            ("status", plain("status")),
            ("failure_reason", plain("failure_reason")),
            ("description", plain("description")),
            ("metadata", plain("metadata")),
            ("capture", plain("capture")),
            ("amount_captured", money("amount_captured")),
            ("created_at", time("created_at")),
            ("updated_at", time("updated_at")),
        ],
        ExportKind::Entries => vec![
            ("id", plain("id")),
            ("account_id", plain("account_id")),
            ("kind", plain("kind")),
            ("payment_id", plain("payment_id")),
            ("refund_id", plain("refund_id")),
            ("amount", money("amount")),
            ("balance_after", money("balance_after")),
            ("held_after", money("held_after")),
            ("currency", plain("currency")),
            ("created_at", time("created_at")),
        ],
        ExportKind::Events => vec![
            ("id", plain("id")),
            ("type", plain("type")),
            ("payment_id", plain("payment_id")),
            ("refund_id", plain("refund_id")),
            ("account_id", "c.account_id".to_owned()),
            ("status", plain("status")),
            ("failure_reason", plain("failure_reason")),
            ("old_credit_limit", decimal("c.old_limit", "a.currency")),
            ("new_credit_limit", decimal("c.new_limit", "a.currency")),
            ("created_at", time("created_at")),
        ],
    }
}

/// Events with their credit limit change (account events only: a payment
/// event has none) and its account, for the change's currency.
const EVENTS: &str = "events t LEFT JOIN credit_limit_changes c ON c.id = t.id AND t.payment_id IS NULL \
                      LEFT JOIN accounts a ON a.id = c.account_id";

fn literal(at: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The `COPY` statement of `export`. `currencies` are those its amounts
/// may be in (every currency of the accounts, or the one account's): each
/// amount is printed with its currency's decimals.
pub fn statement(export: &Export, currencies: &[Currency]) -> String {
    let exponent = |currency: &str| {
        if currencies.is_empty() {
            "2".to_owned()
        } else {
            let arms: String =
                currencies.iter().map(|c| format!(" WHEN '{}' THEN {}", c.code(), c.exponent())).collect();
            format!("(CASE {currency}{arms} END)")
        }
    };
    let columns = columns(export.kind, &exponent);
    let select: Vec<String> = columns.iter().map(|(name, expr)| format!("{expr} AS {name}")).collect();
    let mut filters = Vec::new();
    if let Some(from) = export.interval.from {
        filters.push(format!("t.created_at >= {}", literal(from)));
    }
    if let Some(to) = export.interval.to {
        filters.push(format!("t.created_at < {}", literal(to)));
    }
    let (from, order) = match (export.kind, export.account) {
        (ExportKind::Payments, Some(account)) => {
            filters.push(format!("(t.from_account = '{account}' OR t.to_account = '{account}')"));
            ("payments t", "t.id")
        }
        (ExportKind::Payments, None) => ("payments t", "t.id"),
        // The index (account_id, created_at, id) gives the account's entries in order.
        (ExportKind::Entries, Some(account)) => {
            filters.push(format!("t.account_id = '{account}'"));
            ("ledger_entries t", "t.created_at, t.id")
        }
        (ExportKind::Entries, None) => ("ledger_entries t", "t.id"),
        (ExportKind::Events, Some(account)) => {
            filters.push(format!(
                "(c.account_id = '{account}' OR EXISTS (SELECT 1 FROM payments p WHERE p.id = t.payment_id \
                 AND (p.from_account = '{account}' OR p.to_account = '{account}')))"
            ));
            (EVENTS, "t.id")
        }
        (ExportKind::Events, None) => (EVENTS, "t.id"),
    };
    let filter = if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
    let query = format!("SELECT {} FROM {from}{filter} ORDER BY {order}", select.join(", "));
    match export.format {
        ExportFormat::Csv => format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)"),
        // One JSON text per row, written as CSV with a quote and a
        // delimiter that JSON never holds raw (it escapes every control
        // character), so nothing is quoted or escaped: each line is the
        // object as PostgreSQL made it. (The text format would double
        // every backslash of the JSON's own escapes.)
        ExportFormat::Jsonl => format!(
            "COPY (SELECT row_to_json(r) FROM ({query}) r) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
        ),
    }
}

/// Runs `statement` on `pool` and writes what it produces to `out` as it
/// comes. In a read-only transaction of its own, without the pool's
/// statement timeout (an export takes as long as it takes). Returns the
/// bytes written.
pub async fn copy_to<W>(pool: &PgPool, statement: &str, out: &mut W) -> Result<u64, Partial>
where
    W: AsyncWrite + Unpin,
{
    let early = |e: sqlx::Error| Partial { written: 0, error: e.into() };
    let mut tx = pool.begin().await.map_err(early)?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await.map_err(early)?;
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(early)?;
    let mut written = 0u64;
    {
        let mut chunks = tx.copy_out_raw(statement).await.map_err(early)?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| Partial { written, error: e.into() })?;
            out.write_all(&chunk).await.map_err(|e| Partial { written, error: e.into() })?;
            written += chunk.len() as u64;
        }
    }
    out.flush().await.map_err(|e| Partial { written, error: e.into() })?;
    tx.commit().await.map_err(|e| Partial { written, error: e.into() })?;
    Ok(written)
}

/// The currencies of every account (what an export's amounts may be in).
pub async fn currencies(pool: &PgPool) -> crate::error::Result<Vec<Currency>> {
    let codes =
        sqlx::query_scalar!(r#"SELECT DISTINCT currency AS "code!" FROM accounts"#).fetch_all(pool).await?;
    codes.iter().map(|code| super::accounts::currency_from_db(code)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::export::Bound;

    fn export(kind: ExportKind, format: ExportFormat, account: Option<AccountId>) -> Export {
        let from: Bound = "2026-12-01".parse().unwrap();
        let to: Bound = "2026-12-07T12:00:00Z".parse().unwrap();
        Export { kind, format, interval: Interval::new(Some(from.0), Some(to.0)).unwrap(), account }
    }

    #[test]
    fn bounds_include_from_and_exclude_to() {
        let sql = statement(&export(ExportKind::Entries, ExportFormat::Csv, None), &[Currency::usd()]);
        assert!(sql.contains("t.created_at >= '2026-12-01T00:00:00.000000Z'::timestamptz"), "{sql}");
        assert!(sql.contains("t.created_at < '2026-12-07T12:00:00.000000Z'::timestamptz"), "{sql}");
        assert!(sql.starts_with("COPY (SELECT ") && sql.ends_with("TO STDOUT WITH (FORMAT csv, HEADER)"));
        let open =
            Export { interval: Interval::default(), ..export(ExportKind::Events, ExportFormat::Csv, None) };
        assert!(!statement(&open, &[]).contains("WHERE"));
    }

    #[test]
    fn an_account_narrows_each_kind_and_entries_follow_its_index() {
        let account = AccountId::new();
        for kind in [ExportKind::Payments, ExportKind::Entries, ExportKind::Events] {
            let sql = statement(&export(kind, ExportFormat::Jsonl, Some(account)), &[Currency::usd()]);
            assert!(sql.contains(&format!("'{account}'")), "{sql}");
            assert!(sql.contains("row_to_json(r)"), "{sql}");
        }
        let sql = statement(&export(ExportKind::Entries, ExportFormat::Csv, Some(account)), &[]);
        assert!(sql.contains("ORDER BY t.created_at, t.id"), "{sql}");
    }

    #[test]
    fn amounts_take_each_currencys_decimals() {
        let jpy = Currency::parse("JPY").unwrap();
        let sql = statement(&export(ExportKind::Payments, ExportFormat::Csv, None), &[Currency::usd(), jpy]);
        assert!(sql.contains("(CASE t.currency WHEN 'USD' THEN 2 WHEN 'JPY' THEN 0 END)"), "{sql}");
    }
}
