// hcl_eval.js - evaluates the Terraform under infrastructure/terraform the way `terraform plan`
// would, as far as values known before apply go, so that terraform_check.js can compare the
// result with the seed without a Terraform binary: module calls with their arguments, variable
// defaults and types (optional attributes with defaults, nullable = false), locals, for_each and
// count, dynamic blocks, module outputs, and the HCL expressions the modules use (references,
// templates, for expressions, conditionals, operators, and the functions listed in FUNCS).
//
// What is only known after apply (resource attributes, data sources, a variable nobody sets) is
// a symbol named by its expression, e.g. var.servicebus_queue_connection_strings["api/work-items"]
// or azurerm_container_app_job.job["scheduler"].id; render() writes it as "${...}", which is how
// the checks recognise which credential or resource a setting refers to. Anything the evaluator
// cannot follow throws, so a check fails rather than passing on a value it did not compute.
'use strict';
const path = require('path');

class Sym {
  constructor(text) {
    this.text = text;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

// ---- parser -----------------------------------------------------------------------------

class Parser {
  constructor(src) {
    this.s = src;
    this.i = 0;
  }

  fail(msg) {
    throw new Error(`${msg} at ${this.i} in: ${this.s.slice(0, 200)}`);
  }

  ws() {
    for (;;) {
      while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
      if (this.s[this.i] === '#' || this.s.startsWith('//', this.i)) {
        while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++;
      } else return;
    }
  }

  peek(tok) {
    this.ws();
    return this.s.startsWith(tok, this.i);
  }

  eat(tok) {
    if (!this.peek(tok)) return false;
    this.i += tok.length;
    return true;
  }

  expect(tok) {
    if (!this.eat(tok)) this.fail(`expected '${tok}'`);
  }

  ident() {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a name');
    this.i += m[0].length;
    return m[0];
  }

  peekWord(w) {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(this.s.slice(this.i));
    return m !== null && m[0] === w;
  }

  expr() {
    const c = this.binary(0);
    if (this.peek('?')) {
      this.i++;
      const a = this.expr();
      this.expect(':');
      const b = this.expr();
      return { t: 'cond', c, a, b };
    }
    return c;
  }

  binary(level) {
    const OPS = [['||'], ['&&'], ['==', '!='], ['<=', '>=', '<', '>'], ['+', '-'], ['*', '/', '%']];
    if (level === OPS.length) return this.unary();
    let l = this.binary(level + 1);
    for (;;) {
      this.ws();
      const op = OPS[level].find((o) => this.s.startsWith(o, this.i));
      if (!op) return l;
      this.i += op.length;
      l = { t: 'bin', op, l, r: this.binary(level + 1) };
    }
  }

  unary() {
    if (this.peek('!') && !this.peek('!=')) {
      this.i++;
      return { t: 'not', e: this.unary() };
    }
    if (this.peek('-')) {
      this.i++;
      return { t: 'neg', e: this.unary() };
    }
    return this.postfix(this.primary());
  }

  postfix(e) {
    for (;;) {
      if (this.peek('.') && !this.peek('...')) {
        this.i++;
        if (this.peek('*')) this.fail('splat expressions are not supported');
        this.ws();
        const m = /^\d+/.exec(this.s.slice(this.i));
        if (m) {
          this.i += m[0].length;
          e = { t: 'index', o: e, k: { t: 'lit', v: Number(m[0]) } };
        } else e = { t: 'attr', o: e, name: this.ident() };
      } else if (this.peek('[')) {
        this.i++;
        if (this.peek('*')) this.fail('splat expressions are not supported');
        const k = this.expr();
        this.expect(']');
        e = { t: 'index', o: e, k };
      } else return e;
    }
  }

  primary() {
    this.ws();
    const c = this.s[this.i];
    if (c === '(') {
      this.i++;
      const e = this.expr();
      this.expect(')');
      return e;
    }
    if (c === '"') {
      this.i++;
      return this.template('"');
    }
    if (c === '[') return this.tuple();
    if (c === '{') return this.object();
    const num = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    if (num) {
      this.i += num[0].length;
      return { t: 'lit', v: Number(num[0]) };
    }
    const name = this.ident();
    if (name === 'true' || name === 'false') return { t: 'lit', v: name === 'true' };
    if (name === 'null') return { t: 'lit', v: null };
    if (this.peek('(')) {
      this.i++;
      const args = [];
      let spread = false;
      while (!this.eat(')')) {
        args.push(this.expr());
        if (this.eat('...')) spread = true;
        if (!this.eat(',') && !this.peek(')')) this.fail('expected , or )');
      }
      return { t: 'call', name, args, spread };
    }
    return { t: 'name', name };
  }

  // A quoted template (after its opening quote) or, with end === null, a whole hcl2json string.
  template(end) {
    const parts = [];
    let lit = '';
    for (;;) {
      if (this.i >= this.s.length) {
        if (end === null) break;
        this.fail('unterminated string');
      }
      const c = this.s[this.i];
      if (end !== null && c === end) {
        this.i++;
        break;
      }
      if (end !== null && c === '\\') {
        const n = this.s[this.i + 1];
        lit += { n: '\n', t: '\t', '"': '"', '\\': '\\' }[n] ?? n;
        this.i += 2;
      } else if (this.s.startsWith('$${', this.i)) {
        lit += '${';
        this.i += 3;
      } else if (this.s.startsWith('${', this.i)) {
        this.i += 2;
        if (lit) parts.push(lit);
        lit = '';
        parts.push(this.expr());
        this.expect('}');
      } else if (this.s.startsWith('%{', this.i)) {
        this.fail('template directives are not supported');
      } else {
        lit += c;
        this.i++;
      }
    }
    if (lit || parts.length === 0) parts.push(lit);
    return { t: 'tmpl', parts };
  }

  tuple() {
    this.expect('[');
    if (this.peekWord('for')) return this.forExpr(']');
    const items = [];
    while (!this.eat(']')) {
      items.push(this.expr());
      if (!this.eat(',') && !this.peek(']')) this.fail('expected , or ]');
    }
    return { t: 'tuple', items };
  }

  object() {
    this.expect('{');
    if (this.peekWord('for')) return this.forExpr('}');
    const items = [];
    while (!this.eat('}')) {
      let k;
      if (this.peek('"')) {
        this.i++;
        k = this.template('"');
      } else if (this.peek('(')) {
        k = this.primary();
      } else {
        k = { t: 'lit', v: this.ident() };
      }
      if (!this.eat('=') && !this.eat(':')) this.fail('expected = in object');
      items.push({ k, v: this.expr() });
      this.eat(',');
    }
    return { t: 'object', items };
  }

  forExpr(close) {
    this.ident(); // for
    let k = null;
    let v = this.ident();
    if (this.eat(',')) {
      k = v;
      v = this.ident();
    }
    if (this.ident() !== 'in') this.fail("expected 'in'");
    const coll = this.expr();
    this.expect(':');
    const first = this.expr();
    let second = null;
    if (close === '}') {
      this.expect('=>');
      second = this.expr();
      if (this.eat('...')) this.fail('grouping for expressions are not supported');
    }
    let cond = null;
    if (this.peekWord('if')) {
      this.ident();
      cond = this.expr();
    }
    this.expect(close);
    return { t: 'for', obj: close === '}', k, v, coll, key: close === '}' ? first : null, val: close === '}' ? second : first, cond };
  }
}

const cache = new Map();
function parseTemplate(s) {
  if (!cache.has(s)) {
    const p = new Parser(s);
    cache.set(s, p.template(null));
  }
  return cache.get(s);
}

// ---- values -----------------------------------------------------------------------------

function render(v) {
  if (v instanceof Sym) return '${' + v.text + '}';
  if (Array.isArray(v)) return v.map(render);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = render(x);
    return o;
  }
  return v;
}

// Whether a value is wholly known (no symbol, no unresolved part in a string).
function known(v) {
  if (v instanceof Sym) return false;
  if (typeof v === 'string') return !v.includes('${');
  if (Array.isArray(v)) return v.every(known);
  if (v && typeof v === 'object') return Object.values(v).every(known);
  return true;
}

function symText(base, key) {
  return typeof key === 'number' ? `${base}[${key}]` : IDENT.test(key) && !key.includes('-') ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

// Unknown parts of a value named after where they are read from (var.x.y, var.m["k"]).
function symbolize(v, name) {
  if (!known(v) && (v instanceof Sym || typeof v === 'string')) return new Sym(name);
  if (Array.isArray(v)) return v.map((x, i) => symbolize(x, symText(name, i)));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = symbolize(x, symText(name, k));
    return o;
  }
  return v;
}

function canon(v) {
  if (v instanceof Sym) return `sym:${v.text}`;
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v === undefined ? null : v);
}

function str(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`not a string: ${JSON.stringify(v)}`);
}

function isObj(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Sym);
}

// Collection entries in Terraform's order: lists by index, maps and objects by key.
function entries(v, what) {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (isObj(v)) return Object.keys(v).sort().map((k) => [k, v[k]]);
  throw new Error(`${what}: not a collection: ${canon(v)}`);
}

// Functions left as placeholders on purpose: validation conditions (regex, can) and the time
// SAS start and expiry times (timeadd of a rotating time), none of which a check compares.
const UNEVALUATED_FUNCS = new Set(['regex', 'can', 'timeadd']);

const FUNCS = {
  tostring: ([v]) => (v === null ? null : str(v)),
  tonumber: ([v]) => Number(v),
  merge: (args) => Object.assign({}, ...args.filter((a) => a !== null).map((a) => {
    if (!isObj(a)) throw new Error(`merge: not an object: ${canon(a)}`);
    return a;
  })),
  concat: (args) => [].concat(...args.map((a) => {
    if (!Array.isArray(a)) throw new Error('concat: not a list');
    return a;
  })),
  flatten: ([l]) => l.flat(Infinity),
  distinct: ([l]) => l.filter((x, i) => l.findIndex((y) => canon(y) === canon(x)) === i),
  sort: ([l]) => [...l].map(str).sort(),
  keys: ([m]) => Object.keys(m).sort(),
  values: ([m]) => Object.keys(m).sort().map((k) => m[k]),
  length: ([v]) => (typeof v === 'string' ? v.length : entries(v, 'length').length),
  contains: ([l, x]) => l.some((y) => canon(y) === canon(x)),
  lookup: ([m, k, d]) => (Object.prototype.hasOwnProperty.call(m, k) ? m[k] : d),
  upper: ([s]) => str(s).toUpperCase(),
  lower: ([s]) => str(s).toLowerCase(),
  replace: ([s, a, b]) => str(s).split(str(a)).join(str(b)),
  trimprefix: ([s, p]) => (str(s).startsWith(p) ? s.slice(p.length) : s),
  coalesce: (args) => {
    const v = args.find((a) => a !== null && a !== '');
    if (v === undefined) throw new Error('coalesce: no non-null argument');
    return v;
  },
  toset: ([l]) => FUNCS.distinct([l]),
  tolist: ([l]) => l,
  tomap: ([m]) => m,
};

// ---- evaluation -------------------------------------------------------------------------

// scope.name(n): the value of a root name (var, local, each, module, an iterator) or undefined.
function evaluate(e, scope) {
  switch (e.t) {
    case 'lit':
      return e.v;
    case 'tmpl': {
      if (e.parts.length === 1 && typeof e.parts[0] !== 'string') return evaluate(e.parts[0], scope);
      let out = '';
      for (const p of e.parts) {
        if (typeof p === 'string') out += p;
        else {
          const v = evaluate(p, scope);
          out += v instanceof Sym ? render(v) : str(v);
        }
      }
      return out;
    }
    case 'name': {
      const v = scope.name(e.name);
      return v === undefined ? new Sym(e.name) : v;
    }
    case 'attr':
    case 'index': {
      const o = evaluate(e.o, scope);
      const k = e.t === 'attr' ? e.name : evaluate(e.k, scope);
      if (k instanceof Sym) return new Sym(`${o instanceof Sym ? o.text : '?'}[${k.text}]`);
      if (o instanceof Sym) return new Sym(e.t === 'attr' ? `${o.text}.${k}` : `${o.text}[${JSON.stringify(k)}]`);
      if (o && typeof o.get === 'function') return o.get(k);
      if (o === null || o === undefined) throw new Error(`attribute ${k} of null`);
      if (!Object.prototype.hasOwnProperty.call(o, k)) throw new Error(`no ${JSON.stringify(k)} in ${canon(o).slice(0, 200)}`);
      return o[k];
    }
    case 'call': {
      if (e.name === 'try') {
        for (const a of e.args) {
          try {
            return evaluate(a, scope);
          } catch (_) { /* next */ }
        }
        throw new Error('try: no argument evaluated');
      }
      let args = e.args.map((a) => evaluate(a, scope));
      if (e.spread) args = args.slice(0, -1).concat(args[args.length - 1]);
      const f = FUNCS[e.name];
      // A function the evaluator does not know is an error, unless it is one of the few the
      // Terraform uses whose value is not checked (validation helpers, times known at apply):
      // an unknown one would turn a checked setting into a placeholder that checks skip.
      if (!f && !UNEVALUATED_FUNCS.has(e.name)) fail(`function ${e.name}() is not evaluated by hcl_eval.js`);
      if (!f || args.some((a) => a instanceof Sym)) return new Sym(`${e.name}(${args.map((a) => canon(a)).join(', ')})`);
      return f(args);
    }
    case 'cond': {
      const c = evaluate(e.c, scope);
      if (c instanceof Sym) return new Sym(`(${c.text} ? ... : ...)`);
      return evaluate(c ? e.a : e.b, scope);
    }
    case 'not': {
      const v = evaluate(e.e, scope);
      return v instanceof Sym ? new Sym(`!${v.text}`) : !v;
    }
    case 'neg':
      return -evaluate(e.e, scope);
    case 'bin': {
      const l = evaluate(e.l, scope);
      if (e.op === '&&' && l === false) return false;
      if (e.op === '||' && l === true) return true;
      const r = evaluate(e.r, scope);
      if (l instanceof Sym || r instanceof Sym) return new Sym(`${canon(l)} ${e.op} ${canon(r)}`);
      switch (e.op) {
        case '==': return canon(l) === canon(r);
        case '!=': return canon(l) !== canon(r);
        case '&&': return l && r;
        case '||': return l || r;
        case '<': return l < r;
        case '>': return l > r;
        case '<=': return l <= r;
        case '>=': return l >= r;
        case '+': return l + r;
        case '-': return l - r;
        case '*': return l * r;
        case '/': return l / r;
        case '%': return l % r;
        default: throw new Error(`operator ${e.op}`);
      }
    }
    case 'tuple':
      return e.items.map((x) => evaluate(x, scope));
    case 'object': {
      const o = {};
      for (const { k, v } of e.items) o[str(evaluate(k, scope))] = evaluate(v, scope);
      return o;
    }
    case 'for': {
      const coll = evaluate(e.coll, scope);
      if (coll instanceof Sym) return new Sym(`for ... in ${coll.text}`);
      const out = e.obj ? {} : [];
      for (const [k, v] of entries(coll, 'for')) {
        const bind = { [e.v]: v };
        if (e.k) bind[e.k] = k;
        const s = { name: (n) => (n in bind ? bind[n] : scope.name(n)) };
        if (e.cond) {
          const c = evaluate(e.cond, s);
          if (c instanceof Sym) throw new Error(`for: unknown condition ${c.text}`);
          if (!c) continue;
        }
        if (e.obj) out[str(evaluate(e.key, s))] = evaluate(e.val, s);
        else out.push(evaluate(e.val, s));
      }
      return out;
    }
    default:
      throw new Error(`expression ${e.t}`);
  }
}

// A value from hcl2json (strings are templates) evaluated in scope. Block bodies (objects inside
// arrays) get their dynamic blocks expanded; attributes set to null are left out, as Terraform
// leaves them unset.
function resolveValue(v, scope, inBlock) {
  if (typeof v === 'string') return evaluate(parseTemplate(v), scope);
  if (Array.isArray(v)) return v.map((x) => resolveValue(x, scope, true));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      if (inBlock && k === 'dynamic') continue;
      const r = resolveValue(x, scope, false);
      if (!(inBlock && r === null)) o[k] = r;
    }
    if (inBlock && v.dynamic) {
      for (const [name, specs] of Object.entries(v.dynamic)) {
        for (const spec of specs) {
          const iter = spec.iterator ? str(evaluate(parseTemplate(spec.iterator), scope)) : name;
          const coll = evaluate(parseTemplate(spec.for_each), scope);
          for (const [key, value] of entries(coll, `dynamic "${name}" for_each`)) {
            const s = { name: (n) => (n === iter ? { key, value } : scope.name(n)) };
            (o[name] = o[name] || []).push(resolveValue(spec.content[0], s, true));
          }
        }
      }
    }
    return o;
  }
  return v;
}

// ---- types ------------------------------------------------------------------------------

function typeOf(e) {
  if (e.t === 'tmpl' && e.parts.length === 1) return typeOf(e.parts[0]);
  if (e.t === 'name') return { kind: e.name };
  if (e.t === 'call') {
    if (e.name === 'object') {
      const attrs = {};
      for (const { k, v } of e.args[0].items) {
        const n = k.v;
        if (v.t === 'call' && v.name === 'optional')
          attrs[n] = { type: typeOf(v.args[0]), optional: true, def: v.args[1] ? evaluate(v.args[1], { name: () => undefined }) : null };
        else attrs[n] = { type: typeOf(v), optional: false };
      }
      return { kind: 'object', attrs };
    }
    if (['map', 'list', 'set'].includes(e.name)) return { kind: e.name, el: typeOf(e.args[0]) };
  }
  return { kind: 'any' };
}

// Type conversion as far as the checks need it: optional attributes get their default (or
// null), nested through objects, maps and lists.
function convert(v, t) {
  if (v === null || v === undefined || v instanceof Sym) return v;
  if (t.kind === 'object' && isObj(v)) {
    const o = { ...v };
    for (const [n, a] of Object.entries(t.attrs)) {
      if (o[n] === undefined || o[n] === null) {
        if (a.optional) o[n] = a.def === null ? null : convert(a.def, a.type);
      } else o[n] = convert(o[n], a.type);
    }
    return o;
  }
  if (t.kind === 'map' && isObj(v)) {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = convert(x, t.el);
    return o;
  }
  if ((t.kind === 'list' || t.kind === 'set') && Array.isArray(v)) return v.map((x) => convert(x, t.el));
  if (t.kind === 'number' && typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (t.kind === 'string' && (typeof v === 'number' || typeof v === 'boolean')) return String(v);
  return v;
}

// ---- modules ----------------------------------------------------------------------------

function deepMerge(a, b) {
  for (const [k, v] of Object.entries(b)) {
    if (Array.isArray(v) && Array.isArray(a[k])) a[k] = a[k].concat(v);
    else if (v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object') deepMerge(a[k], v);
    else a[k] = v;
  }
  return a;
}

// parseDir(dir): the merged hcl2json of a directory's .tf files (links followed).
// instantiate(parseDir, dir, args, label): a module instance. args: argument values (already
// evaluated in the caller), undefined for the root module.
async function instantiate(parseDir, dir, args, label) {
  const parsed = await parseDir(dir);
  const vars = {};
  for (const [name, blocks] of Object.entries(parsed.variable || {})) {
    const b = blocks[0];
    let v = args && Object.prototype.hasOwnProperty.call(args, name) ? args[name] : undefined;
    if ((v === undefined || (v === null && b.nullable === false)) && 'default' in b) v = b.default;
    // A module call that leaves a required variable unset is an error Terraform reports (and
    // would otherwise read here as an unknown value that every `${var.X}` check accepts).
    if (v === undefined && args !== undefined) fail(`module ${label}: required variable ${name} is not set`);
    if (v === undefined) v = new Sym(`var.${name}`);
    if (b.type) v = convert(v, typeOf(parseTemplate(b.type)));
    vars[name] = symbolize(v, `var.${name}`);
  }
  const localsRaw = Object.assign({}, ...(parsed.locals || []));
  const locals = {};
  const children = {};
  const childPromises = {};
  const ctx = { dir, label, parsed, vars, children };

  const scope = {
    name(n) {
      if (n === 'var') return { get: (k) => (k in vars ? vars[k] : fail(`no variable ${k}`)) };
      if (n === 'local') {
        return {
          get: (k) => {
            if (!(k in locals)) {
              if (!(k in localsRaw)) fail(`no local ${k}`);
              locals[k] = resolveValue(localsRaw[k], scope, false);
            }
            return locals[k];
          },
        };
      }
      if (n === 'module') {
        return {
          get: (m) => ({
            get: (out) => {
              const c = children[m];
              if (!c) return new Sym(`module.${m}.${out}`);
              const o = ((c.parsed.output || {})[out] || [])[0];
              if (!o) fail(`module ${m} has no output ${out}`);
              const v = resolveValue(o.value, c.scope, false);
              return known(v) ? v : new Sym(`module.${m}.${out}`);
            },
          }),
        };
      }
      return undefined;
    },
  };
  ctx.scope = scope;
  ctx.eval = (v) => render(resolveValue(v, scope, false));

  // Child modules in dependency order: a call whose arguments read another module's outputs
  // waits for that module.
  const calls = parsed.module || {};
  async function child(name) {
    if (!childPromises[name]) {
      childPromises[name] = (async () => {
        const call = calls[name][0];
        const text = JSON.stringify(call);
        for (const other of Object.keys(calls))
          if (other !== name && text.includes(`module.${other}.`)) await child(other);
        const a = {};
        for (const [k, v] of Object.entries(call)) if (k !== 'source') a[k] = resolveValue(v, scope, false);
        children[name] = await instantiate(parseDir, path.resolve(dir, call.source), a, `${label}.module.${name}`);
      })();
    }
    return childPromises[name];
  }
  for (const name of Object.keys(calls)) await child(name);

  // Instances of a resource (or data source): [{ key, addr, value }], value rendered.
  ctx.instances = (type, name, kind = 'resource') => {
    const blocks = ((parsed[kind] || {})[type] || {})[name];
    if (!blocks) return [];
    const body = { ...blocks[0] };
    const base = `${kind === 'data' ? 'data.' : ''}${type}.${name}`;
    const out = [];
    if (body.for_each !== undefined) {
      const coll = evaluate(parseTemplate(body.for_each), scope);
      delete body.for_each;
      for (const [k, value] of entries(coll, `${base} for_each`)) {
        const key = Array.isArray(coll) ? str(value) : k; // a set: each.key is the element
        const s = { name: (n) => (n === 'each' ? { key, value } : scope.name(n)) };
        out.push({ key, addr: `${base}[${JSON.stringify(key)}]`, value: render(resolveValue([body], s, true)[0]) });
      }
    } else if (body.count !== undefined) {
      const n = evaluate(parseTemplate(body.count), scope);
      delete body.count;
      for (let i = 0; i < n; i++) {
        const s = { name: (x) => (x === 'count' ? { index: i } : scope.name(x)) };
        out.push({ key: i, addr: `${base}[${i}]`, value: render(resolveValue([body], s, true)[0]) });
      }
    } else {
      out.push({ key: null, addr: base, value: render(resolveValue([body], scope, true)[0]) });
    }
    return out;
  };
  ctx.one = (type, name, kind) => {
    const all = ctx.instances(type, name, kind);
    if (all.length !== 1) fail(`${type}.${name}: ${all.length} instances, expected 1`);
    return all[0].value;
  };
  return ctx;
}

function fail(msg) {
  throw new Error(msg);
}

module.exports = { Sym, parseTemplate, evaluate, resolveValue, render, known, instantiate, deepMerge };
