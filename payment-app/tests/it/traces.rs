//! OpenTelemetry traces: one payment's trace, exported over OTLP/HTTP to a
//! receiver this test runs on loopback, holds the spans of every stage
//! (HTTP request, intake, lock, settle) in one parent/child chain that
//! continues the client's `traceparent`. (With the variables unset nothing
//! is exported; every other test runs that way.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::{App, TestEnv};

/// Every span received, with its resource's service name.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Value)>>>);

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

/// An OTLP/HTTP receiver (JSON encoding) on a free loopback port.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
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
    (url, received)
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

#[tokio::test]
async fn one_payment_is_one_trace_across_api_lock_and_settle() {
    let (endpoint, received) = receiver().await;
    let env = TestEnv::new();
    let app = App::start(
        &env,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    let a = app.account("100.00").await;
    let b = app.account("0").await;

    // The client's own trace: the payment's spans must continue it.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let client_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let response = app
        .http
        .post(format!("{}/api/v1/payment", app.base))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(
            &json!({"from_account": a, "to_account": b, "amount": "12.34", "payment_description": "traced"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    let done = app.wait_terminal(std::slice::from_ref(&id), Duration::from_secs(60)).await;
    assert_eq!(done[0]["status"], "done", "{}", done[0]);

    // Spans are exported in batches: wait for the settle span to arrive.
    let deadline = Instant::now() + Duration::from_secs(60);
    let spans = loop {
        let spans = received.spans_of(&trace_id);
        if !named(&spans, "payment.settle").is_empty() {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "no settle span in trace {trace_id}; received {:#?}\nlog:\n{}",
            received.all(),
            app.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

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
    assert_eq!(request["parentSpanId"], client_span, "{request:#}");
    assert!(descends(&spans, &accept, &request), "accept_payment is not under the request: {spans:#?}");
    assert_eq!(lock["parentSpanId"], accept["spanId"], "{lock:#}");
    assert_eq!(settle["parentSpanId"], lock["spanId"], "{settle:#}");
    for span in [&accept, &lock, &settle] {
        assert_eq!(attribute(span, "payment_id"), Some(id.as_str()), "{span:#}");
    }
    assert_eq!(attribute(&lock, "outcome"), Some("granted"), "{lock:#}");
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
