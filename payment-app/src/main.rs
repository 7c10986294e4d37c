//! `payment-app`: see `payment-app --help`.

use std::process::ExitCode;

use clap::Parser;
use payment_app::config::Cli;
use payment_app::error::chain;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    payrail_common::telemetry::init(cli.log_format);
    match payment_app::app::run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %chain(&e), "payment-app failed");
            ExitCode::FAILURE
        }
    }
}
