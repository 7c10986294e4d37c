"""What RBAC the operator's controller needs, read from its source.

    required_permissions(source_text, crd) -> {(API group, resource): {verbs}}

The source is every file that talks to the API server: operator/src/
controller.rs, operator/src/reconcile/*.rs and operator/src/leader.rs, and
the table of child kinds in operator/src/child.rs (controller_sources()
reads them, concatenated). The rules:
- the kinds a `Child` can be are the rows of `child_kinds!` (`Variant("Kind"):
  type, source, Owned|Kept;`); code that expands the table over each row's
  `$type` calls its generic functions for every row, and a call filtered to
  `Lifetime::Owned` rows (the controller's `owned::<$type>`, prune's
  `prune_kind::<$type>`) for the `Owned` rows;
- `backing_off(x, ..)` (a watch that backs off on its own) lists and
  watches x's kind (x an `Api::<K>`, a `scope.api::<K>(..)` or a variable),
  and so does `owned::<K>(..)` (K's children, by their metadata); so would
  kube-rs' own `Controller::new(x, ..)`, `.owns(x, ..)` and `.watches(x, ..)`;
- a call of an `Api<K>` method is authorized as its verb; a server-side
  apply (`patch` with `Patch::Apply`) that finds no object creates it, and
  the API server authorizes that as `create`;
- `Api<K>` for a generic K in `fn f<K ...>` stands for the kinds of every
  `f::<X>(..)` call (`f::<$type>` in a table expansion: the `Owned` rows),
  and where there is none, for every kind of the table;
- an event `Recorder` creates events and patches them when they repeat;
- kube-runtime's `finalizer(&x, ..)` adds and removes its finalizer with
  JSON patches of x's kind;
- a kind in OWNER_TOGGLED that the table holds needs `delete` too
  (OwnerReferencesPermissionEnforcement);
- a `LeaseManagerBuilder` (kube-lease-manager) gets its Lease, creates it
  once and patches it; that rule is namespaced (`LEASE`), granted by a Role
  in the operator's namespace, not the ClusterRole.

A kind the controller names that is not in KINDS is an error: whoever adds
a kind to the controller decides its RBAC. Errors are ValueError.
"""

from __future__ import annotations

import re
from pathlib import Path

# The Lease of leader election: granted by a Role in the release namespace.
LEASE = ("coordination.k8s.io", "leases")


def controller_sources(operator_src: Path) -> str:
    """Every source file that makes API calls, as one text."""
    files = [
        operator_src / "controller.rs",
        operator_src / "leader.rs",
        operator_src / "child.rs",
        *sorted((operator_src / "reconcile").glob("*.rs")),
    ]
    return "\n".join(f.read_text() for f in files if f.exists())

# Kinds the controller may use, by Rust type name: (API group, resource).
KINDS = {
    "Secret": ("", "secrets"),
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "Pod": ("", "pods"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Namespace": ("", "namespaces"),
    "StatefulSet": ("apps", "statefulsets"),
    "Deployment": ("apps", "deployments"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Lease": LEASE,
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Event": ("events.k8s.io", "events"),
    # CloudNativePG (postgres.provider: cnpg) and its Barman Cloud plugin;
    # `CnpgCluster` is the Child variant of a CNPG Cluster.
    "Cluster": ("postgresql.cnpg.io", "clusters"),
    "CnpgCluster": ("postgresql.cnpg.io", "clusters"),
    "ScheduledBackup": ("postgresql.cnpg.io", "scheduledbackups"),
    "Pooler": ("postgresql.cnpg.io", "poolers"),
    "ObjectStore": ("barmancloud.cnpg.io", "objectstores"),
    # The Prometheus Operator (spec.monitoring.enabled).
    "PodMonitor": ("monitoring.coreos.com", "podmonitors"),
    "PrometheusRule": ("monitoring.coreos.com", "prometheusrules"),
}

# Kinds whose owner references follow the spec (deleteVolumesOnDelete):
# changing them needs `delete` where OwnerReferencesPermissionEnforcement is
# on (see required_permissions).
OWNER_TOGGLED = ["Secret", "CnpgCluster"]

# API methods of kube's Api<K> and the RBAC verbs they are authorized as.
METHOD_VERBS = {
    "get": ["get"],
    "get_opt": ["get"],
    "get_metadata": ["get"],
    "list": ["list"],
    "list_metadata": ["list"],
    "watch": ["watch"],
    "create": ["create"],
    "replace": ["update"],
    "patch": ["patch"],
    "delete": ["delete"],
    "delete_collection": ["deletecollection"],
}
# The same on the status subresource.
STATUS_METHOD_VERBS = {"get_status": ["get"], "patch_status": ["patch"], "replace_status": ["update"]}


def rust_code(text: str) -> str:
    """The source without comments, so prose never counts as a call."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(^|\s)//.*$", r"\1", text, flags=re.M)


def statement_at(code: str, start: int) -> str:
    end = code.find(";", start)
    return code[start : end if end >= 0 else len(code)]


def required_permissions(controller_source: str, crd: dict) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs, read from the controller's API calls (see the module doc)."""
    code = rust_code(controller_source)
    definition = crd["spec"]
    kinds = dict(KINDS)
    kinds[definition["names"]["kind"]] = (definition["group"], definition["names"]["plural"])
    # The table of child kinds (operator/src/child.rs): variant and lifetime of each row.
    rows = re.findall(r"^\s*(\w+)\(\"\w+\"\):\s*[\w:]+,\s*\w+,\s*(Owned|Kept);", code, flags=re.M)
    if not rows:
        raise ValueError("found no rows of `child_kinds!` in operator/src/child.rs")
    child_kinds = sorted(variant for variant, _ in rows)
    owned_kinds = sorted(variant for variant, lifetime in rows if lifetime == "Owned")

    def generic_kinds(at: int) -> list[str]:
        """The kinds a generic parameter stands for at position `at`."""
        functions = [m for m in re.finditer(r"\bfn (\w+)\s*<", code) if m.start() < at]
        if functions:
            name = functions[-1].group(1)
            called = sorted(set(re.findall(rf"\b{name}::<(\w+)>", code)))
            if re.search(rf"\b{name}::<\$type>", code):
                called = sorted(set(called) | set(owned_kinds))
            if called:
                return called
        return child_kinds

    def resolve(rust_type: str, at: int = -1) -> list[tuple[str, str]]:
        if re.fullmatch(r"[A-Z]", rust_type):  # a generic parameter
            names = generic_kinds(at)
        else:
            names = [rust_type]
        unknown = [n for n in names if n not in kinds]
        if unknown:
            raise ValueError(
                f"controller.rs uses {', '.join(unknown)}, which scripts/controller_rbac.py does not know: "
                "add its API group and resource to KINDS and the rule it needs to the chart's ClusterRole"
            )
        return [kinds[n] for n in names]

    needs: dict[tuple[str, str], set[str]] = {}

    def need(rust_type: str, verbs: list[str], subresource: str = "", at: int = -1) -> None:
        for group, resource in resolve(rust_type, at):
            needs.setdefault((group, resource + subresource), set()).update(verbs)

    # Every Api<K> the controller names, and the variables bound to one.
    for rust_type in re.findall(r"\bApi(?:::)?<(\w+)>", code):
        resolve(rust_type)
    # A variable is the nearest `let x: Api<K>` before its use (names repeat across functions).
    lets = [(m.start(), m.group(1), m.group(2)) for m in re.finditer(r"\blet\s+(\w+)\s*:\s*Api<(\w+)>", code)]

    def bound(variable: str, at: int) -> tuple[str, int] | None:
        found = [(rust_type, start) for start, name, rust_type in lets if name == variable and start < at]
        return found[-1] if found else None

    # Watches.
    for call in re.finditer(
        r"(?:\bController::new|\.owns|\.watches|\bbacking_off)\(\s*(Api::<(\w+)>|\w+\.api::<(\w+)>|(\w+))",
        code,
    ):
        if code.startswith(".api::<PartialObjectMeta<", call.end()):
            continue  # inside `owned::<K>`, whose calls name the kinds (below)
        rust_type = call.group(2) or call.group(3) or (bound(call.group(4), call.start()) or (None,))[0]
        if rust_type is None:
            raise ValueError(f"cannot tell the kind watched by `{call.group(0)}` in controller.rs")
        need(rust_type, ["list", "watch"])
    for call in re.finditer(r"\bowned::<(\w+)>\(", code):
        need(call.group(1), ["list", "watch"])
    if re.search(r"\bowned::<\$type>\(", code):
        for variant in owned_kinds:
            need(variant, ["list", "watch"])

    # Calls on bound Api values.
    for call in re.finditer(r"\b(\w+)\s*\.\s*(\w+)\s*\(", code):
        variable, method = call.groups()
        found = bound(variable, call.start())
        if found is None:
            continue
        rust_type, declared = found
        if method in STATUS_METHOD_VERBS:
            need(rust_type, STATUS_METHOD_VERBS[method], "/status", declared)
        elif method in METHOD_VERBS:
            verbs = list(METHOD_VERBS[method])
            if method == "patch" and "Patch::Apply" in statement_at(code, call.start()):
                verbs.append("create")
            need(rust_type, verbs, at=declared)

    # kube-runtime's finalizer helper patches the object's finalizers.
    for call in re.finditer(r"\bfinalizer\(\s*&\s*(\w+)\s*,", code):
        found = bound(call.group(1), call.start())
        if found is None:
            raise ValueError(f"cannot tell the kind of `{call.group(0)}` in controller.rs")
        need(found[0], ["patch"], at=found[1])

    # OwnerReferencesPermissionEnforcement (on by default in OpenShift)
    # lets a change of an object's owner references through only for who
    # may delete the object. The credentials Secrets and the CNPG Cluster
    # gain or lose their owner with deleteVolumesOnDelete, so the operator
    # needs `delete` on them although it never deletes one.
    for rust_type in OWNER_TOGGLED:
        if rust_type in child_kinds:
            need(rust_type, ["delete"])
    if re.search(r"\bRecorder::new\(", code):
        need("Event", ["create", "patch"])
    if re.search(r"\bLeaseManagerBuilder::new\(", code):
        need("Lease", ["get", "create", "patch"])
    return needs


def granted_permissions(role: dict) -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs that a ClusterRole grants; wildcards are refused."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role.get("rules") or []:
        groups, resources, verbs = rule.get("apiGroups", []), rule.get("resources", []), rule.get("verbs", [])
        if "*" in groups + resources + verbs or rule.get("nonResourceURLs"):
            raise ValueError(f"ClusterRole rule {rule} is a wildcard or a non-resource URL: not least privilege")
        for group in groups:
            for resource in resources:
                granted.setdefault((group, resource), set()).update(verbs)
    return granted


def describe(permissions: dict[tuple[str, str], set[str]]) -> str:
    return "\n".join(
        f"  {group or 'core'}/{resource}: {', '.join(sorted(verbs))}"
        for (group, resource), verbs in sorted(permissions.items())
    )
