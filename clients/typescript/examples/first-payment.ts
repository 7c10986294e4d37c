// The first payment that README.md and this package's README show: they
// show this file's regions (clients/rust/tests/it/readme.rs fails when they
// differ), and test/examples.test.ts runs it against the live server
// scripts/clients-test starts, so what the READMEs show is what ran.
// ANCHOR: readme
import { Payrail } from "@payrail/client";

// ANCHOR: short
const payrail = new Payrail({ baseUrl: process.env.PAYRAIL_URL!, token: process.env.PAYRAIL_TOKEN! });
const a = await payrail.createAccount({ initial_balance: "100.00" }); // needs the `issue` scope
const b = await payrail.createAccount();
// An Idempotency-Key is made per call (or pass { idempotencyKey }), and every retry reuses it.
const p = await payrail.createPayment({ from_account: a.id, to_account: b.id, amount: "99.01" });
console.log((await payrail.waitUntilTerminal(p.id, 10_000)).status); // "done"
// ANCHOR_END: short
console.log((await payrail.getAccount(a.id)).balance); // "0.99"
for await (const done of payrail.payments({ account: a.id, status: "done" })) console.log(done.id);
// ANCHOR_END: readme
