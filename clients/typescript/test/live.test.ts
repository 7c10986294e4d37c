// The client against a live `payment-app all` (scripts/clients-test starts
// it): every call here is one an integrator makes.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { test } from "node:test";
import { Payrail, PayrailError, verifyWebhook, WebhookVerificationError, type Payment } from "../src/index.js";
import { ADMIN_TOKEN, admin, droppingProxy, payOnly, receiver, unknownV7 } from "./helpers.js";

const client = admin();

async function funded(balance = "100.00"): Promise<string> {
  return (await client.createAccount({ initial_balance: balance })).id;
}

test("accounts with and without an initial balance, by scope", async () => {
  const rich = await client.createAccount({ initial_balance: "100.00", metadata: { owner: "ts" } });
  assert.equal(rich.balance, "100.00");
  assert.equal(rich.metadata.owner, "ts");
  const empty = await payOnly().createAccount();
  assert.equal(empty.balance, "0.00");
  assert.equal((await client.getAccount(empty.id)).id, empty.id);
});

test("pay, wait until done, refund", async () => {
  const [a, b] = [await funded(), (await client.createAccount()).id];
  const accepted = await client.createPayment({ from_account: a, to_account: b, amount: "30.00" });
  assert.equal(accepted.status, "pending");
  const done = await client.waitUntilTerminal(accepted.id, 30_000);
  assert.equal(done.status, "done");
  assert.equal((await client.getAccount(b)).balance, "30.00");

  const refund = await client.createRefund(done.id, { amount: "10.00", reason: "damaged" });
  assert.equal((await client.waitUntilRefundTerminal(refund.id)).status, "done");
  assert.equal((await client.getAccount(a)).balance, "80.00");
  assert.equal((await client.getPayment(done.id)).amount_refunded, "10.00");
});

test("an account's entries, its balance at an instant, its statement", async () => {
  const [a, b] = [await funded(), (await client.createAccount()).id];
  const opened = new Date((await client.getAccount(a)).created_at);
  await client.waitUntilTerminal((await client.createPayment({ from_account: a, to_account: b, amount: "30.00" })).id);
  await client.waitUntilTerminal((await client.createPayment({ from_account: a, to_account: b, amount: "5.00" })).id);

  const entries = [];
  for await (const e of client.accountEntries(a, { limit: 1 })) entries.push(e); // a page per entry
  assert.deepEqual(
    entries.map((e) => [e.kind, e.amount, e.balance_after]),
    [["issuance", "100.00", "100.00"], ["debit", "-30.00", "70.00"], ["debit", "-5.00", "65.00"]],
  );
  const newestFirst = [];
  for await (const e of client.accountEntries(a, { order: "desc" })) newestFirst.push(e.id);
  assert.deepEqual(newestFirst, entries.map((e) => e.id).reverse());

  const now = await client.balanceAt(a, new Date());
  assert.deepEqual([now.balance, now.held, now.available_balance], ["65.00", "0.00", "65.00"]);
  assert.equal((await client.balanceAt(a, entries[1]!.created_at)).balance, "70.00");
  await assert.rejects(client.balanceAt(a, new Date(opened.getTime() - 3_600_000)), (e: unknown) => e instanceof PayrailError && e.status === 404);
  assert.equal((await client.statement(b)).account_id, b);
});

test("hold and capture part of it", async () => {
  const [a, b] = [await funded(), (await client.createAccount()).id];
  const hold = await client.createPayment({ from_account: a, to_account: b, amount: "70.00", capture: "manual" });
  await client.waitUntilTerminal(hold.id, 30_000, { until: ["authorized"] });
  assert.equal((await client.getAccount(a)).available_balance, "30.00");
  const held = await client.balanceAt(a, new Date());
  assert.deepEqual([held.balance, held.held, held.available_balance], ["100.00", "70.00", "30.00"]);
  await client.capturePayment(hold.id, { amount: "25.00" });
  const captured = await client.waitUntilTerminal(hold.id);
  assert.equal(captured.status, "done");
  assert.equal(captured.amount_captured, "25.00");
  const payer = await client.getAccount(a);
  assert.deepEqual([payer.balance, payer.available_balance], ["75.00", "75.00"]);
});

test("credit: spend below zero, and a limit below what is used is refused", async () => {
  const [a, b] = [(await client.createAccount({ credit_limit: "20.00" })).id, (await client.createAccount()).id];
  const paid = await client.createPayment({ from_account: a, to_account: b, amount: "15.00" });
  assert.equal((await client.waitUntilTerminal(paid.id, 30_000)).status, "done");
  const payer = await client.getAccount(a);
  assert.deepEqual([payer.balance, payer.available_balance, payer.credit_limit], ["-15.00", "5.00", "20.00"]);
  await assert.rejects(client.setCreditLimit(a, "14.99"), (e: PayrailError) => e.code === "credit_limit_below_used");
  assert.equal((await client.setCreditLimit(a, "15.00")).available_balance, "0.00");
});

test("the ledger head is not found before an audit chains it", async () => {
  await assert.rejects(client.getLedgerHead(), (e: PayrailError) => e.status === 404 && e.code === "not_found");
});

test("an atomic batch settles all or none", async () => {
  const [a, merchant, fee] = [await funded(), (await client.createAccount()).id, (await client.createAccount()).id];
  const batch = await client.createPaymentBatch({
    atomic: true,
    payments: [
      { from_account: a, to_account: merchant, amount: "97.00" },
      { from_account: a, to_account: fee, amount: "3.00" },
    ],
  });
  assert.deepEqual(batch.results.map((r) => r.status), [202, 202]);
  const settled = await Promise.all(batch.results.map((r) => client.waitUntilTerminal(r.payment!.id)));
  assert.deepEqual(settled.map((p) => p.status), ["done", "done"]);

  // Over the balance together: neither applies.
  const over = await client.createPaymentBatch({
    atomic: true,
    payments: [
      { from_account: merchant, to_account: fee, amount: "90.00" },
      { from_account: merchant, to_account: fee, amount: "90.00" },
    ],
  });
  const failed = await Promise.all(over.results.map((r) => client.waitUntilTerminal(r.payment!.id)));
  assert.deepEqual(failed.map((p) => p.status), ["failed", "failed"]);
  assert.equal((await client.getAccount(merchant)).balance, "97.00");
});

test("page through events and filtered lists", async () => {
  const [a, b] = [await funded(), (await client.createAccount()).id];
  const order = randomUUID();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await client.createPayment({ from_account: a, to_account: b, amount: "1.00", metadata: { order } });
    ids.push((await client.waitUntilTerminal(p.id)).id);
  }
  await client.createPayment({ from_account: a, to_account: b, amount: "1.00", metadata: { order: "other" } });

  // Newest first, one per page: three pages, nothing else.
  const listed: string[] = [];
  for await (const p of client.payments({ account: a, status: "done", metadata: { order }, limit: 1 })) listed.push(p.id);
  assert.deepEqual(listed, [...ids].reverse());
  const accounts: string[] = [];
  for await (const acc of client.accounts({ currency: "USD", limit: 2 })) accounts.push(acc.id);
  assert.ok(accounts.includes(a) && accounts.includes(b));

  // The feed, two at a time, in id order, holds each payment's created and done events.
  const seen = new Map<string, string[]>();
  let last = "";
  for await (const e of client.events({ limit: 2 })) {
    assert.ok(e.id > last, "events come in id order");
    last = e.id;
    const data = e.data as Payment;
    if (ids.includes(data.id)) seen.set(data.id, [...(seen.get(data.id) ?? []), e.type]);
  }
  for (const id of ids) assert.deepEqual(seen.get(id), ["payment.created", "payment.done"]);
});

test("a payment retried after a dropped connection is recorded once", async () => {
  const [a, b] = [await funded(), (await client.createAccount()).id];
  const proxy = await droppingProxy(1);
  try {
    const viaProxy = new Payrail({ baseUrl: proxy.url, token: ADMIN_TOKEN });
    const payment = await viaProxy.createPayment({ from_account: a, to_account: b, amount: "5.00" });
    assert.equal(proxy.connections(), 2, "the first answer was dropped and the request sent again");
    const recorded: Payment[] = [];
    for await (const p of client.accountPayments(a)) recorded.push(p);
    assert.deepEqual(recorded.map((p) => p.id), [payment.id]);
    assert.equal((await client.waitUntilTerminal(payment.id)).status, "done");
    assert.equal((await client.getAccount(a)).balance, "95.00");
  } finally {
    proxy.close();
  }
});

test("a delivered webhook verifies; tampered, stale and wrongly keyed ones do not", async () => {
  const hooks = await receiver();
  try {
    const endpoint = await client.createWebhookEndpoint({ url: hooks.url, events: ["payment.done"] });
    const [a, b] = [await funded(), (await client.createAccount()).id];
    const p = await client.createPayment({ from_account: a, to_account: b, amount: "2.00" });
    const delivery = await hooks.next((d) => d.body.includes(p.id));

    const event = verifyWebhook(delivery.body, delivery.signature, endpoint.secret);
    assert.equal(event.type, "payment.done");
    assert.equal(event.id, delivery.eventId);
    if (event.type === "payment.done") assert.equal(event.data.id, p.id);

    const refused = (f: () => unknown, reason: string) =>
      assert.throws(f, (e: unknown) => e instanceof WebhookVerificationError && e.reason === reason);
    const tampered = Buffer.from(delivery.body.toString().replace('"2.00"', '"2000.00"'));
    assert.notDeepEqual(tampered, delivery.body);
    refused(() => verifyWebhook(tampered, delivery.signature, endpoint.secret), "signature_mismatch");
    refused(() => verifyWebhook(delivery.body, delivery.signature, "whsec_" + "0".repeat(64)), "signature_mismatch");
    // The same body, signed correctly ten minutes ago: a replay.
    const old = Math.floor(Date.now() / 1000) - 600;
    const mac = createHmac("sha256", endpoint.secret).update(`${old}.`).update(delivery.body).digest("hex");
    refused(() => verifyWebhook(delivery.body, `t=${old},v1=${mac}`, endpoint.secret), "stale_timestamp");

    // During a rotation the server signs with both secrets: either verifies.
    const rotated = await client.rotateWebhookSecret(endpoint.id);
    const p2 = await client.createPayment({ from_account: a, to_account: b, amount: "3.00" });
    const second = await hooks.next((d) => d.body.includes(p2.id));
    assert.equal(second.signature.split(",").filter((s) => s.startsWith("v1=")).length, 2);
    verifyWebhook(second.body, second.signature, endpoint.secret);
    verifyWebhook(second.body, second.signature, rotated.secret);
    verifyWebhook(second.body, second.signature, ["whsec_unrelated", rotated.secret]);

    const endpoints: string[] = [];
    for await (const e of client.webhookEndpoints({ limit: 1 })) endpoints.push(e.id);
    assert.ok(endpoints.includes(endpoint.id));
    // An attempt is recorded once its answer is in: the receiver may see
    // the second delivery a moment before its row is written. (Other
    // payments' events may come to this endpoint too: only ours count.)
    const ours = [delivery.eventId, second.eventId];
    const deadline = Date.now() + 10_000;
    let attempts = new Map<string, number | null | undefined>();
    for (;;) {
      attempts = new Map();
      for await (const at of client.deliveryAttempts(endpoint.id, { limit: 1 })) attempts.set(at.event_id, at.status_code);
      if (ours.every((id) => attempts.has(id)) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(ours.map((id) => attempts.get(id)), [200, 200]);
    await client.deleteWebhookEndpoint(endpoint.id);
  } finally {
    hooks.close();
  }
});

test("403, 404 and 422 come back as typed errors", async () => {
  const isError = (status: number, code: string) => (e: unknown) => {
    assert.ok(e instanceof PayrailError, String(e));
    assert.deepEqual([e.status, e.code], [status, code]);
    assert.ok(e.message.length > 0);
    assert.ok(e.requestId, "the answer's x-request-id");
    return true;
  };
  await assert.rejects(payOnly().createAccount({ initial_balance: "5.00" }), isError(403, "forbidden"));
  await assert.rejects(client.getPayment(unknownV7()), isError(404, "not_found"));
  const a = await funded();
  await assert.rejects(client.createPayment({ from_account: a, to_account: a, amount: "1.00" }), isError(422, "same_account"));
});
