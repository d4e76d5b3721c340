// graphql-ws's own client (createClient, with the `ws` package) against
// chatd: queries, mutations, variables, fragments, the countdown
// subscription to completion, and an early unsubscribe.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { startChatd, signToken } from './lib/chatd.js';

let chatd;
let client;
before(async () => {
  chatd = await startChatd();
  client = createClient({
    url: chatd.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authToken: signToken({ sub: 'u-ws' }) },
    retryAttempts: 0,
    lazy: true,
  });
});
after(async () => {
  await client.dispose();
  const r = await chatd.stop();
  assert.equal(r.code, 0, chatd.logs());
});

function collect(payload) {
  return new Promise((resolve, reject) => {
    const results = [];
    client.subscribe(payload, {
      next: (v) => results.push(v),
      error: reject,
      complete: () => resolve(results),
    });
  });
}

test('query with variables and fragments', async () => {
  const r = await collect({
    query: 'query Q($t: String!) { ...H e: echo(text: $t) } fragment H on Query { health { role } }',
    variables: { t: 'hello' },
  });
  assert.deepEqual(r, [{ data: { health: { role: 'all' }, e: 'hello' } }]);
});

test('mutation', async () => {
  const r = await collect({ query: 'mutation M($t: String!) { echo(text: $t) }', variables: { t: 'm' } });
  assert.deepEqual(r, [{ data: { echo: 'm' } }]);
});

test('countdown subscription emits from..0 then completes', async () => {
  const r = await collect({ query: 'subscription { countdown(from: 5) }' });
  assert.deepEqual(
    r.map((x) => x.data.countdown),
    [5, 4, 3, 2, 1, 0],
  );
});

test('aliases and __typename in subscription selections', async () => {
  const r = await collect({ query: 'subscription S { n: countdown(from: 1) }', operationName: 'S' });
  assert.deepEqual(r, [{ data: { n: 1 } }, { data: { n: 0 } }]);
});

test('unsubscribe stops the stream early', async () => {
  const got = [];
  await new Promise((resolve, reject) => {
    const unsubscribe = client.subscribe(
      { query: 'subscription { countdown(from: 1000) }' },
      {
        next: (v) => {
          got.push(v.data.countdown);
          if (got.length === 3) {
            unsubscribe();
            setTimeout(resolve, 100);
          }
        },
        error: reject,
        complete: () => {},
      },
    );
  });
  assert.deepEqual(got, [1000, 999, 998]);
  // the connection is still usable
  const r = await collect({ query: '{ __typename }' });
  assert.deepEqual(r, [{ data: { __typename: 'Query' } }]);
});

test('validation errors reject the operation', async () => {
  await assert.rejects(collect({ query: '{ nope }' }), (errs) => {
    assert.ok(Array.isArray(errs), 'error sink gets the errors array');
    assert.match(errs[0].message, /Cannot query field "nope"/);
    return true;
  });
});

test('many concurrent subscriptions on one socket', async () => {
  const all = await Promise.all(
    Array.from({ length: 20 }, (_, i) => collect({ query: `subscription { countdown(from: ${i % 4}) }` })),
  );
  all.forEach((r, i) => assert.equal(r.length, (i % 4) + 1));
});

test('one shared event fans out to every subscriber (HTTP mutation → WS next)', async () => {
  const clients = Array.from({ length: 5 }, () =>
    createClient({ url: chatd.wsUrl, webSocketImpl: WebSocket, connectionParams: { authToken: signToken({ sub: 'fan' }) }, retryAttempts: 0 }),
  );
  const got = clients.map(() => []);
  const ready = [];
  const unsubs = clients.flatMap((cl, i) =>
    [0, 1].map(() =>
      cl.subscribe(
        { query: 'subscription { broadcasts { text seq __typename } }' },
        { next: (v) => got[i].push(v.data.broadcasts), error: (e) => assert.fail(JSON.stringify(e)), complete: () => {} },
      ),
    ),
  );
  // wait until all ten subscriptions are registered: broadcast answers how many took it
  let n = 0;
  for (let i = 0; i < 50 && n !== 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const r = await fetch(chatd.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${signToken({ sub: 'x' })}` },
      body: JSON.stringify({ query: 'mutation { broadcast(text: "probe") }' }),
    });
    n = (await r.json()).data.broadcast;
  }
  assert.equal(n, 10);
  for (const g of got) g.length = 0;
  const r = await fetch(chatd.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${signToken({ sub: 'x' })}` },
    body: JSON.stringify({ query: 'mutation { broadcast(text: "hello all") }' }),
  });
  assert.deepEqual(await r.json(), { data: { broadcast: 10 } });
  await new Promise((r) => setTimeout(r, 200));
  for (const all of got) {
    const g = all.filter((note) => note.text === 'hello all'); // late probes may still arrive
    assert.equal(g.length, 2);
    for (const note of g) assert.equal(note.__typename, 'FixtureNote');
    assert.equal(g[0].seq, g[1].seq);
  }
  unsubs.forEach((u) => u());
  await Promise.all(clients.map((c) => c.dispose()));
});
