// workflows_check.js - parses .github/workflows/*.yml with the `yaml` package and checks what
// they must do: ci.yml builds and runs `make test` on push and pull_request; build.yml builds and
// pushes the five images tagged latest and the commit SHA from their Dockerfiles; deploy.yml, on
// push to main, builds and moves every container app and the scheduler job to the SHA tag.
'use strict';
const fs = require('fs');
const path = require('path');
const { SRC, check, checkEq, finish, requireDep, loadValues } = require('./lib');

const YAML = requireDep('yaml');
const V = loadValues();
const DIR = path.join(SRC, '.github', 'workflows');

function load(name) {
  const p = path.join(DIR, name);
  let text;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (e) {
    check(`${name} exists`, false, e.message);
    return null;
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (!check(`${name} parses as YAML`, doc.errors.length === 0, doc.errors.map(String).join('; ')))
    return null;
  const wf = doc.toJS();
  check(`${name} has a name, triggers and jobs`, wf && wf.name && wf.on && wf.jobs);
  for (const [id, job] of Object.entries(wf.jobs || {}))
    check(`${name} job ${id} has steps or calls a workflow`,
      Array.isArray(job.steps) ? job.steps.length > 0 : typeof job.uses === 'string');
  return { wf, text };
}

function steps(wf) {
  const out = [];
  for (const job of Object.values(wf.jobs || {})) for (const s of job.steps || []) out.push(s);
  return out;
}

function triggers(wf) {
  const on = wf.on;
  if (typeof on === 'string') return { [on]: null };
  if (Array.isArray(on)) return Object.fromEntries(on.map((t) => [t, null]));
  return on || {};
}

const ci = load('ci.yml');
if (ci) {
  const t = triggers(ci.wf);
  check('ci.yml runs on push', 'push' in t);
  check('ci.yml runs on pull_request', 'pull_request' in t);
  const runs = steps(ci.wf).map((s) => s.run || '').join('\n');
  check('ci.yml installs dependencies', /scripts\/install-deps/.test(runs));
  check('ci.yml builds', /make build|cmake --build/.test(runs));
  check('ci.yml runs make test', /(^|\s)make test(\s|$)/m.test(runs));
}

const build = load('build.yml');
if (build) {
  const job = Object.values(build.wf.jobs)[0] || {};
  const include = (((job.strategy || {}).matrix || {}).include) || [];
  const images = include.map((m) => m.image).sort();
  checkEq('build.yml builds the five images', [...V.images].sort(), images);
  for (const m of include) {
    checkEq(`build.yml image name for ${m.service}`, `diamond-${m.service}`, m.image);
    check(`build.yml: docker/${m.service}.Dockerfile exists`,
      fs.existsSync(path.join(SRC, 'docker', `${m.service}.Dockerfile`)));
  }
  const bp = steps(build.wf).find((s) => /docker\/build-push-action/.test(s.uses || ''));
  if (check('build.yml builds and pushes with docker/build-push-action', bp !== undefined)) {
    const w = bp.with || {};
    checkEq('build.yml Dockerfile path', 'docker/${{ matrix.service }}.Dockerfile', w.file);
    const tags = String(w.tags || '');
    check('build.yml tags the commit SHA', tags.includes('/${{ matrix.image }}:${{ github.sha }}'), tags);
    check('build.yml tags latest', tags.includes('/${{ matrix.image }}:latest'), tags);
    check('build.yml pushes (except on pull requests)', w.push === true || /github.event_name != 'pull_request'/.test(String(w.push)), String(w.push));
  }
  check('build.yml logs in to the registry', /az acr login/.test(build.text));
}

const deploy = load('deploy.yml');
if (deploy) {
  const t = triggers(deploy.wf);
  check('deploy.yml runs on push to main', t.push && (t.push.branches || []).includes('main'));
  const jobs = deploy.wf.jobs;
  const calls = Object.values(jobs).find((j) => j.uses === './.github/workflows/build.yml');
  check('deploy.yml builds the images first (calls build.yml)', calls !== undefined);
  const runs = steps(deploy.wf).map((s) => s.run || '').join('\n');
  const loop = runs.match(/for svc in ([\w ]+); do/);
  const apps = loop ? loop[1].trim().split(/\s+/).sort() : [];
  checkEq('deploy.yml updates every container app', ['api', 'consolidator', 'dashboard', 'worker'], apps);
  check('deploy.yml: az containerapp update to the SHA tag',
    /az containerapp update[\s\S]*--image "\$ACR_NAME\.azurecr\.io\/diamond-\$svc:\$GITHUB_SHA"/.test(runs));
  check('deploy.yml: az containerapp job update for the scheduler to the SHA tag',
    /az containerapp job update[\s\S]*--name "\$NAME_PREFIX-scheduler"[\s\S]*diamond-scheduler:\$GITHUB_SHA/.test(runs));
  check('deploy.yml: the monitor job follows the scheduler image',
    /az containerapp job update[\s\S]*--name "\$NAME_PREFIX-monitor"[\s\S]*diamond-scheduler:\$GITHUB_SHA/.test(runs));
  check('deploy.yml checks the API health after deploying', /\/health/.test(runs));
  const mig = runs.indexOf(' migrate');
  check('deploy.yml applies migrations before updating the apps',
    mig > 0 && mig < runs.indexOf('az containerapp update'));
}

finish();
