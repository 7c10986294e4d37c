//! The operator process: its own `/healthz` and `/metrics`, the
//! controller (behind leader election, when on), and a graceful stop on
//! SIGTERM (`payrail_common::shutdown`, as payment-app).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use kube::Client;
use tracing::info;

use crate::clients::Clients;
use crate::controller::{self, Scope};
use crate::error::Result;
use crate::leader::{self, Election};
use crate::metrics::Metrics;
use crate::reconcile::context::Context;
use crate::reconcile::validate::OperatorDefaults;

/// Runs until SIGTERM, over `scope`. With `election`, only while this
/// replica leads.
pub async fn run(
    metrics_addr: SocketAddr,
    election: Option<Election>,
    scope: Scope,
    defaults: OperatorDefaults,
) -> Result<()> {
    let Clients { watches, calls } = Clients::infer().await?;
    let metrics = Arc::new(Metrics::default());
    let shutdown = payrail_common::shutdown::on_signal();

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
    let context = Arc::new(Context::new(calls, metrics.clone()).with_defaults(defaults));
    match election {
        Some(election) => {
            let work = |stop| controller::run(watches.clone(), context.clone(), scope.clone(), stop);
            leader::lead(lease_client(&election).await?, &election, metrics, shutdown.clone(), work).await?;
        }
        None => controller::run(watches, context, scope, shutdown.clone()).await,
    }
    shutdown.cancel();
    server.await??;
    Ok(())
}

/// A client for the Lease whose calls give up well within the renewal
/// margin: a renewal that hangs (a partition that drops packets) must fail
/// in time for the leader to stop before its Lease can pass on.
async fn lease_client(election: &Election) -> Result<Client> {
    let mut config = kube::Config::infer().await?;
    let limit = Duration::from_secs(election.grace.saturating_sub(1).max(1));
    config.connect_timeout = Some(limit);
    config.read_timeout = Some(limit);
    config.write_timeout = Some(limit);
    Ok(Client::try_from(config)?)
}

async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> String {
    metrics.render()
}
