// terraform_check.js - parses every Terraform file under infrastructure/terraform with an HCL
// parser (@cdktf/hcl2json), evaluates each environment from its root module down (hcl_eval.js:
// module calls, variable defaults and types, locals, for_each, dynamic blocks; what is known only
// after apply stays a named symbol), and compares every app, job, queue and account of the prod
// and staging environments with the seed's numbers (seed_values.json; when the seed itself is
// present, that file is first checked against it). The checks find an app or job by its
// container name, not by its Terraform address, so they hold whatever shape the modules take.
// Least privilege (issue 15 item 18): no app or job may get the namespace-level Service Bus
// rule or the storage account key / connection string; each gets the queue-scoped rules of
// the queues it uses (service-bus app_permissions) and a SAS on the watermarks container.
'use strict';
const fs = require('fs');
const path = require('path');
const { SRC, check, checkEq, finish, requireDep, seedPath, loadValues } = require('./lib');

const { parse } = requireDep('@cdktf/hcl2json');
const V = loadValues();
const TF = path.join(SRC, 'infrastructure', 'terraform');
const H = require('./hcl_eval');

// ---- 1. seed_values.json against the seed text --------------------------------------------

function checkSeed() {
  const p = seedPath();
  if (!p) {
    console.log('# seed document not found beside the repository: using seed_values.json alone');
    return;
  }
  console.log(`# seed: ${p}`);
  const s = fs.readFileSync(p, 'utf8');
  const reps = {};
  for (const m of s.matchAll(/(API|Worker|Consolidator|Dashboard)Replicas\["Replicas: (\d+)-(\d+)<br\/>CPU: ([\d.]+)<br\/>Memory: ([\d.]+Gi)/g))
    reps[m[1].toLowerCase()] = { min: +m[2], max: +m[3], cpu: +m[4], memory: m[5] };
  for (const app of ['api', 'worker', 'consolidator', 'dashboard']) {
    const a = V.apps[app];
    checkEq(`seed_values matches the seed: ${app} replicas/cpu/memory`, reps[app],
      { min: a.min, max: a.max, cpu: a.cpu, memory: a.memory });
  }
  for (const m of s.matchAll(/(API|Dashboard)Ingress\["[^"]*Port: (\d+)"/g))
    checkEq(`seed_values matches the seed: ${m[1]} port`, +m[2], V.apps[m[1].toLowerCase()].port);
  for (const m of s.matchAll(/(Worker|Consolidator)Scale\["Scale Rule:<br\/>([\w-]+)<br\/>queue: ([\w-]+)<br\/>messageCount: (\d+)/g)) {
    const sc = V.apps[m[1].toLowerCase()].scale;
    checkEq(`seed_values matches the seed: ${m[1]} scale rule`, [m[2], m[3], m[4]],
      [sc.type, sc.queueName, sc.messageCount]);
  }
  for (const m of s.matchAll(/queueName: ([\w-]+)\s+messageCount: "(\d+)"[^\n]*\n\s+activationMessageCount: "(\d+)"/g)) {
    const app = m[1] === 'work-items' ? 'worker' : 'consolidator';
    checkEq(`seed_values matches the seed: KEDA ${m[1]} counts`, [m[2], m[3]],
      [V.apps[app].scale.messageCount, V.apps[app].scale.activationMessageCount]);
  }
  const j = s.match(/Cron: ([^<]+)<br\/>CPU: ([\d.]+)<br\/>Memory: (\w+)<br\/>Timeout: (\d+)s<br\/>Retry: (\d+)/);
  checkEq('seed_values matches the seed: scheduler job', j && [j[1], +j[2], j[3], +j[4], +j[5]],
    [V.scheduler.cron, V.scheduler.cpu, V.scheduler.memory, V.scheduler.timeout, V.scheduler.retry]);
  const qs = {};
  for (const m of s.matchAll(/Queue: ([\w-]+)<br\/>Lock: (PT\w+)<br\/>Max Delivery: (\d+)(?:<br\/>Duplicate Detection: (PT\w+))?/g)) {
    qs[m[1]] = { lock: m[2], maxDelivery: +m[3] };
    if (m[4]) qs[m[1]].duplicateDetection = m[4];
  }
  checkEq('seed_values matches the seed: queues', qs, V.queues);
  check('seed_values matches the seed: Service Bus SKU', s.includes(`SKU: ${V.servicebus_sku}`));
  check('seed_values matches the seed: storage LRS', s.includes(`Replication: ${V.storage_replication}`));
  check('seed_values matches the seed: watermark container',
    s.includes(`Container: ${V.watermark_container}`));
  check('seed_values matches the seed: versioning 30 days', s.includes(`Enabled (${V.versioning_days} days)`));
  check('seed_values matches the seed: registry Basic', /Container Registry<br\/>SKU: Basic/.test(s));
  check('seed_values matches the seed: log retention 30 days',
    new RegExp(`All stdout/stderr \\| ${V.log_retention_days} days`).test(s));
  for (const img of V.images) check(`seed_values matches the seed: image ${img}`, s.includes(`${img}:latest`));
  const env = {};
  for (const m of s.matchAll(/### (API|Worker|Consolidator|Dashboard) Container|### (Scheduler) Job/g)) {
    const name = (m[1] || m[2]).toLowerCase();
    const rest = s.slice(m.index);
    const block = rest.match(/```env\n([\s\S]*?)```/);
    env[name] = block[1].split('\n').map((l) => (l.match(/^([A-Z_][A-Z0-9_]*)=/) || [])[1]).filter(Boolean);
  }
  for (const app of Object.keys(V.env))
    checkEq(`seed_values matches the seed: ${app} environment variables`, env[app], V.env[app]);
}

// ---- 2. Terraform parsing and evaluation --------------------------------------------------

const parsedDirs = new Map();
async function parseDir(dir) {
  if (parsedDirs.has(dir)) return parsedDirs.get(dir);
  const merged = {};
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
  for (const f of files) {
    const p = path.join(dir, f);
    let j;
    try {
      j = await parse(p, fs.readFileSync(p, 'utf8'));
      check(`parses: ${path.relative(SRC, p)}`, true);
    } catch (e) {
      check(`parses: ${path.relative(SRC, p)}`, false, e.message);
      continue;
    }
    H.deepMerge(merged, j);
  }
  parsedDirs.set(dir, merged);
  return merged;
}

function res(parsed, type, name) {
  const r = ((parsed.resource || {})[type] || {})[name];
  return r ? r[0] : undefined;
}

// The instance of any azurerm_container_app / _job resource whose (first) container is named
// cname: { addr, value } or undefined.
function byContainer(mod, type, cname) {
  for (const name of Object.keys((mod.parsed.resource || {})[type] || {})) {
    for (const inst of mod.instances(type, name)) {
      const c = (((inst.value.template || [])[0] || {}).container || [])[0];
      if (c && c.name === cname) return inst;
    }
  }
  return undefined;
}

// ---- 3. checks ---------------------------------------------------------------------------

function envOf(container) {
  return (container.env || []).map((e) => e.name);
}

function checkContainerApps(envName, mod, staging) {
  const p = `[${envName}] container-apps`;
  const vars = mod.vars;
  checkEq(`${p}: Log Analytics retention days`, V.log_retention_days,
    mod.one('azurerm_log_analytics_workspace', 'this').retention_in_days);
  check(`${p}: environment streams to Log Analytics`,
    /azurerm_log_analytics_workspace\.this\.id/.test(res(mod.parsed, 'azurerm_container_app_environment', 'this').log_analytics_workspace_id));
  const apps = {};
  for (const app of ['api', 'worker', 'consolidator', 'dashboard']) {
    const seed = V.apps[app];
    const inst = byContainer(mod, 'azurerm_container_app', app);
    if (!check(`${p}: app ${app} exists`, inst !== undefined)) continue;
    apps[app] = inst;
    const r = inst.value;
    const t = r.template[0];
    const c = t.container[0];
    checkEq(`${p}: ${app} app name`, `diamond-${envName}-${app}`, r.name);
    checkEq(`${p}: ${app} min replicas`, staging ? 0 : seed.min, t.min_replicas);
    checkEq(`${p}: ${app} max replicas`, seed.max, t.max_replicas);
    checkEq(`${p}: ${app} cpu`, seed.cpu, c.cpu);
    checkEq(`${p}: ${app} memory`, seed.memory, c.memory);
    checkEq(`${p}: ${app} container name (ContainerName_s in KQL)`, app, c.name);
    check(`${p}: ${app} image diamond-${app}`, String(c.image).includes(`/diamond-${app}:`), c.image);
    checkEq(`${p}: ${app} identity`, app === 'api' ? 'SystemAssigned, UserAssigned' : 'UserAssigned', r.identity[0].type);
    if (seed.port) {
      const ing = (r.ingress || [])[0];
      check(`${p}: ${app} external ingress`, ing && ing.external_enabled === true);
      checkEq(`${p}: ${app} ingress port`, seed.port, ing && ing.target_port);
      check(`${p}: ${app} HTTPS only`, ing && ing.allow_insecure_connections === false);
      checkEq(`${p}: ${app} TCP liveness probe on its port (a DB outage gives 503s, not restarts)`, [{ transport: 'TCP', port: seed.port }], c.liveness_probe);
      if (app !== 'api') check(`${p}: ${app} has no readiness probe (liveness only)`, !c.readiness_probe);
      checkEq(`${p}: ${app} HTTP concurrency scale rule`, [{ name: 'http-concurrency', concurrent_requests: '50' }], t.http_scale_rule);
    } else {
      check(`${p}: ${app} has no ingress`, !r.ingress);
      check(`${p}: ${app} has no probes`, !c.liveness_probe && !c.readiness_probe);
    }
    if (seed.scale) {
      const rules = t.custom_scale_rule || [];
      const rule = rules[0] || {};
      checkEq(`${p}: ${app} KEDA rule`, seed.scale, {
        type: rule.custom_rule_type, queueName: rule.metadata && rule.metadata.queueName,
        messageCount: rule.metadata && rule.metadata.messageCount,
        activationMessageCount: rule.metadata && rule.metadata.activationMessageCount,
      });
      checkEq(`${p}: ${app} KEDA rule name and namespace (the seed's)`,
        [`servicebus-${seed.scale.queueName}-scale`, '${var.servicebus_namespace}', 1],
        [rule.name, rule.metadata && rule.metadata.namespace, rules.length]);
      const auth = (rule.authentication || [])[0];
      const sec = auth && (r.secret || []).find((s) => s.name === auth.secret_name);
      checkEq(`${p}: ${app} KEDA rule authenticates with the queue's Manage rule`,
        `\${var.keda_connection_strings["${seed.scale.queueName}"]}`, sec && sec.value);
    } else {
      check(`${p}: ${app} has no KEDA rule`, !t.custom_scale_rule);
    }
    checkEnv(`${p}: ${app}`, app, c, r.secret || [], vars);
    if (app !== 'dashboard') {
      checkCredentials(`${p}: ${app}`, c, r.secret || [],
        Object.keys(appQueues(vars, app)), (q) => `var.servicebus_queue_connection_strings["${app}/${q}"]`,
        STORAGE_ACCESS[app]);
    } else {
      checkEq(`${p}: dashboard holds no secret`, [], r.secret || []);
    }
    if (app === 'api') {
      checkEq(`${p}: api TCP readiness probe on its port`, [{ transport: 'TCP', port: seed.port }], c.readiness_probe);
      const envv = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
      checkEq(`${p}: api AZURE_SCHEDULER_JOB_NAME names the job`, `diamond-${envName}-scheduler`, envv.AZURE_SCHEDULER_JOB_NAME);
      for (const [n, v] of Object.entries(EXTRA_VALUES)) checkEq(`${p}: api ${n} (docs/operations.md)`, v, envv[n]);
    }
    if (app === 'dashboard') {
      const url = (c.env.find((e) => e.name === 'API_URL') || {}).value;
      check(`${p}: dashboard API_URL is the API app's HTTPS address`,
        url === `https://diamond-${envName}-api.\${azurerm_container_app_environment.this.default_domain}`, url);
    }
  }
  const jobInst = byContainer(mod, 'azurerm_container_app_job', 'scheduler');
  if (check(`${p}: scheduler job exists`, jobInst !== undefined)) {
    const job = jobInst.value;
    const c = job.template[0].container[0];
    checkEq(`${p}: scheduler job name`, `diamond-${envName}-scheduler`, job.name);
    checkEq(`${p}: scheduler cron`, V.scheduler.cron, job.schedule_trigger_config[0].cron_expression);
    checkEq(`${p}: scheduler timeout`, V.scheduler.timeout, job.replica_timeout_in_seconds);
    checkEq(`${p}: scheduler retry`, V.scheduler.retry, job.replica_retry_limit);
    checkEq(`${p}: scheduler cpu`, V.scheduler.cpu, c.cpu);
    checkEq(`${p}: scheduler memory`, V.scheduler.memory, c.memory);
    checkEq(`${p}: scheduler container name`, 'scheduler', c.name);
    check(`${p}: scheduler image diamond-scheduler`, String(c.image).includes('/diamond-scheduler:'), c.image);
    check(`${p}: scheduler runs the image's entry point`, c.command === undefined, c.command);
    checkEnv(`${p}: scheduler`, 'scheduler', c, job.secret || [], vars);
    checkCredentials(`${p}: scheduler`, c, job.secret || [],
      Object.keys(appQueues(vars, 'scheduler')), (q) => `var.servicebus_queue_connection_strings["scheduler/${q}"]`,
      STORAGE_ACCESS.scheduler);
    const max = (c.env.find((e) => e.name === 'MAX_SCHEDULER_RECORDS') || {}).value;
    if (staging) check(`${p}: staging caps MAX_SCHEDULER_RECORDS (${max})`, Number(max) > 0);
    else checkEq(`${p}: prod MAX_SCHEDULER_RECORDS unlimited`, '0', max);
  }
  const monInst = byContainer(mod, 'azurerm_container_app_job', 'monitor');
  if (check(`${p}: hourly monitor job exists`, monInst !== undefined)) {
    const mon = monInst.value;
    const c = mon.template[0].container[0];
    checkEq(`${p}: monitor job name`, `diamond-${envName}-monitor`, mon.name);
    checkEq(`${p}: monitor runs diamond check`, ['/usr/local/bin/diamond', 'check', '--json'], c.command);
    check(`${p}: monitor image diamond-scheduler`, String(c.image).includes('/diamond-scheduler:'), c.image);
    checkEq(`${p}: monitor cron hourly`, '0 * * * *', mon.schedule_trigger_config[0].cron_expression);
    checkEq(`${p}: monitor no retry`, 0, mon.replica_retry_limit);
    const names = envOf(c);
    for (const n of ['RESEND_API_KEY', 'ALERT_EMAIL_TO', 'ALERT_EMAIL_FROM', 'AZURE_STORAGE_CONNECTION_STRING', 'DATABASE_PASSWORD',
      ...Object.values(QUEUE_ENV)])
      check(`${p}: monitor gets ${n}`, names.includes(n));
    checkCredentials(`${p}: monitor`, c, mon.secret || [],
      Object.keys(QUEUE_ENV), (q) => `var.monitor_servicebus_connection_strings["${q}"]`, 'reader');
  }
  const ra = mod.one('azurerm_role_assignment', 'api_starts_scheduler');
  if (check(`${p}: API identity role assignment exists`, ra !== undefined && apps.api && jobInst)) {
    check(`${p}: role is the Job Operator role`, V.job_operator_role.includes(ra.role_definition_name), ra.role_definition_name);
    checkEq(`${p}: role scoped to the scheduler job`, `\${${jobInst.addr}.id}`, ra.scope);
    checkEq(`${p}: role granted to the API's identity`, `\${${apps.api.addr}.identity[0].principal_id}`, ra.principal_id);
  }
}

// Every moved block of a module leads to an address that exists, and every earlier address
// listed in `from` is accounted for (an apply moves the state, it does not replace the apps).
function checkMoved(p, mod, expectFrom) {
  const moved = (mod.parsed.moved || []).map((m) => [m.from, m.to].map((x) => x.replace(/^\$\{|\}$/g, '')));
  checkEq(`${p}: moved blocks cover the earlier addresses`, [...expectFrom].sort(), moved.map(([f]) => f).sort());
  const exists = (addr) => {
    const m = addr.match(/^(?:module\.(\w+)\.)?(?:(module)\.(\w+)|(\w+)\.(\w+)(?:\["([^"]+)"\])?)$/);
    if (!m) return false;
    const ctx = m[1] ? mod.children[m[1]] : mod;
    if (!ctx) return false;
    if (m[2]) return ctx.children[m[3]] !== undefined;
    return ctx.instances(m[4], m[5]).some((i) => (m[6] === undefined ? i.key === null : i.key === m[6]));
  };
  for (const [from, to] of moved) check(`${p}: moved ${from} -> ${to} (exists)`, exists(to));
}

// Settings the seed does not list that the deployment sets on purpose: the API's abuse limits
// (issue 15), explicit in Terraform rather than left to the binary's defaults.
const EXTRA_ENV = {
  api: ['API_RATE_LIMIT_RPS', 'API_AUTH_FAILURES_PER_MIN', 'API_SUPPLIER_PER_CLIENT', 'API_MAX_CONNECTIONS_PER_IP',
    'API_TRUSTED_PROXY_HOPS'],
};
// Their values, as docs/operations.md (Security) gives them for the Terraform deployment.
const EXTRA_VALUES = {
  API_RATE_LIMIT_RPS: '100', API_AUTH_FAILURES_PER_MIN: '30', API_SUPPLIER_PER_CLIENT: '4',
  API_MAX_CONNECTIONS_PER_IP: '1024', API_TRUSTED_PROXY_HOPS: '1',
};

// ---- least privilege ----------------------------------------------------------------------

// Per-queue Service Bus variables (the binary's names, src/core/config.c).
const QUEUE_ENV = {
  'work-items': 'AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS',
  'work-done': 'AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE',
  consolidate: 'AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE',
};
// Who may touch the watermark, and how: the consolidator advances it, the API, the scheduler
// and the monitor read it, the worker never uses it.
const STORAGE_ACCESS = { api: 'reader', scheduler: 'reader', consolidator: 'writer', worker: null };
// Credentials no app may hold, wherever they would come from: the namespace-level Service Bus
// rules and the storage account's key or key-bearing connection string.
const FORBIDDEN = [
  [/(?<!\w)servicebus_connection_strings\b|app_connection_strings|monitor_servicebus_connection_string\b|monitor_connection_string\b/, 'a namespace-level Service Bus rule'],
  [/namespace_authorization_rule|RootManageSharedAccessKey/, 'a namespace-level Service Bus rule'],
  [/storage_connection_string\b|module\.storage\.connection_string\b/, "the storage account's connection string"],
  [/primary_connection_string|secondary_connection_string|primary_access_key|secondary_access_key|AccountKey=/, 'an account key'],
];

// The queues an app holds a rule for (service-bus app_permissions as the environment sets it).
let APP_PERMISSIONS = null;
function appQueues(vars, app) {
  return (APP_PERMISSIONS || V.app_permissions)[app] || {};
}

function forbidden(text) {
  for (const [re, what] of FORBIDDEN) if (re.test(String(text))) return what;
  return null;
}

// The container's Service Bus and storage credentials: no namespace-level variable, exactly one
// per-queue variable for each queue the app holds a rule for, each from a secret whose value is
// that app's rule for that queue; the storage string is the SAS of the app's access (or none);
// no secret of the app carries a forbidden credential.
function checkCredentials(p, container, secrets, queues, expectRef, storage) {
  const env = container.env || [];
  const names = env.map((e) => e.name);
  check(`${p} gets no namespace-level AZURE_SERVICE_BUS_CONNECTION_STRING`,
    !names.includes('AZURE_SERVICE_BUS_CONNECTION_STRING'));
  const byName = Object.fromEntries(secrets.map((s) => [s.name, s]));
  checkEq(`${p} per-queue Service Bus variables are its queues'`,
    queues.map((q) => QUEUE_ENV[q]).sort(), names.filter((n) => n.startsWith('AZURE_SERVICE_BUS_CONNECTION_STRING_')).sort());
  for (const q of queues) {
    const e = env.find((x) => x.name === QUEUE_ENV[q]);
    const sec = e && byName[e.secret_name];
    const want = '${' + expectRef(q) + '}';
    check(`${p} ${QUEUE_ENV[q]} is its queue-scoped rule (${want})`, sec && sec.value === want,
      sec ? sec.value : 'no secret');
  }
  const st = env.find((x) => x.name === 'AZURE_STORAGE_CONNECTION_STRING');
  if (storage) {
    const sec = st && byName[st.secret_name];
    const want = `\${var.storage_${storage}_connection_string}`;
    check(`${p} AZURE_STORAGE_CONNECTION_STRING is the ${storage} SAS`, sec && sec.value === want,
      sec ? sec.value : 'no secret');
  } else {
    check(`${p} gets no storage credential`, st === undefined);
  }
  for (const s of secrets) {
    const bad = forbidden(s.value);
    check(`${p} secret ${s.name} is not ${bad || 'a forbidden credential'}`, bad === null, s.value);
  }
  for (const e of env) {
    const bad = e.value !== undefined ? forbidden(e.value) : null;
    check(`${p} env ${e.name} carries no ${bad || 'forbidden credential'}`, bad === null, e.value);
  }
}

// The environment hands the container-apps module only scoped credentials.
function checkEnvironmentCredentials(envName, call) {
  for (const [k, v] of Object.entries(call)) {
    const bad = forbidden(`${k} = ${JSON.stringify(v)}`);
    check(`[${envName}] container_apps argument ${k} is not ${bad || 'a forbidden credential'}`, bad === null, v);
  }
  checkEq(`[${envName}] apps get the queue-scoped rules`, '${module.service_bus.queue_connection_strings}',
    call.servicebus_queue_connection_strings);
  checkEq(`[${envName}] monitor gets the queue-scoped Manage rules`, '${module.service_bus.monitor_connection_strings}',
    call.monitor_servicebus_connection_strings);
  checkEq(`[${envName}] readers get the read-only container SAS`, '${module.storage.reader_connection_string}',
    call.storage_reader_connection_string);
  checkEq(`[${envName}] the consolidator gets the read/write container SAS`, '${module.storage.writer_connection_string}',
    call.storage_writer_connection_string);
}

// Seed variables the deployment replaces on purpose (least privilege): the namespace-level
// Service Bus string by one string per queue the app uses; the worker's storage string by
// nothing (it never reads the watermark).
function expectedEnv(app, vars) {
  let names = [...V.env[app], ...(EXTRA_ENV[app] || [])];
  if (names.includes('AZURE_SERVICE_BUS_CONNECTION_STRING')) {
    names = names.filter((n) => n !== 'AZURE_SERVICE_BUS_CONNECTION_STRING');
    names.push(...Object.keys(appQueues(vars, app)).map((q) => QUEUE_ENV[q]));
  }
  if (STORAGE_ACCESS[app] === null) names = names.filter((n) => n !== 'AZURE_STORAGE_CONNECTION_STRING');
  return names.sort();
}

function checkEnv(p, app, container, secrets, vars) {
  const names = envOf(container);
  checkEq(`${p} environment variables are the seed's (plus the API's abuse limits; scoped credentials)`,
    expectedEnv(app, vars), [...names].sort());
  const secretNames = new Set(secrets.map((s) => s.name));
  for (const e of container.env || []) {
    if (V.secret_env.includes(e.name) || Object.values(QUEUE_ENV).includes(e.name)) {
      check(`${p} ${e.name} comes from a Container App secret`,
        e.secret_name && secretNames.has(e.secret_name) && e.value === undefined);
    } else if (V.env_defaults[e.name] !== undefined && !String(e.value).includes('${')) {
      const expect = e.name === 'MAX_SCHEDULER_RECORDS' ? String(e.value) : V.env_defaults[e.name];
      if (e.name === 'PORT') checkEq(`${p} PORT`, String(V.apps[app].port), e.value);
      else checkEq(`${p} ${e.name}`, expect, e.value);
    }
  }
}

function checkServiceBus(envName, ctx) {
  const p = `[${envName}] service-bus`;
  const mod = ctx.parsed;
  const vars = ctx.vars;
  const ns = ctx.one('azurerm_servicebus_namespace', 'this');
  checkEq(`${p}: namespace name`, `diamond-${envName}-servicebus`, ns.name);
  checkEq(`${p}: namespace SKU`, V.servicebus_sku, ns.sku);
  checkEq(`${p}: minimum TLS`, '1.2', ns.minimum_tls_version);
  const queues = vars.queues || {};
  const got = {};
  for (const [n, q] of Object.entries(queues)) {
    got[n] = { lock: q.lock_duration, maxDelivery: q.max_delivery_count };
    if (q.duplicate_detection_window) got[n].duplicateDetection = q.duplicate_detection_window;
  }
  checkEq(`${p}: queues`, V.queues, got);
  const q = res(mod, 'azurerm_servicebus_queue', 'queue');
  checkEq(`${p}: queue lock from settings`, '${each.value.lock_duration}', q.lock_duration);
  checkEq(`${p}: queue max delivery from settings`, '${each.value.max_delivery_count}', q.max_delivery_count);
  check(`${p}: duplicate detection on where a window is set`,
    /each\.value\.duplicate_detection_window != null/.test(q.requires_duplicate_detection));
  checkEq(`${p}: message TTL`, V.queue_ttl, ctx.eval(q.default_message_ttl));
  checkEq(`${p}: one queue per setting`, Object.keys(V.queues).sort(), ctx.instances('azurerm_servicebus_queue', 'queue').map((i) => i.value.name).sort());
  checkEq(`${p}: dead-lettering on expiration`, true, q.dead_lettering_on_message_expiration);
  const perms = {};
  for (const [app, qs] of Object.entries(vars.app_permissions || {})) {
    perms[app] = {};
    for (const [qn, rights] of Object.entries(qs)) perms[app][qn] = [...rights].sort();
  }
  const want = {};
  for (const [app, qs] of Object.entries(V.app_permissions)) {
    want[app] = {};
    for (const [qn, rights] of Object.entries(qs)) want[app][qn] = [...rights].sort();
  }
  checkEq(`${p}: per-app least-privilege queue rights`, want, perms);
  APP_PERMISSIONS = vars.app_permissions || null;
  const grant = res(mod, 'azurerm_servicebus_queue_authorization_rule', 'grant');
  checkEq(`${p}: queue rules never manage`, false, grant.manage);
  check(`${p}: no namespace-level authorization rule (every rule is scoped to one queue)`,
    Object.keys((mod.resource || {}).azurerm_servicebus_namespace_authorization_rule || {}).length === 0,
    Object.keys((mod.resource || {}).azurerm_servicebus_namespace_authorization_rule || {}).join(','));
  const mon = res(mod, 'azurerm_servicebus_queue_authorization_rule', 'monitor');
  check(`${p}: monitor rules are one per queue`, mon && mon.for_each === '${var.queues}', mon && mon.for_each);
  checkEq(`${p}: monitor rules have Manage (dead-letter counts)`, true, mon && mon.manage);
  for (const [name, out] of Object.entries(mod.output || {})) {
    const bad = /namespace_authorization_rule/.test(JSON.stringify(out)) ? 'a namespace-level rule' : null;
    check(`${p}: output ${name} is not ${bad || 'a namespace-level rule'}`, bad === null);
  }
  checkEq(`${p}: KEDA rules cover the scaled queues`, ['consolidate', 'work-items'],
    [...(vars.keda_scaled_queues || [])].sort());
}

function checkStorage(envName, ctx) {
  const p = `[${envName}] storage`;
  const mod = ctx.parsed;
  const a = ctx.one('azurerm_storage_account', 'this');
  checkEq(`${p}: replication`, V.storage_replication, a.account_replication_type);
  checkEq(`${p}: TLS 1.2`, 'TLS1_2', a.min_tls_version);
  checkEq(`${p}: blob versioning`, true, a.blob_properties[0].versioning_enabled);
  checkEq(`${p}: delete retention days`, V.versioning_days, a.blob_properties[0].delete_retention_policy[0].days);
  checkEq(`${p}: container`, V.watermark_container,
    ctx.one('azurerm_storage_container', 'watermarks').name);
  checkEq(`${p}: container is private`, 'private', res(mod, 'azurerm_storage_container', 'watermarks').container_access_type);
  for (const [name, out] of Object.entries(mod.output || {})) {
    const bad = /primary_connection_string|secondary_connection_string|access_key/.test(JSON.stringify(out[0].value));
    check(`${p}: output ${name} exposes no account key`, !bad, out[0].value);
  }
  const want = { reader: { read: true }, writer: { read: true, create: true, write: true } };
  for (const [who, rights] of Object.entries(want)) {
    let sas;
    for (const name of Object.keys((mod.data || {}).azurerm_storage_account_blob_container_sas || {}))
      for (const i of ctx.instances('azurerm_storage_account_blob_container_sas', name, 'data'))
        if (i.key === who || (i.key === null && name === who)) sas = i;
    if (!check(`${p}: ${who} SAS exists`, sas !== undefined)) continue;
    const d = sas.value;
    checkEq(`${p}: ${who} SAS scoped to the watermarks container`, '${azurerm_storage_container.watermarks.name}', d.container_name);
    checkEq(`${p}: ${who} SAS HTTPS only`, true, d.https_only);
    const perms = d.permissions[0];
    const got = Object.keys(perms).filter((k) => perms[k] === true).sort();
    checkEq(`${p}: ${who} SAS permissions`, Object.keys(rights).sort(), got);
    const out = ((mod.output || {})[`${who}_connection_string`] || [])[0];
    check(`${p}: ${who}_connection_string is BlobEndpoint + that SAS`,
      out && /^BlobEndpoint=\$\{azurerm_storage_account\.this\.primary_blob_endpoint\};SharedAccessSignature=/.test(out.value) &&
      out.value.includes(`${sas.addr}.sas`), out && out.value);
  }
  const pol = ctx.one('azurerm_storage_management_policy', 'versions');
  checkEq(`${p}: old versions kept 30 days`, V.versioning_days,
    pol.rule[0].actions[0].version[0].delete_after_days_since_creation);
}

function checkRegistry(envName, ctx) {
  const p = `[${envName}] container-registry`;
  const acr = ctx.one('azurerm_container_registry', 'this');
  checkEq(`${p}: name`, `diamond${envName}acr`, acr.name);
  checkEq(`${p}: SKU`, V.registry_sku, acr.sku);
  checkEq(`${p}: admin user off (identity pull)`, false, acr.admin_enabled);
}

// The root's outputs are the ones the runbook names, and every module output they lead to exists.
function checkOutputs(envName, root) {
  checkEq(`[${envName}] outputs`, ['api_url', 'dashboard_url', 'registry', 'scheduler_job_name', 'watermark_sas_expiry'],
    Object.keys(root.parsed.output || {}).sort());
  // A reference module.M.O(.attr) leads to output O of child M (to its attribute attr where the
  // output is an object), whose own references are followed in turn.
  const walk = (ctx, value, where) => {
    for (const m of JSON.stringify(value).matchAll(/module\.(\w+)\.(\w+)(?:\.(\w+))?/g)) {
      const c = ctx.children[m[1]];
      let v = c && ((c.parsed.output || {})[m[2]] || [])[0];
      v = v && v.value;
      if (v && m[3] && typeof v === 'object') v = v[m[3]];
      const ref = `module.${m[1]}.${m[2]}${m[3] ? '.' + m[3] : ''}`;
      if (check(`[${envName}] ${where}: ${ref} exists`, v !== undefined)) walk(c, v, `${where} > ${m[1]}`);
    }
  };
  for (const [name, o] of Object.entries(root.parsed.output || {})) walk(root, o[0].value, `output ${name}`);
}

async function main() {
  checkSeed();
  // The modules each environment's resources come from, and the addresses they had before
  // modules/environment and the per-app tables (moved blocks).
  const modFor = { service_bus: 'service-bus', storage: 'storage', container_registry: 'container-registry', container_apps: 'container-apps' };
  for (const envName of ['prod', 'staging']) {
    const dir = path.join(TF, 'environments', envName);
    const root = await H.instantiate(parseDir, dir, undefined, envName);
    const call = ((root.parsed.module || {}).environment || [])[0];
    if (!check(`[${envName}] calls modules/environment`, call && call.source === '../../modules/environment')) continue;
    check(`[${envName}] root.tf is the environments' shared root (environments/common/root.tf)`,
      fs.realpathSync(path.join(dir, 'root.tf')) === fs.realpathSync(path.join(TF, 'environments', 'common', 'root.tf')));
    checkMoved(`[${envName}] root`, root, ['azurerm_resource_group.this', ...Object.keys(modFor).map((m) => `module.${m}`)]);
    checkOutputs(envName, root);
    const env = root.children.environment;
    checkEq(`[${envName}] resource group`, `diamond-${envName}-rg`, env.one('azurerm_resource_group', 'this').name);
    checkEq(`[${envName}] tags`, { project: 'diamond', environment: envName }, env.one('azurerm_resource_group', 'this').tags);
    for (const [callName, modName] of Object.entries(modFor)) {
      const c = ((env.parsed.module || {})[callName] || [])[0];
      if (!check(`[${envName}] environment uses module ${modName}`, c && c.source === `../${modName}`)) continue;
      const mod = env.children[callName];
      const staging = envName === 'staging';
      if (modName === 'container-apps') {
        checkEnvironmentCredentials(envName, c);
        checkContainerApps(envName, mod, staging);
        checkMoved(`[${envName}] container-apps`, mod, [
          ...['api', 'worker', 'consolidator', 'dashboard'].map((a) => `azurerm_container_app.${a}`),
          'azurerm_container_app_job.scheduler', 'azurerm_container_app_job.monitor[0]']);
      }
      if (modName === 'service-bus') checkServiceBus(envName, mod);
      if (modName === 'storage') checkStorage(envName, mod);
      if (modName === 'container-registry') checkRegistry(envName, mod);
    }
  }
  finish();
}

main().catch((e) => {
  console.log(`FAIL - terraform check crashed: ${e.stack}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
