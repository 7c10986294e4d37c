//! A fake Kubernetes API server (tower-test), for what the real one in
//! `api` cannot be made to do on demand: fail every apply with a 500 (the
//! retry backoff), cut one client off (leader election under a network
//! partition), serve an old CRD without the transition rules, lack the
//! Prometheus Operator while the shared control plane has it, and show the
//! order of a reconcile's requests. It keeps every object written to it,
//! answers reads, lists and deletes from that state, refuses server-side
//! applies that conflict between field managers (the Lease relies on it)
//! and deletes of missing objects. Everything else a real server decides
//! (admission, Pod Security, immutable fields, garbage collection, RBAC) is
//! tested against the real one.
//!
//! Simplification: lists are atomic in field ownership (a real server
//! merges `containers` by name).

mod fields;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

pub use fields::get_path;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

impl Call {
    /// A server-side apply of a child (not the status subresource).
    pub fn is_apply(&self) -> bool {
        self.method == "PATCH" && self.content_type.contains("apply-patch") && !self.path.ends_with("/status")
    }
}

#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    /// Field manager -> the leaf fields it owns.
    managers: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Stored>,
    calls: Vec<Call>,
    resource_version: u64,
}

/// The fake server. Clones share one state.
#[derive(Clone, Default)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    /// Whether workloads report every pod ready.
    pub ready: Arc<AtomicBool>,
    /// Answer every child apply with a 500.
    pub fail_applies: Arc<AtomicBool>,
    /// API groups whose CRDs are not installed: every call under
    /// `/apis/<group>/` is answered 404, as a real API server does.
    pub unserved_groups: Arc<Mutex<Vec<String>>>,
}

/// Where an object lives: `/api/v1/namespaces/shop/secrets/x` names the
/// object; without the name, its collection.
#[derive(Debug, Clone)]
struct Target {
    collection: String,
    namespace: String,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let at = segments.iter().position(|s| *s == "namespaces")?;
        let namespace = (*segments.get(at + 1)?).to_owned();
        let resource = (*segments.get(at + 2)?).to_owned();
        Some(Target {
            collection: format!("/{}", segments[..at + 3].join("/")),
            namespace,
            resource,
            name: segments.get(at + 3).map(|s| (*s).to_owned()),
            subresource: segments.get(at + 4).map(|s| (*s).to_owned()),
        })
    }

    fn key(&self) -> String {
        format!("{}/{}", self.collection, self.name.as_deref().unwrap_or_default())
    }
}

fn status(code: StatusCode, reason: &str, message: impl Into<String>) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": reason, "message": message.into(), "code": code.as_u16()}),
    )
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            v.replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/")
                .replace("%3d", "=")
                .replace("%2c", ",")
        })
    })
}

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k].as_str() == Some(v),
        None => true,
    })
}

impl Fake {
    pub fn client(&self) -> Client {
        self.client_behind(Arc::default())
    }

    /// A client whose requests fail with 503 while `partitioned` is set,
    /// as from a replica cut off from the API server.
    pub fn client_behind(&self, partitioned: Arc<AtomicBool>) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (status, body) = if partitioned.load(Ordering::Relaxed) {
                    status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable",
                        "the network is partitioned",
                    )
                } else {
                    fake.answer(request).await
                };
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

    /// The object at `path`, as stored.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).map(|s| s.object.clone())
    }

    pub fn exists(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }

    async fn answer(&self, request: Request<Body>) -> (StatusCode, Value) {
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        let call = Call { method, path, query, content_type, body };
        self.state.lock().unwrap().calls.push(call.clone());
        if self.unserved_groups.lock().unwrap().iter().any(|g| call.path.starts_with(&format!("/apis/{g}/")))
        {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
        let Some(target) = Target::parse(&call.path) else {
            return status(StatusCode::NOT_FOUND, "NotFound", format!("no route {}", call.path));
        };
        let (code, body) = match (call.method.as_str(), &target.name, target.subresource.as_deref()) {
            ("GET", None, _) => self.list(&target, &call.query),
            ("GET", Some(_), _) => self.read(&target),
            ("POST", None, _) => self.create(&target, &call),
            ("PATCH", Some(_), Some("status")) => self.patch_status(&target, &call),
            ("PATCH", Some(_), None) => self.patch(&target, &call),
            ("DELETE", Some(_), None) => self.delete(&target),
            (other, _, _) => panic!("the fake does not serve {other} {}", call.path),
        };
        (code, self.with_status(body))
    }

    fn read(&self, target: &Target) -> (StatusCode, Value) {
        match self.get(&target.key()) {
            Some(object) => (StatusCode::OK, object),
            None => not_found(target),
        }
    }

    fn list(&self, target: &Target, query: &str) -> (StatusCode, Value) {
        let selector = query_param(query, "labelSelector").unwrap_or_default();
        let state = self.state.lock().unwrap();
        let prefix = format!("{}/", target.collection);
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|(key, stored)| key.starts_with(&prefix) && labels_match(&stored.object, &selector))
            .map(|(_, stored)| self.with_status(stored.object.clone()))
            .collect();
        (
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": state.resource_version.to_string()}, "items": items}),
        )
    }

    fn create(&self, target: &Target, call: &Call) -> (StatusCode, Value) {
        if target.resource == "events" {
            return (StatusCode::CREATED, call.body.clone());
        }
        let name = call.body["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let target = Target { name: Some(name), ..target.clone() };
        if self.exists(&target.key()) {
            return status(StatusCode::CONFLICT, "AlreadyExists", format!("{} already exists", target.key()));
        }
        let manager = query_param(&call.query, "fieldManager").unwrap_or_else(|| "unknown".into());
        (
            StatusCode::CREATED,
            self.write(&target, call.body.clone(), None, &manager, fields::leaves(&call.body)),
        )
    }

    fn patch(&self, target: &Target, call: &Call) -> (StatusCode, Value) {
        let manager = query_param(&call.query, "fieldManager").unwrap_or_else(|| "unknown".into());
        if call.content_type.contains("apply-patch") {
            if self.fail_applies.load(Ordering::Relaxed) {
                return status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "the fake was told to fail",
                );
            }
            let force = query_param(&call.query, "force").as_deref() == Some("true");
            return self.apply(target, &call.body, &manager, force);
        }
        // A merge or strategic-merge patch: an update, which takes over
        // every field it sets and never conflicts.
        let Some(old) = self.state.lock().unwrap().objects.get(&target.key()).cloned() else {
            return not_found(target);
        };
        let mut object = old.object.clone();
        fields::merge_patch(&mut object, &call.body);
        let mut managers = old.managers.clone();
        let set = fields::leaves(&call.body);
        for owned in managers.values_mut() {
            owned.retain(|path| !set.contains_key(path) && !fields::nulled(&call.body, path));
        }
        managers.entry(manager.clone()).or_default().extend(set.keys().cloned());
        let object = self.write(target, object, Some(&old.object), &manager, BTreeMap::new());
        self.state.lock().unwrap().objects.get_mut(&target.key()).unwrap().managers = managers;
        (StatusCode::OK, object)
    }

    /// Server-side apply, with the field-ownership rules of a real server
    /// (see `fields`).
    fn apply(&self, target: &Target, applied: &Value, manager: &str, force: bool) -> (StatusCode, Value) {
        let old = self.state.lock().unwrap().objects.get(&target.key()).cloned();
        let applied_leaves = fields::leaves(applied);
        let Some(old) = old else {
            return (StatusCode::CREATED, self.write(target, applied.clone(), None, manager, applied_leaves));
        };
        let conflicts: Vec<String> = old
            .managers
            .iter()
            .filter(|(other, _)| other.as_str() != manager)
            .flat_map(|(other, owned)| {
                owned
                    .iter()
                    .filter(|path| {
                        applied_leaves.get(*path).is_some_and(|v| get_path(&old.object, path) != Some(v))
                    })
                    .map(move |path| format!("conflict with \"{other}\": {path}"))
            })
            .collect();
        if !conflicts.is_empty() && !force {
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                format!("Apply failed with {} conflict(s): {}", conflicts.len(), conflicts.join("; ")),
            );
        }
        let mut object = old.object.clone();
        let mut managers = old.managers.clone();
        let previously = managers.remove(manager).unwrap_or_default();
        for owned in managers.values_mut() {
            // Forced: the applier takes the fields whose values it changes.
            owned.retain(|path| {
                applied_leaves.get(path).is_none_or(|v| get_path(&old.object, path) == Some(v))
            });
        }
        for path in previously.difference(&applied_leaves.keys().cloned().collect()) {
            if !managers.values().any(|owned| owned.contains(path)) {
                fields::remove_path(&mut object, path);
            }
        }
        for (path, value) in &applied_leaves {
            fields::set_path(&mut object, path, value.clone());
        }
        managers.insert(manager.to_owned(), applied_leaves.keys().cloned().collect());
        let object = self.write(target, object, Some(&old.object), manager, BTreeMap::new());
        self.state.lock().unwrap().objects.get_mut(&target.key()).unwrap().managers = managers;
        (StatusCode::OK, object)
    }

    /// Stores `object`; `owned` are the writer's fields on a create.
    fn write(
        &self,
        target: &Target,
        mut object: Value,
        old: Option<&Value>,
        manager: &str,
        owned: BTreeMap<String, Value>,
    ) -> Value {
        let mut state = self.state.lock().unwrap();
        state.resource_version += 1;
        let generation = match old {
            Some(old) if old["spec"] != object["spec"] => {
                old["metadata"]["generation"].as_i64().unwrap_or(1) + 1
            }
            Some(old) => old["metadata"]["generation"].as_i64().unwrap_or(1),
            None => 1,
        };
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
        if old.is_none() {
            object["metadata"]["uid"] = json!(format!("uid-{}", state.resource_version));
            object["metadata"]["namespace"] = json!(target.namespace);
        }
        let managers = match state.objects.get(&target.key()) {
            Some(stored) => stored.managers.clone(),
            None => BTreeMap::from([(manager.to_owned(), owned.keys().cloned().collect())]),
        };
        state.objects.insert(target.key(), Stored { object: object.clone(), managers });
        object
    }

    fn patch_status(&self, target: &Target, call: &Call) -> (StatusCode, Value) {
        let mut state = self.state.lock().unwrap();
        match state.objects.get_mut(&target.key()) {
            Some(stored) => {
                stored.object["status"] = call.body["status"].clone();
                (StatusCode::OK, stored.object.clone())
            }
            // The tests do not store the PaymentCluster itself: answer with
            // the resource as the server would have it.
            None => {
                let mut cluster = call.body.clone();
                cluster["metadata"] = json!({"name": target.name, "namespace": target.namespace});
                cluster["spec"] = json!({});
                (StatusCode::OK, cluster)
            }
        }
    }

    fn delete(&self, target: &Target) -> (StatusCode, Value) {
        match self.state.lock().unwrap().objects.remove(&target.key()) {
            Some(stored) => (StatusCode::OK, stored.object),
            None => not_found(target),
        }
    }

    /// What the API server returns for a workload: the status its
    /// controller would have written, every pod ready or none.
    fn with_status(&self, mut object: Value) -> Value {
        let ready = self.ready.load(Ordering::Relaxed);
        let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = object["metadata"]["generation"].clone();
        match object["kind"].as_str() {
            Some("Deployment") => {
                object["status"] = json!({
                    "observedGeneration": generation,
                    "replicas": replicas,
                    "readyReplicas": if ready { replicas } else { 0 },
                    "updatedReplicas": replicas,
                });
            }
            Some("StatefulSet") => {
                let revision =
                    format!("{}-{generation}", object["metadata"]["name"].as_str().unwrap_or_default());
                object["status"] = json!({
                    "observedGeneration": generation,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": if ready { replicas } else { 0 },
                    "currentRevision": revision,
                    "updateRevision": revision,
                });
            }
            // CloudNativePG's Cluster: its instances, Ready, and WAL
            // archiving when a plugin archives it.
            Some("Cluster") if object["apiVersion"] == "postgresql.cnpg.io/v1" => {
                let instances = object["spec"]["instances"].as_i64().unwrap_or(1);
                let truth = if ready { "True" } else { "False" };
                let mut conditions =
                    vec![json!({"type": "Ready", "status": truth, "reason": "", "message": ""})];
                if object["spec"]["plugins"].as_array().is_some_and(|p| !p.is_empty()) {
                    conditions.push(
                        json!({"type": "ContinuousArchiving", "status": truth, "reason": "", "message": ""}),
                    );
                }
                object["status"] = json!({
                    "instances": instances,
                    "readyInstances": if ready { instances } else { 0 },
                    "conditions": conditions,
                });
            }
            _ => {}
        }
        object
    }
}

fn not_found(target: &Target) -> (StatusCode, Value) {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{}\" not found", target.resource, target.name.as_deref().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests;
