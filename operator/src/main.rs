//! `payment-operator`: see `payment-operator --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use payrail_operator::error::chain;
use payrail_operator::server;

#[derive(Debug, Parser)]
#[command(
    name = "payment-operator",
    version,
    about = "Reconciles PaymentCluster resources into payrail stacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller in a cluster (in-cluster config or KUBECONFIG).
    Run {
        /// Address of the operator's own /healthz and /metrics.
        #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        /// Log format: text or json.
        #[arg(long, env = "LOG_FORMAT", default_value = "json")]
        log_format: String,
    },
    /// Print the CustomResourceDefinition as YAML.
    Crd,
    /// Print every object a PaymentCluster would become, as YAML (Secret values are placeholders).
    Render {
        /// A file holding one PaymentCluster.
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => payrail_operator::render::crd_yaml().map(|yaml| print(&yaml)),
        Command::Render { file } => payrail_operator::render::render_file(&file).map(|yaml| print(&yaml)),
        Command::Run { metrics_addr, log_format } => {
            server::init_logging(&log_format);
            server::run(metrics_addr).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payment-operator: {}", chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // the YAML is these commands' output
fn print(yaml: &str) {
    print!("{yaml}");
}
