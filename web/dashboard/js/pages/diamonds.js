// diamonds.js - catalogue search with the API's filters (kept in the URL), sortable paged
// table and a detail drawer with image, certificate, measurements and the pricing breakdown.
import { api } from '../api.js';
import { h, clear, fmt, badge, spinner, empty, errorBox } from '../dom.js';
import { SHAPES, COLORS, CLARITIES, AVAILABILITIES, FINISH_GRADES, FLUORESCENCE, items, searchPage, normDiamond, normRule } from '../model.js';
import { setParams } from '../router.js';

const LIMIT = 25;
const FILTERS = ['shape', 'carat_min', 'carat_max', 'color', 'clarity', 'cut', 'fluorescence', 'lab_grown', 'price_min', 'price_max', 'availability'];
const COLUMNS = [
  { key: 'shape', label: 'Shape' },
  { key: 'carats', label: 'Carats', sort: 'carats', num: true },
  { key: 'color', label: 'Color', sort: 'color' },
  { key: 'clarity', label: 'Clarity', sort: 'clarity' },
  { key: 'cut', label: 'Cut' },
  { key: 'lab', label: 'Origin' },
  { key: 'feedPrice', label: 'Feed price', sort: 'feed_price', num: true },
  { key: 'retailPrice', label: 'Retail', sort: 'retail_price', num: true },
  { key: 'availability', label: 'Availability' },
  { key: 'createdAt', label: 'Added', sort: 'created_at' },
];

let rulesCache = null;
async function rules() {
  if (rulesCache) return rulesCache;
  try {
    const res = await api.get('/api/v2/pricing-rules');
    rulesCache = items(res).map(normRule);
    setTimeout(() => { rulesCache = null; }, 30000);
  } catch {
    return [];
  }
  return rulesCache;
}

function cell(x, key) {
  switch (key) {
    case 'carats': return Number(x.carats).toFixed(2);
    case 'lab': return x.labGrown ? 'Lab grown' : 'Natural';
    case 'feedPrice': return fmt.money(x.feedPrice);
    case 'retailPrice': return h('b', null, fmt.money(x.retailPrice));
    case 'availability': return badge(x.availability);
    case 'createdAt': return fmt.ago(x.createdAt);
    default: return x[key] ?? '—';
  }
}

function select(name, label, options, value, any = 'Any') {
  const el = h('select', { name, id: 'f-' + name }, h('option', { value: '' }, any), options.map((o) => Array.isArray(o) ? h('option', { value: o[0] }, o[1]) : h('option', { value: o }, o)));
  el.value = value || '';
  return h('label', { class: 'field' }, h('span', null, label), el);
}
function num(name, label, value, step = 'any') {
  return h('label', { class: 'field' }, h('span', null, label), h('input', { type: 'number', name, id: 'f-' + name, min: 0, step, value: value || '' }));
}

export function render(view, { params }) {
  rulesCache = null; // rules may have changed on the Pricing rules page
  const q = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || '']));
  const sortBy = params.get('sort_by') || 'created_at';
  const sortOrder = params.get('sort_order') || 'desc';
  const page = Math.max(1, Number(params.get('page')) || 1);

  const form = h('form', { class: 'filters', id: 'diamond-filters', role: 'search' },
    select('shape', 'Shape', SHAPES, q.shape),
    num('carat_min', 'Carat from', q.carat_min, '0.01'),
    num('carat_max', 'Carat to', q.carat_max, '0.01'),
    select('color', 'Color', COLORS, q.color),
    select('clarity', 'Clarity', CLARITIES, q.clarity),
    select('cut', 'Cut', FINISH_GRADES, q.cut),
    select('fluorescence', 'Fluorescence', FLUORESCENCE, q.fluorescence),
    select('lab_grown', 'Origin', [['false', 'Natural'], ['true', 'Lab grown']], q.lab_grown),
    num('price_min', 'Retail from $', q.price_min, '1'),
    num('price_max', 'Retail to $', q.price_max, '1'),
    select('availability', 'Availability', AVAILABILITIES.map((a) => [a, a.replace('_', ' ')]), q.availability, 'All'),
    h('div', { class: 'row' },
      h('button', { class: 'btn btn-primary', type: 'submit' }, 'Search'),
      h('button', { class: 'btn btn-ghost', type: 'button', onclick: () => setParams({}) }, 'Reset')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const next = {};
    for (const k of FILTERS) next[k] = (f.get(k) || '').toString().trim();
    setParams({ ...next, sort_by: sortBy !== 'created_at' ? sortBy : '', sort_order: sortOrder !== 'desc' ? sortOrder : '' });
  });

  const tableBox = h('div', null, spinner('Searching diamonds…'));
  const pager = h('div', { class: 'pager' });
  const count = h('span', { class: 'refreshed', 'aria-live': 'polite' });
  clear(view,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Diamonds'), h('div', { class: 'sub' }, 'Active catalogue, searched through the storefront API')), h('div', { class: 'actions' }, count)),
    h('section', { class: 'panel', 'aria-label': 'Diamond search' }, form, tableBox, pager));

  const go = (over) => setParams({ ...q, sort_by: sortBy, sort_order: sortOrder, page: page > 1 ? page : '', ...over });
  const sortHeader = (c) => {
    if (!c.sort) return h('th', { class: c.num ? 'num' : '' }, c.label);
    const on = sortBy === c.sort;
    const next = on && sortOrder === 'desc' ? 'asc' : on ? 'desc' : (c.sort === 'created_at' ? 'desc' : 'asc');
    return h('th', { class: c.num ? 'num' : '', 'aria-sort': on ? (sortOrder === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { class: 'sort' + (on ? ' on' : ''), type: 'button', 'data-sort': c.sort, onclick: () => go({ sort_by: c.sort, sort_order: next, page: '' }) },
        c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, on ? (sortOrder === 'asc' ? '▲' : '▼') : '↕')));
  };

  let alive = true;
  (async () => {
    let res;
    const search = { ...q, sort_by: sortBy, sort_order: sortOrder, page, limit: LIMIT };
    try {
      // Facet counts come with the page in one request (the API's search index); an API
      // without its index answers 503 to include=facets: then the page alone.
      try {
        res = await api.get('/api/v2/diamonds', { ...search, include: 'facets' });
      } catch (err) {
        if (err.status !== 503) throw err;
        res = await api.get('/api/v2/diamonds', search);
      }
    } catch (err) {
      if (!alive) return;
      view.dataset.loaded = '1';
      clear(tableBox, err.status === 400 ? h('div', { class: 'panel-body' }, h('div', { class: 'notice bad', role: 'alert' }, h('strong', null, 'These filters are not valid: '), err.message, err.details ? ' — ' + JSON.stringify(err.details) : '')) : errorBox(err, 'diamonds'));
      return;
    }
    if (!alive) return;
    const pg = searchPage(res);
    if (pg.facets) showCounts(form, pg.facets);
    const list = pg.diamonds;
    const total = pg.total;
    const pages = Math.max(1, pg.totalPages);
    count.textContent = `${fmt.n(total)}${pg.estimate ? '+' : ''} diamond${total === 1 ? '' : 's'}`;
    count.dataset.total = String(total);
    if (list.length === 0) {
      clear(tableBox, empty('No diamonds match', Object.values(q).some(Boolean) ? 'Widen the carat or price range, or reset the filters.' : 'The catalogue is empty: run a full sync from Triggers.'));
    } else {
      clear(tableBox, h('div', { class: 'table-wrap' }, h('table', { id: 'diamonds-table' },
        h('thead', null, h('tr', null, COLUMNS.map(sortHeader))),
        h('tbody', null, list.map((x) => {
          const tr = h('tr', { class: 'clickable', tabindex: 0, 'data-diamond-id': x.id }, COLUMNS.map((c) => h('td', { class: c.num ? 'num' : '' }, cell(x, c.key))));
          const open = () => { view.querySelectorAll('tr.selected').forEach((t) => t.classList.remove('selected')); tr.classList.add('selected'); openDrawer(x, tr); };
          tr.addEventListener('click', open);
          tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } });
          return tr;
        })))));
    }
    clear(pager, h('span', null, `Page ${page} of ${fmt.n(pages)}`),
      h('div', { class: 'row' },
        h('button', { class: 'btn btn-sm', type: 'button', disabled: page <= 1, onclick: () => go({ page: page - 1 > 1 ? page - 1 : '' }) }, '← Previous'),
        h('button', { class: 'btn btn-sm', type: 'button', disabled: page >= pages, onclick: () => go({ page: page + 1 }) }, 'Next →')));
    view.dataset.loaded = '1';
  })();
  return () => { alive = false; };
}

// Counts beside each choice of the filters: how many stones the choice would give with the
// other filters as they are (a dimension's own filter does not narrow its own counts).
function showCounts(form, facets) {
  for (const [name, counts] of Object.entries(facets)) {
    const sel = form.querySelector(`select[name="${name}"]`);
    if (!sel || !counts) continue;
    for (const opt of sel.options) {
      if (!opt.value) continue;
      if (!opt.dataset.label) opt.dataset.label = opt.textContent;
      const n = Number(counts[name === 'color' || name === 'clarity' || name === 'cut' || name === 'fluorescence' ? opt.value.toUpperCase() : opt.value] || 0);
      opt.dataset.count = String(n);
      opt.textContent = `${opt.dataset.label} (${fmt.n(n)})`;
    }
  }
}

function openDrawer(summary, returnFocus) {
  document.querySelectorAll('.drawer, .scrim').forEach((el) => el.remove());
  const body = h('div', { class: 'dr-body' }, spinner('Loading diamond…'));
  const closeBtn = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'aria-label': 'Close details' }, '✕ Close');
  const title = h('h2', { id: 'drawer-title' }, `${Number(summary.carats).toFixed(2)} ct ${summary.shape || ''}`);
  const drawer = h('aside', { class: 'drawer', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'drawer-title', id: 'diamond-drawer' },
    h('div', { class: 'dr-head' }, h('div', null, title, h('div', { class: 'text-muted mono' }, summary.id)), closeBtn), body);
  const scrim = h('div', { class: 'scrim' });
  const close = () => { drawer.remove(); scrim.remove(); document.removeEventListener('keydown', onKey); if (returnFocus) returnFocus.focus(); };
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  closeBtn.addEventListener('click', close);
  scrim.addEventListener('click', close);
  document.addEventListener('keydown', onKey);
  document.body.append(scrim, drawer);
  requestAnimationFrame(() => drawer.classList.add('open'));
  closeBtn.focus();

  Promise.all([api.get(`/api/v2/diamonds/${encodeURIComponent(summary.id)}`).then((r) => normDiamond(r.data)), rules()]).then(([x, rs]) => {
    const rule = rs.find((r) => r.id === x.ruleId);
    const markup = Number(x.markup ?? (x.feedPrice ? x.retailPrice / x.feedPrice : NaN));
    const img = h('div', { class: 'img' }, x.imageUrl ? null : 'No image from the supplier');
    if (x.imageUrl) {
      const el = h('img', { src: x.imageUrl, alt: `${x.shape} diamond`, loading: 'lazy' });
      el.addEventListener('error', () => clear(img, 'Image could not be loaded'));
      img.appendChild(el);
    }
    const m = x.measurements;
    const mText = (k) => m[k] !== undefined ? String(m[k]) : '—';
    clear(body,
      img,
      h('div', { class: 'row between' }, badge(x.availability), h('span', { class: 'text-muted' }, x.labGrown ? 'Lab grown' : 'Natural', x.treated ? ' · treated' : '')),
      h('section', { 'aria-label': 'Pricing' }, h('h3', null, 'Pricing'),
        h('div', { class: 'breakdown', id: 'pricing-breakdown' },
          h('span', null, 'Feed price'), h('span', { 'data-feed-price': x.feedPrice }, fmt.money(x.feedPrice)),
          h('span', null, 'Rule matched'), h('span', { 'data-rule': rule ? rule.name : x.ruleId || '' }, rule ? `${rule.name || 'unnamed'} (priority ${rule.priority})` : x.ruleId ? fmt.shortId(x.ruleId) : 'default markup (no rule)'),
          h('span', null, 'Markup'), h('span', null, Number.isFinite(markup) ? `× ${markup.toFixed(4)}` : '—'),
          h('span', null, 'Rating'), h('span', null, x.rating ?? '—'),
          h('span', null, 'Price per carat'), h('span', null, fmt.money(x.pricePerCarat)),
          h('span', { class: 'total' }, 'Retail price'), h('span', { class: 'total', 'data-retail-price': x.retailPrice }, fmt.money(x.retailPrice)))),
      h('section', { 'aria-label': 'Grading' }, h('h3', null, 'Grading'), h('dl', { class: 'kv' },
        h('dt', null, 'Shape'), h('dd', null, x.shape || '—'), h('dt', null, 'Carats'), h('dd', null, Number(x.carats).toFixed(2)),
        h('dt', null, 'Color'), h('dd', null, x.color || '—'), h('dt', null, 'Clarity'), h('dd', null, x.clarity || '—'),
        h('dt', null, 'Cut'), h('dd', null, x.cut || '—'), h('dt', null, 'Polish'), h('dd', null, x.polish || '—'),
        h('dt', null, 'Symmetry'), h('dd', null, x.symmetry || '—'), h('dt', null, 'Fluorescence'), h('dd', null, x.fluorescence || '—'))),
      h('section', { 'aria-label': 'Certificate' }, h('h3', null, 'Certificate'), h('dl', { class: 'kv' },
        h('dt', null, 'Lab'), h('dd', null, x.certLab || '—'),
        h('dt', null, 'Number'), h('dd', { class: 'mono' }, x.certNumber || '—'),
        h('dt', null, 'Document'), h('dd', null, x.certUrl ? h('a', { href: x.certUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Open certificate ↗') : '—'))),
      h('section', { 'aria-label': 'Measurements' }, h('h3', null, 'Measurements'), !m ? h('div', { class: 'text-muted' }, 'Not supplied') : h('dl', { class: 'kv' },
        h('dt', null, 'Length × width × depth'), h('dd', null, `${mText('length')} × ${mText('width')} × ${mText('depth')} mm`),
        m.rest.map(([k, v]) => [h('dt', null, k.replace(/([A-Z])/g, ' $1').replace(/_/g, ' ')), h('dd', null, typeof v === 'object' ? JSON.stringify(v) : String(v))]))),
      h('section', { 'aria-label': 'Supplier' }, h('h3', null, 'Supplier'), h('dl', { class: 'kv' },
        h('dt', null, 'Supplier'), h('dd', null, x.supplier || '—'),
        h('dt', null, 'Feed'), h('dd', null, x.feed || '—'),
        h('dt', null, 'Stone id'), h('dd', { class: 'mono' }, x.supplierStoneId || '—'),
        h('dt', null, 'Video'), h('dd', null, x.videoUrl ? h('a', { href: x.videoUrl, target: '_blank', rel: 'noopener noreferrer' }, 'Open video ↗') : '—'),
        h('dt', null, 'Updated'), h('dd', null, fmt.date(x.updatedAt)))));
  }).catch((err) => clear(body, errorBox(err, 'this diamond')));
}
