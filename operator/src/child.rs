//! `Child`: one object a cluster is made of, and the one table of its
//! kinds. Each kind is written once, in [`child_kinds`]: the `Child`
//! variant, its Rust type, who serves it and whether the cluster owns its
//! objects. The enum and [`Child::KINDS`] are made from that table here;
//! apply (server-side apply per type), prune (a list per owned kind) and
//! the controller (a watch per owned kind) expand it where they need the
//! type, and a failure's words come from [`Source`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// The kinds of child, one row each:
/// `Variant("Kind"): Rust type, who serves it (`Source`), `Lifetime`;`.
/// `child_kinds!(m)` expands `m! { rows }`, so code that needs each kind's
/// type (a generic call per kind) is written once for all of them.
macro_rules! child_kinds {
    ($then:ident) => {
        $then! {
            Secret("Secret"): k8s_openapi::api::core::v1::Secret, Core, Kept;
            ConfigMap("ConfigMap"): k8s_openapi::api::core::v1::ConfigMap, Core, Owned;
            Service("Service"): k8s_openapi::api::core::v1::Service, Core, Owned;
            StatefulSet("StatefulSet"): k8s_openapi::api::apps::v1::StatefulSet, Core, Owned;
            Deployment("Deployment"): k8s_openapi::api::apps::v1::Deployment, Core, Owned;
            PodDisruptionBudget("PodDisruptionBudget"): k8s_openapi::api::policy::v1::PodDisruptionBudget, Core, Owned;
            NetworkPolicy("NetworkPolicy"): k8s_openapi::api::networking::v1::NetworkPolicy, Core, Owned;
            CnpgCluster("Cluster"): crate::cnpg::Cluster, Cnpg, Kept;
            ScheduledBackup("ScheduledBackup"): crate::cnpg::ScheduledBackup, Cnpg, Owned;
            Pooler("Pooler"): crate::cnpg::Pooler, Cnpg, Owned;
            ObjectStore("ObjectStore"): crate::cnpg::ObjectStore, BarmanCloud, Owned;
            PodMonitor("PodMonitor"): crate::prometheus::PodMonitor, PrometheusOperator, Owned;
            PrometheusRule("PrometheusRule"): crate::prometheus::PrometheusRule, PrometheusOperator, Owned;
        }
    };
}
pub(crate) use child_kinds;

/// Who serves a kind: the API server itself, or an operator that must be
/// installed first (where it is not, the kind does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Core,
    /// CloudNativePG (`postgres.provider: cnpg`).
    Cnpg,
    /// CloudNativePG's Barman Cloud plugin (`postgres.backup`).
    BarmanCloud,
    /// The Prometheus Operator (`monitoring.enabled`).
    PrometheusOperator,
}

impl Source {
    /// The operators whose kinds exist only where they are installed.
    pub const INSTALLED: [Source; 3] = [Source::Cnpg, Source::BarmanCloud, Source::PrometheusOperator];

    /// The API group whose presence says the kinds are served (`None`:
    /// always served).
    pub fn group(self) -> Option<&'static str> {
        match self {
            Source::Core => None,
            Source::Cnpg => Some("postgresql.cnpg.io"),
            Source::BarmanCloud => Some("barmancloud.cnpg.io"),
            Source::PrometheusOperator => Some("monitoring.coreos.com"),
        }
    }

    /// What a user does when the API server has no kind of this source.
    pub fn remedy(self) -> Option<&'static str> {
        match self {
            Source::Core => None,
            Source::Cnpg | Source::BarmanCloud => {
                Some("install CloudNativePG (and, for backups, its Barman Cloud plugin) first")
            }
            Source::PrometheusOperator => {
                Some("install the Prometheus Operator first, or turn monitoring.enabled off")
            }
        }
    }
}

/// How the operator keeps a kind's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Controlled by the cluster's owner reference: watched through it
    /// (`owns`), and pruned once no longer built.
    Owned,
    /// Never pruned, watched by label or name: the credentials Secret and
    /// the CNPG Cluster hold the passwords and the data, and keep their
    /// owner reference only when the volumes go with the cluster.
    Kept,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub source: Source,
    pub lifetime: Lifetime,
}

macro_rules! define_child {
    ($($variant:ident($name:literal): $type:ty, $source:ident, $lifetime:ident;)*) => {
        /// One object to apply.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Child {
            $($variant(Box<$type>),)*
        }

        impl Child {
            /// Every kind a child can be, in the order prune visits them.
            pub const KINDS: &'static [Kind] = &[
                $(Kind { name: $name, source: Source::$source, lifetime: Lifetime::$lifetime },)*
            ];

            pub fn kind(&self) -> &'static str {
                match self {
                    $(Child::$variant(_) => $name,)*
                }
            }

            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Child::$variant(o) => &o.metadata,)*
                }
            }
        }
    };
}
child_kinds!(define_child);

impl Child {
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The row of the kind named `name`, if a child can be of it.
    pub fn kind_named(name: &str) -> Option<&'static Kind> {
        Child::KINDS.iter().find(|k| k.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_the_table_once() {
        let names: std::collections::BTreeSet<_> = Child::KINDS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), Child::KINDS.len());
        // Only the two that hold the passwords and the data are kept.
        let kept: Vec<_> =
            Child::KINDS.iter().filter(|k| k.lifetime == Lifetime::Kept).map(|k| k.name).collect();
        assert_eq!(kept, ["Secret", "Cluster"]);
    }
}
