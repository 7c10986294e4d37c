//! `payment-operator`: see `payment-operator --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use payrail_common::chain;
use payrail_common::telemetry::{self, LogFormat};
use payrail_operator::controller::Scope;
use payrail_operator::leader::Election;
use payrail_operator::reconcile::validate::OperatorDefaults;
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
        log_format: LogFormat,
        /// Reconcile only while holding the leader Lease (for several replicas).
        #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
        leader_election: bool,
        /// The Lease's name.
        #[arg(long, env = "LEASE_NAME", default_value = "payment-operator")]
        lease_name: String,
        /// The Lease's namespace: the operator's own.
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// This replica's name in the Lease [default: POD_NAME, else the host name].
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Watch only this namespace's PaymentClusters and children [default: every namespace].
        #[arg(long, env = "WATCH_NAMESPACE")]
        watch_namespace: Option<String>,
        /// `monitoring.enabled` of every PaymentCluster that does not set it.
        #[arg(long, env = "MONITORING_DEFAULT", default_value_t = false, action = clap::ArgAction::Set)]
        monitoring_default: bool,
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
        Command::Run {
            metrics_addr,
            log_format,
            leader_election,
            lease_name,
            lease_namespace,
            identity,
            watch_namespace,
            monitoring_default,
        } => {
            telemetry::init(log_format);
            let election = leader_election.then(|| Election {
                lease: lease_name,
                namespace: lease_namespace,
                identity: identity
                    .or_else(|| std::env::var("HOSTNAME").ok())
                    .unwrap_or_else(|| format!("payment-operator-{}", std::process::id())),
                duration: 15,
                grace: 5,
            });
            let scope = watch_namespace.filter(|n| !n.is_empty()).map_or(Scope::Cluster, Scope::Namespace);
            server::run(metrics_addr, election, scope, OperatorDefaults { monitoring: monitoring_default })
                .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payment-operator: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // the YAML is these commands' output
fn print(yaml: &str) {
    print!("{yaml}");
}
