// The first payment that the READMEs show (examples/first-payment.ts, held
// to them by clients/rust/tests/it/readme.rs), run by node as a user would
// run it, against the live server: it prints what the READMEs say.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BASE_URL } from "./helpers.js";

test("the README's first payment runs as shown", async () => {
  assert.ok(BASE_URL, "the example reads the same PAYRAIL_URL and PAYRAIL_TOKEN");
  const example = fileURLToPath(new URL("../examples/first-payment.js", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [example], { timeout: 60_000 });
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 3, stdout);
  assert.deepEqual(lines.slice(0, 2), ["done", "0.99"], stdout);
  assert.match(lines[2]!, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/, stdout);
});
