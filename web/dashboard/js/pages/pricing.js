// pricing.js - pricing rules: list in priority order (lower wins), create, edit, deactivate,
// move up/down (swaps priorities), preview how many active diamonds a rule's criteria match,
// and "reprice now" with the API's result counts.
import { api } from '../api.js';
import { h, clear, fmt, badge, spinner, empty, errorBox, toast, confirmDialog, busy } from '../dom.js';
import { items, searchPage, queryTotal, normRule, normReprice, ruleBody, SHAPES } from '../model.js';

function criteria(r) {
  const out = [];
  if (r.caratMin != null || r.caratMax != null) out.push(`${r.caratMin ?? 0}–${r.caratMax ?? '∞'} ct`);
  if (r.shapes && r.shapes.length) out.push(r.shapes.join(', '));
  if (r.labGrown === true) out.push('lab grown');
  if (r.labGrown === false) out.push('natural');
  if (r.feed) out.push(`feed ${r.feed}`);
  if (r.priceMin != null || r.priceMax != null) out.push(`feed price ${fmt.dollars(r.priceMin ?? 0)}–${r.priceMax != null ? fmt.dollars(r.priceMax) : '∞'}`);
  return out.length ? out.map((c) => h('span', { class: 'tag' }, c)) : h('span', { class: 'text-muted' }, 'every diamond');
}

/* Count the active diamonds whose attributes meet the rule's criteria (ignoring rules ahead of
 * it) -> {n, capped}. The search endpoint's total is exact; feed-price or feed criteria need the
 * analytics query endpoint (search filters on retail price), whose pagination.total counts every
 * row under the filters. */
export async function previewCount(f) {
  const b = ruleBody(f);
  if (b.price_min == null && b.price_max == null && !b.feed) {
    const res = await api.get('/api/v2/diamonds', {
      shape: b.shapes && b.shapes.length ? b.shapes : undefined,
      carat_min: b.carat_min ?? undefined, carat_max: b.carat_max ?? undefined,
      lab_grown: b.lab_grown === null ? undefined : String(b.lab_grown), limit: 1,
    });
    const pg = searchPage(res);
    return { n: pg.total, capped: pg.estimate };
  }
  const filters = [{ column: 'status', operator: 'eq', value: 'active' }];
  if (b.shapes && b.shapes.length) filters.push({ column: 'shape', operator: 'in', value: b.shapes });
  if (b.carat_min != null) filters.push({ column: 'carats', operator: 'gte', value: b.carat_min });
  if (b.carat_max != null) filters.push({ column: 'carats', operator: 'lte', value: b.carat_max });
  if (b.lab_grown != null) filters.push({ column: 'lab_grown', operator: 'eq', value: b.lab_grown });
  if (b.feed) filters.push({ column: 'feed', operator: 'eq', value: b.feed });
  if (b.price_min != null) filters.push({ column: 'feed_price', operator: 'gte', value: b.price_min });
  if (b.price_max != null) filters.push({ column: 'feed_price', operator: 'lte', value: b.price_max });
  const res = await api.post('/api/v2/analytics/query/diamonds', { select: 'id', filters, limit: 1 });
  return { n: queryTotal(res), capped: false };
}

function ruleForm(rule, nextPriority, onSaved) {
  const r = rule || { priority: nextPriority, shapes: [], markup: 1.15, active: true };
  const field = (name, label, input, cls = '') => h('label', { class: 'field ' + cls }, h('span', null, label), input);
  const inp = (name, value, attrs = {}) => h('input', { name, id: 'r-' + name, value: value ?? '', ...attrs });
  const labSel = h('select', { name: 'labGrown', id: 'r-labGrown' }, h('option', { value: '' }, 'Any'), h('option', { value: 'false' }, 'Natural only'), h('option', { value: 'true' }, 'Lab grown only'));
  labSel.value = r.labGrown === true ? 'true' : r.labGrown === false ? 'false' : '';
  const shapeBoxes = SHAPES.map((s) => h('label', null, h('input', { type: 'checkbox', name: 'shapes', value: s, checked: (r.shapes || []).map((x) => x.toUpperCase()).includes(s) }), s.toLowerCase()));
  const preview = h('div', { class: 'notice', id: 'rule-preview', 'aria-live': 'polite' }, 'Preview how many active diamonds these criteria match.');
  const err = h('div', { role: 'alert' });
  const form = h('form', { class: 'form-grid', id: 'rule-form' },
    field('name', 'Name', inp('name', r.name, { required: true, placeholder: 'e.g. Large rounds' }), 'full'),
    field('priority', 'Priority (lower wins)', inp('priority', r.priority, { type: 'number', min: 0, step: 1, required: true })),
    field('markup', 'Markup ratio', inp('markup', r.markup, { type: 'number', min: 0.0001, step: 0.0001, required: true })),
    field('caratMin', 'Carats from', inp('caratMin', r.caratMin, { type: 'number', min: 0, step: 0.01 })),
    field('caratMax', 'Carats to', inp('caratMax', r.caratMax, { type: 'number', min: 0, step: 0.01 })),
    field('priceMin', 'Feed price from ($)', inp('priceMin', r.priceMin, { type: 'number', min: 0, step: 0.01 })),
    field('priceMax', 'Feed price to ($)', inp('priceMax', r.priceMax, { type: 'number', min: 0, step: 0.01 })),
    field('labGrown', 'Origin', labSel),
    field('rating', 'Rating (1–10)', inp('rating', r.rating, { type: 'number', min: 1, max: 10, step: 1 })),
    h('fieldset', { class: 'field full', style: { border: 0, padding: 0, margin: 0 } }, h('legend', { class: 'text-muted', style: { fontSize: '12px', marginBottom: '4px' } }, 'Shapes (none = any)'), h('div', { class: 'checks' }, shapeBoxes)),
    h('div', { class: 'full' }, preview), h('div', { class: 'full' }, err));
  const values = () => {
    const f = new FormData(form);
    return { name: f.get('name'), priority: f.get('priority'), markup: f.get('markup'), caratMin: f.get('caratMin'), caratMax: f.get('caratMax'), priceMin: f.get('priceMin'), priceMax: f.get('priceMax'), labGrown: f.get('labGrown'), rating: f.get('rating'), shapes: f.getAll('shapes'), active: r.active };
  };
  const previewBtn = h('button', { class: 'btn', type: 'button', id: 'rule-preview-btn' }, 'Preview matches');
  previewBtn.addEventListener('click', () => busy(previewBtn, async () => {
    try {
      const { n, capped } = await previewCount(values());
      preview.className = 'notice ok';
      clear(preview, 'These criteria match ', h('b', { 'data-count': n }, fmt.n(n) + (capped ? '+' : '')), ` active diamond${n === 1 ? '' : 's'} (before rules with a lower priority number take theirs).`);
    } catch (e) {
      preview.className = 'notice bad';
      clear(preview, `Preview failed: ${e.message}`);
    }
  }));
  const save = h('button', { class: 'btn btn-primary', type: 'submit', id: 'rule-save' }, rule ? 'Save changes' : 'Create rule');
  const cancel = h('button', { class: 'btn', type: 'button' }, 'Cancel');
  const dlg = h('dialog', { class: 'wide', 'aria-labelledby': 'rule-dlg-title' },
    h('div', { class: 'd-head' }, h('h2', { id: 'rule-dlg-title' }, rule ? `Edit rule “${r.name || 'unnamed'}”` : 'New pricing rule')),
    h('div', { class: 'd-body' }, form),
    h('div', { class: 'd-foot' }, previewBtn, h('span', { style: { flex: 1 } }), cancel, save));
  const close = () => { dlg.close(); dlg.remove(); };
  cancel.addEventListener('click', close);
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  save.addEventListener('click', (e) => { e.preventDefault(); form.requestSubmit(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    busy(save, async () => {
      try {
        const body = ruleBody(values());
        if (rule) await api.put(`/api/v2/pricing-rules/${encodeURIComponent(rule.id)}`, body);
        else await api.post('/api/v2/pricing-rules', body);
        close();
        toast(rule ? 'Rule saved. Reprice to apply it to existing diamonds.' : 'Rule created. Reprice to apply it to existing diamonds.', 'ok');
        onSaved();
      } catch (ex) {
        clear(err, h('div', { class: 'notice bad' }, h('strong', null, 'Not saved: '), ex.message, ex.details ? ' — ' + JSON.stringify(ex.details) : ''));
      }
    });
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  form.querySelector('input').focus();
}

export function render(view) {
  const listBox = h('div', null, spinner('Loading pricing rules…'));
  const result = h('div', { id: 'reprice-result', 'aria-live': 'polite' });
  const newBtn = h('button', { class: 'btn btn-primary', type: 'button', id: 'rule-new' }, '+ New rule');
  const repriceBtn = h('button', { class: 'btn', type: 'button', id: 'reprice' }, 'Reprice now');
  const showInactive = h('input', { type: 'checkbox', id: 'show-inactive' });
  clear(view,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Pricing rules'), h('div', { class: 'sub' }, 'The first active rule (lowest priority number) whose criteria all hold sets a diamond\'s markup; no match means × 1.15.')),
      h('div', { class: 'actions' }, repriceBtn, newBtn)),
    result,
    h('section', { class: 'panel', 'aria-label': 'Pricing rules' },
      h('div', { class: 'filters' }, h('label', { class: 'row' }, showInactive, 'Show inactive rules')),
      listBox));

  let all = [];
  let alive = true;
  async function load() {
    let res;
    try {
      res = await api.get('/api/v2/pricing-rules', { include_inactive: 'true' });
    } catch (err) {
      if (alive) { clear(listBox, errorBox(err, 'pricing rules')); view.dataset.loaded = '1'; }
      return;
    }
    if (!alive) return;
    all = items(res).map(normRule).sort((a, b) => a.priority - b.priority || String(a.id).localeCompare(String(b.id)));
    draw();
    view.dataset.loaded = '1';
  }

  async function swap(a, b, btn) {
    await busy(btn, async () => {
      try {
        // Three writes so a unique priority constraint, if any, never sees a duplicate.
        const tmp = Math.max(...all.map((r) => r.priority)) + 1;
        await api.put(`/api/v2/pricing-rules/${a.id}`, { priority: tmp });
        await api.put(`/api/v2/pricing-rules/${b.id}`, { priority: a.priority });
        await api.put(`/api/v2/pricing-rules/${a.id}`, { priority: b.priority });
        toast(`“${a.name || 'rule'}” now has priority ${b.priority}. Reprice to apply.`, 'ok');
      } catch (err) { toast(`Reorder failed: ${err.message}`, 'bad'); }
      load();
    });
  }

  function draw() {
    const rules = showInactive.checked ? all : all.filter((r) => r.active);
    if (rules.length === 0) {
      clear(listBox, empty('No pricing rules', 'Every diamond gets the default × 1.15 markup. Create a rule to price a segment differently.', '%'));
      return;
    }
    const active = rules.filter((r) => r.active);
    clear(listBox, h('div', { class: 'table-wrap' }, h('table', { id: 'rules-table' },
      h('thead', null, h('tr', null, h('th', null, 'Order'), h('th', { class: 'num' }, 'Priority'), h('th', null, 'Name'), h('th', null, 'Criteria'), h('th', { class: 'num' }, 'Markup'), h('th', { class: 'num' }, 'Rating'), h('th', null, 'Status'), h('th', { class: 'num' }, 'Matches'), h('th', null, ''))),
      h('tbody', null, rules.map((r) => {
        const i = active.indexOf(r);
        const up = h('button', { class: 'btn btn-sm btn-ghost', type: 'button', 'data-action': 'up', title: 'Move up (higher precedence)', 'aria-label': `Move ${r.name} up`, disabled: !r.active || i <= 0 }, '↑');
        const down = h('button', { class: 'btn btn-sm btn-ghost', type: 'button', 'data-action': 'down', title: 'Move down', 'aria-label': `Move ${r.name} down`, disabled: !r.active || i < 0 || i >= active.length - 1 }, '↓');
        up.addEventListener('click', () => swap(r, active[i - 1], up));
        down.addEventListener('click', () => swap(r, active[i + 1], down));
        const matches = h('button', { class: 'btn btn-sm btn-ghost', type: 'button', title: 'Count active diamonds these criteria match' }, 'Count');
        matches.addEventListener('click', () => busy(matches, async () => {
          try {
            const { n, capped } = await previewCount(r);
            matches.replaceWith(h('span', { 'data-count': n }, fmt.n(n) + (capped ? '+' : '')));
          } catch (err) { toast(`Preview failed: ${err.message}`, 'bad'); }
        }));
        const edit = h('button', { class: 'btn btn-sm', type: 'button', 'data-action': 'edit' }, 'Edit');
        edit.addEventListener('click', () => ruleForm(r, null, load));
        const toggle = h('button', { class: 'btn btn-sm ' + (r.active ? 'btn-danger' : ''), type: 'button', 'data-action': r.active ? 'deactivate' : 'activate' }, r.active ? 'Deactivate' : 'Activate');
        toggle.addEventListener('click', async () => {
          if (r.active) {
            const ok = await confirmDialog({ title: 'Deactivate this rule?', danger: true, confirm: 'Deactivate', body: h('p', null, `“${r.name || 'unnamed'}” stops matching diamonds. Prices change only when you reprice.`) });
            if (!ok) return;
          }
          busy(toggle, async () => {
            try {
              await api.put(`/api/v2/pricing-rules/${encodeURIComponent(r.id)}`, { active: !r.active });
              toast(r.active ? 'Rule deactivated. Reprice to apply.' : 'Rule activated. Reprice to apply.', 'ok');
            } catch (err) { toast(`Failed: ${err.message}`, 'bad'); }
            load();
          });
        });
        const del = r.active ? null : h('button', { class: 'btn btn-sm btn-ghost', type: 'button', 'data-action': 'delete', title: 'Delete this inactive rule for good' }, 'Delete');
        if (del) del.addEventListener('click', async () => {
          const ok = await confirmDialog({ title: 'Delete this rule?', danger: true, confirm: 'Delete', body: h('p', null, `“${r.name || 'unnamed'}” is removed for good. Deactivating keeps it for later.`) });
          if (!ok) return;
          busy(del, async () => {
            try {
              await api.del(`/api/v2/pricing-rules/${encodeURIComponent(r.id)}`);
              toast('Rule deleted.', 'ok');
            } catch (err) { toast(`Failed: ${err.message}`, 'bad'); }
            load();
          });
        });
        return h('tr', { 'data-rule-id': r.id, 'data-rule-name': r.name },
          h('td', null, h('div', { class: 'row' }, up, down)),
          h('td', { class: 'num' }, r.priority),
          h('td', null, h('b', null, r.name || 'unnamed')),
          h('td', { class: 'wrap' }, criteria(r)),
          h('td', { class: 'num' }, `× ${r.markup.toFixed(4)}`),
          h('td', { class: 'num' }, r.rating ?? '—'),
          h('td', null, badge(r.active ? 'active' : 'inactive')),
          h('td', { class: 'num' }, matches),
          h('td', null, h('div', { class: 'row' }, edit, toggle, del)));
      })))));
  }

  showInactive.addEventListener('change', draw);
  newBtn.addEventListener('click', () => ruleForm(null, all.length ? Math.min(...all.filter((r) => r.active).map((r) => r.priority).concat([1000])) - 10 : 100, load));
  repriceBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Reprice every active diamond?', confirm: 'Reprice now', body: h('p', null, 'The active rules are applied to the whole catalogue now. Storefront prices change immediately.') });
    if (!ok) return;
    busy(repriceBtn, async () => {
      clear(result, h('div', { class: 'notice', style: { marginBottom: '16px' } }, h('span', { class: 'spinner' }), ' Repricing…'));
      try {
        const res = await api.post('/api/v2/pricing-rules/reprice', {});
        const d = normReprice(res.data);
        clear(result, h('div', { class: 'notice ok', style: { marginBottom: '16px' }, 'data-reprice': JSON.stringify(d) }, h('strong', null, 'Reprice finished. '),
          `examined: `, h('b', null, fmt.n(d.examined)), ' · updated: ', h('b', null, fmt.n(d.updated)),
          ' · prices changed: ', h('b', null, fmt.n(d.pricesChanged)), ' · took ', h('b', null, fmt.duration(d.durationMs))));
      } catch (err) {
        clear(result, h('div', { class: 'notice bad', style: { marginBottom: '16px' } }, h('strong', null, 'Reprice failed: '), err.message));
      }
    });
  });
  load();
  return () => { alive = false; };
}
