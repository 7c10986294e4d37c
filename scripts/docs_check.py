"""The docs, checked against what they describe.

- docs/operator.md's spec reference: every field of the CRD's spec, with
  its type and default, and nothing else;
- docs/operator.md names every printer column of the CRD and every
  condition type and reason operator/src/reconcile/status.rs sets, and
  those the PostgreSQL providers report (reconcile/build/postgres/);
- the chart README's values table covers every key of values.yaml.

Each check returns a one-line summary or raises ValueError saying what
differs. `spec_reference_table` prints the CRD's fields as a table to start
the docs from.
"""

from __future__ import annotations

import re

from controller_rbac import rust_code


def field_type(schema: dict) -> str:
    kind = schema.get("type", "object")
    if kind == "object":
        return "map" if "additionalProperties" in schema else "object"
    if kind == "integer" and "minimum" in schema and "maximum" in schema:
        return f"integer, {int(schema['minimum'])}–{int(schema['maximum'])}"
    return kind


def show_default(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show_default(v)}" for k, v in value.items())
    return str(value)


def spec_fields(schema: dict, prefix: str = "", inherited=None):
    """(path, type, default, description) of every leaf field of a CRD's spec schema.

    A default given on an object applies to the fields under it."""
    for name, sub in sorted(schema.get("properties", {}).items()):
        default = sub.get("default")
        if default is None and isinstance(inherited, dict):
            default = inherited.get(name)
        path = prefix + name
        if "properties" in sub:
            yield from spec_fields(sub, path + ".", default)
        else:
            yield path, field_type(sub), default, " ".join(sub.get("description", "").split())


def docs_table_rows(text: str, heading: str) -> list[list[str]]:
    """The rows of the tables under a `## heading`, as lists of cells."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if not match:
        raise ValueError(f"no `## {heading}` section")
    rows = []
    for line in match.group(1).splitlines():
        if line.startswith("|") and not re.match(r"^\|[\s\-|:]+\|$", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def unquote(cell: str) -> str:
    return cell.replace("`", "").strip()


def spec_schema(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def spec_reference_table(crd: dict) -> str:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for path, kind, default, description in spec_fields(spec_schema(crd)):
        rows.append(f"| `{path}` | {kind} | `{show_default(default)}` | {description} |")
    return "\n".join(rows)


def check_spec_reference(docs: str, crd: dict) -> str:
    rows = docs_table_rows(docs, "Spec reference")
    documented = {}
    for cells in rows:
        if len(cells) >= 3 and cells[0].startswith("`"):
            documented[unquote(cells[0])] = (unquote(cells[1]), unquote(cells[2]))
    fields = {path: (kind, show_default(default)) for path, kind, default, _ in spec_fields(spec_schema(crd))}
    problems = [f"`{p}` is in the CRD spec but not in the reference" for p in fields if p not in documented]
    problems += [f"`{p}` is in the reference but not in the CRD spec" for p in documented if p not in fields]
    for path, (kind, default) in fields.items():
        if path in documented and documented[path] != (kind, default):
            problems.append(f"`{path}`: the reference says {documented[path]}, the CRD {(kind, default)}")
    if problems:
        raise ValueError("\n".join(problems) + "\n(scripts/check_chart.py spec-fields prints the CRD's fields)")
    return f"{len(fields)} spec fields, types and defaults as in the CRD"


def check_status_docs(docs: str, crd: dict, status_source: str) -> str:
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    code = rust_code(status_source)
    conditions = re.findall(r'\bcondition\(\s*"(\w+)",\s*[^,]+,\s*"(\w+)"', code)
    # The PostgreSQL providers' own conditions (build/postgres/*.rs).
    conditions += re.findall(r'\bReport::new\(\s*"(\w+)",\s*[^,]+,\s*"(\w+)"', code)
    # build/postgres/backups.rs: each of BackupsHealthy's verdicts.
    conditions += [("BackupsHealthy", r) for r in re.findall(r'\bVerdict::new\(\s*\w+,\s*"(\w+)"', code)]
    if not conditions:
        raise ValueError("found no condition(...) calls in operator/src/reconcile/status.rs")
    words = set(columns) | {t for t, _ in conditions} | {r for _, r in conditions}
    missing = sorted(w for w in words if not re.search(rf"\b{w}\b", docs))
    if missing:
        raise ValueError(f"docs/operator.md does not mention: {', '.join(missing)}")
    reasons = sorted({r for _, r in conditions})
    return f"printer columns {', '.join(columns)}; reasons {', '.join(reasons)}"


def check_values_documented(readme: str, values: dict) -> str:
    documented = {unquote(cells[0]) for cells in docs_table_rows(readme, "Values") if cells[0].startswith("`")}

    def undocumented(tree: dict, prefix: str = "") -> list[str]:
        missing = []
        for key, value in tree.items():
            path = prefix + key
            if path in documented:
                continue
            if isinstance(value, dict) and value:
                missing += undocumented(value, path + ".")
            else:
                missing.append(path)
        return missing

    def exists(path: str) -> bool:
        node = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    missing = undocumented(values)
    stale = sorted(p for p in documented if not exists(p))
    if missing or stale:
        raise ValueError(f"values.yaml keys missing from the README: {missing}; README keys not in values.yaml: {stale}")
    return f"{len(documented)} values documented in the chart's README"
