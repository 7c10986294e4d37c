//! OpenTelemetry traces: one payment's trace, exported over OTLP/HTTP to a
//! receiver this test runs on loopback, holds the spans of every stage
//! (HTTP request, intake, lock, settle) in one parent/child chain that
//! continues the client's `traceparent`. (With the variables unset nothing
//! is exported; every other test runs that way.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::{App, TOKEN, TestEnv, poll_within};

/// Every span received, with its resource's service name.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

/// Protobuf exports: their content type and size (not decoded).
#[derive(Clone, Default)]
struct Binary(Arc<Mutex<Vec<(String, usize)>>>);

impl Received {
    fn spans_of(&self, trace_id: &str) -> Vec<Value> {
        let all = self.0.lock().unwrap();
        all.iter().filter(|(_, s)| s["traceId"] == trace_id).map(|(_, s)| s.clone()).collect()
    }

    fn services(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(service, _)| service.clone()).collect()
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().iter().map(|(_, s)| s.clone()).collect()
    }
}

/// An OTLP/HTTP receiver on a free loopback port: JSON exports are
/// decoded into spans, protobuf ones only counted.
async fn receiver() -> (String, Received, Binary) {
    let received = Received::default();
    let binary = Binary::default();
    let (store, binary_store) = (received.clone(), binary.clone());
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (store, binary_store) = (store.clone(), binary_store.clone());
            async move {
                let content_type =
                    headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                if content_type != "application/json" {
                    binary_store.0.lock().unwrap().push((content_type, body.len()));
                    return axum::Json(json!({}));
                }
                let export: Value = serde_json::from_slice(&body).expect("an OTLP JSON export");
                let mut all = store.0.lock().unwrap();
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    let service = resource["resource"]["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|a| a["key"] == "service.name")
                        .and_then(|a| a["value"]["stringValue"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            all.push((service.clone(), span.clone()));
                        }
                    }
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received, binary)
}

/// How the app under test encodes its OTLP/HTTP exports.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    /// `http/json`, which [`receiver`] decodes into spans.
    Json,
    /// Whatever the app does when `OTEL_EXPORTER_OTLP_PROTOCOL` is unset.
    Default,
}

/// The app, exporting its spans to a fresh [`receiver`] every
/// `schedule_ms` (the batch processor's delay); `extra` are more settings.
/// The one place the tests here set the OTLP variables, so that they all
/// export the same way except where a test says otherwise.
async fn exporting_app(
    env: &TestEnv,
    encoding: Encoding,
    schedule_ms: u64,
    extra: &[(&str, &str)],
) -> (App, Received, Binary) {
    let (endpoint, received, binary) = receiver().await;
    let schedule_ms = schedule_ms.to_string();
    let mut settings =
        vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", &schedule_ms)];
    if encoding == Encoding::Json {
        settings.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"));
    }
    settings.extend_from_slice(extra);
    (App::start(env, &settings).await, received, binary)
}

/// The spans of `trace_id`, once its settle span has arrived (spans are
/// exported in batches).
async fn settled_trace(received: &Received, trace_id: &str, app: &App) -> Vec<Value> {
    poll_within(Duration::from_secs(60), || async {
        let spans = received.spans_of(trace_id);
        if named(&spans, "payment.settle").is_empty() { Err(String::new()) } else { Ok(spans) }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("no settle span in trace {trace_id}; received {:#?}\nlog:\n{}", received.all(), app.log_tail())
    })
}

/// Pays with the client's own `traceparent`; returns the payment's id.
async fn post_traced(app: &App, from: &str, to: &str, trace_id: &str, client_span: &str) -> String {
    let response = app
        .http
        .post(format!("{}/api/v1/payment", app.base))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({"from_account": from, "to_account": to, "amount": "12.34", "payment_description": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn wait_done(app: &App, id: &str) {
    let done = app.wait_terminal(&[id.to_owned()], Duration::from_secs(60)).await;
    assert_eq!(done[0]["status"], "done", "{}", done[0]);
}

fn new_ids() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    (trace_id, span_id)
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

/// Whether `span` is `ancestor` or under it, following parent ids.
fn descends(spans: &[Value], span: &Value, ancestor: &Value) -> bool {
    let mut current = span.clone();
    for _ in 0..spans.len() + 1 {
        if current["spanId"] == ancestor["spanId"] {
            return true;
        }
        match spans.iter().find(|s| s["spanId"] == current["parentSpanId"]) {
            Some(parent) => current = parent.clone(),
            None => return false,
        }
    }
    false
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"]["stringValue"].as_str()
}

/// An integer attribute, however it was written: OTLP/JSON writes an int64
/// as a string, and a field recorded after its span began arrives as a
/// string value.
fn int_attribute(span: &Value, key: &str) -> Option<i64> {
    let value = &span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"];
    let value = if value["intValue"].is_null() { &value["stringValue"] } else { &value["intValue"] };
    value.as_i64().or_else(|| value.as_str()?.parse().ok())
}

#[tokio::test]
async fn one_payment_is_one_trace_across_api_lock_and_settle() {
    let env = TestEnv::new();
    let (app, received, _) = exporting_app(&env, Encoding::Json, 100, &[("LOG_FORMAT", "json")]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;

    // The client's own trace: the payment's spans must continue it.
    let (trace_id, client_span) = new_ids();
    let id = post_traced(&app, &a, &b, &trace_id, &client_span).await;
    wait_done(&app, &id).await;
    let spans = settled_trace(&received, &trace_id, &app).await;

    let one = |name: &str| {
        let found = named(&spans, name);
        assert_eq!(found.len(), 1, "one {name} span expected in {spans:#?}");
        found[0].clone()
    };
    let request = one("request");
    let accept = one("accept_payment");
    let lock = one("payment.lock");
    let settle = one("payment.settle");

    // request -> accept_payment -> payment.lock -> payment.settle, under the
    // client's span.
    assert_eq!(request["parentSpanId"], client_span.as_str(), "{request:#}");
    assert!(descends(&spans, &accept, &request), "accept_payment is not under the request: {spans:#?}");
    assert_eq!(lock["parentSpanId"], accept["spanId"], "{lock:#}");
    assert_eq!(settle["parentSpanId"], lock["spanId"], "{settle:#}");
    for span in [&accept, &lock, &settle] {
        assert_eq!(attribute(span, "payment_id"), Some(id.as_str()), "{span:#}");
    }
    assert_eq!(attribute(&lock, "outcome"), Some("granted"), "{lock:#}");
    // Nothing else held its accounts: one lock call.
    assert_eq!(int_attribute(&lock, "attempts"), Some(1), "{lock:#}");
    assert_eq!(attribute(&settle, "outcome"), Some("done"), "{settle:#}");

    // The intake insert is in the payment's trace, and the workers' batch
    // spans link to the payment's spans.
    let group = one("intake.group");
    assert_eq!(group["parentSpanId"], accept["spanId"], "{group:#}");
    let all = received.all();
    for batch in ["lock.batch", "settle.batch"] {
        let linked = named(&all, batch)
            .into_iter()
            .any(|s| s["links"].as_array().into_iter().flatten().any(|l| l["traceId"] == trace_id.as_str()));
        assert!(linked, "no {batch} span links to trace {trace_id}: {all:#?}");
    }
    assert!(received.services().iter().all(|s| s == "payment-app"), "{:?}", received.services());

    // JSON log lines within a request carry its trace id.
    let log = app.log_text();
    assert!(
        log.lines().any(|l| l.contains("account opened") && l.contains("\"trace_id\":\"")),
        "no log line carries a trace id:\n{}",
        app.log_tail()
    );
}

/// The console's payment page shows the payment's trace id, the one its
/// exported spans carry: for a payment grouped at intake and for one sent
/// with an Idempotency-Key (recorded by another insert), both in traces
/// the app started itself (no client `traceparent`).
#[tokio::test]
async fn the_console_shows_the_trace_id_a_payments_spans_carry() {
    let env = TestEnv::new();
    let (app, received, _) = exporting_app(&env, Encoding::Json, 100, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let body = json!({"from_account": a, "to_account": b, "amount": "1.00"});
    let mut ids = Vec::new();
    for key in [None, Some("trace-id-key-0001")] {
        let mut request = app.http.post(format!("{}/api/v1/payment", app.base)).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 202);
        let paid: Value = response.json().await.unwrap();
        ids.push(paid["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_done(&app, id).await;
    }
    let http = crate::console::browser();
    let (session, _) = crate::console::sign_in(&app, &http, TOKEN).await;
    for id in &ids {
        let settle = poll_within(Duration::from_secs(60), || async {
            let all = received.all();
            let found = named(&all, "payment.settle")
                .into_iter()
                .find(|s| attribute(s, "payment_id") == Some(id.as_str()))
                .cloned();
            found.ok_or_else(String::new)
        })
        .await
        .unwrap_or_else(|_| panic!("no settle span for {id}; log:\n{}", app.log_tail()));
        let trace_id = settle["traceId"].as_str().unwrap().to_owned();
        assert_eq!(trace_id.len(), 32, "{settle:#}");
        let page = http
            .get(format!("{}/console/payments/{id}", app.base))
            .header(reqwest::header::COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("<dd class=\"trace\"><code>{trace_id}</code></dd>")),
            "the page of {id} does not show trace {trace_id}: {html}"
        );
    }
}

/// A payment whose account is locked by someone else waits in the retry
/// queue: each lock attempt is a span, the next one a child of the one
/// that parked the payment, and settle a child of the one that was granted.
#[tokio::test]
async fn lock_attempts_and_retry_waits_chain_in_the_payments_trace() {
    let env = TestEnv::new();
    let (app, received, _) =
        exporting_app(&env, Encoding::Json, 100, &[("LOCK_RETRY_DELAY_MS", "100")]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    // Someone else holds `a` on every node: the payment is parked.
    let key = format!("{}:lock:account:{a}", env.key_prefix);
    let mut nodes = Vec::new();
    for url in env.redis_urls.split(',') {
        let mut redis = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("someone-else")
            .arg("EX")
            .arg(60)
            .query_async(&mut redis)
            .await
            .unwrap();
        nodes.push(redis);
    }

    let (trace_id, client_span) = new_ids();
    let id = post_traced(&app, &a, &b, &trace_id, &client_span).await;
    // Held until an attempt has been parked, then let go.
    poll_within(Duration::from_secs(60), || async {
        let spans = received.spans_of(&trace_id);
        let parked = named(&spans, "payment.lock").iter().any(|s| attribute(s, "outcome") == Some("parked"));
        if parked { Ok(()) } else { Err(String::new()) }
    })
    .await
    .unwrap_or_else(|_| panic!("no parked lock attempt; log:\n{}", app.log_tail()));
    for redis in &mut nodes {
        let _: () = redis::cmd("DEL").arg(&key).query_async(redis).await.unwrap();
    }
    wait_done(&app, &id).await;
    let spans = settled_trace(&received, &trace_id, &app).await;

    let accept = named(&spans, "accept_payment");
    assert_eq!(accept.len(), 1, "{spans:#?}");
    let locks = named(&spans, "payment.lock");
    assert!(locks.len() >= 2, "the payment was never parked: {spans:#?}");
    // Follow the chain from intake: parked, parked, ..., granted.
    let mut parent = accept[0]["spanId"].clone();
    for (i, _) in locks.iter().enumerate() {
        let attempt = locks.iter().find(|s| s["parentSpanId"] == parent).unwrap_or_else(|| {
            panic!("no lock attempt {i} under {parent}: {spans:#?}");
        });
        assert_eq!(attribute(attempt, "payment_id"), Some(id.as_str()));
        let expected = if i + 1 == locks.len() { "granted" } else { "parked" };
        assert_eq!(attribute(attempt, "outcome"), Some(expected), "{attempt:#}");
        assert!(int_attribute(attempt, "attempts").is_some_and(|n| n >= 1), "{attempt:#}");
        parent = attempt["spanId"].clone();
    }
    let settle = named(&spans, "payment.settle");
    assert_eq!(settle.len(), 1, "{spans:#?}");
    assert_eq!(settle[0]["parentSpanId"], parent, "settle is under the granted attempt: {spans:#?}");
}

/// The default protocol is OTLP/HTTP protobuf.
#[tokio::test]
async fn protobuf_is_the_default_encoding() {
    let env = TestEnv::new();
    let (app, received, binary) = exporting_app(&env, Encoding::Default, 100, &[]).await;
    app.account("1.00").await;
    poll_within(Duration::from_secs(60), || async {
        if binary.0.lock().unwrap().is_empty() { Err(String::new()) } else { Ok(()) }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing exported; log:\n{}", app.log_tail()));
    let exports = binary.0.lock().unwrap().clone();
    assert!(exports.iter().all(|(t, len)| t == "application/x-protobuf" && *len > 0), "{exports:?}");
    assert!(received.all().is_empty(), "no JSON export expected");
}

/// Spans still buffered when the process is told to stop are exported
/// before it exits: with a schedule too long to ever fire, the only export
/// is the one at shutdown. (Multi-threaded: `terminate` blocks its thread
/// while the receiver must answer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_spans_are_exported_at_shutdown() {
    let env = TestEnv::new();
    let (mut app, received, _) = exporting_app(&env, Encoding::Json, 600_000, &[]).await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;
    let (trace_id, client_span) = new_ids();
    let id = post_traced(&app, &a, &b, &trace_id, &client_span).await;
    wait_done(&app, &id).await;
    assert!(received.all().is_empty(), "exported before shutdown: {:#?}", received.all());

    assert!(app.terminate().success(), "log:\n{}", app.log_tail());
    let spans = received.spans_of(&trace_id);
    for stage in ["request", "payment.lock", "payment.settle"] {
        assert_eq!(named(&spans, stage).len(), 1, "{stage} not exported at shutdown: {spans:#?}");
    }
}
