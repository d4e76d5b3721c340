// GraphQL over HTTP edge cases against a real chatd: body limit edge (413),
// GET mutation (405 + Allow), bad JSON / missing query / bad parameter types
// (400), media types, CORS preflight, operational routes, async resolvers.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, gqlPost, signToken } from './lib/chatd.js';

const MAX_BODY = 4096;
let chatd;
const auth = { authorization: `Bearer ${signToken({ sub: 'u1' })}` };

before(async () => {
  chatd = await startChatd({ env: { CHATD_MAX_BODY: String(MAX_BODY) } });
});
after(async () => {
  const r = await chatd.stop();
  assert.equal(r.code, 0, chatd.logs());
});

// A JSON body of exactly n bytes carrying a valid query.
function bodyOfSize(n) {
  const base = JSON.stringify({ query: '{ __typename }', extensions: { pad: '' } });
  const pad = 'x'.repeat(n - base.length);
  const s = JSON.stringify({ query: '{ __typename }', extensions: { pad } });
  assert.equal(Buffer.byteLength(s), n);
  return s;
}

test('body at the limit is served, one byte more is 413', async () => {
  const ok = await gqlPost(chatd.url, bodyOfSize(MAX_BODY));
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { data: { __typename: 'Query' } });
  const big = await gqlPost(chatd.url, bodyOfSize(MAX_BODY + 1));
  assert.equal(big.status, 413);
  assert.match(JSON.stringify(big.body), /too large/i);
});

test('GET runs queries; mutation over GET is 405 with Allow: POST', async () => {
  const q = new URL(chatd.url);
  q.searchParams.set('query', '{ health { status } }');
  const res = await fetch(q);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { data: { health: { status: 'ok' } } });

  const m = new URL(chatd.url);
  m.searchParams.set('query', 'mutation M($t: String!) { echo(text: $t) }');
  m.searchParams.set('variables', JSON.stringify({ t: 'x' }));
  const res2 = await fetch(m, { headers: auth });
  assert.equal(res2.status, 405);
  assert.equal(res2.headers.get('allow'), 'POST');
});

test('protocol errors are 400', async () => {
  const bad = await gqlPost(chatd.url, '{ "query": ');
  assert.equal(bad.status, 400);
  assert.match(bad.body.errors[0].message, /JSON/);
  assert.equal((await gqlPost(chatd.url, { notquery: '{ __typename }' })).status, 400);
  assert.equal((await gqlPost(chatd.url, { query: 5 })).status, 400);
  assert.equal((await gqlPost(chatd.url, { query: '{ __typename }', variables: [1] })).status, 400);
  assert.equal((await gqlPost(chatd.url, { query: '{ __typename }', variables: 'x' })).status, 400);
  assert.equal((await gqlPost(chatd.url, { query: '{ __typename }', operationName: 1 })).status, 400);
  assert.equal((await gqlPost(chatd.url, '[]')).status, 400);
  const noCt = await fetch(chatd.url, { method: 'POST', body: '{"query":"{__typename}"}' });
  assert.equal(noCt.status, 415);
  const put = await fetch(chatd.url, { method: 'PUT' });
  assert.equal(put.status, 405);
});

test('parse and validation errors: 200 for application/json, 400 for graphql-response+json', async () => {
  const json = await gqlPost(chatd.url, { query: '{ nope' }, { accept: 'application/json' });
  assert.equal(json.status, 200);
  assert.match(json.headers.get('content-type'), /^application\/json/);
  assert.ok(json.body.errors[0].locations);
  assert.equal('data' in json.body, false);
  const gql = await gqlPost(chatd.url, { query: '{ nope }' }, { accept: 'application/graphql-response+json' });
  assert.equal(gql.status, 400);
  assert.match(gql.headers.get('content-type'), /^application\/graphql-response\+json/);
  assert.match(gql.body.errors[0].message, /Cannot query field "nope" on type "Query"/);
  const notAcc = await gqlPost(chatd.url, { query: '{ __typename }' }, { accept: 'text/html' });
  assert.equal(notAcc.status, 406);
});

test('variables, fragments and operationName over HTTP', async () => {
  const r = await gqlPost(
    chatd.url,
    {
      query: 'query A { __typename } query B($t: String!) { ...F e2: echo(text: "two") } fragment F on Query { e1: echo(text: $t) }',
      operationName: 'B',
      variables: { t: 'one' },
    },
    auth,
  );
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { data: { e1: 'one', e2: 'two' } });
  const missing = await gqlPost(chatd.url, { query: 'query B($t: String!) { echo(text: $t) }' }, auth);
  assert.equal(missing.status, 200);
  assert.match(missing.body.errors[0].message, /Variable "\$t" of required type "String!" was not provided/);
});

test('async resolvers run concurrently on one loop', async () => {
  const t0 = Date.now();
  const rs = await Promise.all(
    [1, 2, 3, 4].map(() => gqlPost(chatd.url, { query: '{ slow(ms: 300) }' }, auth)),
  );
  const dt = Date.now() - t0;
  for (const r of rs) assert.deepEqual(r.body, { data: { slow: 'slept 300 ms' } });
  assert.ok(dt < 1100, `4 x 300 ms took ${dt} ms: not concurrent`);
});

test('CORS preflight and response headers', async () => {
  const pre = await fetch(chatd.url, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://localhost:3000',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, user-id, username',
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
  const allowed = pre.headers.get('access-control-allow-headers');
  for (const h of ['content-type', 'authorization', 'user-id', 'username']) assert.match(allowed, new RegExp(h));
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);

  const evil = await fetch(chatd.url, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);

  const r = await gqlPost(chatd.url, { query: '{ __typename }' }, { origin: 'http://localhost:3001' });
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3001');
  assert.match(r.headers.get('vary'), /Origin/);
});

test('healthz, readyz, metrics, 404', async () => {
  const h = await fetch(`${chatd.base}/healthz`);
  assert.equal(h.status, 200);
  assert.equal((await h.text()).trim(), 'ok');
  const rz = await fetch(`${chatd.base}/readyz`);
  assert.equal(rz.status, 200); // nothing configured → ready
  const m = await fetch(`${chatd.base}/metrics`);
  assert.equal(m.status, 200);
  const text = await m.text();
  for (const name of [
    'chatd_connections{transport="http"}',
    'chatd_connections{transport="ws"}',
    'chatd_subscriptions',
    'chatd_operations_total{type="query",outcome="ok"}',
    'chatd_operation_duration_seconds_bucket{le="+Inf"}',
    'chatd_doc_cache_total{result="hit"}',
  ])
    assert.ok(text.includes(name), `metrics lack ${name}`);
  const ok = /chatd_operations_total\{type="query",outcome="ok"\} (\d+)/.exec(text);
  assert.ok(Number(ok[1]) > 0);
  const conns = /chatd_connections\{transport="http"\} (\d+)/.exec(text);
  assert.ok(Number(conns[1]) >= 1, 'the metrics request itself is an open HTTP connection');
  assert.equal((await fetch(`${chatd.base}/nope`)).status, 404);
});

test('health answers role and version', async () => {
  const r = await gqlPost(chatd.url, { query: '{ health { status role version } }' });
  assert.equal(r.body.data.health.role, 'all');
  assert.equal(r.body.data.health.status, 'ok');
  assert.match(r.body.data.health.version, /^\d+\.\d+\.\d+/);
});
