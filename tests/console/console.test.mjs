// The operations console in a real browser (Debian's chromium through
// playwright-core), against the live `payment-app all` scripts/console-test
// started. One story, step by step, as an operator would go: a read-only
// session first (search, a payment's timeline, an account's chart, the dead
// letters it may not replay), then an admin one (webhook attempts, the
// replay). Every page is screenshot into $SCREENSHOTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chromium } from 'playwright-core';

const base = process.env.PAYRAIL_URL;
const adminToken = process.env.PAYRAIL_ADMIN_TOKEN;
const readToken = process.env.PAYRAIL_READ_TOKEN;
const databaseUrl = process.env.PAYRAIL_DATABASE_URL;
const shots = process.env.SCREENSHOTS;
assert.ok(shots, 'SCREENSHOTS names the directory the screenshots go to');
const run = `${process.pid}-${Date.now()}`;
const xssDescription = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
const xssNote = '<b onmouseover="window.__xss=3">bold</b>';

async function api(method, path, body, token = adminToken) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function waitFor(what, check, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found) return found;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function psql(sql) {
  execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', databaseUrl, '-c', sql], { stdio: 'pipe' });
}

async function shoot(page, name) {
  await page.screenshot({ path: `${shots}/console-${name}.png`, fullPage: true });
}

async function signIn(page, token) {
  await page.goto(`${base}/console/payments`);
  assert.equal(new URL(page.url()).pathname, '/console/sign-in', 'signed out, a page sends the browser to sign in');
  await page.fill('#token', token);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/console/sign-in') && r.request().method() === 'POST'),
    page.click('form.sign-in button'),
  ]);
  await page.waitForURL(`${base}/console/payments`);
  return response;
}

/// The CSRF token of the signed-in page (the sign-out form carries it).
async function csrfOf(page) {
  return page.getAttribute('form.sign-out input[name=csrf]', 'value');
}

test('the console, signed in with a read token and then an admin one', async (t) => {
  // A webhook receiver on loopback that takes everything.
  const received = [];
  const receiver = http.createServer((req, res) => {
    req.resume();
    received.push(req.url);
    res.writeHead(200).end('ok');
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = await api('POST', '/api/v1/webhook-endpoints', {
    url: `http://127.0.0.1:${receiver.address().port}/hook-${run}`,
  });

  const payer = await api('POST', '/api/v1/accounts', { initial_balance: '100.00', metadata: { owner: 'console test' } });
  const payee = await api('POST', '/api/v1/accounts', { initial_balance: '0' });
  const paid = await api('POST', '/api/v1/payment', {
    from_account: payer.id, to_account: payee.id, amount: '12.34',
    payment_description: xssDescription, metadata: { order: `console-${run}`, note: xssNote },
  });
  for (const amount of ['5.00', '7.25', '1.10']) {
    await api('POST', '/api/v1/payment', { from_account: payer.id, to_account: payee.id, amount });
  }
  await waitFor('the payment to settle', async () => (await api('GET', `/api/v1/payment/${paid.id}`)).status === 'done');

  // A payment the database refuses to settle: it ends in the dead letters
  // after its delivery limit (3 here), until the cause is removed.
  psql(`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.description = 'poison' AND NEW.status <> 'pending' THEN RAISE EXCEPTION 'poisoned'; END IF;
          RETURN NEW; END $$;
        CREATE TRIGGER poison BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION poison();`);
  const poisoned = await api('POST', '/api/v1/payment', {
    from_account: payer.id, to_account: payee.id, amount: '2.00', payment_description: 'poison',
  });

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  try {
    await t.test('sign in with the read token: a cookie, HttpOnly and SameSite=Strict, and a strict policy', async () => {
      await page.goto(`${base}/console/sign-in`);
      await shoot(page, 'sign-in');
      await page.fill('#token', 'not-a-token-at-all-0123456789');
      await page.click('form.sign-in button');
      assert.match(await page.textContent('p.error'), /not accepted/);
      const response = await signIn(page, readToken);
      const setCookie = (await response.headersArray()).filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value);
      const session = setCookie.find((c) => c.startsWith('payrail_console='));
      assert.ok(session, `a session cookie: ${setCookie}`);
      assert.match(session, /HttpOnly/);
      assert.match(session, /SameSite=Strict/);
      assert.match(session, /Max-Age=28800/);
      const cookies = await context.cookies();
      assert.ok(cookies.some((c) => c.name === 'payrail_console' && c.httpOnly && c.sameSite === 'Strict'));
      const csp = (await page.request.get(`${base}/console/payments`)).headers()['content-security-policy'];
      assert.match(csp, /^default-src 'none';/);
      assert.doesNotMatch(csp, /script-src|unsafe/);
      assert.match(await page.textContent('header .who'), /read$/);
    });

    await t.test('find the payment by its metadata and see it done with its ledger entries', async () => {
      await page.selectOption('select[name=status]', 'done');
      await page.fill('input[name=metadata_key]', 'order');
      await page.fill('input[name=metadata_value]', `console-${run}`);
      await page.click('form.search button');
      await page.waitForURL(/metadata_value=console-/);
      const rows = page.locator('table.payments tbody tr');
      assert.equal(await rows.count(), 1);
      assert.equal(await rows.first().locator('td').nth(5).textContent(), xssDescription, 'the description, as text');
      await shoot(page, 'payments');
      const before = new URL(page.url());
      before.searchParams.set('until', '2020-01-01T00:00');
      await page.goto(before.toString());
      assert.equal(await page.locator('table.payments').count(), 0, 'nothing accepted before 2020');
      assert.equal(await page.inputValue('input[name=until]'), '2020-01-01T00:00');
      await page.goBack();
      await rows.first().locator('a').first().click();
      await page.waitForURL(`${base}/console/payments/${paid.id}`);
      assert.equal(await page.textContent('dl.facts .status'), 'done');
      const entries = page.locator('table.entries tbody tr');
      assert.equal(await entries.count(), 2);
      const kinds = await entries.locator('td:nth-child(2)').allTextContents();
      assert.deepEqual(kinds.sort(), ['credit', 'debit']);
      assert.deepEqual((await entries.locator('td:nth-child(4)').allTextContents()).sort(), ['-12.34', '12.34']);
      const events = await page.locator('ol.timeline li').allTextContents();
      assert.ok(events.some((e) => e.includes('payment.created')) && events.some((e) => e.includes('payment.done')), events.join('|'));
      assert.match(await page.textContent('main'), /shown to tokens with the admin scope/, 'no endpoint URLs for a read token');
    });

    await t.test('what a client wrote renders as text: no script, no element', async () => {
      assert.equal(await page.textContent('dd.description'), xssDescription);
      assert.equal(await page.locator('dd.description *').count(), 0);
      const note = page.locator('dl.metadata dt', { hasText: 'note' }).locator('xpath=following-sibling::dd[1]');
      assert.equal(await note.textContent(), xssNote);
      assert.equal(await page.locator('dl.metadata b').count(), 0);
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      assert.deepEqual(dialogs, []);
    });

    await t.test('open the account and see its statement chart', async () => {
      await page.click(`dl.facts a[href="/console/accounts/${payer.id}"]`);
      await page.waitForURL(`${base}/console/accounts/${payer.id}`);
      const balance = (await api('GET', `/api/v1/accounts/${payer.id}`)).balance;
      assert.equal(await page.textContent('dd.balance'), balance);
      const line = await page.getAttribute('svg.chart polyline.balance', 'points');
      assert.ok(line.split(' ').length >= 5, `the issuance and four payments: ${line}`);
      assert.ok(await page.locator('svg.chart').isVisible());
      assert.ok(await page.locator('table.payments tbody tr').count() >= 4);
      await shoot(page, 'account');
    });

    await t.test('the dead letters: listed with their reason, and a read token may not replay', async () => {
      await waitFor('the poisoned payment in the dead letters', async () => {
        await page.goto(`${base}/console/dead-letters`);
        return (await page.locator(`table.dead-letters a[href="/console/payments/${poisoned.id}"]`).count()) > 0;
      });
      const row = page.locator('table.dead-letters tbody tr', { hasText: poisoned.id });
      assert.equal(await row.locator('td.reason').textContent(), 'delivery_limit');
      assert.equal(await row.locator('button').count(), 0, 'no replay button without admin');
      const refused = await page.request.post(`${base}/console/dead-letters/replay`, {
        form: { csrf: await csrfOf(page), payment_id: poisoned.id },
      });
      assert.equal(refused.status(), 403);
      assert.match(await refused.text(), /lacks the `admin` scope/);
      await page.reload();
      assert.equal(await page.locator('table.dead-letters tbody tr', { hasText: poisoned.id }).count(), 1, 'still there');
    });

    await t.test('the system page: every dependency, the queues and the backlog', async () => {
      await page.click('header nav a[href="/console/system"]');
      await page.waitForURL(`${base}/console/system`);
      const deps = Object.fromEntries(await page.locator('dl.readiness dt').evaluateAll((dts) =>
        dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
      assert.equal(deps.postgres, 'ok', JSON.stringify(deps));
      assert.equal(deps.rabbitmq, 'ok', JSON.stringify(deps));
      assert.match(deps.redis, /^1\/1 nodes$/, JSON.stringify(deps));
      assert.equal(await page.locator('dd.dependency.bad').count(), 0, JSON.stringify(deps));
      const lock = page.locator('table.queues tbody tr', { hasText: 'payrail.lock' });
      assert.ok(Number(await lock.locator('td').nth(2).textContent()) >= 1, 'the lock worker consumes');
      assert.equal(await page.locator('table.queues tbody tr', { hasText: 'payrail.dead' }).count(), 1);
      assert.match(await page.textContent('dd.open'), /^\d+ \(pending or authorized\)$/);
      // The counts come from a rollup kept a few seconds behind (about
      // 15 s at most): reload until the suite's payments are in it.
      const settled = async () => (await page.locator('table.throughput td.done').allTextContents()).map(Number);
      await waitFor("the suite's four payments in the throughput", async () => {
        await page.reload();
        return (await settled()).reduce((a, b) => a + b, 0) >= 4;
      });
      const done = await settled();
      assert.equal(done.length, 15, 'a row for each of the last 15 minutes');
      assert.ok(done.reduce((a, b) => a + b, 0) >= 4, `the suite's four payments settled: ${done}`);
      assert.match(await page.textContent('span.counted-to'), /UTC$/);
      await shoot(page, 'system');
      assert.equal(await page.locator('header nav a[href="/console/webhooks"]').count(), 0, 'no webhooks link for a read token');
      const refused = await page.request.get(`${base}/console/webhooks`);
      assert.equal(refused.status(), 403);
    });

    await t.test('a POST without the CSRF token is refused', async () => {
      for (const [path, form] of [['/console/dead-letters/replay', { payment_id: poisoned.id }], ['/console/sign-out', {}]]) {
        const refused = await page.request.post(base + path, { form });
        assert.equal(refused.status(), 403, path);
        assert.match(await refused.text(), /not sent by this session/);
      }
      const wrong = await page.request.post(`${base}/console/sign-out`, { form: { csrf: 'f'.repeat(64) } });
      assert.equal(wrong.status(), 403);
      await page.goto(`${base}/console/payments`);
      assert.equal(new URL(page.url()).pathname, '/console/payments', 'the session survived the refused sign-outs');
    });

    await t.test('sign out, and be refused', async () => {
      const csrf = await csrfOf(page);
      await page.click('form.sign-out button');
      await page.waitForURL(`${base}/console/sign-in`);
      await page.goto(`${base}/console/payments/${paid.id}`);
      assert.equal(new URL(page.url()).pathname, '/console/sign-in');
      const refused = await page.request.post(`${base}/console/dead-letters/replay`, { form: { csrf, payment_id: poisoned.id } });
      assert.equal(refused.status(), 401);
      assert.ok(!(await context.cookies()).some((c) => c.name === 'payrail_console' && c.value), 'the cookie is gone');
    });

    await t.test('as admin: the payment shows its webhook delivery and attempt', async () => {
      await signIn(page, adminToken);
      assert.match(await page.textContent('header .who'), /admin$/);
      await waitFor('the webhook attempt', async () => {
        await page.goto(`${base}/console/payments/${paid.id}`);
        return (await page.locator('table.attempts tbody tr', { hasText: 'HTTP 200' }).count()) > 0;
      });
      const delivery = page.locator('table.deliveries tbody tr', { hasText: 'payment.done' });
      assert.match(await delivery.textContent(), new RegExp(`hook-${run}.*delivered`));
      assert.ok(received.length >= 1);
      await shoot(page, 'payment');
    });

    await t.test('as admin: the webhook endpoints, their failure rate, and a secret rotated once', async () => {
      await page.click('header nav a[href="/console/webhooks"]');
      await page.waitForURL(`${base}/console/webhooks`);
      const section = page.locator('section.endpoint', { hasText: `hook-${run}` });
      assert.match(await section.locator('dd.rate').textContent(), /^0 % of \d+ \(latest attempts\)$/);
      assert.ok(await section.locator('table.attempts tbody tr', { hasText: 'HTTP 200' }).count() >= 2);
      await section.locator('button', { hasText: 'Rotate secret' }).click();
      await page.waitForURL(`${base}/console/webhooks/${endpoint.id}/rotate`);
      assert.match(await page.textContent('p.outcome'), /was rotated/);
      assert.ok((await page.textContent('code.secret')).length >= 32);
      await shoot(page, 'webhooks');
    });

    await t.test('as admin: replay the dead letter and see it settle', async () => {
      psql('DROP TRIGGER poison ON payments');
      await page.goto(`${base}/console/dead-letters`);
      await shoot(page, 'dead-letters');
      const row = page.locator('table.dead-letters tbody tr', { hasText: poisoned.id });
      await row.locator('button').click();
      // POST, then redirect, then GET: the result page is a GET, so
      // reloading it shows the outcome again and replays nothing.
      await page.waitForURL(`${base}/console/dead-letters?replayed=${poisoned.id}`);
      assert.match(await page.textContent('p.outcome'), new RegExp(`Replayed payment ${poisoned.id}`));
      assert.equal(await page.locator('table.dead-letters tbody tr', { hasText: poisoned.id }).count(), 0);
      await shoot(page, 'replayed');
      const sent = [];
      const seen = (r) => sent.push(`${r.method()} ${new URL(r.url()).pathname}`);
      page.on('request', seen);
      await page.reload();
      page.off('request', seen);
      assert.ok(sent.includes('GET /console/dead-letters'), `the reload asked for the page again: ${sent}`);
      assert.ok(sent.every((r) => r.startsWith('GET ')), `the reload sent only GETs: ${sent}`);
      assert.match(await page.textContent('p.outcome'), new RegExp(`Replayed payment ${poisoned.id}`));
      await page.click(`p.outcome a[href="/console/payments/${poisoned.id}"]`);
      await waitFor('the replayed payment to settle', async () => {
        await page.goto(`${base}/console/payments/${poisoned.id}`);
        return (await page.textContent('dl.facts .status')) === 'done';
      });
      assert.equal(await page.locator('table.entries tbody tr').count(), 2);
    });

    await t.test('no token was ever in a URL', async () => {
      assert.ok(urls.length > 20, `${urls.length} requests seen`);
      for (const url of [...urls, page.url()]) {
        assert.ok(!url.includes(adminToken) && !url.includes(readToken), url);
      }
    });
  } finally {
    await browser.close();
    receiver.close();
    await fetch(`${base}/api/v1/webhook-endpoints/${endpoint.id}`, {
      method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` },
    });
  }
});
