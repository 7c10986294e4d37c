#!/usr/bin/env python3
"""Checks PaymentCluster manifests against the generated CRD's schema.

    validate.py CRD.yaml MANIFEST.yaml...

kubernetes-validate knows the built-in kinds only; custom resources are
checked here with the CRD's own openAPIV3Schema (structural, with its
enums, ranges and required fields), and unknown fields are refused as the
API server prunes or rejects them. Exits 1 with one line per problem.
"""
import sys

import jsonschema
import yaml


def strict(schema):
    """Refuse properties the schema does not name, like --strict does."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        if schema.pop("nullable", False) and "type" in schema:
            schema["type"] = [schema["type"], "null"]
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


def main():
    crd = yaml.safe_load(open(sys.argv[1]))
    version = crd["spec"]["versions"][0]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is validated by the API server itself, not by the CRD schema.
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    schema["properties"]["apiVersion"] = {"const": f"{crd['spec']['group']}/{version['name']}"}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    failures = 0
    for path in sys.argv[2:]:
        for doc in yaml.safe_load_all(open(path)):
            if not doc or doc.get("kind") != crd["spec"]["names"]["kind"]:
                continue
            for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
                where = "/".join(str(p) for p in error.absolute_path)
                print(f"{path}: {where}: {error.message}")
                failures += 1
            print(f"{path}: {doc['metadata']['name']} checked against the CRD schema")
    sys.exit(1 if failures else 0)


main()
