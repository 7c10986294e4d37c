//! Each test's own names on the shared services (a database, a vhost, a
//! Redis key prefix, a directory) and the `payment-app` binary run with them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::{AMQP_BASE, PG_ADMIN_URL, REDIS_URL, TOKEN};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_payment-app")
}

pub(super) fn run(program: &str, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh, isolated set of names on the shared services. The database is
/// not created here: `payment-app all` must create it itself.
pub struct TestEnv {
    pub name: String,
    pub database_url: String,
    pub amqp_url: String,
    pub vhost: String,
    pub redis_urls: String,
    pub key_prefix: String,
    pub dir: PathBuf,
}

impl TestEnv {
    pub fn new() -> Self {
        let name = format!("payrail_test_{}", Uuid::new_v4().simple());
        let vhost = name.clone();
        run("rabbitmqctl", &["-q", "add_vhost", &vhost]);
        run("rabbitmqctl", &["-q", "set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        TestEnv {
            database_url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            amqp_url: format!("{AMQP_BASE}/{vhost}"),
            vhost,
            redis_urls: REDIS_URL.to_owned(),
            key_prefix: name.clone(),
            dir,
            name,
        }
    }

    /// The app binary with this environment's connection settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", &self.database_url)
            .env("AMQP_URL", &self.amqp_url)
            .env("REDIS_URLS", &self.redis_urls)
            .env("REDIS_KEY_PREFIX", &self.key_prefix)
            .env("API_TOKENS", format!("{TOKEN},test-token-0000002"));
        cmd
    }

    /// Runs `payment-app audit --json`; returns the exit code and report.
    pub fn audit(&self) -> (i32, Value) {
        let out = self.command(&["audit", "--json"]).output().unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), report)
    }

    pub async fn pg(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }

    /// The test's database migrated by `payment-app migrate` (no app
    /// running), and a pool on it.
    pub async fn migrated_pg(&self) -> sqlx::PgPool {
        let migrate = self.command(&["migrate"]).output().unwrap();
        assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
        self.pg().await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // KEEP_TEST_ENV=1 leaves the database, vhost and logs of every
        // test for a post-mortem (the path is printed).
        if std::env::var_os("KEEP_TEST_ENV").is_some() {
            eprintln!(
                "kept test environment {}: database {}, vhost {}",
                self.dir.display(),
                self.name,
                self.vhost
            );
            return;
        }
        let _ = Command::new("rabbitmqctl").args(["-q", "delete_vhost", &self.vhost]).output();
        let _ = Command::new("psql")
            .args([PG_ADMIN_URL, "-q", "-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A publisher into the environment's vhost, with the app's topology.
pub async fn publisher(env: &TestEnv) -> payment_app::broker::Publisher {
    let config = payment_app::broker::BrokerConfig {
        urls: vec![env.amqp_url.parse().unwrap()],
        topology: payment_app::broker::Topology {
            retry_delay: Duration::from_millis(100),
            delivery_limit: 20,
        },
        timeout: Duration::from_secs(5),
    };
    let broker = payment_app::broker::Broker::connect(&config, "test").await.unwrap();
    payment_app::broker::Publisher::new(&broker)
}

/// One of the project's scripts (scripts/NAME).
pub(super) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(name)
}
