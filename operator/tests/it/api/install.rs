//! Installing payrail on a real API server: the chart's CRD is accepted
//! and established with its printer columns, its CEL rules are compiled
//! and enforced by the server, and every example becomes exactly the
//! children the builders describe, accepted by the server, with Pods that
//! the controller manager creates and Pod Security `restricted` admits.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client};
use payrail_operator::crd::PaymentCluster;
use payrail_operator::reconcile::build::{self, Credentials, Observed};
use payrail_operator::reconcile::validate::validate;
use payrail_operator::render::Placeholder;
use serde_json::{Value, json};

use super::{Namespace, Operator, apply_cluster, eventually, example, refusal, run, shared};

const SETTLE: Duration = Duration::from_secs(90);

#[tokio::test]
async fn the_crd_is_established_with_its_printer_columns() {
    let plane = shared();
    let crds: Api<CustomResourceDefinition> = Api::all(plane.admin().await);
    let crd = crds.get("paymentclusters.payrail.dev").await.unwrap();
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"),
        "not established: {conditions:?}"
    );
    let columns: Vec<String> =
        crd.spec.versions[0].additional_printer_columns.iter().flatten().map(|c| c.name.clone()).collect();
    for column in ["Ready", "App", "Redis", "Postgres", "Age"] {
        assert!(columns.iter().any(|c| c == column), "no {column} column in {columns:?}");
    }
}

/// The (apiVersion, kind, name) of every object the operator builds for
/// `cluster`, from the same pure builders the controller runs.
fn expected_children(cluster: &Value) -> BTreeSet<(String, String, String)> {
    let cr: PaymentCluster = serde_json::from_value(cluster.clone()).unwrap();
    let valid = validate(&cr).unwrap_or_else(|e| panic!("the example is valid: {e:?}"));
    let credentials = Credentials::complete(None, &mut Placeholder);
    build::build(&valid, &credentials, &Observed::default())
        .iter()
        .map(|child| {
            let object = serde_json::to_value(child).unwrap();
            let field = |f: &str| object[f].as_str().unwrap().to_owned();
            (field("apiVersion"), field("kind"), child.name().to_owned())
        })
        .collect()
}

async fn exists(
    client: &Client,
    namespace: &str,
    (api_version, kind, name): &(String, String, String),
) -> bool {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let Ok((resource, _)) = kube::discovery::pinned_kind(client, &gvk).await else {
        return false;
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    matches!(api.get_opt(name).await, Ok(Some(_)))
}

/// What `example` needs beside it in its namespace (the Secrets it names).
async fn prerequisites(client: &Client, namespace: &str, cluster: &Value) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let create = async |name: &str, data: Value| {
        let secret = serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
        secrets.create(&PostParams::default(), &secret).await.unwrap();
    };
    let spec = &cluster["spec"];
    if let Some(tokens) = spec["app"]["apiTokensSecret"].as_object() {
        let key = tokens["key"].as_str().unwrap();
        create(tokens["name"].as_str().unwrap(), json!({ key: "a-token-of-forty-characters-000000000000" }))
            .await;
    }
    if let Some(name) = spec["postgres"]["external"]["secretName"].as_str() {
        create(name, json!({"DATABASE_URL": "postgres://payrail:pw@db.example:5432/payrail"})).await;
    }
}

/// Applies `file` in a fresh namespace with its own operator, and waits
/// until every child the builders describe exists on the server and the
/// status reports on them.
async fn reconciles(file: &str) {
    let plane = shared();
    let namespace = Namespace::new(plane, "example").await;
    let operator = Operator::start(plane, &namespace.name);
    let admin = plane.admin().await;
    let cluster = example(file, &namespace.name);
    prerequisites(&admin, &namespace.name, &cluster).await;
    apply_cluster(&admin, &cluster).await.unwrap_or_else(|e| panic!("{file} refused: {}", refusal(&e)));

    let expected = expected_children(&cluster);
    eventually(&format!("every child of {file}"), SETTLE, async || {
        let mut missing = Vec::new();
        for child in &expected {
            if !exists(&admin, &namespace.name, child).await {
                missing.push(format!("{} {}", child.1, child.2));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing {missing:?}; log:\n{}", operator.log()))
        }
    })
    .await;

    let name = cluster["metadata"]["name"].as_str().unwrap();
    let clusters: Api<PaymentCluster> = Api::namespaced(admin.clone(), &namespace.name);
    let status = eventually("a status with conditions", SETTLE, async || {
        let cr = clusters.get(name).await.map_err(|e| e.to_string())?;
        match cr.status {
            Some(s) if s.observed_generation == cr.metadata.generation && !s.conditions.is_empty() => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // No node runs the pods: nothing is ready, and the status says so
    // without calling it a failure.
    let condition = |t: &str| status.conditions.iter().find(|c| c.type_ == t).map(|c| c.status.clone());
    assert_eq!(condition("Ready").as_deref(), Some("False"), "{status:?}");
    assert_eq!(condition("Degraded").as_deref(), Some("False"), "{status:?}");
    assert_eq!(condition("Progressing").as_deref(), Some("True"), "{status:?}");

    // What `kubectl get` shows: the printer columns, filled in.
    let table = run(plane.kubectl().args(["get", "paymentclusters", "-n", &namespace.name]));
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "READY", "APP", "REDIS", "POSTGRES", "AGE"] {
        assert!(header.contains(column), "no {column} in:\n{table}");
    }
    assert!(table.contains(&format!("/{}", status.app.desired)), "the App column is empty:\n{table}");

    // The controller manager makes the Pods of every StatefulSet and
    // Deployment, and Pod Security `restricted` admits every one.
    let workloads: Vec<String> = expected
        .iter()
        .filter(|(_, kind, _)| kind == "StatefulSet" || kind == "Deployment")
        .map(|(_, _, name)| name.clone())
        .collect();
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &namespace.name);
    let events: Api<Event> = Api::namespaced(admin.clone(), &namespace.name);
    eventually("a Pod of every workload", SETTLE, async || {
        let pods = pods.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
        let refused: Vec<String> = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
            .map(|e| e.message.unwrap_or_default())
            .collect();
        assert!(refused.is_empty(), "pods refused: {refused:?}");
        let without: Vec<&String> = workloads
            .iter()
            .filter(|w| {
                !pods
                    .iter()
                    .any(|p| p.metadata.name.as_deref().unwrap_or_default().starts_with(&format!("{w}-")))
            })
            .collect();
        if without.is_empty() { Ok(()) } else { Err(format!("no pod yet for {without:?}")) }
    })
    .await;
    drop(operator);
}

#[tokio::test]
async fn the_minimal_example_is_reconciled() {
    reconciles("paymentcluster-minimal.yaml").await;
}

#[tokio::test]
async fn the_production_example_is_reconciled() {
    reconciles("paymentcluster-production.yaml").await;
}

#[tokio::test]
async fn the_external_example_is_reconciled() {
    reconciles("paymentcluster-external.yaml").await;
}

/// The CRD's rules as the API server compiles and enforces them: what
/// `kubectl apply` answers for specs the operator must never see.
#[tokio::test]
async fn the_api_server_refuses_invalid_specs_with_the_rules_message() {
    let plane = shared();
    let namespace = Namespace::new(plane, "rules").await;
    let admin = plane.admin().await;
    let with = |spec: Value| {
        json!({
            "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
            "metadata": {"name": "bad", "namespace": namespace.name}, "spec": spec,
        })
    };
    let cases = [
        (json!({"redis": {"nodes": 2}}), "nodes must be odd"),
        (json!({"rabbitmq": {"replicas": 2}}), "rabbitmq.replicas is 1 or 3"),
        (
            json!({"app": {"tracing": {"otlpEndpoint": "collector:4318"}}}),
            "otlpEndpoint is an http:// or https:// URL",
        ),
        (json!({"app": {"webhooks": {"maxEndpoints": 0}}}), "should be greater than or equal to 1"),
        // Issue 28: enums in the schema. XAU (gold) passed the old pattern,
        // yet payment-app refuses it (no minor unit) and its pods would not start.
        (json!({"app": {"defaultCurrency": "XAU"}}), r#"spec.app.defaultCurrency: Unsupported value: "XAU""#),
        (json!({"app": {"defaultCurrency": "usd"}}), r#"Unsupported value: "usd""#),
        (json!({"app": {"logFormat": "xml"}}), r#"spec.app.logFormat: Unsupported value: "xml""#),
        (json!({"app": {"replicas": 5, "maxReplicas": 4}}), "app.replicas cannot be above app.maxReplicas"),
        (json!({"postgres": {"storage": {"size": "0"}}}), "size must be a positive quantity"),
        (json!({"postgres": {"provider": "external"}}), "postgres.external is set exactly when"),
        (
            json!({"app": {"image": "ghcr.io/payrail/payment-app@sha256:a3ed95ca"}}),
            "the digest after @ must be sha256",
        ),
        (json!({"redis": {"image": "Redis 7"}}), "must be an image reference"),
        (
            json!({"postgres": {"backup": {"objectStore": {"bucket": "b", "credentialsSecret": {"name": "s"}}}}}),
            "postgres.backup needs postgres.provider cnpg",
        ),
    ];
    for (spec, message) in cases {
        let error = apply_cluster(&admin, &with(spec.clone())).await.expect_err(&format!("{spec} accepted"));
        let said = refusal(&error);
        assert!(said.contains(message), "{spec}: the server said {said:?}, not {message:?}");
    }

    // Transition rules: fixed once the cluster exists.
    apply_cluster(&admin, &with(json!({"postgres": {"storage": {"size": "1Gi", "storageClass": "fast"}}})))
        .await
        .unwrap();
    let switch = apply_cluster(
        &admin,
        &with(json!({"postgres": {"provider": "cnpg", "storage": {"size": "1Gi", "storageClass": "fast"}}})),
    )
    .await
    .expect_err("a provider switch was accepted");
    assert!(refusal(&switch).contains("postgres.provider cannot change"), "{}", refusal(&switch));
    let class = apply_cluster(
        &admin,
        &with(json!({"postgres": {"storage": {"size": "1Gi", "storageClass": "slow"}}})),
    )
    .await
    .expect_err("a storage class change was accepted");
    assert!(refusal(&class).contains("storageClass cannot change"), "{}", refusal(&class));
    // Issue 25 item 9: three brokers never become one.
    let brokers = |replicas: i32| {
        json!({
            "apiVersion": "payrail.dev/v1alpha1", "kind": "PaymentCluster",
            "metadata": {"name": "brokers", "namespace": namespace.name},
            "spec": {"rabbitmq": {"replicas": replicas}},
        })
    };
    apply_cluster(&admin, &brokers(1)).await.unwrap();
    apply_cluster(&admin, &brokers(3)).await.expect("one broker may become three");
    let shrink = apply_cluster(&admin, &brokers(1)).await.expect_err("3 -> 1 was accepted");
    assert!(refusal(&shrink).contains("rabbitmq.replicas cannot go from 3 to 1"), "{}", refusal(&shrink));
}
