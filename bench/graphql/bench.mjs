// graphql-js 16 counterpart of bench/tools/gqlbench.c: the same schema
// (schema/chat.graphql), query (query.graphql), variables and in-memory data
// (data.json, default resolvers), the same stages, printed as the same JSON
// lines {"stage", "ns_per_op", "iters"}.
//   parse     parse(query)
//   validate  validate(schema, document)
//   execute   execute() of a pre-parsed document + JSON.stringify
//   uncached  parse + validate + execute + JSON.stringify (a request)
//   cached    graphql-js has no document cache: the closest is execute of a
//             pre-parsed, pre-validated document (= execute)
//   node bench.mjs [--schema ../../schema/chat.graphql] [--data data.json] [--ms 1000]
import { buildSchema, parse, validate, execute } from 'graphql';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const schemaPath = opt('--schema', join(here, '../../schema/chat.graphql'));
const ms = Number(opt('--ms', 1000));
const dataName = opt('--data', 'data.json');

const schema = buildSchema(readFileSync(schemaPath, 'utf8'));
const query = readFileSync(join(here, 'query.graphql'), 'utf8');
const data = JSON.parse(readFileSync(join(here, dataName), 'utf8'));
const variableValues = { userId: '0b8c5f3e-0000-4000-8000-000000000001' };
const document = parse(query);
let sink = 0;

const stages = {
  parse: () => {
    sink += parse(query).definitions.length;
  },
  validate: () => {
    const errs = validate(schema, document);
    if (errs.length) throw errs[0];
  },
  execute: () => {
    const r = execute({ schema, document, rootValue: data, variableValues });
    sink += JSON.stringify(r).length;
  },
  uncached: () => {
    const doc = parse(query);
    const errs = validate(schema, doc);
    if (errs.length) throw errs[0];
    const r = execute({ schema, document: doc, rootValue: data, variableValues });
    sink += JSON.stringify(r).length;
  },
};

const timed = {};
function time(name, fn) {
  const warm = performance.now() + Math.max(200, ms / 2);
  while (performance.now() < warm) fn();
  let iters = 0;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < ms) {
    for (let i = 0; i < 16; i++) fn();
    iters += 16;
    t1 = performance.now();
  }
  timed[name] = { stage: name, ns_per_op: Number((((t1 - t0) * 1e6) / iters).toFixed(1)), iters };
  console.log(JSON.stringify(timed[name]));
}

const r = execute({ schema, document, rootValue: data, variableValues });
if (r.errors) throw new Error(JSON.stringify(r.errors));
for (const [name, fn] of Object.entries(stages)) time(name, fn);
// graphql-js has no document cache: its "cached" figure is the execute stage
// (the same operation; timing it twice would only add noise).
console.log(JSON.stringify({ ...timed.execute, stage: 'cached' }));

console.log(JSON.stringify({ stage: 'response_bytes', bytes: Buffer.byteLength(JSON.stringify(r)) }));
if (sink < 0) console.log(sink);
