//! Webhooks and the events feed, end to end: the real binary sends to a
//! real HTTP receiver this test starts on loopback, and what arrives is
//! checked against the events feed, the signature scheme and the SSRF
//! rules.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::{StreamExt, TryStreamExt, stream};
use hmac::{Hmac, Mac};
use payrail_client::types::{
    AttemptView, CreateEndpoint, CreatePayment, EndpointId, ErrorCode, Event, EventId,
};
use payrail_client::{Error as ClientError, VerifyError, verify};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::common::{App, TestEnv, eventually, poll_within};

/// A dev machine's settings: http and loopback targets allowed, quick
/// polling, and retries in milliseconds.
pub(crate) const LOCAL: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_HTTP", "true"),
    ("WEBHOOK_ALLOW_PRIVATE", "true"),
    ("WEBHOOK_POLL_MS", "20"),
    ("WEBHOOK_RETRY_SCHEDULE", "20ms,20ms,20ms,50ms,100ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms"),
];

/// A bound on liveness, not a speed: 2,000 events take about 20 s on an
/// idle 2-core machine, and took over 80 s beside parallel builds (twice,
/// at 60 s, the test failed there with every event on its way).
const WITHIN: Duration = Duration::from_secs(180);

/// One request as the receiver saw it, in arrival order.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) event_id: String,
    signature: String,
    content_type: String,
    pub(crate) body: Bytes,
    answered: u16,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Behaviour {
    Accept,
    /// 500 to the first `n` requests for each event, then 200.
    FailFirst(usize),
    /// 500 to the first `n` requests for each `payment.created` event, so
    /// that a payment's terminal event is ready long before its created
    /// event is through: only the per-payment order keeps them in order.
    FailCreated(usize),
    /// Takes the request and never answers.
    Hang,
    /// Answers 200 after this many milliseconds.
    Slow(u64),
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    log: Arc<Mutex<Vec<Received>>>,
}

/// An HTTP receiver on loopback that records every request.
pub(crate) struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start(behaviour: Behaviour) -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), behaviour)
    }

    fn start_on(listener: TcpListener, behaviour: Behaviour) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { behaviour, log: log.clone() };
        let router = Router::new().route("/hooks", post(hook)).with_state(shared);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { addr, log, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.answered)).collect()
    }

    /// Waits until `n` distinct events were answered 2xx.
    pub(crate) async fn wait_delivered(&self, n: usize, app: &App) -> Vec<Received> {
        poll_within(WITHIN, || async {
            let delivered = self.delivered();
            let distinct: HashSet<&str> = delivered.iter().map(|r| r.event_id.as_str()).collect();
            if distinct.len() >= n {
                Ok(delivered)
            } else {
                Err(format!("{} of {n} events delivered", distinct.len()))
            }
        })
        .await
        .unwrap_or_else(|seen| panic!("{seen}; log:\n{}", app.log_problems()))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let event_id = header("payrail-event-id");
    let answered = {
        let mut log = shared.log.lock().unwrap();
        let earlier = log.iter().filter(|r| r.event_id == event_id).count();
        let answered = match shared.behaviour {
            Behaviour::Accept | Behaviour::Hang | Behaviour::Slow(_) => 200,
            Behaviour::FailFirst(n) if earlier < n => 500,
            Behaviour::FailFirst(_) => 200,
            Behaviour::FailCreated(n)
                if earlier < n && body.windows(17).any(|w| w == b"\"payment.created\"") =>
            {
                500
            }
            Behaviour::FailCreated(_) => 200,
        };
        log.push(Received {
            event_id,
            signature: header("payrail-signature"),
            content_type: header("content-type"),
            body,
            answered,
        });
        answered
    };
    match shared.behaviour {
        Behaviour::Hang => std::future::pending::<()>().await,
        Behaviour::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        _ => {}
    }
    StatusCode::from_u16(answered).unwrap()
}

/// How many of the `v1=` signatures in `header` verify with `secret`, as
/// a receiver checks them: HMAC-SHA256 over `"<t>.<raw body>"`. Written
/// here by hand from the documented format, beside the client's [`verify`]
/// (which the other tests use): a mistake the server and the client shared
/// would pass the client's check, not this one.
fn verified(secret: &str, header: &str, body: &[u8]) -> usize {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    let t = t.unwrap_or_else(|| panic!("no t= in {header:?}"));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((-5..300).contains(&age), "the timestamp is {age} s old");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.iter().filter(|s| **s == expected).count()
}

/// The delivery's event, if `secret` signed it, by the client's own check:
/// what an integrator's receiver runs.
fn verify_with(secret: &str, r: &Received) -> Result<Event, VerifyError> {
    verify(&r.body, &r.signature, &[secret], Duration::from_secs(300))
}

/// Creates the endpoint `body` asks for (a `CreateEndpoint`), through the
/// client; the answer, secret included, as JSON.
pub(crate) async fn register(app: &App, body: Value) -> Value {
    let body: CreateEndpoint = serde_json::from_value(body).unwrap();
    let created = app.api.create_webhook_endpoint(&body).await.unwrap();
    serde_json::to_value(created).unwrap()
}

/// Every event in the feed, in its order, through the client's paging: as
/// JSON, to be compared with what a receiver or a queue got.
pub(crate) async fn feed(app: &App) -> Vec<Value> {
    let limit = [("limit", "500".to_owned())];
    let events: Vec<Event> = app.api.events(None, &limit).try_collect().await.unwrap();
    events.into_iter().map(|e| serde_json::to_value(e).unwrap()).collect()
}

/// Sends `n` payments among `accounts`, 32 at a time; some of them cannot
/// be covered and fail. Returns their ids.
async fn pay_many(app: &App, accounts: &[String], n: usize) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| {
            let from = &accounts[i % accounts.len()];
            let to = &accounts[(i + 1 + i / accounts.len()) % accounts.len()];
            let to = if to == from { &accounts[(i + 1) % accounts.len()] } else { to };
            async move {
                let body = CreatePayment {
                    from_account: from.clone(),
                    to_account: to.clone(),
                    amount: format!("{}.00", 1 + i % 9),
                    ..CreatePayment::default()
                };
                app.api.create_payment(&body, None).await.unwrap().id.to_string()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await
}

/// Every endpoint, newest first.
async fn endpoints(app: &App) -> Vec<payrail_client::types::EndpointView> {
    app.api.webhook_endpoints(&[]).try_collect().await.unwrap()
}

fn endpoint_id(created: &Value) -> EndpointId {
    created["id"].as_str().unwrap().parse().unwrap()
}

/// The endpoint's delivery attempts, newest first.
async fn attempts(app: &App, endpoint: &str) -> Vec<AttemptView> {
    let endpoint: EndpointId = endpoint.parse().unwrap();
    let limit = [("limit", "500".to_owned())];
    app.api.delivery_attempts(endpoint, &limit).try_collect().await.unwrap()
}

/// The 1,000 payments, every `payment.created` answered 500 four
/// times first: 6,000 attempts, 2,000 of them held back behind their
/// payment's earlier event. Before the claim was planned per call, none of
/// the 2,000 events arrived within a minute.
///
/// 32 attempts in flight to the endpoint, not the default 4. At 4, the
/// 6,000 attempts are about 1,500 rounds of a claim and its attempts, each
/// claim a write; beside a busy PostgreSQL (parallel builds and tests here)
/// a claim took 20-150 ms, and 667 of the 2,000 events (123 in another run)
/// had arrived at the 180 s bound; CI failed this test once (at 138ace6, its
/// message not kept), probably so. This test is about
/// order and signatures, not the default's speed; more in flight also
/// gives a payment's events more room to overtake each other.
#[tokio::test]
async fn every_event_reaches_the_receiver_as_the_feed_lists_it_signed_and_in_order() {
    let env = TestEnv::new();
    let settings = [LOCAL, &[("WEBHOOK_ENDPOINT_CONCURRENCY", "32")]].concat();
    let app = App::start(&env, &settings).await;
    let receiver = Receiver::start(Behaviour::FailCreated(4)).await;
    let endpoint = register(&app, json!({"url": receiver.url(), "description": "all events"})).await;
    assert_eq!(endpoint["events"], json!(["*"]));
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");

    let mut accounts = Vec::new();
    for _ in 0..6 {
        accounts.push(app.account("40.00").await);
    }
    let ids = pay_many(&app, &accounts, 1000).await;
    let settled = app.wait_terminal(&ids, WITHIN).await;
    assert!(settled.iter().any(|p| p["status"] == "failed"), "some payments were meant to fail");

    // Two events per payment: created, then done or failed.
    let events = feed(&app).await;
    assert_eq!(events.len(), 2 * ids.len());
    let delivered = receiver.wait_delivered(events.len(), &app).await;

    let by_id: HashMap<&str, &Value> = events.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    let mut first_arrival: HashMap<&str, usize> = HashMap::new();
    for (at, r) in delivered.iter().enumerate() {
        let listed =
            by_id.get(r.event_id.as_str()).unwrap_or_else(|| panic!("{} is not in the feed", r.event_id));
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(&&sent, listed, "the body is the event as the feed lists it");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(verified(secret, &r.signature, &r.body), 1, "{}", r.signature);
        let event = verify_with(secret, r).unwrap_or_else(|e| panic!("{e}: {}", r.signature));
        assert_eq!(event.id.to_string(), r.event_id, "the signed body is the event its header names");
        first_arrival.entry(by_id.get_key_value(r.event_id.as_str()).unwrap().0).or_insert(at);
    }
    assert_eq!(first_arrival.len(), events.len(), "every event in the feed arrived");

    // The terminal event's data is the payment as GET shows it, and each
    // payment's created event arrived before its terminal one.
    let terminal: HashMap<&str, &Value> = settled.iter().map(|p| (p["id"].as_str().unwrap(), p)).collect();
    let mut created_at_arrival = HashMap::new();
    let mut terminal_at_arrival = HashMap::new();
    for e in &events {
        let payment = e["data"]["id"].as_str().unwrap();
        let arrival = first_arrival[e["id"].as_str().unwrap()];
        match e["type"].as_str().unwrap() {
            "payment.created" => {
                assert_eq!(e["data"]["status"], "pending");
                created_at_arrival.insert(payment, arrival);
            }
            kind => {
                assert_eq!(kind, format!("payment.{}", terminal[payment]["status"].as_str().unwrap()));
                assert_eq!(&e["data"], terminal[payment], "data is the payment as GET shows it");
                terminal_at_arrival.insert(payment, arrival);
            }
        }
    }
    for (payment, terminal_arrival) in &terminal_at_arrival {
        assert!(created_at_arrival[payment] < *terminal_arrival, "payment {payment}'s events out of order");
    }

    // The feed pages by `after`, in id order.
    let (_, first) = app.get("/api/v1/events?limit=2").await;
    let (_, second) =
        app.get(&format!("/api/v1/events?limit=2&after={}", first["next_after"].as_str().unwrap())).await;
    assert_eq!(first["events"][0], events[0]);
    assert_eq!(second["events"][1], events[3]);
    let fifth: EventId = events[5]["id"].as_str().unwrap().parse().unwrap();
    let one = app.api.get_event(fifth).await.unwrap();
    assert_eq!(serde_json::to_value(one).unwrap(), events[5]);
    for bad in ["limit=0", "limit=501", "after=nope"] {
        let (status, body) = app.get(&format!("/api/v1/events?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_on_the_fourth_attempt() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    let receiver = Receiver::start(Behaviour::FailFirst(3)).await;
    let endpoint = register(&app, json!({"url": receiver.url(), "events": ["payment.done"]})).await;
    assert_eq!(endpoint["events"], json!(["payment.done"]));
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    let (_, payment) = app.pay(&a, &b, "1.00").await;

    let delivered = receiver.wait_delivered(1, &app).await;
    let sent: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(sent["type"], "payment.done");
    assert_eq!(sent["data"]["id"], payment["id"]);
    let requests = receiver.received();
    assert_eq!(requests.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 500, 200]);
    assert!(requests.iter().all(|r| r.event_id == delivered[0].event_id), "only payment.done was asked for");

    // The attempts, newest first, say what happened and when it is tried again.
    let id = endpoint["id"].as_str().unwrap();
    let four = poll_within(WITHIN, || async {
        let listed = attempts(&app, id).await;
        if listed.len() == 4 { Ok(listed) } else { Err(format!("{listed:?}")) }
    })
    .await;
    // Past the time, whatever is listed then: the summary below says what is wrong.
    let listed = match four {
        Ok(listed) => listed,
        Err(_) => attempts(&app, id).await,
    };
    let summary: Vec<(i32, Option<i32>, bool)> =
        listed.iter().map(|a| (a.attempt, a.status_code, a.next_retry_at.is_none())).collect();
    assert_eq!(
        summary,
        [(4, Some(200), true), (3, Some(500), false), (2, Some(500), false), (1, Some(500), false)]
    );
    assert!(listed.iter().all(|a| sent["id"] == a.event_id.to_string()));
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_once_it_is_back() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    // Nothing listens on the port yet: connections are refused.
    let port = payrail_common::testing::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let endpoint = register(&app, json!({"url": url})).await;
    let id = endpoint["id"].as_str().unwrap();
    let accounts = [app.account("100.00").await, app.account("100.00").await];
    let ids = pay_many(&app, &accounts, 20).await;
    app.wait_terminal(&ids, WITHIN).await;

    let failed = eventually(WITHIN, "five failed attempts recorded", || async {
        let failed = attempts(&app, id).await;
        let refused = failed.iter().filter(|a| a.status_code.is_none()).count();
        if refused >= 5 { Ok(failed) } else { Err(format!("{failed:?}")) }
    })
    .await;
    assert!(failed.iter().all(|a| a.error.as_ref().is_some_and(|e| !e.is_empty())), "{failed:?}");

    let receiver =
        Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), Behaviour::Accept);
    let events = feed(&app).await;
    assert_eq!(events.len(), 40);
    let delivered = receiver.wait_delivered(events.len(), &app).await;
    let got: HashSet<&str> = delivered.iter().map(|r| r.event_id.as_str()).collect();
    let listed: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, listed);
}

/// Settled payments per second for `n` payments, from the first request
/// until none is pending (read in the database, so polling costs little),
/// the best of two rounds: the machine is shared with other tests, and a
/// round that met their load says nothing about webhooks.
async fn settle_rate(app: &App, env: &TestEnv, accounts: &[String], n: usize) -> f64 {
    let pg = env.pg().await;
    let mut best = 0.0f64;
    for _ in 0..2 {
        let started = Instant::now();
        pay_many(app, accounts, n).await;
        loop {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'pending'")
                .fetch_one(&pg)
                .await
                .unwrap();
            if pending == 0 {
                break;
            }
            assert!(started.elapsed() < WITHIN, "{pending} payments still pending");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        best = best.max(n as f64 / started.elapsed().as_secs_f64());
    }
    best
}

#[tokio::test]
async fn a_hanging_receiver_slows_neither_settlement_nor_other_endpoints() {
    let env = TestEnv::new();
    let mut settings = LOCAL.to_vec();
    // Long enough that no hanging attempt times out during the test (the
    // most the app allows): every attempt the receiver saw is then still in
    // flight. At 30 s, a CI run on a loaded machine took longer than that,
    // the first attempts timed out, and their retries made more than 4.
    settings.push(("WEBHOOK_TIMEOUT_MS", "600000"));
    let app = App::start(&env, &settings).await;
    let mut accounts = Vec::new();
    for _ in 0..8 {
        accounts.push(app.account("1000.00").await);
    }
    // Warm up, then measure without any endpoint.
    pay_many(&app, &accounts, 50).await;
    let without = settle_rate(&app, &env, &accounts, 200).await;

    let hanging = Receiver::start(Behaviour::Hang).await;
    let healthy = Receiver::start(Behaviour::Accept).await;
    register(&app, json!({"url": hanging.url()})).await;
    register(&app, json!({"url": healthy.url(), "events": ["payment.done", "payment.failed"]})).await;
    let with = settle_rate(&app, &env, &accounts, 200).await;
    // A healthy endpoint gets its 400 events while the other hangs.
    healthy.wait_delivered(400, &app).await;
    assert!(!hanging.received().is_empty(), "the hanging receiver was being sent to");
    assert!(hanging.received().len() <= 4, "at most 4 attempts in flight per endpoint");
    println!("settled/s without an endpoint: {without:.0}; with a hanging one: {with:.0}");
    // Loose on purpose (a shared 2-core machine): settle shares nothing
    // with delivery but the database, so only noise separates the two.
    assert!(with > without / 4.0, "settlement slowed from {without:.0}/s to {with:.0}/s");
}

#[tokio::test]
async fn non_public_targets_and_bad_input_are_refused() {
    let env = TestEnv::new();
    // http allowed, private targets not: the production rule on addresses.
    let app = App::start(
        &env,
        &[("WEBHOOK_ALLOW_HTTP", "true"), ("WEBHOOK_POLL_MS", "20"), ("WEBHOOK_MAX_ENDPOINTS", "2")],
    )
    .await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let port = receiver.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/hooks"),
        "http://10.0.0.1/hooks".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/hooks".to_owned(),
        format!("http://localhost:{port}/hooks"),
        "ftp://example.com/".to_owned(),
        "not a url".to_owned(),
        "https://user:pass@example.com/".to_owned(),
        // The IANA special-purpose registries, embedded IPv4 included
        // (issue 26: each of these was accepted).
        format!("http://[::ffff:0:7f00:1]:{port}/hooks"),
        format!("http://[64:ff9b:1::7f00:1]:{port}/hooks"),
        "http://[100::1]/hooks".to_owned(),
        "http://[2001::1]/hooks".to_owned(),
        "http://[2001:10::1]/hooks".to_owned(),
        "http://192.88.99.1/hooks".to_owned(),
    ] {
        let (status, body) = app.post("/api/v1/webhook-endpoints", json!({ "url": url })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_webhook_url")),
            "{url}: {body}"
        );
    }
    let (status, body) = app.post("/api/v1/webhook-endpoints", json!({"url": "http://localhost/"})).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("resolves to"), "{status} {body}");
    let (status, body) = app
        .post(
            "/api/v1/webhook-endpoints",
            json!({"url": "https://example.com/", "events": ["payment.refunded"]}),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unknown_event_type")), "{body}");
    let (status, body) =
        app.post("/api/v1/webhook-endpoints", json!({"url": "https://example.com/", "events": []})).await;
    assert_eq!(status, 422, "{body}");
    assert!(endpoints(&app).await.is_empty(), "nothing was created");

    // At delivery the name is resolved again, and loopback is refused then
    // too: an endpoint whose name now points at loopback (as DNS rebinding
    // would make it) gets nothing.
    let pg = env.pg().await;
    let endpoint = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, $2, 'whsec_x')")
        .bind(endpoint)
        .bind(format!("http://localhost:{port}/hooks"))
        .execute(&pg)
        .await
        .unwrap();
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    app.pay(&a, &b, "1.00").await;
    let refused = poll_within(WITHIN, || async {
        attempts(&app, &endpoint.to_string()).await.into_iter().next().ok_or_else(|| "no attempt".to_owned())
    })
    .await
    .unwrap_or_else(|_| panic!("no attempt recorded; log:\n{}", app.log_problems()));
    assert!(refused.status_code.is_none(), "{refused:?}");
    assert!(refused.error.as_ref().unwrap().contains("resolves to 127.0.0.1"), "{refused:?}");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");

    // The cap (2 here): a third is refused and nothing is created. The two
    // are written directly: no name here resolves to a public address.
    sqlx::query("DELETE FROM webhook_endpoints").execute(&pg).await.unwrap();
    for _ in 0..2 {
        sqlx::query("INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, 'https://hooks.invalid/', 'whsec_y')")
            .bind(uuid::Uuid::now_v7())
            .execute(&pg)
            .await
            .unwrap();
    }
    let (status, body) = app.post("/api/v1/webhook-endpoints", json!({"url": "http://93.184.216.34/"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("too_many_webhook_endpoints")), "{body}");
    assert_eq!(endpoints(&app).await.len(), 2);
}

#[tokio::test]
async fn endpoints_page_show_no_secret_and_stop_receiving_when_deleted() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(register(&app, json!({"url": receiver.url(), "description": format!("n{i}")})).await);
    }
    let (status, first) = app.get("/api/v1/webhook-endpoints?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let page: Vec<&Value> = first["webhook_endpoints"].as_array().unwrap().iter().collect();
    assert_eq!(page.iter().map(|e| &e["description"]).collect::<Vec<_>>(), [&json!("n2"), &json!("n1")]);
    assert!(page.iter().all(|e| e.get("secret").is_none()), "a list never shows a secret");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.get(&format!("/api/v1/webhook-endpoints?limit=2&cursor={cursor}")).await;
    assert_eq!(second["webhook_endpoints"][0]["description"], "n0");
    assert_eq!(second["next_cursor"], Value::Null);

    let id = created[0]["id"].as_str().unwrap();
    let (status, one) = app.get(&format!("/api/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert!(one.get("secret").is_none(), "{one}");
    assert_eq!(one["url"], receiver.url());

    // Deleted: 204, then 404; a payment after it reaches the other two only.
    for c in &created[1..] {
        let r =
            app.http.delete(format!("{}/api/v1/webhook-endpoints/{}", app.base, c["id"].as_str().unwrap()));
        assert_eq!(r.send().await.unwrap().status(), 204);
    }
    let (status, _) =
        app.get(&format!("/api/v1/webhook-endpoints/{}", created[1]["id"].as_str().unwrap())).await;
    assert_eq!(status, 404);
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    app.pay(&a, &b, "1.00").await;
    receiver.wait_delivered(2, &app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let secret = created[0]["secret"].as_str().unwrap();
    for r in receiver.received() {
        assert_eq!(r.signature.matches("v1=").count(), 1, "{}", r.signature);
        assert!(verify_with(secret, &r).is_ok(), "sent only for the endpoint left: {}", r.signature);
    }
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let endpoint = register(&app, json!({"url": receiver.url(), "events": ["payment.created"]})).await;
    let (id, old) = (endpoint_id(&endpoint), endpoint["secret"].as_str().unwrap());
    let rotated = app.api.rotate_webhook_secret(id).await.unwrap();
    let new = rotated.secret.as_str();
    assert!(new.starts_with("whsec_") && new != old, "{rotated:?}");
    let overlap = rotated.previous_secret_expires_at - chrono::Utc::now();
    assert!(overlap > chrono::Duration::hours(23) && overlap <= chrono::Duration::hours(24), "{overlap}");

    let (a, b) = (app.account("10.00").await, app.account("0").await);
    app.pay(&a, &b, "1.00").await;
    let delivered = receiver.wait_delivered(1, &app).await;
    let r = &delivered[0];
    // As many `v1=` as secrets, and each secret verifies: each signs once.
    assert_eq!(r.signature.matches("v1=").count(), 2, "{}", r.signature);
    assert!(verify_with(new, r).is_ok(), "the new secret signs: {}", r.signature);
    assert!(verify_with(old, r).is_ok(), "the old secret signs during the overlap: {}", r.signature);
    assert!(matches!(verify_with("whsec_other", r), Err(VerifyError::SignatureMismatch)), "{}", r.signature);

    let unknown: EndpointId = uuid::Uuid::now_v7().to_string().parse().unwrap();
    let refused = app.api.rotate_webhook_secret(unknown).await.unwrap_err();
    assert!(matches!(refused, ClientError::Api { status: StatusCode::NOT_FOUND, .. }), "{refused}");
}

/// Each rotation's answer promises the secret it replaced until its
/// `previous_secret_expires_at`; a later rotation keeps that promise
/// (issue 26: a second rotation within 24 h dropped the first secret at
/// once, the signature carried two `v1=` and the first secret verified
/// none). Past four rotated-out secrets signing at once, a rotation is
/// refused and changes nothing.
#[tokio::test]
async fn every_rotated_out_secret_signs_until_its_rotation_said() {
    let env = TestEnv::new();
    let app = App::start(&env, LOCAL).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let endpoint = register(&app, json!({"url": receiver.url(), "events": ["payment.created"]})).await;
    let id = endpoint_id(&endpoint);
    let rotate = || app.api.rotate_webhook_secret(id);
    let mut secrets = vec![endpoint["secret"].as_str().unwrap().to_owned()];
    for _ in 0..2 {
        secrets.push(rotate().await.unwrap().secret);
    }
    let (a, b) = (app.account("10.00").await, app.account("0").await);
    app.pay(&a, &b, "1.00").await;
    let r = &receiver.wait_delivered(1, &app).await[0];
    // As many `v1=` as secrets, and each secret verifies: each signs once.
    assert_eq!(r.signature.matches("v1=").count(), 3, "{}", r.signature);
    for (n, secret) in secrets.iter().enumerate() {
        assert!(verify_with(secret, r).is_ok(), "secret {n} signs: {}", r.signature);
    }

    for _ in 0..2 {
        secrets.push(rotate().await.unwrap().secret);
    }
    let refused = rotate().await.unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Api { status: StatusCode::CONFLICT, code: Some(ErrorCode::InvalidState), .. }
        ),
        "{refused}"
    );
    app.pay(&a, &b, "1.00").await;
    let r = &receiver.wait_delivered(2, &app).await[1];
    assert_eq!(r.signature.matches("v1=").count(), 5, "{}", r.signature);
    for (n, secret) in secrets.iter().enumerate() {
        assert!(verify_with(secret, r).is_ok(), "secret {n} signs: {}", r.signature);
    }
}
