//! `DATABASE_URL`'s TLS parameters are honoured (sqlx over rustls):
//! `sslmode=verify-full` with `sslrootcert` gets an encrypted connection to
//! a server whose certificate chains to that root and names the host; a
//! server without TLS, a certificate for another name, or one no trusted
//! root signed, is refused with an error that says which, before any
//! credential is sent.
//!
//! The local PostgreSQL serves TLS with Debian's self-signed "snakeoil"
//! certificate (subject and SAN `localhost`), which is the root here.
//! The server without TLS is a stand-in that answers PostgreSQL's TLS
//! request as a server with `ssl = off` does: with `N`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use payment_app::db::{Db, DbConfig};
use payment_app::error::chain;

use crate::common::bin;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn config(url: &str) -> DbConfig {
    DbConfig {
        url: url.parse().unwrap(),
        read_url: None,
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    }
}

async fn refusal(url: &str) -> String {
    match Db::connect(&config(url)).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => chain(&e).to_string(),
    }
}

#[tokio::test]
async fn verify_full_against_the_servers_root_is_encrypted() {
    let url =
        format!("postgres://postgres@localhost:5432/postgres?sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let db = Db::connect(&config(&url)).await.unwrap_or_else(|e| panic!("{}", chain(&e)));
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&db.primary)
            .await
            .unwrap();
    assert!(ssl, "the session is not encrypted");
    assert!(version.is_some_and(|v| v.starts_with("TLS")));
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_name() {
    // The certificate names `localhost`, not `127.0.0.1`.
    let url =
        format!("postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let e = refusal(&url).await;
    assert!(e.contains("certificate") && e.contains("not valid for name"), "{e}");
}

/// Without `sslrootcert` the system's roots decide. This machine trusts
/// snakeoil system-wide (Debian links it into /etc/ssl/certs), so the
/// process is given the public roots alone, as a host that never trusted
/// it would have: then the same URL is refused.
#[tokio::test]
async fn verify_full_without_sslrootcert_trusts_the_system_roots_only() {
    let name = format!("payrail_tls_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres@localhost:5432/{name}?sslmode=verify-full");
    let empty = std::env::temp_dir().join(format!("payrail-no-certs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).unwrap();
    let public_roots =
        [("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"), ("SSL_CERT_DIR", empty.to_str().unwrap())];
    let (refused, text) = migrate(&url, &public_roots);
    std::fs::remove_dir_all(&empty).unwrap();
    if !refused {
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = std::process::Command::new("psql").args([crate::common::PG_ADMIN_URL, "-qc", &drop]).output();
    }
    assert!(refused, "{text}");
    assert!(text.contains("invalid peer certificate: UnknownIssuer"), "{text}");
    // The machine's own roots, snakeoil among them: the same setting connects.
    let url = "postgres://postgres@localhost:5432/postgres?sslmode=verify-full";
    Db::connect(&config(url)).await.unwrap_or_else(|e| panic!("{}", chain(&e)));
}

/// Runs `payment-app migrate` with `DATABASE_URL=url`, which must be
/// refused before anything is created; returns whether it failed, and its output.
fn migrate(url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(bin())
        .args(["migrate"])
        .env_clear()
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (!out.status.success(), text)
}

/// The whole program, as an operator meets it: `payment-app migrate` with a
/// verify-full URL against a server without TLS exits non-zero with a
/// message that says so, and the server never sees the user name (nothing
/// after the TLS request: no plain-text fallback).
#[test]
fn verify_full_against_a_server_without_tls_is_refused_in_the_clear() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(b"N").unwrap();
        let _ = stream.read_to_end(&mut seen);
        (request, seen)
    });
    let url = format!(
        "postgres://payrail_user:s3cret@127.0.0.1:{port}/payrail?sslmode=verify-full&sslrootcert={SNAKEOIL}"
    );
    let (refused, text) = migrate(&url, &[]);
    assert!(refused, "{text}");
    assert!(text.contains("server does not support TLS"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let (request, after) = server.join().unwrap();
    // SSLRequest: length 8, code 80877103.
    assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    assert!(after.is_empty(), "the client went on in plain text: {:?}", String::from_utf8_lossy(&after));
}
