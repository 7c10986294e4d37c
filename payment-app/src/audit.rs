//! `payment-app audit`: checks the invariants of the ledger against the
//! database and reports each one, for people (text) and machines (JSON).
//!
//! Incremental by default: a run that passes records a checkpoint of what
//! it verified (`checkpoint`), and the next checks only what came after it
//! plus the invariants that are cheap at any size, so its cost follows new
//! work, not history. `--full` checks all of history again, under its own
//! statement timeout. A checkpoint that does not match its hash is refused.
//!
//! Each checkpoint also chains the ledger entries up to it
//! (`domain::chain`), and `--verify-chain` ([`verify_chain`]) recomputes
//! that chain from the entries as they are now.

pub mod checkpoint;
mod progress;

pub use progress::Progress;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::audit_checkpoint::{Horizon, NewCheckpoint, StoredCheckpoint};
use crate::db::{self, audit::Scope, audit::Violations};
use crate::domain::search::first_id_at;
use crate::error::Result;
/// The result of one invariant check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// One line: what was found.
    pub detail: String,
    /// A few offending rows, when the check failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// What a run checked of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Everything (`--full`, or no checkpoint to start from).
    Full,
    /// What came after the checkpoint `since`.
    Incremental,
    /// The hash chain over the ledger, recomputed (`--verify-chain`).
    Chain,
}

/// The checkpoint a run started from, or the one it wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRef {
    pub id: i64,
    /// Every ledger entry up to this id is covered by it.
    pub last_entry_id: i64,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub mode: Mode,
    /// The checkpoint this run started from (incremental runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<CheckpointRef>,
    pub checks: Vec<Check>,
    /// Payments by status, for context: all of them (full), or those this
    /// run checked (incremental).
    pub payments: Vec<(String, i64)>,
    /// The checkpoint this run wrote (only when every ledger check passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
    /// `--verify-chain`: the last checkpoint of the chain, as recomputed
    /// (what `GET /api/v1/ledger/head` serves, when the chain is intact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<CheckpointRef>,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// A payment pending for longer counts as stuck.
    pub max_pending_age: Duration,
    /// Also check that this role holds no more than payment-app needs.
    pub app_role: Option<String>,
    /// Check all of history, whatever the checkpoint says.
    pub full: bool,
    /// The statement timeout of an incremental run, and of a full one.
    pub timeout: Duration,
    pub full_timeout: Duration,
    /// Keys the checkpoints' hash (HMAC) when set.
    pub key: Option<SecretString>,
    pub progress: Progress,
}

impl AuditConfig {
    /// An incremental run without a key, a role or progress, its
    /// statements limited to a minute (an hour when full).
    pub fn new(max_pending_age: Duration) -> Self {
        AuditConfig {
            max_pending_age,
            app_role: None,
            full: false,
            timeout: Duration::from_secs(60),
            full_timeout: Duration::from_secs(3600),
            key: None,
            progress: Progress::Off,
        }
    }
}

/// How long writers of ledger entries may wait while the audit takes its
/// horizon (a moment's SHARE lock; see `db::audit_checkpoint::horizon`).
const HORIZON_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Payments and refunds made this long before a checkpoint's horizon count
/// as new to the next run: an id (UUID v7) is made by the app before its
/// row commits, and app hosts' clocks differ a little from the database's.
const COMMIT_MARGIN: Duration = Duration::from_secs(120);

/// Runs the audit. Reads the primary (an audit of a lagging replica would
/// report the lag, not the ledger), on one connection.
pub async fn run(primary: &PgPool, config: &AuditConfig) -> Result<Report> {
    let mut conn = primary.acquire().await?;
    let stored = db::audit_checkpoint::latest(&mut conn).await?;
    let intact = stored.as_ref().map(|s| (s, checkpoint::verify(s, config.key.as_ref())));
    let intact_check = intact.as_ref().map(|(s, verdict)| intact_check(s, verdict));
    let base = match &intact {
        Some((s, Ok(()))) if !config.full => Some(*s),
        _ => None,
    };
    if !config.full && base.is_none() && stored.is_some() {
        // The checkpoint is the base of every sum an incremental run
        // compares: checking against an edited one proves nothing.
        return Ok(Report {
            ok: false,
            mode: Mode::Incremental,
            since: None,
            checks: intact_check.into_iter().collect(),
            payments: Vec::new(),
            checkpoint: None,
            head: None,
        });
    }
    let mode = if base.is_some() { Mode::Incremental } else { Mode::Full };
    let timeout = if mode == Mode::Full { config.full_timeout } else { config.timeout };
    db::audit_checkpoint::set_statement_timeout(&mut conn, timeout).await?;

    let horizon = db::audit_checkpoint::horizon(&mut conn, HORIZON_LOCK_TIMEOUT).await?;
    let scope = match base {
        Some(base) => scope_since(&mut conn, base).await?,
        None => Scope::full(),
    };
    let mut progress = progress::Bar::new(config.progress, mode, 14 + usize::from(config.app_role.is_some()));
    let mut checks = checks(&mut conn, &scope, config, &mut progress).await?;
    let payments = db::audit::payment_counts(&mut conn, &scope).await?;
    progress.finish();

    // A checkpoint only for a ledger that passed every check: the next run
    // trusts its sums. An edited previous checkpoint is reported, and a
    // full run that passes writes a new one (summed from the first entry).
    let written = if checks.iter().all(|c| c.ok) {
        let run = Run { mode, base, stored: stored.as_ref(), horizon };
        write_checkpoint(&mut conn, run, config).await?
    } else {
        None
    };
    if let Some(check) = intact_check {
        checks.insert(0, check);
    }
    Ok(Report {
        ok: checks.iter().all(|c| c.ok),
        mode,
        since: base.map(checkpoint_ref),
        checks,
        payments,
        checkpoint: written,
        head: None,
    })
}

/// `checkpoint_intact`: whether the checkpoint a run would start from is
/// the one the audit wrote.
fn intact_check(stored: &StoredCheckpoint, verdict: &Result<(), String>) -> Check {
    Check {
        name: "checkpoint_intact",
        ok: verdict.is_ok(),
        detail: match verdict {
            Ok(()) => {
                format!("checkpoint {} of {} matches its hash", stored.id, stored.created_at.to_rfc3339())
            }
            Err(why) => {
                format!("{why}; refused: find out who changed it, then run `payment-app audit --full`")
            }
        },
        examples: Vec::new(),
    }
}

/// What an incremental run checks after `base`: the entries after its last
/// one, the payments and refunds made since or still open at it, and the
/// events those can have.
async fn scope_since(conn: &mut PgConnection, base: &StoredCheckpoint) -> Result<Scope> {
    let (payments, refunds) = db::audit::scope_since(
        conn,
        base.last_entry_id,
        base.new_from,
        &base.open_payments,
        &base.open_refunds,
    )
    .await?;
    // The payments made since `new_from` are one range; the list holds only
    // older ones.
    let payments_from = payments.iter().min().copied().unwrap_or(Uuid::max()).min(base.new_from);
    let refunds_from = refunds.iter().min().copied().unwrap_or(Uuid::max());
    Ok(Scope {
        full: false,
        after_entry: base.last_entry_id,
        issuance: base.issuance.clone(),
        new_from: base.new_from,
        payments,
        refunds,
        payments_from,
        refunds_from,
        events_from: events_from(payments_from.min(refunds_from)),
    })
}

/// What a passing run knows when it writes its checkpoint.
struct Run<'a> {
    mode: Mode,
    /// The checkpoint it started from (incremental runs).
    base: Option<&'a StoredCheckpoint>,
    /// The latest checkpoint stored, intact or not.
    stored: Option<&'a StoredCheckpoint>,
    horizon: Horizon,
}

/// Writes the checkpoint of a run that passed: its sums, and the next link
/// of the hash chain (the entries since the last chained checkpoint, all
/// of them when none is, hashed after its hash). `None` when another run
/// wrote one first.
async fn write_checkpoint(
    conn: &mut PgConnection,
    run: Run<'_>,
    config: &AuditConfig,
) -> Result<Option<CheckpointRef>> {
    let Run { mode, base, stored, horizon } = run;
    let previous_hash = stored.map(|s| s.hash.clone());
    let entries_from = stored.filter(|s| s.chained.is_some()).map_or(0, |s| s.last_entry_id);
    if let Some(limit) = first_link_timeout(mode, entries_from, config) {
        tracing::info!(
            upto = horizon.last_entry_id,
            "starting the ledger's hash chain: every entry is hashed once"
        );
        db::audit_checkpoint::set_statement_timeout(conn, limit).await?;
    }
    let entries_hash = db::audit_checkpoint::segment_hash(
        conn,
        previous_hash.as_deref(),
        entries_from,
        horizon.last_entry_id,
    )
    .await?;
    let new = NewCheckpoint {
        full_run: mode == Mode::Full,
        last_entry_id: horizon.last_entry_id,
        new_from: first_id_at(horizon.at - COMMIT_MARGIN).unwrap_or_default(),
        open_payments: horizon.open_payments,
        open_refunds: horizon.open_refunds,
        // Chained to the last one as stored, even an edited one: the chain
        // then shows where a full run took over from it.
        previous_hash,
        entries_from,
        entries_hash,
    };
    let key = config.key.as_ref();
    let written = db::audit_checkpoint::write(conn, base, stored.map(|s| s.id), &new, |sums| {
        checkpoint::Covered::of_new(&new, sums).hash(key)
    })
    .await?;
    Ok(written.map(|(id, hash)| CheckpointRef { id, last_entry_id: new.last_entry_id, hash }))
}

/// `audit --verify-chain`: walks every checkpoint, oldest first, and checks
/// that each follows the one before it, that its hash is what its fields
/// give, and that the ledger entries it chains (after `entries_from` up to
/// its last entry) still hash to its `entries_hash` after the previous
/// hash, the segments following each other from the first entry. Reads
/// all of history, under the full run's statement timeout; writes nothing.
/// An entry changed, deleted or inserted up to the last checkpoint, even by
/// an owner with the triggers disabled, fails it; one after the last
/// checkpoint is the next audit's to find.
pub async fn verify_chain(primary: &PgPool, config: &AuditConfig) -> Result<Report> {
    let mut conn = primary.acquire().await?;
    db::audit_checkpoint::set_statement_timeout(&mut conn, config.full_timeout).await?;
    let checkpoints = db::audit_checkpoint::all(&mut conn).await?;
    let (mut problems, mut segments) = (Vec::new(), 0);
    let mut expected_from: Option<i64> = None;
    let mut head = None;
    for stored in &checkpoints {
        problems.extend(link_problems(stored, expected_from, config.key.as_ref()));
        let Some(chained) = &stored.chained else { continue };
        let recomputed = db::audit_checkpoint::segment_hash(
            &mut conn,
            stored.previous_hash.as_deref(),
            chained.entries_from,
            stored.last_entry_id,
        )
        .await?;
        if recomputed != chained.entries_hash {
            problems.push(format!(
                "ledger entries {} to {} (checkpoint {} of {}) are not the entries it hashed: one was \
                 changed, deleted or inserted since",
                chained.entries_from + 1,
                stored.last_entry_id,
                stored.id,
                stored.created_at.to_rfc3339(),
            ));
        }
        segments += 1;
        expected_from = Some(stored.last_entry_id);
        head = Some(checkpoint_ref(stored));
    }
    let ok = problems.is_empty();
    Ok(Report {
        ok,
        mode: Mode::Chain,
        since: None,
        checks: vec![chain_check(head.as_ref(), segments, problems)],
        payments: Vec::new(),
        checkpoint: None,
        head: if ok { head } else { None },
    })
}

/// What is wrong with `stored` as the next link of a chain that ends at
/// `expected_from` (`None` while no checkpoint before it chained the
/// ledger), as far as the checkpoints alone tell: its entries are read
/// apart.
fn link_problems(
    stored: &StoredCheckpoint,
    expected_from: Option<i64>,
    key: Option<&SecretString>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if stored.previous_hash != stored.before_hash {
        problems.push(format!("checkpoint {} does not follow the checkpoint before it", stored.id));
    }
    let Some(chained) = &stored.chained else {
        if expected_from.is_some() {
            problems.push(format!(
                "checkpoint {} does not chain the ledger, though one before it did",
                stored.id
            ));
        }
        return problems;
    };
    if checkpoint::Covered::of_stored(stored).hash(key) != stored.hash {
        problems.push(format!(
            "checkpoint {} does not match its hash: it was changed after it was written (or \
             AUDIT_CHECKPOINT_KEY differs from the one it was written with)",
            stored.id
        ));
    }
    let from = expected_from.unwrap_or(0);
    if chained.entries_from != from {
        problems.push(format!(
            "checkpoint {} chains the entries after {}, but the chain before it ends at {from}",
            stored.id, chained.entries_from
        ));
    }
    problems
}

/// `ledger_chain_intact`, from what the walk found.
fn chain_check(head: Option<&CheckpointRef>, segments: usize, problems: Vec<String>) -> Check {
    let detail = match (head, problems.len()) {
        (None, 0) => "no checkpoint chains the ledger yet: `payment-app audit` writes one".to_owned(),
        (Some(head), 0) => format!(
            "{segments} checkpoints chain every ledger entry up to {}; head {}",
            head.last_entry_id, head.hash
        ),
        (_, n) => format!("{n} breaks in the chain over {segments} checkpoints"),
    };
    Check {
        name: "ledger_chain_intact",
        ok: problems.is_empty(),
        detail,
        examples: problems.into_iter().take(5).collect(),
    }
}

/// The statement limit the chain's next segment needs when it is not the
/// run's own: the chain's first link in an incremental run covers all of
/// history, once, after an upgrade from checkpoints that did not chain the
/// entries, and takes as long as a full run may. Under the incremental
/// limit it was cancelled at every run (5 s at ten million payments) and
/// the chain never started.
fn first_link_timeout(mode: Mode, entries_from: i64, config: &AuditConfig) -> Option<Duration> {
    (mode == Mode::Incremental && entries_from == 0).then_some(config.full_timeout)
}

/// The smallest id the events of a payment or refund made from `first`
/// on can have: an event's id is made after its payment's or refund's,
/// possibly by another host whose clock is a little behind.
fn events_from(first: Uuid) -> Uuid {
    if first == Uuid::max() {
        return first;
    }
    // The first 48 bits are the milliseconds since the epoch, in a UUID v7
    // and in the bounds `first_id_at` makes (which carry no version, so
    // `get_timestamp` does not read them: it answered nil for such a bound,
    // and an incremental audit whose payments began at its checkpoint's
    // `new_from` then read every event).
    let ms = i64::try_from(first.as_u128() >> 80).unwrap_or(0);
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(at) if ms > 0 => first_id_at(at - COMMIT_MARGIN).unwrap_or_default(),
        // The nil id, or none at all: every event.
        _ => Uuid::nil(),
    }
}

fn checkpoint_ref(stored: &StoredCheckpoint) -> CheckpointRef {
    CheckpointRef { id: stored.id, last_entry_id: stored.last_entry_id, hash: stored.hash.clone() }
}

/// Every invariant, in the report's order: the balances, the money, what
/// payments and refunds left in the ledger, and the database's own guards.
async fn checks(
    conn: &mut PgConnection,
    scope: &Scope,
    config: &AuditConfig,
    progress: &mut progress::Bar,
) -> Result<Vec<Check>> {
    let mut checks = balance_checks(conn, scope, progress).await?;
    checks.extend(money_checks(conn, scope, progress).await?);
    checks.extend(settlement_checks(conn, scope, progress).await?);
    checks.extend(guard_checks(conn, config, progress).await?);
    Ok(checks)
}

/// Each account's balance: within its credit, equal to its ledger, and
/// each entry's running balance following from the one before.
async fn balance_checks(
    conn: &mut PgConnection,
    scope: &Scope,
    progress: &mut progress::Bar,
) -> Result<Vec<Check>> {
    progress.step("balance_within_credit");
    let within_credit = from_violations(
        "balance_within_credit",
        db::audit::balances_past_credit(conn).await?,
        "accounts with a balance below zero by more than their credit limit",
    );
    progress.step("balances_match_ledger");
    let match_ledger = from_violations(
        "balances_match_ledger",
        db::audit::balances_off_ledger(conn, scope).await?,
        "accounts whose balance differs from their ledger sum",
    );
    progress.step("balance_after_chains");
    let chains = from_violations(
        "balance_after_chains",
        db::audit::balance_chain_broken(conn, scope).await?,
        "ledger entries whose balance_after or held_after does not follow from the entry before",
    );
    Ok(vec![within_credit, match_ledger, chains])
}

/// Money is conserved, in all and per currency, never crosses currencies,
/// and the running issuance total is kept.
async fn money_checks(
    conn: &mut PgConnection,
    scope: &Scope,
    progress: &mut progress::Bar,
) -> Result<Vec<Check>> {
    progress.step("money_conserved");
    let money = db::audit::money_totals(conn, scope).await?;
    let conserved = Check {
        name: "money_conserved",
        ok: money.conserved,
        detail: format!(
            "sum of balances {}, recorded issuance {}; credit used {} of {} granted (minor units)",
            money.balances, money.issuance, money.credit_used, money.credit_limits
        ),
        examples: Vec::new(),
    };
    progress.step("money_conserved_per_currency");
    let per_currency = from_violations(
        "money_conserved_per_currency",
        db::audit::currencies_not_conserved(conn, scope).await?,
        "currencies whose balances differ from their issuance",
    );
    progress.step("no_entry_crosses_currencies");
    let crossings = from_violations(
        "no_entry_crosses_currencies",
        db::audit::currency_crossings(conn, scope).await?,
        "ledger entries or payments across currencies (an entry in another currency than its account's or payment's)",
    );
    let total_kept = Check {
        name: "issuance_total_kept",
        ok: money.total_kept,
        detail: format!(
            "running issuance total {}, issuance in the ledger {} plus credit limits {} (minor units)",
            money.issuance_total, money.issuance, money.credit_limits
        ),
        examples: Vec::new(),
    };
    Ok(vec![conserved, per_currency, crossings, total_kept])
}

/// What payments, holds and refunds left in the ledger matches their
/// status, each reached its end once, and linked sets ended alike.
async fn settlement_checks(
    conn: &mut PgConnection,
    scope: &Scope,
    progress: &mut progress::Bar,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    progress.step("payments_match_ledger");
    checks.push(from_violations(
        "payments_match_ledger",
        db::audit::payments_off_ledger(conn, scope).await?,
        "payments whose ledger entries do not match their status (done: one debit and one credit; otherwise none)",
    ));
    progress.step("holds_match");
    checks.push(from_violations(
        "holds_match",
        db::audit::holds_off(conn).await?,
        "accounts holding more than their balance, or other than their open authorizations",
    ));
    progress.step("refunds_within_payment");
    checks.push(from_violations(
        "refunds_within_payment",
        db::audit::refunds_off(conn, scope).await?,
        "payments capturing more than authorized, refunded past what they captured, or refunded while not done",
    ));
    progress.step("refunds_match_ledger");
    checks.push(from_violations(
        "refunds_match_ledger",
        db::audit::refunds_off_ledger(conn, scope).await?,
        "refunds whose ledger entries do not match their status (done: one debit of the payee, one credit of the payer)",
    ));
    progress.step("ends_reached_once");
    checks.push(from_violations(
        "ends_reached_once",
        db::audit::ends_off(conn, scope).await?,
        "payments or refunds whose end was not recorded exactly once (by their events)",
    ));
    progress.step("linked_sets_uniform");
    checks.push(from_violations(
        "linked_sets_uniform",
        db::audit::linked_sets_split(conn, scope).await?,
        "linked sets (atomic batches) whose payments do not share one status and reason",
    ));
    Ok(checks)
}

/// What keeps the ledger safe besides its numbers: the database's guards,
/// no payment stuck pending, and the app's role holding no more than it
/// needs (when one is named).
async fn guard_checks(
    conn: &mut PgConnection,
    config: &AuditConfig,
    progress: &mut progress::Bar,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    progress.step("ledger_guarded");
    checks.push(from_violations(
        "ledger_guarded",
        db::audit::missing_guards(conn).await?,
        "database guards missing or disabled (ledger entries append-only, settled payments and refunds frozen)",
    ));
    progress.step("no_stuck_pending");
    checks.push(from_violations(
        "no_stuck_pending",
        db::audit::stuck_pending(conn, config.max_pending_age).await?,
        &format!("payments pending for longer than {}s", config.max_pending_age.as_secs()),
    ));
    if let Some(role) = &config.app_role {
        progress.step("app_role_least_privilege");
        checks.push(from_violations(
            "app_role_least_privilege",
            db::audit::app_role_excess(conn, role).await?,
            &format!("rights of app role {role} beyond what payment-app needs"),
        ));
    }
    Ok(checks)
}

fn from_violations(name: &'static str, violations: Violations, what: &str) -> Check {
    Check {
        name,
        ok: violations.count == 0,
        detail: format!("{} {what}", violations.count),
        examples: violations.examples,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.since {
            Some(since) => writeln!(
                f,
                "incremental: entries after {} (checkpoint {}); `--full` checks all of history",
                since.last_entry_id, since.id
            )?,
            None if self.mode == Mode::Full => writeln!(f, "full: all of history")?,
            None if self.mode == Mode::Chain => writeln!(f, "the hash chain over the ledger, recomputed")?,
            None => {}
        }
        for check in &self.checks {
            writeln!(f, "{:4}  {:24} {}", if check.ok { "ok" } else { "FAIL" }, check.name, check.detail)?;
            for example in &check.examples {
                writeln!(f, "      - {example}")?;
            }
        }
        let counts: Vec<String> = self.payments.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let what = if self.mode == Mode::Full { "payments" } else { "payments checked" };
        if self.mode != Mode::Chain {
            writeln!(f, "{what}: {}", if counts.is_empty() { "none".to_owned() } else { counts.join(", ") })?;
        }
        if let Some(head) = &self.head {
            writeln!(
                f,
                "head: checkpoint {}, entries up to {}, hash {}",
                head.id, head.last_entry_id, head.hash
            )?;
        }
        if let Some(written) = &self.checkpoint {
            writeln!(f, "checkpoint {} written: entries up to {}", written.id, written.last_entry_id)?;
        }
        write!(f, "{}", if self.ok { "all invariants hold" } else { "INVARIANTS VIOLATED" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_from_the_margin_before_a_payment_or_a_bound() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T17:00:00Z").unwrap().with_timezone(&Utc);
        let expected = first_id_at(at - COMMIT_MARGIN).unwrap();
        // A bound made by first_id_at (a checkpoint's new_from), and a real
        // UUID v7 made in the same millisecond.
        let bound = first_id_at(at).unwrap();
        let v7 = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_796_662_800, 0));
        assert_eq!(events_from(bound), expected);
        assert_eq!(events_from(v7), expected);
        assert_eq!(events_from(Uuid::nil()), Uuid::nil());
        assert_eq!(events_from(Uuid::max()), Uuid::max());
    }

    #[test]
    fn only_the_chains_first_link_in_an_incremental_run_gets_the_full_runs_limit() {
        let config =
            AuditConfig { timeout: Duration::from_secs(5), ..AuditConfig::new(Duration::from_secs(60)) };
        assert_eq!(first_link_timeout(Mode::Incremental, 0, &config), Some(Duration::from_secs(3600)));
        assert_eq!(first_link_timeout(Mode::Incremental, 19_811_696, &config), None);
        assert_eq!(first_link_timeout(Mode::Full, 0, &config), None);
    }
}
