//! The chart's RBAC against what the operator really asks the API server
//! for (issue 28). `scripts/kube-up` writes an audit log (every request but
//! the control plane's own, Metadata level); the operator runs here with the
//! chart's ServiceAccount token. This test drives two clusters through the
//! kinds the table of children holds (builtin with monitoring switched on
//! and off again, so prune deletes; CNPG with a pooler and backups), then
//! reads every request the operator made in this run (this test's and any
//! other test's so far: their namespaces carry this process's id; the log
//! outlives a run, and an older run may have had another chart), and
//! checks each against the rules of the
//! ClusterRole and Role the chart bound to that ServiceAccount.
//!
//! What it cannot show: that every grant is used. The log holds only what
//! the tests made the operator do (a delete of a kind no test prunes, an
//! Event patched when it repeats, the Lease without leader election, never
//! appear), and a server-side apply that creates its object is logged as
//! `patch` although the server also authorizes it as `create`: `create`
//! never appears at all. So a grant missing from the log is not proof of a
//! grant nobody needs; `scripts/controller_rbac.py` (run by
//! `scripts/check-chart`) keeps that direction, from the source. The test
//! prints the grants it did not see.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::{Value, json};

use super::lifecycle::{SMALL, merged, minimal, status};
use super::{Namespace, Operator, RELEASE, RELEASE_NAMESPACE, apply_cluster, eventually, shared};

const SETTLE: Duration = Duration::from_secs(90);

/// One request as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Asked {
    verb: String,
    group: String,
    /// `resource` or `resource/subresource`, as RBAC rules name it.
    resource: String,
    /// Empty for a cluster-wide request.
    namespace: String,
    name: String,
    code: i64,
}

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        let at = if self.namespace.is_empty() { "cluster-wide" } else { &self.namespace };
        write!(f, "{} {group}/{} in {at} ({})", self.verb, self.resource, self.code)
    }
}

fn operator_user() -> String {
    format!("system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}")
}

/// Every resource request the operator made in this run, once each (a
/// watch has a line when it starts and one when it ends; both carry one
/// audit id): in the tests' namespaces (`Namespace::new` puts the process id
/// in each name), its own namespace (the Lease) and cluster-wide.
fn asked(log: &str) -> Vec<Asked> {
    let user = operator_user();
    let this_run = format!("-{}-", std::process::id());
    let mut seen = BTreeSet::new();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["user"]["username"] == user.as_str() && e["objectRef"].is_object())
        .filter(|e| {
            let namespace = e["objectRef"]["namespace"].as_str().unwrap_or_default();
            namespace.is_empty() || namespace == RELEASE_NAMESPACE || namespace.contains(&this_run)
        })
        .filter(|e| seen.insert(e["auditID"].as_str().unwrap_or_default().to_owned()))
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let object = &e["objectRef"];
            let resource = match object["subresource"].as_str() {
                Some(sub) => format!("{}/{sub}", text(&object["resource"])),
                None => text(&object["resource"]),
            };
            Asked {
                verb: text(&e["verb"]),
                group: text(&object["apiGroup"]),
                resource,
                namespace: text(&object["namespace"]),
                name: text(&object["name"]),
                code: e["responseStatus"]["code"].as_i64().unwrap_or_default(),
            }
        })
        .collect()
}

/// The rules bound to the operator's ServiceAccount, as the chart installed
/// them: the ClusterRoles (everywhere) and the Roles (in their namespace,
/// `Some`).
async fn bound_rules(admin: &Client) -> Vec<(Option<String>, PolicyRule)> {
    let is_operator = |subjects: &Option<Vec<Subject>>| {
        subjects.iter().flatten().any(|s| {
            s.kind == "ServiceAccount"
                && s.name == RELEASE
                && s.namespace.as_deref() == Some(RELEASE_NAMESPACE)
        })
    };
    let mut rules = Vec::new();
    let cluster_roles: Api<ClusterRole> = Api::all(admin.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    for binding in bindings.list(&ListParams::default()).await.unwrap() {
        if is_operator(&binding.subjects) && binding.role_ref.kind == "ClusterRole" {
            let role = cluster_roles.get(&binding.role_ref.name).await.unwrap();
            rules.extend(role.rules.into_iter().flatten().map(|r| (None, r)));
        }
    }
    let bindings: Api<RoleBinding> = Api::all(admin.clone());
    for binding in bindings.list(&ListParams::default()).await.unwrap() {
        let namespace = binding.metadata.namespace.clone().unwrap_or_default();
        if is_operator(&binding.subjects) && binding.role_ref.kind == "Role" {
            let roles: Api<Role> = Api::namespaced(admin.clone(), &namespace);
            let role = roles.get(&binding.role_ref.name).await.unwrap();
            rules.extend(role.rules.into_iter().flatten().map(|r| (Some(namespace.clone()), r)));
        }
    }
    rules
}

fn names(list: &[String], what: &str) -> bool {
    list.iter().any(|x| x == what || x == "*")
}

/// Whether a rule grants the request (RBAC's own matching: group, resource
/// or `resource/subresource`, verb, and the names when the rule lists any).
fn grants(namespace: &Option<String>, rule: &PolicyRule, asked: &Asked) -> bool {
    namespace.as_ref().is_none_or(|n| *n == asked.namespace)
        && names(rule.api_groups.as_deref().unwrap_or_default(), &asked.group)
        && names(rule.resources.as_deref().unwrap_or_default(), &asked.resource)
        && names(&rule.verbs, &asked.verb)
        && rule.resource_names.as_ref().is_none_or(|n| n.is_empty() || n.contains(&asked.name))
}

#[tokio::test]
async fn every_request_the_operator_makes_is_granted_by_the_charts_rules() {
    let plane = shared();
    let admin = plane.admin().await;
    let builtin = Namespace::new(plane, "rbac-builtin").await;
    let cnpg = Namespace::new(plane, "rbac-cnpg").await;
    let _builtin_operator = Operator::start(plane, &builtin.name);
    let _cnpg_operator = Operator::start(plane, &cnpg.name);
    let monitoring = |on: bool| json!({"monitoring": {"enabled": on}});
    apply_cluster(&admin, &minimal(&builtin.name, merged(SMALL(), monitoring(true)))).await.unwrap();
    let cnpg_spec = json!({"postgres": {
        "provider": "cnpg", "storage": {"size": "1Gi"}, "cnpg": {"pooler": {"instances": 1}},
        "backup": {
            "objectStore": {"bucket": "b", "credentialsSecret": {"name": "s3"}},
            "volumeSnapshot": {"className": "snapshots"},
        },
    }});
    apply_cluster(&admin, &minimal(&cnpg.name, merged(merged(SMALL(), cnpg_spec), monitoring(true))))
        .await
        .unwrap();
    for namespace in [&builtin.name, &cnpg.name] {
        eventually("the cluster's status", SETTLE, async || status(&admin, namespace).await).await;
    }
    // Monitoring off: prune deletes the PodMonitors and the PrometheusRule.
    apply_cluster(&admin, &minimal(&builtin.name, merged(SMALL(), monitoring(false)))).await.unwrap();
    let log = plane.dir.join("audit.log");
    eventually("the monitoring objects pruned, in the audit log", SETTLE, async || {
        let asked = asked(&std::fs::read_to_string(&log).unwrap_or_default());
        let deleted = asked.iter().any(|a| {
            a.verb == "delete"
                && a.namespace == builtin.name
                && a.resource == "prometheusrules"
                && a.code == 200
        });
        if deleted { Ok(()) } else { Err("no delete of the PrometheusRule yet".to_owned()) }
    })
    .await;

    let asked = asked(&std::fs::read_to_string(&log).unwrap());
    // The log is the operator's and holds what this test made it do.
    for (verb, resource, namespace) in [
        ("watch", "paymentclusters", &builtin.name),
        ("patch", "paymentclusters/status", &cnpg.name),
        ("patch", "statefulsets", &builtin.name),
        ("patch", "clusters", &cnpg.name),
        ("patch", "poolers", &cnpg.name),
        ("patch", "objectstores", &cnpg.name),
        ("patch", "scheduledbackups", &cnpg.name),
        ("delete", "podmonitors", &builtin.name),
    ] {
        assert!(
            asked.iter().any(|a| a.verb == verb && a.resource == resource && a.namespace == *namespace),
            "no {verb} of {resource} in {namespace} in the audit log"
        );
    }
    let rules = bound_rules(&admin).await;
    assert!(!rules.is_empty(), "no rules bound to {}", operator_user());
    let ungranted: BTreeSet<String> = asked
        .iter()
        .filter(|a| !rules.iter().any(|(namespace, rule)| grants(namespace, rule, a)))
        .map(|a| format!("{a} (name {:?})", a.name))
        .collect();
    let forbidden: BTreeSet<String> =
        asked.iter().filter(|a| a.code == 403).map(ToString::to_string).collect();
    assert!(
        ungranted.is_empty() && forbidden.is_empty(),
        "the operator asked for what the chart does not grant: {ungranted:#?}; the server refused: {forbidden:#?}"
    );
    // Shown, not asserted (see the module's comment): the grants this run
    // did not exercise.
    let unused: Vec<String> = rules
        .iter()
        .flat_map(|(namespace, rule)| {
            let groups = rule.api_groups.clone().unwrap_or_default();
            let resources = rule.resources.clone().unwrap_or_default();
            let product = groups
                .into_iter()
                .flat_map(move |g| resources.clone().into_iter().map(move |r| (g.clone(), r)));
            product.flat_map(move |(g, r)| {
                rule.verbs.iter().map(move |v| (namespace.clone(), g.clone(), r.clone(), v.clone()))
            })
        })
        .filter(|(namespace, group, resource, verb)| {
            !asked.iter().any(|a| {
                a.group == *group
                    && a.resource == *resource
                    && a.verb == *verb
                    && namespace.as_ref().is_none_or(|n| *n == a.namespace)
            })
        })
        .map(|(_, group, resource, verb)| format!("{verb} {group}/{resource}"))
        .collect();
    eprintln!("{} requests, each granted by the chart; grants not seen this run: {unused:?}", asked.len());
}

/// The matcher has teeth: a request outside every rule, or in another
/// namespace than its Role's, is not granted.
#[test]
fn a_request_outside_the_rules_is_not_granted() {
    let rule = PolicyRule {
        api_groups: Some(vec!["coordination.k8s.io".into()]),
        resources: Some(vec!["leases".into()]),
        verbs: vec!["get".into(), "patch".into()],
        ..PolicyRule::default()
    };
    let lease = |verb: &str, namespace: &str| Asked {
        verb: verb.into(),
        group: "coordination.k8s.io".into(),
        resource: "leases".into(),
        namespace: namespace.into(),
        name: "payment-operator".into(),
        code: 200,
    };
    let role = Some(RELEASE_NAMESPACE.to_owned());
    assert!(grants(&role, &rule, &lease("patch", RELEASE_NAMESPACE)));
    assert!(!grants(&role, &rule, &lease("delete", RELEASE_NAMESPACE)), "verb");
    assert!(!grants(&role, &rule, &lease("patch", "shop")), "a Role grants in its namespace only");
    assert!(grants(&None, &rule, &lease("patch", "shop")), "a ClusterRole everywhere");
    let status = Asked { resource: "leases/status".into(), ..lease("patch", RELEASE_NAMESPACE) };
    assert!(!grants(&role, &rule, &status), "a subresource is its own resource");
}
