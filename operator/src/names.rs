//! The name of every child of a `PaymentCluster`, in one place: Services
//! are what other objects point at, so a typo here would break wiring, not
//! just a name. Validate, build, status and the controller's watches all
//! read them, so they live below every one of those.

use kube::ResourceExt;

use crate::crd::PaymentCluster;

/// The names of one cluster's children.
#[derive(Debug, Clone)]
pub struct Names {
    pub cluster: String,
    pub namespace: String,
}

impl Names {
    pub fn of(cr: &PaymentCluster) -> Self {
        Names { cluster: cr.name_any(), namespace: cr.namespace().unwrap_or_else(|| "default".into()) }
    }
    pub fn credentials(&self) -> String {
        format!("{}-credentials", self.cluster)
    }
    pub fn app(&self) -> String {
        format!("{}-app", self.cluster)
    }
    pub fn api_service(&self) -> String {
        format!("{}-api", self.cluster)
    }
    pub fn redis(&self) -> String {
        format!("{}-redis", self.cluster)
    }
    pub fn redis_config(&self) -> String {
        format!("{}-redis-config", self.cluster)
    }
    pub fn rabbitmq(&self) -> String {
        format!("{}-rabbitmq", self.cluster)
    }
    pub fn rabbitmq_config(&self) -> String {
        format!("{}-rabbitmq-config", self.cluster)
    }
    /// The primary's StatefulSet and its read-write Service.
    pub fn postgres(&self) -> String {
        format!("{}-postgres", self.cluster)
    }
    /// The replica's StatefulSet and its read-only Service.
    pub fn postgres_replica(&self) -> String {
        format!("{}-postgres-ro", self.cluster)
    }
    pub fn postgres_scripts(&self) -> String {
        format!("{}-postgres-scripts", self.cluster)
    }
    /// The CNPG pooler and its Service.
    pub fn postgres_pooler(&self) -> String {
        format!("{}-postgres-pooler", self.cluster)
    }
    /// The CNPG backups' object store and their schedule.
    pub fn postgres_backups(&self) -> String {
        format!("{}-postgres-backups", self.cluster)
    }
    /// A host name inside the cluster.
    pub fn host(&self, service: &str) -> String {
        format!("{service}.{}.svc", self.namespace)
    }
}
