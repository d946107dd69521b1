// search_diff.mjs - the differential check of tests/integration/search_index_diff.sh: seeded
// random searches sent to two `diamond api` processes on one database, one answering from the
// in-memory search index (API_SEARCH_INDEX=on) and one from PostgreSQL (API_SEARCH_INDEX=off,
// the reference), compared byte for byte.
//
//   node search_diff.mjs --idx URL --sql URL --key KEY --db DATABASE_URL --seed N
//                        --queries N --phase NAME --out DIR
//
// What one run checks:
//  - every query (random filters in all three list forms, case variants, tie values at range
//    edges, lookups by certificate number and supplier stock id, any sort, page, limit,
//    include=facets, synthetic keyset cursors): same status; a 200 body identical byte for byte
//    apart from the index's "facets" member; a 400 body identical; same ETag;
//  - keyset chains: some queries follow nextCursor for several pages on both;
//  - invalid parameter values: the same 400 body;
//  - get by id (active, deleted, unknown, upper-case, malformed ids): same status, body, ETag;
//  - totals: every 200 answer's total equals an exact count by psql of the same filters,
//    totalIsEstimate is false, totalPages = ceil(total / limit);
//  - ETag/304: If-None-Match with the index's ETag gives 304 and no body;
//  - facets (sample): GET /api/v2/diamonds/facets: every facet count equals a GROUP BY in SQL
//    in which the dimension's own filter is left out; histograms sum to the count with the
//    range's own filter left out and no bucket holds more stones than lie in its [min, max];
//    include=facets on the search carries the same object as the facets route;
//  - preconditions: most valid queries answered 200 by both, most found stones, cursors were
//    followed, enough queries compared.
// Prints a summary (the last line is JSON: counts for the shell test) and, on the first
// difference, the query and both bodies. Exit 1 on any difference or failed precondition.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const IDX = args.idx, SQL = args.sql, KEY = args.key, DB = args.db;
const SEED = Number(args.seed || 1), NQ = Number(args.queries || 3000), PHASE = args.phase || 'run';
const OUT = args.out || '.';
const CONC = Number(args.concurrency || 6);
if (!IDX || !SQL || !KEY || !DB) { console.error('usage: search_diff.mjs --idx URL --sql URL --key KEY --db URL ...'); process.exit(2); }

// ---- seeded randomness (mulberry32) ----
let st = SEED >>> 0;
function rnd() {
  st = (st + 0x6D2B79F5) >>> 0;
  let t = st;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (a, b) => a + Math.floor(rnd() * (b - a + 1)); // inclusive
const pick = (a) => a[Math.floor(rnd() * a.length)];
const chance = (p) => rnd() < p;
function pickN(a, n) {
  const out = [];
  const pool = [...a];
  while (out.length < n && pool.length) out.push(pool.splice(Math.floor(rnd() * pool.length), 1)[0]);
  return out;
}
const caseVariant = (s) => (chance(0.6) ? s : chance(0.5) ? s.toLowerCase() : s.toUpperCase());

// ---- psql ----
function psql(sql) {
  return execFileSync('psql', ['-qAtX', '-v', 'ON_ERROR_STOP=1', DB], { input: sql, maxBuffer: 256 << 20 }).toString('utf8');
}
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

// ---- the fixture's values ----
const vocab = JSON.parse(psql(`SELECT json_build_object(
  'shape', (SELECT json_agg(DISTINCT shape) FROM diamonds),
  'color', (SELECT json_agg(DISTINCT color) FROM diamonds),
  'clarity', (SELECT json_agg(DISTINCT clarity) FROM diamonds),
  'cut', (SELECT json_agg(DISTINCT cut) FROM diamonds WHERE cut IS NOT NULL),
  'polish', (SELECT json_agg(DISTINCT polish) FROM diamonds WHERE polish IS NOT NULL),
  'symmetry', (SELECT json_agg(DISTINCT symmetry) FROM diamonds WHERE symmetry IS NOT NULL),
  'fluorescence', (SELECT json_agg(DISTINCT fluorescence) FROM diamonds WHERE fluorescence IS NOT NULL),
  'feed', (SELECT json_agg(DISTINCT feed) FROM diamonds),
  'cert', (SELECT json_agg(c) FROM (SELECT certificate_number c FROM diamonds WHERE certificate_number IS NOT NULL
           ORDER BY (certificate_number !~ '^C[0-9]+$') DESC, md5(id::text) LIMIT 150) t),
  'ssid', (SELECT json_agg(s) FROM (SELECT supplier_stone_id s FROM diamonds
           ORDER BY (supplier_stone_id !~ '^S-[0-9]+$') DESC, md5(id::text) LIMIT 250) t),
  'carats', (SELECT json_agg(DISTINCT carats::text) FROM diamonds),
  'prices', (SELECT json_agg(DISTINCT retail_price::text) FROM diamonds),
  'created', (SELECT json_agg(DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM diamonds),
  'ids', (SELECT json_agg(id) FROM (SELECT id FROM diamonds ORDER BY md5(id::text || 'x') LIMIT 200) t),
  'deleted', (SELECT coalesce(json_agg(id), '[]') FROM (SELECT id FROM diamonds WHERE status = 'deleted' ORDER BY md5(id::text) LIMIT 30) t))`));

const COLORS = 'DEFGHIJKLMNOPQRSTUVWXYZ'.split('');
const CLARITIES = ['FL', 'IF', 'VVS1', 'VVS2', 'VS1', 'VS2', 'SI1', 'SI2', 'SI3', 'I1', 'I2', 'I3'];
const SORTS = ['created_at', 'retail_price', 'feed_price', 'price_model_price', 'carats', 'color', 'clarity'];
const AVAIL = ['available', 'on_hold', 'sold', 'unavailable'];

// ---- queries: a list of [key, value] pairs ----
function listParam(q, name, values) {
  const form = ri(1, 4);
  if (form === 1 || values.length === 1) for (const v of values) q.push([name, v]);
  else if (form === 2) for (const v of values) q.push([name + '[]', v]);
  else if (form === 3) values.forEach((v, i) => q.push([`${name}[${i}]`, v]));
  else q.push([name, values.join(chance(0.3) ? ' , ' : ',')]);
}
function run(a, maxLen) {
  const len = ri(1, maxLen);
  const first = ri(0, a.length - len);
  return a.slice(first, first + len);
}
function numText(x, decimals) {
  let s = x.toFixed(decimals);
  if (chance(0.1)) s = '+' + s;
  if (chance(0.1)) s = '00' + s.replace(/^\+/, '');
  return s;
}
function genFilters(q) {
  if (chance(0.55)) {
    const shapes = pickN(vocab.shape, ri(1, 3)).map(caseVariant);
    if (chance(0.1)) shapes.push('TRILLION');
    listParam(q, 'shape', shapes);
  }
  if (chance(0.5)) listParam(q, 'color', (chance(0.7) ? run(COLORS.slice(0, 12), 5) : pickN(vocab.color.filter((c) => c.trim() !== '' || chance(0.2)), ri(1, 3))).map(caseVariant));
  if (chance(0.5)) listParam(q, 'clarity', (chance(0.7) ? run(CLARITIES, 4) : pickN(vocab.clarity, ri(1, 3))).map(caseVariant));
  for (const d of ['cut', 'polish', 'symmetry', 'fluorescence']) {
    if (chance(0.12)) listParam(q, d, pickN(vocab[d], ri(1, 2)).map(caseVariant));
  }
  if (chance(0.2)) listParam(q, 'availability', pickN(AVAIL, ri(1, 3)).map(caseVariant));
  if (chance(0.15)) listParam(q, 'feed', pickN(vocab.feed, ri(1, 2)).map(caseVariant));
  if (chance(0.4)) {
    const tie = chance(0.5);
    let lo = tie ? Number(pick(vocab.carats)) : ri(20, 400) / 100 + (chance(0.2) ? ri(0, 99) / 10000 : 0);
    let hi = tie ? Number(pick(vocab.carats)) : lo + ri(0, 300) / 100;
    if (lo > hi) [lo, hi] = [hi, lo];
    const dec = tie ? 2 : ri(0, 4);
    const which = ri(1, 3);
    if (which !== 2) q.push(['carat_min', numText(lo, dec)]);
    if (which !== 1) q.push(['carat_max', numText(hi, Math.max(dec, 2))]);
  }
  if (chance(0.35)) {
    const tie = chance(0.5);
    let lo = tie ? Number(pick(vocab.prices)) : ri(0, 8000) + (chance(0.3) ? ri(0, 99) / 100 : 0);
    let hi = tie ? Number(pick(vocab.prices)) : lo + ri(0, 6000);
    if (lo > hi) [lo, hi] = [hi, lo];
    const which = ri(1, 3);
    if (which !== 2) q.push(['price_min', numText(lo, ri(0, 2))]);
    if (which !== 1) q.push(['price_max', numText(hi, 2)]);
  }
  if (chance(0.25)) q.push(['lab_grown', chance(0.5) ? 'true' : 'false']);
  if (chance(0.07)) listParam(q, 'certificate_number', [...pickN(vocab.cert, ri(1, 2)), ...(chance(0.2) ? ['NO-SUCH-CERT'] : [])]);
  // (Ids with control characters are refused as values: the invalid queries send those.)
  if (chance(0.07)) listParam(q, 'supplier_stone_id', pickN(vocab.ssid.filter((x) => !/[\x00-\x1f\x7f]/.test(x)), ri(1, 2)));
}
function b64url(s) { return Buffer.from(s).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }
function syntheticCursor() {
  const s = pick(['created_at', 'retail_price', 'feed_price', 'carats', 'color', 'clarity']);
  const k = s === 'created_at' ? pick(vocab.created)
    : s === 'retail_price' || s === 'feed_price' ? pick(vocab.prices)
      : s === 'carats' ? pick(vocab.carats) : String(pick([1, 2, 3, 5, 8, 12, 99]));
  const id = chance(0.7) ? pick(vocab.ids) : (chance(0.5) ? '00000000-0000-0000-0000-000000000000' : 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  const d = chance(0.5) ? 'asc' : 'desc';
  return { s, d, cursor: b64url(JSON.stringify({ s, d, k, id })) };
}
function genQuery() {
  const q = [];
  genFilters(q);
  if (chance(0.85)) q.push(['sort_by', pick(SORTS)]);
  if (chance(0.8)) q.push(['sort_order', chance(0.5) ? 'asc' : 'desc']);
  if (chance(0.7)) q.push(['page', String(chance(0.85) ? ri(1, 5) : ri(6, 300))]);
  if (chance(0.8)) q.push(['limit', String(chance(0.8) ? ri(20, 50) : ri(1, 100))]);
  if (chance(0.1)) q.push(['include', 'facets']);
  if (chance(0.08)) {
    // A cursor must come with its own sort (else 400, which the invalid queries cover).
    const c = syntheticCursor();
    for (let i = q.length - 1; i >= 0; i--) if (q[i][0] === 'sort_by' || q[i][0] === 'sort_order') q.splice(i, 1);
    if (c.s !== 'created_at' || chance(0.5)) q.push(['sort_by', c.s]);
    if (c.d !== 'desc' || chance(0.5)) q.push(['sort_order', c.d]);
    q.push(['cursor', c.cursor]);
  }
  if (chance(0.05)) q.push(['utm_source', 'newsletter']);
  for (let i = q.length - 1; i > 0; i--) { const j = ri(0, i); [q[i], q[j]] = [q[j], q[i]]; }
  return q;
}
const INVALID = [
  ['limit', '0'], ['limit', '101'], ['limit', 'abc'], ['limit', ''], ['limit', '2.5'], ['page', '0'], ['page', '-1'],
  ['page', '1000001'], ['sort_by', 'name'], ['sort_by', 'CARATS'], ['sort_order', 'up'], ['lab_grown', 'yes'],
  ['lab_grown', ''], ['carat_min', 'x'], ['carat_min', '1.23456'], ['carat_min', '-1'], ['carat_max', '1e3'],
  ['price_max', '12.345'], ['price_min', '-0.01'], ['availability', 'lost'], ['availability', 'available,gone'],
  ['include', 'everything'], ['include', 'FACETS'], ['cursor', 'zzz'], ['cursor', b64url('{"s":"carats","d":"asc","k":"abc","id":"x"}')],
  ['cursor', b64url('{"s":"created_at","d":"desc","k":"2025-02-30T00:00:00.000000Z","id":"00000000-0000-0000-0000-000000000000"}')],
  ['cursor', b64url('{"s":"nope","d":"asc","k":"1","id":"00000000-0000-0000-0000-000000000000"}')],
  ['shape', 'ROUND\u0001'], ['color', 'D\u001f'], ['supplier_stone_id', 'tab\tS'], ['certificate_number', 'x'.repeat(48)],
  ['shape', Array.from({ length: 25 }, (_, i) => 'S' + i).join(',')], ['sort_order', 'DESC'],
];
function genInvalid() {
  const q = genQuery().filter(([k]) => k !== 'cursor');
  const r = rnd();
  if (r < 0.08) { for (let i = 0; i < 65; i++) q.push(['p' + i, '1']); return q; }
  if (r < 0.14) { q.push(['carat_min', '3'], ['carat_max', '2']); return q; }
  if (r < 0.2) { q.push(['price_min', '900'], ['price_max', '100']); return q; }
  if (r < 0.24) { q.push(['bad\u0001key', '1']); return q; }
  q.splice(ri(0, q.length), 0, pick(INVALID));
  return q;
}
const qs = (q) => q.map(([k, v]) => encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']') + '=' + encodeURIComponent(v)).join('&');

// ---- the parse, mirrored for the psql counts (domain/search_query.c) ----
const keyIs = (k, name) => k === name || new RegExp(`^${name}\\[[0-9]*\\]$`).test(k);
const LISTS = { shape: 'U', color: 'U', clarity: 'U', cut: 'U', polish: 'U', symmetry: 'U', fluorescence: 'U', availability: 'L', feed: 'L', certificate_number: 'E', supplier_stone_id: 'E' };
const asciiUp = (s) => s.replace(/[a-z]/g, (c) => c.toUpperCase());
const asciiLow = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
function parsed(q) {
  const f = { lists: {}, lab: null };
  for (const [k, v] of q) {
    for (const [name, fold] of Object.entries(LISTS)) {
      if (!keyIs(k, name)) continue;
      const l = (f.lists[name] ||= []);
      for (let item of v.split(',')) {
        item = item.replace(/^ +| +$/g, '');
        if (!item) continue;
        item = fold === 'U' ? asciiUp(item) : fold === 'L' ? asciiLow(item) : item;
        if (!l.includes(item)) l.push(item);
      }
    }
    if (['carat_min', 'carat_max', 'price_min', 'price_max'].includes(k)) f[k] = v;
    if (k === 'lab_grown') f.lab = v === 'true';
    if (k === 'limit') f.limit = Number(v);
  }
  return f;
}
// The column expression each list filter compares (search_query.c where_filters).
const COLEXPR = { shape: 'shape', color: 'upper(color)', clarity: 'upper(clarity)', cut: 'upper(cut)', polish: 'upper(polish)', symmetry: 'upper(symmetry)', fluorescence: 'upper(fluorescence)', availability: 'availability', feed: 'feed', certificate_number: 'certificate_number', supplier_stone_id: 'supplier_stone_id' };
function where(f, omit = new Set()) {
  const w = ["status = 'active' AND chosen"]; // one listing per stone (issue 18)
  for (const [name, vals] of Object.entries(f.lists)) {
    if (omit.has(name) || vals.length === 0) continue;
    w.push(`${COLEXPR[name]} IN (${vals.map(lit).join(',')})`);
  }
  if (!omit.has('carats')) {
    if (f.carat_min !== undefined) w.push(`carats >= ${lit(f.carat_min)}::numeric`);
    if (f.carat_max !== undefined) w.push(`carats <= ${lit(f.carat_max)}::numeric`);
  }
  if (!omit.has('price')) {
    if (f.price_min !== undefined) w.push(`retail_price >= ${lit(f.price_min)}::numeric`);
    if (f.price_max !== undefined) w.push(`retail_price <= ${lit(f.price_max)}::numeric`);
  }
  if (f.lab !== null) w.push(`lab_grown = ${f.lab}`);
  return w.join(' AND ');
}

// ---- HTTP ----
const stats = { byId: 0, byId200: 0, queries: 0, compared: 0, idxSearch: 0, idx200: 0, sql200: 0, valid: 0, valid200both: 0, nonEmpty: 0, bad400: 0, cursorPages: 0, etag304: 0, facetsChecked: 0, totalsChecked: 0, includeFacets: 0, failures: 0 };
const failures = [];
let firstShown = false;
async function get(base, p, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(base + p, { headers: { 'X-API-Key': KEY, ...headers }, signal: AbortSignal.timeout(60000) });
      const body = Buffer.from(await r.arrayBuffer());
      return { status: r.status, body, etag: r.headers.get('etag') };
    } catch (e) {
      if (attempt >= 2) return { status: 0, body: Buffer.from(String(e)), etag: null };
    }
  }
}
const kindsShown = new Set();
function fail(kind, url, a, b, extra = '') {
  stats.failures++;
  failures.push({ kind, url });
  if (firstShown && !kindsShown.has(kind) && kindsShown.size < 12) {
    // The first failure of each other kind, briefly.
    const brief = (x) => (x ? `${x.status} ${x.body.toString('utf8').slice(0, 400)}` : '');
    console.log(`first '${kind}' (${PHASE}): GET ${url}\n${extra}` + (a ? `  index: ${brief(a)}\n` : '') + (b ? `  sql:   ${brief(b)}\n` : ''));
  }
  kindsShown.add(kind);
  if (!firstShown) {
    firstShown = true;
    const show = (x) => (x.length > 6000 ? x.slice(0, 6000) + `... (${x.length} bytes)` : x);
    let where = '';
    if (a && b && Buffer.isBuffer(a.body) && Buffer.isBuffer(b.body)) {
      let i = 0;
      while (i < a.body.length && i < b.body.length && a.body[i] === b.body[i]) i++;
      where = `first difference at byte ${i}: index ...${JSON.stringify(a.body.slice(Math.max(0, i - 80), i + 80).toString('utf8'))}\n  sql   ...${JSON.stringify(b.body.slice(Math.max(0, i - 80), i + 80).toString('utf8'))}\n`;
      fs.writeFileSync(path.join(OUT, `${PHASE}-first-index.body`), a.body);
      fs.writeFileSync(path.join(OUT, `${PHASE}-first-sql.body`), b.body);
    }
    console.log(`FIRST DIFFERENCE (${PHASE}, ${kind}): GET ${url}\n${extra}${where}` +
      (a ? `  index: ${a.status} ETag ${a.etag}\n${show(a.body.toString('utf8'))}\n` : '') +
      (b ? `  sql:   ${b.status} ETag ${b.etag}\n${show(b.body.toString('utf8'))}\n` : ''));
  }
}
// Split a 200 search body into the part both paths render and the index's "facets" member.
function splitFacets(body) {
  const s = body.toString('latin1'); // byte offsets
  const p = s.indexOf('],"pagination":{');
  if (p < 0) return { core: body, facets: null };
  const end = s.indexOf('}', p + 16);
  const rest = s.slice(end + 1, -1);
  const core = Buffer.concat([body.subarray(0, end + 1), Buffer.from('}')]);
  return { core, facets: rest.startsWith(',"facets":') ? body.subarray(end + 1 + 10, body.length - 1) : null, rest };
}

const totalsToCheck = []; // {url, f, total, totalPages, limit, estimate}
const facetSamples = []; // filters q
const includeFacetBodies = []; // {q, facets}
const etagSamples = [];

async function compareOne(q, { invalid = false, chain = 0 } = {}) {
  let cur = q;
  for (let page = 0; page <= chain; page++) {
    const url = '/api/v2/diamonds?' + qs(cur);
    // Facets come from the index only (the SQL path answers include=facets with 503): the
    // reference gets the same search without it, and the facets member is checked against
    // SQL GROUP BYs below.
    const wantFacets = cur.some(([k, v]) => k === 'include' && v === 'facets');
    const sqlUrl = wantFacets ? '/api/v2/diamonds?' + qs(cur.filter(([k, v]) => !(k === 'include' && v === 'facets'))) : url;
    const [a, b] = await Promise.all([get(IDX, url), get(SQL, sqlUrl)]);
    stats.compared++;
    stats.idxSearch++;
    if (page === 0) stats.queries++;
    if (a.status === 200) stats.idx200++;
    if (b.status === 200) stats.sql200++;
    if (!invalid && page === 0) {
      stats.valid++;
      if (a.status === 200 && b.status === 200) stats.valid200both++;
      else if (stats.valid - stats.valid200both <= 3) console.log(`note (${PHASE}): a valid query answered ${a.status}: GET ${url}\n  ${a.body.toString('utf8').slice(0, 300)}`);
    }
    if (a.status !== b.status) { fail('status', url, a, b); return; }
    if (a.status === 400) {
      stats.bad400++;
      if (!a.body.equals(b.body)) fail('400 body', url, a, b);
      return;
    }
    if (a.status !== 200) { fail(`both answered ${a.status}`, url, a, b); return; }
    const sa = splitFacets(a.body), sb = splitFacets(b.body);
    if (!sa.core.equals(sb.core)) { fail('body', url, a, b); return; }
    if (wantFacets) {
      stats.includeFacets++;
      if (sa.facets === null) { fail('include=facets: no facets member from the index', url, a, b); return; }
      if (sb.facets !== null && !sa.facets.equals(sb.facets)) { fail('include=facets: facets differ', url, a, b); return; }
      if (includeFacetBodies.length < 40) includeFacetBodies.push({ q: cur, facets: sa.facets });
    } else {
      if (sa.rest !== '' || sb.rest !== '') { fail('unexpected member after pagination', url, a, b); return; }
      if (a.etag !== b.etag) { fail('ETag differs for identical bodies', url, a, b); return; }
    }
    let pg;
    try { pg = JSON.parse(sa.core.toString('utf8')).pagination; } catch (e) { fail('index body is not JSON', url, a, b); return; }
    if (pg.total > 0) stats.nonEmpty++;
    if (page === 0 && !cur.some(([k]) => k === 'cursor')) totalsToCheck.push({ url, f: parsed(cur), pg });
    else if (page === 0) totalsToCheck.push({ url, f: parsed(cur), pg });
    if (page === 0 && etagSamples.length < 60 && chance(0.1)) etagSamples.push({ url, etag: a.etag });
    if (page === 0 && facetSamples.length < Number(args.facets || 60) && chance(0.08)) facetSamples.push(cur);
    if (page > 0) stats.cursorPages++;
    if (page < chain) {
      if (!pg.hasMore || !pg.nextCursor) break;
      cur = cur.filter(([k]) => k !== 'cursor').concat([['cursor', pg.nextCursor]]);
    }
  }
}

async function pool(tasks) {
  let i = 0;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (i < tasks.length) { const t = tasks[i++]; await t(); }
  }));
}

const t0 = Date.now();
const tasks = [];
for (let n = 0; n < NQ; n++) {
  if (chance(0.08)) { const q = genInvalid(); tasks.push(() => compareOne(q, { invalid: true })); continue; }
  const q = genQuery();
  const chain = chance(0.12) ? ri(2, 6) : 0;
  tasks.push(() => compareOne(q, { chain }));
}
await pool(tasks);

// ---- get by id: active, deleted, unknown, upper-case and malformed ids ----
{
  const ids = [...vocab.ids.slice(0, 150), ...vocab.deleted, '00000000-0000-0000-0000-000000000000',
    ...vocab.ids.slice(150, 170).map((x) => x.toUpperCase()), 'not-a-uuid', vocab.ids[0].replace(/-/g, ''),
    '{' + vocab.ids[1] + '}', vocab.ids[2] + ' ', vocab.ids[3].slice(0, 35)];
  await pool(ids.map((id) => async () => {
    const url = '/api/v2/diamonds/' + encodeURIComponent(id);
    const [a, b] = await Promise.all([get(IDX, url), get(SQL, url)]);
    stats.byId++;
    if (a.status === 200) stats.byId200++;
    if (a.status !== b.status || !a.body.equals(b.body) || a.etag !== b.etag) fail('get by id', url, a, b);
  }));
}

// ---- exact totals by psql ----
{
  const sql = totalsToCheck.map((t) => `SELECT count(*) FROM diamonds WHERE ${where(t.f)};`).join('\n');
  const counts = sql ? psql(sql).trim().split('\n').map(Number) : [];
  totalsToCheck.forEach((t, i) => {
    stats.totalsChecked++;
    const lim = t.pg.limit;
    if (t.pg.total !== counts[i] || t.pg.totalIsEstimate !== false || t.pg.totalPages !== Math.ceil(counts[i] / lim)) {
      fail('total', t.url, null, null, `  index pagination ${JSON.stringify(t.pg)}; psql count ${counts[i]} (WHERE ${where(t.f)})\n`);
    }
  });
}

// ---- ETag / 304 ----
await pool(etagSamples.map((s) => async () => {
  const r = await get(IDX, s.url, { 'If-None-Match': s.etag });
  if (r.status !== 304 || r.body.length !== 0) fail('If-None-Match with the index ETag is not 304', s.url, r, null, `  sent If-None-Match: ${s.etag}\n`);
  else stats.etag304++;
  const o = await get(IDX, s.url, { 'If-None-Match': '"not-this-one"' });
  if (o.status !== 200) fail('If-None-Match with another ETag is not 200', s.url, o, null);
}));

// ---- facets ----
const DIMS = { shape: ['shape', 'shape'], color: ['upper(color)', 'color'], clarity: ['upper(clarity)', 'clarity'], cut: ['upper(cut)', 'cut'], polish: ['upper(polish)', 'polish'], symmetry: ['upper(symmetry)', 'symmetry'], fluorescence: ['upper(fluorescence)', 'fluorescence'], certificateLab: ['certificate_lab', null], labGrown: ['lab_grown::text', 'lab'], availability: ['availability', 'availability'], feed: ['feed', 'feed'] };
const REQUIRED_DIMS = ['shape', 'color', 'clarity', 'cut', 'polish', 'symmetry', 'fluorescence', 'certificateLab', 'labGrown', 'availability'];
{
  const samples = facetSamples.map((q) => ({ q, f: parsed(q) }));
  for (const x of includeFacetBodies) samples.push({ q: x.q, f: parsed(x.q), include: x.facets });
  const got = [];
  await pool(samples.map((s, i) => async () => {
    const url = '/api/v2/diamonds/facets?' + qs(s.q.filter(([k]) => k !== 'cursor'));
    got[i] = { url, r: await get(IDX, url) };
  }));
  const exp = [];
  const omitFor = (dim) => {
    const own = DIMS[dim] ? DIMS[dim][1] : null;
    if (own === 'lab') return { omit: new Set(), lab: true };
    return { omit: new Set(own ? [own] : []), lab: false };
  };
  const sqlParts = samples.map((s) => {
    const parts = [`'total', (SELECT count(*) FROM diamonds WHERE ${where(s.f)})`];
    for (const [dim, [expr]] of Object.entries(DIMS)) {
      const o = omitFor(dim);
      const f = o.lab ? { ...s.f, lab: null } : s.f;
      parts.push(`${lit(dim)}, (SELECT coalesce(json_object_agg(k, n), '{}') FROM (SELECT ${expr} AS k, count(*) AS n FROM diamonds WHERE ${where(f, o.omit)} AND ${expr} IS NOT NULL GROUP BY 1) t)`);
    }
    parts.push(`'caratsTotal', (SELECT count(*) FROM diamonds WHERE ${where(s.f, new Set(['carats']))})`);
    parts.push(`'retailPriceTotal', (SELECT count(*) FROM diamonds WHERE ${where(s.f, new Set(['price']))})`);
    return `SELECT json_build_object(${parts.join(', ')});`;
  });
  const lines = sqlParts.length ? psql(sqlParts.join('\n')).trim().split('\n') : [];
  const histQ = [];
  samples.forEach((s, i) => {
    const { url, r } = got[i];
    if (r.status !== 200) { fail(`facets route answered ${r.status}`, url, r, null); return; }
    let d;
    try { d = JSON.parse(r.body.toString('utf8')).data; } catch (e) { fail('facets body is not JSON', url, r, null); return; }
    if (s.include && !Buffer.from(JSON.stringify(d)).equals(Buffer.from(JSON.stringify(JSON.parse(s.include.toString('utf8')))))) {
      fail('include=facets differs from the facets route', url, r, null, `  include=facets gave ${s.include.toString('utf8').slice(0, 3000)}\n`);
      return;
    }
    const e = JSON.parse(lines[i]);
    const diffs = [];
    if (!d || d.total !== e.total) diffs.push(`total ${d && d.total} != ${e.total}`);
    for (const dim of REQUIRED_DIMS) if (!d?.facets?.[dim]) diffs.push(`facet ${dim} missing`);
    for (const dim of Object.keys(DIMS)) {
      if (!d?.facets?.[dim]) continue;
      const a = d.facets[dim], b = e[dim];
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if ((a[k] ?? 0) !== (b[k] ?? 0)) diffs.push(`${dim}[${JSON.stringify(k)}] index ${a[k]} sql ${b[k]}`);
      }
    }
    for (const [h, own, tot] of [['retailPrice', 'price', e.retailPriceTotal], ['carats', 'carats', e.caratsTotal]]) {
      const hs = d?.histograms?.[h];
      if (!Array.isArray(hs)) { diffs.push(`histogram ${h} missing`); continue; }
      const sum = hs.reduce((x, b) => x + b.count, 0);
      if (sum !== tot) diffs.push(`histogram ${h}: counts sum to ${sum}, SQL count without its own filter ${tot}`);
      hs.forEach((b, j) => {
        if (!(b.min <= b.max) || (j > 0 && hs[j - 1].max > b.min)) diffs.push(`histogram ${h}[${j}] bounds ${b.min}..${b.max} out of order`);
        if (b.count > 0) histQ.push({ url, h, j, b, sql: `SELECT count(*) FROM diamonds WHERE ${where(s.f, new Set([own]))} AND ${h === 'carats' ? 'carats' : 'retail_price'} BETWEEN ${lit(String(b.min))}::numeric AND ${lit(String(b.max))}::numeric;` });
      });
    }
    stats.facetsChecked++;
    if (diffs.length) fail('facets', url, r, null, `  ${diffs.slice(0, 20).join('\n  ')}\n  filters: WHERE ${where(s.f)}\n`);
  });
  const hc = histQ.length ? psql(histQ.map((x) => x.sql).join('\n')).trim().split('\n').map(Number) : [];
  histQ.forEach((x, i) => {
    if (x.b.count > hc[i]) fail('facets histogram', x.url, null, null, `  ${x.h}[${x.j}] ${JSON.stringify(x.b)} holds more stones than the ${hc[i]} in [min, max]\n`);
  });
}

// ---- preconditions ----
const pre = [];
if (stats.valid < NQ * 0.8) pre.push(`only ${stats.valid} valid queries`);
if (stats.valid200both < stats.valid * 0.95) pre.push(`only ${stats.valid200both} of ${stats.valid} valid queries answered 200 by both APIs`);
if (stats.nonEmpty < stats.idx200 * 0.4) pre.push(`only ${stats.nonEmpty} of ${stats.idx200} answers found stones`);
if (stats.bad400 < NQ * 0.04) pre.push(`only ${stats.bad400} invalid queries answered 400`);
if (stats.cursorPages < NQ * 0.03) pre.push(`only ${stats.cursorPages} cursor pages followed`);
if (stats.etag304 < Math.min(10, etagSamples.length) || etagSamples.length < 10) pre.push(`only ${stats.etag304} ETag/304 checks`);
if (stats.byId200 < 100) pre.push(`only ${stats.byId200} of ${stats.byId} gets by id answered 200`);
if (stats.facetsChecked < Math.min(20, Number(args.facets || 60))) pre.push(`only ${stats.facetsChecked} facet samples checked`);
for (const p of pre) { stats.failures++; console.log(`PRECONDITION FAILED (${PHASE}): ${p}`); }

fs.writeFileSync(path.join(OUT, `${PHASE}-failures.txt`), failures.map((f) => `${f.kind}\tGET ${f.url}`).join('\n') + '\n');
const byKind = {};
for (const f of failures) byKind[f.kind] = (byKind[f.kind] || 0) + 1;
console.log(`search diff ${PHASE}: seed ${SEED}, ${stats.queries} queries, ${stats.compared} requests compared (${stats.cursorPages} cursor pages, ${stats.bad400} answered 400), ` +
  `${stats.valid200both}/${stats.valid} valid answered 200 by both, ${stats.nonEmpty} non-empty, ${stats.totalsChecked} totals = psql count, ${stats.etag304} ETag 304, ` +
  `${stats.facetsChecked} facet samples = SQL GROUP BY, ${stats.includeFacets} include=facets, ${stats.byId} gets by id; ${stats.failures} failures ${JSON.stringify(byKind)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(JSON.stringify({ phase: PHASE, ...stats }));
process.exit(stats.failures ? 1 : 0);
