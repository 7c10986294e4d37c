//! The operations console over plain HTTP: the session cookie and its
//! attributes, the CSRF checks, the scopes, escaping, and that the token
//! never reaches the log. (`scripts/console-test` drives the same console
//! in a real browser.)

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::common::{App, TOKEN, TestEnv};

const READ_TOKEN: &str = "console-read-token-0001";

/// A browser that follows no redirects, so each answer can be looked at.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(20)).build().unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// `name=value` of the cookie `name` set by `response`.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    let set = set_cookies(response);
    let found = set.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{set:?}"));
    found.split(';').next().unwrap().to_owned()
}

/// The CSRF value of the first form on a page.
fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn post_form(http: &reqwest::Client, url: String, cookie: &str, body: String) -> reqwest::Response {
    http.post(url)
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Signs in with `token` (the sign-in form's CSRF cookie and value
/// first); returns the session cookie and the session's CSRF token.
pub(crate) async fn sign_in(app: &App, http: &reqwest::Client, token: &str) -> (String, String) {
    let form = http.get(format!("{}/console/sign-in", app.base)).send().await.unwrap();
    let pre = cookie(&form, "payrail_console_signin");
    let csrf = csrf_in(&form.text().await.unwrap());
    let signed =
        post_form(http, format!("{}/console/sign-in", app.base), &pre, format!("csrf={csrf}&token={token}"))
            .await;
    assert_eq!(signed.status(), 303);
    let session = cookie(&signed, "payrail_console");
    let page =
        http.get(format!("{}/console/payments", app.base)).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    (session, csrf_in(&page.text().await.unwrap()))
}

#[tokio::test]
async fn console_sessions_hold_scopes_refuse_forged_posts_and_escape_what_clients_wrote() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ_TOKEN}=read");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let xss = "<script>alert(1)</script>";
    let body = json!({"from_account": a, "to_account": b, "amount": "1.00", "payment_description": xss,
                      "metadata": {"note": "\"><img src=x onerror=alert(2)>"}});
    let (status, paid) = app.post("/api/v1/payment", body).await;
    assert_eq!(status, 202);
    let id = paid["id"].as_str().unwrap().to_owned();
    app.wait_terminal(std::slice::from_ref(&id), Duration::from_secs(30)).await;
    let http = browser();

    // Signed out, a page sends the browser to sign in; the form's answer
    // carries the policy and its own CSRF cookie.
    let page = http.get(format!("{}/console/payments/{id}", app.base)).send().await.unwrap();
    assert_eq!(
        (page.status().as_u16(), page.headers()[LOCATION].to_str().unwrap()),
        (303, "/console/sign-in")
    );
    let form = http.get(format!("{}/console/sign-in", app.base)).send().await.unwrap();
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'none';") && !csp.contains("script"), "{csp}");
    let pre = cookie(&form, "payrail_console_signin");
    let csrf = csrf_in(&form.text().await.unwrap());

    // The sign-in POST needs the form's value and its cookie together.
    let url = format!("{}/console/sign-in", app.base);
    let no_cookie = post_form(&http, url.clone(), "", format!("csrf={csrf}&token={READ_TOKEN}")).await;
    assert_eq!(no_cookie.status(), 403);
    assert!(no_cookie.text().await.unwrap().contains("nothing was done: sign in again"));
    let wrong =
        post_form(&http, url.clone(), &pre, format!("csrf={}&token={READ_TOKEN}", "0".repeat(64))).await;
    assert_eq!(wrong.status(), 403);
    let unknown =
        post_form(&http, url.clone(), &pre, format!("csrf={csrf}&token=not-a-token-0123456789")).await;
    assert_eq!(unknown.status(), 401);
    assert!(set_cookies(&unknown).iter().all(|c| !c.starts_with("payrail_console=")), "no session");

    // Behind a TLS proxy the cookie is Secure; either way HttpOnly, Strict, bounded.
    let tls = http
        .post(url)
        .header(COOKIE, &pre)
        .header("x-forwarded-proto", "https")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={READ_TOKEN}"))
        .send()
        .await
        .unwrap();
    let set = set_cookies(&tls);
    let session = set.iter().find(|c| c.starts_with("payrail_console=")).expect("a session cookie");
    for attribute in ["; HttpOnly", "; SameSite=Strict", "; Max-Age=28800", "; Path=/console", "; Secure"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }

    let (session, csrf) = sign_in(&app, &http, READ_TOKEN).await;
    let page = http
        .get(format!("{}/console/payments/{id}", app.base))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), "{html}");
    assert!(!html.contains(xss) && !html.contains("<img"), "{html}");
    // Traces are off here: no trace id was written, and the page says so.
    assert!(html.contains("not recorded: traces were off"), "{html}");
    let traced: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE trace_id IS NOT NULL")
        .fetch_one(&env.pg().await)
        .await
        .unwrap();
    assert_eq!(traced, 0, "a trace id written with traces off");

    // A POST without the session's CSRF token, or with another's, is refused.
    let replay = format!("{}/console/dead-letters/replay", app.base);
    // (Refused as forged, before the scope is looked at.)
    let not_this_session = "This form was not sent by this session";
    let forged = post_form(&http, replay.clone(), &session, format!("payment_id={id}")).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains(not_this_session));
    let (other_session, other_csrf) = sign_in(&app, &http, TOKEN).await;
    let crossed =
        post_form(&http, replay.clone(), &session, format!("csrf={other_csrf}&payment_id={id}")).await;
    assert_eq!(crossed.status(), 403);
    assert!(crossed.text().await.unwrap().contains(not_this_session));
    let sign_out = format!("{}/console/sign-out", app.base);
    let forged_out = post_form(&http, sign_out.clone(), &other_session, String::new()).await;
    assert_eq!(forged_out.status(), 403, "an admin session is not signed out by a forged form");
    assert!(forged_out.text().await.unwrap().contains(not_this_session));
    // With it, the read token is still refused the admin action.
    let read_only = post_form(&http, replay.clone(), &session, format!("csrf={csrf}&payment_id={id}")).await;
    assert_eq!(read_only.status(), 403);
    assert!(read_only.text().await.unwrap().contains("lacks the `admin` scope"));
    let admin =
        post_form(&http, replay.clone(), &other_session, format!("csrf={other_csrf}&payment_id={id}")).await;
    // POST, redirect, GET: the page the browser lands on can be reloaded.
    assert_eq!(admin.status(), 303);
    let to = admin.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/console/dead-letters?not_found={id}"));
    let outcome = http.get(format!("{}{to}", app.base)).header(COOKIE, &other_session).send().await.unwrap();
    assert_eq!(outcome.status(), 200);
    assert!(outcome.text().await.unwrap().contains("No dead letter holds payment"));

    // Signed out, the same cookie opens nothing.
    let out = post_form(&http, sign_out, &session, format!("csrf={csrf}")).await;
    assert_eq!(out.status(), 303);
    assert!(set_cookies(&out).iter().any(|c| c.starts_with("payrail_console=;") && c.contains("Max-Age=0")));
    let page =
        http.get(format!("{}/console/payments", app.base)).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(page.status(), 303);
    let after = post_form(&http, replay, &session, format!("csrf={csrf}&payment_id={id}")).await;
    assert_eq!(after.status(), 401);

    let log = app.log_text();
    assert!(log.contains("console session opened"), "{log}");
    assert!(!log.contains(READ_TOKEN) && !log.contains(TOKEN), "a token in the log:\n{log}");
}

/// Behind a load balancer, each request may reach another API process:
/// a session opened through one is accepted by the next, and signing out
/// through either ends it for both. The table keeps no session id.
#[tokio::test]
async fn a_session_opened_through_one_process_is_accepted_by_another_until_signed_out() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ_TOKEN}=read");
    let first = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let second = App::start_with(&env, &["api"], &[("API_TOKENS", tokens.as_str())]).await;
    let http = browser();
    let (session, csrf) = sign_in(&first, &http, READ_TOKEN).await;

    let page =
        http.get(format!("{}/console/payments", second.base)).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(page.status(), 200, "the second process knows the session");
    let html = page.text().await.unwrap();
    assert_eq!(csrf_in(&html), csrf, "with the same CSRF token");
    assert!(html.contains("token #2 · read"), "and the same token and scopes: {html}");
    let admin_only =
        http.get(format!("{}/console/webhooks", second.base)).header(COOKIE, &session).send().await;
    assert_eq!(admin_only.unwrap().status(), 403, "no more than the token's scopes");

    let id = session.split_once('=').unwrap().1;
    let pg = env.pg().await;
    let kept: Vec<(Vec<u8>, Vec<String>)> =
        sqlx::query_as("SELECT id_hash, scopes FROM console_sessions").fetch_all(&pg).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1, vec!["read".to_owned()]);
    assert_ne!(hex::encode(&kept[0].0), id, "only a hash of the id is stored");

    let out =
        post_form(&http, format!("{}/console/sign-out", second.base), &session, format!("csrf={csrf}")).await;
    assert_eq!(out.status(), 303);
    for app in [&first, &second] {
        let page =
            http.get(format!("{}/console/payments", app.base)).header(COOKIE, &session).send().await.unwrap();
        assert_eq!(
            (page.status().as_u16(), page.headers()[LOCATION].to_str().unwrap()),
            (303, "/console/sign-in"),
            "signed out everywhere ({})",
            app.base
        );
    }
    let replay = format!("{}/console/dead-letters/replay", first.base);
    let after =
        post_form(&http, replay, &session, format!("csrf={csrf}&payment_id={}", uuid::Uuid::nil())).await;
    assert_eq!(after.status(), 401);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions").fetch_one(&pg).await.unwrap();
    assert_eq!(left, 0, "signing out removes the row");
}

/// A client guessing tokens is refused after a few wrong ones (429 with
/// `Retry-After`), the right token included, while another client signs in;
/// the refusals are logged, the tokens are not.
#[tokio::test]
async fn repeated_wrong_tokens_from_one_client_are_refused_for_a_while_and_logged_without_them() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ_TOKEN}=read");
    let app = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let http = browser();
    let form = http.get(format!("{}/console/sign-in", app.base)).send().await.unwrap();
    let pre = cookie(&form, "payrail_console_signin");
    let csrf = csrf_in(&form.text().await.unwrap());
    let url = format!("{}/console/sign-in", app.base);
    let guess = |n: usize| format!("guessed-token-{n:04}-abcdefgh");
    let mut answers = Vec::new();
    for n in 0..5 {
        let r = post_form(&http, url.clone(), &pre, format!("csrf={csrf}&token={}", guess(n))).await;
        answers.push(r.status().as_u16());
    }
    assert_eq!(answers, [401; 5], "five wrong tokens are answered as wrong");
    for token in [guess(5), READ_TOKEN.to_owned()] {
        let refused = post_form(&http, url.clone(), &pre, format!("csrf={csrf}&token={token}")).await;
        assert_eq!(refused.status(), 429, "then refused, the right token too");
        let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=15).contains(&wait), "Retry-After {wait}");
        assert!(set_cookies(&refused).iter().all(|c| !c.starts_with("payrail_console=")), "no session");
        assert!(refused.text().await.unwrap().contains("Too many wrong tokens"));
    }

    // Another client (another loopback address) is not slowed.
    let other = reqwest::Client::builder()
        .redirect(Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let (session, _) = sign_in(&app, &other, READ_TOKEN).await;
    assert!(session.starts_with("payrail_console="));

    let log = app.log_text();
    assert!(log.contains("console sign-in refused: too many wrong tokens"), "{log}");
    assert!(log.contains("client=127.0.0.1"), "the client is named: {log}");
    for n in 0..6 {
        assert!(!log.contains(&guess(n)), "a guessed token in the log:\n{log}");
    }
    assert!(!log.contains(READ_TOKEN), "a token in the log:\n{log}");
}

/// Behind a load balancer a guesser's tries reach several API processes:
/// they count against one allowance, kept in PostgreSQL, not one each.
#[tokio::test]
async fn wrong_tokens_through_two_api_processes_count_against_one_allowance() {
    let env = TestEnv::new();
    let tokens = format!("{TOKEN},{READ_TOKEN}=read");
    let first = App::start(&env, &[("API_TOKENS", tokens.as_str())]).await;
    let second = App::start_with(&env, &["api"], &[("API_TOKENS", tokens.as_str())]).await;
    let http = browser();
    // The sign-in form's CSRF check is its own cookie: one form serves both.
    let form = http.get(format!("{}/console/sign-in", first.base)).send().await.unwrap();
    let pre = cookie(&form, "payrail_console_signin");
    let csrf = csrf_in(&form.text().await.unwrap());
    let guess = |n: usize| format!("csrf={csrf}&token=guessed-token-{n:04}-abcdefgh");
    let mut answers = Vec::new();
    for n in 0..5 {
        // Three through the first process, two through the second.
        let app = if n < 3 { &first } else { &second };
        let r = post_form(&http, format!("{}/console/sign-in", app.base), &pre, guess(n)).await;
        answers.push(r.status().as_u16());
    }
    assert_eq!(answers, [401; 5], "five wrong tokens in all are answered as wrong");
    for app in [&first, &second] {
        for body in [guess(5), format!("csrf={csrf}&token={READ_TOKEN}")] {
            let refused = post_form(&http, format!("{}/console/sign-in", app.base), &pre, body).await;
            assert_eq!(
                refused.status(),
                429,
                "then refused by either process ({}), the right token too",
                app.base
            );
            assert!(refused.headers().contains_key("retry-after"));
        }
    }
    let pg = env.pg().await;
    let kept: Vec<(String, i32)> =
        sqlx::query_as("SELECT client, failures FROM console_sign_in_failures").fetch_all(&pg).await.unwrap();
    assert_eq!(kept, [("127.0.0.1".to_owned(), 5)], "one row, the refused tries not counted");
}

/// The failed sign-ins table stays bounded: a client's row goes with its
/// right token or an hour after its last failure, and past the cap the
/// longest-idle client goes.
#[tokio::test]
async fn failed_sign_ins_are_forgotten_and_bounded() {
    use payment_app::db::console_sign_ins::{Bounds, admit, succeeded};
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    let bounds = Bounds { forget_after: Duration::from_secs(3600), max_clients: 3 };
    let never = |_, _| None;
    let ip = |n: u8| std::net::IpAddr::from([10, 0, 0, n]);
    for n in 1..=3 {
        assert_eq!(admit(&pg, ip(n), bounds, never).await.unwrap(), Ok(1));
    }
    assert_eq!(admit(&pg, ip(1), bounds, never).await.unwrap(), Ok(2), "counted per client");
    // A refusal counts nothing.
    let refuse = |_, _| Some(Duration::from_secs(9));
    assert_eq!(admit(&pg, ip(1), bounds, refuse).await.unwrap(), Err(Duration::from_secs(9)));
    let clients = || async {
        let rows: Vec<(String, i32)> =
            sqlx::query_as("SELECT client, failures FROM console_sign_in_failures ORDER BY client")
                .fetch_all(&pg)
                .await
                .unwrap();
        rows
    };
    assert_eq!(clients().await[0], ("10.0.0.1".to_owned(), 2));
    // 10.0.0.2 failed longest ago: a fourth client pushes it out.
    sqlx::query("UPDATE console_sign_in_failures SET last_failed_at = now() - interval '10 minutes' WHERE client = '10.0.0.2'")
        .execute(&pg)
        .await
        .unwrap();
    assert_eq!(admit(&pg, ip(4), bounds, never).await.unwrap(), Ok(1));
    let names: Vec<String> = clients().await.into_iter().map(|(c, _)| c).collect();
    assert_eq!(names, ["10.0.0.1", "10.0.0.3", "10.0.0.4"]);
    // An hour after its last failure a client is counted afresh.
    sqlx::query("UPDATE console_sign_in_failures SET last_failed_at = now() - interval '61 minutes' WHERE client = '10.0.0.1'")
        .execute(&pg)
        .await
        .unwrap();
    assert_eq!(admit(&pg, ip(1), bounds, never).await.unwrap(), Ok(1));
    // A right token forgets the wrong ones.
    succeeded(&pg, ip(3)).await.unwrap();
    let names: Vec<String> = clients().await.into_iter().map(|(c, _)| c).collect();
    assert_eq!(names, ["10.0.0.1", "10.0.0.4"]);
}

/// The system page shows what settled in each of the last minutes, from
/// the rollup a background job keeps: once counted, the counts stay
/// though the events they were counted from are gone (as retention removes
/// them), since the page no longer reads the events.
#[tokio::test]
async fn the_system_page_shows_what_settled_in_each_of_the_last_minutes() {
    let env = TestEnv::new();
    let app = App::start(&env, &[]).await;
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let mut ids = Vec::new();
    for amount in ["1.00", "2.00", "3.00", "50.00"] {
        let (status, paid) =
            app.post("/api/v1/payment", json!({"from_account": a, "to_account": b, "amount": amount})).await;
        assert_eq!(status, 202);
        ids.push(paid["id"].as_str().unwrap().to_owned());
    }
    app.wait_terminal(&ids, Duration::from_secs(30)).await;
    let http = browser();
    let (session, _) = sign_in(&app, &http, TOKEN).await;
    let throughput = || async {
        let page =
            http.get(format!("{}/console/system", app.base)).header(COOKIE, &session).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let table = html
            .split("<table class=\"throughput\">")
            .nth(1)
            .expect("a throughput table")
            .split("</table>")
            .next()
            .unwrap()
            .to_owned();
        let count = |class: &str| -> Vec<i64> {
            let cell = format!("<td class=\"num {class}\">");
            table.split(&cell).skip(1).map(|rest| rest.split('<').next().unwrap().parse().unwrap()).collect()
        };
        (count("done"), count("failed"), table.clone())
    };
    // Counted within the job's lag (10 s) and interval (5 s).
    let (done, failed, table) = crate::common::poll_within(Duration::from_secs(60), || async {
        let (done, failed, table) = throughput().await;
        let sums = (done.iter().sum::<i64>(), failed.iter().sum::<i64>());
        if sums == (3, 1) { Ok((done, failed, table)) } else { Err(format!("{sums:?}: {table}")) }
    })
    .await
    .unwrap_or_else(|e| panic!("three done and one failed (50.00 of 10.00) never shown: {e}"));
    assert_eq!(done.len(), 15, "one row a minute: {table}");
    assert_eq!(failed.len(), 15, "{table}");
    assert!(table.contains("(so far)"), "{table}");

    let pg = env.pg().await;
    sqlx::query("DELETE FROM events WHERE type <> 'payment.created'").execute(&pg).await.unwrap();
    let (done, failed, table) = throughput().await;
    assert_eq!((done.iter().sum::<i64>(), failed.iter().sum::<i64>()), (3, 1), "{table}");
}

/// The rollup job counts each event once, reading only what was written
/// since its last run (at most its limit a run), and leaves the last
/// seconds for a later run (an event may still commit under them).
#[tokio::test]
async fn the_throughput_rollup_counts_each_event_once_and_reads_only_whats_new() {
    use payment_app::db::throughput::{Run, roll_up, settled_per_minute};
    let env = TestEnv::new();
    let pg = env.migrated_pg().await;
    let now = chrono::Utc::now();
    let a = uuid::Uuid::now_v7();
    let b = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO accounts (id, balance) VALUES ($1, 100), ($2, 0)")
        .bind(a)
        .bind(b)
        .execute(&pg)
        .await
        .unwrap();
    // Ten events of a minute ago: six done, two failed, two created (not
    // counted); and one made just now.
    let minute_ago = now - chrono::Duration::seconds(60);
    let base = payment_app::domain::search::first_id_at(minute_ago).unwrap().as_u128();
    let types = ["payment.done", "payment.failed", "payment.created", "payment.done", "payment.done"];
    let mut events: Vec<(uuid::Uuid, &str, chrono::DateTime<chrono::Utc>)> = (0..10u128)
        .map(|n| (uuid::Uuid::from_u128(base + n + 1), types[n as usize % 5], minute_ago))
        .collect();
    events.push((uuid::Uuid::now_v7(), "payment.done", now));
    for (id, kind, at) in &events {
        let payment = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO payments (id, from_account, to_account, amount, status) VALUES ($1, $2, $3, 1, 'done')",
        )
        .bind(payment)
        .bind(a)
        .bind(b)
        .execute(&pg)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO events (id, type, payment_id, status, payment_updated_at, created_at)
             VALUES ($1, $2, $3, 'done', $4, $4)",
        )
        .bind(id)
        .bind(kind)
        .bind(payment)
        .bind(at)
        .execute(&pg)
        .await
        .unwrap();
    }
    let mut reads = Vec::new();
    for _ in 0..4 {
        match roll_up(&pg, 4).await.unwrap() {
            Run::Counted { read } => reads.push(read),
            Run::Busy => panic!("nobody else counts here"),
        }
    }
    assert_eq!(reads, [4, 4, 2, 0], "ten events past the position, four a run, then nothing new");
    let shown = settled_per_minute(&pg, chrono::Utc::now(), 15).await.unwrap();
    let sums = |t: &payment_app::db::throughput::Throughput| {
        (t.minutes.iter().map(|m| m.done).sum::<i64>(), t.minutes.iter().map(|m| m.failed).sum::<i64>())
    };
    assert_eq!(sums(&shown), (6, 2), "the event made just now is not counted yet: {shown:?}");
    assert_eq!(shown.minutes.len(), 15);
    assert!(shown.counted_to < now, "{shown:?}");

    // Ten seconds on, the last one is counted, once.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(roll_up(&pg, 4).await.unwrap(), Run::Counted { read: 1 });
    assert_eq!(roll_up(&pg, 4).await.unwrap(), Run::Counted { read: 0 });
    let shown = settled_per_minute(&pg, chrono::Utc::now(), 15).await.unwrap();
    assert_eq!(sums(&shown), (7, 2), "{shown:?}");
}
