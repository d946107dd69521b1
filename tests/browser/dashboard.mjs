// dashboard.mjs - drives the dashboard in headless Chromium against a real stack (started by
// tests/integration/dashboard_browser.sh) and compares what it shows with the API's answers.
// Env: BASE (dashboard URL), API (API URL, for direct comparisons), KEY (admin API key),
// RUN_ID (a completed run), FEEDSIM (feed simulator URL), OUT (screenshot directory).
// Prints ok/FAIL lines and exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { launch, watchConsole, check, summary, shot } from './lib.mjs';

const { BASE, API, KEY, RUN_ID, FEEDSIM, OUT } = process.env;
for (const [k, v] of Object.entries({ BASE, API, KEY, RUN_ID, FEEDSIM, OUT })) {
  if (!v) { console.error(`dashboard.mjs: ${k} is not set`); process.exit(2); }
}

const errors = [];      // console errors and exceptions, except what a step expects
// Chromium logs every 4xx fetch as "Failed to load resource": the wrong-key and session-end
// steps expect the API's 401, the invalid-filter step its 400. Nothing else is tolerated.
let expectStatus = null;
const api = async (path, opts = {}) => {
  const res = await fetch(API + path, { ...opts, headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json', ...(opts.headers || {}) } });
  const text = await res.text();
  return { status: res.status, json: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null, text };
};
const num = (s) => Number(String(s).replace(/[^0-9.-]/g, ''));
const until = async (what, fn, timeoutMs = 60000) => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
const loaded = async (page) => {
  await page.waitForSelector('#view[data-loaded]');
};
const go = async (page, hash) => {
  await page.evaluate(() => document.getElementById('view')?.removeAttribute('data-loaded'));
  await page.goto(`${BASE}/${hash}`);
  await loaded(page);
};

// A 1x1 PNG stands in for the supplier's image CDN (the test has no internet).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

const { context, close } = await launch();
let failedHard = false;
try {
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => {
    if (route.request().resourceType() === 'image') return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(90000); // generous: the test machine may be busy with other suites
  const sink = [];
  watchConsole(page, sink);
  const drain = (step) => {
    for (const e of sink.splice(0)) {
      if (expectStatus && new RegExp(`Failed to load resource: the server responded with a status of ${expectStatus} `).test(e)) continue;
      errors.push(`[${step}] ${e}`);
    }
  };

  // ---- login: wrong key refused, stays on the login page
  expectStatus = 401;
  await page.goto(`${BASE}/`);
  await page.waitForSelector('input[type=password]');
  check('login page has exactly one password field', (await page.locator('input[type=password]').count()) === 1);
  check('navigation hidden before login', !(await page.locator('#nav').isVisible()));
  await page.fill('input[type=password]', 'dk_this_is_not_a_key');
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-msg.notice.bad');
  const refused = await page.textContent('#login-msg');
  check('wrong key is refused with a message', /not accepted/i.test(refused), refused.trim());
  check('wrong key stays on the login page', await page.locator('input[type=password]').isVisible());
  check('wrong key is not stored', (await page.evaluate(() => localStorage.getItem('diamond.apiKey'))) === null);
  await shot(page, OUT, '01-login-refused');
  drain('login');
  expectStatus = null;

  // ---- login with the real key
  await page.fill('input[type=password]', KEY);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app[data-state=ready]');
  await loaded(page);
  const navNames = (await page.locator('#nav a').allTextContents()).map((t) => t.replace(/^[^A-Za-z]+/, '').trim());
  check('navigation links named Overview, Runs, Diamonds, Pricing rules, Triggers, Clashes',
    JSON.stringify(navNames) === JSON.stringify(['Overview', 'Runs', 'Diamonds', 'Pricing rules', 'Triggers', 'Clashes']), navNames.join(', '));
  check('key kept in localStorage', (await page.evaluate(() => localStorage.getItem('diamond.apiKey'))) === KEY);

  // ---- overview numbers equal the API's
  const sum = (await api('/api/v2/analytics/summary')).json.data;
  const weekAgo = new Date(Date.now() - 7 * 86400e3).toISOString();
  await page.waitForSelector('[data-stat=active-diamonds]');
  const shownActive = num(await page.textContent('[data-stat=active-diamonds] [data-value]'));
  check('overview: active diamonds equal the API summary', shownActive === sum.totalActive, `${shownActive} vs ${sum.totalActive}`);
  const week = (await api(`/api/v2/analytics/runs?started_after=${encodeURIComponent(weekAgo)}&limit=100`)).json;
  const shownRuns = num(await page.textContent('[data-stat=runs-7d] [data-value]'));
  check('overview: runs in the last 7 days equal the API', shownRuns === week.pagination.total, `${shownRuns} vs ${week.pagination.total}`);
  const failedWeek = week.data.filter((r) => r.failedWorkers > 0 || ['failed', 'partial', 'skipped'].includes(r.status)).length;
  check('overview: runs with failures equal the API', num(await page.getAttribute('[data-failed-runs]', 'data-failed-runs')) === failedWeek);
  const metrics = (await api('/metrics')).text;
  const dl = [...metrics.matchAll(/^diamond_queue_dead_letter\{queue="[^"]+"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  check('overview: dead letters equal /metrics', num(await page.textContent('[data-stat=dead-letters] [data-value]')) === dl, String(dl));
  const avail = await page.locator('[data-availability=available] .n').textContent();
  check('overview: available count equals the API', num(avail) === sum.available, `${avail} vs ${sum.available}`);
  const ageH = Number(await page.getAttribute('[data-watermark-age-hours]', 'data-watermark-age-hours'));
  check('overview: watermark age shown and fresh (< 48 h, not red)', ageH >= 0 && ageH < 48 &&
    !(await page.locator('[data-stat=watermark].alert').count()), `${ageH.toFixed(4)} h`);
  check('overview: chart of the last runs drawn (inline SVG bars)', (await page.locator('.chart svg rect.bar').count()) >= 1);
  check('overview: recent runs list the completed run', (await page.locator(`a[href="#/runs/${RUN_ID}"]`).count()) >= 1);
  await shot(page, OUT, '02-overview');
  drain('overview');

  // ---- runs: filters kept in the URL; open the run and see its partitions
  await go(page, '#/runs');
  await page.waitForSelector(`#runs-table tr[data-run-id="${RUN_ID}"]`);
  check('runs: the completed run is listed as completed', /completed/i.test(await page.textContent(`tr[data-run-id="${RUN_ID}"] .badge`)));
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.selectOption('#f-status', 'failed');
  await loaded(page);
  check('runs: status filter kept in the URL', page.url().includes('status=failed'), page.url());
  check('runs: filter with no match explains itself', /No runs match/.test(await page.textContent('#view')));
  await page.reload();
  await loaded(page);
  check('runs: filter survives a reload', (await page.inputValue('#f-status')) === 'failed');
  await go(page, '#/runs?type=full');
  await page.waitForSelector(`tr[data-run-id="${RUN_ID}"]`);
  await shot(page, OUT, '03-runs');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click(`tr[data-run-id="${RUN_ID}"]`);
  await loaded(page);
  await page.waitForSelector('#partitions');
  const runApi = (await api(`/api/v2/analytics/runs/${RUN_ID}`)).json.data;
  const shownParts = await page.locator('#partitions tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.partitionId));
  check('run detail: every partition of the run is shown', shownParts.length === runApi.partitions.length &&
    runApi.partitions.every((p) => shownParts.includes(p.partitionId)), `${shownParts.length} partitions`);
  const firstRecords = num(await page.locator('#partitions tbody tr').first().locator('td').nth(3).textContent());
  check('run detail: partition records equal the API', firstRecords === runApi.partitions.find((p) => p.partitionId === shownParts[0]).records);
  check('run detail: consolidation statistics shown', num(await page.textContent('[data-stat=new] .n')) === runApi.stats.new);
  check('run detail: event timeline shown', (await page.locator('#events li').count()) === runApi.events.length && runApi.events.length > 0);
  await shot(page, OUT, '04-run-detail');
  drain('runs');

  // ---- diamonds: search by shape and carat, open one
  await go(page, '#/diamonds');
  await page.waitForSelector('#diamonds-table');
  await page.selectOption('#f-shape', 'ROUND');
  await page.fill('#f-carat_min', '0.5');
  await page.fill('#f-carat_max', '1.5');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('#diamond-filters button[type=submit]');
  await loaded(page);
  check('diamonds: filters kept in the URL', /shape=ROUND/.test(page.url()) && /carat_min=0.5/.test(page.url()), page.url());
  const search = (await api('/api/v2/diamonds?shape=ROUND&carat_min=0.5&carat_max=1.5&limit=1')).json;
  const shownTotal = Number(await page.getAttribute('[data-total]', 'data-total'));
  check('diamonds: result count equals the API total', shownTotal === search.pagination.total && shownTotal > 0, `${shownTotal}`);
  // Facet counts beside the filters: the shape choices count stones of 0.5-1.5 ct whatever the
  // chosen shape (its own filter does not narrow them); the API's facets say the same.
  const facets = (await api('/api/v2/diamonds/facets?shape=ROUND&carat_min=0.5&carat_max=1.5')).json.data;
  const shapeCounts = await page.locator('#f-shape option').evaluateAll((os) => os.filter((o) => o.value).map((o) => [o.value, o.dataset.count, o.textContent]));
  check('diamonds: shape choices show facet counts from the API',
    shapeCounts.length > 1 && shapeCounts.every(([v, c]) => Number(c) === Number(facets.facets.shape[v] || 0)) &&
      shapeCounts.some(([v, c]) => v !== 'ROUND' && Number(c) > 0) && shapeCounts.every(([, c, t]) => t.includes('(')),
    JSON.stringify(shapeCounts.slice(0, 4)));
  const rows = await page.locator('#diamonds-table tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent)]));
  check('diamonds: every row is a round of 0.5-1.5 ct', rows.length > 0 && rows.every(([s, c]) => s === 'ROUND' && c >= 0.5 && c <= 1.5), `${rows.length} rows`);
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('#diamonds-table th button[data-sort=carats]');
  await loaded(page);
  const carats = await page.locator('#diamonds-table tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.cells[1].textContent)));
  check('diamonds: sorting by carats works', carats.every((c, i) => i === 0 || carats[i - 1] <= c) && /sort_by=carats/.test(page.url()));
  await shot(page, OUT, '05-diamonds');
  drain('diamonds');
  expectStatus = 400;
  await go(page, '#/diamonds?carat_min=2&carat_max=1');
  check('diamonds: invalid filters explained, not a crash', /not valid/.test(await page.textContent('#view')) && /carat/.test(await page.textContent('#view')));
  drain('diamonds-invalid');
  expectStatus = null;
  await go(page, '#/diamonds?shape=ROUND&carat_min=0.5&carat_max=1.5&sort_by=carats&sort_order=asc');
  const firstId = await page.getAttribute('#diamonds-table tbody tr', 'data-diamond-id');
  await page.click('#diamonds-table tbody tr');
  await page.waitForSelector('#pricing-breakdown');
  const one = (await api(`/api/v2/diamonds/${firstId}`)).json.data;
  check('diamond drawer: feed and retail prices equal the API',
    Number(await page.getAttribute('[data-feed-price]', 'data-feed-price')) === one.feedPrice &&
    Number(await page.getAttribute('[data-retail-price]', 'data-retail-price')) === one.retailPrice, `${one.feedPrice} -> ${one.retailPrice}`);
  check('diamond drawer: certificate and measurements shown', (await page.textContent('#diamond-drawer')).includes(one.certificateNumber || 'Not supplied'));
  await page.waitForTimeout(250); // drawer slide-in
  await shot(page, OUT, '06-diamond-drawer');
  await page.keyboard.press('Escape');
  check('diamond drawer closes with Escape', (await page.locator('#diamond-drawer').count()) === 0);
  drain('diamonds');

  // ---- pricing rules: create a rule, preview, reprice, see prices change
  const before = (await api('/api/v2/diamonds?shape=ROUND&limit=100&sort_by=feed_price')).json.data;
  await go(page, '#/pricing');
  await page.click('#rule-new');
  await page.fill('#r-name', 'Browser test rounds');
  await page.fill('#r-priority', '5');
  await page.fill('#r-markup', '1.5');
  await page.fill('#r-rating', '9');
  await page.check('input[name=shapes][value=ROUND]');
  await page.click('#rule-preview-btn');
  await page.waitForSelector('#rule-preview [data-count]');
  const rounds = (await api('/api/v2/diamonds?shape=ROUND&limit=1')).json.pagination.total;
  const preview = Number(await page.getAttribute('#rule-preview [data-count]', 'data-count'));
  check('pricing: match preview equals the number of active rounds', preview === rounds, `${preview} vs ${rounds}`);
  // Feed-price bounds go through the analytics query endpoint; the database has the truth.
  await page.fill('#r-priceMin', '1000');
  await page.fill('#r-priceMax', '5000');
  await page.click('#rule-preview-btn');
  await until('the feed-price preview', async () => Number(await page.getAttribute('#rule-preview [data-count]', 'data-count')) !== preview, 30000).catch(() => {});
  const banded = Number(await page.getAttribute('#rule-preview [data-count]', 'data-count'));
  const truth = process.env.DATABASE_URL ? Number(execFileSync('psql', ['-qAt', process.env.DATABASE_URL, '-c',
    "SELECT count(*) FROM diamonds WHERE status = 'active' AND shape = 'ROUND' AND feed_price BETWEEN 1000 AND 5000"]).toString().trim()) : NaN;
  check('pricing: match preview with feed-price bounds equals the database', banded === truth, `${banded} vs ${truth}`);
  await page.fill('#r-priceMin', '');
  await page.fill('#r-priceMax', '');
  await shot(page, OUT, '07-pricing-rule-form');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('#rule-save');
  await loaded(page);
  await page.waitForSelector('tr[data-rule-name="Browser test rounds"]');
  const rulesApi = (await api('/api/v2/pricing-rules')).json.data;
  const created = rulesApi.find((r) => r.name === 'Browser test rounds');
  check('pricing: rule created through the API', created && Number(created.markupRatio) === 1.5 && created.priority === 5);
  const order = await page.locator('#rules-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.ruleName));
  check('pricing: rules listed in priority order', order[0] === 'Browser test rounds', order.join(' > '));
  const ruleOrder = async () => (await page.locator('#rules-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.ruleName))).join(' > ');
  await page.click('tr[data-rule-name="Browser test rounds"] [data-action=down]');
  await until('the rule to move down', async () => (await ruleOrder()).startsWith('Default markup'), 20000);
  const swapped = (await api('/api/v2/pricing-rules')).json.data;
  check('pricing: moving a rule down swaps priorities', swapped.find((r) => r.id === created.id).priority === 1000 &&
    swapped.find((r) => r.name === 'Default markup').priority === 5, await ruleOrder());
  await page.click('tr[data-rule-name="Browser test rounds"] [data-action=up]');
  await until('the rule to move back up', async () => (await ruleOrder()).startsWith('Browser test rounds'), 20000);
  check('pricing: and back up', (await api('/api/v2/pricing-rules')).json.data.find((r) => r.id === created.id).priority === 5);
  await page.click('#reprice');
  await page.click('dialog .btn-primary');
  await page.waitForSelector('#reprice-result .notice.ok', { timeout: 120000 });
  const rep = JSON.parse(await page.getAttribute('#reprice-result .notice.ok', 'data-reprice'));
  check('pricing: reprice reports its counts', rep.examined === sum.totalActive && rep.pricesChanged >= rounds, JSON.stringify(rep));
  await shot(page, OUT, '08-pricing-rules');
  const after = (await api('/api/v2/diamonds?shape=ROUND&limit=100&sort_by=feed_price')).json.data;
  const cents = (x) => Math.round(x * 100);
  check('pricing: round retail prices are now feed x 1.5', after.length > 0 && after.every((d) => cents(d.retailPrice) === Math.round(cents(d.feedPrice) * 1.5) && d.pricingRuleId === created.id));
  const changed = after.filter((d) => { const b = before.find((x) => x.id === d.id); return b && b.retailPrice !== d.retailPrice; }).length;
  check('pricing: prices changed', changed === after.length, `${changed} of ${after.length}`);
  await go(page, `#/diamonds?shape=ROUND&sort_by=feed_price&sort_order=asc`);
  const roundId = await page.getAttribute('#diamonds-table tbody tr', 'data-diamond-id');
  await page.click('#diamonds-table tbody tr');
  await page.waitForSelector('#pricing-breakdown [data-rule]');
  const ruleShown = await page.getAttribute('#pricing-breakdown [data-rule]', 'data-rule');
  const retailShown = Number(await page.getAttribute('[data-retail-price]', 'data-retail-price'));
  const round = (await api(`/api/v2/diamonds/${roundId}`)).json.data;
  check('pricing: the drawer shows the new rule and retail price', ruleShown === 'Browser test rounds' && retailShown === round.retailPrice &&
    cents(retailShown) === Math.round(cents(round.feedPrice) * 1.5), `${ruleShown} ${round.feedPrice} -> ${retailShown}`);
  await page.keyboard.press('Escape');
  // edit (markup 1.5 -> 1.6) and deactivate, through the UI
  await go(page, '#/pricing');
  await page.click('tr[data-rule-name="Browser test rounds"] [data-action=edit]');
  await page.fill('#r-markup', '1.6');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('#rule-save');
  await loaded(page);
  let edited = (await api('/api/v2/pricing-rules')).json.data.find((r) => r.id === created.id);
  check('pricing: rule edited through the UI', Number(edited.markupRatio) === 1.6 && edited.shapes.join() === 'ROUND', String(edited.markupRatio));
  await page.click('tr[data-rule-name="Browser test rounds"] [data-action=deactivate]');
  await page.evaluate(() => document.getElementById('view').removeAttribute('data-loaded'));
  await page.click('dialog .btn-danger');
  await loaded(page);
  edited = (await api('/api/v2/pricing-rules')).json.data.find((r) => r.id === created.id);
  check('pricing: rule deactivated (kept, inactive)', edited && edited.active === false);
  check('pricing: inactive rule hidden from the list by default', (await page.locator('tr[data-rule-name="Browser test rounds"]').count()) === 0);
  await page.check('#show-inactive');
  check('pricing: inactive rule shown on request', (await page.locator('tr[data-rule-name="Browser test rounds"] .badge.s-inactive').count()) === 1);
  drain('pricing');

  // ---- run actions: a slow full run (feed latency), cancelled from its page with confirmation
  const faults = (body) => fetch(`${FEEDSIM}/admin/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  check('feed simulator slowed down', (await faults({ latency_ms: 1500 })).ok);
  await go(page, '#/triggers');
  await page.click('#trigger-full');
  await page.waitForSelector('#trigger-result [data-result]:not([data-result=pending])');
  check('triggers: full run accepted', (await page.getAttribute('#trigger-result [data-result]', 'data-result')) === 'ok', await page.textContent('#trigger-result'));
  const slowRun = await until('the slow full run to appear', async () => {
    const id = await page.getAttribute('#latest-run', 'data-run-id');
    return id && id !== RUN_ID && (await page.getAttribute('#latest-run', 'data-status')) === 'running' ? id : undefined;
  }, 60000);
  await go(page, `#/runs/${slowRun}`);
  await page.waitForSelector('#act-cancel:not([disabled])');
  check('run detail: a running run says so and polls', (await page.getAttribute('#run-head', 'data-status')) === 'running' && /refreshing/.test(await page.textContent('#run-head')));
  await page.click('#act-cancel');
  await page.waitForSelector('dialog[open]');
  await shot(page, OUT, '11-cancel-confirm');
  await page.click('dialog[open] .btn-danger');
  await until('the run page to show the cancellation', async () => (await page.getAttribute('#run-head', 'data-status')) === 'cancelled', 30000);
  const cancelled = (await api(`/api/v2/analytics/runs/${slowRun}`)).json.data;
  check('run detail: cancel (after confirmation) cancelled the run', cancelled.status === 'cancelled' && !!cancelled.cancelledAt, cancelled.status);
  check('run detail: the cancellation is on the timeline', (await page.locator('#events .ev', { hasText: 'run cancelled' }).count()) >= 1);
  check('feed simulator back to normal speed', (await faults({ latency_ms: 0 })).ok);
  drain('cancel');

  // ---- triggers: incremental run, watch it complete
  const churn = await fetch(`${FEEDSIM}/admin/churn`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ percent: 5 }) });
  check('feed simulator churned (so the incremental window has stones)', churn.ok, String(churn.status));
  await new Promise((r) => setTimeout(r, 1100)); // the incremental window ends at "now": let the churn fall inside it
  await go(page, '#/triggers');
  await page.click('#trigger-incremental');
  await page.waitForSelector('#trigger-result [data-result]:not([data-result=pending])');
  const result = await page.getAttribute('#trigger-result [data-result]', 'data-result');
  check('triggers: incremental run accepted', result === 'ok', await page.textContent('#trigger-result'));
  const latest = await until('a new run in the Latest run panel', async () => {
    const id = await page.getAttribute('#latest-run', 'data-run-id');
    return id && id !== RUN_ID && id !== slowRun ? id : undefined;
  }, 60000);
  await until('the triggered run to complete', async () => (await page.getAttribute('#latest-run', 'data-status')) === 'completed', 120000);
  const runNow = (await api(`/api/v2/analytics/runs/${latest}`)).json.data;
  check('triggers: the triggered run is incremental and completed', runNow.runType === 'incremental' && runNow.status === 'completed', `${latest} ${runNow.status}`);
  await shot(page, OUT, '09-triggers');
  drain('triggers');

  // ---- keyboard: navigation links reachable and usable without a mouse
  await page.focus('#nav a[data-page=runs]');
  await page.keyboard.press('Enter');
  await loaded(page);
  check('keyboard: Enter on a navigation link opens the page', page.url().includes('#/runs'));
  drain('keyboard');

  // ---- a 401 anywhere returns to the login page
  expectStatus = 401;
  await page.evaluate(() => localStorage.setItem('diamond.apiKey', 'dk_revoked_or_expired_key'));
  await page.goto(`${BASE}/#/overview`);
  await page.waitForSelector('input[type=password]');
  check('401 returns to the login page', await page.locator('input[type=password]').isVisible());
  check('401 explains why the session ended', /401/.test(await page.textContent('#login-msg')));
  check('401 forgets the stored key', (await page.evaluate(() => localStorage.getItem('diamond.apiKey'))) === null);
  await shot(page, OUT, '10-session-ended');
  drain('401');
  expectStatus = null;
} catch (err) {
  failedHard = true;
  check(`browser run completed without error`, false, err.stack || String(err));
} finally {
  await close();
}
check('no console errors on any page', errors.length === 0, errors.join('\n      '));
process.exit(summary() && !failedHard ? 0 : 1);
