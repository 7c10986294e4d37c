// verifyWebhook on its own: the server's signing test vector
// (payment-app/src/webhooks/sign.rs) and the header's edge cases.
import assert from "node:assert/strict";
import { test } from "node:test";
import { verifyWebhook, WebhookVerificationError } from "../src/index.js";

const body = '{"a":1}';
const v1 = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
const at = 1_700_000_000;

const reason = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof WebhookVerificationError) return e.reason;
    throw e;
  }
  return "accepted";
};

test("the server's test vector verifies, within the tolerance either side", () => {
  assert.deepEqual(verifyWebhook(body, `t=${at},v1=${v1}`, "whsec_test", { now: at + 300 }), { a: 1 });
  assert.equal(reason(() => verifyWebhook(body, `t=${at},v1=${v1}`, "whsec_test", { now: at - 300 })), "accepted");
  assert.equal(reason(() => verifyWebhook(body, `t=${at},v1=${v1}`, "whsec_test", { now: at + 301 })), "stale_timestamp");
});

test("any v1 matching any secret is enough; none is not", () => {
  const header = `t=${at},v1=${"0".repeat(64)},v1=${v1}`;
  assert.equal(reason(() => verifyWebhook(body, header, ["whsec_new", "whsec_test"], { now: at })), "accepted");
  assert.equal(reason(() => verifyWebhook(body, header, ["whsec_new"], { now: at })), "signature_mismatch");
});

test("a header without t or v1 is malformed", () => {
  for (const header of ["", `v1=${v1}`, `t=${at}`, `t=soon,v1=${v1}`]) {
    assert.equal(reason(() => verifyWebhook(body, header, "whsec_test", { now: at })), "malformed_header", header);
  }
});
