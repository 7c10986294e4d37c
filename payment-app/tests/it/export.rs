//! Exports: `payment-app export` and the CSV of an account's entries over
//! HTTP. CSV is read back with an independent parser (Python's `csv`
//! module), so quoting is checked as a reader sees it, not as written.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use futures_util::TryStreamExt;
use payrail_client::types::CreatePayment;

use crate::common::{App, TOKEN, TestEnv, payment};

/// Parses CSV text into rows of fields, with Python's `csv` module.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys; json.dump(list(csv.reader(sys.stdin, strict=True)), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not CSV:\n{text}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rows as maps by the header's names.
fn records(text: &str) -> Vec<serde_json::Map<String, Value>> {
    let rows = parse_csv(text);
    let (header, rows) = rows.split_first().expect("a header line");
    rows.iter()
        .map(|row| {
            assert_eq!(row.len(), header.len(), "{row:?}");
            header.iter().cloned().zip(row.iter().map(|f| Value::String(f.clone()))).collect()
        })
        .collect()
}

/// Runs `payment-app export ARGS`; returns exit code, stdout, stderr.
fn export(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = env.command(&all).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("exports are UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const AWKWARD: &str = "rent, \"May\"\nsecond line, and a \\ backslash\r\nthird";

#[tokio::test]
async fn csv_and_jsonl_carry_descriptions_and_metadata_with_commas_quotes_and_newlines() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let metadata = json!({"note": "a, \"quoted\"\nvalue", "order": "42"});
    let body = CreatePayment {
        payment_description: Some(AWKWARD.into()),
        metadata: Some(metadata.clone()),
        ..payment(&a, &b, "12.34")
    };
    let id = app.settled(&body, Duration::from_secs(30)).await.id.to_string();
    let id = id.as_str();

    let (code, csv, err) = export(&env, &["payments", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let rows = records(&csv);
    assert_eq!(rows.len(), 1, "{csv}");
    let row = &rows[0];
    assert_eq!(row["id"], id);
    assert_eq!(row["description"], AWKWARD, "the description survives CSV whole");
    let exported: Value = serde_json::from_str(row["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(exported, metadata, "the metadata survives CSV whole");
    assert_eq!(row["amount"], "12.34");
    assert_eq!(row["status"], "done");

    let (code, jsonl, err) = export(&env, &["payments", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{jsonl}");
    assert_eq!(lines[0]["description"], AWKWARD);
    assert_eq!(lines[0]["metadata"], metadata);
    assert_eq!(lines[0]["amount"], "12.34");

    // The events and entries of the same payment, in both formats.
    let (code, events, err) = export(&env, &["events", "--account", &a]);
    assert_eq!(code, 0, "{err}");
    let types: Vec<String> =
        records(&events).iter().map(|r| r["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["payment.created", "payment.done"]);
    let (code, entries, err) = export(&env, &["entries", "--account", &b, "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let entries: Vec<Value> = entries.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.last().unwrap()["balance_after"], "12.34", "{entries:?}");
}

#[tokio::test]
async fn from_and_to_bound_an_export_and_bad_input_is_refused_clearly() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let pay = |n: usize| {
        let app = &app;
        let (a, b) = (a.clone(), b.clone());
        async move {
            let mut ids = Vec::new();
            for _ in 0..n {
                ids.push(app.settled(&payment(&a, &b, "1.00"), Duration::from_secs(30)).await.id.to_string());
            }
            ids
        }
    };
    let before = pay(2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t1 = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let inside = pay(3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t2 = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = pay(1).await;

    let (from, to) = (t1.to_rfc3339(), t2.to_rfc3339());
    let (code, csv, err) = export(&env, &["payments", "--from", &from, "--to", &to]);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = records(&csv).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, inside, "exactly the payments made in [from, to), in order");
    let (_, csv, _) = export(&env, &["payments", "--to", &from]);
    let ids: Vec<String> = records(&csv).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, before);
    let (_, csv, _) = export(&env, &["payments", "--from", &to]);
    let ids: Vec<String> = records(&csv).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, after);
    // Entries: the payer's debits made in the interval, one per payment.
    let (_, csv, _) = export(&env, &["entries", "--account", &a, "--from", &from, "--to", &to]);
    let payments: Vec<String> = records(&csv)
        .iter()
        .filter(|r| r["kind"] == "debit")
        .map(|r| r["payment_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(payments, inside);

    // Bad input: exit 2 and a message that says what is wrong.
    let (code, _, err) = export(&env, &["payments", "--from", &to, "--to", &from]);
    assert_eq!(code, 2);
    assert!(err.contains("must be before"), "{err}");
    let (code, _, err) = export(&env, &["payments", "--from", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an instant"), "{err}");
    let (code, _, err) = export(&env, &["ledger"]);
    assert_eq!(code, 2);
    assert!(err.contains("payments") && err.contains("entries") && err.contains("events"), "{err}");
    let (code, _, err) = export(&env, &["entries", "--account", &uuid::Uuid::now_v7().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn an_accounts_entries_come_as_streamed_csv_to_a_read_token_only() {
    let env = TestEnv::new();
    let (read, pay) = ("read-token-0000001", "pay-token-00000001");
    let tokens = format!("{TOKEN},{read}=read,{pay}=pay");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    for _ in 0..5 {
        app.settled(&payment(&a, &b, "2.50"), Duration::from_secs(30)).await;
    }
    let get = |token: &'static str, accept: &'static str, query: &'static str| {
        let url = format!("{}/api/v1/accounts/{a}/entries{query}", app.base);
        async move {
            reqwest::Client::new().get(url).bearer_auth(token).header("accept", accept).send().await.unwrap()
        }
    };

    let answer = get(read, "text/csv", "").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    let rows = records(&answer.text().await.unwrap());
    let entries: Vec<_> = app.api.account_entries(a.parse().unwrap(), &[]).try_collect().await.unwrap();
    let json_ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
    let csv_ids: Vec<String> = rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(csv_ids, json_ids, "the same entries as the JSON pages, oldest first");
    assert_eq!(rows.len(), 6, "the issuance and five debits");
    assert_eq!(rows.last().unwrap()["balance_after"], "87.50");
    for (row, entry) in rows.iter().zip(&entries) {
        assert_eq!(row["amount"], entry.amount.to_string());
        assert_eq!(row["kind"], entry.kind);
    }

    // Among other types, CSV is still chosen; JSON stays the default.
    let answer = get(read, "application/json;q=0.5, text/csv", "").await;
    assert_eq!(answer.headers()["content-type"], "text/csv; charset=utf-8");
    let answer = get(read, "application/json", "").await;
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("application/json"));

    // The route's scope holds for CSV too.
    let answer = get(pay, "text/csv", "").await;
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");

    // Bounds, and what is wrong with them.
    let answer = get(read, "text/csv", "?from=2000-01-01&to=2000-01-02").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(parse_csv(&answer.text().await.unwrap()).len(), 1, "the header alone");
    let answer = get(read, "text/csv", "?from=2000-01-02&to=2000-01-01").await;
    assert_eq!(answer.status(), 400);
    let answer = get(read, "text/csv", "?from=soon").await;
    assert_eq!(answer.status(), 400);
    let missing = uuid::Uuid::now_v7();
    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/accounts/{missing}/entries", app.base))
        .bearer_auth(read)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

/// A million ledger entries (seeded by `bench-seed-ledger`) exported in
/// flat memory: the process's peak RSS stays far below the output's size.
#[tokio::test]
async fn a_million_entries_export_in_bounded_memory() {
    let env = TestEnv::new();
    let seed = env
        .command(&["bench-seed-ledger", "--payments", "520000", "--accounts", "1000", "--chunk", "20000"])
        .output()
        .unwrap();
    assert!(seed.status.success(), "seed failed: {}", String::from_utf8_lossy(&seed.stderr));
    let pg = env.pg().await;
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_entries").fetch_one(&pg).await.unwrap();
    assert!(entries >= 1_000_000, "{entries} entries");

    let file = env.dir.join("entries.csv");
    let rss_file = env.dir.join("rss");
    let command = env.command(&["export", "entries", "--output", file.to_str().unwrap()]);
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = command.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(program).args(args).env_clear();
    for (k, v) in envs {
        if let Some(v) = v {
            timed.env(k, v);
        }
    }
    let started = std::time::Instant::now();
    let out = timed.output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "export failed: {}", String::from_utf8_lossy(&out.stderr));
    let peak_kib: u64 = std::fs::read_to_string(&rss_file).unwrap().trim().parse().unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&file).unwrap())).count();
    assert_eq!(lines as i64, entries + 1, "a header and every entry");
    eprintln!(
        "exported {entries} entries ({:.1} MiB) in {took:?} with a peak RSS of {:.1} MiB",
        size as f64 / 1048576.0,
        peak_kib as f64 / 1024.0
    );
    assert!(size > 100 * 1024 * 1024, "the export is larger than the bound below ({size} bytes)");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB: the export is held in memory");
}

/// The export reads the replica when it serves reads, and the primary when
/// the replica is down: a "replica" that is a copy of the database taken
/// before the last payment exports without it; an unreachable one falls
/// back to the primary, which has it.
#[tokio::test]
async fn an_export_reads_the_replica_and_falls_back_to_the_primary() {
    let env = TestEnv::new();
    let mut app = App::start(&env, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let first = app.settled(&payment(&a, &b, "1.00"), Duration::from_secs(30)).await.id.to_string();
    app.terminate();

    // A copy as of now stands in for a replica (not in recovery: no lag).
    let copy = format!("{}_copy", env.name);
    let admin = sqlx::PgPool::connect(crate::common::PG_ADMIN_URL).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {copy}")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {copy} TEMPLATE {}", env.name)).execute(&admin).await.unwrap();
    app.restart().await;
    let second = app.settled(&payment(&a, &b, "1.00"), Duration::from_secs(30)).await.id.to_string();

    let ids = |read_url: &str| {
        let mut command = env.command(&["export", "payments"]);
        command.env("DATABASE_READ_URL", read_url);
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let csv = String::from_utf8(out.stdout).unwrap();
        records(&csv).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let replica_url = env.database_url.replace(&env.name, &copy);
    assert_eq!(
        ids(&replica_url),
        std::slice::from_ref(&first),
        "read from the replica, which lacks the last payment"
    );
    let down = format!("postgres://postgres@127.0.0.1:{}/x", payrail_common::testing::free_port());
    assert_eq!(ids(&down), [first, second], "the replica is down: read from the primary");
    drop(app);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {copy} WITH (FORCE)")).execute(&admin).await.unwrap();
}
