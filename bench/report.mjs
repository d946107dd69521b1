// report.mjs - merges bench/results/<stamp>/*.json into one report and prints one table:
// figure, value, target and whether the target is met. Targets are strings like ">= 15000",
// "<= 32" or "== 0" given by each script under "targets". A target whose figure is missing or
// not a number (a case that did not run, null) is MISSED, not skipped: a figure the issue asks
// for must be measured.
import fs from 'node:fs';
import path from 'node:path';

const [dir, outFile] = process.argv.slice(2);
const merged = { generatedAt: new Date().toISOString(), host: { cores: 2 }, sections: {} };
const rows = [];
for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
  const name = path.basename(f, '.json');
  let data;
  try { data = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); }
  catch (e) { rows.push([name, 'unreadable', '', '', '']); continue; }
  merged.sections[name] = data;
  const targets = data.targets || {};
  for (const [k, v] of Object.entries(data)) {
    if (k === 'targets' || (typeof v === 'object' && v !== null)) continue;
    let met = '';
    const t = targets[k];
    if (t && typeof v === 'number') {
      const m = /^\s*(>=|<=|==|>|<)\s*([0-9.]+)/.exec(t);
      if (m) {
        const x = Number(m[2]);
        met = { '>=': v >= x, '<=': v <= x, '==': v === x, '>': v > x, '<': v < x }[m[1]] ? 'met' : 'MISSED';
      }
    }
    if (t && typeof v !== 'number') met = 'MISSED';
    rows.push([name, k, typeof v === 'number' ? String(Math.round(v * 100) / 100) : String(v), t || '', met]);
  }
  for (const k of Object.keys(targets)) {
    if (!(k in data)) rows.push([name, k, 'absent', targets[k], 'MISSED']);
  }
}
fs.writeFileSync(outFile, JSON.stringify(merged, null, 2) + '\n');
const w = [0, 0, 0, 0, 0];
const head = ['section', 'figure', 'value', 'target', 'status'];
for (const r of [head, ...rows]) r.forEach((c, i) => { w[i] = Math.max(w[i], c.length); });
const line = (r) => r.map((c, i) => c.padEnd(w[i])).join('  ');
console.log('\n' + line(head));
console.log(w.map((n) => '-'.repeat(n)).join('  '));
for (const r of rows) console.log(line(r));
const missed = rows.filter((r) => r[4] === 'MISSED').length;
const met = rows.filter((r) => r[4] === 'met').length;
console.log(`\nbench: ${met} targets met, ${missed} missed; report written to ${outFile}`);
