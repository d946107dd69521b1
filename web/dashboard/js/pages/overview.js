// overview.js - the pipeline at a glance: stat cards, availability, last 30 runs chart,
// recent runs and failed partitions. Refreshes every 15 s.
import { api } from '../api.js';
import { h, clear, fmt, badge, spinner, empty, errorBox, panel, progressBar, toast, busy } from '../dom.js';
import { barLineChart, compact } from '../chart.js';
import { items, runsPage, normSummary, normFailedWorker, parseMetrics } from '../model.js';

const WATERMARK_LIMIT_H = 48;
const AVAIL_COLORS = { available: '#22c55e', on_hold: '#60a5fa', sold: '#f87171', unavailable: '#94a3b8' };

function statCard(id, label, value, foot, alert = false) {
  return h('div', { class: 'panel card' + (alert ? ' alert' : ''), 'data-stat': id },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', 'data-value': '' }, value),
    foot ? h('div', { class: 'foot' }, foot) : null);
}

/* The card figures: the summary's, the week's runs and /metrics (dead letters and the watermark's
 * age; without /metrics the age is counted from the summary's current watermark). */
function figures(s, week, metrics) {
  let ageS = metrics ? metrics.watermarkAgeS : undefined;
  if (ageS === undefined && s.watermark) ageS = (Date.now() - new Date(s.watermark).getTime()) / 1000;
  const failed7 = week ? week.runs.filter((r) => r.failed > 0 || ['failed', 'partial', 'skipped'].includes(r.status)).length : undefined;
  return {
    active: s.activeDiamonds,
    lastSuccess: s.lastSuccessAt, ageS,
    runs7: week ? week.total : undefined, failed7,
    deadLetters: metrics ? metrics.deadLetters : null,
    feedWatermarks: metrics ? metrics.feedWatermarks : [],
    clashes: s.clashes,
  };
}

/* Several feeds (issue 18): each feed's watermark age under the card; one past the limit makes
 * the card an alert, as diamond check's threshold does. */
function feedAges(list) {
  if (!list || list.length < 2) return null;
  return h('div', { class: 'feed-ages' }, list.map((w, i) => {
    const over = w.ageS / 3600 > WATERMARK_LIMIT_H;
    return [i ? ' · ' : '', h('span', { class: over ? 'text-bad' : '', 'data-feed-watermark': w.feed, 'data-age-hours': (w.ageS / 3600).toFixed(3) },
      `${w.feed} ${fmt.duration(w.ageS * 1000)}`)];
  }));
}

function cards(f) {
  const ageH = f.ageS === undefined ? undefined : f.ageS / 3600;
  const feedStale = (f.feedWatermarks || []).length > 1 && f.feedWatermarks.some((w) => w.ageS / 3600 > WATERMARK_LIMIT_H);
  const ownStale = ageH === undefined || ageH > WATERMARK_LIMIT_H;
  const stale = ownStale || feedStale;
  const dl = f.deadLetters;
  const dlTotal = dl ? dl.reduce((a, q) => a + q.count, 0) : undefined;
  return h('div', { class: 'grid cards' },
    statCard('active-diamonds', 'Active diamonds', fmt.n(f.active), 'priced and searchable'),
    statCard('watermark', 'Last successful sync', h('span', { class: 'value-text', title: fmt.date(f.lastSuccess) }, f.lastSuccess ? fmt.ago(f.lastSuccess) : 'never'),
      [h('span', { class: ownStale ? 'text-bad' : '' }, 'Watermark age ', h('b', { 'data-watermark-age-hours': ageH === undefined ? '' : ageH.toFixed(3) }, ageH === undefined ? 'unknown' : fmt.duration(ageH * 3600e3)),
        ownStale ? (ageH === undefined ? ' — no watermark yet' : ` — over ${WATERMARK_LIMIT_H} h`) : ''),
      feedAges(f.feedWatermarks)], stale),
    statCard('runs-7d', 'Runs · last 7 days', fmt.n(f.runs7),
      h('span', { class: Number(f.failed7) > 0 ? 'text-bad' : '' }, h('b', { 'data-failed-runs': String(f.failed7 ?? '') }, fmt.n(f.failed7 ?? 0)), ' with failures'), Number(f.failed7) > 0),
    statCard('dead-letters', 'Dead letters', fmt.n(dlTotal),
      dl && dl.length ? dl.map((q, i) => [i ? ' · ' : '', `${q.name} ${fmt.n(q.count)}`]) : 'queue metrics unavailable', dlTotal > 0),
    // Several feeds (issue 18): offers of one certificate whose grading disagrees.
    f.clashes > 0 ? statCard('clashes', 'Identity clashes', h('a', { href: '#/clashes' }, fmt.n(f.clashes)),
      h('a', { href: '#/clashes' }, 'offers whose grading disagrees →'), true) : null);
}

function availabilityPanel(s) {
  const items = s.availability;
  const total = items.reduce((a, x) => a + x.count, 0);
  const body = total === 0 ? empty('No active diamonds yet', 'Run a full sync from Triggers to fill the catalogue.') : [
    h('div', { class: 'stacked', role: 'img', 'aria-label': 'Availability breakdown' },
      items.map((x) => h('span', { title: `${x.name}: ${x.count}`, style: { width: (x.count / total) * 100 + '%', background: AVAIL_COLORS[x.name] || '#cbd5e1' } }))),
    h('ul', { class: 'legend' }, items.map((x) => h('li', { 'data-availability': x.name },
      h('span', { class: 'sw', style: { background: AVAIL_COLORS[x.name] || '#cbd5e1' } }), x.name.replace(/_/g, ' '),
      h('span', { class: 'n' }, fmt.n(x.count)), h('span', { class: 'text-muted' }, total ? ((x.count / total) * 100).toFixed(1) + '%' : ''))))];
  return panel('Availability', body);
}

function chartPanel(runs) {
  const pts = runs.slice(0, 30).reverse().map((r) => ({
    label: r.startedAt ? new Date(r.startedAt).toLocaleDateString('en-GB', { day: '2-digit', month: 'short' }) : '',
    bar: r.records,
    line: (r.duration || 0) / 1000,
    failed: r.status === 'failed' || r.failed > 0,
    title: `${r.type} run ${fmt.shortId(r.id)} · ${r.status}\n${fmt.date(r.startedAt)}\n${fmt.n(r.records)} stones · ${fmt.duration(r.duration)}`,
  }));
  const body = pts.length === 0 ? empty('No runs yet', 'The chart fills in once runs have happened.')
    : barLineChart({ points: pts, barLabel: 'Stones processed', lineLabel: 'Duration (s)', failedLabel: 'Run with failures', barFormat: compact, lineFormat: (v) => compact(v) + 's', ariaLabel: 'Last 30 runs: stones processed and duration' });
  return panel('Last 30 runs', body, { right: h('span', { class: 'hint' }, 'stones processed and duration per run') });
}

function recentRunsPanel(runs) {
  if (runs.length === 0) return panel('Recent runs', empty('No runs yet', 'Start one from the Triggers page.'), { flush: true });
  const rows = runs.slice(0, 8).map((r) => h('tr', { class: 'clickable', tabindex: 0, onclick: () => { location.hash = `#/runs/${r.id}`; }, onkeydown: (e) => { if (e.key === 'Enter') location.hash = `#/runs/${r.id}`; } },
    h('td', null, h('a', { href: `#/runs/${r.id}`, class: 'mono' }, fmt.shortId(r.id))),
    h('td', null, r.type), h('td', null, badge(r.status)),
    h('td', null, fmt.ago(r.startedAt)),
    h('td', null, progressBar(r.completed, r.failed, r.total)),
    h('td', { class: 'num' }, fmt.n(r.records))));
  return panel('Recent runs', h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, h('th', null, 'Run'), h('th', null, 'Type'), h('th', null, 'Status'), h('th', null, 'Started'), h('th', null, 'Partitions'), h('th', { class: 'num' }, 'Records'))),
    h('tbody', null, rows))), { flush: true, right: h('a', { href: '#/runs' }, 'All runs →') });
}

function failedPanel(list, refresh) {
  if (list.length === 0) return panel('Failed partitions', empty('No failed partitions', 'Every partition of recent runs completed or is still in progress.', '✓'), { flush: true });
  const rows = list.slice(0, 12).map((f) => {
    const w = normFailedWorker(f);
    const retry = h('button', { class: 'btn btn-sm', type: 'button' }, 'Retry');
    retry.addEventListener('click', () => busy(retry, async () => {
      try {
        await api.post('/api/v2/triggers/retry-workers', { run_id: w.runId, partition_id: w.partitionId });
        toast(`Retry queued for partition ${w.partitionId}`, 'ok');
        refresh();
      } catch (err) { toast(`Retry failed: ${err.message}`, 'bad'); }
    }));
    return h('tr', null,
      h('td', null, h('a', { href: `#/runs/${w.runId}`, class: 'mono' }, fmt.shortId(w.runId))),
      h('td', { class: 'mono' }, w.partitionId),
      h('td', { class: 'wrap err-text' }, w.error || '—'),
      h('td', null, fmt.ago(w.at)),
      h('td', null, retry));
  });
  return panel(`Failed partitions (${list.length})`, h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, h('th', null, 'Run'), h('th', null, 'Partition'), h('th', null, 'Last error'), h('th', null, 'When'), h('th', null, ''))),
    h('tbody', null, rows))), { flush: true });
}

export function render(view) {
  const head = h('div', { class: 'page-head' },
    h('div', null, h('h1', null, 'Overview'), h('div', { class: 'sub' }, 'Pipeline health, catalogue and recent runs')),
    h('div', { class: 'actions' }, h('span', { class: 'refreshed', 'aria-live': 'polite' }, '')));
  const body = h('div', null, spinner('Loading overview…'));
  clear(view, head, body);
  let timer = null, alive = true;

  async function load() {
    const weekAgo = new Date(Date.now() - 7 * 86400e3).toISOString();
    const [sum, runsRes, weekRes, failedRes, metricsRes] = await Promise.allSettled([
      api.get('/api/v2/analytics/summary'),
      api.get('/api/v2/analytics/runs', { limit: 30, page: 1 }),
      api.get('/api/v2/analytics/runs', { started_after: weekAgo, limit: 100, page: 1 }),
      api.get('/api/v2/analytics/failed-workers', { limit: 50 }),
      api.text('/metrics'),
    ]);
    if (!alive) return;
    const s = sum.status === 'fulfilled' ? normSummary(sum.value.data) : null;
    const runs = runsRes.status === 'fulfilled' ? runsPage(runsRes.value).runs : [];
    const week = weekRes.status === 'fulfilled' ? runsPage(weekRes.value) : null;
    const failed = failedRes.status === 'fulfilled' ? items(failedRes.value) : [];
    const metrics = metricsRes.status === 'fulfilled' ? parseMetrics(metricsRes.value) : null;
    head.querySelector('.refreshed').textContent = 'Updated ' + new Date().toLocaleTimeString('en-GB');
    view.dataset.loaded = '1';
    if (sum.status === 'rejected' && runsRes.status === 'rejected' && failedRes.status === 'rejected') {
      clear(body, errorBox(sum.reason, 'the overview')); // one box when everything failed alike
      return;
    }
    clear(body,
      s ? cards(figures(s, week, metrics)) : errorBox(sum.reason, 'the summary'),
      h('div', { class: 'grid two' },
        runsRes.status === 'fulfilled' ? chartPanel(runs) : errorBox(runsRes.reason, 'runs'),
        h('div', { class: 'stack' },
          s ? availabilityPanel(s) : null,
          failedRes.status === 'fulfilled' ? failedPanel(failed, load) : errorBox(failedRes.reason, 'failed partitions'))),
      runsRes.status === 'fulfilled' ? recentRunsPanel(runs) : null);
    head.querySelector('.refreshed').textContent = 'Updated ' + new Date().toLocaleTimeString('en-GB');
    view.dataset.loaded = '1';
  }
  const tick = () => load().catch(() => {}).finally(() => { if (alive) timer = setTimeout(tick, 15000); });
  tick();
  return () => { alive = false; clearTimeout(timer); };
}

