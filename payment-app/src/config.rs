//! Command line and environment: every setting is a flag and an environment
//! variable, with defaults that work against the services of a dev machine.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use payrail_common::SecretUrl;
use payrail_common::defaults;
use payrail_common::settings::{self, vars};
use payrail_common::telemetry::LogFormat;
use secrecy::SecretString;

use crate::api::auth::TokenLimits;
use crate::api::{ConnectionLimits, ServeLimits};
use crate::broker::{BrokerConfig, Topology};
use crate::db::DbConfig;
use crate::db::export::Export;
use crate::domain::export::{Bound, EmptyInterval, ExportFormat, ExportKind, Interval};
use crate::domain::issuance::IssuanceLimits;
use crate::domain::{AccountId, Amount, Currency};
use crate::intake::IntakeConfig;
use crate::lock::LockConfig;
use crate::webhooks::schedule::DEFAULT_SCHEDULE;
use crate::webhooks::{DeliveryConfig, RetrySchedule, WebhookPolicy};
use crate::worker::lock::LockWorkerConfig;
use crate::worker::publish::PublishConfig;
use crate::worker::refresh::RefreshConfig;
use crate::worker::relay::RelayConfig;
use crate::worker::retention::RetentionConfig;
use crate::worker::settle::SettleWorkerConfig;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/payrail";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Parses a URL that may carry a password. A refusal names the setting and
/// the problem, never the value: clap's own message would echo it.
#[derive(Debug, Clone, Copy)]
pub struct SecretUrlParser;

impl clap::builder::TypedValueParser for SecretUrlParser {
    type Value = SecretUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<SecretUrl, clap::Error> {
        let name = arg.map(ToString::to_string).unwrap_or_else(|| "a URL".to_owned());
        let refuse = |problem: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("invalid {name}: {problem}\n"))
                .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| refuse("it is not UTF-8".into()))?;
        text.parse().map_err(|e: payrail_common::secret::UrlError| refuse(e.to_string()))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "payment-app",
    version,
    about = "payrail: accepts payments over HTTP, locks accounts in Redis, settles them in PostgreSQL",
    long_about = "payrail: accepts payments over HTTP, queues them on RabbitMQ, locks both accounts in \
                  Redis (Redlock over REDIS_URLS) and settles them in a PostgreSQL ledger.\n\n\
                  Run `payment-app all` for the whole flow in one process."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format: readable text, or one JSON object per line [possible values: text, json].
    #[arg(long, env = vars::LOG_FORMAT, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The API and both workers in one process; creates and migrates the database first.
    All(AllArgs),
    /// The HTTP API alone.
    Api(ApiArgs),
    /// One worker alone.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Create the database if needed, apply migrations, exit.
    Migrate(MigrateArgs),
    /// Check the ledger's invariants. Exit 0: all hold; 1: one is violated; 2: could not check.
    Audit(AuditArgs),
    /// Write payments, ledger entries or events created in [--from, --to) as CSV or JSON lines,
    /// streamed from the read replica (the primary when it is down or behind) in flat memory.
    #[command(
        long_about = "Write payments, ledger entries or events created in [--from, --to) as CSV or JSON \
                            lines to standard output (or --output), streamed by PostgreSQL's COPY from the \
                            read replica (DATABASE_READ_URL; the primary when the replica is down or more than \
                            5 s behind) in flat memory, whatever the size. Progress shows on standard error \
                            when it is a terminal.\n\n\
                            Columns: payments: id, from_account, to_account, amount, currency, status, \
                            failure_reason, description, metadata (JSON), capture, amount_captured, \
                            created_at, updated_at; entries: id, account_id, kind, payment_id, refund_id, \
                            amount, balance_after, currency, created_at; events: id, type, payment_id, \
                            refund_id, status, failure_reason, created_at. Amounts are decimal strings with \
                            the currency's decimals, times RFC 3339 UTC. Rows in id order (one account's \
                            entries in their ledger order).\n\n\
                            Exit 0: written; 2: bad input or the export failed (a failure after rows were \
                            written leaves a partial output)."
    )]
    Export(ExportArgs),
    /// List or replay the messages in the dead-letter queue (payrail.dead).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Drive load against a running payrail, wait for every payment to settle, audit, report.
    #[cfg(feature = "bench")]
    Bench(BenchArgs),
    /// Chart a finished run from the database's own timestamps (accepted/s, settled/s, accept→terminal p99) as SVG.
    #[cfg(feature = "bench")]
    BenchChart(BenchChartArgs),
    /// Write a large, audit-clean ledger fast (COPY): accounts, settled and failed payments, entries, events.
    #[cfg(feature = "bench")]
    BenchSeedLedger(BenchSeedLedgerArgs),
}

#[cfg(feature = "bench")]
#[derive(Debug, Args)]
pub struct BenchSeedLedgerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Payments to write (about 2 % fail for insufficient funds, the rest are done).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub payments: u64,
    /// Accounts to open, each issued --initial-balance.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..))]
    pub accounts: u32,
    /// Each account's issuance, in minor units of USD.
    #[arg(long, default_value_t = 100_000_000, value_parser = clap::value_parser!(i64).range(1..=1_000_000_000_000))]
    pub initial_balance: i64,
    /// Payments per COPY round.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk: u32,
    /// The payments are dated evenly over this many days, ending ten minutes ago.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Seed of the generator (amounts and accounts; ids are UUID v7s of the rows' times).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

#[cfg(feature = "bench")]
#[derive(Debug, Args)]
pub struct BenchChartArgs {
    /// The database the run wrote to; every payment in it is charted.
    #[arg(long, env = vars::DATABASE_URL, default_value = DEFAULT_DATABASE_URL, hide_env_values = true, value_parser = SecretUrlParser)]
    pub database_url: SecretUrl,
    /// The chart's title.
    #[arg(long, default_value = "payrail run")]
    pub title: String,
    /// Where the SVG goes.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

#[cfg(feature = "bench")]
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["rate", "concurrency"]))]
pub struct BenchArgs {
    /// Base URL of the payrail API.
    #[arg(long, env = "BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token the server accepts.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The database payrail writes to; settlement is watched and the audit runs there.
    #[arg(long, env = vars::DATABASE_URL, default_value = DEFAULT_DATABASE_URL, hide_env_values = true, value_parser = SecretUrlParser)]
    pub database_url: SecretUrl,
    #[arg(long, value_enum, default_value_t = crate::bench::Scenario::Uniform)]
    pub scenario: crate::bench::Scenario,
    /// Accounts to open [default: 1000 for uniform and hot, 5 for contended].
    #[arg(long)]
    pub accounts: Option<usize>,
    /// Open loop: payments per second, sent on a fixed schedule.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Closed loop: requests kept in flight.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Longest wait for the last payment to settle after sending stops, in seconds.
    #[arg(long, default_value_t = 300)]
    pub settle_timeout: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of throughput and latency over time here.
    #[arg(long)]
    pub chart: Option<std::path::PathBuf>,
    /// Seed of the payment generator (the same seed sends the same payments).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Show every dead-lettered message: payment id, where and why it died. They stay queued.
    List(DeadLettersListArgs),
    /// Send dead-lettered payments back to the lock queue to be locked and settled again.
    Replay(DeadLettersReplayArgs),
}

#[derive(Debug, Args)]
pub struct DeadLettersListArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["payment_id", "all"]))]
pub struct DeadLettersReplayArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Replay this payment's dead letters (repeat the flag for several).
    #[arg(long)]
    pub payment_id: Vec<String>,
    /// Replay every dead-lettered payment.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Locks both accounts of each payment and forwards it to settle.
    Lock(LockWorkerArgs),
    /// Applies locked payments to the ledger and releases their locks; also runs the relay.
    Settle(SettleWorkerArgs),
}

#[derive(Debug, Args)]
pub struct AllArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub lock_worker: LockTuning,
    #[command(flatten)]
    pub settle_worker: SettleTuning,
    #[command(flatten)]
    pub relay: RelayArgs,
    #[command(flatten)]
    pub statements: StatementArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub events: EventsArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    /// Do not create the database or apply migrations at start (run `payment-app migrate` instead).
    #[arg(long, env = "SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    /// The refresh interval the settle side uses: /readyz reports the
    /// statement view stale when it has not been refreshed for a while.
    #[command(flatten)]
    pub statements: StatementArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
}

#[derive(Debug, Args)]
pub struct LockWorkerArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub tuning: LockTuning,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
}

#[derive(Debug, Args)]
pub struct SettleWorkerArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub tuning: SettleTuning,
    #[command(flatten)]
    pub relay: RelayArgs,
    #[command(flatten)]
    pub statements: StatementArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub events: EventsArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The role payment-app connects as, apart from the one applying migrations: granted what the
    /// app does and nothing more (no schema changes, no UPDATE or DELETE of ledger entries, no
    /// DELETE of payments), on every run. Refused if it is a superuser or this same role.
    #[arg(long, env = vars::DB_APP_ROLE)]
    pub app_role: Option<String>,
    /// Create the app role if missing and set this password on it (needs CREATEROLE); without it
    /// the role must exist already.
    #[arg(long, env = vars::DB_APP_PASSWORD, hide_env_values = true, requires = "app_role")]
    pub app_role_password: Option<SecretString>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// A payment pending for longer than this many seconds counts as stuck.
    #[arg(long, env = "AUDIT_MAX_PENDING_AGE_SECS", default_value_t = 60)]
    pub max_pending_age_secs: u64,
    /// Also check that this role, the one payment-app connects as, holds no more than it needs.
    #[arg(long, env = vars::DB_APP_ROLE)]
    pub app_role: Option<String>,
    /// Check all of history again instead of what came after the last checkpoint (a run that
    /// passes records one); under --full-timeout-secs instead of DB_TIMEOUT_MS.
    #[arg(long, conflicts_with = "verify_chain")]
    pub full: bool,
    /// Only recompute the hash chain the checkpoints keep over the ledger, from the first entry
    /// to the last checkpoint, and report any entry changed, deleted or inserted since it was
    /// chained (under --full-timeout-secs; writes nothing).
    #[arg(long)]
    pub verify_chain: bool,
    /// Longest any statement of a full audit may run, in seconds (the first audit, with no
    /// checkpoint yet, is a full one).
    #[arg(long, env = "AUDIT_FULL_TIMEOUT_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub full_timeout_secs: u64,
    /// Show progress on standard error even when it is not a terminal (on a terminal it is
    /// always shown, unless --json).
    #[arg(long)]
    pub progress: bool,
    /// Key of the checkpoints' hash (HMAC-SHA-256); without it a plain SHA-256, which notices
    /// an edit that does not also redo the hash. Keep it where the database's writers cannot read it.
    #[arg(long, env = "AUDIT_CHECKPOINT_KEY", hide_env_values = true)]
    pub checkpoint_key: Option<SecretString>,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportWhat {
    Payments,
    Entries,
    Events,
}

/// How `export` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormatArg {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub what: ExportWhat,
    /// Rows created at or after this instant (RFC 3339, or a date: its midnight UTC).
    #[arg(long)]
    pub from: Option<Bound>,
    /// Rows created before this instant (RFC 3339, or a date: its midnight UTC).
    #[arg(long)]
    pub to: Option<Bound>,
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Csv)]
    pub format: ExportFormatArg,
    /// Only this account's rows: its entries, the payments it pays or is paid, their events.
    #[arg(long)]
    pub account: Option<AccountId>,
    /// Write to this file instead of standard output (created or truncated).
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
    /// Show progress on standard error even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

impl ExportArgs {
    /// The export asked for; refuses an interval that ends before it starts.
    pub fn export(&self) -> Result<Export, EmptyInterval> {
        Ok(Export {
            kind: match self.what {
                ExportWhat::Payments => ExportKind::Payments,
                ExportWhat::Entries => ExportKind::Entries,
                ExportWhat::Events => ExportKind::Events,
            },
            format: match self.format {
                ExportFormatArg::Csv => ExportFormat::Csv,
                ExportFormatArg::Jsonl => ExportFormat::Jsonl,
            },
            interval: Interval::new(self.from.map(|b| b.0), self.to.map(|b| b.0))?,
            account: self.account,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL primary: all writes, and every read that decides anything.
    #[arg(long, env = vars::DATABASE_URL, default_value = DEFAULT_DATABASE_URL, hide_env_values = true, value_parser = SecretUrlParser)]
    pub database_url: SecretUrl,
    /// PostgreSQL read replica for client reads [default: the primary].
    #[arg(long, env = vars::DATABASE_READ_URL, hide_env_values = true, value_parser = SecretUrlParser)]
    pub database_read_url: Option<SecretUrl>,
    /// Connections per pool (primary and replica each).
    #[arg(long, env = settings::DB_POOL_SIZE.env, default_value_t = settings::DB_POOL_SIZE.default, value_parser = clap::value_parser!(u32).range(i64::from(settings::DB_POOL_SIZE.min)..=i64::from(settings::DB_POOL_SIZE.max)))]
    pub db_pool_size: u32,
    /// Longest wait for a pooled connection, and longest any statement may run, in milliseconds.
    #[arg(long, env = "DB_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    pub db_timeout_ms: u64,
}

impl DatabaseArgs {
    pub fn config(&self) -> DbConfig {
        DbConfig {
            url: self.database_url.clone(),
            read_url: self.database_read_url.clone(),
            pool_size: self.db_pool_size,
            acquire_timeout: Duration::from_millis(self.db_timeout_ms),
            statement_timeout: Duration::from_millis(self.db_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// RabbitMQ; every queue payrail declares lives in this URL's vhost. Several nodes of one
    /// cluster, comma-separated, are tried in turn on connect and on every reconnect
    /// [default: amqp://guest:***@127.0.0.1:5672/%2f].
    #[arg(long, env = vars::AMQP_URL, value_delimiter = ',', default_value = DEFAULT_AMQP_URL, hide_default_value = true, hide_env_values = true, value_parser = SecretUrlParser)]
    pub amqp_url: Vec<SecretUrl>,
    /// How long a payment whose accounts are locked waits before the lock is tried again, in milliseconds.
    #[arg(long, env = "LOCK_RETRY_DELAY_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub lock_retry_delay_ms: u64,
    /// Deliveries of one message before it goes to the dead-letter queue (payrail.dead).
    #[arg(long, env = "DELIVERY_LIMIT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub delivery_limit: u32,
    /// Longest wait for connecting to the broker, and for one publish and its confirm, in milliseconds.
    #[arg(long, env = "BROKER_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    pub broker_timeout_ms: u64,
}

impl BrokerArgs {
    pub fn config(&self) -> BrokerConfig {
        BrokerConfig {
            urls: self.amqp_url.clone(),
            topology: Topology {
                retry_delay: Duration::from_millis(self.lock_retry_delay_ms),
                delivery_limit: self.delivery_limit,
            },
            timeout: Duration::from_millis(self.broker_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// A payment still pending this many seconds after it was accepted is published again
    /// (it may never have reached the broker).
    #[arg(long, env = "RELAY_AFTER_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_after_secs: u64,
    /// How often the relay looks for such payments, in seconds.
    #[arg(long, env = "RELAY_INTERVAL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_interval_secs: u64,
}

impl RelayArgs {
    pub fn config(&self) -> RelayConfig {
        RelayConfig {
            stale_after: Duration::from_secs(self.relay_after_secs),
            interval: Duration::from_secs(self.relay_interval_secs),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct StatementArgs {
    /// How often the per-day statement totals are brought up to date (by one instance at a time,
    /// adding the entries written since the last time), in seconds.
    #[arg(long, env = "STATEMENT_REFRESH_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub statement_refresh_secs: u64,
}

/// What is removed once old enough (run beside settle).
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Events (the feed, webhooks) and webhook delivery attempts older than this many days are
    /// removed; 0 keeps them for ever. Idempotency keys go after their 24 hours either way.
    #[arg(long, env = "EVENTS_RETENTION_DAYS", default_value_t = 30)]
    pub events_retention_days: u32,
    /// How often retention looks for what to remove, in seconds.
    #[arg(long, env = "RETENTION_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_interval_secs: u64,
    /// Most rows one statement of retention removes (it repeats until none is left).
    #[arg(long, env = "RETENTION_BATCH", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub retention_batch: u32,
}

/// Publishing every event to the `payrail.events` exchange (where settle runs).
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Most events published and confirmed at once (and sent again after a failure mid-batch).
    #[arg(long, env = "EVENTS_PUBLISH_BATCH", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub events_publish_batch: u32,
    /// How often the events publisher looks for new events when it found none, in milliseconds.
    #[arg(long, env = "EVENTS_PUBLISH_INTERVAL_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub events_publish_interval_ms: u64,
}

impl EventsArgs {
    pub fn config(&self) -> PublishConfig {
        PublishConfig {
            batch: self.events_publish_batch,
            interval: Duration::from_millis(self.events_publish_interval_ms),
        }
    }
}

impl RetentionArgs {
    pub fn config(&self) -> RetentionConfig {
        RetentionConfig {
            events_days: self.events_retention_days,
            interval: Duration::from_secs(self.retention_interval_secs),
            batch: self.retention_batch,
        }
    }
}

impl StatementArgs {
    pub fn config(&self) -> RefreshConfig {
        RefreshConfig { interval: Duration::from_secs(self.statement_refresh_secs) }
    }
}

/// Webhooks: what registration allows (read by the API) and how events are
/// delivered (read where settle runs, which runs the delivery worker).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Accept http:// endpoint URLs, not only https:// (local development and tests).
    #[arg(long, env = vars::WEBHOOK_ALLOW_HTTP)]
    pub webhook_allow_http: bool,
    /// Send to loopback, private and link-local addresses, which are otherwise refused at
    /// registration and again after DNS resolution at delivery (local development and tests).
    #[arg(long, env = vars::WEBHOOK_ALLOW_PRIVATE)]
    pub webhook_allow_private: bool,
    /// Most webhook endpoints registered at once.
    #[arg(long, env = settings::WEBHOOK_MAX_ENDPOINTS.env, default_value_t = settings::WEBHOOK_MAX_ENDPOINTS.default, value_parser = clap::value_parser!(u16).range(i64::from(settings::WEBHOOK_MAX_ENDPOINTS.min)..=i64::from(settings::WEBHOOK_MAX_ENDPOINTS.max)))]
    pub webhook_max_endpoints: u16,
    /// Longest one delivery attempt may take before it counts as failed, in milliseconds.
    #[arg(long, env = settings::WEBHOOK_TIMEOUT_MS.env, default_value_t = settings::WEBHOOK_TIMEOUT_MS.default, value_parser = clap::value_parser!(u64).range(settings::WEBHOOK_TIMEOUT_MS.min..=settings::WEBHOOK_TIMEOUT_MS.max))]
    pub webhook_timeout_ms: u64,
    /// Delays before each retry of a failed delivery, comma-separated, with units ms, s, m, h, d
    /// (each with ±20% jitter); after the last the delivery is given up.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", default_value = DEFAULT_SCHEDULE)]
    pub webhook_retry_schedule: RetrySchedule,
    /// Delivery attempts in flight in one process.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub webhook_concurrency: u16,
    /// Delivery attempts in flight to one endpoint, across instances.
    #[arg(long, env = "WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub webhook_endpoint_concurrency: u16,
    /// How often the delivery worker looks for due deliveries when it has none, in milliseconds.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
}

impl WebhookArgs {
    pub fn policy(&self) -> WebhookPolicy {
        WebhookPolicy {
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
            max_endpoints: usize::from(self.webhook_max_endpoints),
        }
    }

    pub fn delivery(&self) -> DeliveryConfig {
        DeliveryConfig {
            timeout: Duration::from_millis(self.webhook_timeout_ms),
            schedule: self.webhook_retry_schedule.clone(),
            concurrency: usize::from(self.webhook_concurrency),
            per_endpoint: usize::from(self.webhook_endpoint_concurrency),
            poll_interval: Duration::from_millis(self.webhook_poll_ms),
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis nodes for the account lock, comma-separated; with several, a majority must grant it (Redlock).
    /// A database index in a URL (redis://host:6379/3) is used.
    #[arg(long, env = vars::REDIS_URLS, value_delimiter = ',', default_value = DEFAULT_REDIS_URL, hide_env_values = true, value_parser = SecretUrlParser)]
    pub redis_urls: Vec<SecretUrl>,
    /// How long an account lock lives unless released, in milliseconds.
    #[arg(long, env = settings::LOCK_TTL_MS.env, default_value_t = settings::LOCK_TTL_MS.default, value_parser = clap::value_parser!(u64).range(settings::LOCK_TTL_MS.min..=settings::LOCK_TTL_MS.max))]
    pub lock_ttl_ms: u64,
    /// Longest wait for one Redis node on one call, in milliseconds.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_timeout_ms: u64,
    /// Prefix of every Redis key payrail writes.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "payrail")]
    pub redis_key_prefix: String,
}

impl RedisArgs {
    pub fn lock_config(&self) -> LockConfig {
        LockConfig {
            urls: self.redis_urls.clone(),
            ttl: Duration::from_millis(self.lock_ttl_ms),
            node_timeout: Duration::from_millis(self.redis_timeout_ms),
            key_prefix: self.redis_key_prefix.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = vars::HTTP_ADDR, default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Address of the operations port: /healthz, /readyz and /metrics, without a token. When set,
    /// /readyz and /metrics are served there only, so that whatever publishes HTTP_ADDR (an
    /// Ingress, a load balancer) does not publish them; unset, they are served on HTTP_ADDR.
    #[arg(long, env = vars::OPS_ADDR)]
    pub ops_addr: Option<SocketAddr>,
    /// Longest a request may take before it is answered 503 `timeout`, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub request_timeout_ms: u64,
    /// Most /api/v1 requests served at once; more are answered 503 `overloaded` (with Retry-After)
    /// and record nothing. Bounds memory and latency under overload.
    #[arg(long, env = "HTTP_MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_in_flight: u16,
    /// Bearer tokens accepted on /api/v1, comma-separated, each `TOKEN` (every scope) or
    /// `TOKEN=SCOPE+SCOPE` with scopes read, pay, issue, admin; at least 16 characters each. When
    /// none is set, a token is generated at start and printed once on standard output.
    #[arg(long, env = vars::API_TOKENS, value_delimiter = ',', hide_env_values = true)]
    pub api_tokens: Vec<String>,
    /// Requests per second each token may make, sustained; more are answered 429 `rate_limited`.
    #[arg(long, env = settings::API_RATE_PER_SEC.env, default_value_t = settings::API_RATE_PER_SEC.default, value_parser = clap::value_parser!(u32).range(i64::from(settings::API_RATE_PER_SEC.min)..=i64::from(settings::API_RATE_PER_SEC.max)))]
    pub api_rate_per_sec: u32,
    /// Requests each token may make at once above its sustained rate.
    #[arg(long, env = settings::API_RATE_BURST.env, default_value_t = settings::API_RATE_BURST.default, value_parser = clap::value_parser!(u32).range(i64::from(settings::API_RATE_BURST.min)..=i64::from(settings::API_RATE_BURST.max)))]
    pub api_rate_burst: u32,
    /// Most requests one token may have in flight [default: HTTP_MAX_IN_FLIGHT with one token,
    /// three quarters of it with several, so no one client takes every slot].
    #[arg(long, env = settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.env, value_parser = clap::value_parser!(u16).range(i64::from(settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.min)..=i64::from(settings::HTTP_MAX_IN_FLIGHT_PER_TOKEN.max)))]
    pub max_in_flight_per_token: Option<u16>,
    /// Most connections open at once; more wait to be accepted. Bounds the memory idle and slow
    /// clients can take.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Most connections one client address may hold at once; more are closed as soon as they are
    /// accepted. Behind a proxy that connects from one address, raise it to HTTP_MAX_CONNECTIONS.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,
    /// Most connections at once on which no request has presented a valid token yet; past it, the
    /// oldest of them is closed (as is one when every connection is taken and another client
    /// connects), so clients without a token cannot lock authenticated ones out.
    #[arg(long, env = "HTTP_MAX_UNAUTHENTICATED_CONNECTIONS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_unauthenticated_connections: u32,
    /// A connection on which no request presented a valid token within this many seconds of its
    /// opening is closed (probes and scrapes reconnect).
    #[arg(long, env = "HTTP_UNAUTHENTICATED_CONNECTION_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub unauthenticated_connection_secs: u64,
    /// Longest a client may take to send a request's headers, in milliseconds; then the connection
    /// is closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..))]
    pub header_read_timeout_ms: u64,
    /// A connection on which nothing was sent or received for this many seconds is closed.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Longest a request's body may take to arrive, in milliseconds; then 408 `body_timeout`, nothing
    /// recorded. Read before the request takes one of HTTP_MAX_IN_FLIGHT.
    #[arg(long, env = "HTTP_BODY_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..))]
    pub body_timeout_ms: u64,
    /// Most payments in one POST /api/v1/payments/batch; more are refused whole (422
    /// `too_many_items`). The route's body limit is 4 KiB per item allowed (at least 64 KiB).
    #[arg(long, env = "BATCH_MAX_ITEMS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_max_items: u32,
    /// ISO 4217 code of the currency of accounts opened without one (`"currency"` in the request).
    #[arg(long, env = vars::DEFAULT_CURRENCY, default_value = defaults::DEFAULT_CURRENCY)]
    pub default_currency: Currency,
    #[command(flatten)]
    pub intake: IntakeArgs,
    #[command(flatten)]
    pub issuance: IssuanceArgs,
}

impl HttpArgs {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn serve_limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections as usize,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            clients: ConnectionLimits {
                per_client: self.max_connections_per_client as usize,
                unauthenticated: self.max_unauthenticated_connections as usize,
                unauthenticated_for: Duration::from_secs(self.unauthenticated_connection_secs),
            },
        }
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// How hard each of `tokens` tokens may use the API.
    pub fn token_limits(&self, tokens: usize) -> TokenLimits {
        let all = usize::from(self.max_in_flight);
        let share = if tokens > 1 { (all * 3 / 4).max(1) } else { all };
        TokenLimits {
            per_second: NonZeroU32::new(self.api_rate_per_sec).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(self.api_rate_burst).unwrap_or(NonZeroU32::MIN),
            in_flight: self.max_in_flight_per_token.map_or(share, |n| usize::from(n).min(all)),
        }
    }
}

/// How much money may be issued: the only way money enters payrail is an
/// account's initial balance. Bounded issuance also keeps every balance
/// (and sum of balances) far from the largest a balance can hold.
#[derive(Debug, Clone, Args)]
pub struct IssuanceArgs {
    /// Largest initial balance an account may be opened with; more is refused with 422
    /// `issuance_limit_exceeded`.
    #[arg(long, env = settings::MAX_ACCOUNT_ISSUANCE.env, default_value = settings::MAX_ACCOUNT_ISSUANCE.default)]
    pub max_account_issuance: Amount,
    /// Most money issued in all, over every account ever opened; an opening that would pass it is
    /// refused with 422 `issuance_limit_exceeded`.
    #[arg(long, env = settings::MAX_TOTAL_ISSUANCE.env, default_value = settings::MAX_TOTAL_ISSUANCE.default)]
    pub max_total_issuance: Amount,
}

impl IssuanceArgs {
    pub fn limits(&self) -> IssuanceLimits {
        IssuanceLimits { per_account: self.max_account_issuance, total: self.max_total_issuance }
    }
}

/// How payments without an Idempotency-Key are grouped at intake. A payment
/// never waits for others: a group is whatever arrived while the previous
/// groups were being recorded, so grouping only happens under load.
#[derive(Debug, Clone, Args)]
pub struct IntakeArgs {
    /// Most payments recorded with one insert and queued as one message.
    #[arg(long, env = "INTAKE_GROUP_MAX", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub intake_group_max: u16,
    /// Groups of payments being recorded at once.
    #[arg(long, env = "INTAKE_GROUPS_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub intake_groups_in_flight: u16,
    /// Longest a payment waits for an account row another session holds, in milliseconds; then it
    /// is refused with 503 `account_busy` and nothing is recorded. Payments on other accounts never
    /// wait behind it.
    #[arg(long, env = settings::INTAKE_LOCK_TIMEOUT_MS.env, default_value_t = settings::INTAKE_LOCK_TIMEOUT_MS.default, value_parser = clap::value_parser!(u64).range(settings::INTAKE_LOCK_TIMEOUT_MS.min..=settings::INTAKE_LOCK_TIMEOUT_MS.max))]
    pub intake_lock_timeout_ms: u64,
}

impl IntakeArgs {
    pub fn config(&self) -> IntakeConfig {
        IntakeConfig {
            group_max: usize::from(self.intake_group_max),
            groups_in_flight: usize::from(self.intake_groups_in_flight),
            lock_timeout: Duration::from_millis(self.intake_lock_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct LockTuning {
    /// Messages the lock worker holds unacknowledged.
    #[arg(long, env = settings::LOCK_PREFETCH.env, default_value_t = settings::LOCK_PREFETCH.default, value_parser = clap::value_parser!(u16).range(i64::from(settings::LOCK_PREFETCH.min)..=i64::from(settings::LOCK_PREFETCH.max)))]
    pub lock_prefetch: u16,
    /// Most payments locked together and forwarded to settle as one message.
    #[arg(long, env = "LOCK_BATCH_MAX", default_value_t = defaults::LOCK_BATCH_MAX, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub lock_batch_max: u16,
    /// Lock batches' worth of payments the lock worker keeps waiting for their locks at once (its
    /// pool holds LOCK_BATCH_MAX times this many; the rest waits in the queue).
    #[arg(long, env = "LOCK_CONCURRENCY", default_value_t = defaults::LOCK_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub lock_concurrency: u16,
}

impl LockTuning {
    pub fn config(&self) -> LockWorkerConfig {
        LockWorkerConfig {
            prefetch: self.lock_prefetch,
            batch_max: usize::from(self.lock_batch_max),
            concurrency: usize::from(self.lock_concurrency),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SettleTuning {
    /// Messages (each a batch of locked payments) the settle worker holds unacknowledged.
    #[arg(long, env = settings::SETTLE_PREFETCH.env, default_value_t = settings::SETTLE_PREFETCH.default, value_parser = clap::value_parser!(u16).range(i64::from(settings::SETTLE_PREFETCH.min)..=i64::from(settings::SETTLE_PREFETCH.max)))]
    pub settle_prefetch: u16,
    /// Most messages settle applies in one transaction.
    #[arg(long, env = settings::SETTLE_BATCH_MAX.env, default_value_t = settings::SETTLE_BATCH_MAX.default, value_parser = clap::value_parser!(u16).range(i64::from(settings::SETTLE_BATCH_MAX.min)..=i64::from(settings::SETTLE_BATCH_MAX.max)))]
    pub settle_batch_max: u16,
}

impl SettleTuning {
    pub fn config(&self) -> SettleWorkerConfig {
        SettleWorkerConfig { prefetch: self.settle_prefetch, batch_max: usize::from(self.settle_batch_max) }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ShutdownArgs {
    /// On SIGTERM/SIGINT, how long the whole stop may take (every part together) before the
    /// process exits anyway, in seconds.
    #[arg(long, env = settings::SHUTDOWN_TIMEOUT_SECS.env, default_value_t = settings::SHUTDOWN_TIMEOUT_SECS.default, value_parser = clap::value_parser!(u64).range(settings::SHUTDOWN_TIMEOUT_SECS.min..=settings::SHUTDOWN_TIMEOUT_SECS.max))]
    pub shutdown_timeout_secs: u64,
}

impl ShutdownArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Read from the command definition, not from a parse, so that an
    /// exported DATABASE_URL on the machine running the test changes nothing.
    #[test]
    fn defaults_work_on_a_dev_machine() {
        let command = Cli::command();
        let all = command.find_subcommand("all").expect("all exists");
        let default_of = |id: &str| {
            let arg = all.get_arguments().find(|a| a.get_id() == id).expect("argument exists");
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>()
        };
        assert_eq!(default_of("database_url"), [DEFAULT_DATABASE_URL]);
        assert_eq!(default_of("amqp_url"), [DEFAULT_AMQP_URL]);
        assert_eq!(default_of("redis_urls"), [DEFAULT_REDIS_URL]);
        // The port the operator's Service and probes use (payrail_common::defaults).
        assert_eq!(default_of("http_addr"), [format!("0.0.0.0:{}", defaults::HTTP_PORT)]);
        assert_eq!(DEFAULT_DATABASE_URL, "postgres://postgres@127.0.0.1:5432/payrail");
    }

    #[test]
    fn redis_urls_split_on_commas() {
        let cli = Cli::try_parse_from([
            "payment-app",
            "worker",
            "lock",
            "--redis-urls",
            "redis://a:1/2,redis://b:1/2, redis://c:1/2",
        ])
        .expect("parses");
        let Command::Worker(WorkerCommand::Lock(args)) = cli.command else { panic!("expected worker lock") };
        let urls: Vec<String> =
            args.redis.lock_config().urls.iter().map(|u| u.expose_secret().to_owned()).collect();
        assert_eq!(urls, ["redis://a:1/2", "redis://b:1/2", "redis://c:1/2"]);
    }

    #[test]
    fn amqp_url_is_a_list_of_secret_urls_in_the_given_order() {
        let cli = Cli::try_parse_from([
            "payment-app",
            "worker",
            "lock",
            "--amqp-url",
            "amqp://u:s3cret@a:5672/v,amqp://u:s3cret@b:5673/v, amqp://u:s3cret@c:5674/v",
        ])
        .expect("parses");
        let Command::Worker(WorkerCommand::Lock(args)) = cli.command else { panic!("expected worker lock") };
        let config = args.broker.config();
        let urls: Vec<&str> = config.urls.iter().map(|u| u.expose_secret()).collect();
        assert_eq!(
            urls,
            ["amqp://u:s3cret@a:5672/v", "amqp://u:s3cret@b:5673/v", "amqp://u:s3cret@c:5674/v"]
        );
        assert!(!format!("{config:?}").contains("s3cret"), "{config:?}");
    }

    #[test]
    fn a_bad_amqp_url_entry_is_refused_without_showing_the_list() {
        let e = Cli::try_parse_from([
            "payment-app",
            "worker",
            "lock",
            "--amqp-url",
            "amqp://u:s3cret@a/v,nonsense",
        ])
        .expect_err("the second entry is no URL");
        let message = e.to_string();
        assert!(message.contains("--amqp-url"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn rejects_a_zero_prefetch() {
        assert!(Cli::try_parse_from(["payment-app", "worker", "lock", "--lock-prefetch", "0"]).is_err());
    }
}
