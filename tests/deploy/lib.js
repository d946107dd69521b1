// lib.js - small helpers shared by the deploy checks: tap-like assertions, locating the seed,
// loading npm modules from the repository's node_modules with a clear message when missing.
'use strict';
const fs = require('fs');
const path = require('path');

const SRC = process.env.DM_SOURCE_DIR || path.resolve(__dirname, '..', '..');
let checks = 0;
let fails = 0;

function check(what, ok, detail) {
  checks++;
  if (ok) {
    console.log(`ok   - ${what}`);
  } else {
    fails++;
    console.log(`FAIL - ${what}${detail !== undefined ? ': ' + detail : ''}`);
  }
  return ok;
}

// JSON with object keys sorted, so key order never matters in comparisons.
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v === undefined ? null : v);
}

function checkEq(what, expected, actual) {
  const e = canon(expected);
  const a = canon(actual);
  return check(`${what} (${a})`, e === a, `expected ${e}, got ${a}`);
}

function finish() {
  console.log(`${checks - fails} passed, ${fails} failed`);
  process.exit(fails === 0 && checks > 0 ? 0 : 1);
}

function requireDep(name) {
  try {
    return require(require.resolve(name, { paths: [SRC, __dirname] }));
  } catch (e) {
    console.log(`FAIL - npm package ${name} is not installed (run scripts/install-deps): ${e.message}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// The user's seed document, when shared/ sits beside the repository (as in development and CI).
function seedPath() {
  const candidates = [];
  if (process.env.DM_SEED_FILE) candidates.push(process.env.DM_SEED_FILE);
  for (const dir of [path.join(SRC, '..', 'shared', 'seed'), path.join(SRC, 'shared', 'seed')]) {
    try {
      for (const f of fs.readdirSync(dir).sort())
        if (f.endsWith('.txt')) candidates.push(path.join(dir, f));
    } catch (_) { /* not there */ }
  }
  for (const c of candidates) {
    try {
      const text = fs.readFileSync(c, 'utf8');
      if (text.includes('Container Apps Environment') && text.includes('work-items')) return c;
    } catch (_) { /* unreadable */ }
  }
  return null;
}

function loadValues() {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'seed_values.json'), 'utf8'));
}

module.exports = { SRC, check, checkEq, finish, requireDep, seedPath, loadValues };
