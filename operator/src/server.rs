//! The operator process: logging, its own `/healthz` and `/metrics`, the
//! controller, and a graceful stop on SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::controller::{self, Metrics};

pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

pub async fn run(metrics_addr: SocketAddr) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = ctrl_c => {},
            _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {},
        }
        info!("shutdown requested");
        signal.cancel();
    });

    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .with_state(metrics.clone());
    let listener = tokio::net::TcpListener::bind(metrics_addr).await?;
    info!(%metrics_addr, "health and metrics listening");
    let server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(server_shutdown.cancelled_owned()).await
    });
    controller::run(client, metrics, shutdown.clone()).await;
    shutdown.cancel();
    server.await??;
    Ok(())
}

/// Prometheus text format.
async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> String {
    let counter = |name: &str, help: &str, value: u64| {
        format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n")
    };
    [
        counter(
            "payrail_operator_reconciles_total",
            "Reconciles started.",
            metrics.reconciles.load(Ordering::Relaxed),
        ),
        counter(
            "payrail_operator_reconcile_failures_total",
            "Reconciles that failed and were requeued with backoff.",
            metrics.failures.load(Ordering::Relaxed),
        ),
        counter(
            "payrail_operator_invalid_specs_total",
            "Reconciles that found an invalid spec.",
            metrics.invalid_specs.load(Ordering::Relaxed),
        ),
    ]
    .concat()
}
