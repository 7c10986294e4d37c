//! Credit limits (issue 29): an account spends down to `-credit_limit` and
//! not a cent further, whether payments come one after another or race;
//! a limit cannot be lowered below what the account already uses; the
//! database and the audit hold the same line as settle.

use std::time::Duration;

use futures_util::future::join_all;
use futures_util::{TryStreamExt, pin_mut};
use payrail_client::types::{
    AccountView, CreateAccount, CreatePayment, ErrorCode, FailureReason, PaymentStatus, PaymentView,
    UpdateAccount,
};
use payrail_client::{Error, TERMINAL_PAYMENT_STATUSES};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{App, TOKEN, TestEnv, payment, refusal, refused};

const SETTLE_WITHIN: Duration = Duration::from_secs(60);

async fn open(app: &App, initial_balance: Option<&str>, credit_limit: &str) -> AccountView {
    let body = CreateAccount {
        initial_balance: initial_balance.map(str::to_owned),
        credit_limit: Some(credit_limit.to_owned()),
        ..Default::default()
    };
    let opened = app.api.create_account_with_meta(&body, None).await.unwrap();
    assert_eq!(opened.status, StatusCode::CREATED, "{opened:?}");
    opened.value
}

async fn patch(app: &App, token: &str, account: &str, body: UpdateAccount) -> Result<AccountView, Error> {
    app.api_as(token).update_account(account.parse().unwrap(), &body).await
}

fn limit(credit_limit: &str) -> UpdateAccount {
    UpdateAccount { credit_limit: Some(credit_limit.to_owned()), metadata: None }
}

/// The payment once it is no longer `pending` (`authorized` for a hold).
async fn settled_body(app: &App, body: &CreatePayment) -> PaymentView {
    let accepted = app.accept(body).await;
    let past_pending = [&TERMINAL_PAYMENT_STATUSES[..], &[PaymentStatus::Authorized]].concat();
    app.api.wait_until(accepted.id, SETTLE_WITHIN, &past_pending).await.unwrap()
}

async fn settled(app: &App, from: &str, to: &str, amount: &str) -> PaymentView {
    settled_body(app, &payment(from, to, amount)).await
}

async fn account(app: &App, id: &str) -> AccountView {
    app.api.get_account(id.parse().unwrap()).await.unwrap()
}

fn shown(account: &AccountView) -> (String, String, String) {
    (account.balance.to_string(), account.available_balance.to_string(), account.credit_limit.to_string())
}

fn triple(balance: &str, available: &str, limit: &str) -> (String, String, String) {
    (balance.to_owned(), available.to_owned(), limit.to_owned())
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
    let a = open(&app, Some("10.00"), "50.00").await;
    assert_eq!(shown(&a), triple("10.00", "60.00", "50.00"), "{a:?}");
    let (id, a) = (a.id, a.id.to_string());
    let b = app.account("0").await;

    let spent = settled(&app, &a, &b, "60.00").await;
    assert_eq!(spent.status, PaymentStatus::Done, "{spent:?}");
    assert_eq!(shown(&account(&app, &a).await), triple("-50.00", "0.00", "50.00"));
    let refused = settled(&app, &a, &b, "0.01").await;
    assert_eq!(
        (refused.status, refused.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::InsufficientFunds))
    );
    assert_eq!(shown(&account(&app, &a).await), triple("-50.00", "0.00", "50.00"));

    // The entries and the statement show the balance below zero.
    let newest_first = [("order", "desc".to_owned()), ("limit", "1".to_owned())];
    let entries = app.api.account_entries(id, &newest_first);
    pin_mut!(entries);
    let newest = entries.try_next().await.unwrap().expect("an entry");
    assert_eq!(newest.balance_after.to_string(), "-50.00", "{newest:?}");
    let mut closing = None;
    for _ in 0..100 {
        let statement = app.api.statement(id, None, None).await.unwrap();
        closing = statement.days.first().map(|d| d.closing_balance.to_string());
        if closing.as_deref() == Some("-50.00") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(closing.as_deref(), Some("-50.00"));

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
    let id: uuid::Uuid = id.as_uuid();
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
    let a = open(&app, None, "100.00").await.id.to_string();
    let b = app.account("0").await;
    assert_eq!(settled(&app, &a, &b, "30.00").await.status, PaymentStatus::Done);
    // A hold uses credit too: 30 spent and 20 held, 50 used.
    let hold = CreatePayment { capture: Some("manual".into()), ..payment(&a, &b, "20.00") };
    let held = settled_body(&app, &hold).await;
    assert_eq!(held.status, PaymentStatus::Authorized, "{held:?}");
    assert_eq!(shown(&account(&app, &a).await), triple("-30.00", "50.00", "100.00"));

    let (status, code, message) = refusal(patch(&app, issuer, &a, limit("49.99")).await);
    assert_eq!((status, code), (422, ErrorCode::CreditLimitBelowUsed));
    assert!(message.contains("50.00"), "{message}");
    assert_eq!(shown(&account(&app, &a).await), triple("-30.00", "50.00", "100.00"), "nothing changed");

    // Exactly what is used is allowed: nothing is left to spend.
    let lowered = patch(&app, issuer, &a, limit("50.00")).await.unwrap();
    assert_eq!(shown(&lowered), triple("-30.00", "0.00", "50.00"));
    assert_eq!(settled(&app, &a, &b, "0.01").await.failure_reason, Some(FailureReason::InsufficientFunds));

    // Raising it is issuing: the `issue` scope, within the issuance limits.
    let raised = patch(&app, TOKEN, &a, limit("60.00")).await;
    assert!(raised.is_ok(), "an all-scope token: {raised:?}");
    let answer = patch(&app, issuer, &a, limit("1000.01")).await;
    assert_eq!(refused(answer), (422, ErrorCode::IssuanceLimitExceeded));
    let answer =
        patch(&app, issuer, &a, UpdateAccount { metadata: Some(json!({"k": "v"})), credit_limit: None })
            .await;
    assert_eq!(refused(answer), (403, ErrorCode::Forbidden), "metadata takes pay");
    let answer = patch(&app, issuer, &a, limit("-1")).await;
    assert_eq!(refused(answer), (422, ErrorCode::InvalidAmount));

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
        let a = open(&app, Some("3.00"), "7.00").await.id.to_string();
        let (b, c) = (app.account("0").await, app.account("0").await);
        let bodies = [payment(&a, &b, "10.00"), payment(&a, &c, "10.00")];
        let sent = join_all(bodies.iter().map(|body| app.api.create_payment_with_meta(body, None))).await;
        let mut ends = Vec::new();
        for answer in sent {
            let answer = answer.unwrap();
            assert_eq!(answer.status, StatusCode::ACCEPTED, "round {round}: {answer:?}");
            let end = app.api.wait_until_terminal(answer.value.id, SETTLE_WITHIN).await.unwrap();
            ends.push((end.status.to_string(), end.failure_reason));
        }
        ends.sort_by_key(|(status, _)| status.clone());
        assert_eq!(
            ends,
            [("done".to_owned(), None), ("failed".to_owned(), Some(FailureReason::InsufficientFunds))],
            "round {round}"
        );
        assert_eq!(shown(&account(&app, &a).await), triple("-7.00", "0.00", "7.00"), "round {round}");
        let paid = [account(&app, &b).await, account(&app, &c).await];
        let mut balances: Vec<String> = paid.iter().map(|p| p.balance.to_string()).collect();
        balances.sort();
        assert_eq!(balances, ["0.00", "10.00"], "round {round}");
    }
    let (code, report) = env.audit();
    assert_eq!(code, 0, "{report}");
}
