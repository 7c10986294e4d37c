//! The operator against a real Kubernetes control plane: kube-apiserver,
//! etcd and kube-controller-manager built from their Go modules and
//! started on loopback by `scripts/kube-up` (no kubelet: Pods are created
//! and admitted, never run).
//!
//! One control plane serves the whole test binary. It is started once
//! (or found running: `scripts/test` starts it before the tests), the chart
//! is installed into it with Helm's own engine, and the operator runs as a
//! process of its own with **the chart's ServiceAccount token**, so every
//! call it makes is authorized by the chart's RBAC, as in a cluster. Each
//! test works in a namespace of its own (Pod Security `restricted`) with
//! an operator process that watches only that namespace, so tests run in
//! parallel and never see each other's clusters.

pub mod day2;
pub mod disruption;
pub mod install;
pub mod lease;
pub mod lifecycle;
pub mod rbac;
pub mod readiness;
pub mod reconcile;
pub mod restart;
pub mod rollout;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use payrail_operator::crd::PaymentCluster;
use serde_json::{Value, json};

/// The chart's release: its namespace and the name of its ServiceAccount.
pub const RELEASE_NAMESPACE: &str = "payrail-system";
pub const RELEASE: &str = "payment-operator";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running control plane and what the tests need to reach it.
#[derive(Debug)]
pub struct ControlPlane {
    pub dir: PathBuf,
    /// The admin's kubeconfig (group `system:masters`).
    pub kubeconfig: PathBuf,
    /// The operator's kubeconfig: the chart's ServiceAccount token.
    pub operator_kubeconfig: PathBuf,
    /// Where `kubectl` and `helm` are.
    pub bin: PathBuf,
}

/// The control plane every test shares, started and prepared once.
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<ControlPlane> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = std::env::var_os("PAYRAIL_KUBE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/kube-testenv"));
        let plane = ControlPlane::up(&dir);
        plane.install_chart();
        plane.install_third_party_crds();
        plane
    })
}

/// Runs a command, panicking with its output when it fails.
pub fn run(command: &mut Command) -> String {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl ControlPlane {
    /// Starts a control plane in `dir` with `scripts/kube-up` (which finds
    /// one already running there and keeps it).
    pub fn up(dir: &Path) -> ControlPlane {
        let out = run(Command::new(root().join("scripts/kube-up")).arg(dir));
        let kubeconfig =
            PathBuf::from(out.lines().last().expect("kube-up prints the kubeconfig path").trim());
        let env = std::fs::read_to_string(dir.join("env")).expect("kube-up writes DIR/env");
        let bin = env
            .lines()
            .find_map(|l| l.strip_prefix("KUBE_BIN="))
            .map(|v| PathBuf::from(v.trim_matches(['"', '\''])))
            .expect("DIR/env names KUBE_BIN");
        ControlPlane {
            dir: dir.to_owned(),
            kubeconfig,
            operator_kubeconfig: dir.join("operator.kubeconfig"),
            bin,
        }
    }

    /// `kubectl` as the admin.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.bin.join("kubectl"));
        command.env("KUBECONFIG", &self.kubeconfig);
        command
    }

    /// Installs the chart (CRD, RBAC, ServiceAccount, the operator's
    /// Deployment, whose Pods no node runs) with Helm's own engine, or
    /// upgrades it; applies the committed CRD again (Helm installs `crds/`
    /// only once), and writes the operator's kubeconfig from a token of the
    /// chart's ServiceAccount.
    pub fn install_chart(&self) {
        let mut helm = Command::new(self.bin.join("helm"));
        helm.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"))
            .args(["upgrade", "--install", RELEASE])
            .arg(root().join("charts/payment-operator"))
            .args(["--namespace", RELEASE_NAMESPACE, "--create-namespace"]);
        run(&mut helm);
        run(self
            .kubectl()
            .args(["apply", "--server-side", "--force-conflicts", "-f"])
            .arg(root().join("crds/paymentclusters.payrail.dev.yaml")));
        run(self.kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/paymentclusters.payrail.dev",
        ]));
        let token = run(self.kubectl().args([
            "create",
            "token",
            RELEASE,
            "--namespace",
            RELEASE_NAMESPACE,
            "--duration=24h",
        ]));
        let admin: Value =
            serde_norway::from_str(&std::fs::read_to_string(&self.kubeconfig).unwrap()).unwrap();
        let cluster = admin["clusters"][0]["cluster"].clone();
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "payrail-test", "cluster": cluster}],
            "users": [{"name": RELEASE, "user": {"token": token.trim()}}],
            "contexts": [{"name": RELEASE, "context": {"cluster": "payrail-test", "user": RELEASE}}],
            "current-context": RELEASE,
        });
        std::fs::write(&self.operator_kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();
    }

    /// The kinds of CloudNativePG, its Barman Cloud plugin and the
    /// Prometheus Operator that the operator creates (their real CRDs,
    /// pinned as Go modules by `scripts/third-party-crds`).
    pub fn install_third_party_crds(&self) {
        let dir = self.dir.join("third-party-crds");
        run(Command::new(root().join("scripts/third-party-crds")).arg(&dir));
        let wanted = [
            "postgresql.cnpg.io_clusters",
            "postgresql.cnpg.io_scheduledbackups",
            "postgresql.cnpg.io_poolers",
            "barmancloud.cnpg.io_objectstores",
            "monitoring.coreos.com_podmonitors",
            "monitoring.coreos.com_prometheusrules",
            "monitoring.coreos.com_servicemonitors",
        ];
        let mut apply = self.kubectl();
        apply.args(["apply", "--server-side", "--force-conflicts"]);
        for name in wanted {
            apply.arg("-f").arg(dir.join(format!("{name}.yaml")));
        }
        run(&mut apply);
        run(self.kubectl().args(["wait", "--for=condition=Established", "--timeout=60s"]).args(
            wanted.iter().map(|w| {
                let (group, plural) = w.split_once('_').unwrap();
                format!("crd/{plural}.{group}")
            }),
        ));
    }

    /// A client as the admin.
    pub async fn admin(&self) -> Client {
        client(&self.kubeconfig).await
    }

    /// A client as the admin that takes a 429 as the answer: kube's
    /// default client retries it (15 times, backing off for minutes),
    /// and an eviction a PodDisruptionBudget refuses is a 429.
    pub async fn admin_without_retries(&self) -> Client {
        let mut config = config(&self.kubeconfig).await;
        config.default_retry = false;
        Client::try_from(config).unwrap()
    }

    /// What the operator (the chart's ServiceAccount) has asked the API
    /// server for in `namespace` so far, from the audit log `kube-up`
    /// writes: one entry per request (a watch counted once).
    pub fn requests_of_the_operator(&self, namespace: &str) -> Vec<Request> {
        let user = format!("system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}");
        let log = std::fs::read_to_string(self.dir.join("audit.log")).expect("kube-up writes DIR/audit.log");
        let mut seen = std::collections::HashSet::new();
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|e| e["user"]["username"] == user.as_str())
            .filter(|e| e["objectRef"]["namespace"] == namespace)
            .filter(|e| seen.insert(e["auditID"].as_str().unwrap_or_default().to_owned()))
            .map(|e| Request {
                verb: e["verb"].as_str().unwrap_or_default().to_owned(),
                resource: e["objectRef"]["resource"].as_str().unwrap_or_default().to_owned(),
                uri: e["requestURI"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }
}

/// One request in the API server's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    /// The resource (plural, lower case: `secrets`).
    pub resource: String,
    /// The path and query, with any `labelSelector`.
    pub uri: String,
}

impl Request {
    /// The label selector of a list or watch, decoded (`None` when it has none).
    pub fn label_selector(&self) -> Option<String> {
        let query = self.uri.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "labelSelector")
            .map(|(_, value)| value.into_owned())
    }
}

pub async fn client(kubeconfig: &Path) -> Client {
    Client::try_from(config(kubeconfig).await).unwrap()
}

async fn config(kubeconfig: &Path) -> Config {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).unwrap();
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap()
}

/// A namespace of a test's own, Pod Security `restricted` enforced (as
/// docs/operator.md recommends), deleted when the test ends.
#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    plane: &'static ControlPlane,
}

impl Namespace {
    pub async fn new(plane: &'static ControlPlane, prefix: &str) -> Namespace {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(plane.admin().await);
        let namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}
        }))
        .unwrap();
        namespaces.create(&PostParams::default(), &namespace).await.unwrap();
        Namespace { name, plane }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Left to the namespace controller; nothing waits for it.
        let _ = self.plane.kubectl().args(["delete", "namespace", &self.name, "--wait=false"]).output();
    }
}

/// The operator binary, running as the chart's ServiceAccount, watching
/// one namespace; killed when dropped.
#[derive(Debug)]
pub struct Operator {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Operator {
    /// Without leader election (the chart's Role grants the Lease only in
    /// the release namespace, and each test has its own operator).
    pub fn start(plane: &ControlPlane, namespace: &str) -> Operator {
        Operator::start_with(plane, namespace, &["--leader-election=false"], "")
    }

    /// With extra `run` arguments; `tag` tells two operators' logs apart.
    pub fn start_with(plane: &ControlPlane, namespace: &str, args: &[&str], tag: &str) -> Operator {
        let log = plane.dir.join(format!("operator-{namespace}{tag}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_payment-operator"))
            .args([
                "run",
                "--metrics-addr",
                "127.0.0.1:0",
                "--log-format",
                "text",
                "--watch-namespace",
                namespace,
            ])
            .args(args)
            .env("KUBECONFIG", &plane.operator_kubeconfig)
            .env("RUST_LOG", std::env::var("PAYRAIL_TEST_OPERATOR_LOG").unwrap_or_else(|_| "info".into()))
            .env_remove("POD_NAME")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Operator { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as the kubelet stops a pod, and wait for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it gives a value, for at most `limit`; on time-out
/// panics with `what` and the last thing `check` saw.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if started.elapsed() > limit => {
                panic!("{what}: not within {limit:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// A PaymentCluster from an example file, moved into `namespace`.
pub fn example(file: &str, namespace: &str) -> Value {
    let text = std::fs::read_to_string(root().join("examples").join(file)).unwrap();
    let mut cluster: Value = serde_norway::from_str(&text).unwrap();
    cluster["metadata"]["namespace"] = json!(namespace);
    cluster
}

/// Creates or updates a PaymentCluster as the admin (server-side apply,
/// as `kubectl apply --server-side` does), returning the server's refusal.
pub async fn apply_cluster(client: &Client, cluster: &Value) -> Result<PaymentCluster, kube::Error> {
    let namespace = cluster["metadata"]["namespace"].as_str().unwrap();
    let name = cluster["metadata"]["name"].as_str().unwrap();
    let api: Api<PaymentCluster> = Api::namespaced(client.clone(), namespace);
    api.patch(name, &PatchParams::apply("payrail-tests").force(), &Patch::Apply(cluster)).await
}

pub async fn delete_cluster(client: &Client, namespace: &str, name: &str) {
    let api: Api<PaymentCluster> = Api::namespaced(client.clone(), namespace);
    api.delete(name, &DeleteParams::foreground()).await.unwrap();
}

/// The API server's message in a refusal.
pub fn refusal(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => panic!("not a refusal by the API server: {other}"),
    }
}
