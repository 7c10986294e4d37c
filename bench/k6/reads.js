// The reads a client makes, at a steady rate, each kind tagged by name so
// the summary gives its own p50/p99: one payment, one account, an account's
// first page of payments, of ledger entries, its balance at an instant, its
// statement, and the searches by status and by metadata. Driven by
// bench/large-ledger/run against a ledger seeded by
// `payment-app bench-seed-ledger`, whose payment number n (every tenth)
// carries the metadata {"order": "o-n"}.
//
// Environment: BASE_URL, TOKEN, RATE (reads/s, default 200), DURATION
// (seconds, default 60), SEEDED (payments the seed wrote: the range the
// metadata searches draw from), SUMMARY_JSON (where the summary goes).
import http from 'k6/http';
import { check, fail } from 'k6';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:18400';
const TOKEN = __ENV.TOKEN || 'large-token-0000001';
const RATE = Number(__ENV.RATE || 200);
const DURATION = Number(__ENV.DURATION || 60);
const SEEDED = Number(__ENV.SEEDED || 1000);
const HEADERS = { Authorization: `Bearer ${TOKEN}` };
const READS = ['payment', 'account', 'account_payments', 'entries', 'balance_at', 'statement',
  'status_done', 'status_failed', 'metadata'];

const thresholds = { checks: ['rate==1'] };
// A threshold per kind makes k6 keep that kind's own trend in the summary;
// the bound is loose on purpose: the run reports, it does not judge.
for (const name of READS) thresholds[`http_req_duration{name:${name}}`] = ['p(99)<60000'];

export const options = {
  scenarios: {
    reads: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: `${DURATION}s`,
      preAllocatedVUs: Math.max(10, Math.ceil(RATE / 20)), maxVUs: Math.max(40, Math.ceil(RATE / 5)) },
  },
  thresholds,
  summaryTrendStats: ['avg', 'p(50)', 'p(90)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

function get(path, name) {
  const r = http.get(`${BASE}/api/v1${path}`, { headers: HEADERS, tags: { name } });
  if (!check(r, { [`${name} answered 200`]: (res) => res.status === 200 })) {
    console.error(`${name} ${path}: ${r.status} ${r.body}`);
  }
  return r;
}

// Ids to read: the newest accounts, and a few payments of each.
export function setup() {
  const accounts = get('/accounts?limit=200', 'setup').json('accounts').map((a) => a.id);
  if (accounts.length === 0) fail('no account to read: seed the ledger first');
  const payments = [];
  for (const id of accounts.slice(0, 50)) {
    for (const p of get(`/accounts/${id}/payments?limit=20`, 'setup').json('payments')) payments.push(p.id);
  }
  if (payments.length === 0) fail('no payment to read: seed the ledger first');
  return { accounts, payments };
}

function any(list) {
  return list[Math.floor(Math.random() * list.length)];
}

export default function (data) {
  const account = any(data.accounts);
  switch (any(READS)) {
    case 'payment': return get(`/payment/${any(data.payments)}`, 'payment');
    case 'account': return get(`/accounts/${account}`, 'account');
    case 'account_payments': return get(`/accounts/${account}/payments?limit=50`, 'account_payments');
    case 'entries': return get(`/accounts/${account}/entries?limit=50&order=desc`, 'entries');
    case 'balance_at': {
      // An instant within the seed's days (it spreads them over the week
      // before it ran), so the lookup lands inside the account's history.
      const at = new Date(Date.now() - Math.random() * 6 * 86400 * 1000).toISOString();
      return get(`/accounts/${account}/balance?at=${encodeURIComponent(at)}`, 'balance_at');
    }
    case 'statement': return get(`/accounts/${account}/statement`, 'statement');
    case 'status_done': return get('/payments?status=done&limit=50', 'status_done');
    case 'status_failed': return get('/payments?status=failed&limit=50', 'status_failed');
    default: {
      const n = 10 * Math.floor((Math.random() * SEEDED) / 10);
      return get(`/payments?${encodeURIComponent('metadata[order]')}=o-${n}&limit=50`, 'metadata');
    }
  }
}

export function handleSummary(data) {
  const lines = ['read               count    p50 ms    p99 ms    max ms'];
  for (const name of READS) {
    const m = data.metrics[`http_req_duration{name:${name}}`];
    if (!m) continue;
    const v = m.values;
    lines.push(`${name.padEnd(16)} ${String(v.count).padStart(6)} ` +
      `${v['p(50)'].toFixed(1).padStart(9)} ${v['p(99)'].toFixed(1).padStart(9)} ${v.max.toFixed(1).padStart(9)}`);
  }
  lines.push(`checks passed: ${(100 * data.metrics.checks.values.rate).toFixed(2)} %`);
  const result = { stdout: `${lines.join('\n')}\n` };
  if (__ENV.SUMMARY_JSON) result[__ENV.SUMMARY_JSON] = JSON.stringify(data, null, 1);
  return result;
}
