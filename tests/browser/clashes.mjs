// clashes.mjs - the dashboard's identity clashes (issue 18) in headless Chromium, against a real
// stack with clashes the consolidator found (tests/integration/dashboard_clashes.sh): the
// overview's clash card shows the summary's count and leads to the clash list; the list shows
// every clash the API lists (certificate, feeds, fields that differ, both gradings with the
// differing value marked); the feed filter narrows it; the watermark card lists each feed's age
// and alerts for a stale one. Env: BASE (dashboard), API, KEY, OUT
// (screenshots), WANT (JSON: [{certificate, feed, fields, feeds}] the database holds).
import { launch, watchConsole, check, summary, shot } from './lib.mjs';

const { BASE, API, KEY, OUT, WANT } = process.env;
for (const [k, v] of Object.entries({ BASE, API, KEY, OUT, WANT })) {
  if (!v) { console.error(`clashes.mjs: ${k} is not set`); process.exit(2); }
}
const want = JSON.parse(WANT);
const api = async (path) => (await fetch(API + path, { headers: { 'X-API-Key': KEY } })).json();
const go = async (page, hash) => {
  await page.evaluate(() => document.getElementById('view')?.removeAttribute('data-loaded'));
  await page.goto(`${BASE}/${hash}`);
  await page.waitForSelector('#view[data-loaded]');
};

const errors = [];
const { context, close } = await launch();
let failedHard = false;
try {
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort());
  const page = await context.newPage();
  page.setDefaultTimeout(90000);
  watchConsole(page, errors);

  await page.goto(`${BASE}/`);
  await page.waitForSelector('input[type=password]');
  await page.fill('input[type=password]', KEY);
  await page.click('button[type=submit]');
  await page.waitForSelector('#app[data-state=ready]');
  await page.waitForSelector('#view[data-loaded]');

  // ---- the overview's card: the summary's count, a link to the list
  const sum = (await api('/api/v2/analytics/summary')).data;
  await page.waitForSelector('[data-stat=clashes]');
  const shown = Number((await page.textContent('[data-stat=clashes] [data-value]')).replace(/[^0-9]/g, ''));
  check('overview: the clash card shows the summary\'s count', shown === sum.clashes && shown === want.length, `${shown} shown, ${sum.clashes} in the summary, ${want.length} in the database`);
  check('overview: the clash card is an alert', (await page.locator('[data-stat=clashes].alert').count()) === 1);
  // ---- the watermark card: each feed's age (beta's made 49 h old by the shell), an alert
  const ages = await page.$$eval('[data-stat=watermark] [data-feed-watermark]', (els) => Object.fromEntries(els.map((e) => [e.dataset.feedWatermark, { h: Number(e.dataset.ageHours), bad: e.classList.contains('text-bad') }])));
  check('overview: the watermark card lists each feed\'s age', Object.keys(ages).sort().join(',') === 'acme,beta', JSON.stringify(ages));
  check('overview: acme fresh, beta over 48 h and marked', ages.acme?.h < 1 && !ages.acme?.bad && ages.beta?.h > 48 && ages.beta?.bad, JSON.stringify(ages));
  check('overview: a stale feed makes the watermark card an alert', (await page.locator('[data-stat=watermark].alert').count()) === 1);
  await shot(page, OUT, 'clashes-01-overview');
  await page.evaluate(() => document.getElementById('view')?.removeAttribute('data-loaded'));
  await page.click('[data-stat=clashes] [data-value] a');
  await page.waitForSelector('#view[data-loaded]');
  check('overview: the card opens the clash list', page.url().endsWith('#/clashes'), page.url());
  check('navigation: Clashes is the current page', (await page.getAttribute('#nav a[data-page=clashes]', 'aria-current')) === 'page');

  // ---- the list: one row per clash the database holds, with what differs
  const rows = await page.$$eval('#clashes-table tbody tr', (trs) => trs.map((tr) => ({
    certificate: tr.dataset.certificate,
    feed: tr.querySelector('[data-feed]').dataset.feed,
    fields: tr.querySelector('[data-fields]').dataset.fields,
    feeds: tr.querySelector('[data-feeds]').dataset.feeds,
    listedFeed: tr.querySelector('[data-listed-feed]')?.dataset.listedFeed,
    marked: [...tr.querySelectorAll('[data-differs]')].map((b) => b.dataset.differs),
    text: tr.textContent,
  })));
  const key = (r) => `${r.certificate}|${r.feed}|${r.fields}|${r.feeds}`;
  check('list: one row per clash in the database', rows.length === want.length, `${rows.length} rows, ${want.length} clashes`);
  check('list: certificates, feeds and differing fields as the database has them',
    JSON.stringify(rows.map(key).sort()) === JSON.stringify(want.map(key).sort()), rows.map(key).join('; '));
  const FIELD = { carat: 'carats', colour: 'color', clarity: 'clarity', shape: 'shape' };
  check('list: the differing value is marked in both gradings',
    rows.length > 0 && rows.every((r) => r.marked.length === 2 * r.fields.split(',').length && r.marked.every((m) => r.fields.split(',').some((f) => FIELD[f] === m))),
    rows.map((r) => r.marked.join('+')).join(' '));
  check('list: each row names the offer the certificate is listed with', rows.every((r) => r.listedFeed && r.listedFeed !== r.feed));
  const total = Number(await page.getAttribute('[data-total]', 'data-total'));
  check('list: the pager counts them', total === want.length, String(total));
  await shot(page, OUT, 'clashes-02-list');

  // ---- the feed filter: the reference feed has no clashes of its own
  const refFeed = rows[0]?.listedFeed;
  await go(page, `#/clashes?feed=${refFeed}`);
  check(`filter: no clash of feed ${refFeed}`, (await page.locator('#clashes-table').count()) === 0 && /No clashes in this feed/.test(await page.textContent('#view')));
  const splitFeed = rows[0]?.feed;
  await go(page, `#/clashes?feed=${splitFeed}`);
  const n = await page.locator('#clashes-table tbody tr').count();
  check(`filter: feed ${splitFeed}'s clashes`, n === want.filter((w) => w.feed === splitFeed).length, String(n));
} catch (err) {
  failedHard = true;
  check('browser run completed without error', false, err.stack || String(err));
} finally {
  await close();
}
check('no console errors on any page', errors.length === 0, errors.join('\n      '));
process.exit(summary() && !failedHard ? 0 : 1);
