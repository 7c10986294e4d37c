//! The statement timeout holds through PgBouncer. CloudNativePG's Pooler
//! runs PgBouncer with `ignore_startup_parameters = extra_float_digits,options`:
//! it accepts a client's `options` startup parameter and never passes it
//! on, so a timeout sent that way is silently gone and a stuck query holds
//! a worker for as long as it runs.
//!
//! No PgBouncer runs here; the stand-in below does to the startup message
//! what it does (drops `options` and `extra_float_digits`, passes the rest)
//! and then relays bytes between the app and the real PostgreSQL, as a
//! session-mode pooler does for the session's whole life.

use std::time::Duration;

use payment_app::db::{Db, DbConfig};
use payment_app::error::{Error, chain};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// PostgreSQL's code for an SSLRequest in place of a protocol version.
const SSL_REQUEST: i32 = 80_877_103;
/// Protocol 3.0, the StartupMessage's version.
const PROTOCOL_3: i32 = 196_608;
/// What CNPG's Pooler puts in PgBouncer's `ignore_startup_parameters`.
const IGNORED: [&str; 2] = ["extra_float_digits", "options"];

/// A listener that relays every connection to the local PostgreSQL after
/// removing the startup parameters PgBouncer ignores.
struct PgBouncerStandIn {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl PgBouncerStandIn {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client));
            }
        });
        PgBouncerStandIn { port, task }
    }
}

impl Drop for PgBouncerStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream) {
    let startup = loop {
        let length = client.read_i32().await.unwrap();
        let mut body = vec![0; usize::try_from(length - 4).unwrap()];
        client.read_exact(&mut body).await.unwrap();
        let code = i32::from_be_bytes(body[..4].try_into().unwrap());
        if code == SSL_REQUEST {
            // As a PgBouncer without client TLS answers: not here.
            client.write_all(b"N").await.unwrap();
            continue;
        }
        assert_eq!(code, PROTOCOL_3, "not a StartupMessage");
        break without_ignored(&body[4..]);
    };
    let mut server = TcpStream::connect("127.0.0.1:5432").await.unwrap();
    server.write_all(&startup).await.unwrap();
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// A StartupMessage with the parameters of `pairs` (name, value, ... each
/// NUL-terminated, then a NUL) less the ignored ones.
fn without_ignored(pairs: &[u8]) -> Vec<u8> {
    let fields: Vec<&[u8]> = pairs.split(|b| *b == 0).collect();
    let mut kept = PROTOCOL_3.to_be_bytes().to_vec();
    for pair in fields.chunks(2).filter(|pair| pair.len() == 2 && !pair[0].is_empty()) {
        if IGNORED.iter().any(|name| name.as_bytes() == pair[0]) {
            continue;
        }
        for field in pair {
            kept.extend_from_slice(field);
            kept.push(0);
        }
    }
    kept.push(0);
    let mut message = i32::try_from(kept.len() + 4).unwrap().to_be_bytes().to_vec();
    message.extend(kept);
    message
}

#[tokio::test]
async fn a_stuck_statement_through_pgbouncer_is_cancelled_at_the_timeout() {
    let pooler = PgBouncerStandIn::start().await;
    let config = DbConfig {
        url: format!("postgres://postgres@127.0.0.1:{}/postgres", pooler.port).parse().unwrap(),
        read_url: None,
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_millis(300),
    };
    let db = Db::connect(&config).await.unwrap_or_else(|e| panic!("{}", chain(&e)));

    let shown: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(&db.primary).await.unwrap();
    assert_eq!(shown, "300ms", "the session through the pooler has no statement timeout");
    // What a worker notices: a statement that would run for a minute is
    // cancelled by the server, and the error says so.
    let stuck = sqlx::query("SELECT pg_sleep(60)").execute(&db.primary).await;
    let error = Error::from(stuck.expect_err("a one-minute statement completed"));
    assert!(error.is_statement_timeout(), "{}", chain(&error));
    db.close().await;
}
