//! The controller against a mocked API server (tower-test): the requests a
//! reconcile makes, in order, and what it does with the answers. The fake
//! server keeps what is applied, so a second reconcile sees the first's
//! work, as it would in a cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use payrail_operator::builders::PasswordSource;
use payrail_operator::controller::{Context, Metrics, backoff, error_policy, reconcile};
use payrail_operator::crd::{PaymentCluster, PaymentClusterStatus};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    query: String,
    body: Value,
}

/// A fake API server: applies are stored and echoed back (with the pod
/// readiness the test chose), status patches and events are recorded.
#[derive(Clone, Default)]
struct Fake {
    objects: Arc<Mutex<BTreeMap<String, Value>>>,
    calls: Arc<Mutex<Vec<Call>>>,
    ready: Arc<AtomicBool>,
    fail_applies: Arc<AtomicBool>,
}

struct Fixed;

impl PasswordSource for Fixed {
    fn password(&mut self) -> String {
        "fixed-password".into()
    }
}

impl Fake {
    fn client(&self) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (status, body) = fake.answer(request).await;
                send.send_response(
                    Response::builder()
                        .status(status)
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                );
            }
        });
        Client::new(service, "default")
    }

    fn context(&self) -> Arc<Context> {
        Arc::new(Context::with_passwords(self.client(), Arc::new(Metrics::default()), Box::new(Fixed)))
    }

    async fn answer(&self, request: Request<Body>) -> (StatusCode, Value) {
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        self.calls.lock().unwrap().push(Call {
            method: method.clone(),
            path: path.clone(),
            query,
            body: body.clone(),
        });

        match method.as_str() {
            "GET" => match self.objects.lock().unwrap().get(&path) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => (
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                ),
            },
            "PATCH" if path.ends_with("/status") => {
                // The resource as the server now has it.
                let mut cluster = body;
                cluster["metadata"] = json!({"name": "mini", "namespace": "shop"});
                cluster["spec"] = json!({});
                (StatusCode::OK, cluster)
            }
            "PATCH" if self.fail_applies.load(Ordering::Relaxed) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500}),
            ),
            "PATCH" => {
                self.objects.lock().unwrap().insert(path, body.clone());
                (StatusCode::OK, self.with_status(body))
            }
            "POST" => (StatusCode::CREATED, body),
            other => panic!("unexpected {other} {path}"),
        }
    }

    /// What the API server returns for an applied workload: its status.
    fn with_status(&self, mut object: Value) -> Value {
        let ready = self.ready.load(Ordering::Relaxed);
        let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        object["metadata"]["generation"] = json!(1);
        match object["kind"].as_str() {
            Some("Deployment") => {
                object["status"] = json!({
                    "observedGeneration": 1,
                    "replicas": replicas,
                    "readyReplicas": if ready { replicas } else { 0 },
                    "updatedReplicas": replicas,
                });
            }
            Some("StatefulSet") => {
                object["status"] =
                    json!({"replicas": replicas, "readyReplicas": if ready { replicas } else { 0 }});
            }
            _ => {}
        }
        object
    }

    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

fn cluster(spec: Value) -> PaymentCluster {
    serde_json::from_value(json!({
        "apiVersion": "payrail.dev/v1alpha1",
        "kind": "PaymentCluster",
        "metadata": {"name": "mini", "namespace": "shop", "uid": "6b1f3f0a-2c8e-4c55-9b3a-0f1d2e3c4b5a", "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

fn applies(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.method == "PATCH" && !c.path.ends_with("/status")).collect()
}

fn status_patch(calls: &[Call]) -> Option<PaymentClusterStatus> {
    calls
        .iter()
        .find(|c| c.path.ends_with("/paymentclusters/mini/status"))
        .map(|c| serde_json::from_value(c.body["status"].clone()).unwrap())
}

fn events(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.contains("/events"))
        .map(|c| c.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn condition(status: &PaymentClusterStatus, type_: &str) -> (String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).expect("condition");
    (c.status.clone(), c.reason.clone())
}

#[tokio::test]
async fn the_first_reconcile_creates_everything() {
    let fake = Fake::default();
    let action = reconcile(Arc::new(cluster(json!({}))), fake.context()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(15)), "not ready yet: look again soon");

    let calls = fake.take_calls();
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", "/api/v1/namespaces/shop/secrets/mini-credentials")
    );
    let applied: Vec<&str> = applies(&calls).iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        applied,
        [
            "/api/v1/namespaces/shop/secrets/mini-credentials",
            "/api/v1/namespaces/shop/configmaps/mini-postgres-scripts",
            "/api/v1/namespaces/shop/services/mini-postgres",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres",
            "/api/v1/namespaces/shop/services/mini-postgres-ro",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-postgres-ro",
            "/api/v1/namespaces/shop/configmaps/mini-redis-config",
            "/api/v1/namespaces/shop/services/mini-redis",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-redis",
            "/api/v1/namespaces/shop/services/mini-rabbitmq",
            "/apis/apps/v1/namespaces/shop/statefulsets/mini-rabbitmq",
            "/apis/apps/v1/namespaces/shop/deployments/mini-app",
            "/api/v1/namespaces/shop/services/mini-api",
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/mini-app",
        ]
    );
    for call in applies(&calls) {
        assert!(call.query.contains("fieldManager=payrail-operator"), "{}", call.query);
        assert!(call.query.contains("force=true"), "{}", call.query);
        if call.path.ends_with("/secrets/mini-credentials") {
            // Volumes are kept by default, and so are the passwords they hold.
            assert_eq!(call.body["metadata"]["ownerReferences"], Value::Null, "{}", call.body);
            continue;
        }
        assert_eq!(
            call.body["metadata"]["ownerReferences"][0]["uid"],
            "6b1f3f0a-2c8e-4c55-9b3a-0f1d2e3c4b5a"
        );
    }
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Ready"), ("False".into(), "ComponentsNotReady".into()));
    assert_eq!(condition(&status, "Progressing").0, "True");
    assert_eq!(status.app.summary, "0/3");
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(events(&calls), ["Created"]);
}

#[tokio::test]
async fn a_second_reconcile_changes_nothing() {
    let fake = Fake::default();
    let ctx = fake.context();
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    let first = fake.take_calls();
    cr.status = status_patch(&first);

    reconcile(Arc::new(cr), ctx).await.unwrap();
    let second = fake.take_calls();
    // The same objects, byte for byte (passwords included: the Secret was
    // read back, not regenerated), no status write and no event.
    let bodies =
        |calls: &[Call]| applies(calls).iter().map(|c| (c.path.clone(), c.body.clone())).collect::<Vec<_>>();
    assert_eq!(bodies(&second), bodies(&first));
    assert!(status_patch(&second).is_none(), "an unchanged status is not written");
    assert!(events(&second).is_empty());
}

#[tokio::test]
async fn passwords_already_in_the_cluster_are_kept() {
    let fake = Fake::default();
    let mut data = serde_json::Map::new();
    for key in [
        "postgres-password",
        "replication-password",
        "rabbitmq-password",
        "rabbitmq-erlang-cookie",
        "redis-password",
        "api-tokens",
    ] {
        data.insert(key.into(), json!("b3JpZ2luYWw=")); // "original"
    }
    fake.objects.lock().unwrap().insert(
        "/api/v1/namespaces/shop/secrets/mini-credentials".into(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mini-credentials", "namespace": "shop"}, "data": data}),
    );
    reconcile(Arc::new(cluster(json!({}))), fake.context()).await.unwrap();
    let calls = fake.take_calls();
    let secret = applies(&calls).into_iter().find(|c| c.path.ends_with("/secrets/mini-credentials")).unwrap();
    assert!(secret.body["data"].as_object().unwrap().values().all(|v| v == "b3JpZ2luYWw="));
    assert!(events(&calls).is_empty(), "nothing was created");
}

#[tokio::test]
async fn status_follows_the_childrens_readiness() {
    let fake = Fake::default();
    let ctx = fake.context();
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    cr.status = status_patch(&fake.take_calls());

    fake.ready.store(true, Ordering::Relaxed);
    let action = reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(300)), "ready: only a slow resync");
    let calls = fake.take_calls();
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Ready"), ("True".into(), "AllComponentsReady".into()));
    assert_eq!(condition(&status, "Progressing").0, "False");
    assert_eq!(
        (status.app.summary.as_str(), status.redis.summary.as_str(), status.postgres.summary.as_str()),
        ("3/3", "3/3", "2/2")
    );
    assert_eq!(status.api_service.as_deref(), Some("mini-api"));
    assert_eq!(events(&calls), ["Ready"]);

    // Pods go away: back to not ready, with a warning event.
    cr.status = Some(status);
    fake.ready.store(false, Ordering::Relaxed);
    reconcile(Arc::new(cr), ctx).await.unwrap();
    let calls = fake.take_calls();
    assert_eq!(condition(&status_patch(&calls).unwrap(), "Ready").0, "False");
    assert_eq!(events(&calls), ["NotReady"]);
}

#[tokio::test]
async fn an_invalid_spec_is_degraded_and_waits_for_a_change() {
    let fake = Fake::default();
    let ctx = fake.context();
    let mut cr = cluster(json!({"redis": {"nodes": 2}}));
    let action = reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change(), "no requeue: only an edit can fix it");
    let calls = fake.take_calls();
    assert!(applies(&calls).is_empty(), "nothing is applied from an invalid spec");
    let status = status_patch(&calls).expect("status written");
    assert_eq!(condition(&status, "Degraded"), ("True".into(), "InvalidSpec".into()));
    assert!(status.conditions.iter().any(|c| c.message.contains("redis.nodes")));
    assert_eq!(events(&calls), ["InvalidSpec"]);

    // Woken again without a change (a resync): no write, no event, no loop.
    cr.status = Some(status);
    let action = reconcile(Arc::new(cr), ctx).await.unwrap();
    assert_eq!(action, Action::await_change());
    let calls = fake.take_calls();
    assert!(status_patch(&calls).is_none() && events(&calls).is_empty() && applies(&calls).is_empty());
}

#[tokio::test]
async fn a_changed_image_rolls_the_deployment() {
    let fake = Fake::default();
    let ctx = fake.context();
    let mut cr = cluster(json!({}));
    reconcile(Arc::new(cr.clone()), ctx.clone()).await.unwrap();
    cr.status = status_patch(&fake.take_calls());

    cr.spec.app.image = "ghcr.io/payrail/payment-app:0.2.0".into();
    cr.metadata.generation = Some(2);
    reconcile(Arc::new(cr), ctx).await.unwrap();
    let calls = fake.take_calls();
    let deployment = applies(&calls).into_iter().find(|c| c.path.ends_with("/deployments/mini-app")).unwrap();
    let pod = &deployment.body["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "ghcr.io/payrail/payment-app:0.2.0");
    assert_eq!(
        pod["initContainers"][0]["image"], "ghcr.io/payrail/payment-app:0.2.0",
        "migrations run on the new image first"
    );
    assert_eq!(status_patch(&calls).unwrap().observed_generation, Some(2));
}

#[tokio::test]
async fn api_failures_back_off() {
    let fake = Fake::default();
    fake.fail_applies.store(true, Ordering::Relaxed);
    let ctx = fake.context();
    let cr = Arc::new(cluster(json!({})));
    let error = reconcile(cr.clone(), ctx.clone()).await.unwrap_err();
    assert_eq!(error_policy(cr.clone(), &error, ctx.clone()), Action::requeue(backoff(1)));
    assert_eq!(error_policy(cr.clone(), &error, ctx.clone()), Action::requeue(backoff(2)));
    assert_eq!(
        (backoff(1), backoff(2), backoff(3)),
        (Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(20))
    );
    assert_eq!(backoff(30), Duration::from_secs(300));
    // A success resets the count.
    fake.fail_applies.store(false, Ordering::Relaxed);
    reconcile(cr.clone(), ctx.clone()).await.unwrap();
    assert_eq!(error_policy(cr, &error, ctx), Action::requeue(backoff(1)));
}
