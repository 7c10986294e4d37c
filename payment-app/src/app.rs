//! Runs each subcommand: connects what it needs, starts its parts, and
//! stops them together on SIGTERM/SIGINT or on the first failure.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::{self, AppState, auth::ApiTokens};
use crate::audit;
#[cfg(feature = "bench")]
use crate::bench;
use crate::broker::events::EventsPublisher;
use crate::broker::{Broker, DEAD_LETTER_QUEUE, LOCK_QUEUE, Publisher};
use crate::config::{
    AllArgs, ApiArgs, AuditArgs, Command, DatabaseArgs, DeadLettersCommand, EventsArgs, ExportArgs, HttpArgs,
    LockWorkerArgs, RelayArgs, RetentionArgs, SettleWorkerArgs, StatementArgs, WebhookArgs, WorkerCommand,
};
use crate::db::{self, Db};
use crate::dead_letters;
use crate::error::{Error, Result, chain};
use crate::export;
use crate::intake::{Grouper, Intake};
use crate::lock::AccountLock;
use crate::webhooks::Deliverer;
use crate::worker::{
    lock::LockWorker, publish::Publisher as EventPublisher, refresh::StatementRefresher, relay::Relay,
    retention::Retention, settle::SettleWorker, throughput::ThroughputRollup,
};

/// Runs one subcommand to its end.
pub async fn run(command: Command) -> Result<ExitCode> {
    let shutdown = payrail_common::shutdown::on_signal();
    match command {
        Command::All(args) => run_all(args, shutdown).await?,
        Command::Api(args) => run_api(args, shutdown).await?,
        Command::Worker(WorkerCommand::Lock(args)) => run_lock_worker(args, shutdown).await?,
        Command::Worker(WorkerCommand::Settle(args)) => run_settle_worker(args, shutdown).await?,
        Command::Migrate(args) => {
            let db = migrate(&args.db).await?;
            info!("migrations applied");
            if let Some(role) = &args.app_role {
                db::grant_app_role(&db.primary, role, args.app_role_password.as_ref()).await?;
                info!(role, "app role granted what payment-app needs");
            }
            db.close().await;
        }
        Command::Audit(args) => return Ok(run_audit(args).await),
        Command::Export(args) => return Ok(run_export(args).await),
        Command::DeadLetters(command) => run_dead_letters(command).await?,
        #[cfg(feature = "bench")]
        Command::Bench(args) => return run_bench(args).await,
        #[cfg(feature = "bench")]
        Command::BenchChart(args) => {
            bench::chart_from_database(&args.database_url, &args.title, &args.out).await?
        }
        #[cfg(feature = "bench")]
        Command::BenchSeedLedger(args) => return seed_ledger(args).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(args: &DatabaseArgs) -> Result<Db> {
    db::ensure_database(&args.database_url).await?;
    let db = Db::connect(&args.config()).await?;
    db::migrate(&db.primary).await?;
    Ok(db)
}

/// A superuser can do anything to the ledger, its guards included: say so
/// at start, since nothing else will.
async fn warn_if_superuser(db: &Db) {
    if db::is_superuser(&db.primary).await.unwrap_or(false) {
        warn!(
            "connected to PostgreSQL as a superuser: run payment-app as a role of its own (payment-app migrate --app-role)"
        );
    }
}

/// The API's state, and the intake's grouper, which must run beside it.
fn app_state(
    http: &HttpArgs,
    statements: &StatementArgs,
    webhooks: &WebhookArgs,
    db: &Db,
    broker: &Broker,
    publisher: &Publisher,
    lock: Option<&AccountLock>,
) -> Result<(AppState, Grouper)> {
    let entries: Vec<String> = http.api_tokens.iter().filter(|t| !t.trim().is_empty()).cloned().collect();
    let entries = if entries.is_empty() {
        // Usable out of the box on a dev machine, never open: a token for
        // this run only, shown once to whoever started the process.
        let generated = uuid::Uuid::new_v4().simple().to_string();
        #[allow(clippy::print_stdout)]
        {
            println!("API_TOKENS is not set: this run accepts the generated token {generated}");
            println!("  curl -H 'Authorization: Bearer {generated}' ...");
        }
        vec![generated]
    } else {
        entries
    };
    let tokens = ApiTokens::parse(entries.iter().cloned(), http.token_limits(entries.len()))?;
    let (intake, grouper) = Intake::new(db, publisher, &http.intake.config());
    let state = AppState {
        db: db.clone(),
        broker: broker.clone(),
        intake,
        lock: lock.cloned(),
        tokens,
        issuance: http.issuance.limits(),
        default_currency: http.default_currency,
        statements: statements.config(),
        request_timeout: http.request_timeout(),
        max_in_flight: usize::from(http.max_in_flight),
        body_timeout: http.body_timeout(),
        webhooks: webhooks.policy(),
        batch_max_items: http.batch_max_items as usize,
        ready: Default::default(),
    };
    Ok((state, grouper))
}

/// The API's listener, and the operations port's when `OPS_ADDR` is set.
async fn bind(http: &HttpArgs) -> Result<(TcpListener, Option<TcpListener>)> {
    let api = TcpListener::bind(http.http_addr).await?;
    let operations = match http.ops_addr {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    Ok((api, operations))
}

/// The settle worker and what runs beside it wherever it runs: the relay
/// (it re-queues what settle has not seen), the statement refresher, the
/// settled-per-minute rollup, retention, the events publisher (every event
/// to `payrail.events`), and the webhook delivery worker (it sends the events settle writes; it
/// shares only the database with settle, so a slow receiver slows no
/// payment).
/// The settings of what runs beside settle.
struct SettleSide<'a> {
    relay: &'a RelayArgs,
    statements: &'a StatementArgs,
    retention: &'a RetentionArgs,
    webhooks: &'a WebhookArgs,
    events: &'a EventsArgs,
}

fn spawn_settle_side(
    parts: &mut Parts,
    worker: SettleWorker,
    broker: &Broker,
    side: SettleSide<'_>,
) -> Result<()> {
    let shutdown = parts.shutdown.clone();
    let relay =
        Relay { db: worker.db.clone(), publisher: worker.publisher.clone(), config: side.relay.config() };
    let refresher = StatementRefresher { db: worker.db.clone(), config: side.statements.config() };
    let throughput = ThroughputRollup { db: worker.db.clone() };
    let retention = Retention { db: worker.db.clone(), config: side.retention.config() };
    let deliverer = Deliverer::new(&worker.db, side.webhooks.delivery())?;
    let events = EventPublisher {
        db: worker.db.clone(),
        events: EventsPublisher::new(broker),
        config: side.events.config(),
    };
    parts.spawn("settle worker", worker.run(broker.clone(), shutdown.clone()));
    parts.spawn("relay", relay.run(shutdown.clone()));
    parts.spawn("statement refresher", refresher.run(shutdown.clone()));
    parts.spawn("settled-per-minute rollup", throughput.run(shutdown.clone()));
    parts.spawn("retention", retention.run(shutdown.clone()));
    parts.spawn("events publisher", events.run(shutdown.clone()));
    parts.spawn("webhook delivery", deliverer.run(shutdown));
    Ok(())
}

async fn run_all(args: AllArgs, shutdown: CancellationToken) -> Result<()> {
    let db =
        if args.skip_migrations { Db::connect(&args.db.config()).await? } else { migrate(&args.db).await? };
    warn_if_superuser(&db).await;
    let broker = Broker::connect(&args.broker.config(), "payrail-all").await?;
    let lock = AccountLock::new(&args.redis.lock_config())?;
    let publisher = Publisher::new(&broker);
    let (state, grouper) =
        app_state(&args.http, &args.statements, &args.webhooks, &db, &broker, &publisher, Some(&lock))?;
    let (listener, operations) = bind(&args.http).await?;

    let mut parts = Parts::new(shutdown.clone());
    parts.spawn("api", api::serve(listener, operations, state, args.http.serve_limits(), shutdown.clone()));
    // Ends after the API, once no request can hand it a payment.
    parts.spawn("intake", grouper.run());
    let lock_worker = LockWorker::new(lock.clone(), args.lock_worker.config());
    parts.spawn("lock worker", lock_worker.run(broker.clone(), shutdown.clone()));
    let settle_worker = SettleWorker {
        db: db.clone(),
        lock,
        publisher: publisher.clone(),
        retry_queue: broker.topology().retry_queue(),
        held_warnings: Default::default(),
        config: args.settle_worker.config(),
        delivery_limit: broker.topology().delivery_limit,
    };
    spawn_settle_side(
        &mut parts,
        settle_worker,
        &broker,
        SettleSide {
            relay: &args.relay,
            statements: &args.statements,
            retention: &args.retention,
            webhooks: &args.webhooks,
            events: &args.events,
        },
    )?;
    let result = parts.join(args.shutdown.timeout()).await;
    publisher.close().await;
    close(broker, db).await;
    result
}

async fn run_api(args: ApiArgs, shutdown: CancellationToken) -> Result<()> {
    let db = Db::connect(&args.db.config()).await?;
    warn_if_superuser(&db).await;
    let broker = Broker::connect(&args.broker.config(), "payrail-api").await?;
    let publisher = Publisher::new(&broker);
    let (state, grouper) =
        app_state(&args.http, &args.statements, &args.webhooks, &db, &broker, &publisher, None)?;
    let (listener, operations) = bind(&args.http).await?;
    let mut parts = Parts::new(shutdown.clone());
    parts.spawn("api", api::serve(listener, operations, state, args.http.serve_limits(), shutdown.clone()));
    // Ends after the API, once no request can hand it a payment.
    parts.spawn("intake", grouper.run());
    let result = parts.join(args.shutdown.timeout()).await;
    publisher.close().await;
    close(broker, db).await;
    result
}

async fn run_lock_worker(args: LockWorkerArgs, shutdown: CancellationToken) -> Result<()> {
    let broker = Broker::connect(&args.broker.config(), "payrail-lock-worker").await?;
    let worker = LockWorker::new(AccountLock::new(&args.redis.lock_config())?, args.tuning.config());
    let mut parts = Parts::new(shutdown.clone());
    parts.spawn("lock worker", worker.run(broker.clone(), shutdown.clone()));
    let result = parts.join(args.shutdown.timeout()).await;
    broker.close().await;
    result
}

async fn run_settle_worker(args: SettleWorkerArgs, shutdown: CancellationToken) -> Result<()> {
    let db = Db::connect(&args.db.config()).await?;
    warn_if_superuser(&db).await;
    let broker = Broker::connect(&args.broker.config(), "payrail-settle-worker").await?;
    let publisher = Publisher::new(&broker);
    let worker = SettleWorker {
        db: db.clone(),
        lock: AccountLock::new(&args.redis.lock_config())?,
        publisher: publisher.clone(),
        retry_queue: broker.topology().retry_queue(),
        held_warnings: Default::default(),
        config: args.tuning.config(),
        delivery_limit: broker.topology().delivery_limit,
    };
    let mut parts = Parts::new(shutdown.clone());
    spawn_settle_side(
        &mut parts,
        worker,
        &broker,
        SettleSide {
            relay: &args.relay,
            statements: &args.statements,
            retention: &args.retention,
            webhooks: &args.webhooks,
            events: &args.events,
        },
    )?;
    let result = parts.join(args.shutdown.timeout()).await;
    publisher.close().await;
    close(broker, db).await;
    result
}

async fn close(broker: Broker, db: Db) {
    broker.close().await;
    db.close().await;
}

async fn run_dead_letters(command: DeadLettersCommand) -> Result<()> {
    match command {
        DeadLettersCommand::List(args) => {
            let broker = Broker::connect(&args.broker.config(), "payrail-dead-letters").await?;
            let letters = dead_letters::list(&broker).await?;
            broker.close().await;
            print_report(args.json, &letters, |letters| {
                let mut text = format!("{} dead letters in {DEAD_LETTER_QUEUE}", letters.len());
                for l in letters {
                    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                    text.push_str(&format!(
                        "\n{}  from {} ({})  {}",
                        or_dash(&l.payment_id),
                        or_dash(&l.queue),
                        or_dash(&l.reason),
                        if l.payment_id.is_none() { l.body.as_str() } else { "" }
                    ));
                }
                text
            });
        }
        DeadLettersCommand::Replay(args) => {
            let db = Db::connect(&args.database.config()).await?;
            let broker = Broker::connect(&args.broker.config(), "payrail-dead-letters").await?;
            let wanted = args.payment_id;
            let replayed =
                dead_letters::replay(&broker, &db.primary, |id| args.all || wanted.iter().any(|w| w == id))
                    .await;
            broker.close().await;
            db.close().await;
            let replayed = replayed?;
            print_report(false, &replayed, |r| format!("replayed {} dead letters to {LOCK_QUEUE}", r.len()));
        }
    }
    Ok(())
}

/// Exit 0 when every payment settled and the audit passed, 1 otherwise.
#[cfg(feature = "bench")]
#[cfg(feature = "bench")]
#[allow(clippy::print_stdout)]
async fn seed_ledger(args: crate::config::BenchSeedLedgerArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let db = migrate(&args.db).await?;
    // Ten minutes back: older than the audit's margin for commits in
    // flight, so the seed is history to the next checkpoint.
    let (start, step) =
        bench::seed::SeedPlan::spread(args.payments, args.days, chrono::Duration::minutes(10));
    let plan = bench::seed::SeedPlan {
        payments: args.payments,
        accounts: args.accounts,
        initial_balance: args.initial_balance,
        chunk: args.chunk,
        seed: args.seed,
        start,
        step,
    };
    let seeded = bench::seed::run(&db.primary, plan, std::io::stderr().is_terminal()).await?;
    println!(
        "seeded {} payments ({} done, {} failed) across {} accounts in {:.1} s",
        seeded.payments,
        seeded.done,
        seeded.payments - seeded.done,
        args.accounts,
        seeded.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_bench(args: crate::config::BenchArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let duration = Duration::from_secs(args.duration);
    let mode = match (args.rate, args.concurrency) {
        (Some(rate), _) => bench::Mode::Open { rate, duration },
        (None, Some(concurrency)) => bench::Mode::Closed { concurrency: concurrency as usize, duration },
        (None, None) => unreachable!("clap requires one of --rate and --concurrency"),
    };
    let config = bench::BenchConfig {
        url: args.url.trim_end_matches('/').to_owned(),
        token: args.token,
        database_url: args.database_url,
        scenario: args.scenario,
        accounts: args.accounts.unwrap_or_else(|| args.scenario.default_accounts()).max(2),
        mode,
        settle_timeout: Duration::from_secs(args.settle_timeout),
        chart: args.chart,
        progress: !args.json && std::io::stderr().is_terminal(),
        seed: args.seed,
    };
    let report = bench::run(config.clone()).await?;
    bench::write_chart(&config, &report)?;
    print_report(args.json, &report, |r| r.table());
    let clean = report.audit_ok && report.not_settled == 0 && report.accepted > 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a command's report on standard output: JSON for machines, or
/// `text` for people. The report is the command's output, hence stdout.
#[allow(clippy::print_stdout)]
fn print_report<T: serde::Serialize>(json: bool, report: &T, text: impl FnOnce(&T) -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(report).expect("reports are plain data"));
    } else {
        println!("{}", text(report));
    }
}

/// Exit codes of `audit`: 0 all invariants hold, 1 one is violated, 2 the
/// audit could not run.
async fn run_audit(args: AuditArgs) -> ExitCode {
    use std::io::IsTerminal;
    let db = args.db.config();
    let config = audit::AuditConfig {
        max_pending_age: Duration::from_secs(args.max_pending_age_secs),
        app_role: args.app_role,
        full: args.full,
        timeout: db.statement_timeout,
        full_timeout: Duration::from_secs(args.full_timeout_secs),
        key: args.checkpoint_key,
        progress: match (std::io::stderr().is_terminal(), args.progress) {
            (true, _) if !args.json => audit::Progress::Bar,
            (_, true) => audit::Progress::Lines,
            _ => audit::Progress::Off,
        },
    };
    let report = match Db::connect(&db).await {
        Ok(db) if args.verify_chain => audit::verify_chain(&db.primary, &config).await,
        Ok(db) => audit::run(&db.primary, &config).await,
        Err(e) => Err(e),
    };
    match report {
        Ok(report) => {
            print_report(args.json, &report, |r| r.to_string());
            if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            error!(error = %chain(&e), "audit could not run");
            ExitCode::from(2)
        }
    }
}

/// Exit codes of `export`: 0 written, 2 bad input or it failed.
async fn run_export(args: ExportArgs) -> ExitCode {
    use std::io::IsTerminal;
    let export = match args.export() {
        Ok(export) => export,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    let show = args.progress || std::io::stderr().is_terminal();
    let written = async {
        let db = Db::connect(&args.db.config()).await?;
        let out: Box<dyn std::io::Write + Send> = match &args.output {
            Some(path) => Box::new(std::fs::File::create(path)?),
            None => Box::new(std::io::stdout()),
        };
        let out = export::Blocking(std::io::BufWriter::with_capacity(64 * 1024, out));
        let mut out = export::Progress::new(out, show);
        let written = export::run(&db, &export, &mut out).await;
        out.finish();
        db.close().await;
        written
    }
    .await;
    match written {
        Ok(bytes) => {
            info!(bytes, "export written");
            ExitCode::SUCCESS
        }
        Err(Error::UnknownAccount(id)) => {
            error!("account {id} does not exist");
            ExitCode::from(2)
        }
        Err(e) => {
            error!(error = %chain(&e), "export failed");
            ExitCode::from(2)
        }
    }
}

/// Sleeps until `deadline`, or for ever when there is none yet.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The long-running parts of one process. The first to fail, or to end
/// while no shutdown was asked for, stops all of them.
struct Parts {
    set: JoinSet<(&'static str, Result<()>)>,
    shutdown: CancellationToken,
}

impl Parts {
    fn new(shutdown: CancellationToken) -> Self {
        Parts { set: JoinSet::new(), shutdown }
    }

    fn spawn(&mut self, name: &'static str, part: impl Future<Output = Result<()>> + Send + 'static) {
        self.set.spawn(async move { (name, part.await) });
    }

    /// Waits for every part. Once shutdown starts, the parts together get
    /// `timeout` (one deadline for the whole stop, which is what the pod's
    /// grace period allows); whatever is still running then is aborted.
    async fn join(mut self, timeout: Duration) -> Result<()> {
        let mut first_error = None;
        let mut deadline = None;
        loop {
            let next = tokio::select! {
                next = self.set.join_next() => next,
                () = self.shutdown.cancelled(), if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + timeout);
                    continue;
                }
                () = sleep_until(deadline) => {
                    error!(?timeout, "parts did not stop in time; aborting them");
                    self.set.abort_all();
                    break;
                }
            };
            let Some(joined) = next else { break };
            match joined {
                Ok((name, Ok(()))) => {
                    if !self.shutdown.is_cancelled() {
                        warn!(part = name, "stopped on its own; stopping the others");
                        self.shutdown.cancel();
                    }
                }
                Ok((name, Err(e))) => {
                    error!(part = name, error = %chain(&e), "failed; stopping the others");
                    self.shutdown.cancel();
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    error!(error = %e, "a part panicked; stopping the others");
                    self.shutdown.cancel();
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::time::Instant;

    use super::*;

    /// The pod's grace period is one SHUTDOWN_TIMEOUT_SECS for the whole
    /// stop: two parts that each take most of it must not get it twice.
    #[tokio::test(start_paused = true)]
    async fn the_whole_stop_gets_one_deadline() {
        let shutdown = CancellationToken::new();
        let mut parts = Parts::new(shutdown.clone());
        let finished = Arc::new(AtomicUsize::new(0));
        for (name, takes) in [("slow", 6), ("slower", 12)] {
            let (shutdown, finished) = (shutdown.clone(), finished.clone());
            parts.spawn(name, async move {
                shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_secs(takes)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        let started = Instant::now();
        shutdown.cancel();
        parts.join(Duration::from_secs(10)).await.expect("no part failed");
        assert_eq!(started.elapsed(), Duration::from_secs(10), "the stop took longer than its deadline");
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the part past the deadline was aborted");
    }

    #[tokio::test(start_paused = true)]
    async fn parts_that_stop_in_time_are_all_waited_for() {
        let shutdown = CancellationToken::new();
        let mut parts = Parts::new(shutdown.clone());
        for takes in [1, 2, 3] {
            let shutdown = shutdown.clone();
            parts.spawn("part", async move {
                shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_secs(takes)).await;
                Ok(())
            });
        }
        let started = Instant::now();
        shutdown.cancel();
        parts.join(Duration::from_secs(10)).await.expect("no part failed");
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
