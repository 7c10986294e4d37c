//! PostgreSQL: pools, database creation, migrations, and every SQL
//! statement payrail runs (one submodule per table family).
//!
//! Which pool a query uses is visible at each call: `db.primary` for
//! anything that writes or decides; what a client reads goes through
//! `db.read` / `db.read_one`, the one read policy (`reads`: the replica
//! first, the primary when the replica is down, lags or fails).

pub mod accounts;
pub mod audit;
pub mod audit_checkpoint;
pub mod backlog;
#[cfg(feature = "bench")]
pub mod bench;
pub mod console_sessions;
pub mod console_sign_ins;
pub mod entries;
pub mod events;
pub mod export;
pub mod idempotency;
pub mod payments;
pub mod publications;
pub mod reads;
pub mod refunds;
pub mod relay;
pub mod retention;
#[cfg(feature = "bench")]
pub mod seed;
pub mod settle;
pub mod statements;
pub mod throughput;
pub mod timeline;
pub mod tx;
pub mod webhooks;

use std::time::Duration;

use payrail_common::SecretUrl;
use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};
use tracing::info;

use crate::error::{Error, Result, db_error_code};

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: SecretUrl,
    /// A read replica for client reads; the primary when absent.
    pub read_url: Option<SecretUrl>,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    /// Cap on any one statement, so a stuck query fails instead of hanging
    /// a worker forever.
    pub statement_timeout: Duration,
}

/// The two pools. Without a replica both point at the primary.
#[derive(Debug, Clone)]
pub struct Db {
    pub primary: PgPool,
    /// Client reads use it through [`Db::read`], never directly.
    pub replica: PgPool,
    health: reads::ReplicaHealth,
}

impl Db {
    pub async fn connect(config: &DbConfig) -> Result<Self> {
        let primary = pool(&config.url, config, Connect::Now).await?;
        // The replica connects on first use: one that is down or still
        // catching up must not keep the process from starting, since every
        // read falls back to the primary.
        let (replica, configured) = match &config.read_url {
            Some(url) if url != &config.url => (pool(url, config, Connect::Lazily).await?, true),
            _ => (primary.clone(), false),
        };
        Ok(Db { primary, replica, health: reads::ReplicaHealth::new(configured) })
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.replica.close().await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connect {
    Now,
    Lazily,
}

async fn pool(url: &SecretUrl, config: &DbConfig, connect: Connect) -> Result<PgPool> {
    let options: PgConnectOptions = url
        .expose_secret()
        .parse()
        .map_err(|e| Error::Config(format!("{url} is not a PostgreSQL URL: {e}")))?;
    let options = options.application_name("payrail");
    let statement_timeout = config.statement_timeout.as_millis().max(1).to_string();
    let pool_options = PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(config.acquire_timeout)
        .after_connect(move |conn, _| {
            let statement_timeout = statement_timeout.clone();
            Box::pin(async move { set_up_session(conn, &statement_timeout).await })
        });
    Ok(match connect {
        Connect::Now => pool_options.connect_with(options).await?,
        Connect::Lazily => pool_options.connect_lazy_with(options),
    })
}

/// Sets up a new connection, with `SET`s sent as the session's first
/// statement: every statement capped at `millis`, and no JIT compilation.
///
/// No JIT: PostgreSQL compiles a statement whose estimated cost passes
/// `jit_above_cost`, on every execution of a custom plan. The webhook claim
/// (planned anew each call) crossed it once a backlog built up, and each
/// claim then spent about 200 ms compiling to return 4 rows in 0.3 ms: one
/// endpoint got 11 deliveries a second (bench/webhook-rate). Every statement
/// the app sends is short, and its estimates are too rough to trust with a
/// compile that costs more than the work.
///
/// Not as the `options` startup parameter: PgBouncer drops that one
/// (CloudNativePG's Pooler lists it in `ignore_startup_parameters`, which it
/// needs for libpq clients), so through the pooler the cap was silently gone
/// and a stuck query held a worker forever.
///
/// A session-level `SET` holds because the Pooler runs in session mode: a
/// client keeps its server connection from login to logout (the app needs
/// that anyway, for its session advisory lock and its per-connection
/// prepared statements), and PgBouncer's `DISCARD ALL` resets it before
/// the next client. Under transaction pooling it would be wrong: the `SET`
/// would stay on whichever server connection ran it, and every other would
/// have none; there only `SET LOCAL` in each transaction (which misses
/// statements outside one) or a default on the role would do. CNPG can
/// declare neither per role nor per database (its managed roles and
/// `Database` have no settings; `postgresql.parameters` is server-wide and
/// would also cut CNPG's own superuser sessions, such as a backup's
/// `pg_backup_stop` waiting for WAL to be archived).
async fn set_up_session(conn: &mut PgConnection, millis: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"SELECT set_config('statement_timeout', $1, false) AS "timeout!", set_config('jit', 'off', false) AS "jit!""#,
        millis
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Creates the database named in `url` if it does not exist yet.
/// Safe when several instances start at once.
pub async fn ensure_database(url: &SecretUrl) -> Result<()> {
    if Postgres::database_exists(url.expose_secret()).await? {
        return Ok(());
    }
    match Postgres::create_database(url.expose_secret()).await {
        Ok(()) => {
            info!(database = %url, "created database");
            Ok(())
        }
        // duplicate_database: another instance won the race.
        Err(e) if db_error_code(&e).as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether the database answers a trivial query (for readiness).
pub async fn ping(pool: &PgPool) -> Result<()> {
    sqlx::query!("SELECT 1 AS one").fetch_one(pool).await?;
    Ok(())
}

/// Makes `role` the app's role: creates it when missing and sets its
/// password when one is given (which needs CREATEROLE), then grants it
/// what the app does and nothing more (see the `app_role` migration).
pub async fn grant_app_role(pool: &PgPool, role: &str, password: Option<&SecretString>) -> Result<()> {
    sqlx::query_scalar!(
        r#"SELECT payrail_ensure_app_role($1, $2)::text AS "done""#,
        role,
        password.map(|p| p.expose_secret()),
    )
    .fetch_one(pool)
    .await?;
    sqlx::query_scalar!(r#"SELECT payrail_grant_app_role($1)::text AS "done""#, role).fetch_one(pool).await?;
    Ok(())
}

/// Whether this session's role is a superuser.
pub async fn is_superuser(pool: &PgPool) -> Result<bool> {
    let superuser =
        sqlx::query_scalar!(r#"SELECT rolsuper AS "superuser!" FROM pg_roles WHERE rolname = current_user"#)
            .fetch_one(pool)
            .await?;
    Ok(superuser)
}

/// Applies every pending migration. Migrations take an advisory lock, so
/// instances starting together apply each one once.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}
