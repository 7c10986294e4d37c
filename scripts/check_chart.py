#!/usr/bin/env python3
"""Offline checks of the operator's Helm chart, its RBAC, its docs and images.

    scripts/check_chart.py             run every check (scripts/check-chart installs what it needs)
    scripts/check_chart.py spec-fields print the CRD's spec fields as the docs' reference table
    scripts/check_chart.py rbac-rules  print the RBAC rules the controller's API calls need

The chart is linted and rendered with Helm's own code (helm-python-sdk binds
Helm v4's Go SDK), with its default values and with each values file in
charts/payment-operator/ci/. Every rendered object, and the chart's CRD, is
validated with `kubernetes-validate --strict` against the schemas of both
the oldest and the newest supported Kubernetes (scripts/kubernetes-versions,
which the chart's kubeVersion and docs/operator.md must agree with), except
the Prometheus Operator's kinds (monitoring.enabled), which are validated
against its published schema, unknown keys refused (operator/tests/cnpg/
validate.mjs, npm @kubernetes-models/prometheus-operator), and
checked with checkov (skips, each with its reason, in scripts/checkov.yaml;
the operator's render tests run checkov over what the operator renders).
The ClusterRole and the leader-election Role are compared, rule by rule,
with the API calls the controller makes (operator/src/controller.rs,
leader.rs, reconcile/ and the kind table in child.rs; controller_rbac.py), so a kind or a verb added to
the controller without RBAC, or RBAC left behind after one is removed,
fails. docs/operator.md's spec reference is compared with the CRD,
field by field, and the chart README with values.yaml (docs_check.py).
The Dockerfiles are linted with hadolint and compose.yaml is validated with
`docker compose config` (both binaries come from PyPI; neither needs a
container engine, and nothing is built or run).

Prints one line per check and ends with `chart: N passed, M failed`; exits
1 when any check failed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import yaml

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
import docs_check  # noqa: E402
from controller_rbac import LEASE, controller_sources, describe, granted_permissions, required_permissions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "payment-operator"
CRD = ROOT / "crds" / "paymentclusters.payrail.dev.yaml"
CHART_CRD = CHART / "crds" / CRD.name
OPERATOR_SRC = ROOT / "operator" / "src"
# The status step, and its submodule that decides BackupsHealthy.
# Status words its own conditions; each PostgreSQL provider words the
# conditions of its server (Report::new; BackupsHealthy's Verdict::new).
STATUS = [
    ROOT / "operator" / "src" / "reconcile" / "status.rs",
    *sorted((ROOT / "operator" / "src" / "reconcile" / "build" / "postgres").glob("*.rs")),
]
APP_BUILDER = ROOT / "operator" / "src" / "reconcile" / "build" / "app.rs"
DOCS = ROOT / "docs" / "operator.md"
CHART_README = CHART / "README.md"
EXAMPLES = ROOT / "examples"
CRD_SCHEMA_CHECK = ROOT / "operator" / "tests" / "validate.py"
CUSTOM_SCHEMA_CHECK = ROOT / "operator" / "tests" / "cnpg" / "validate.mjs"
DASHBOARD = CHART / "dashboards" / "payrail.json"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILES = {"payment-app": ROOT / "Dockerfile.payment-app", "payment-operator": ROOT / "Dockerfile.operator"}

VERSIONS = dict(
    line.split("=", 1) for line in (ROOT / "scripts" / "kubernetes-versions").read_text().splitlines()
    if line and not line.startswith("#")
)
MINIMUM, NEWEST = VERSIONS["minimum"], VERSIONS["newest"]
CHECKOV_CONFIG = ROOT / "scripts" / "checkov.yaml"
RELEASE = "payment-operator"
NAMESPACE = "payrail-system"


class Failure(Exception):
    """A check that did not hold; the message says what was found."""


# ---------------------------------------------------------------- helpers


def load_yaml_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def crd() -> dict:
    return yaml.safe_load(CRD.read_text())


def values_sets() -> list[tuple[str, dict | None]]:
    """The default values, then every values file in the chart's ci/."""
    sets: list[tuple[str, dict | None]] = [("default values", None)]
    for path in sorted((CHART / "ci").glob("*.yaml")):
        sets.append((f"ci/{path.name}", yaml.safe_load(path.read_text()) or {}))
    return sets


def render(values: dict | None) -> list[dict]:
    """Every object the chart renders (helm template; CRDs come from crds/)."""
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for template, text in sorted(manifests.items()):
        if template.endswith(".txt"):  # NOTES.txt is shown to the user, not applied
            continue
        objects.extend(load_yaml_docs(text))
    return objects


def merged_values(values: dict | None) -> dict:
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        return chart.merge_values(values)


def kubernetes_validate(objects: list[dict]) -> str:
    """Validates objects with the kubernetes-validate CLI; every one must pass."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump_all(objects, f, sort_keys=False)
        path = f.name
    try:
        for version in (MINIMUM, NEWEST):
            out = subprocess.run(
                [tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, path],
                capture_output=True,
                text=True,
                check=False,
            )
            report = (out.stdout + out.stderr).replace(path, "<rendered>")
            passed = [line for line in report.splitlines() if " passed for resource " in line]
            problems = [line for line in report.splitlines() if line.startswith(("ERROR", "WARN", "FATAL"))]
            if out.returncode != 0 or problems or len(passed) != len(objects):
                raise Failure(f"Kubernetes {version}: {len(passed)}/{len(objects)} objects passed:\n{report.strip()}")
    finally:
        Path(path).unlink()
    return f"{len(objects)} objects valid against Kubernetes {MINIMUM} and {NEWEST}"


def is_prometheus_operator(obj: dict) -> bool:
    return str(obj.get("apiVersion", "")).startswith("monitoring.coreos.com/")


def prometheus_operator_schema(objects: list[dict]) -> str:
    """The Prometheus Operator's kinds against its published schema, unknown keys refused."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(objects, f)
        path = f.name
    try:
        out = subprocess.run(["node", str(CUSTOM_SCHEMA_CHECK), path], capture_output=True, text=True, check=False)
    finally:
        Path(path).unlink()
    report = out.stdout + out.stderr
    passed = [line for line in report.splitlines() if line.startswith("ok ")]
    if out.returncode != 0 or len(passed) != len(objects):
        raise Failure(f"{len(passed)}/{len(objects)} objects passed:\n{report.strip()}")
    return f"{len(objects)} objects valid: " + ", ".join(line[3:] for line in passed)


def check_dashboard(objects: list[dict]) -> str:
    """The dashboard ConfigMap carries dashboards/payrail.json as it is."""
    maps = [o for o in objects if o["kind"] == "ConfigMap" and "payrail.json" in (o.get("data") or {})]
    if len(maps) != 1:
        raise Failure(f"expected one ConfigMap with payrail.json, found {len(maps)}")
    shipped = json.loads(maps[0]["data"]["payrail.json"])
    if shipped != json.loads(DASHBOARD.read_text()):
        raise Failure("the ConfigMap's payrail.json is not dashboards/payrail.json")
    labels = maps[0]["metadata"].get("labels", {})
    if labels.get("grafana_dashboard") != "1":
        raise Failure(f"the dashboard ConfigMap lacks grafana_dashboard: \"1\": {labels}")
    return f"{maps[0]['metadata']['name']}: {len(shipped['panels'])} panels"


def checkov(objects: list[dict]) -> str:
    """checkov's Kubernetes checks over the objects; every failed check fails."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rendered.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        out = subprocess.run(
            [tool("checkov"), "--config-file", str(CHECKOV_CONFIG), "--framework", "kubernetes", "--quiet",
             "--compact", "--output", "json", "--file", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        report = json.loads(out.stdout or "{}")
    except json.JSONDecodeError:
        raise Failure(f"checkov did not report:\n{out.stdout}{out.stderr}")
    results = report.get("results", {}) if isinstance(report, dict) else {}
    failed = results.get("failed_checks", [])
    if out.returncode not in (0, 1) or failed:
        lines = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in failed]
        raise Failure("\n".join(lines) or f"checkov exited {out.returncode}:\n{out.stderr}")
    summary = report.get("summary", {}) if isinstance(report, dict) else {}
    return f"{summary.get('passed', 0)} checks passed, {summary.get('skipped', 0)} skipped (scripts/checkov.yaml)"


def fullname(values: dict) -> str:
    """The chart's payment-operator.fullname helper, for the names it should render."""
    if values.get("fullnameOverride"):
        return values["fullnameOverride"][:63].rstrip("-")
    name = values.get("nameOverride") or "payment-operator"
    return (RELEASE if name in RELEASE else f"{RELEASE}-{name}")[:63].rstrip("-")


def only(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o.get("kind") == kind]
    if len(found) != 1:
        raise Failure(f"expected one {kind}, rendered {len(found)}")
    return found[0]


# ---------------------------------------------------------------- the checks


def check_crd_copy() -> str:
    if not CHART_CRD.exists():
        raise Failure(f"{CHART_CRD.relative_to(ROOT)} is missing")
    if CHART_CRD.read_bytes() != CRD.read_bytes():
        raise Failure(
            f"{CHART_CRD.relative_to(ROOT)} differs from {CRD.relative_to(ROOT)}: "
            f"cp {CRD.relative_to(ROOT)} {CHART_CRD.relative_to(ROOT)}"
        )
    return f"byte-identical to {CRD.relative_to(ROOT)}"


def check_chart_crd_valid() -> str:
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        crds = [doc for entry in chart.crds for doc in load_yaml_docs(entry["data"])]
    if [c.get("metadata", {}).get("name") for c in crds] != [crd()["metadata"]["name"]]:
        raise Failure(f"Helm loads these CRDs from the chart: {crds}")
    return kubernetes_validate(crds)


def check_image_digest() -> str:
    """values.schema.json takes a sha256 digest for the operator's image and refuses anything else."""
    digest = "sha256:" + "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
    render({"image": {"digest": digest}})
    admitted = []
    for bad in ["sha256:abc", digest.removeprefix("sha256:"), digest.upper(), "md5:" + "0" * 32, "@" + digest]:
        try:
            render({"image": {"digest": bad}})
            admitted.append(bad)
        except Exception as e:  # helm's schema refusal
            if "/image/digest" not in str(e):
                raise
    if admitted:
        raise Failure(f"values.schema.json admits image.digest {admitted}")
    return "a sha256 digest is taken; a short, bare, uppercase, md5 or @-prefixed one is refused"


def check_lint(values: dict | None) -> str:
    import helm_python as helm

    report = helm.lint(CHART, values, strict=True, kube_version=f"v{MINIMUM}")
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    if report["errors"] or serious:
        raise Failure("\n".join(f"{m['path']}: {m['error']}" for m in serious) or str(report["errors"]))
    notes = [m["error"] for m in report["messages"]]
    return "no warnings or errors" + (f" (info: {'; '.join(notes)})" if notes else "")


def check_objects(objects: list[dict], values: dict) -> str:
    kinds = sorted(o["kind"] for o in objects)
    expected = ["Deployment", "Service"]
    if values["networkPolicy"]["enabled"]:
        expected.append("NetworkPolicy")
    if values["serviceAccount"]["create"]:
        expected.append("ServiceAccount")
    if values["rbac"]["create"]:
        expected += ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    if values["monitoring"]["enabled"]:
        expected += ["ServiceMonitor", "ConfigMap"]
    if kinds != sorted(expected):
        raise Failure(f"rendered {kinds}, expected {sorted(expected)}")
    namespaced = [o for o in objects if o["kind"] not in ("ClusterRole", "ClusterRoleBinding")]
    stray = [o["metadata"]["name"] for o in namespaced if o["metadata"].get("namespace") != NAMESPACE]
    if stray:
        raise Failure(f"not in the release namespace: {stray}")
    return ", ".join(kinds)


def check_deployment(objects: list[dict], values: dict) -> str:
    deployment = only(objects, "Deployment")
    service = only(objects, "Service")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    problems = []
    strategy = spec.get("strategy", {})
    if spec.get("replicas") != values["replicaCount"] or strategy.get("type") != "RollingUpdate":
        problems.append(f"not {values['replicaCount']} replicas with a rolling update")
    if strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
        problems.append("a rolling update may take the leader away before its successor runs")
    [container] = pod["containers"]
    tag = values["image"]["tag"] or yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    digest = f"@{values['image']['digest']}" if values["image"]["digest"] else ""
    if container["image"] != f"{values['image']['repository']}:{tag}{digest}":
        problems.append(f"image {container['image']} is not the values' image")
    if container.get("args") != ["run"]:
        problems.append(f"args {container.get('args')} are not [run]")
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
    port = values["metrics"]["port"]
    for name, want in [
        ("RUST_LOG", values["logLevel"]),
        ("LOG_FORMAT", values["logFormat"]),
        ("METRICS_ADDR", f"0.0.0.0:{port}"),
        ("POD_NAME", {"fieldRef": {"fieldPath": "metadata.name"}}),
        ("POD_NAMESPACE", {"fieldRef": {"fieldPath": "metadata.namespace"}}),
        ("LEASE_NAME", fullname(values)),
        ("MONITORING_DEFAULT", str(values["monitoring"]["clusterDefault"]).lower()),
    ]:
        if env.get(name) != want:
            problems.append(f"{name} is {env.get(name)!r}, expected {want!r}")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if ports.get("metrics") != port:
        problems.append(f"container ports {ports} do not expose metrics on {port}")
    for probe in ("livenessProbe", "readinessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != "/healthz" or get.get("port") != "metrics":
            problems.append(f"{probe} is not GET /healthz on the metrics port")
    [service_port] = service["spec"]["ports"]
    if service_port.get("targetPort") != "metrics" or service_port.get("port") != values["metrics"]["service"]["port"]:
        problems.append(f"metrics Service port {service_port} does not match the values")
    selector = deployment["spec"]["selector"]["matchLabels"]
    if service["spec"].get("selector") != selector:
        problems.append("the metrics Service does not select the operator's pods")
    account = pod.get("serviceAccountName")
    want_account = values["serviceAccount"]["name"] or fullname(values)
    if account != want_account:
        problems.append(f"runs as ServiceAccount {account!r}, expected {want_account!r}")
    if values["serviceAccount"]["create"] and only(objects, "ServiceAccount")["metadata"]["name"] != account:
        problems.append("the rendered ServiceAccount is not the one the pod runs as")
    context = container.get("securityContext", {})
    pod_context = pod.get("securityContext", {})
    if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
        problems.append("runAsNonRoot is not set")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("the root filesystem is not read-only")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("privilege escalation is not turned off")
    if context.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append("capabilities are not all dropped")
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("no RuntimeDefault seccomp profile (Pod Security restricted)")
    if problems:
        raise Failure("; ".join(problems))
    return (
        f"{container['image']}, RUST_LOG={values['logLevel']}, non-root, read-only root, seccomp, "
        f"metrics on {port}"
    )


def check_rbac(objects: list[dict]) -> str:
    role = only(objects, "ClusterRole")
    binding = only(objects, "ClusterRoleBinding")
    lease_role, lease_binding = only(objects, "Role"), only(objects, "RoleBinding")
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    subjects = binding.get("subjects") or []
    if binding["roleRef"] != {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }:
        raise Failure(f"the ClusterRoleBinding refers to {binding['roleRef']}, not the chart's ClusterRole")
    if subjects != [{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}]:
        raise Failure(f"the ClusterRoleBinding binds {subjects}, not the operator's ServiceAccount")
    needed = required_permissions(controller_sources(OPERATOR_SRC), crd())
    lease_verbs = needed.pop(LEASE, set())
    if granted_permissions(lease_role) != {LEASE: lease_verbs}:
        raise Failure(f"the leader Role grants {granted_permissions(lease_role)}, the code needs {LEASE}: {lease_verbs}")
    if lease_role["metadata"].get("namespace") != NAMESPACE or lease_binding["subjects"] != subjects:
        raise Failure("the leader Role is not in the release namespace, bound to the operator's ServiceAccount")
    granted = granted_permissions(role)
    missing = {k: v - granted.get(k, set()) for k, v in needed.items() if v - granted.get(k, set())}
    extra = {k: v - needed.get(k, set()) for k, v in granted.items() if v - needed.get(k, set())}
    if missing or extra:
        message = []
        if missing:
            message.append(f"the controller needs, the ClusterRole lacks:\n{describe(missing)}")
        if extra:
            message.append(f"the ClusterRole grants, the controller never uses:\n{describe(extra)}")
        raise Failure("\n".join(message))
    return (
        f"{len(needed)} resources cluster-wide and the Lease in {NAMESPACE}, exactly the verbs the controller uses, "
        f"bound to {pod['serviceAccountName']}"
    )


def check_examples() -> str:
    manifests = sorted(EXAMPLES.glob("*.yaml"))
    clusters = sum(
        1 for m in manifests for d in load_yaml_docs(m.read_text()) if d.get("kind") == crd()["spec"]["names"]["kind"]
    )
    out = subprocess.run(
        [sys.executable, str(CRD_SCHEMA_CHECK), str(CHART_CRD), *map(str, manifests)],
        capture_output=True,
        text=True,
        check=False,
    )
    checked = out.stdout.count("checked against the CRD schema")
    if out.returncode != 0 or clusters < 2 or checked != clusters:
        raise Failure(f"{checked}/{clusters} PaymentClusters checked:\n{out.stdout}{out.stderr}")
    names = ", ".join(m.name for m in manifests)
    return f"{clusters} PaymentClusters ({names}) valid against the chart's CRD schema"




def check_minimum_version() -> str:
    """Chart.yaml's kubeVersion and docs/operator.md name the minimum of scripts/kubernetes-versions."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    problems = []
    if chart.get("kubeVersion") != f">={MINIMUM}-0":
        problems.append(f"Chart.yaml kubeVersion is {chart.get('kubeVersion')!r}, not '>={MINIMUM}-0'")
    minor = MINIMUM.removesuffix(".0")
    if f"Kubernetes {minor} or newer" not in DOCS.read_text():
        problems.append(f"docs/operator.md does not say 'Kubernetes {minor} or newer'")
    if problems:
        raise Failure("; ".join(problems))
    return f"Kubernetes {minor} or newer, validated at {MINIMUM} and {NEWEST}"


def check_images() -> str:
    """The Dockerfiles build what the chart and the operator expect to run."""
    app_uid = re.search(r"const APP_UID: i64 = ([\d_]+);", APP_BUILDER.read_text())
    expected_uid = app_uid.group(1).replace("_", "") if app_uid else None
    chart_uid = str(merged_values(None)["podSecurityContext"].get("runAsUser"))
    problems = []
    for crate, path in DOCKERFILES.items():
        if not path.exists():
            problems.append(f"{path.name} is missing")
            continue
        text = path.read_text()
        command = f"cargo build --release --locked -p {crate}"
        if command not in text:
            problems.append(f"{path.name} does not run `{command}`")
        final_stage = text.split("\nFROM ")[-1]
        user = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.M)
        uid = user[-1].split(":")[0] if user else None
        want = expected_uid if crate == "payment-app" else chart_uid
        if uid != want:
            problems.append(f"{path.name}'s runtime stage runs as {uid!r}, the pods run as uid {want}")
        if not re.search(rf'^ENTRYPOINT \["/usr/local/bin/{crate}"\]', final_stage, flags=re.M):
            problems.append(f"{path.name} does not start /usr/local/bin/{crate}")
    for doc in (CHART_README, DOCS):
        if "cargo build --release --locked -p" not in doc.read_text():
            problems.append(f"{doc.relative_to(ROOT)} does not say how the images are built")
    lint = subprocess.run(
        [tool("hadolint"), "--no-color", *map(str, DOCKERFILES.values())], capture_output=True, text=True, check=False
    )
    if lint.returncode != 0:
        problems.append(f"hadolint:\n{lint.stdout}{lint.stderr}")
    if problems:
        raise Failure("; ".join(problems))
    return (
        f"hadolint clean; both build with cargo build --release --locked; "
        f"app runs as uid {expected_uid}, operator as {chart_uid}"
    )


def check_compose() -> str:
    """compose.yaml is a valid Compose file that runs the four services."""
    env = {k: v for k, v in os.environ.items() if k != "API_TOKENS"}
    out = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise Failure(f"docker compose config:\n{out.stdout}{out.stderr}")
    services = json.loads(out.stdout)["services"]
    want = {"postgres", "redis", "rabbitmq", "payment-app"}
    if set(services) != want:
        raise Failure(f"services {sorted(services)}, expected {sorted(want)}")
    app = services["payment-app"]
    if app.get("build", {}).get("dockerfile") != DOCKERFILES["payment-app"].name:
        raise Failure(f"payment-app is not built from {DOCKERFILES['payment-app'].name}: {app.get('build')}")
    waits = sorted(app.get("depends_on", {}))
    if waits != sorted(want - {"payment-app"}):
        raise Failure(f"payment-app waits only for {waits}")
    return "valid (docker compose config); postgres, redis, rabbitmq and payment-app built from the Dockerfile"


def tool(name: str) -> str:
    """A command installed by a PyPI package (scripts/check-chart installs them)."""
    beside_python = Path(sysconfig.get_path("scripts")) / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise Failure(f"{name} is not installed: run scripts/check-chart, which installs it")
    return found


def run_checks() -> int:
    results = []

    def check(name: str, fn, *args) -> None:
        try:
            detail = fn(*args)
            results.append(True)
            print(f"ok    {name}: {detail}")
        except (Failure, ValueError) as e:  # ValueError: from docs_check and controller_rbac
            results.append(False)
            print(f"FAIL  {name}: {e}")
        except Exception as e:  # an unexpected error fails the check, it does not stop the run
            results.append(False)
            print(f"FAIL  {name}: {type(e).__name__}: {e}")

    check("chart CRD", check_crd_copy)
    check("chart CRD schema", check_chart_crd_valid)
    check("image digest", check_image_digest)
    for label, values in values_sets():
        check(f"helm lint --strict ({label})", check_lint, values)
        try:
            objects, merged = render(values), merged_values(values)
        except Exception as e:
            results.append(False)
            print(f"FAIL  helm template ({label}): {type(e).__name__}: {e}")
            continue
        check(f"rendered objects ({label})", check_objects, objects, merged)
        builtin = [o for o in objects if not is_prometheus_operator(o)]
        custom = [o for o in objects if is_prometheus_operator(o)]
        check(f"kubernetes-validate --strict ({label})", kubernetes_validate, builtin)
        if custom:
            check(f"Prometheus Operator schema ({label})", prometheus_operator_schema, custom)
        if merged["monitoring"]["enabled"]:
            check(f"Grafana dashboard ({label})", check_dashboard, objects)
        check(f"checkov ({label})", checkov, objects)
        check(f"operator Deployment ({label})", check_deployment, objects, merged)
        if merged["rbac"]["create"]:
            check(f"RBAC = the controller's API calls ({label})", check_rbac, objects)
    check("examples", check_examples)
    check("minimum Kubernetes version", check_minimum_version)
    check("docs spec reference", lambda: docs_check.check_spec_reference(DOCS.read_text(), crd()))
    check("docs status", lambda: docs_check.check_status_docs(DOCS.read_text(), crd(), "\n".join(p.read_text() for p in STATUS)))
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    check("chart README values", lambda: docs_check.check_values_documented(CHART_README.read_text(), defaults))
    check("Dockerfiles", check_images)
    check("compose.yaml", check_compose)

    passed, failed = results.count(True), results.count(False)
    print(f"chart: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "check":
        return run_checks()
    if command == "spec-fields":
        print(docs_check.spec_reference_table(crd()))
        return 0
    if command == "rbac-rules":
        print(describe(required_permissions(controller_sources(OPERATOR_SRC), crd())))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
