// api.js - the one place that talks to the API (same origin, through the dashboard's proxy).
// The key lives in localStorage and travels as X-API-Key; any 401 signs the operator out.
// Bodies are read by model.js (the one place that knows the API's field names).
import { normError } from './model.js';

const KEY = 'diamond.apiKey';

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    const e = normError(body);
    this.status = status;
    this.code = code;
    this.body = body;
    this.details = e.details;
    this.manualCommand = e.manualCommand;
  }
}

export const auth = {
  get key() { try { return localStorage.getItem(KEY) || ''; } catch { return ''; } },
  set(key) { localStorage.setItem(KEY, key); },
  clear() { localStorage.removeItem(KEY); },
};

function qs(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

/* request(method, path, {query, body, key, noSignOut}) -> parsed JSON body (or null). */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const key = opts.key !== undefined ? opts.key : auth.key;
  if (key) headers['X-API-Key'] = key;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path + qs(opts.query), { method, headers, body, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', 'The dashboard server is not reachable (network error).');
  }
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (res.status === 401 && !opts.noSignOut) {
    auth.clear();
    window.dispatchEvent(new CustomEvent('diamond:unauthorized'));
  }
  if (!res.ok) {
    const err = normError(json);
    throw new ApiError(res.status, err.code || 'HTTP_' + res.status, err.message || `${res.status} ${res.statusText}`, json);
  }
  return json;
}

/* GET a text resource (e.g. /metrics) with the key; throws ApiError like request(). */
async function text(path) {
  const headers = {};
  if (auth.key) headers['X-API-Key'] = auth.key;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The dashboard server is not reachable (network error).');
  }
  if (!res.ok) throw new ApiError(res.status, 'HTTP_' + res.status, `${res.status} ${res.statusText}`, null);
  return res.text();
}

export const api = {
  text,
  get: (path, query, opts) => request('GET', path, { ...opts, query }),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),
  del: (path, opts) => request('DELETE', path, opts),
};
