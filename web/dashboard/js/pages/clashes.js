// clashes.js - identity clashes (issue 18): offers of one certificate (lab and number) from
// different feeds whose grading disagrees, kept apart in the catalogue. Each row: the
// certificate, the feeds offering it, the fields that differ, the split offer's grading and the
// grading the certificate is listed with. Paged (#/clashes?feed=&page=). A clash is a data
// problem at a supplier (docs/operations.md §12): nothing to fix in the pipeline.
import { api } from '../api.js';
import { h, clear, fmt, spinner, empty, errorBox } from '../dom.js';
import { clashesPage } from '../model.js';
import { setParams } from '../router.js';

const LIMIT = 50;
// clash_fields names -> the grading key the offers carry.
const FIELD_KEY = { carat: 'carats', colour: 'color', clarity: 'clarity', shape: 'shape' };

function grading(g, fields) {
  return h('span', { class: 'grading' }, ['shape', 'carats', 'color', 'clarity'].map((k, i) => {
    const differs = fields.some((f) => FIELD_KEY[f] === k);
    const v = k === 'carats' && g[k] !== undefined ? Number(g[k]).toFixed(2) + ' ct' : g[k];
    return [i ? ' · ' : '', h(differs ? 'b' : 'span', differs ? { class: 'text-bad', 'data-differs': k } : null, v ?? '—')];
  }));
}

export function render(view, { params }) {
  const state = { feed: params.get('feed') || '', page: Math.max(1, Number(params.get('page')) || 1) };
  const feedIn = h('input', { id: 'f-feed', name: 'feed', placeholder: 'All feeds', size: 12, autocomplete: 'off' });
  feedIn.value = state.feed;
  feedIn.addEventListener('change', () => setParams({ feed: feedIn.value.trim() }));
  const tableBox = h('div', null, spinner('Loading clashes…'));
  const pager = h('div', { class: 'pager' });
  clear(view,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Identity clashes'),
      h('div', { class: 'sub' }, 'Offers of the same certificate whose grading disagrees: listed apart until the suppliers agree'))),
    h('section', { class: 'panel', 'aria-label': 'Identity clashes' },
      h('div', { class: 'filters' },
        h('label', { class: 'field' }, h('span', null, 'Feed'), feedIn),
        state.feed ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => setParams({}) }, 'Clear filter') : null),
      tableBox, pager));

  let alive = true;
  (async () => {
    let res;
    try {
      res = await api.get('/api/v2/analytics/clashes', { feed: state.feed, limit: LIMIT, offset: (state.page - 1) * LIMIT });
    } catch (err) {
      if (alive) { clear(tableBox, errorBox(err, 'clashes')); view.dataset.loaded = '1'; }
      return;
    }
    if (!alive) return;
    const pg = clashesPage(res);
    if (pg.clashes.length === 0) {
      clear(tableBox, empty(state.feed ? 'No clashes in this feed' : 'No identity clashes',
        'Every certificate offered by several feeds has the same grading in each.', '✓'));
    } else {
      clear(tableBox, h('div', { class: 'table-wrap' }, h('table', { id: 'clashes-table' },
        h('thead', null, h('tr', null, ['Certificate', 'Feeds', 'Differs', 'Split offer', 'Its grading', 'Listed with'].map((t) => h('th', null, t)))),
        h('tbody', null, pg.clashes.map((c) => h('tr', { 'data-clash-id': c.id, 'data-certificate': `${c.lab} ${c.number}` },
          h('td', { class: 'mono' }, `${c.lab} ${c.number}`),
          h('td', { 'data-feeds': c.feeds.join(',') }, c.feeds.join(', ')),
          h('td', { 'data-fields': c.fields.join(',') }, c.fields.join(', ')),
          h('td', null, h('span', { 'data-feed': c.feed }, c.feed), ' ', h('span', { class: 'mono' }, c.stoneId)),
          h('td', null, grading(c.grading, c.fields)),
          h('td', null, c.listedAs ? [h('span', { 'data-listed-feed': c.listedAs.feed }, c.listedAs.feed), ' ', h('span', { class: 'mono' }, c.listedAs.stoneId), h('br'), grading(c.listedAs.grading, c.fields)] : '—')))))));
    }
    const total = pg.total || 0;
    const pages = Math.max(1, Math.ceil(total / LIMIT));
    const go = (p) => setParams({ feed: state.feed, page: p > 1 ? p : '' });
    clear(pager, h('span', { 'data-total': String(total) }, `${fmt.n(total)} clash${total === 1 ? '' : 'es'} · page ${state.page} of ${pages}`),
      h('div', { class: 'row' },
        h('button', { class: 'btn btn-sm', type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, '← Previous'),
        h('button', { class: 'btn btn-sm', type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next →')));
    view.dataset.loaded = '1';
  })();
  return () => { alive = false; };
}
