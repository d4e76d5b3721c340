// gen-routing.mjs — writes web/src/routing.generated.js, the table of which
// chatd role serves each root field, from the @owner(role: "...") directives
// of schema/chat.graphql (parsed with graphql-js, web's own dependency).
//
//   node web/scripts/gen-routing.mjs           regenerate after a schema change
//   node web/scripts/gen-routing.mjs --check   exit 1 if the committed file differs
//                                              (part of `make test`)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMA = 'schema/chat.graphql';
const OUT = 'web/src/routing.generated.js';
const ROOTS = ['Query', 'Mutation', 'Subscription'];

/** The generated module's text for the SDL text `sdl`. */
function generate(sdl) {
  const table = {};
  for (const def of parse(sdl).definitions) {
    if (def.kind !== 'ObjectTypeDefinition' && def.kind !== 'ObjectTypeExtension') continue;
    if (!ROOTS.includes(def.name.value)) continue;
    const op = def.name.value.toLowerCase();
    for (const f of def.fields ?? []) {
      const owner = f.directives.find((d) => d.name.value === 'owner');
      if (!owner) continue;
      const role = owner.arguments.find((a) => a.name.value === 'role');
      if (!role || role.value.kind !== 'StringValue' || !/^[a-z]+$/.test(role.value.value)) {
        throw new Error(`${SCHEMA}: ${def.name.value}.${f.name.value}: @owner needs role: "..."`);
      }
      (table[op] ??= {})[f.name.value] = role.value.value;
    }
  }
  const lines = [
    `// routing.generated.js — GENERATED from ${SCHEMA} (@owner) by`,
    '// web/scripts/gen-routing.mjs; do not edit: run `node web/scripts/gen-routing.mjs`.',
    '// Operation type → root field → the chatd role that serves it.',
    'export const OWNERS = {',
  ];
  for (const op of ROOTS.map((r) => r.toLowerCase())) {
    if (!table[op]) continue;
    lines.push(`  ${op}: {`);
    for (const [field, role] of Object.entries(table[op])) lines.push(`    ${field}: '${role}',`);
    lines.push('  },');
  }
  lines.push('};', '');
  return lines.join('\n');
}

const want = generate(fs.readFileSync(path.join(root, SCHEMA), 'utf8'));
const out = path.join(root, OUT);
if (process.argv.includes('--check')) {
  const have = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  if (have !== want) {
    console.error(`gen-routing: ${OUT} is not what ${SCHEMA} generates;` +
      ' run `node web/scripts/gen-routing.mjs` and commit the result');
    process.exit(1);
  }
  console.log(`gen-routing: ${OUT} matches ${SCHEMA}`);
} else {
  fs.writeFileSync(out, want);
  console.log(`gen-routing: wrote ${OUT}`);
}
