#!/usr/bin/env node
// Checks CloudNativePG and Prometheus Operator objects against their
// published schemas, offline.
//
//     node validate.mjs OBJECTS.json...
//
// Each file holds a JSON array of objects (what `payment-operator render`
// prints, as JSON, or what the chart renders); those of CNPG's and the
// Prometheus Operator's API groups are checked, the rest skipped. The
// schemas come from npm `@kubernetes-models/cloudnative-pg` and
// `@kubernetes-models/prometheus-operator` (installed beside this file by
// scripts/check-chart, pinned in package.json): `new Cluster(obj).validate()`
// catches wrong types and missing fields, but lets unknown keys through
// (neither schema forbids them, and the API server would prune them
// silently). So the same
// schema validator also runs over a copy of the object whose every map
// records which keys the validator looked up: a key it never looked up,
// in a map whose keys it never listed, is one the schema does not define.
//
// The Barman Cloud plugin's ObjectStore is not in that package; its
// `spec.configuration` is CNPG's BarmanObjectStoreConfiguration (the same
// type the package ships), its other fields are listed below from the
// plugin's API.
//
// Prints `ok KIND NAME` per object checked and `FAIL KIND NAME: ...` per
// problem; exits 1 when any object failed.

import { readFileSync } from "node:fs";

import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Cluster";
import { Pooler } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Pooler";
import { ScheduledBackup } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/ScheduledBackup";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

// The package exports its models, not its schema validators: load those
// by path (they are what the models' validate() runs).
const schemas = new URL("./node_modules/@kubernetes-models/cloudnative-pg/_schemas/", import.meta.url);
const schema = async (name) => (await import(new URL(`${name}.js`, schemas))).validate;
const prometheusSchemas = new URL("./node_modules/@kubernetes-models/prometheus-operator/_schemas/", import.meta.url);
const prometheusSchema = async (kind) =>
  (await import(new URL(`ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1${kind}.js`, prometheusSchemas)))
    .validate;

const MODELS = {
  "postgresql.cnpg.io/v1": {
    Cluster: [Cluster, await schema("ComGithubCloudnativePgCloudnativePgApiV1Cluster")],
    Pooler: [Pooler, await schema("ComGithubCloudnativePgCloudnativePgApiV1Pooler")],
    ScheduledBackup: [ScheduledBackup, await schema("ComGithubCloudnativePgCloudnativePgApiV1ScheduledBackup")],
  },
  "monitoring.coreos.com/v1": {
    PodMonitor: [PodMonitor, await prometheusSchema("PodMonitor")],
    PrometheusRule: [PrometheusRule, await prometheusSchema("PrometheusRule")],
    ServiceMonitor: [ServiceMonitor, await prometheusSchema("ServiceMonitor")],
  },
};
const OBJECT_STORE = "barmancloud.cnpg.io/v1";
const BARMAN_CONFIGURATION = await schema("ComGithubCloudnativePgBarmanCloudPkgApiBarmanObjectStoreConfiguration");
// barmancloud.cnpg.io/v1 ObjectStoreSpec (plugin-barman-cloud api/v1).
const OBJECT_STORE_SPEC = new Set(["configuration", "retentionPolicy", "instanceSidecarConfiguration"]);

/** A deep copy of `value` whose maps note the keys looked up in them. */
function watched(value, path, maps) {
  if (value === null || typeof value !== "object") return value;
  const map = { path, keys: Object.keys(value), read: new Set(), listed: false };
  maps.push(map);
  const copy = Array.isArray(value)
    ? value.map((v, i) => watched(v, `${path}/${i}`, maps))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, watched(v, `${path}/${k}`, maps)]));
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") map.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") map.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      map.listed = true; // a map of free keys (labels, parameters) or additionalProperties
      return Reflect.ownKeys(target);
    },
  });
}

/** Schema errors and keys the schema does not define, as strings. */
function problems(validate, value, path) {
  const maps = [];
  const valid = validate(watched(value, path, maps));
  const found = valid
    ? []
    : validate.errors.map((e) => `${path}${e.instancePath}: ${e.message ?? `${e.keyword} ${JSON.stringify(e.params)}`}`);
  for (const map of maps) {
    if (map.listed) continue;
    for (const key of map.keys) {
      if (!map.read.has(key)) found.push(`${map.path}/${key}: not a field of the schema`);
    }
  }
  return found;
}

function check(object) {
  const { apiVersion, kind } = object;
  if (apiVersion === OBJECT_STORE && kind === "ObjectStore") {
    const found = Object.keys(object)
      .filter((k) => !["apiVersion", "kind", "metadata", "spec"].includes(k))
      .map((k) => `/${k}: not a field of the schema`);
    const spec = object.spec ?? {};
    found.push(...Object.keys(spec).filter((k) => !OBJECT_STORE_SPEC.has(k)).map((k) => `/spec/${k}: not a field of the schema`));
    if (!spec.configuration) found.push("/spec/configuration: required");
    else found.push(...problems(BARMAN_CONFIGURATION, spec.configuration, "/spec/configuration"));
    if (spec.retentionPolicy !== undefined && !/^[1-9][0-9]*[dwm]$/.test(spec.retentionPolicy)) {
      found.push(`/spec/retentionPolicy: ${spec.retentionPolicy} is not a recovery window such as 30d`);
    }
    return found;
  }
  const model = MODELS[apiVersion]?.[kind];
  if (!model) return [`no schema for ${apiVersion} ${kind}`];
  const [Model, validate] = model;
  const found = [];
  try {
    new Model(object).validate();
  } catch (e) {
    found.push(`validate(): ${e.message}`);
  }
  return [...found, ...problems(validate, object, "")];
}

const CHECKED_GROUPS = [...Object.keys(MODELS), OBJECT_STORE];
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const object of JSON.parse(readFileSync(file, "utf8"))) {
    if (!CHECKED_GROUPS.includes(object?.apiVersion)) continue;
    const name = `${object.kind} ${object.metadata?.name}`;
    const found = check(object);
    for (const problem of found) console.log(`FAIL ${name}: ${problem}`);
    if (found.length) failed += 1;
    else console.log(`ok ${name}`);
  }
}
process.exit(failed ? 1 : 0);
