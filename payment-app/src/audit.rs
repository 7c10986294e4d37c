//! `payment-app audit`: checks the invariants of the ledger against the
//! database and reports each one, for people (text) and machines (JSON).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use crate::db::{self, audit::Violations};
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

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
    /// Payments by status, for context.
    pub payments: Vec<(String, i64)>,
}

/// Runs every check. Reads the primary: an audit of a lagging replica would
/// report the lag, not the ledger.
/// With `app_role`, also checks that the role payment-app connects as holds
/// no more than it needs.
pub async fn run(primary: &PgPool, max_pending_age: Duration, app_role: Option<&str>) -> Result<Report> {
    let negative = db::audit::negative_balances(primary).await?;
    let off_ledger = db::audit::balances_off_ledger(primary).await?;
    let money = db::audit::money_totals(primary).await?;
    let per_currency = db::audit::currencies_not_conserved(primary).await?;
    let crossings = db::audit::currency_crossings(primary).await?;
    let payments_off = db::audit::payments_off_ledger(primary).await?;
    let holds_off = db::audit::holds_off(primary).await?;
    let refunds_off = db::audit::refunds_off(primary).await?;
    let refunds_off_ledger = db::audit::refunds_off_ledger(primary).await?;
    let ends_off = db::audit::ends_off(primary).await?;
    let linked_split = db::audit::linked_sets_split(primary).await?;
    let stuck = db::audit::stuck_pending(primary, max_pending_age).await?;
    let guards = db::audit::missing_guards(primary).await?;
    let payments = db::audit::payment_counts(primary).await?;
    let role = match app_role {
        Some(role) => Some((role, db::audit::app_role_excess(primary, role).await?)),
        None => None,
    };

    let mut checks = vec![
        from_violations("no_negative_balance", negative, "accounts with a negative balance"),
        from_violations(
            "balances_match_ledger",
            off_ledger,
            "accounts whose balance differs from their ledger sum",
        ),
        Check {
            name: "money_conserved",
            ok: money.conserved,
            detail: format!(
                "sum of balances {}, recorded issuance {} (minor units)",
                money.balances, money.issuance
            ),
            examples: Vec::new(),
        },
        from_violations(
            "money_conserved_per_currency",
            per_currency,
            "currencies whose balances differ from their issuance",
        ),
        from_violations(
            "no_entry_crosses_currencies",
            crossings,
            "ledger entries or payments across currencies (an entry in another currency than its account's or payment's)",
        ),
        Check {
            name: "issuance_total_kept",
            ok: money.total_kept,
            detail: format!(
                "running issuance total {}, issuance in the ledger {} (minor units)",
                money.issuance_total, money.issuance
            ),
            examples: Vec::new(),
        },
        from_violations(
            "payments_match_ledger",
            payments_off,
            "payments whose ledger entries do not match their status (done: one debit and one credit; otherwise none)",
        ),
        from_violations(
            "holds_match",
            holds_off,
            "accounts holding more than their balance, or other than their open authorizations",
        ),
        from_violations(
            "refunds_within_payment",
            refunds_off,
            "payments capturing more than authorized, refunded past what they captured, or refunded while not done",
        ),
        from_violations(
            "refunds_match_ledger",
            refunds_off_ledger,
            "refunds whose ledger entries do not match their status (done: one debit of the payee, one credit of the payer)",
        ),
        from_violations(
            "ends_reached_once",
            ends_off,
            "payments or refunds whose end was not recorded exactly once (by their events)",
        ),
        from_violations(
            "linked_sets_uniform",
            linked_split,
            "linked sets (atomic batches) whose payments do not share one status and reason",
        ),
        from_violations(
            "ledger_guarded",
            guards,
            "database guards missing or disabled (ledger entries append-only, settled payments and refunds frozen)",
        ),
        from_violations(
            "no_stuck_pending",
            stuck,
            &format!("payments pending for longer than {}s", max_pending_age.as_secs()),
        ),
    ];
    if let Some((role, excess)) = role {
        checks.push(from_violations(
            "app_role_least_privilege",
            excess,
            &format!("rights of app role {role} beyond what payment-app needs"),
        ));
    }
    Ok(Report { ok: checks.iter().all(|c| c.ok), checks, payments })
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
        for check in &self.checks {
            writeln!(f, "{:4}  {:24} {}", if check.ok { "ok" } else { "FAIL" }, check.name, check.detail)?;
            for example in &check.examples {
                writeln!(f, "      - {example}")?;
            }
        }
        let counts: Vec<String> = self.payments.iter().map(|(s, n)| format!("{n} {s}")).collect();
        writeln!(f, "payments: {}", if counts.is_empty() { "none".to_owned() } else { counts.join(", ") })?;
        write!(f, "{}", if self.ok { "all invariants hold" } else { "INVARIANTS VIOLATED" })
    }
}
