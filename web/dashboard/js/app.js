// app.js - bootstrap and hash router. Routes: #/overview, #/runs?type=&status=&page=,
// #/runs/<id>, #/diamonds?<filters>, #/pricing, #/triggers, #/clashes?feed=&page=, #/login.
// Each page module exports render(view, ctx) and may return a cleanup function (timers).
import { api, auth, ApiError } from './api.js';
import { h, clear, errorBox } from './dom.js';
import { parseHash } from './router.js';
import { normHealth } from './model.js';
import * as overview from './pages/overview.js';
import * as runs from './pages/runs.js';
import * as run from './pages/run.js';
import * as diamonds from './pages/diamonds.js';
import * as pricing from './pages/pricing.js';
import * as triggers from './pages/triggers.js';
import * as clashes from './pages/clashes.js';

const app = document.getElementById('app');
const view = document.getElementById('view');
let cleanup = null;
let loginNotice = '';

function renderLogin() {
  app.dataset.state = 'login';
  const input = h('input', { id: 'api-key', type: 'password', name: 'apiKey', autocomplete: 'current-password', placeholder: 'dk_…', required: true, 'aria-describedby': 'login-msg' });
  const msg = h('div', { id: 'login-msg', role: 'alert', class: loginNotice ? 'notice warn' : '' }, loginNotice || '');
  const button = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in');
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      button.disabled = true;
      clear(msg, h('span', { class: 'spinner' }), ' Checking the key…');
      msg.className = 'notice';
      try {
        await api.get('/api/v2/analytics/summary', null, { key, noSignOut: true });
        auth.set(key);
        loginNotice = '';
        if (!location.hash || location.hash.startsWith('#/login')) location.hash = '#/overview';
        else route();
      } catch (err) {
        msg.className = 'notice bad';
        if (err instanceof ApiError && err.status === 401) clear(msg, 'That API key was not accepted. Check it and try again.');
        else if (err instanceof ApiError && err.status === 403) {
          auth.set(key);
          loginNotice = '';
          route();
          return;
        } else clear(msg, `Cannot check the key: ${err.message}`);
        input.select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h('label', { class: 'field' }, h('span', null, 'API key'), input),
  button, msg);
  clear(view, h('div', { class: 'login' }, h('div', { class: 'box' },
    h('div', { class: 'brand' }, h('span', null, 'Diamond ', h('b', null, 'Ops'))),
    h('h1', null, 'Sign in'),
    h('p', null, 'Enter an operator API key (created with ', h('code', null, 'diamond apikey create'), '). It is kept in this browser only.'),
    form)));
  input.focus();
}

const pages = { overview, runs, diamonds, pricing, triggers, clashes };

export function route() {
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  document.querySelectorAll('.drawer, .scrim, dialog').forEach((el) => el.remove());
  if (!auth.key) { renderLogin(); return; }
  if (app.dataset.state !== 'ready') { app.dataset.state = 'ready'; setTimeout(checkHealth, 0); }
  const { parts, params } = parseHash();
  let name = parts[0] || 'overview';
  if (name === 'login') { location.hash = '#/overview'; return; }
  let mod = pages[name];
  if (name === 'runs' && parts[1]) mod = run;
  document.querySelectorAll('#nav a').forEach((a) => {
    const on = a.dataset.page === name;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  clear(view);
  if (!mod) {
    clear(view, errorBox(new Error(`There is no page "${name}". Use the navigation on the left.`)));
    return;
  }
  document.title = `${{ overview: 'Overview', runs: 'Runs', diamonds: 'Diamonds', pricing: 'Pricing rules', triggers: 'Triggers', clashes: 'Identity clashes' }[name] || 'Diamond'} · Diamond operations`;
  try {
    const c = mod.render(view, { parts, params });
    if (typeof c === 'function') cleanup = c;
  } catch (err) {
    clear(view, errorBox(err));
  }
}

async function checkHealth() {
  const el = document.getElementById('health');
  if (!el || app.dataset.state !== 'ready') return;
  try {
    const res = await fetch('/health', { cache: 'no-store' });
    const j = normHealth(await res.json().catch(() => ({})));
    const ok = res.ok && j.ok;
    el.className = 'health ' + (ok ? 'ok' : 'bad');
    el.querySelector('.label').textContent = ok ? 'API healthy' : `API ${j.status || 'unreachable'}` + (j.database === 'down' ? ' (database down)' : '');
  } catch {
    el.className = 'health bad';
    el.querySelector('.label').textContent = 'API unreachable';
  }
}

window.addEventListener('diamond:unauthorized', () => {
  loginNotice = 'Your session ended: the API answered 401 (key revoked, expired or wrong). Sign in again.';
  route();
});
window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', () => {
  auth.clear();
  loginNotice = 'Signed out.';
  route();
});
route();
checkHealth();
setInterval(checkHealth, 15000);
