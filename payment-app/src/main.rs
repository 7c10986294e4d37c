//! `payment-app`: see `payment-app --help`.

use std::process::ExitCode;

use clap::Parser;
use payment_app::config::Cli;
use payment_app::error::chain;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end: dropping it exports the spans still buffered.
    let _traces = payrail_common::telemetry::init_traced(cli.log_format, "payment-app");
    match payment_app::app::run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %chain(&e), "payment-app failed");
            ExitCode::FAILURE
        }
    }
}
