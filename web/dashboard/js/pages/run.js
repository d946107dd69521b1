// run.js - one run (#/runs/<id>): summary, consolidation statistics, actions, partition grid
// and event timeline. Polls every 3 s while the run is active.
import { api } from '../api.js';
import { h, clear, fmt, badge, spinner, empty, errorBox, panel, progressBar, toast, confirmDialog, busy } from '../dom.js';
import { normRunDetail, actionMessage, isActive } from '../model.js';

const EVENT_KIND = {
  run_planned: 'info', partition_completed: 'ok', partition_failed: 'bad', partition_retried: 'warn',
  consolidation_started: 'info', consolidation_completed: 'ok', consolidation_failed: 'bad',
  consolidation_skipped: 'warn', run_cancelled: 'warn', continuation_repaired: 'warn',
};

function band(p) {
  const min = p.minPrice, max = p.maxPrice;
  if (min === undefined && max === undefined) return '—';
  if (max === undefined || Number(max) >= 1e8) return `${fmt.dollars(min)} and up`;
  return `${fmt.dollars(min)} – ${fmt.dollars(max)}`;
}

function detailText(d) {
  if (d === undefined || d === null) return null;
  if (typeof d !== 'object') return String(d);
  return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
}

function partitionGrid(parts) {
  if (parts.length === 0) return empty('No partitions yet', 'The scheduler has not planned this run\'s partitions, or the run was skipped.');
  parts.sort((a, b) => (Number(a.minPrice) || 0) - (Number(b.minPrice) || 0) || String(a.id).localeCompare(String(b.id)));
  return h('div', { class: 'table-wrap' }, h('table', { id: 'partitions' },
    h('thead', null, h('tr', null, h('th', null, 'Partition'), h('th', null, 'Price band'), h('th', { class: 'num' }, 'Estimate'), h('th', { class: 'num' }, 'Records'), h('th', { class: 'num' }, 'Next offset'), h('th', null, 'Progress'), h('th', null, 'Status'), h('th', null, 'Last error'))),
    h('tbody', null, parts.map((p) => h('tr', { 'data-partition-id': p.id, 'data-status': p.status },
      h('td', { class: 'mono' }, p.id),
      h('td', null, band(p)),
      h('td', { class: 'num' }, fmt.n(p.estimated)),
      h('td', { class: 'num' }, fmt.n(p.records)),
      h('td', { class: 'num' }, fmt.n(p.nextOffset)),
      h('td', null, h('div', { class: 'progress' }, h('div', { class: 'bar' }, h('span', { class: p.status === 'failed' ? 'bad' : p.status === 'completed' ? 'ok' : 'run', style: { width: (p.status === 'completed' ? 100 : p.estimated > 0 ? Math.min(100, (p.records / p.estimated) * 100) : 0) + '%' } })))),
      h('td', null, badge(p.status)),
      h('td', { class: 'wrap err-text' }, p.lastError || ''))))));
}

function timeline(events) {
  if (events.length === 0) return empty('No events recorded', 'Services log planning, partition and consolidation events here as they happen.');
  return h('div', { class: 'timeline-scroll' }, h('ol', { class: 'timeline', id: 'events' }, events.map((e) => h('li', null,
    h('span', { class: 'pt ' + (EVENT_KIND[e.event] || '') }),
    h('div', null,
      h('div', { class: 'ev' }, e.event.replace(/_/g, ' '), e.partitionId ? h('span', { class: 'text-muted mono' }, ` · ${e.partitionId}`) : null),
      h('div', { class: 'meta' }, fmt.date(e.at), detailText(e.detail) ? ' — ' + detailText(e.detail) : ''))))));
}

function consolidationStats(r) {
  const st = r.stats;
  const item = (k, label, cls) => h('div', { class: 'stat', 'data-stat': k }, h('div', { class: 'n ' + (cls || '') }, fmt.n(st[k] ?? 0)), h('div', { class: 't' }, label));
  return [h('div', { class: 'stat-row' }, item('new', 'New'), item('changed', 'Changed'), item('unchanged', 'Unchanged'), item('removed', 'Removed'), item('failed', 'Failed', Number(st.failed) > 0 ? 'text-bad' : '')),
    h('dl', { class: 'kv', style: { marginTop: '14px' } },
      h('dt', null, 'Processed'), h('dd', null, fmt.n(st.processed)),
      h('dt', null, 'Started'), h('dd', null, fmt.date(r.consolidationStartedAt)),
      h('dt', null, 'Completed'), h('dd', null, fmt.date(r.consolidationCompletedAt)),
      h('dt', null, 'Duration'), h('dd', null, r.consolidationDurationMs !== undefined ? fmt.duration(r.consolidationDurationMs) : '—'))];
}

export function render(view, { parts }) {
  const runId = parts[1];
  const body = h('div', null, spinner('Loading run…'));
  clear(view, h('div', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / ', h('span', { class: 'mono' }, runId)), body);
  let timer = null, alive = true;

  async function act(button, label, path, payload) {
    return busy(button, async () => {
      try {
        const res = await api.post(path, payload);
        toast(`${label}: ${actionMessage(res.data) || 'done'}`, 'ok');
        load();
      } catch (err) {
        toast(`${label} failed: ${err.message}${err.manualCommand ? ' — run: ' + err.manualCommand : ''}`, 'bad');
      }
    });
  }

  function actions(r) {
    const retry = h('button', { class: 'btn', type: 'button', id: 'act-retry', disabled: !(r.failed > 0) }, 'Retry failed partitions');
    const done = r.status === 'completed' || r.status === 'cancelled';
    const fetching = r.completed + r.failed < r.total;
    const why = done ? `The run is ${r.status}` : fetching ? 'Partitions are still fetching' : '';
    const cons = h('button', { class: 'btn', type: 'button', id: 'act-consolidate', disabled: done || fetching, title: why || 'Send CONSOLIDATE for this run' }, 'Consolidate');
    const force = h('button', { class: 'btn btn-danger', type: 'button', id: 'act-force', disabled: done || fetching || !(r.failed > 0),
      title: why || (r.failed > 0 ? 'Consolidate despite failed partitions' : 'No partition failed: plain Consolidate is enough') }, 'Force consolidate…');
    const cancel = h('button', { class: 'btn btn-danger', type: 'button', id: 'act-cancel', disabled: !isActive(r.status) }, 'Cancel run…');
    retry.addEventListener('click', () => act(retry, 'Retry', '/api/v2/triggers/retry-workers', { run_id: r.id }));
    cons.addEventListener('click', () => act(cons, 'Consolidate', '/api/v2/triggers/consolidate', { run_id: r.id, force: false }));
    force.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: 'Force consolidation?', danger: true, confirm: 'Force consolidate', cancel: 'Back',
        body: h('div', null, h('p', null, `This consolidates run ${fmt.shortId(r.id)} even though ${r.failed} of ${r.total} partitions failed.`),
          h('p', null, 'Stones from failed partitions are missing from this run, so removal detection is skipped; the watermark still advances.')) });
      if (ok) act(force, 'Force consolidate', '/api/v2/triggers/consolidate', { run_id: r.id, force: true });
    });
    cancel.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: 'Cancel this run?', danger: true, confirm: 'Cancel run', cancel: 'Keep it running',
        body: h('p', null, 'Partitions still in progress stop at their next page; nothing is consolidated and the watermark does not move.') });
      if (ok) act(cancel, 'Cancel', '/api/v2/triggers/cancel-run', { run_id: r.id });
    });
    return h('div', { class: 'actions' }, retry, cons, force, cancel);
  }

  async function load() {
    let res;
    try {
      res = await api.get(`/api/v2/analytics/runs/${encodeURIComponent(runId)}`);
    } catch (err) {
      if (alive) view.dataset.loaded = '1';
      if (alive) clear(body, err.status === 404 ? empty('Run not found', `No run has the id ${runId}.`, '?') : errorBox(err, 'the run'));
      return false;
    }
    if (!alive) return false;
    const { run: r, partitions, events } = normRunDetail(res.data);
    const active = isActive(r.status);
    clear(body,
      h('div', { class: 'page-head', id: 'run-head', 'data-status': r.status },
        h('div', null, h('h1', null, `${r.type[0].toUpperCase()}${r.type.slice(1)} run `, h('span', { class: 'mono' }, fmt.shortId(r.id)), ' ', badge(r.status)),
          h('div', { class: 'sub' }, `Started ${fmt.date(r.startedAt)} · ${active ? 'running for' : 'took'} ${fmt.duration(r.duration)}${active ? ' · refreshing every 3 s' : ''}`)),
        actions(r)),
      r.lastError ? h('div', { class: 'notice bad', style: { marginBottom: '16px' } }, h('strong', null, 'Last error: '), r.lastError) : null,
      h('div', { class: 'grid cards' },
        h('div', { class: 'panel card', 'data-stat': 'partitions' }, h('div', { class: 'label' }, 'Partitions'), h('div', { class: 'value' }, `${r.completed}/${r.total}`), h('div', { class: 'foot' }, progressBar(r.completed, r.failed, r.total))),
        h('div', { class: 'panel card' + (r.failed > 0 ? ' alert' : ''), 'data-stat': 'failed' }, h('div', { class: 'label' }, 'Failed partitions'), h('div', { class: 'value' }, fmt.n(r.failed)), h('div', { class: 'foot' }, r.failed > 0 ? 'retry them, or force consolidation' : 'none')),
        h('div', { class: 'panel card', 'data-stat': 'records' }, h('div', { class: 'label' }, 'Records fetched'), h('div', { class: 'value' }, fmt.n(r.records)), h('div', { class: 'foot' }, r.estimated !== undefined ? `estimate ${fmt.n(r.estimated)}${r.capped ? ' (capped)' : ''}` : '')),
        h('div', { class: 'panel card' }, h('div', { class: 'label' }, 'Updated window'), h('div', { class: 'value small' }, fmt.date(r.updatedTo)), h('div', { class: 'foot' }, `from ${fmt.date(r.updatedFrom)}`))),
      h('div', { class: 'grid two' },
        panel('Consolidation', consolidationStats(r)),
        panel('Run', h('dl', { class: 'kv' },
          h('dt', null, 'Run id'), h('dd', { class: 'mono' }, r.id),
          h('dt', null, 'Trace id'), h('dd', { class: 'mono' }, r.traceId || '—'),
          h('dt', null, 'Watermark before'), h('dd', null, fmt.date(r.watermarkBefore)),
          h('dt', null, 'Watermark after'), h('dd', null, fmt.date(r.watermarkAfter)),
          h('dt', null, 'Completed'), h('dd', null, fmt.date(r.completedAt)),
          h('dt', null, 'Cancelled'), h('dd', null, fmt.date(r.cancelledAt))))),
      panel(`Partitions (${partitions.length})`, partitionGrid(partitions), { flush: true, class: 'mb' }),
      panel(`Events (${events.length})`, timeline(events)));
    view.dataset.loaded = '1';
    return active;
  }
  const tick = () => load().then((active) => { if (alive && active) timer = setTimeout(tick, 3000); });
  tick();
  return () => { alive = false; clearTimeout(timer); };
}
