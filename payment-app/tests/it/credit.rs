//! Credit limits (issue 29): an account spends down to `-credit_limit` and
//! not a cent further, whether payments come one after another or race;
//! a limit cannot be lowered below what the account already uses; the
//! database and the audit hold the same line as settle.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{App, TOKEN, TestEnv, client};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

async fn open(app: &App, body: Value) -> Value {
    let (status, account) = app.post("/api/v1/accounts", body).await;
    assert_eq!(status, 201, "{account}");
    account
}

async fn patch(app: &App, token: &str, account: &str, body: Value) -> (u16, Value) {
    let r = client(Some(token))
        .patch(format!("{}/api/v1/accounts/{account}", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn settled(app: &App, from: &str, to: &str, amount: &str) -> Value {
    let (status, paid) = app.pay(from, to, amount).await;
    assert_eq!(status, 202, "{paid}");
    app.wait_terminal(&[paid["id"].as_str().unwrap().to_owned()], SETTLE_WITHIN).await.remove(0)
}

async fn account(app: &App, id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/accounts/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn shown(account: &Value) -> (&str, &str, &str) {
    (
        account["balance"].as_str().unwrap(),
        account["available_balance"].as_str().unwrap(),
        account["credit_limit"].as_str().unwrap(),
    )
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn credit_is_spent_to_the_cent_and_one_cent_more_fails() {
    let env = TestEnv::new();
    let app = App::start(&env, &[("STATEMENT_REFRESH_SECS", "1")]).await;
    let a = open(&app, json!({"initial_balance": "10.00", "credit_limit": "50.00"})).await;
    assert_eq!(shown(&a), ("10.00", "60.00", "50.00"), "{a}");
    let a = a["id"].as_str().unwrap().to_owned();
    let b = app.account("0").await;

    let spent = settled(&app, &a, &b, "60.00").await;
    assert_eq!(spent["status"], "done", "{spent}");
    assert_eq!(shown(&account(&app, &a).await), ("-50.00", "0.00", "50.00"));
    let refused = settled(&app, &a, &b, "0.01").await;
    assert_eq!(
        (&refused["status"], &refused["failure_reason"]),
        (&json!("failed"), &json!("insufficient_funds"))
    );
    assert_eq!(shown(&account(&app, &a).await), ("-50.00", "0.00", "50.00"));

    // The entries and the statement show the balance below zero.
    let (_, page) = app.get(&format!("/api/v1/accounts/{a}/entries?order=desc&limit=1")).await;
    assert_eq!(page["entries"][0]["balance_after"], "-50.00", "{page}");
    let mut closing = Value::Null;
    for _ in 0..100 {
        let (status, statement) = app.get(&format!("/api/v1/accounts/{a}/statement")).await;
        assert_eq!(status, 200, "{statement}");
        closing = statement["days"][0]["closing_balance"].clone();
        if closing == "-50.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(closing, "-50.00");

    // Money is conserved: b holds the issuance plus the credit a used.
    assert_eq!(app.balance(&b).await, "60.00");
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
    let conserved =
        report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "money_conserved").unwrap();
    let detail = conserved["detail"].as_str().unwrap();
    assert!(detail.contains("credit used 5000 of 5000 granted"), "{detail}");

    // Below the limit is refused by the database itself, whoever writes.
    let pg = env.pg().await;
    let id: uuid::Uuid = a.parse().unwrap();
    let refused = sqlx::query("UPDATE accounts SET balance = balance - 1 WHERE id = $1")
        .bind(id)
        .execute(&pg)
        .await
        .expect_err("the database refuses a balance past the credit limit");
    assert!(refused.to_string().contains("accounts_balance_within_credit"), "{refused}");
    // And should the constraints be dropped, the audit finds it.
    sqlx::query("ALTER TABLE accounts DROP CONSTRAINT accounts_balance_within_credit, DROP CONSTRAINT accounts_held_covered")
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET balance = balance - 1 WHERE id = $1")
        .bind(id)
        .execute(&pg)
        .await
        .unwrap();
    let (code, report) = env.audit();
    assert_eq!(code, 1, "{report}");
    assert!(failed_checks(&report).contains(&"balance_within_credit".to_owned()), "{report}");
}

#[tokio::test]
async fn a_limit_lowered_below_what_is_used_is_refused() {
    let env = TestEnv::new();
    let issuer = "issue-token-000001";
    let tokens = format!("{TOKEN},{issuer}=issue");
    let app = App::start(&env, &[("API_TOKENS", &tokens), ("MAX_ACCOUNT_ISSUANCE", "1000.00")]).await;
    let a = open(&app, json!({"credit_limit": "100.00"})).await["id"].as_str().unwrap().to_owned();
    let b = app.account("0").await;
    assert_eq!(settled(&app, &a, &b, "30.00").await["status"], "done");
    // A hold uses credit too: 30 spent and 20 held, 50 used.
    let (status, held) = app
        .post(
            "/api/v1/payment",
            json!({"from_account": a, "to_account": b, "amount": "20.00", "capture": "manual"}),
        )
        .await;
    assert_eq!(status, 202, "{held}");
    let held = app.wait_terminal(&[held["id"].as_str().unwrap().to_owned()], SETTLE_WITHIN).await.remove(0);
    assert_eq!(held["status"], "authorized", "{held}");
    assert_eq!(shown(&account(&app, &a).await), ("-30.00", "50.00", "100.00"));

    let (status, body) = patch(&app, issuer, &a, json!({"credit_limit": "49.99"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("credit_limit_below_used")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("50.00"), "{body}");
    assert_eq!(shown(&account(&app, &a).await), ("-30.00", "50.00", "100.00"), "nothing changed");

    // Exactly what is used is allowed: nothing is left to spend.
    let (status, body) = patch(&app, issuer, &a, json!({"credit_limit": "50.00"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(shown(&body), ("-30.00", "0.00", "50.00"));
    assert_eq!(settled(&app, &a, &b, "0.01").await["failure_reason"], "insufficient_funds");

    // Raising it is issuing: the `issue` scope, within the issuance limits.
    let (status, body) = patch(&app, TOKEN, &a, json!({"credit_limit": "60.00"})).await;
    assert_eq!(status, 200, "an all-scope token: {body}");
    let (status, body) = patch(&app, issuer, &a, json!({"credit_limit": "1000.01"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("issuance_limit_exceeded")), "{body}");
    let (status, body) = patch(&app, issuer, &a, json!({"metadata": {"k": "v"}})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "metadata takes pay: {body}"
    );
    let (status, body) = patch(&app, issuer, &a, json!({"credit_limit": "-1"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_amount")), "{body}");

    // The database refuses it too, for whoever goes around the API.
    let pg = env.pg().await;
    let refused = sqlx::query("UPDATE accounts SET credit_limit = 4999 WHERE id = $1")
        .bind(a.parse::<uuid::Uuid>().unwrap())
        .execute(&pg)
        .await
        .expect_err("the database refuses a limit below what is used");
    assert!(refused.to_string().contains("accounts_held_covered"), "{refused}");

    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}

/// Two payments that each take the last of the credit, settled in two
/// transactions at once (settle alone, without the lock that would
/// otherwise order them): exactly one wins.
#[tokio::test]
async fn two_payments_race_for_the_last_credit_and_exactly_one_wins() {
    use payment_app::db::{self, Db, DbConfig, accounts::Opening, payments::Accepted};
    use payment_app::domain::{AccountId, Amount, Currency, NewPayment, PaymentStatus};

    let env = TestEnv::new();
    let url = env.database_url.parse().unwrap();
    db::ensure_database(&url).await.unwrap();
    let db = Db::connect(&DbConfig {
        url,
        read_url: None,
        pool_size: 8,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    db::migrate(&db.primary).await.unwrap();
    let cents = |minor| Amount::from_minor(minor).unwrap();
    let open = |initial, credit| {
        let db = &db;
        async move {
            let mut conn = db.primary.acquire().await.unwrap();
            let opening = Opening {
                currency: Currency::usd(),
                initial_balance: cents(initial),
                credit_limit: cents(credit),
            };
            db::accounts::create(&mut conn, AccountId::new(), opening, &Default::default(), cents(i64::MAX))
                .await
                .unwrap()
                .id
        }
    };
    for round in 0..10 {
        // 3.00 of its own and 7.00 of credit; 10.00 each way.
        let (a, b, c) = (open(300, 700).await, open(0, 0).await, open(0, 0).await);
        let mut ids = Vec::new();
        for to in [b, c] {
            let new = NewPayment::new(a, to, cents(1000), Currency::usd(), None).unwrap();
            let mut conn = db.primary.acquire().await.unwrap();
            ids.push(db::payments::insert(&mut conn, &Accepted::untraced(new)).await.unwrap().id);
        }
        let settles = ids.iter().map(|id| {
            let db = &db;
            async move {
                loop {
                    match db::settle::settle_batch(&db.primary, &[*id]).await {
                        Ok(settled) if settled.blocked.is_empty() => return,
                        Ok(_) => {}
                        Err(e) if e.is_lock_timeout() => {}
                        Err(e) => panic!("{e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        join_all(settles).await;
        let mut statuses = Vec::new();
        for id in &ids {
            let payment = db::payments::get(&db.primary, *id).await.unwrap().unwrap();
            statuses.push((payment.status, payment.failure_reason));
        }
        statuses.sort_by_key(|(status, _)| status.as_str());
        let done = statuses.iter().filter(|(s, _)| *s == PaymentStatus::Done).count();
        assert_eq!(done, 1, "round {round}: {statuses:?}");
        let account = db::accounts::get(&db.primary, a).await.unwrap().unwrap();
        assert_eq!((account.balance, account.available()), (-700, Amount::ZERO), "round {round}");
    }
    let report = payment_app::audit::run(
        &db.primary,
        &payment_app::audit::AuditConfig::new(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    assert!(report.ok, "{report}");
}

/// The same race through the real API and pipeline (`payment-app all`:
/// intake, the lock, settle): two payments sent at once for the last of an
/// account's credit, each of them more than is left after the other. One
/// is `done`, the other `failed` with `insufficient_funds`, the account
/// ends exactly at `-credit_limit`, and the audit is clean.
#[tokio::test]
async fn two_payments_over_http_race_for_the_last_credit_and_exactly_one_wins() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    for round in 0..5 {
        // 3.00 of its own and 7.00 of credit; 10.00 each way.
        let a = open(&app, json!({"initial_balance": "3.00", "credit_limit": "7.00"})).await;
        let a = a["id"].as_str().unwrap().to_owned();
        let (b, c) = (app.account("0").await, app.account("0").await);
        let sent = join_all([&b, &c].map(|to| app.pay(&a, to, "10.00"))).await;
        let ids: Vec<String> = sent
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 202, "round {round}: {body}");
                body["id"].as_str().unwrap().to_owned()
            })
            .collect();
        let mut ends: Vec<(String, String)> = app
            .wait_terminal(&ids, SETTLE_WITHIN)
            .await
            .iter()
            .map(|p| (p["status"].as_str().unwrap().to_owned(), p["failure_reason"].to_string()))
            .collect();
        ends.sort();
        assert_eq!(
            ends,
            [
                ("done".to_owned(), "null".to_owned()),
                ("failed".to_owned(), "\"insufficient_funds\"".to_owned())
            ],
            "round {round}"
        );
        assert_eq!(shown(&account(&app, &a).await), ("-7.00", "0.00", "7.00"), "round {round}");
        let paid = [account(&app, &b).await, account(&app, &c).await];
        let mut balances: Vec<&str> = paid.iter().map(|p| p["balance"].as_str().unwrap()).collect();
        balances.sort();
        assert_eq!(balances, ["0.00", "10.00"], "round {round}");
    }
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}
