// Differential tests: chatd's C GraphQL engine (tests/graphql-diff/gqlrun) against
// graphql-js 16 on the same schemas, data and documents.
//
//   node run.mjs <path to gqlrun> [--json mismatches.json] [--filter substring] [-v]
//                [--random N [--seed S]]   (N generated documents too, see gen.mjs)
//
// Corpus: corpus/*.graphql, split into cases by header lines
//   ### <id> [schema=test|chat|spec] [service=<role>] [op=<operationName>] [crlf]
//   (crlf: the document's line ends become CR LF)
//   #vars <JSON>            (zero or more; each one is a separate case)
//   <the document, up to the next ### line>
// A file's default schema is its name's prefix (test-*, chat-*, spec-*).
//
// For every case both engines run the document with rootValue = data/<schema>.json
// and the same test resolvers (fields named boom / later / echo; see
// tests/graphql-diff/gqlrun.c). gqlrun runs twice, with and without its document cache
// (the second time running each exec twice, like subscription events), and
// must answer the same every time. Compared: `data` exactly (deep, key order too; presence of
// the key too), the number of errors, and the multiset of (path, locations)
// of the errors — never message text.
//
// Introspection answers are compared after sorting the lists whose order the
// spec leaves open and that the two engines build differently (see
// normalizeIntrospection). On top of the corpus, getIntrospectionQuery() with
// each option set runs through both engines, our answer must be accepted by
// buildClientSchema, and printSchema of it must equal printSchema of
// graphql-js's own buildSchema(SDL) (both lexicographically sorted).
import {
  graphql,
  buildSchema,
  getIntrospectionQuery,
  buildClientSchema,
  printSchema,
  lexicographicSortSchema,
  isObjectType,
  GraphQLError,
} from 'graphql';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './gen.mjs';

// graphql-js 16 abandons the promises of fields whose object already failed
// (their errors are dropped by design, see execute.js completeListValue /
// executeFields); Node would treat such a rejection as fatal. Ignore them.
process.on('unhandledRejection', () => {});

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

const args = process.argv.slice(2);
const gqlrun = args[0];
if (!gqlrun) {
  console.error('usage: node run.mjs <gqlrun binary> [--json out.json] [--filter s] [-v]');
  process.exit(2);
}
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const jsonOut = opt('--json');
const filter = opt('--filter');
const verbose = args.includes('-v');
const nRandom = Number(opt('--random') ?? 0);
const seed = Number(opt('--seed') ?? 1);

// Documents whose differences are graphql-js quirks, not our bugs. Keep tiny;
// every entry says why.
const ALLOWLIST = new Map([
  // graphql-js 16's SingleFieldSubscriptionsRule collects fields without the
  // operation's variables, so @skip(if: $s) on a subscription root throws
  // inside validation even though $s has a default (fixed in graphql-js 17).
  ['test-misc.graphql:x-subscription-with-fragment-and-skip#1', 'graphql-js: validation throws on @skip(if: $var) at a subscription root'],
  ['test-misc.graphql:x-subscription-with-fragment-and-skip#2', 'graphql-js: validation throws on @skip(if: $var) at a subscription root'],
]);

const SCHEMAS = {
  test: { sdl: join(here, 'schema/test.graphql'), data: join(here, 'data/test.json') },
  spec: { sdl: join(here, 'schema/spec.graphql'), data: join(here, 'data/spec.json') },
  chat: { sdl: join(repo, 'schema/chat.graphql'), data: join(here, 'data/chat.json') },
};

// ---------------------------------------------------------------- corpus

function loadCorpus() {
  const dir = join(here, 'corpus');
  const cases = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort()) {
    const defSchema = file.split('-')[0];
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    let cur = null;
    const flush = () => {
      if (!cur) return;
      let doc = cur.body.join('\n').replace(/\s+$/, '') + '\n';
      if (cur.crlf) doc = doc.replace(/\n/g, '\r\n');
      const varSets = cur.vars.length ? cur.vars : [undefined];
      varSets.forEach((v, i) => {
        cases.push({
          id: `${file}:${cur.id}${cur.vars.length > 1 ? `#${i + 1}` : ''}`,
          schema: cur.schema,
          service: cur.service,
          operationName: cur.op,
          query: doc,
          variables: v,
        });
      });
    };
    for (const line of lines) {
      const m = /^### (\S+)(.*)$/.exec(line);
      if (m) {
        flush();
        cur = { id: m[1], schema: defSchema, service: undefined, op: undefined, vars: [], body: [], inHeader: true };
        for (const kv of m[2].trim().split(/\s+/).filter(Boolean)) {
          const [k, v] = kv.split('=');
          if (k === 'schema') cur.schema = v;
          else if (k === 'service') cur.service = v;
          else if (k === 'op') cur.op = v;
          else if (k === 'crlf') cur.crlf = true;
          else throw new Error(`${file}: bad header key ${k}`);
        }
        continue;
      }
      if (!cur) continue;
      if (cur.inHeader && line.startsWith('#vars ')) {
        cur.vars.push(JSON.parse(line.slice(6)));
        continue;
      }
      if (line.startsWith('#vars ')) throw new Error(`${file}:${cur.id}: #vars must follow the ### line`);
      cur.inHeader = false;
      cur.body.push(line);
    }
    flush();
  }
  for (const c of cases) if (!SCHEMAS[c.schema]) throw new Error(`${c.id}: unknown schema ${c.schema}`);
  return cases;
}

// ---------------------------------------------------------------- graphql-js side

// chatd's DateTime scalar (src/graphql/coerce.c): output must be a string;
// input must be an ISO-8601 date or date-time string. graphql-js gets the same
// rules so both engines run the same schema.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?)?$/;
function isoOk(s) {
  const m = typeof s === 'string' && ISO.exec(s);
  if (!m) return false;
  const n = (i) => (m[i] === undefined ? 0 : Number(m[i]));
  return n(2) >= 1 && n(2) <= 12 && n(3) >= 1 && n(3) <= 31 && n(4) <= 23 && n(5) <= 59 && n(6) <= 60 && n(7) <= 23 && n(8) <= 59;
}
function installDateTime(schema) {
  const t = schema.getType('DateTime');
  if (!t) return;
  t.serialize = (v) => {
    if (typeof v === 'string') return v;
    throw new GraphQLError(`DateTime cannot represent value: ${JSON.stringify(v)}`);
  };
  t.parseValue = (v) => {
    if (isoOk(v)) return v;
    throw new GraphQLError(`DateTime cannot represent a non ISO-8601 date-time value: ${JSON.stringify(v)}`);
  };
  t.parseLiteral = (ast) => {
    if (ast.kind === 'StringValue' && isoOk(ast.value)) return ast.value;
    throw new GraphQLError('DateTime cannot represent a non ISO-8601 date-time value');
  };
}

function jsSchema(name, service) {
  const schema = buildSchema(readFileSync(SCHEMAS[name].sdl, 'utf8'));
  installDateTime(schema);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.name === 'boom') {
        field.resolve = () => {
          throw new Error('boom');
        };
      } else if (field.name === 'later') {
        field.resolve = async (parent) => {
          await new Promise((r) => setImmediate(r));
          return parent.laterValue;
        };
      } else if (field.name === 'echo') {
        field.resolve = (_parent, a) => a;
      }
      // Root-field ownership (@owner), as chatd's executor applies it.
      const owner = field.astNode?.directives?.find((d) => d.name.value === 'owner');
      if (service && owner) {
        const role = owner.arguments.find((a) => a.name.value === 'role').value.value;
        if (role !== service) {
          field.resolve = () => {
            throw new GraphQLError(`${field.name} is served by the ${role} service`, {
              extensions: { code: 'WRONG_SERVICE', service: role },
            });
          };
        }
      }
    }
  }
  return schema;
}

async function runJs(schema, data, c) {
  let res;
  try {
    res = await runJsUnguarded(schema, data, c);
  } catch (e) {
    return { threw: `graphql-js threw: ${e.message}` };
  }
  return res;
}

async function runJsUnguarded(schema, data, c) {
  const res = await graphql({
    schema,
    source: c.query,
    rootValue: data,
    variableValues: c.variables,
    operationName: c.operationName,
  });
  return JSON.parse(JSON.stringify(res));
}

// ---------------------------------------------------------------- C side

function runC(schemaName, service, reqs, noCache = false) {
  const argv = ['--schema', SCHEMAS[schemaName].sdl, '--data', SCHEMAS[schemaName].data];
  if (service) argv.push('--service', service);
  if (noCache) argv.push('--no-cache', '--rerun');
  const input = reqs.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const p = spawnSync(gqlrun, argv, { input, maxBuffer: 1 << 30, encoding: 'utf8' });
  if (p.error) throw p.error;
  const out = p.stdout.split('\n').filter((l) => l.length);
  if (p.status !== 0 || out.length !== reqs.length) {
    // A crash: attribute it by running the requests one by one.
    if (reqs.length > 1) return reqs.map((r) => runC(schemaName, service, [r], noCache)[0]);
    return [{ crash: `gqlrun exited ${p.status ?? p.signal}: ${p.stderr.slice(0, 2000)}` }];
  }
  return out.map((l) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      return { crash: `bad JSON from gqlrun: ${l.slice(0, 500)}` };
    }
  });
}

// ---------------------------------------------------------------- comparison

const byName = (a, b) => (a?.name ?? '').localeCompare(b?.name ?? '');

// Order of __schema.types, __schema.directives, an interface's possibleTypes
// and a directive's locations is not defined by the spec; graphql-js keeps
// SDL/collection order, chatd sorts types by name and locations by the spec's
// enum order. Sort them on both sides before comparing.
function normalizeIntrospection(v, key) {
  if (Array.isArray(v)) {
    const items = v.map((x) => normalizeIntrospection(x));
    if ((key === 'types' || key === 'directives' || key === 'possibleTypes') && items.every((x) => x && typeof x === 'object' && 'name' in x))
      items.sort(byName);
    if (key === 'locations' && items.every((x) => typeof x === 'string')) items.sort();
    return items;
  }
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeIntrospection(x, k);
    return o;
  }
  return v;
}

// The first place where two JSON values differ (path, both sides).
function firstDiff(a, b, path) {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) {
      if (a.length === b.length)
        for (let i = 0; i < a.length; i++) {
          const d = firstDiff(a[i], b[i], `${path}[${i}]`);
          if (d) return d;
        }
    } else {
      const ka = Object.keys(a), kb = Object.keys(b);
      if (JSON.stringify(ka) === JSON.stringify(kb))
        for (const k of ka) {
          const d = firstDiff(a[k], b[k], `${path}.${k}`);
          if (d) return d;
        }
      else return { path: `${path} (keys)`, a: ka, b: kb };
    }
  }
  return { path, a, b };
}

const errKey = (e) => JSON.stringify([e.path ?? null, e.locations ?? null]);

function compare(js, c, introspective) {
  const problems = [];
  if (c.crash) return [c.crash];
  if (js.threw) return [js.threw];
  const jd = 'data' in js, cd = 'data' in c;
  if (jd !== cd) problems.push(`data key: graphql-js ${jd ? 'has' : 'has no'} data, chatd ${cd ? 'has' : 'has no'} data`);
  else if (jd) {
    const a = JSON.stringify(introspective ? normalizeIntrospection(js.data) : js.data);
    const b = JSON.stringify(introspective ? normalizeIntrospection(c.data) : c.data);
    if (a !== b) {
      const d = firstDiff(introspective ? normalizeIntrospection(js.data) : js.data, introspective ? normalizeIntrospection(c.data) : c.data, 'data');
      problems.push(`data differs at ${d.path}:\n      graphql-js: ${JSON.stringify(d.a)?.slice(0, 600)}\n      chatd:      ${JSON.stringify(d.b)?.slice(0, 600)}`);
    }
  }
  const je = js.errors ?? [], ce = c.errors ?? [];
  if ('errors' in c && ce.length === 0) problems.push('chatd: empty "errors" list');
  if (je.length !== ce.length) problems.push(`error count: graphql-js ${je.length}, chatd ${ce.length}`);
  const jk = je.map(errKey).sort(), ck = ce.map(errKey).sort();
  if (JSON.stringify(jk) !== JSON.stringify(ck)) {
    problems.push(`error paths/locations differ:\n      graphql-js: ${jk.join(' ')}\n      chatd:      ${ck.join(' ')}`);
  }
  return problems;
}

// ---------------------------------------------------------------- main

const cases = loadCorpus().filter((c) => !filter || c.id.includes(filter));
if (nRandom > 0)
  for (const name of Object.keys(SCHEMAS)) cases.push(...generate(buildSchema(readFileSync(SCHEMAS[name].sdl, 'utf8')), nRandom, seed, name));
const results = [];

// Introspection-query checks, per schema and option set.
const INTROSPECTION_OPTIONS = [
  {},
  { descriptions: false },
  { specifiedByUrl: true },
  { directiveIsRepeatable: true },
  { schemaDescription: true },
  { inputValueDeprecation: true },
  { oneOf: true },
  { descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true },
];
const FULL = INTROSPECTION_OPTIONS.length - 1;
const introCases = [];
if (!filter || 'introspection'.includes(filter)) {
  for (const schema of Object.keys(SCHEMAS)) {
    INTROSPECTION_OPTIONS.forEach((o, i) => {
      introCases.push({
        id: `introspection:${schema}:${JSON.stringify(o)}`,
        schema,
        query: getIntrospectionQuery(o),
        operationName: 'IntrospectionQuery',
        full: i === FULL,
      });
    });
  }
}

const all = [...cases, ...introCases];
const groups = new Map();
for (const c of all) {
  const k = `${c.schema}\u0000${c.service ?? ''}`;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k).push(c);
}

for (const [k, group] of groups) {
  const [schemaName, service] = k.split('\u0000');
  const schema = jsSchema(schemaName, service || undefined);
  const data = JSON.parse(readFileSync(SCHEMAS[schemaName].data, 'utf8'));
  const reqs = group.map((c) => ({ query: c.query, variables: c.variables ?? null, operationName: c.operationName ?? null }));
  const cOut = runC(schemaName, service || undefined, reqs);
  // The same requests without the document cache, each run twice on the same
  // exec (as for subscription events), must answer byte-for-byte the same.
  const cOutNoCache = runC(schemaName, service || undefined, reqs, true);
  for (let i = 0; i < group.length; i++) {
    const c = group[i];
    const js = await runJs(schema, data, c);
    const introspective = /__schema|__type\b|__type\(/.test(c.query);
    const problems = compare(js, cOut[i], introspective);
    if (JSON.stringify(cOut[i]) !== JSON.stringify(cOutNoCache[i]))
      problems.push(`chatd answers differently with --no-cache: ${JSON.stringify(cOutNoCache[i]).slice(0, 600)}`);
    if (c.id.startsWith('introspection:') && cOut[i].data) {
      try {
        const client = buildClientSchema(cOut[i].data);
        if (c.full) {
          const ours = printSchema(lexicographicSortSchema(client));
          const theirs = printSchema(lexicographicSortSchema(buildSchema(readFileSync(SCHEMAS[schemaName].sdl, 'utf8'))));
          if (ours !== theirs) {
            const ol = ours.split('\n'), tl = theirs.split('\n');
            const at = ol.findIndex((l, j) => l !== tl[j]);
            problems.push(`printSchema(buildClientSchema(chatd)) differs from printSchema(buildSchema(SDL)) at line ${at + 1}:\n      SDL:   ${tl.slice(Math.max(0, at - 2), at + 3).join('\n             ')}\n      chatd: ${ol.slice(Math.max(0, at - 2), at + 3).join('\n             ')}`);
          }
        }
      } catch (e) {
        problems.push(`buildClientSchema rejected chatd's introspection: ${e.message}`);
      }
    }
    results.push({ case: c, js, c: cOut[i], problems });
  }
}

let identical = 0;
const mismatches = [];
const allowed = [];
for (const r of results) {
  if (r.problems.length === 0) identical++;
  else if (ALLOWLIST.has(r.case.id)) allowed.push(r);
  else mismatches.push(r);
}
for (const r of mismatches) {
  console.log(`MISMATCH ${r.case.id}`);
  if (verbose) console.log(`  document: ${r.case.query.trim().split('\n').join('\n            ')}`);
  if (r.case.variables !== undefined) console.log(`  variables: ${JSON.stringify(r.case.variables)}`);
  for (const p of r.problems) console.log(`  - ${p}`);
  if (verbose) {
    console.log(`  graphql-js: ${JSON.stringify(r.js).slice(0, 3000)}`);
    console.log(`  chatd:      ${JSON.stringify(r.c).slice(0, 3000)}`);
  }
}
for (const r of allowed) console.log(`allowed ${r.case.id}: ${ALLOWLIST.get(r.case.id)}`);
// Informational only (never fails the run): how many error messages are
// word-for-word graphql-js's, matching errors by (path, locations).
let msgSame = 0, msgTotal = 0;
const msgDiffs = [];
for (const r of results) {
  if (r.problems.length || !r.js.errors || !r.c.errors) continue;
  const theirs = r.js.errors.map((e) => `${errKey(e)} ${e.message}`);
  for (const e of r.c.errors) {
    msgTotal++;
    const i = theirs.indexOf(`${errKey(e)} ${e.message}`);
    if (i >= 0) {
      msgSame++;
      theirs.splice(i, 1);
    } else {
      const other = r.js.errors.filter((x) => errKey(x) === errKey(e)).map((x) => x.message);
      msgDiffs.push(`${r.case.id}: chatd "${e.message}" / graphql-js ${JSON.stringify(other)}`);
    }
  }
}
if (verbose) for (const d of msgDiffs) console.log(`message ${d}`);
console.log(`error messages identical to graphql-js: ${msgSame} of ${msgTotal} (informational)`);
const nValid = results.filter((r) => r.js.data !== undefined && !(r.js.errors?.length)).length;
console.log(
  `${results.length} documents, ${identical} identical, ${allowed.length} allowlisted, ${mismatches.length} mismatches ` +
    `(${nValid} without errors in graphql-js, ${results.length - nValid} with errors)`,
);
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify(mismatches.map((r) => ({ id: r.case.id, query: r.case.query, variables: r.case.variables, problems: r.problems, js: r.js, c: r.c })), null, 1));
}
process.exit(mismatches.length ? 1 : 0);
