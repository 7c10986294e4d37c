//! The operator's integration tests, in one binary (each extra test binary
//! relinks the whole crate, and CI has two cores):
//!
//! - `architecture`: ARCHITECTURE.md's layers of the operator, held;
//! - `api`: the operator against a real kube-apiserver, etcd and
//!   kube-controller-manager (`scripts/kube-up`), installed by the chart
//!   and running as its ServiceAccount;
//! - `controller`: reconcile against a fake API server, for what the real
//!   one cannot be made to show (failing applies, an old CRD, request order);
//! - `leader`: leader election against the fake;
//! - `render`: the committed CRD, snapshots and offline schema validation;
//! - `settings`: the settings contract: every variable the operator sets
//!   is one payment-app reads, with the same default and range;
//! - `promql`: the alert rules' and the dashboard's PromQL, parsed, and
//!   every metric it names one that something really exports;
//! - `kube_scripts`: the process bookkeeping `scripts/kube-up` relies on;
//! - `pod_scripts`: the scripts and server settings of the data pods, run
//!   against this machine's own `postgres` and `redis-server`;
//! - `postgres_pods`, `rabbitmq_pod`: the data pods as built (`built_pods`
//!   reads them as the kubelet does), started with this machine's own
//!   `postgres` and `rabbitmq-server`, with what a node does to their
//!   volumes applied by the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod api;
mod architecture;
mod built_pods;
mod controller;
mod fake;
mod kube_scripts;
mod leader;
mod pod_scripts;
mod postgres_pods;
mod promql;
mod rabbitmq_pod;
mod render;
mod settings;
