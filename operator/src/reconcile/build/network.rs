//! NetworkPolicies (on unless `networkPolicies: false`): only the app's
//! pods reach the builtin PostgreSQL, RabbitMQ and Redis, the replica
//! reaches the primary to stream (and the primary's init container the
//! replica, to ask which database it holds), a RabbitMQ cluster's nodes
//! reach each other, and the app's HTTP port is open to anyone the
//! cluster's network lets in. Probes are exec commands inside the pods and need no rule.
//! CloudNativePG's pods carry CNPG's labels and talk to CNPG's operator, so
//! they get no policy here (docs/operator.md says so).

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Component, meta, selector};
use super::{app, postgres, rabbitmq, redis, scrape};
use crate::child::Child;
use crate::reconcile::validate::ValidatedCluster;

/// Ingress to `component` on `ports` from the pods of `from` (anyone, when empty).
struct Rule<'a> {
    ports: &'a [u16],
    from: &'a [Component],
}

fn policy(valid: &ValidatedCluster, component: Component, rules: &[Rule<'_>]) -> Child {
    let cr = &valid.owner;
    let ingress = rules
        .iter()
        .map(|rule| NetworkPolicyIngressRule {
            from: (!rule.from.is_empty()).then(|| {
                rule.from
                    .iter()
                    .map(|c| NetworkPolicyPeer {
                        pod_selector: Some(selector(cr, *c)),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect()
            }),
            ports: Some(
                rule.ports
                    .iter()
                    .map(|port| NetworkPolicyPort {
                        port: Some(IntOrString::Int((*port).into())),
                        protocol: Some("TCP".into()),
                        ..NetworkPolicyPort::default()
                    })
                    .collect(),
            ),
        })
        .collect();
    let name = format!("{}-{}", valid.names.cluster, component.label());
    Child::NetworkPolicy(Box::new(NetworkPolicy {
        metadata: meta(cr, name, component),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(cr, component)),
            policy_types: Some(vec!["Ingress".into()]),
            egress: None,
            ingress: Some(ingress),
        }),
    }))
}

pub fn policies(valid: &ValidatedCluster) -> Vec<Child> {
    let mut policies = Vec::new();
    // With monitoring on, the exporters' ports are open to anyone (where
    // Prometheus runs is the platform's choice); they serve metrics only.
    let metrics = |port: &'static [u16]| scrape::enabled(valid).then_some(Rule { ports: port, from: &[] });
    for (component, from) in postgres::provider(&valid.postgres).network_peers() {
        let rules: Vec<_> = std::iter::once(Rule { ports: &[postgres::connection::PORT], from })
            .chain(metrics(&[scrape::POSTGRES_EXPORTER_PORT]))
            .collect();
        policies.push(policy(valid, component, &rules));
    }
    let redis_rules: Vec<_> = std::iter::once(Rule { ports: &[redis::PORT], from: &[Component::App] })
        .chain(metrics(&[scrape::REDIS_EXPORTER_PORT]))
        .collect();
    policies.push(policy(valid, Component::Redis, &redis_rules));
    let amqp = Rule { ports: &[rabbitmq::PORT], from: &[Component::App] };
    let peers =
        Rule { ports: &[rabbitmq::EPMD_PORT, rabbitmq::DISTRIBUTION_PORT], from: &[Component::Rabbitmq] };
    let mut rabbitmq_rules = if valid.rabbitmq.replicas > 1 { vec![amqp, peers] } else { vec![amqp] };
    rabbitmq_rules.extend(metrics(&[scrape::RABBITMQ_PROMETHEUS_PORT]));
    policies.push(policy(valid, Component::Rabbitmq, &rabbitmq_rules));
    // The probes' and metrics' port as open as the API's: the kubelet's
    // probes come from the node, and Prometheus from wherever it runs.
    policies.push(policy(
        valid,
        Component::App,
        &[Rule { ports: &[app::HTTP_PORT, app::OPS_PORT], from: &[] }],
    ));
    policies
}
