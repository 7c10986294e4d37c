//! Who may do what: token scopes on every route, the token format, the
//! `Bearer` scheme in any case, and per-token rate limits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{App, TOKEN, TestEnv, client};

const READ: &str = "read-token-000000001";
const PAY: &str = "pay-token-0000000001";
const ISSUE: &str = "issue-token-00000001";
const ADMIN: &str = "admin-token-00000001";

async fn call(app: &App, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client(Some(token)).request(method, format!("{}{path}", app.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every route against every single-scope token: allowed exactly where the
/// scope says, otherwise 403 `forbidden` naming the scope, with nothing
/// recorded.
#[tokio::test]
async fn every_route_answers_each_scope_as_the_table_says() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ}=read,{PAY}=pay,{ISSUE}=issue,{ADMIN}=admin");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let payment = app.api.create_payment(&crate::common::payment(&a, &b, "1.00"), None).await.unwrap().id;

    let pay_body = json!({"from_account": a, "to_account": b, "amount": "0.01"});
    let routes: Vec<(Method, String, Option<Value>, &str, u16)> = vec![
        (Method::GET, format!("/api/v1/accounts/{a}"), None, "read", 200),
        (Method::GET, format!("/api/v1/accounts/{a}/payments"), None, "read", 200),
        (Method::GET, format!("/api/v1/accounts/{a}/statement"), None, "read", 200),
        (Method::GET, format!("/api/v1/payment/{payment}"), None, "read", 200),
        (Method::GET, format!("/api/v1/payments?account={a}&status=pending"), None, "read", 200),
        (Method::GET, "/api/v1/accounts?currency=USD".to_owned(), None, "read", 200),
        (Method::POST, "/api/v1/payment".to_owned(), Some(pay_body), "pay", 202),
        (Method::POST, "/api/v1/accounts".to_owned(), Some(json!({})), "pay", 201),
        (Method::POST, "/api/v1/accounts".to_owned(), Some(json!({"initial_balance": "5.00"})), "issue", 201),
        (Method::PATCH, format!("/api/v1/accounts/{a}"), Some(json!({"metadata": {"k": "v"}})), "pay", 200),
        (Method::POST, "/api/v1/accounts".to_owned(), Some(json!({"credit_limit": "5.00"})), "issue", 201),
        (Method::PATCH, format!("/api/v1/accounts/{a}"), Some(json!({"credit_limit": "5.00"})), "issue", 200),
        (
            Method::PATCH,
            format!("/api/v1/payment/{payment}"),
            Some(json!({"metadata": {"k": "v"}})),
            "pay",
            200,
        ),
    ];
    let pg = env.pg().await;
    let count = |table: &'static str| {
        let pg = pg.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pg)
                .await
                .unwrap()
        }
    };
    for (method, path, body, needs, allowed) in &routes {
        for (token, scope) in [(READ, "read"), (PAY, "pay"), (ISSUE, "issue"), (ADMIN, "admin")] {
            let before = (count("accounts").await, count("payments").await);
            let (status, answer) = call(&app, token, method.clone(), path, body.clone()).await;
            if scope == *needs {
                assert_eq!(status, *allowed, "{method} {path} with {scope}: {answer}");
            } else {
                assert_eq!(status, 403, "{method} {path} with {scope}: {answer}");
                assert_eq!(answer["error"]["code"], "forbidden");
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(message.contains(&format!("`{needs}`")), "{message}");
                assert_eq!(
                    (count("accounts").await, count("payments").await),
                    before,
                    "a refusal recorded something"
                );
            }
        }
        // The all-scope token may do everything.
        let (status, answer) = call(&app, TOKEN, method.clone(), path, body.clone()).await;
        assert_eq!(status, *allowed, "{method} {path} with every scope: {answer}");
    }
}

/// A token without a route's scope is refused 403 whatever it sends: the
/// scope is checked before the body is parsed, on every route that takes
/// one (issue 26: `POST /accounts` with a read-only or admin-only token
/// answered 422 to a bad body, 403 only to a good one).
#[tokio::test]
async fn the_scope_is_checked_before_the_body_on_every_route() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ}=read,{PAY}=pay,{ISSUE}=issue,{ADMIN}=admin");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let p = app.api.create_payment(&crate::common::payment(&a, &b, "1.00"), None).await.unwrap().id;
    let endpoint = uuid::Uuid::now_v7();
    // (method, path, tokens that lack its scope)
    let routes: Vec<(Method, String, &[&str])> = vec![
        (Method::POST, "/api/v1/accounts".to_owned(), &[READ, ADMIN]),
        // `pay` changes metadata, `issue` the credit limit: the body says which.
        (Method::PATCH, format!("/api/v1/accounts/{a}"), &[READ, ADMIN]),
        (Method::POST, "/api/v1/payment".to_owned(), &[READ, ISSUE, ADMIN]),
        (Method::POST, "/api/v1/payments/batch".to_owned(), &[READ, ISSUE, ADMIN]),
        (Method::PATCH, format!("/api/v1/payment/{p}"), &[READ, ISSUE, ADMIN]),
        (Method::POST, format!("/api/v1/payment/{p}/capture"), &[READ, ISSUE, ADMIN]),
        (Method::POST, format!("/api/v1/payment/{p}/void"), &[READ, ISSUE, ADMIN]),
        (Method::POST, format!("/api/v1/payment/{p}/refunds"), &[READ, ISSUE, ADMIN]),
        (Method::POST, "/api/v1/webhook-endpoints".to_owned(), &[READ, PAY, ISSUE]),
        (Method::POST, format!("/api/v1/webhook-endpoints/{endpoint}/rotate-secret"), &[READ, PAY, ISSUE]),
    ];
    let bodies: [(&str, &str); 4] = [
        ("application/json", r#"{"unknown_field": 1}"#),
        ("application/json", r#"{"initial_balance": "-1", "amount": "x", "url": "", "metadata": 7}"#),
        ("application/json", "{not json"),
        ("text/plain", "hello"),
    ];
    for (method, path, lacking) in &routes {
        for token in *lacking {
            for (content_type, body) in bodies {
                let r = client(Some(token))
                    .request(method.clone(), format!("{}{path}", app.base))
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let answer: Value = r.json().await.unwrap_or(Value::Null);
                assert_eq!(
                    (status, answer["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{method} {path} with {token} and {body}: {answer}"
                );
            }
        }
    }
}

/// docs/api.md's scope table: `(METHOD, path under /api/v1)` to the scopes
/// whose row names it.
fn documented_scopes() -> BTreeMap<(String, String), BTreeSet<String>> {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md")).unwrap();
    let table = guide.split("| scope | allows").nth(1).expect("docs/api.md has the scope table");
    let mut scopes: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let scope = cells[1].trim_matches('`').to_owned();
        for quoted in cells[2].split('`').skip(1).step_by(2) {
            if let Some((method, path)) = quoted.split_once(" /")
                && ["GET", "POST", "PATCH", "DELETE"].contains(&method)
            {
                scopes
                    .entry((method.to_owned(), format!("/api/v1/{path}")))
                    .or_default()
                    .insert(scope.clone());
            }
        }
    }
    scopes
}

/// docs/api.md's scope table is the code's: it names every `/api/v1`
/// operation of the OpenAPI document with the scopes the document gives
/// it, and each route answers a token of each scope as the table says (not
/// 403 to a scope the table names, 403 `forbidden` to any other). Issue 26:
/// the table said `read` allows every GET; the webhook endpoints' need
/// `admin`.
#[tokio::test]
async fn the_documented_scope_table_is_what_every_route_answers() {
    let table = documented_scopes();
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")).unwrap(),
    )
    .unwrap();
    let mut documented: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation["security"].as_array() else { continue };
            let scopes = security.iter().flat_map(|s| s["bearer"].as_array().unwrap().iter());
            documented.insert(
                (method.to_uppercase(), path.clone()),
                scopes.map(|s| s.as_str().unwrap().to_owned()).collect(),
            );
        }
    }
    assert_eq!(table, documented, "docs/api.md's scope table and the OpenAPI document differ");

    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ}=read,{PAY}=pay,{ISSUE}=issue,{ADMIN}=admin");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for ((method, path), allowed) in &table {
        let path = path.replace("{id}", &unknown);
        for (token, scope) in [(READ, "read"), (PAY, "pay"), (ISSUE, "issue"), (ADMIN, "admin")] {
            // Opening an account: `issue` for new money, `pay` without.
            let body = match (path.as_str(), scope) {
                ("/api/v1/accounts", "issue") => json!({"initial_balance": "1.00"}),
                _ => json!({}),
            };
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then_some(body);
            let (status, answer) = call(&app, token, method.clone(), &path, body).await;
            if allowed.contains(scope) {
                assert!(status != 403 && status != 401, "{method} {path} with {scope}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{method} {path} with {scope}: {answer}");
            }
        }
    }
}

/// `bearer`, `BEARER` and surrounding spaces are all the same scheme and
/// token; anything else is 401.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let a = app.account("0").await;
    let open = client(None);
    for (header, expected) in [
        (format!("bearer {TOKEN}"), 200),
        (format!("BEARER   {TOKEN}  "), 200),
        (format!("Basic {TOKEN}"), 401),
        (format!("Bearer {TOKEN}x"), 401),
    ] {
        let r = open
            .get(format!("{}/api/v1/accounts/{a}", app.base))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected, "{header}");
    }
}

/// A token past its rate is answered 429 `rate_limited` with Retry-After,
/// and other tokens are not slowed by it.
#[tokio::test]
async fn each_token_has_its_own_rate_limit() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ}=read");
    let app = App::start(
        &env,
        &[("API_TOKENS", tokens.as_str()), ("API_RATE_PER_SEC", "1"), ("API_RATE_BURST", "3")],
    )
    .await;
    let a = app.account("0").await;
    let path = format!("/api/v1/accounts/{a}");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let r = client(Some(READ)).get(format!("{}{path}", app.base)).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
    let (status, _) = call(&app, TOKEN, Method::GET, &path, None).await;
    assert_eq!(status, 200, "another token is not limited by this one");
}

/// Tokens shorter than 16 characters and unknown scopes stop the process
/// at start-up, and the error does not show the token.
#[tokio::test]
async fn a_short_token_or_unknown_scope_is_refused_at_start() {
    let env = TestEnv::new();
    assert!(env.command(&["migrate"]).status().unwrap().success());
    for (tokens, expected) in [
        ("short-secret", "shorter than 16 characters"),
        ("0123456789abcdef=read+mint", "unknown scope \"mint\""),
    ] {
        let out =
            env.command(&["api"]).env("API_TOKENS", tokens).env("HTTP_ADDR", "127.0.0.1:0").output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{tokens}: {text}");
        assert!(text.contains(expected), "{tokens}: {text}");
        assert!(!text.contains("short-secret") && !text.contains("0123456789abcdef"), "{text}");
    }
}

/// With several tokens, one token may hold only its share of
/// HTTP_MAX_IN_FLIGHT: past it that token gets 429 at once, and the slots
/// left serve the others. Requests held in flight here are payments
/// waiting on an account row another session has locked.
#[tokio::test]
async fn one_token_cannot_take_every_in_flight_slot() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{PAY}=pay");
    let app = App::start(
        &env,
        &[
            ("API_TOKENS", tokens.as_str()),
            ("HTTP_MAX_IN_FLIGHT", "4"),
            ("HTTP_MAX_IN_FLIGHT_PER_TOKEN", "2"),
            ("INTAKE_LOCK_TIMEOUT_MS", "3000"),
        ],
    )
    .await;
    let (locked, other) = (app.account("10.00").await, app.account("0").await);
    let (c, d) = (app.account("10.00").await, app.account("0").await);
    let pg = env.pg().await;
    let holder = crate::common::hold_account_row(&pg, &locked).await;

    let blocked = json!({"from_account": locked, "to_account": other, "amount": "1.00"});
    let held = futures_util::future::join_all((0..3).map(|i| {
        let body = blocked.clone();
        let app = &app;
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(100 * i)).await;
            call(app, PAY, Method::POST, "/api/v1/payment", Some(body)).await
        }
    }));
    let others = async {
        // While the pay token holds its two slots, the other token is served.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let started = std::time::Instant::now();
        let body = json!({"from_account": c, "to_account": d, "amount": "1.00"});
        let answer = call(&app, TOKEN, Method::POST, "/api/v1/payment", Some(body)).await;
        (answer, started.elapsed())
    };
    let (held, ((status, body), took)) = tokio::join!(held, others);
    holder.rollback().await.unwrap();

    let statuses: Vec<u16> = held.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1, "{held:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "the two in flight waited on the lock: {held:?}"
    );
    let refused = held.iter().find(|(s, _)| *s == 429).unwrap();
    assert_eq!(refused.1["error"]["code"], "rate_limited");
    assert_eq!(status, 202, "the other token was kept out: {body}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
}
