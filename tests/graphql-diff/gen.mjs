// Random document generator for the differential suite: `node run.mjs <gqlrun>
// --random N [--seed S]` adds N generated documents (deterministic per seed)
// against each schema — mostly valid, with a share of mistakes (unknown
// fields, wrong argument values, missing sub-selections, bad variables) — to
// find differences the hand-written corpus does not cover. Interesting finds
// belong in corpus/ as fixed cases.
import {
  getNamedType,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';

// Small deterministic PRNG (mulberry32).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generate(schema, n, seed, schemaName = 'test') {
  const r = rng(seed);
  const chance = (p) => r() < p;
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const docs = [];

  function literal(type, depth = 0) {
    if (isNonNullType(type)) return chance(0.03) ? 'null' : literal(type.ofType, depth);
    if (chance(0.08)) return 'null';
    if (chance(0.04)) return pick(['"oops"', '3.5', 'true', 'NOPE', '[1]', '{a: 1}', '2147483648']);
    if (isListType(type)) {
      if (chance(0.3)) return literal(type.ofType, depth + 1);
      const k = Math.floor(r() * 3);
      return `[${Array.from({ length: k }, () => literal(type.ofType, depth + 1)).join(', ')}]`;
    }
    if (isEnumType(type)) return pick(type.getValues()).name;
    if (isInputObjectType(type)) {
      if (depth > 2) return '{}';
      const parts = [];
      for (const f of Object.values(type.getFields())) {
        if (isNonNullType(f.type) ? chance(0.95) : chance(0.4)) parts.push(`${f.name}: ${literal(f.type, depth + 1)}`);
      }
      if (chance(0.05)) parts.push('bogus: 1');
      return `{${parts.join(', ')}}`;
    }
    switch (type.name) {
      case 'Int':
        return String(Math.floor(r() * 200) - 100);
      case 'Float':
        return pick(['1.5', '-0.25', '3', '1e3', '6.02E23']);
      case 'String':
        return pick(['"a"', '"héllo"', '"with \\"quote\\""', '""', '"""block"""']);
      case 'Boolean':
        return pick(['true', 'false']);
      case 'ID':
        return pick(['"1000"', '42', '"x"']);
      default:
        return pick(['"2026-01-01"', '1', '{k: [1, "v"]}', 'true']);
    }
  }

  function jsonValue(type, depth = 0) {
    if (isNonNullType(type)) return chance(0.03) ? null : jsonValue(type.ofType, depth);
    if (chance(0.08)) return null;
    // (no junk arrays for input objects: graphql-js reads an array as an object, a known quirk)
    if (chance(0.04)) return pick(['oops', 3.5, true, isInputObjectType(type) ? 'obj' : [1], { a: 1 }, 2147483648]);
    if (isListType(type)) {
      if (chance(0.3)) return jsonValue(type.ofType, depth + 1);
      return Array.from({ length: Math.floor(r() * 3) }, () => jsonValue(type.ofType, depth + 1));
    }
    if (isEnumType(type)) return pick(type.getValues()).name;
    if (isInputObjectType(type)) {
      const o = {};
      if (depth > 2) return o;
      for (const f of Object.values(type.getFields()))
        if (isNonNullType(f.type) ? chance(0.95) : chance(0.4)) o[f.name] = jsonValue(f.type, depth + 1);
      return o;
    }
    switch (type.name) {
      case 'Int':
        return Math.floor(r() * 200) - 100;
      case 'Float':
        return pick([1.5, -0.25, 3, 1000]);
      case 'String':
        return pick(['a', 'héllo', '', 'x\ny']);
      case 'Boolean':
        return chance(0.5);
      case 'ID':
        return pick(['1000', 42, 'x']);
      default:
        return pick(['2026-01-01', 1, { k: [1, 'v'] }]);
    }
  }

  function gen() {
    const vars = [];
    const varValues = {};
    const frags = [];
    let aliasN = 0;

    function args(field) {
      const out = [];
      for (const a of field.args) {
        const required = isNonNullType(a.type) && a.defaultValue === undefined;
        if (!(required ? chance(0.95) : chance(0.35))) continue;
        if (chance(0.25)) {
          const name = `v${vars.length}`;
          const t = chance(0.9) ? String(a.type) : pick(['Int', 'String!', '[Int]', 'Boolean']);
          vars.push(`$${name}: ${t}${chance(0.1) ? ` = ${literal(a.type)}` : ''}`);
          if (chance(0.85)) varValues[name] = jsonValue(a.type);
          out.push(`${a.name}: $${name}`);
        } else {
          out.push(`${a.name}: ${literal(a.type)}`);
        }
      }
      if (chance(0.03)) out.push('unknownArg: 1');
      return out.length ? `(${out.join(', ')})` : '';
    }

    function directives() {
      if (!chance(0.1)) return '';
      if (chance(0.3)) {
        const name = `d${vars.length}`;
        vars.push(`$${name}: Boolean!`);
        varValues[name] = chance(0.5);
        return ` @${pick(['skip', 'include'])}(if: $${name})`;
      }
      return ` @${pick(['skip', 'include'])}(if: ${pick(['true', 'false'])})`;
    }

    function selection(type, depth) {
      const items = [];
      const fields = isObjectType(type) || isInterfaceType(type) ? Object.values(type.getFields()) : [];
      const k = 1 + Math.floor(r() * Math.min(4, fields.length + 1));
      for (let i = 0; i < k; i++) {
        if (fields.length === 0 || chance(0.08)) {
          items.push('__typename');
          continue;
        }
        if (chance(0.02)) {
          items.push('notAField');
          continue;
        }
        const f = pick(fields);
        const alias = chance(0.15) ? `a${aliasN++}: ` : '';
        const named = getNamedType(f.type);
        let sub = '';
        if (isCompositeType(named)) {
          if (depth >= 3 || chance(0.02)) sub = depth >= 3 ? ' { __typename }' : '';
          else sub = ` { ${selection(named, depth + 1)} }`;
        } else if (isLeafType(named) && chance(0.01)) {
          sub = ' { x }';
        }
        items.push(`${alias}${f.name}${args(f)}${directives()}${sub}`);
      }
      if (isAbstractType(type) && chance(0.6)) {
        const possible = schema.getPossibleTypes(type);
        const t = pick(possible);
        items.push(`... on ${t.name}${directives()} { ${selection(t, depth + 1)} }`);
      }
      if (isCompositeType(type) && chance(0.15) && frags.length < 3) {
        const name = `F${frags.length}`;
        frags.push(null);
        const body = selection(type, depth + 1);
        frags[frags.length - 1] = `fragment ${name} on ${type.name} { ${body} }`;
        items.push(`...${name}${directives()}`);
      }
      return items.join(' ');
    }

    const opType = chance(0.85) ? 'query' : chance(0.5) ? 'mutation' : 'subscription';
    const root =
      (opType === 'query' ? schema.getQueryType() : opType === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType()) ??
      schema.getQueryType();
    const sel = opType === 'subscription' ? (() => {
      const f = pick(Object.values(root.getFields()));
      const named = getNamedType(f.type);
      return `${f.name}${args(f)}${isCompositeType(named) ? ` { ${selection(named, 1)} }` : ''}`;
    })() : selection(root, 0);
    const header = vars.length ? `(${vars.join(', ')})` : '';
    const query = `${opType} Gen${header} { ${sel} }\n${frags.join('\n')}\n`;
    return { query, variables: Object.keys(varValues).length ? varValues : undefined, operationName: 'Gen' };
  }

  for (let i = 0; i < n; i++) {
    const doc = { id: `random:${schemaName}:${seed}:${i}`, schema: schemaName, ...gen() };
    // The chat schema's root fields have owners: run a share as each role.
    if (schemaName === 'chat' && chance(0.5)) doc.service = pick(['user', 'sender', 'receiver']);
    docs.push(doc);
  }
  return docs;
}
