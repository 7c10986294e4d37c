// The retry rule of src/retry.ts, answer by answer, through `Payrail` with a
// scripted fetch under its retries: which answers are sent again, how
// often, and with which Idempotency-Key. (The live suite drops a real
// connection; these are the answers a test server cannot be made to give on
// demand: 429, 503 `overloaded` and `timeout`.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { Payrail, PayrailError } from "../src/index.js";

const [A, B] = ["01930000-0000-7000-8000-000000000001", "01930000-0000-7000-8000-000000000002"];
const PAYMENT = {
  id: "01930000-0000-7000-8000-0000000000aa",
  from_account: A,
  to_account: B,
  amount: "1.00",
  currency: "USD",
  status: "pending",
  metadata: {},
  created_at: "2026-12-07T00:00:00Z",
  updated_at: "2026-12-07T00:00:00Z",
  capture: "automatic",
  amount_refunded: "0.00",
};

type Step = Response | Error;
const ok = () => new Response(JSON.stringify(PAYMENT), { status: 202, headers: { "content-type": "application/json" } });
const error = (status: number, code: string, retryAfter?: string) =>
  new Response(JSON.stringify({ error: { code, message: code } }), {
    status,
    headers: { "content-type": "application/json", "x-request-id": "req-1", ...(retryAfter ? { "retry-after": retryAfter } : {}) },
  });
// What Node's fetch throws: a TypeError whose cause carries the socket's code.
const transport = (code: string) => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(code), { code }) });
const dropped = () => transport("UND_ERR_SOCKET");
const refused = () => transport("ECONNREFUSED");

function scripted(...steps: (() => Step)[]) {
  const requests: Request[] = [];
  const fetch = async (input: RequestInfo | URL) => {
    const request = input as Request;
    requests.push(request);
    const step = steps.shift()!();
    if (step instanceof Error) throw step;
    return step;
  };
  const client = new Payrail({ baseUrl: "http://payrail.test", token: "t".repeat(16), fetch, retry: { maxAttempts: 3, baseDelayMs: 0 } });
  return { client, requests };
}

const pay = (c: Payrail) => c.createPayment({ from_account: A, to_account: B, amount: "1.00" });

for (const [name, first] of [
  ["rate_limited", () => error(429, "rate_limited", "0")],
  ["overloaded", () => error(503, "overloaded", "0")],
  ["timeout", () => error(503, "timeout")],
  ["dropped", dropped],
  ["refused", refused],
] as const) {
  test(`a keyed create is sent again with the same key: ${name}`, async () => {
    const { client, requests } = scripted(first, ok);
    assert.equal((await pay(client)).id, PAYMENT.id);
    const keys = requests.map((r) => r.headers.get("idempotency-key"));
    assert.equal(keys.length, 2);
    assert.ok(keys[0]);
    assert.equal(keys[0], keys[1]);
  });
}

test("each logical request has its own key", async () => {
  const { client, requests } = scripted(ok, ok);
  await pay(client);
  await pay(client);
  assert.notEqual(requests[0]!.headers.get("idempotency-key"), requests[1]!.headers.get("idempotency-key"));
});

for (const [status, code] of [
  [503, "unavailable"],
  [503, "account_busy"],
  [429, "rate_limited"], // no Retry-After
  [422, "same_account"],
] as const) {
  test(`${status} ${code} is not sent again`, async () => {
    const { client, requests } = scripted(() => error(status, code));
    await assert.rejects(pay(client), (e: unknown) => e instanceof PayrailError && e.code === code && e.requestId === "req-1");
    assert.equal(requests.length, 1);
  });
}

test("an unkeyed POST is sent again only where nothing was recorded", async () => {
  const id = PAYMENT.id;
  let s = scripted(() => error(503, "timeout"));
  await assert.rejects(s.client.capturePayment(id), (e: unknown) => e instanceof PayrailError && e.code === "timeout");
  assert.equal(s.requests.length, 1);
  s = scripted(dropped);
  await assert.rejects(s.client.capturePayment(id), TypeError);
  assert.equal(s.requests.length, 1);
  s = scripted(refused, () => error(503, "overloaded", "0"), ok);
  await s.client.capturePayment(id);
  assert.equal(s.requests.length, 3);
});

test("retries are bounded", async () => {
  const { client, requests } = scripted(...Array(3).fill(() => error(503, "overloaded", "0")));
  await assert.rejects(pay(client), (e: unknown) => e instanceof PayrailError && e.code === "overloaded" && e.retryAfter === 0);
  assert.equal(requests.length, 3);
});

test("a batch's items are keyed, the same on every attempt, the caller's kept", async () => {
  const { client, requests } = scripted(dropped, () => new Response('{"results": []}', { status: 200, headers: { "content-type": "application/json" } }));
  const items = [
    { from_account: A, to_account: B, amount: "1.00" },
    { from_account: A, to_account: B, amount: "1.00" },
    { from_account: A, to_account: B, amount: "1.00", idempotency_key: "mine" },
  ];
  await client.createPaymentBatch({ payments: items }, { idempotencyKey: "order-7" });
  const sent = await Promise.all(requests.map(async (r) => (await r.json()).payments));
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[0], sent[1]);
  assert.deepEqual(sent[0].map((i: { idempotency_key: string }) => i.idempotency_key), ["order-7-0", "order-7-1", "mine"]);
  assert.equal("idempotency_key" in items[0]!, false);
});
