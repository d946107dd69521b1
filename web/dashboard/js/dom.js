// dom.js - element builder, formatting and small UI pieces shared by the pages.
// Everything is built with DOM nodes (never innerHTML with data), so API text cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'style' && typeof v === 'object') {
        for (const [p, pv] of Object.entries(v)) {
          if (p.startsWith('--')) el.style.setProperty(p, pv);
          else el.style[p] = pv;
        }
      }
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVGNS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const nf = new Intl.NumberFormat('en-US');
const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
export const fmt = {
  n(v) { return v === undefined || v === null || v === '' || Number.isNaN(Number(v)) ? '—' : nf.format(Number(v)); },
  money(v) { return v === undefined || v === null || v === '' ? '—' : usd.format(Number(v)); },
  dollars(v) { return v === undefined || v === null ? '—' : '$' + nf.format(Number(v)); },
  pct(v) { return v === undefined || v === null ? '—' : (Number(v) * 100).toFixed(1) + '%'; },
  date(v) {
    if (!v) return '—';
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return String(v);
    return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  },
  ago(v) {
    if (!v) return '—';
    const ms = Date.now() - new Date(v).getTime();
    if (Number.isNaN(ms)) return '—';
    return fmt.duration(Math.abs(ms)) + (ms >= 0 ? ' ago' : ' from now');
  },
  duration(ms) {
    if (ms === undefined || ms === null || Number.isNaN(Number(ms))) return '—';
    ms = Number(ms);
    if (ms < 1000) return Math.round(ms) + ' ms';
    const sec = ms / 1000;
    if (sec < 60) return sec.toFixed(sec < 10 ? 1 : 0) + ' s';
    const whole = Math.round(sec);
    const m = Math.floor(whole / 60), r = whole % 60;
    if (m < 60) return `${m} min ${r} s`;
    const hr = Math.floor(m / 60);
    if (hr < 48) return `${hr} h ${m % 60} min`;
    return `${Math.floor(hr / 24)} d ${hr % 24} h`;
  },
  shortId(v) { return v ? String(v).slice(0, 8) : '—'; },
};

export function badge(status, label) {
  const st = String(status || 'unknown').toLowerCase();
  return h('span', { class: `badge s-${st}` }, label || st.replace(/_/g, ' '));
}

export function spinner(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner' }), text);
}

export function empty(title, detail, icon = '◇') {
  return h('div', { class: 'empty' }, h('div', { class: 'big', 'aria-hidden': 'true' }, icon), h('strong', null, title), detail ? h('div', null, detail) : null);
}

export function errorBox(err, what) {
  let msg = err && err.message ? err.message : String(err);
  msg = msg.charAt(0).toUpperCase() + msg.slice(1);
  const hint = err && err.status === 502 ? ['The dashboard cannot reach the API. Is ', h('code', null, 'diamond api'), ' running, and does the dashboard\'s ', h('code', null, 'API_URL'), ' point at it?']
    : err && err.status === 504 ? 'The API did not answer in time; it may be overloaded or stuck on the database.'
    : err && err.status === 503 ? 'The API reports that a dependency (database or queue) is unavailable.'
    : err && err.status === 403 ? 'Your API key lacks the permission for this (admin is needed for triggers and pricing rules).'
    : null;
  return h('div', { class: 'error-box', role: 'alert' }, h('strong', null, what ? `Could not load ${what}` : 'Something went wrong'),
    msg, err && err.code ? h('span', { class: 'mono' }, ` (${err.code}${err.status ? ' ' + err.status : ''})`) : null,
    hint ? h('div', null, hint) : null);
}

export function panel(title, body, opts = {}) {
  return h('section', { class: 'panel ' + (opts.class || ''), 'aria-label': typeof title === 'string' ? title : undefined },
    title ? h('div', { class: 'panel-head' }, h('h2', null, title), opts.right || null) : null,
    h('div', { class: 'panel-body' + (opts.flush ? ' flush' : '') }, body));
}

export function progressBar(done, failed, total) {
  total = Number(total) || 0;
  done = Number(done) || 0;
  failed = Number(failed) || 0;
  const pct = (v) => (total > 0 ? Math.min(100, (v / total) * 100) : 0);
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': done + failed, title: `${done} completed, ${failed} failed of ${total}` },
    h('div', { class: 'bar' }, h('span', { class: 'ok', style: { width: pct(done) + '%' } }), h('span', { class: 'bad', style: { width: pct(failed) + '%' } })),
    h('span', { class: 'txt' }, `${done + failed}/${total}`));
}

export function toast(message, kind = '') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast ' + kind, role: kind === 'bad' ? 'alert' : 'status' }, message);
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 8000 : 4500);
}

/* Modal confirmation; resolves true when confirmed. Keyboard: Esc cancels, Enter on the focused button. */
export function confirmDialog({ title, body, confirm = 'Confirm', cancel: cancelLabel = 'Cancel', danger = false }) {
  return new Promise((resolve) => {
    const ok = h('button', { class: 'btn ' + (danger ? 'btn-danger solid' : 'btn-primary'), type: 'button' }, confirm);
    const cancel = h('button', { class: 'btn', type: 'button' }, cancelLabel);
    const dlg = h('dialog', { 'aria-label': title },
      h('div', { class: 'd-head' }, h('h2', null, title)),
      h('div', { class: 'd-body' }, body),
      h('div', { class: 'd-foot' }, cancel, ok));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/* Run an async action from a button: disables it and shows a spinner meanwhile. */
export async function busy(button, fn) {
  const old = Array.from(button.childNodes);
  button.disabled = true;
  button.replaceChildren(h('span', { class: 'spinner' }), ...old.map((n) => n.cloneNode(true)));
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.replaceChildren(...old);
  }
}
