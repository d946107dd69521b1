// runs.js - paged list of runs with feed/type/status filters kept in the URL
// (#/runs?feed=&type=&status=&page=).
// Refreshes every 10 s while any listed run is still active.
import { api } from '../api.js';
import { h, clear, fmt, badge, spinner, empty, errorBox, progressBar } from '../dom.js';
import { runsPage, RUN_STATUSES, isActive } from '../model.js';
import { setParams } from '../router.js';

const LIMIT = 20;

export function render(view, { params }) {
  const state = { feed: params.get('feed') || '', type: params.get('type') || '', status: params.get('status') || '', page: Math.max(1, Number(params.get('page')) || 1) };
  // The feeds seen in the listed runs are offered as suggestions; any feed id may be typed.
  const feedList = h('datalist', { id: 'feeds-seen' });
  const feedIn = h('input', { id: 'f-feed', name: 'feed', list: 'feeds-seen', placeholder: 'All feeds', size: 12, autocomplete: 'off' });
  feedIn.value = state.feed;
  const typeSel = h('select', { id: 'f-type', name: 'type' }, h('option', { value: '' }, 'All types'), h('option', { value: 'full' }, 'Full'), h('option', { value: 'incremental' }, 'Incremental'));
  const statusSel = h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'All statuses'), RUN_STATUSES.map((s) => h('option', { value: s }, s)));
  typeSel.value = state.type;
  statusSel.value = state.status;
  const onFilter = () => { setParams({ feed: feedIn.value.trim(), type: typeSel.value, status: statusSel.value }); };
  feedIn.addEventListener('change', onFilter);
  typeSel.addEventListener('change', onFilter);
  statusSel.addEventListener('change', onFilter);
  const tableBox = h('div', null, spinner('Loading runs…'));
  const pager = h('div', { class: 'pager' });
  const refreshed = h('span', { class: 'refreshed', 'aria-live': 'polite' });
  clear(view,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Runs'), h('div', { class: 'sub' }, 'Every scheduler run, newest first')), h('div', { class: 'actions' }, refreshed, h('a', { class: 'btn', href: '#/triggers' }, 'Start a run…'))),
    h('section', { class: 'panel', 'aria-label': 'Runs' },
      h('div', { class: 'filters' },
        h('label', { class: 'field' }, h('span', null, 'Feed'), feedIn, feedList),
        h('label', { class: 'field' }, h('span', null, 'Type'), typeSel),
        h('label', { class: 'field' }, h('span', null, 'Status'), statusSel),
        (state.feed || state.type || state.status) ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => setParams({}) }, 'Clear filters') : null),
      tableBox, pager));

  let timer = null, alive = true;
  async function load() {
    let res;
    try {
      res = await api.get('/api/v2/analytics/runs', { feed: state.feed, run_type: state.type, status: state.status, page: state.page, limit: LIMIT });
    } catch (err) {
      if (alive) { clear(tableBox, errorBox(err, 'runs')); view.dataset.loaded = '1'; }
      return false;
    }
    if (!alive) return false;
    const pg = runsPage(res);
    const runs = pg.runs;
    const filtered = state.feed || state.type || state.status;
    clear(feedList, [...new Set(runs.map((r) => r.feed).concat(state.feed ? [state.feed] : []))].map((f) => h('option', { value: f })));
    if (runs.length === 0) {
      clear(tableBox, empty(filtered ? 'No runs match these filters' : 'No runs yet',
        filtered ? 'Try another feed, type or status, or clear the filters.' : 'Start a full run from the Triggers page to fill the catalogue.'));
    } else {
      clear(tableBox, h('div', { class: 'table-wrap' }, h('table', { id: 'runs-table' },
        h('thead', null, h('tr', null, ['Run', 'Feed', 'Type', 'Status', 'Started', 'Duration', 'Partitions', 'Records', 'New', 'Changed', 'Removed'].map((t, i) => h('th', { class: i >= 7 ? 'num' : '' }, t)))),
        h('tbody', null, runs.map((r) => h('tr', { class: 'clickable', tabindex: 0, 'data-run-id': r.id, onclick: () => { location.hash = `#/runs/${r.id}`; }, onkeydown: (e) => { if (e.key === 'Enter') location.hash = `#/runs/${r.id}`; } },
          h('td', null, h('a', { href: `#/runs/${r.id}`, class: 'mono' }, fmt.shortId(r.id))),
          h('td', { 'data-feed': r.feed }, r.feed),
          h('td', null, r.type),
          h('td', null, badge(r.status)),
          h('td', { title: fmt.date(r.startedAt) }, fmt.ago(r.startedAt)),
          h('td', null, fmt.duration(r.duration)),
          h('td', null, progressBar(r.completed, r.failed, r.total)),
          h('td', { class: 'num' }, fmt.n(r.records)),
          h('td', { class: 'num' }, fmt.n(r.stats.new)),
          h('td', { class: 'num' }, fmt.n(r.stats.changed)),
          h('td', { class: 'num' }, fmt.n(r.stats.removed))))))));
    }
    const total = pg.total;
    const pages = Math.max(1, pg.totalPages);
    const go = (p) => setParams({ feed: state.feed, type: state.type, status: state.status, page: p > 1 ? p : '' });
    clear(pager, h('span', null, `${fmt.n(total)} run${total === 1 ? '' : 's'} · page ${state.page} of ${pages}`),
      h('div', { class: 'row' },
        h('button', { class: 'btn btn-sm', type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, '← Previous'),
        h('button', { class: 'btn btn-sm', type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next →')));
    refreshed.textContent = 'Updated ' + new Date().toLocaleTimeString('en-GB');
    view.dataset.loaded = '1';
    return runs.some((r) => isActive(r.status));
  }
  const tick = () => load().then((active) => { if (alive) timer = setTimeout(tick, active ? 3000 : 10000); });
  tick();
  return () => { alive = false; clearTimeout(timer); };
}
