// triggers.js - start a full or incremental run; every action shows success, the API's error,
// or the manual_command it returned. The newest run is shown live below so the operator can
// watch the triggered run to completion.
import { api } from '../api.js';
import { h, clear, fmt, badge, errorBox, progressBar, busy, empty, spinner } from '../dom.js';
import { runsPage, normTriggered, isActive } from '../model.js';

function resultBox(kind, title, ...rest) {
  return h('div', { class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status', 'data-result': kind || 'pending' }, h('strong', null, title), ...rest);
}

function copyable(cmd) {
  const btn = h('button', { class: 'btn btn-sm', type: 'button' }, 'Copy');
  btn.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(cmd); btn.textContent = 'Copied'; } catch { btn.textContent = 'Select and copy'; }
  });
  return h('div', null, h('pre', { class: 'cmd', 'data-manual-command': '' }, cmd), h('div', { style: { marginTop: '6px' } }, btn));
}

export function render(view) {
  const out = h('div', { id: 'trigger-result', 'aria-live': 'polite' });
  const latest = h('div', null, spinner('Loading the latest run…'));

  function card(type, title, text) {
    const btn = h('button', { class: 'btn btn-primary', type: 'button', id: `trigger-${type}` }, `Start ${type} run`);
    btn.addEventListener('click', () => busy(btn, async () => {
      clear(out, resultBox('', `Starting ${type === 'full' ? 'a full' : 'an incremental'} run…`));
      try {
        const res = await api.post('/api/v2/triggers/scheduler', { run_type: type });
        const t = normTriggered(res.data);
        clear(out, resultBox('ok', `${type[0].toUpperCase() + type.slice(1)} run requested.`, ' ', t.message || '',
          t.requestId ? h('div', { class: 'text-muted' }, `Request ${t.requestId}`) : null));
        fastUntil = Date.now() + 60000; // the scheduler plans the run a moment later
        refresh();
      } catch (err) {
        clear(out, resultBox(err.manualCommand ? 'warn' : 'bad',
          err.status === 409 ? 'A run is already in progress. ' : `The run was not started (${err.status || 'network'} ${err.code}). `,
          err.message,
          err.manualCommand ? [h('div', null, 'The API cannot start the scheduler here. Run this instead:'), copyable(err.manualCommand)] : null));
      }
    }));
    return h('section', { class: 'panel card', 'aria-label': title }, h('h2', null, title), h('p', { class: 'text-muted' }, text), btn);
  }

  clear(view,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Triggers'), h('div', { class: 'sub' }, 'Start a scheduler run by hand. Only one run can be in progress at a time.'))),
    h('div', { class: 'grid halves' },
      card('incremental', 'Incremental run', 'Fetches stones updated since the watermark. Fast; the usual choice.'),
      card('full', 'Full run', 'Fetches the whole feed and removes stones that disappeared from it. Takes longer.')),
    out,
    h('section', { class: 'panel', 'aria-label': 'Latest run', style: { marginTop: '16px' } }, h('div', { class: 'panel-head' }, h('h2', null, 'Latest run'), h('a', { href: '#/runs' }, 'All runs →')), h('div', { class: 'panel-body' }, latest)));

  let timer = null, alive = true, fastUntil = 0;
  async function refresh() {
    clearTimeout(timer);
    let active = false;
    try {
      const res = await api.get('/api/v2/analytics/runs', { limit: 1, page: 1 });
      if (!alive) return;
      const r = runsPage(res).runs[0];
      if (!r) clear(latest, empty('No runs yet', 'Start one above.'));
      else {
        active = isActive(r.status);
        clear(latest, h('div', { class: 'row between', id: 'latest-run', 'data-run-id': r.id, 'data-status': r.status },
          h('div', null, h('a', { href: `#/runs/${r.id}`, class: 'mono' }, fmt.shortId(r.id)), ` · ${r.type} · started ${fmt.ago(r.startedAt)} · `, badge(r.status)),
          h('div', { class: 'row' }, progressBar(r.completed, r.failed, r.total), h('span', { class: 'text-muted' }, `${fmt.n(r.records)} records · ${fmt.duration(r.duration)}`))));
      }
      view.dataset.loaded = '1';
    } catch (err) {
      if (alive) { clear(latest, errorBox(err, 'the latest run')); view.dataset.loaded = '1'; }
    }
    if (alive) timer = setTimeout(refresh, active || Date.now() < fastUntil ? 2000 : 10000);
  }
  refresh();
  return () => { alive = false; clearTimeout(timer); };
}
