//! Promises kept under attack: what an adversarial run found breaking
//! (poison amounts, commits hidden behind errors, queues deleted under the
//! workers, tokens that could mint money, slow clients, unbounded logs),
//! each shown fixed against the real services.

use std::time::Duration;

use crate::common::{App, TestEnv, eventually, payment, poll_within, refused};
use futures_util::TryStreamExt;
use payrail_client::types::{CreateAccount, CreateEndpoint, ErrorCode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// An account holding the largest balance there is, made behind the API's
/// back (the API no longer issues that much): what an older payrail let in.
async fn full_account(env: &TestEnv) -> String {
    let pg = env.pg().await;
    let id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, $2)")
        .bind(id)
        .bind(i64::MAX)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("INSERT INTO ledger_entries (account_id, kind, amount, balance_after) VALUES ($1, 'issuance', $2, $2)")
        .bind(id)
        .bind(i64::MAX)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("UPDATE issuance_total SET total = total + $1").bind(i64::MAX).execute(&pg).await.unwrap();
    id.to_string()
}

fn ids(answers: &[(u16, Value)]) -> Vec<String> {
    answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Crediting a full account is a `failed` payment like an overdraft, not an
/// error that settle retries: it ends at once, nothing is dead-lettered,
/// payments around it settle, and the audit passes (its sums do not
/// overflow either).
#[tokio::test]
async fn a_credit_that_cannot_apply_fails_and_delays_nobody() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("DELIVERY_LIMIT", "40")]).await;
    let (a, b, c) = (app.account("100.00").await, app.account("0").await, app.account("100.00").await);
    let full = full_account(&env).await;

    let mut poison = Vec::new();
    let mut unrelated = Vec::new();
    for _ in 0..10 {
        poison.push(app.pay(&a, &full, "0.01").await);
        unrelated.push(app.pay(&c, &b, "1.00").await);
    }
    let poison = app.wait_terminal(&ids(&poison), SETTLE_WITHIN).await;
    for p in &poison {
        assert_eq!(
            (p["status"].as_str(), p["failure_reason"].as_str()),
            (Some("failed"), Some("balance_overflow"))
        );
    }
    let unrelated = app.wait_terminal(&ids(&unrelated), SETTLE_WITHIN).await;
    assert!(unrelated.iter().all(|p| p["status"] == "done"), "{unrelated:?}");
    assert_eq!(app.balance(&a).await, "100.00", "a failed credit moves nothing");
    assert_eq!(app.balance(&b).await, "10.00");

    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");
    let out = env.command(&["dead-letters", "list", "--json"]).output().unwrap();
    let letters: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(letters.is_empty(), "nothing is dead-lettered: {letters:?}");
    assert!(!app.log_text().contains("ERROR"), "no error was logged:\n{}", app.log_problems());
}

/// Money enters only as issuance, bounded per account and in total; a
/// refusal is a 422 that records nothing.
#[tokio::test]
async fn issuance_is_bounded_per_account_and_in_total() {
    let env = TestEnv::new();
    let app =
        App::start(&env, &[("MAX_ACCOUNT_ISSUANCE", "1000.00"), ("MAX_TOTAL_ISSUANCE", "1500.00")]).await;
    for (balance, opens) in [
        ("1000.01", false),
        ("92233720368547758.07", false),
        ("1000.00", true),
        ("500.01", false),
        ("500.00", true),
        ("0.01", false),
        ("0", true),
    ] {
        let body = CreateAccount { initial_balance: Some(balance.into()), ..Default::default() };
        let answer = app.api.create_account_with_meta(&body, None).await;
        if opens {
            assert_eq!(answer.unwrap().status, StatusCode::CREATED, "{balance}");
        } else {
            assert_eq!(refused(answer), (422, ErrorCode::IssuanceLimitExceeded), "{balance}");
        }
    }
    let pg = env.pg().await;
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(&pg).await.unwrap();
    assert_eq!(accounts, 3, "refusals record nothing");
    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");
}

/// A day's sums on one account that pass what a bigint holds used to make
/// every refresh of the statement view fail, freezing every statement
/// without a word. Now the sums are numeric; and a refresh that fails for
/// any reason shows as `stale` in /readyz and in a metric.
#[tokio::test]
async fn statement_sums_never_overflow_and_a_failing_refresh_is_reported() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("STATEMENT_REFRESH_SECS", "1")]).await;
    let a = app.account("1.00").await;
    let pg = env.pg().await;
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO ledger_entries (account_id, kind, amount, balance_after) \
             VALUES ($1::uuid, 'issuance', $2, $2)",
        )
        .bind(&a)
        .bind(i64::MAX)
        .execute(&pg)
        .await
        .unwrap();
    }
    let id = a.parse().unwrap();
    let statement = poll_within(SETTLE_WITHIN, || async {
        let statement = app.api.statement(id, None, None).await.unwrap();
        let credits = statement.days.first().map(|d| d.credits.to_string());
        if credits.as_deref() == Some("184467440737095517.14") {
            Ok(statement)
        } else {
            Err(format!("{statement:?}"))
        }
    })
    .await
    .unwrap_or_else(|seen| panic!("the view never refreshed: {seen}\n{}", app.log_problems()));
    assert_eq!(statement.days[0].closing_balance.to_string(), "184467440737095517.14");

    // Without its unique index the totals cannot take new entries (the
    // refresh's upsert needs it): every refresh with an entry to add fails
    // from now on.
    sqlx::raw_sql("DROP INDEX account_daily_by_account_day").execute(&pg).await.unwrap();
    app.account("2.00").await;
    let (status, ready) = eventually(SETTLE_WITHIN, "/readyz reports the statements stale", || async {
        let (status, ready) = app.get("/readyz").await;
        let stale = ready["statements"].as_str().is_some_and(|s| s.starts_with("stale"));
        if stale { Ok((status, ready)) } else { Err(ready.to_string()) }
    })
    .await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("degraded")), "{ready}");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("payrail_statement_refresh_failures_total "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(failures.is_some_and(|n| n > 0), "no failure counted:\n{metrics}");
    assert!(app.log_text().contains("statement view refresh failed"));

    sqlx::raw_sql("CREATE UNIQUE INDEX account_daily_by_account_day ON account_daily (account_id, day)")
        .execute(&pg)
        .await
        .unwrap();
    eventually(SETTLE_WITHIN, "/readyz reports the statements recovered", || async {
        let (_, ready) = app.get("/readyz").await;
        if ready["statements"] == "ok" { Ok(()) } else { Err(ready.to_string()) }
    })
    .await;
}

/// A settle message names its payments' accounts, and settle used to free
/// the lock on whatever accounts the message named. Now it frees the lock
/// only on the accounts the database records for the payments, and only
/// where the key still holds the message's token.
#[tokio::test]
async fn settle_releases_only_the_lock_its_payments_hold() {
    use redis::AsyncCommands;

    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (x, y) = (app.account("0").await, app.account("0").await);
    // A pending payment the broker never saw, settled only by the message
    // below (the relay waits far longer than this test).
    let pg = env.pg().await;
    let payment = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, from_account, to_account, amount) VALUES ($1, $2::uuid, $3::uuid, 100)",
    )
    .bind(payment)
    .bind(&a)
    .bind(&b)
    .execute(&pg)
    .await
    .unwrap();

    // The token holds a..b as the lock worker would have locked them, and
    // x..y as well (held by someone else who, in this test, has the same
    // token: the strongest case for the message's word).
    let token = uuid::Uuid::new_v4().to_string();
    let key = |account: &str| format!("{}:lock:account:{account}", env.key_prefix);
    let mut redis = redis::Client::open(env.redis_urls.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for account in [&a, &b, &x, &y] {
        let _: () = redis.set_ex(key(account), &token, 60).await.unwrap();
    }
    let lying = json!({
        "payments": [{"payment_id": payment.to_string(), "from_account": x, "to_account": y}],
        "lock_token": token,
    });
    let publisher = crate::common::publisher(&env).await;
    publisher.publish_raw("payrail.settle", lying.to_string().as_bytes(), Default::default()).await.unwrap();

    let settled = app.wait_terminal(&[payment.to_string()], SETTLE_WITHIN).await;
    assert_eq!(settled[0]["status"], "done", "settle goes by the database: {}", settled[0]);
    assert_eq!((app.balance(&a).await, app.balance(&b).await), ("9.00".to_owned(), "1.00".to_owned()));
    assert_eq!(app.balance(&x).await, "0.00");
    for account in [&x, &y] {
        let held: Option<String> = redis.get(key(account)).await.unwrap();
        assert_eq!(held.as_deref(), Some(token.as_str()), "a lock the payment does not hold was freed");
    }
    for account in [&a, &b] {
        let held: Option<String> = redis.get(key(account)).await.unwrap();
        assert_eq!(held, None, "the payment's own lock is freed");
    }
}

/// Queues deleted under running workers used to stay deleted: consumers
/// looped on NOT_FOUND, publishes were returned, payments stayed pending
/// and /readyz said `ready`. Now /readyz names the missing queue, the
/// queues are declared again, and every payment settles (those whose
/// messages were deleted with the queue, by the relay).
#[tokio::test]
async fn deleted_queues_come_back() {
    let env = TestEnv::new();
    let fast_relay = [("RELAY_AFTER_SECS", "2"), ("RELAY_INTERVAL_SECS", "1")];
    let app = App::start(&env, &fast_relay).await;
    let (a, b) = (app.account("100.00").await, app.account("0").await);
    let mut paid = vec![app.pay(&a, &b, "1.00").await];
    app.wait_terminal(&ids(&paid), SETTLE_WITHIN).await;

    for queue in ["payrail.lock", "payrail.settle"] {
        let deleted = std::process::Command::new("rabbitmqctl")
            .args(["-q", "-p", &env.vhost, "delete_queue", queue])
            .status()
            .unwrap();
        assert!(deleted.success());
        for _ in 0..5 {
            paid.push(app.pay(&a, &b, "1.00").await);
        }
    }
    let settled = app.wait_terminal(&ids(&paid), SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done"), "{settled:?}");
    assert_eq!(app.balance(&b).await, "11.00");
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["rabbitmq"], "ok", "{ready}");
    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");
}

/// /readyz names a work queue nobody consumes: an API running without any
/// worker is degraded, not ready.
#[tokio::test]
async fn readyz_reports_a_queue_without_consumers() {
    let env = TestEnv::new();
    assert!(env.command(&["migrate"]).status().unwrap().success());
    let app = App::start_with(&env, &["api"], &[]).await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["rabbitmq"], "payrail.lock has no consumer, payrail.settle has no consumer", "{ready}");
}

/// One account's row held by another session (`SELECT … FOR UPDATE`) used
/// to hold every payment grouped with one on it: unrelated payments waited
/// for seconds and were answered 503 although they were recorded. Now a
/// blocked payment waits a bounded time and is refused with nothing
/// recorded; the others are answered at once; and every answer tells the
/// truth: each 202 is recorded, each refusal is not.
#[tokio::test]
async fn a_locked_account_row_delays_only_its_own_payments_and_answers_tell_the_truth() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("INTAKE_LOCK_TIMEOUT_MS", "500")]).await;
    let locked = app.account("100.00").await;
    let mut pairs = Vec::new();
    for _ in 0..12 {
        pairs.push((app.account("100.00").await, app.account("0").await));
    }
    let pg = env.pg().await;
    let holder = crate::common::hold_account_row(&pg, &locked).await;

    let mut answers = Vec::new();
    for wave in 0..5 {
        let blocked = async {
            let body = json!({"from_account": locked, "to_account": pairs[0].1, "amount": "1.00",
                              "payment_description": format!("blocked-{wave}")});
            let started = std::time::Instant::now();
            (format!("blocked-{wave}"), app.post("/api/v1/payment", body).await, started.elapsed())
        };
        let unrelated = futures_util::future::join_all(pairs.iter().enumerate().map(|(i, (from, to))| {
            let app = &app;
            async move {
                let description = format!("unrelated-{wave}-{i}");
                let body = json!({"from_account": from, "to_account": to, "amount": "1.00",
                                  "payment_description": description});
                let started = std::time::Instant::now();
                (description, app.post("/api/v1/payment", body).await, started.elapsed())
            }
        }));
        let (blocked, unrelated) = tokio::join!(blocked, unrelated);
        answers.push((blocked, false));
        answers.extend(unrelated.into_iter().map(|a| (a, true)));
    }
    holder.rollback().await.unwrap();

    for ((description, (status, body), took), unrelated) in &answers {
        if *unrelated {
            assert_eq!(*status, 202, "{description}: {body}");
            assert!(*took < Duration::from_secs(3), "{description} took {took:?}");
        } else {
            assert_eq!((*status, body["error"]["code"].as_str()), (503, Some("account_busy")), "{body}");
            assert!(*took < Duration::from_secs(3), "{description} took {took:?}");
        }
        let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE description = $1")
            .bind(description)
            .fetch_one(&pg)
            .await
            .unwrap();
        assert_eq!(recorded, i64::from(*status == 202), "{description} answered {status}: {body}");
    }
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(_, u)| *u)
        .map(|((_, (_, b), _), _)| b["id"].as_str().unwrap().to_owned())
        .collect();
    let settled = app.wait_terminal(&accepted, SETTLE_WITHIN).await;
    assert!(settled.iter().all(|p| p["status"] == "done"));
}

/// Bad input is refused as bad input, never a 500 or a panic: statement
/// dates whose arithmetic overflowed or that PostgreSQL cannot hold, and a
/// NUL character in a payment's or a webhook endpoint's description.
#[tokio::test]
async fn out_of_range_dates_and_nul_characters_are_client_errors() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    // `to=0001-01-01` alone defaults `from` to a day in year 0, refused as
    // `from=0000-12-03` is (issue 26: it was answered 200 from 0000-12-03).
    for query in [
        "to=-262143-01-01",
        "from=-200000-01-01",
        "to=262142-12-31",
        "from=0000-01-01&to=0000-01-02",
        "to=0001-01-01",
        "from=0000-12-03&to=0001-01-01",
    ] {
        let (status, body) = app.get(&format!("/api/v1/accounts/{a}/statement?{query}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_query")), "{query}: {body}");
    }
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let january = app.api.statement(a.parse().unwrap(), day("2026-01-01"), day("2026-01-31")).await;
    assert!(january.is_ok(), "{january:?}");
    let nul = payrail_client::types::CreatePayment {
        payment_description: Some("a\u{0}b".into()),
        ..payment(&a, &b, "1.00")
    };
    assert_eq!(refused(app.api.create_payment(&nul, None).await), (422, ErrorCode::InvalidBody));
    // A webhook endpoint's description (issue 26: 500 `internal`, the
    // insert's "invalid byte sequence"): refused before the URL is looked at.
    let endpoint = CreateEndpoint {
        url: "https://93.184.216.34/hooks".into(),
        events: None,
        description: Some("a\u{0}b".into()),
    };
    assert_eq!(refused(app.api.create_webhook_endpoint(&endpoint).await), (422, ErrorCode::InvalidBody));
    let listed: Vec<_> = app.api.webhook_endpoints(&[]).try_collect().await.unwrap();
    assert!(listed.is_empty(), "nothing was registered: {listed:?}");
    assert!(!app.log_text().contains("panicked"), "{}", app.log_problems());
}

/// What reaches the log stays bounded whatever the input: an 8 MB
/// malformed message is logged as an excerpt, a settle message naming
/// 100,000 unknown payments as one line, and a 60 KB `x-request-id` is
/// neither echoed nor logged.
#[tokio::test]
async fn logs_stay_bounded_under_bad_input() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("DELIVERY_LIMIT", "1")]).await;
    let before = app.log_text().len();

    let publisher = crate::common::publisher(&env).await;
    let mut huge = vec![b'{'; 8 * 1024 * 1024];
    huge[100] = 0x1b;
    publisher.publish_raw("payrail.lock", &huge, Default::default()).await.unwrap();
    let ids: Vec<String> = (0..100_000).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let settle = json!({
        "payments": ids.iter().map(|id| json!({"payment_id": id, "from_account": id, "to_account": id})).collect::<Vec<_>>(),
        "lock_token": uuid::Uuid::new_v4(),
    });
    publisher.publish_raw("payrail.settle", settle.to_string().as_bytes(), Default::default()).await.unwrap();

    let long_id = "r".repeat(60 * 1024);
    let a = app.account("0").await;
    let response = app
        .http
        .get(format!("{}/api/v1/accounts/{a}", app.base))
        .header("x-request-id", &long_id)
        .send()
        .await
        .unwrap();
    let echoed = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert!(echoed.len() <= 128 && echoed != long_id);
    let kept = app
        .http
        .get(format!("{}/api/v1/accounts/{a}", app.base))
        .header("x-request-id", "order-42.retry:1")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers().get("x-request-id").unwrap(), "order-42.retry:1");

    // Both messages are handled (the first dead-lettered, the second
    // skipped) within a few seconds.
    poll_within(SETTLE_WITHIN, || async {
        let log = app.log_text();
        let logged =
            log.contains("dead-lettering a malformed message") && log.contains("redeliveries ignored");
        if logged { Ok(()) } else { Err(String::new()) }
    })
    .await
    .unwrap_or_else(|_| panic!("the dead-lettering was not logged; log tail:\n{}", app.log_tail()));
    let log = app.log_text();
    let grown = &log[before..];
    assert!(grown.len() < 64 * 1024, "the log grew by {} bytes", grown.len());
    assert!(grown.lines().count() < 100, "{} lines", grown.lines().count());
    assert!(!grown.contains('\u{1b}'), "a control character reached the log");
    assert!(!log.contains(&long_id[..1024]), "the long request id was logged");
}

/// Help text and start-up errors never show a credential: not for URLs
/// from the environment, not for a URL that does not parse.
#[tokio::test]
async fn help_and_errors_never_show_passwords() {
    let env = TestEnv::new();
    let secret_env = [
        ("DATABASE_URL", "postgres://payrail:pg-s3cret-pw@127.0.0.1:5432/payrail"),
        ("AMQP_URL", "amqp://payrail:mq-s3cret-pw@127.0.0.1:5672/%2f"),
        ("REDIS_URLS", "redis://:redis-s3cret-pw@127.0.0.1:6379"),
        ("API_TOKENS", "token-s3cret-pw-0001"),
    ];
    let mut help = env.command(&["all", "--help"]);
    for (k, v) in secret_env {
        help.env(k, v);
    }
    let out = help.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains("s3cret"), "help shows a credential:\n{text}");

    for (name, bad) in [
        ("DATABASE_URL", "postgres://payrail:pg-s3cret-pw@[::1"),
        ("AMQP_URL", "amqp://payrail:mq-s3cret-pw@bad host:5672"),
    ] {
        let out = env.command(&["all"]).env(name, bad).env("HTTP_ADDR", "127.0.0.1:0").output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{name}: {text}");
        assert!(text.contains(name), "the error names the setting: {text}");
        assert!(!text.contains("s3cret"), "{name}: an error shows a credential:\n{text}");
    }
}

/// The ledger is append-only in the database itself: an entry cannot be
/// changed or deleted, nor can a settled payment, whoever asks; and the
/// audit fails when the guard is taken away.
#[tokio::test]
async fn the_database_refuses_to_rewrite_the_ledger_and_audit_checks_the_guard() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (_, paid) = app.pay(&a, &b, "4.00").await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    app.wait_terminal(std::slice::from_ref(&paid), SETTLE_WITHIN).await;

    let pg = env.pg().await;
    for attack in [
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries CASCADE",
    ] {
        let refused = sqlx::raw_sql(attack).execute(&pg).await.expect_err(attack);
        assert!(refused.to_string().contains("append-only"), "{attack}: {refused}");
    }
    for attack in
        ["UPDATE payments SET amount = 1 WHERE id = $1::uuid", "DELETE FROM payments WHERE id = $1::uuid"]
    {
        let refused = sqlx::query(attack).bind(&paid).execute(&pg).await.expect_err(attack);
        assert!(refused.to_string().contains("a settled payment never changes"), "{attack}: {refused}");
    }
    assert_eq!(app.balance(&b).await, "4.00");
    let (code, audit) = env.audit();
    assert_eq!(code, 0, "{audit}");

    sqlx::raw_sql("ALTER TABLE payments DISABLE TRIGGER payments_terminal_frozen")
        .execute(&pg)
        .await
        .unwrap();
    let (code, audit) = env.audit();
    assert_eq!(code, 1, "{audit}");
    let guard = audit["checks"].as_array().unwrap().iter().find(|c| c["name"] == "ledger_guarded").unwrap();
    assert_eq!(guard["ok"], false, "{guard}");
    assert_eq!(guard["examples"], json!(["payments_terminal_frozen"]), "{guard}");
}

/// payment-app runs as a role of its own, which `migrate --app-role`
/// creates and grants: it settles payments and refreshes statements, yet
/// cannot rewrite the ledger, change the schema or switch the guards off;
/// `audit --app-role` checks exactly that, and migrate refuses to make a
/// superuser the app role.
#[tokio::test]
async fn the_app_runs_as_a_role_that_cannot_rewrite_the_ledger() {
    let env = TestEnv::new();
    let role = format!("{}_app", env.name);
    let migrated = env
        .command(&["migrate"])
        .env("DB_APP_ROLE", &role)
        .env("DB_APP_PASSWORD", "app-role-password-1")
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let app_url = format!("postgres://{role}:app-role-password-1@127.0.0.1:5432/{}", env.name);
    let app = App::start_with(
        &env,
        &["all", "--skip-migrations"],
        &[
            ("DATABASE_URL", app_url.as_str()),
            ("STATEMENT_REFRESH_SECS", "1"),
            ("RETENTION_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (_, paid) = app.pay(&a, &b, "3.00").await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_terminal(&[paid], SETTLE_WITHIN).await[0]["status"], "done");
    poll_within(SETTLE_WITHIN, || async {
        let statement = app.api.statement(b.parse().unwrap(), None, None).await.unwrap();
        let credits = statement.days.first().map(|d| d.credits.to_string());
        if credits.as_deref() == Some("3.00") { Ok(()) } else { Err(format!("{statement:?}")) }
    })
    .await
    .unwrap_or_else(|seen| panic!("the app role could not refresh ({seen}): {}", app.log_problems()));
    assert!(!app.log_text().contains("as a superuser"), "the app connected as a superuser");
    // Retention runs as the app role too: an event made 40 days ago (by
    // its id) and a key past its day go.
    let owner = env.pg().await;
    let old_event = uuid::Uuid::from_u128(
        u128::try_from((chrono::Utc::now() - chrono::Duration::days(40)).timestamp_millis()).unwrap() << 80
            | 0x7000 << 64,
    );
    sqlx::query(
        "INSERT INTO events (id, type, payment_id, status, payment_updated_at) \
         SELECT $1, 'payment.created', id, 'pending', now() FROM payments LIMIT 1",
    )
    .bind(old_event)
    .execute(&owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request, status, response, created_at) \
         VALUES ('payment', 'old', '{}', 202, '{}', now() - interval '25 hours')",
    )
    .execute(&owner)
    .await
    .unwrap();
    poll_within(SETTLE_WITHIN, || async {
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM events WHERE id = $1) + (SELECT count(*) FROM idempotency_keys WHERE key = 'old')",
        )
        .bind(old_event)
        .fetch_one(&owner)
        .await
        .unwrap();
        if left == 0 { Ok(()) } else { Err(format!("{left} of the old event and key left")) }
    })
    .await
    .unwrap_or_else(|seen| panic!("retention as the app role: {seen}; {}", app.log_problems()));
    owner.close().await;

    let as_app = sqlx::PgPool::connect(&app_url).await.unwrap();
    for attack in [
        "UPDATE ledger_entries SET amount = 0",
        "DELETE FROM payments",
        "TRUNCATE ledger_entries",
        "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only",
        "CREATE TABLE escape (id int)",
        "UPDATE account_daily SET credits = 0",
        "DELETE FROM audit_checkpoint_accounts",
    ] {
        let refused = sqlx::raw_sql(attack).execute(&as_app).await.expect_err(attack).to_string();
        assert!(
            refused.contains("permission denied") || refused.contains("must be owner"),
            "{attack}: {refused}"
        );
    }
    as_app.close().await;

    let audit = |role: &str| {
        let out = env.command(&["audit", "--json", "--app-role", role]).output().unwrap();
        (out.status.code().unwrap(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    let (code, report) = audit(&role);
    assert_eq!(code, 0, "{report}");
    let (code, report) = audit("postgres");
    assert_eq!(code, 1, "{report}");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "app_role_least_privilege")
        .unwrap();
    assert!(check["examples"].as_array().unwrap().contains(&json!("superuser")), "{check}");

    let refused = env.command(&["migrate"]).env("DB_APP_ROLE", "postgres").output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("must not be the role that applies migrations")
            || String::from_utf8_lossy(&refused.stdout)
                .contains("must not be the role that applies migrations")
    );

    drop(app);
    let pg = env.pg().await;
    sqlx::raw_sql(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\"")).execute(&pg).await.unwrap();
}
