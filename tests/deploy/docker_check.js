// docker_check.js - static checks of docker/*.Dockerfile (no Docker engine needed): multi-stage
// build on debian:12 with `cmake --build`, runtime on debian:12-slim as a non-root user, the
// right ENTRYPOINT, EXPOSE and HEALTHCHECK per service, test support kept out (configured with
// DM_TESTS=OFF, no cmocka, neither tests/ nor bench/ nor the whole tree copied); then, for the
// built binary ($DIAMOND_BIN), every shared library `ldd` lists must come from a package that the
// runtime stage installs, one of their dependencies, or the slim base image, and every library
// package the runtime stage installs must provide a library the binary links directly.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { SRC, check, checkEq, finish } = require('./lib');

const SERVICES = {
  api: { port: 3000, health: true },
  worker: {},
  consolidator: {},
  scheduler: {},
  dashboard: { port: 80, health: true },
};
// Non-library packages a runtime stage may install: CA roots, curl for the HEALTHCHECK.
const TOOLS = new Set(['ca-certificates', 'curl']);

// Split a Dockerfile into instructions (continuation lines joined, comments dropped).
function instructions(text) {
  const out = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!cur && (/^\s*#/.test(line) || !line.trim())) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    const m = cur.trim().match(/^(\w+)\s+([\s\S]*)$/);
    if (m) out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
    cur = '';
  }
  return out;
}

function stages(ins) {
  const st = [];
  for (const i of ins) {
    if (i.op === 'FROM') st.push({ from: i.args, ins: [] });
    else if (st.length) st[st.length - 1].ins.push(i);
  }
  return st;
}

function aptPackages(stage, verb) {
  const pk = new Set();
  for (const i of stage.ins.filter((x) => x.op === 'RUN')) {
    const re = new RegExp(`apt-get (?:-\\S+ )*${verb}\\b([^&;|]*)`, 'g');
    for (const m of i.args.matchAll(re))
      for (const w of m[1].trim().split(/\s+/)) if (w && !w.startsWith('-')) pk.add(w);
  }
  return pk;
}

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout || '', err: r.stderr || '' };
}

// Every installed package with its Depends/Pre-Depends, Essential and Priority: one dpkg-query.
let DB = null;
function pkgdb() {
  if (DB) return DB;
  DB = new Map();
  const r = sh('dpkg-query', ['-W', '-f=${Package}\t${Status}\t${Essential}\t${Priority}\t${Depends}, ${Pre-Depends}\n']);
  for (const line of r.out.split('\n')) {
    const [name, status, essential, priority, deps] = line.split('\t');
    if (!name || !/install ok installed/.test(status || '')) continue;
    DB.set(name, { essential: essential === 'yes', priority, deps: deps || '' });
  }
  return DB;
}

// Dependencies of an installed package (for alternatives "a | b": the installed one).
function depends(pkg) {
  const p = pkgdb().get(pkg);
  if (!p) return [];
  const out = [];
  for (const alt of p.deps.split(',')) {
    const names = alt.split('|').map((a) => a.trim().split(/[\s:(]/)[0]).filter(Boolean);
    const inst = names.find((n) => pkgdb().has(n));
    if (inst) out.push(inst);
  }
  return out;
}
function closure(roots) {
  const seen = new Set();
  const todo = [...roots];
  while (todo.length) {
    const p = todo.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    for (const d of depends(p)) todo.push(d);
  }
  return seen;
}

// Packages of the debian:12-slim base: Essential and Priority required, with their dependencies.
function basePackages() {
  const roots = [...pkgdb()].filter(([, p]) => p.essential || p.priority === 'required').map(([n]) => n);
  return closure(roots);
}

// Owners of library files: one `dpkg -S` over every candidate path (usrmerge: /lib and /usr/lib).
function owners(files) {
  const cands = new Map(); // candidate path -> original file
  for (const f of files) {
    const set = new Set([f]);
    try { set.add(fs.realpathSync(f)); } catch (_) { /* keep */ }
    for (const c of [...set]) {
      if (c.startsWith('/usr/lib/')) set.add(c.slice(4));
      else if (c.startsWith('/lib/') || c.startsWith('/lib64/')) set.add('/usr' + c);
    }
    for (const c of set) cands.set(c, f);
  }
  const r = sh('dpkg', ['-S', ...cands.keys()]);
  const out = new Map();
  for (const line of r.out.split('\n')) {
    const i = line.lastIndexOf(': ');
    if (i < 0) continue;
    const file = cands.get(line.slice(i + 2).trim());
    if (!file || out.has(file)) continue;
    out.set(file, line.slice(0, i).split(',').map((p) => p.trim().split(':')[0]));
  }
  return out;
}

function lddLibs(bin) {
  const r = sh('ldd', [bin]);
  const libs = [];
  for (const line of r.out.split('\n')) {
    const m = line.match(/^\s*(\S+)(?: => (\S+))? \(0x/);
    if (!m) continue;
    const file = m[2] || (m[1].startsWith('/') ? m[1] : null);
    if (!file) continue; // linux-vdso
    libs.push({ soname: m[1], file });
  }
  return libs;
}

function needed(bin) {
  const r = sh('readelf', ['-d', bin]);
  return [...r.out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

// Sanitizer runtimes exist only in the test build, never in an image.
const SANITIZER = /^lib(asan|ubsan|lsan|tsan|stdc\+\+|gcc_s)\.so/;

const runtimeSets = {};
for (const [svc, want] of Object.entries(SERVICES)) {
  const file = path.join(SRC, 'docker', `${svc}.Dockerfile`);
  if (!check(`docker/${svc}.Dockerfile exists`, fs.existsSync(file))) continue;
  const st = stages(instructions(fs.readFileSync(file, 'utf8')));
  const p = `${svc}.Dockerfile`;
  check(`${p}: multi-stage (build + runtime)`, st.length >= 2, `${st.length} stage(s)`);
  const buildSt = st[0];
  const run = st[st.length - 1];
  check(`${p}: builds on debian:12`, /^debian:12(\s|$)/.test(buildSt.from), buildSt.from);
  check(`${p}: runs on debian:12-slim`, /^debian:12-slim(\s|$)/.test(run.from), run.from);
  const buildRuns = buildSt.ins.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
  check(`${p}: build stage runs cmake --build`, /cmake --build/.test(buildRuns));
  const devs = aptPackages(buildSt, 'install');
  for (const d of ['cmake', 'libpq-dev', 'libcurl4-openssl-dev', 'libmicrohttpd-dev', 'libjansson-dev', 'libssl-dev'])
    check(`${p}: build stage installs ${d}`, devs.has(d));
  for (const i of buildSt.ins.filter((x) => x.op === 'COPY')) {
    const srcs = i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1);
    for (const s of srcs) check(`${p}: COPY source ${s} exists`, fs.existsSync(path.join(SRC, s)));
  }
  // Test support stays out of images: the build configures with DM_TESTS=OFF, so neither cmocka
  // nor the test and benchmark sources are needed (or copied) in any stage.
  check(`${p}: build configures with -DDM_TESTS=OFF`, /cmake\s[^\n]*-DDM_TESTS=OFF\b/.test(buildRuns));
  for (const s of st) {
    check(`${p}: ${s.from}: does not install cmocka`,
      ![...aptPackages(s, 'install')].some((d) => /cmocka/.test(d)));
    const copied = s.ins.filter((x) => x.op === 'COPY' || x.op === 'ADD')
      .flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    const bad = copied.filter((src) => /^(\.\/)?(tests|bench)(\/|$)/.test(src) || /^(\.\/?|\*)$/.test(src));
    check(`${p}: ${s.from}: copies neither tests/ nor bench/ (nor the whole tree)`, bad.length === 0,
      bad.join(' '));
  }
  const users = run.ins.filter((i) => i.op === 'USER').map((i) => i.args);
  const user = users[users.length - 1] || 'root';
  check(`${p}: runtime runs as a non-root user`, !/^(root|0)(:|$)/.test(user), user);
  check(`${p}: runtime copies the binary from the build stage`,
    run.ins.some((i) => i.op === 'COPY' && /--from=build\s+\S*diamond\s/.test(i.args + ' ')));
  const ep = run.ins.filter((i) => i.op === 'ENTRYPOINT').pop();
  let epv = null;
  try { epv = ep && JSON.parse(ep.args); } catch (_) { /* not exec form */ }
  checkEq(`${p}: ENTRYPOINT is diamond ${svc}`, ['diamond', svc],
    epv ? [path.basename(epv[0]), ...epv.slice(1)] : null);
  const exposes = run.ins.filter((i) => i.op === 'EXPOSE').map((i) => Number(i.args));
  const hc = run.ins.filter((i) => i.op === 'HEALTHCHECK').map((i) => i.args);
  if (want.port) {
    checkEq(`${p}: EXPOSE`, [want.port], exposes);
    check(`${p}: HEALTHCHECK probes the port`, hc.length === 1 && /CMD\s+(curl|.*diamond)/.test(hc[0]) && /PORT|\d+/.test(hc[0]), hc[0]);
  } else {
    checkEq(`${p}: no port exposed`, [], exposes);
    check(`${p}: no HEALTHCHECK without a port`, hc.every((h) => /^NONE$/.test(h)));
  }
  const envs = run.ins.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  if (svc === 'dashboard') {
    check(`${p}: PORT=80`, /\bPORT=80\b/.test(envs));
    check(`${p}: DASHBOARD_DIR=/usr/share/diamond/dashboard`, /\bDASHBOARD_DIR=\/usr\/share\/diamond\/dashboard\b/.test(envs));
    check(`${p}: copies web/dashboard`, run.ins.some((i) => i.op === 'COPY' && /^web\/dashboard\s+\/usr\/share\/diamond\/dashboard/.test(i.args)));
    check(`web/dashboard exists`, fs.existsSync(path.join(SRC, 'web', 'dashboard')));
  }
  if (svc === 'api') check(`${p}: PORT=3000`, /\bPORT=3000\b/.test(envs));
  const installed = aptPackages(run, 'install');
  for (const x of aptPackages(run, 'purge')) installed.delete(x);
  for (const x of aptPackages(run, 'remove')) installed.delete(x);
  runtimeSets[svc] = installed;
  for (const pkg of installed)
    check(`${p}: runtime package ${pkg} has no -dev suffix`, !/-dev$/.test(pkg));
}

// ---- the binary's libraries against the runtime packages ----
const bin = process.env.DIAMOND_BIN;
if (check('DIAMOND_BIN is set to the built binary', bin && fs.existsSync(bin), bin)) {
  const base = basePackages();
  check('base image package set found (libc6 among Priority required)', base.has('libc6'));
  const libs = lddLibs(bin).filter((l) => !SANITIZER.test(l.soname));
  check(`ldd lists the binary's libraries (${libs.length})`, libs.length > 5);
  const byFile = owners(libs.map((l) => l.file));
  const owners_ = new Map();
  for (const l of libs) {
    const o = byFile.get(l.file);
    check(`${l.soname} belongs to a Debian package (${o ? o.join(',') : '?'})`, o !== undefined);
    owners_.set(l.soname, o || []);
  }
  const direct = needed(bin).filter((s) => !SANITIZER.test(s));
  for (const [svc, pkgs] of Object.entries(runtimeSets)) {
    const avail = closure([...pkgs]);
    for (const b of base) avail.add(b);
    const missing = libs.filter((l) => !(owners_.get(l.soname) || []).some((o) => avail.has(o)));
    check(`${svc}.Dockerfile runtime provides all ${libs.length} libraries`, missing.length === 0,
      missing.map((l) => `${l.soname} (${(owners_.get(l.soname) || []).join(',')})`).join(', '));
    for (const pkg of pkgs) {
      if (TOOLS.has(pkg)) continue;
      const provides = direct.some((s) => (owners_.get(s) || []).includes(pkg));
      check(`${svc}.Dockerfile: ${pkg} provides a library the binary links directly`, provides);
    }
    const directPkgs = new Set(direct.flatMap((s) => owners_.get(s) || []));
    for (const d of directPkgs)
      check(`${svc}.Dockerfile installs ${d} (direct dependency) or the base has it`, pkgs.has(d) || base.has(d));
  }
}

finish();
