// payrail's k6 scenarios, one script: SCENARIO picks one. Driven by
// scripts/bench-k6, which starts a fresh payrail, runs this, waits for every
// payment to settle, audits the ledger and prints settled/s from the
// database's own timestamps (k6 sees only the 202s: settling is asynchronous).
//
// Environment: BASE_URL, TOKEN, SCENARIO, RATE (payments/s offered at the
// peak), DURATION (seconds at the peak), ACCOUNTS, SMOKE=1 (CI: completion
// and correctness thresholds only, no latency ones: CI shares its 2 cores).
// The batch scenarios also read BATCH (payments per request, default 100),
// ATOMIC=1 (linked batches) and KEYS=1 (an idempotency key on every item,
// as a bulk client that resends on failure would send them).
import http from 'k6/http';
import { check, fail } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:18300';
const TOKEN = __ENV.TOKEN || 'k6-token-000000001';
const SCENARIO = __ENV.SCENARIO || 'baseline';
const RATE = Number(__ENV.RATE || 1000);
const DURATION = Number(__ENV.DURATION || 60);
const SMOKE = __ENV.SMOKE === '1';
const HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
const BATCH = Number(__ENV.BATCH || 100);
const ATOMIC = __ENV.ATOMIC === '1';
const KEYS = __ENV.KEYS === '1';

// Unexpected answers: anything but 202 to a payment. A refused payment
// (422, 429, 503) is counted by status so the summary says why.
const refused = new Counter('payments_refused');

// What each scenario offers. `accounts` and `balance` shape the ledger:
// few accounts with small balances make contention and overdrafts.
const SCENARIOS = {
  // A light steady load: the latency floor.
  baseline: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(Math.min(RATE, 200)), pick: uniform },
  // From nothing to RATE, to find where latency turns.
  ramp: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: ramping([[DURATION, RATE]]), pick: uniform },
  // The target: RATE/s, uniform over the accounts, open loop.
  uniform: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(RATE), pick: uniform },
  // Every payment debits one account.
  'hot-source': { accounts: 1000, balance: '1000000000.00', amount: () => '1.00',
    executor: constant(RATE), pick: (n) => [0, 1 + Math.floor(Math.random() * (n - 1))] },
  // Every payment credits one account.
  'hot-destination': { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(RATE), pick: (n) => [1 + Math.floor(Math.random() * (n - 1)), 0] },
  // Eight accounts with little money: lock collisions and overdrafts.
  contention: { accounts: 8, balance: '50.00', amount: () => `${1 + Math.floor(Math.random() * 20)}.00`,
    executor: constant(RATE), pick: uniform },
  // Quiet, then RATE for a tenth of the time, then quiet again.
  spike: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: ramping([[DURATION * 0.4, RATE / 10], [1, RATE], [DURATION * 0.1, RATE], [1, RATE / 10],
      [DURATION * 0.4, RATE / 10]]), pick: uniform },
  // A moderate load held (bounded by DURATION like every scenario).
  soak: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(Math.max(1, Math.floor(RATE / 2))), pick: uniform },
  // RATE payments/s sent as batches of BATCH, uniform over the accounts.
  batch: { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(batches(RATE)), pick: uniform, batch: true },
  // Batches in which every payment credits one account.
  'batch-hot': { accounts: 1000, balance: '1000000.00', amount: () => '1.00',
    executor: constant(batches(RATE)), pick: (n) => [1 + Math.floor(Math.random() * (n - 1)), 0], batch: true },
};

// Requests per second that carry `rate` payments per second in batches.
function batches(rate) {
  return Math.max(1, Math.round(rate / BATCH));
}

const spec = SCENARIOS[SCENARIO];
if (!spec) {
  throw new Error(`unknown SCENARIO ${SCENARIO}; one of ${Object.keys(SCENARIOS).join(', ')}`);
}

function constant(rate) {
  return { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: `${DURATION}s`,
    preAllocatedVUs: vus(rate), maxVUs: vus(rate) * 4 };
}

// stages: [seconds, target rate] pairs, from 1/s.
function ramping(stages) {
  const peak = Math.max(...stages.map(([, target]) => target));
  return { executor: 'ramping-arrival-rate', startRate: 1, timeUnit: '1s',
    stages: stages.map(([secs, target]) => ({ duration: `${Math.max(1, Math.round(secs))}s`,
      target: Math.max(1, Math.round(target)) })),
    preAllocatedVUs: vus(peak), maxVUs: vus(peak) * 4 };
}

// Enough virtual users for the rate at a few ms per request, and more if
// the answers slow down (k6 reports dropped iterations when they run out).
function vus(rate) {
  return Math.max(10, Math.ceil(rate / 50));
}

function uniform(n) {
  const from = Math.floor(Math.random() * n);
  const to = (from + 1 + Math.floor(Math.random() * (n - 1))) % n;
  return [from, to];
}

const thresholds = {
  // Every payment is accepted: a refusal is a finding, not noise.
  checks: ['rate==1'],
  http_req_failed: ['rate==0'],
  // The accept latency the issue asks of 1,000/s, kept for every scenario
  // at its rate: a threshold that fails says where the machine gives up.
  // (Listed even in smoke runs, with no bound, so the summary has it.)
  // A batch does a hundred payments' work in one request: its bound is a
  // batch's, not a payment's.
  'http_req_duration{name:pay}': SMOKE ? [] : [spec.batch ? 'p(99)<250' : 'p(99)<20'],
};
if (!SMOKE) {
  thresholds.dropped_iterations = ['count==0'];
}

export const options = {
  scenarios: { [SCENARIO]: spec.executor },
  thresholds,
  summaryTrendStats: ['avg', 'p(50)', 'p(90)', 'p(99)', 'max'],
  // The driver reads the summary; no need for per-request output.
  discardResponseBodies: false,
};

export function setup() {
  const ids = [];
  const body = JSON.stringify({ initial_balance: spec.balance });
  for (let i = 0; i < spec.accounts; i += 50) {
    const requests = [];
    for (let j = i; j < Math.min(i + 50, spec.accounts); j++) {
      requests.push(['POST', `${BASE}/api/v1/accounts`, body, { headers: HEADERS, tags: { name: 'account' } }]);
    }
    for (const r of http.batch(requests)) {
      if (r.status !== 201) fail(`creating an account answered ${r.status}: ${r.body}`);
      ids.push(r.json('id'));
    }
  }
  return { ids };
}

function payment(data, n) {
  const [from, to] = spec.pick(data.ids.length);
  return {
    from_account: data.ids[from],
    to_account: data.ids[to],
    amount: spec.amount(),
    payment_description: `k6 ${SCENARIO} ${n}`,
  };
}

export default function (data) {
  if (spec.batch) return sendBatch(data);
  const body = JSON.stringify(payment(data, exec.scenario.iterationInTest));
  const r = http.post(`${BASE}/api/v1/payment`, body, { headers: HEADERS, tags: { name: 'pay' } });
  const ok = check(r, { 'payment accepted (202)': (res) => res.status === 202 });
  if (!ok) refused.add(1, { status: String(r.status) });
}

// One batch request: accepted when the request answers 200 and every item
// 202; an item refused counts by its own status.
function sendBatch(data) {
  const first = exec.scenario.iterationInTest * BATCH;
  const payments = [];
  for (let i = 0; i < BATCH; i++) {
    const p = payment(data, first + i);
    if (KEYS) p.idempotency_key = `k6-${exec.vu.idInTest}-${first + i}-${Date.now()}`;
    payments.push(p);
  }
  const body = JSON.stringify({ payments, atomic: ATOMIC });
  const r = http.post(`${BASE}/api/v1/payments/batch`, body, { headers: HEADERS, tags: { name: 'pay' } });
  if (!check(r, { 'batch answered (200)': (res) => res.status === 200 })) {
    refused.add(BATCH, { status: String(r.status) });
    return;
  }
  const items = r.json('results');
  let accepted = 0;
  for (const item of items) {
    if (item.status === 202) accepted++;
    else refused.add(1, { status: String(item.status) });
  }
  check(items, { 'every item accepted (202)': () => accepted === BATCH && items.length === BATCH });
}

// A summary the driver reads (and a person can).
export function handleSummary(data) {
  const out = __ENV.SUMMARY_JSON;
  const result = { stdout: textSummary(data) };
  if (out) result[out] = JSON.stringify(data, null, 1);
  return result;
}

function offered() {
  const e = spec.executor;
  const perRequest = spec.batch ? BATCH : 1;
  const rate = e.rate !== undefined ? e.rate : Math.max(...e.stages.map((s) => s.target));
  const batches = spec.batch ? ` (${rate} batches/s of ${BATCH}${ATOMIC ? ', atomic' : ''})` : '';
  return `${e.rate !== undefined ? '' : 'up to '}${rate * perRequest}/s${batches}`;
}

function textSummary(data) {
  const m = data.metrics;
  const pay = m['http_req_duration{name:pay}'] || m.http_req_duration;
  const v = (metric, key) => (metric && metric.values[key] !== undefined ? metric.values[key] : 0);
  const failedThresholds = Object.entries(m)
    .flatMap(([name, metric]) => Object.entries(metric.thresholds || {})
      .filter(([, t]) => !t.ok).map(([expr]) => `${name} ${expr}`));
  return [
    `k6 ${SCENARIO}: ${v(m.iterations, 'count') * (spec.batch ? BATCH : 1)} payments sent, offered ${offered()} for ${DURATION} s,`,
    `  dropped iterations ${v(m.dropped_iterations, 'count')}, refused ${v(m.payments_refused, 'count')}`,
    `  accept latency ms: p50 ${v(pay, 'p(50)').toFixed(1)}  p90 ${v(pay, 'p(90)').toFixed(1)}  p99 ${v(pay, 'p(99)').toFixed(1)}  max ${v(pay, 'max').toFixed(1)}`,
    failedThresholds.length ? `  thresholds FAILED: ${failedThresholds.join('; ')}` : '  thresholds: all met',
    '',
  ].join('\n');
}
