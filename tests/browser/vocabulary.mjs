// vocabulary.mjs - the dashboard's model.js against the API's real answers (saved by
// tests/integration/dashboard_vocabulary.sh). Usage: node vocabulary.mjs DASHBOARD_JS_DIR ANSWERS_DIR
//
// Two checks, both of which fail when model.js reads a field under a name the API does not emit:
// 1. Every field model.js reads (or tests with `in`) from an API body is present at that place
//    in at least one of the API's answers of that kind. The bodies are handed to model.js
//    wrapped in a Proxy that records each read with its path (list items as []).
// 2. Every field of what the normalisers return is defined (not undefined, never NaN) in at least
//    one of the answers of that kind: a field that only ever comes out undefined reads nothing.
// Prints ok/FAIL lines and "N passed, N failed"; exits non-zero on any failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [jsDir, answers] = process.argv.slice(2);
if (!jsDir || !answers) {
  console.error('usage: node vocabulary.mjs DASHBOARD_JS_DIR ANSWERS_DIR');
  process.exit(2);
}

// The dashboard's modules are plain ES modules served as .js; node needs a package.json saying so.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-vocab-'));
fs.cpSync(jsDir, tmp, { recursive: true });
fs.writeFileSync(path.join(tmp, 'package.json'), '{"type": "module"}\n');
const model = await import(pathToFileURL(path.join(tmp, 'model.js')).href);
fs.rmSync(tmp, { recursive: true, force: true });

let passed = 0, failed = 0;
const check = (what, ok, detail) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} - ${what}${detail ? ` (${detail})` : ''}`);
};
const load = (name) => JSON.parse(fs.readFileSync(path.join(answers, `${name}.json`), 'utf8'));

// reads.get(kind) : Map(path -> present in at least one answer)
const reads = new Map();
function record(kind, p, present) {
  if (!reads.has(kind)) reads.set(kind, new Map());
  const m = reads.get(kind);
  m.set(p, (m.get(p) || false) || present);
}
const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
let tracing = false; // only model.js's reads count, not this test's look at what it returned
function trace(value, kind, p = '') {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(t, k, recv) {
      if (!tracing || typeof k !== 'string' || k === 'toJSON' || k === 'then') return Reflect.get(t, k, recv);
      if (Array.isArray(t)) return /^\d+$/.test(k) ? trace(t[k], kind, `${p}[]`) : Reflect.get(t, k, recv);
      record(kind, `${p}.${k}`, own(t, k));
      return trace(t[k], kind, `${p}.${k}`);
    },
    has(t, k) {
      if (tracing && typeof k === 'string' && !Array.isArray(t)) record(kind, `${p}.${k}`, own(t, k));
      return Reflect.has(t, k);
    },
  });
}

// outputs.get(kind) : Map(field path -> {defined, nan})
const outputs = new Map();
function collect(kind, value, p = '') {
  if (!outputs.has(kind)) outputs.set(kind, new Map());
  const m = outputs.get(kind);
  const note = (q, v) => {
    const e = m.get(q) || { defined: false, nan: false };
    if (v !== undefined && !(typeof v === 'number' && Number.isNaN(v))) e.defined = true;
    if (typeof v === 'number' && Number.isNaN(v)) e.nan = true;
    m.set(q, e);
  };
  for (const [k, v] of Object.entries(value)) {
    const q = p ? `${p}.${k}` : k;
    note(q, v);
    if (v && typeof v === 'object' && !Array.isArray(v) && v.constructor === Object) collect(kind, v, q);
  }
}

// Each kind: the answers of that kind, what the pages call on them, the normalised objects.
const kinds = {
  summary: () => ['summary'].map((n) => [model.normSummary(trace(load(n), 'summary').data)]),
  runs: () => ['runs', 'runs-week'].map((n) => {
    const pg = model.runsPage(trace(load(n), 'runs'));
    return [{ paging: { total: pg.total, totalPages: pg.totalPages } }, ...pg.runs];
  }),
  'run detail': () => ['run-completed', 'run-failed', 'run-cancelled'].map((n) => {
    const d = model.normRunDetail(trace(load(n), 'run detail').data);
    return [d.run, ...d.partitions, ...d.events];
  }),
  'failed workers': () => ['failed-workers'].map((n) => model.items(trace(load(n), 'failed workers')).map(model.normFailedWorker)),
  'pricing rules': () => ['rules', 'rule-created'].map((n) => {
    const b = trace(load(n), 'pricing rules');
    return Array.isArray(load(n).data) ? model.items(b).map(model.normRule) : [model.normRule(b.data)];
  }),
  search: () => ['diamonds'].map((n) => {
    const pg = model.searchPage(trace(load(n), 'search'));
    return [{ paging: { total: pg.total, totalPages: pg.totalPages, estimate: pg.estimate }, facets: pg.facets }, ...pg.diamonds];
  }),
  diamond: () => ['diamond'].map((n) => [model.normDiamond(trace(load(n), 'diamond').data)]),
  query: () => ['query-count'].map((n) => [{ total: model.queryTotal(trace(load(n), 'query')) }]),
  'action answers': () => ['retry', 'consolidate', 'cancel'].map((n) => [{ message: model.actionMessage(trace(load(n), 'action answers').data) }]),
  'scheduler trigger': () => ['scheduler'].map((n) => [model.normTriggered(trace(load(n), 'scheduler trigger').data)]),
  reprice: () => ['reprice'].map((n) => [model.normReprice(trace(load(n), 'reprice').data)]),
  errors: () => ['manual-command', 'validation-error'].map((n) => [model.normError(trace(load(n), 'errors'))]),
  health: () => ['health'].map((n) => [model.normHealth(trace(load(n), 'health'))]),
};

for (const [kind, run] of Object.entries(kinds)) {
  let objs;
  tracing = true;
  try {
    objs = run().flat();
  } catch (e) {
    check(`${kind}: model.js reads the API's answers without throwing`, false, e.message);
    continue;
  } finally {
    tracing = false;
  }
  for (const o of objs) collect(kind, o);
  const r = [...(reads.get(kind) || [])], o = [...(outputs.get(kind) || [])];
  for (const [p, present] of r) {
    if (!present) check(`${kind}: model.js reads ${p}, which the API emits`, false, 'no answer of this kind has it');
  }
  for (const [p, e] of o) {
    if (!e.defined || e.nan) check(`${kind}: normalised ${p} is defined`, false, e.nan ? 'NaN' : 'undefined in every answer');
  }
  check(`${kind}: every field model.js reads is in the API's answers`, r.length > 0 && r.every(([, present]) => present), `${r.length} fields`);
  check(`${kind}: every normalised field is defined`, o.length > 0 && o.every(([, e]) => e.defined && !e.nan), `${o.length} fields`);
}

// /metrics: the figures the overview's cards take from it.
const metrics = model.parseMetrics(fs.readFileSync(path.join(answers, 'metrics.txt'), 'utf8'));
check('metrics: dead-letter depth per queue read', metrics.deadLetters.length > 0 && metrics.deadLetters.every((q) => q.name && Number.isFinite(q.count)),
  JSON.stringify(metrics.deadLetters));
check('metrics: watermark age read', Number.isFinite(metrics.watermarkAgeS), String(metrics.watermarkAgeS));

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
