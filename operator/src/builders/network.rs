//! NetworkPolicies (on unless `networkPolicies: false`): only the app's
//! pods reach PostgreSQL, RabbitMQ and Redis, the replica reaches the
//! primary to stream, and the app's HTTP port is open to anyone the
//! cluster's network lets in. Probes are exec commands inside the pods and
//! need no rule.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Child, Component, app, meta, postgres, rabbitmq, redis, selector};
use crate::validate::ValidatedCluster;

fn policy(valid: &ValidatedCluster, component: Component, port: u16, from: &[Component]) -> Child {
    let cr = &valid.cluster;
    let peers = (!from.is_empty()).then(|| {
        from.iter()
            .map(|c| NetworkPolicyPeer {
                pod_selector: Some(selector(cr, *c)),
                ..NetworkPolicyPeer::default()
            })
            .collect()
    });
    let name = format!("{}-{}", valid.names.cluster, component.label());
    Child::NetworkPolicy(Box::new(NetworkPolicy {
        metadata: meta(cr, name, component),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(cr, component)),
            policy_types: Some(vec!["Ingress".into()]),
            egress: None,
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: peers,
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(port.into())),
                    protocol: Some("TCP".into()),
                    ..NetworkPolicyPort::default()
                }]),
            }]),
        }),
    }))
}

pub fn policies(valid: &ValidatedCluster) -> Vec<Child> {
    let mut policies = vec![
        policy(
            valid,
            Component::PostgresPrimary,
            postgres::PORT,
            &[Component::App, Component::PostgresReplica],
        ),
        policy(valid, Component::Redis, redis::PORT, &[Component::App]),
        policy(valid, Component::Rabbitmq, rabbitmq::PORT, &[Component::App]),
        policy(valid, Component::App, app::HTTP_PORT, &[]),
    ];
    if valid.spec().postgres.read_replica {
        policies.insert(1, policy(valid, Component::PostgresReplica, postgres::PORT, &[Component::App]));
    }
    policies
}
