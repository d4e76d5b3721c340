// GraphQL budgets over HTTP and WebSocket against a real chatd: the estimated
// cost of an operation is checked before anything runs (issue 15: 20 aliases of
// messages(limit: 1000) { content metadata } produced a 360 MB response), so
// that shape is refused at once with QUERY_TOO_COSTLY while /healthz on the
// same process keeps answering; every operation the web client sends
// (web/src/ops.js, read from the source) and the introspection query of
// current tools stay under the default budget; the response byte budget
// answers RESPONSE_TOO_LARGE instead of a response past it.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import { startChatd, signToken, gqlPost, initedWs, repoRoot } from './lib/chatd.js';

const CHAT = '00000000-0000-4000-8000-000000000001';
const ALIASES20 = `query Heavy { ${Array.from(
  { length: 20 },
  (_, i) => `m${i}: messages(chatId: "${CHAT}", limit: 1000) { content metadata }`,
).join(' ')} }`;

// The web client's documents, evaluated from web/src/ops.js with gql as the
// identity (no @apollo/client needed).
const WEB_PAGE = Number(/const PAGE = (\d+)/.exec(readFileSync(path.join(repoRoot, 'web/src/ChatWindow.jsx'), 'utf8'))?.[1]);

async function webOps() {
  let src = readFileSync(path.join(repoRoot, 'web/src/ops.js'), 'utf8');
  src = src.replace(/^import .*$/m, 'const gql = (s, ...v) => (typeof s === "string" ? s : String.raw(s, ...v));');
  // the server's optional features, all on: the documents at their largest
  src = src.replace(/^import \{ features \} from '\.\/net\.js';$/m, 'const features = { attachments: true };');
  assert.ok(!/^import /m.test(src), 'web/src/ops.js imports something this test does not stand in for');
  return import(`data:text/javascript,${encodeURIComponent(src)}`);
}

describe('cost budget (default settings)', () => {
  let chatd;
  let auth;
  before(async () => {
    chatd = await startChatd({ db: true });
    auth = { authorization: `Bearer ${signToken({ sub: 'u-cost', username: 'coster' })}` };
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('the 20-aliases shape is refused before it runs, with the cost and the limit', async () => {
    const t0 = performance.now();
    const r = await gqlPost(chatd.url, { query: ALIASES20 }, { ...auth, accept: 'application/graphql-response+json' });
    const ms = performance.now() - t0;
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.data, undefined);
    assert.equal(r.body.errors.length, 1);
    const e = r.body.errors[0];
    assert.equal(e.extensions.code, 'QUERY_TOO_COSTLY');
    assert.equal(e.extensions.cost, 40020);
    assert.equal(e.extensions.limit, 25000);
    assert.match(e.message, /estimated cost 40020 exceeds the limit of 25000/);
    assert.ok(ms < 2000, `refusal took ${ms} ms`);
    // legacy media type: request errors are 200 with the same error
    const j = await gqlPost(chatd.url, { query: ALIASES20 }, auth);
    assert.equal(j.status, 200);
    assert.equal(j.body.errors[0].extensions.code, 'QUERY_TOO_COSTLY');
  });

  test('/healthz keeps answering while the costly shape arrives in parallel', async () => {
    const flood = Array.from({ length: 40 }, () => gqlPost(chatd.url, { query: ALIASES20 }, auth));
    const t0 = performance.now();
    const h = await fetch(`${chatd.base}/healthz`);
    const healthMs = performance.now() - t0;
    assert.equal(h.status, 200);
    const all = await Promise.all(flood);
    for (const r of all) assert.equal(r.body.errors[0].extensions.code, 'QUERY_TOO_COSTLY');
    assert.ok(healthMs < 1000, `/healthz took ${healthMs} ms`);
  });

  test('the same page once is within the budget (it runs)', async () => {
    const r = await gqlPost(chatd.url, { query: `{ messages(chatId: "${CHAT}", limit: 1000) { content metadata } }` }, auth);
    assert.ok('data' in r.body, JSON.stringify(r.body)); // executed: the cost check passed
    for (const e of r.body.errors ?? []) assert.notEqual(e.extensions?.code, 'QUERY_TOO_COSTLY');
  });

  test("the web client's operations and tools' introspection stay under the budget", async () => {
    // Queries run (their `data` proves the cost check passed; the largest
    // page sizes are asked for) and subscriptions start; mutations return
    // one object each and are not run here (no side effects in the test
    // database).
    const ops = await webOps();
    const docs = Object.entries(ops).filter(([, v]) => typeof v === 'string' && /^\s*(query|subscription)\b/.test(v));
    assert.ok(docs.length >= 10, `read ${docs.length} documents from web/src/ops.js`);
    docs.push(['readStatusQuery(100)', ops.readStatusQuery(Array.from({ length: 100 }, (_, i) => `m${i}`))]);
    docs.push(['onlineQuery(100)', ops.onlineQuery(Array.from({ length: 100 }, (_, i) => `c${i}`))]);
    docs.push([
      'introspection',
      getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true }),
    ]);
    const ws = await initedWs(chatd.wsUrl, { authToken: auth.authorization.slice(7) });
    try {
      let id = 0;
      for (const [name, query] of docs) {
        // the page size the client really asks for (ChatWindow.jsx PAGE) for
        // history; every other list at 1000
        const limit = name === 'GET_MESSAGES' ? WEB_PAGE : 1000;
        const variables = { s: null, limit, id: CHAT, chatId: CHAT, userId: 'u-cost', q: 'hello', first: 100 };
        if (/^\s*subscription/.test(query)) {
          // subscriptions are checked when they start (graphql-transport-ws)
          const sid = `s${id++}`;
          ws.send({ id: sid, type: 'subscribe', payload: { query, variables } });
          const m = await ws.next((x) => x.id === sid && x.type === 'error', 800).catch(() => null);
          if (m) for (const e of m.payload) assert.notEqual(e.extensions?.code, 'QUERY_TOO_COSTLY', name);
          ws.send({ id: sid, type: 'complete' });
          continue;
        }
        const r = await gqlPost(chatd.url, { query, variables }, auth);
        assert.ok('data' in r.body, `${name}: ${JSON.stringify(r.body).slice(0, 300)}`);
        for (const e of r.body.errors ?? []) assert.notEqual(e.extensions?.code, 'QUERY_TOO_COSTLY', `${name}: ${e.message}`);
        if (name === 'introspection') assert.ok(r.body.data.__schema.types.length > 10);
      }
      // over graphql-transport-ws the costly shape is an `error` message
      ws.send({ id: 'heavy', type: 'subscribe', payload: { query: ALIASES20 } });
      const err = await ws.next((m) => m.id === 'heavy');
      assert.equal(err.type, 'error');
      assert.equal(err.payload[0].extensions.code, 'QUERY_TOO_COSTLY');
    } finally {
      ws.close();
    }
  });
});

describe('settings: CHATD_MAX_QUERY_COST and CHATD_MAX_RESPONSE_BYTES', () => {
  let chatd;
  let auth;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_MAX_QUERY_COST: '5', CHATD_MAX_RESPONSE_BYTES: '4096' } });
    auth = { authorization: `Bearer ${signToken({ sub: 'u-bytes', username: 'bytes' })}` };
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('the cost budget is the setting: 5 fields run, 6 are refused', async () => {
    const five = '{ a: echo(text: "x") b: echo(text: "x") c: echo(text: "x") d: echo(text: "x") e: echo(text: "x") }';
    const ok = await gqlPost(chatd.url, { query: five }, auth);
    assert.equal(ok.body.errors, undefined, JSON.stringify(ok.body));
    assert.equal(ok.body.data.e, 'x');
    const six = five.replace(' }', ' f: echo(text: "x") }');
    const no = await gqlPost(chatd.url, { query: six }, auth);
    assert.equal(no.body.errors[0].extensions.code, 'QUERY_TOO_COSTLY');
    assert.equal(no.body.errors[0].extensions.limit, 5);
  });

  test('a response past the byte budget is answered RESPONSE_TOO_LARGE', async () => {
    const q = 'query($t: String!) { a: echo(text: $t) b: echo(text: $t) }';
    const small = await gqlPost(chatd.url, { query: q, variables: { t: 'y'.repeat(1000) } }, auth);
    assert.equal(small.body.data.a.length, 1000);
    const big = await gqlPost(chatd.url, { query: q, variables: { t: 'y'.repeat(3000) } }, auth);
    assert.equal(big.status, 200);
    assert.equal(big.body.data, null);
    assert.equal(big.body.errors.length, 1);
    assert.equal(big.body.errors[0].extensions.code, 'RESPONSE_TOO_LARGE');
    assert.equal(big.body.errors[0].extensions.limit, 4096);
    // and over WebSocket: the `next` payload carries the same answer
    const ws = await initedWs(chatd.wsUrl, { authToken: signToken({ sub: 'u-bytes' }) });
    try {
      ws.send({ id: '1', type: 'subscribe', payload: { query: q, variables: { t: 'y'.repeat(3000) } } });
      const m = await ws.next((x) => x.id === '1' && x.type === 'next');
      assert.equal(m.payload.data, null);
      assert.equal(m.payload.errors[0].extensions.code, 'RESPONSE_TOO_LARGE');
    } finally {
      ws.close();
    }
  });
});
