// graphql-transport-ws protocol rules, checked with a raw `ws` socket: every
// close code chatd uses (4400, 4401, 4403, 4406, 4408, 4409, 4429), ping/pong
// both ways, complete semantics, request errors as `error` messages, the
// per-connection operation limit and the inbound message rate limit.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, rawWs, initedWs, signToken, GQLWS } from './lib/chatd.js';

const token = signToken({ sub: 'u-proto' });
const init = { authToken: token };

describe('graphql-transport-ws protocol', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({
      env: { CHATD_WS_INIT_TIMEOUT_MS: '300', CHATD_MAX_SUBSCRIPTIONS: '3', CHATD_MAX_WS_MESSAGE: '4096' },
    });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('connection_init → connection_ack; ping → pong with payload; unsolicited pong ignored', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ type: 'pong', payload: { beat: 1 } });
    c.send({ type: 'ping', payload: { n: 42 } });
    const pong = await c.next((m) => m.type === 'pong');
    assert.deepEqual(pong, { type: 'pong', payload: { n: 42 } });
    c.send({ type: 'ping' });
    assert.deepEqual(await c.next((m) => m.type === 'pong'), { type: 'pong' });
    c.ws.close(1000);
    assert.equal((await c.closedWith()).code, 1000);
  });

  test('ping before connection_init is answered', async () => {
    const c = rawWs(chatd.wsUrl);
    await c.opened;
    c.send({ type: 'ping' });
    assert.equal((await c.next()).type, 'pong');
    c.close();
  });

  test('4400 on invalid messages, with the reason', async () => {
    for (const [msg, re] of [
      ['not json', /Invalid message/],
      [{ type: 'what' }, /Invalid message 'type'/],
      [{ type: 'subscribe', id: '', payload: { query: '{a}' } }, /non-empty/],
      [{ type: 'next', id: '1', payload: {} }, /Unexpected message/],
    ]) {
      const c = rawWs(chatd.wsUrl);
      await c.opened;
      c.send(msg);
      const closed = await c.closedWith();
      assert.equal(closed.code, 4400, JSON.stringify(msg));
      assert.match(closed.reason, re);
    }
  });

  test('a message at the size limit is served, one byte more closes 1009', async () => {
    const sized = (id, n) => {
      const base = JSON.stringify({ id, type: 'subscribe', payload: { query: '{ __typename }', extensions: { p: '' } } });
      const msg = JSON.stringify({ id, type: 'subscribe', payload: { query: '{ __typename }', extensions: { p: 'x'.repeat(n - base.length) } } });
      assert.equal(Buffer.byteLength(msg), n);
      return msg;
    };
    const c = await initedWs(chatd.wsUrl, init);
    c.send(sized('fits', 4096));
    assert.equal((await c.next((m) => m.id === 'fits')).type, 'next');
    c.send(sized('big', 4097));
    assert.equal((await c.closedWith()).code, 1009);
  });

  test('4401 for subscribe before connection_ack', async () => {
    const c = rawWs(chatd.wsUrl);
    await c.opened;
    c.send({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } });
    const closed = await c.closedWith();
    assert.deepEqual(closed, { code: 4401, reason: 'Unauthorized' });
  });

  test('4403 for connection_init without a valid token', async () => {
    for (const payload of [undefined, {}, { authToken: 'garbage' }, { authToken: signToken({ sub: 'x', secret: 'another-secret-0123456789' }) }, { authToken: signToken({ sub: 'x', ttl: -3600 }) }]) {
      const c = rawWs(chatd.wsUrl);
      await c.opened;
      c.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
      const closed = await c.closedWith();
      assert.deepEqual(closed, { code: 4403, reason: 'Forbidden' }, JSON.stringify(payload));
    }
  });

  test('4406 when the client does not speak graphql-transport-ws', async () => {
    // no subprotocol offered: accepted, then closed 4406 (as graphql-ws does)
    const c = rawWs(chatd.wsUrl, { protocols: [] });
    await c.opened;
    const closed = await c.closedWith();
    assert.equal(closed.code, 4406);
    assert.match(closed.reason, /Subprotocol not acceptable/);
    // only the legacy subprotocol offered: none selected, the client refuses
    const legacy = rawWs(chatd.wsUrl, { protocols: ['graphql-ws'] });
    await assert.rejects(legacy.opened, /no subprotocol/);
  });

  test('4408 when connection_init does not arrive in time', async () => {
    const c = rawWs(chatd.wsUrl);
    await c.opened;
    const t0 = Date.now();
    const closed = await c.closedWith(3000);
    assert.equal(closed.code, 4408);
    assert.match(closed.reason, /Connection initialisation timeout/);
    assert.ok(Date.now() - t0 >= 250, 'not before the configured timeout');
  });

  test('4409 for a duplicate operation id', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'dup', type: 'subscribe', payload: { query: 'subscription { countdown(from: 1000) }' } });
    await c.next((m) => m.type === 'next');
    c.send({ id: 'dup', type: 'subscribe', payload: { query: 'subscription { countdown(from: 1) }' } });
    const closed = await c.closedWith();
    assert.deepEqual(closed, { code: 4409, reason: 'Subscriber for dup already exists' });
  });

  // graphql-ws clients number operations with UUID v4 text; chatd keeps a
  // canonical UUID in one letter case as 16 bytes, anything else as text
  const L = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const U = L.toUpperCase();
  const M = L.slice(0, 30) + L.slice(30).toUpperCase(); // mixed case: stored as text
  const nearIds = [
    L.slice(0, 35), // 35 chars
    L + '0', // 37 chars
    L.slice(0, 35) + 'g', // not hex
    L.replaceAll('-', '_'), // no dashes
    `{${L}}`,
    '12345678-1234-4234-8234-123456789012', // no letters
  ];

  test('UUID and near-UUID operation ids are echoed byte for byte in next, error and complete', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    for (const id of [L, U, M, ...nearIds]) {
      c.send({ id, type: 'subscribe', payload: { query: 'query($t: String!) { echo(text: $t) }', variables: { t: id } } });
      assert.deepEqual(await c.next((m) => m.id === id), { id, type: 'next', payload: { data: { echo: id } } });
      assert.deepEqual(await c.next((m) => m.id === id), { id, type: 'complete' });
      c.send({ id, type: 'subscribe', payload: { query: '{ nope }' } });
      const err = await c.next((m) => m.id === id);
      assert.equal(err.type, 'error', id);
      c.send({ id, type: 'subscribe', payload: { query: 'subscription { countdown(from: 1, everyMs: 1) }' } });
      assert.deepEqual(await c.next((m) => m.id === id), { id, type: 'next', payload: { data: { countdown: 1 } } });
      assert.deepEqual(await c.next((m) => m.id === id), { id, type: 'next', payload: { data: { countdown: 0 } } });
      assert.deepEqual(await c.next((m) => m.id === id), { id, type: 'complete' });
    }
    // no frame carried an id the client did not send
    const sent = new Set([L, U, M, ...nearIds]);
    assert.deepEqual(c.messages.filter((m) => m.id !== undefined && !sent.has(m.id)), []);
    c.close();
  });

  test('UUID ids: the lower, upper and mixed case of one UUID are three ids; complete by id; 4409 on the exact id', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    const sub = (id) => c.send({ id, type: 'subscribe', payload: { query: 'subscription { countdown(from: 100000) }' } });
    for (const id of [L, U, M]) sub(id);
    for (const id of [L, U, M]) assert.equal((await c.next((m) => m.id === id)).type, 'next', id);
    c.send({ id: U, type: 'complete' });
    c.send({ id: L.replace('0f8f', '0F8f'), type: 'complete' }); // no such id (mixed case): ignored
    await new Promise((r) => setTimeout(r, 100));
    c.messages.length = 0;
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(c.messages.filter((m) => m.id === U), [], 'U stopped');
    for (const id of [L, M]) assert.ok(c.messages.some((m) => m.id === id && m.type === 'next'), `${id} still runs`);
    sub(U); // reusable after complete
    assert.equal((await c.next((m) => m.id === U && m.type === 'next')).payload.data.countdown, 100000);
    sub(L);
    assert.deepEqual(await c.closedWith(), { code: 4409, reason: `Subscriber for ${L} already exists` });
  });

  test('UUID ids: 4409 for a duplicate upper-case, mixed-case and near-UUID id; near-UUIDs are not a UUID\'s duplicate', async () => {
    for (const [first, second] of [
      [U, U],
      [M, M],
      [nearIds[2], nearIds[2]],
      [nearIds[5], nearIds[5]],
    ]) {
      const c = await initedWs(chatd.wsUrl, init);
      const sub = (id) => c.send({ id, type: 'subscribe', payload: { query: 'subscription { countdown(from: 100000) }' } });
      sub(first);
      await c.next((m) => m.id === first && m.type === 'next');
      sub(second);
      assert.deepEqual(await c.closedWith(), { code: 4409, reason: `Subscriber for ${second} already exists` });
    }
    const c = await initedWs(chatd.wsUrl, init);
    const sub = (id) => c.send({ id, type: 'subscribe', payload: { query: 'subscription { countdown(from: 100000) }' } });
    for (const id of [L, nearIds[0], nearIds[2]]) sub(id); // the limit here is 3
    for (const id of [L, nearIds[0], nearIds[2]]) assert.equal((await c.next((m) => m.id === id)).type, 'next', id);
    c.send({ id: nearIds[0], type: 'complete' });
    c.send({ id: nearIds[2], type: 'complete' });
    await new Promise((r) => setTimeout(r, 100));
    c.messages.length = 0;
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(c.messages.filter((m) => m.id !== L), []);
    assert.ok(c.messages.some((m) => m.id === L), 'the UUID one still runs');
    c.close();
  });

  test('4429 for a second connection_init', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ type: 'connection_init', payload: init });
    const closed = await c.closedWith();
    assert.deepEqual(closed, { code: 4429, reason: 'Too many initialisation requests' });
  });

  test('query and mutation answer next + complete; an id is reusable after complete', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'q', type: 'subscribe', payload: { query: 'query($t: String!) { echo(text: $t) }', variables: { t: 'a' } } });
    assert.deepEqual(await c.next((m) => m.id === 'q'), { id: 'q', type: 'next', payload: { data: { echo: 'a' } } });
    assert.deepEqual(await c.next((m) => m.id === 'q'), { id: 'q', type: 'complete' });
    c.send({ id: 'q', type: 'subscribe', payload: { query: 'mutation { echo(text: "b") }' } });
    assert.deepEqual(await c.next((m) => m.id === 'q'), { id: 'q', type: 'next', payload: { data: { echo: 'b' } } });
    assert.deepEqual(await c.next((m) => m.id === 'q'), { id: 'q', type: 'complete' });
    c.close();
  });

  test('request errors arrive as an `error` message with an array', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'e1', type: 'subscribe', payload: { query: '{ nope }' } });
    const err = await c.next((m) => m.id === 'e1');
    assert.equal(err.type, 'error');
    assert.ok(Array.isArray(err.payload));
    assert.match(err.payload[0].message, /Cannot query field "nope"/);
    c.send({ id: 'e2', type: 'subscribe', payload: { query: '{ echo(text: $x) }' } });
    assert.equal((await c.next((m) => m.id === 'e2')).type, 'error');
    c.send({ id: 'e3', type: 'subscribe', payload: { query: 'query($t: String!) { echo(text: $t) }', variables: { t: 5 } } });
    const e3 = await c.next((m) => m.id === 'e3');
    assert.equal(e3.type, 'error');
    assert.match(e3.payload[0].message, /\$t/);
    // the connection stays usable
    c.send({ id: 'ok', type: 'subscribe', payload: { query: '{ __typename }' } });
    assert.equal((await c.next((m) => m.id === 'ok')).type, 'next');
    c.close();
  });

  test('client complete stops a subscription; no further next for that id', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 's', type: 'subscribe', payload: { query: 'subscription { countdown(from: 1000) }' } });
    await c.next((m) => m.id === 's' && m.payload.data.countdown === 998);
    c.send({ id: 's', type: 'complete' });
    await new Promise((r) => setTimeout(r, 100));
    c.messages.length = 0;
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(c.messages.filter((m) => m.id === 's'), []);
    // complete for an unknown id is ignored
    c.send({ id: 'never', type: 'complete' });
    c.send({ type: 'ping' });
    assert.equal((await c.next((m) => m.type === 'pong')).type, 'pong');
    c.close();
  });

  test('client complete while a resolver is pending drops its result', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'slow', type: 'subscribe', payload: { query: '{ slow(ms: 200) }' } });
    await new Promise((r) => setTimeout(r, 50));
    c.send({ id: 'slow', type: 'complete' });
    await new Promise((r) => setTimeout(r, 350));
    assert.deepEqual(c.messages.filter((m) => m.id === 'slow'), []);
    c.close();
  });

  test('operation limit per connection answers an error for the extra one', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    for (const id of ['a', 'b', 'c'])
      c.send({ id, type: 'subscribe', payload: { query: 'subscription { countdown(from: 100000) }' } });
    c.send({ id: 'd', type: 'subscribe', payload: { query: 'subscription { countdown(from: 1) }' } });
    const err = await c.next((m) => m.id === 'd');
    assert.equal(err.type, 'error');
    assert.equal(err.payload[0].extensions.code, 'TOO_MANY_OPERATIONS');
    c.send({ id: 'a', type: 'complete' });
    c.send({ id: 'e', type: 'subscribe', payload: { query: 'subscription { countdown(from: 0) }' } });
    assert.deepEqual(await c.next((m) => m.id === 'e'), { id: 'e', type: 'next', payload: { data: { countdown: 0 } } });
    c.close();
  });

  test('subscriptions with the same document and variables share prepared state; each still gets its own stream', async () => {
    // same document + variables share one prepared exec in the server (gql_exec_borrow);
    // other variables must not, and completing one sharer must not disturb the others
    const q = 'subscription C($f: Int!, $ms: Int) { countdown(from: $f, everyMs: $ms) }';
    const a = await initedWs(chatd.wsUrl, init);
    const b = await initedWs(chatd.wsUrl, { authToken: signToken({ sub: 'u-proto-2' }) });
    const sub = (c, id, variables) => c.send({ id, type: 'subscribe', payload: { query: q, variables } });
    const stream = async (c, id) => {
      const got = [];
      for (;;) {
        const m = await c.next((x) => x.id === id);
        if (m.type === 'complete') return got;
        assert.equal(m.type, 'next', JSON.stringify(m));
        got.push(m.payload.data.countdown);
      }
    };
    sub(a, 'a1', { f: 1000, ms: 20 });
    await a.next((m) => m.id === 'a1' && m.type === 'next');
    sub(a, 'a2', { f: 1000, ms: 20 }); // shares a1's
    sub(b, 'b2', { f: 1000, ms: 20 }); // shares a1's, another caller
    sub(b, 'b1', { ms: 20, f: 4 }); // other variables
    await a.next((m) => m.id === 'a2' && m.type === 'next');
    await b.next((m) => m.id === 'b2' && m.type === 'next');
    a.send({ id: 'a1', type: 'complete' }); // the first sharer (its exec became the shared one) goes
    assert.deepEqual(await stream(b, 'b1'), [4, 3, 2, 1, 0]);
    // the sharers left keep counting down from their own start
    const seenA2 = (await a.next((m) => m.id === 'a2' && m.type === 'next')).payload.data.countdown;
    const seenB2 = (await b.next((m) => m.id === 'b2' && m.type === 'next')).payload.data.countdown;
    assert.ok(seenA2 < 1000 && seenB2 < 1000, `${seenA2} ${seenB2}`);
    // invalid variables for the same document: a request error, no shared state left behind
    sub(a, 'bad', { f: 'x', ms: 20 });
    const err = await a.next((m) => m.id === 'bad');
    assert.equal(err.type, 'error');
    a.send({ id: 'a2', type: 'complete' });
    b.send({ id: 'b2', type: 'complete' });
    // every sharer gone: the same key prepares afresh and works
    sub(a, 'again', { f: 2, ms: 20 });
    sub(b, 'again', { f: 2, ms: 20 });
    assert.deepEqual(await stream(a, 'again'), [2, 1, 0]);
    assert.deepEqual(await stream(b, 'again'), [2, 1, 0]);
    a.close();
    b.close();
  });

  test('a subscription field owned by another service answers WRONG_SERVICE', async () => {
    // role all serves everything; the role suite checks other roles
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'x', type: 'subscribe', payload: { query: 'subscription { countdown(from: 0) }' } });
    assert.equal((await c.next((m) => m.id === 'x')).type, 'next');
    c.close();
  });
});

describe('rate limit', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_WS_RATE: '20', CHATD_WS_BURST: '10' } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('4429 when a client floods messages; a polite client is unaffected', async () => {
    const polite = await initedWs(chatd.wsUrl, init);
    for (let i = 0; i < 5; i++) {
      polite.send({ type: 'ping' });
      await polite.next((m) => m.type === 'pong');
      await new Promise((r) => setTimeout(r, 60));
    }
    const c = await initedWs(chatd.wsUrl, init);
    for (let i = 0; i < 50; i++) c.send({ type: 'ping' });
    const closed = await c.closedWith();
    assert.deepEqual(closed, { code: 4429, reason: 'Too many messages' });
    const pongs = c.messages.filter((m) => m.type === 'pong').length;
    assert.ok(pongs >= 8 && pongs <= 20, `burst allowed ${pongs} pongs (burst 10 + refill at 20/s)`);
    polite.send({ type: 'ping' });
    assert.equal((await polite.next((m) => m.type === 'pong')).type, 'pong');
    polite.close();
  });
});

describe('WRONG_SERVICE over WebSocket', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ role: 'user' });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('a receiver subscription on the user role', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.send({ id: 'w', type: 'subscribe', payload: { query: 'subscription { messageAdded(chatId: "c1") { id } }' } });
    const next = await c.next((m) => m.id === 'w');
    assert.equal(next.type, 'next');
    assert.equal(next.payload.errors[0].extensions.code, 'WRONG_SERVICE');
    assert.equal(next.payload.errors[0].extensions.service, 'receiver');
    assert.match(next.payload.errors[0].message, /^(Field "messageAdded"|messageAdded) is served by the receiver service$/);
    assert.deepEqual(await c.next((m) => m.id === 'w'), { id: 'w', type: 'complete' });
    c.close();
  });
});

describe('heartbeat', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_WS_PING_MS: '200' } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('silent peers are pinged; one that never answers is closed 4504', async () => {
    const alive = await initedWs(chatd.wsUrl, init); // ws answers pings by default
    let pings = 0;
    alive.ws.on('ping', () => pings++);
    const dead = rawWs(chatd.wsUrl, { options: { autoPong: false } });
    await dead.opened;
    dead.send({ type: 'connection_init', payload: init });
    await dead.next((m) => m.type === 'connection_ack');
    const closed = await dead.closedWith(3000);
    assert.deepEqual(closed, { code: 4504, reason: 'Ping timeout' });
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(pings >= 2, `alive peer got ${pings} pings`);
    alive.send({ type: 'ping' });
    assert.equal((await alive.next((m) => m.type === 'pong')).type, 'pong');
    alive.close();
  });
});

describe('pending events per operation', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd();
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });
  const broadcast = async (times) => {
    const r = await fetch(chatd.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `mutation { broadcast(text: "t", times: ${times}) }` }),
    });
    return (await r.json()).data.broadcast;
  };
  const sub = { id: 'b', type: 'subscribe', payload: { query: 'subscription { broadcasts { seq slowText(ms: 1) } }' } };

  test('1024 events waiting behind a running one are kept; one more closes 4008', async () => {
    // one event runs (its slowText resolver pending), 1024 wait: at the limit
    const a = await initedWs(chatd.wsUrl, init);
    a.send(sub);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await broadcast(1025), 1025);
    for (let i = 0; i < 1025; i++) await a.next((m) => m.id === 'b' && m.type === 'next', 20000);
    a.send({ id: 'b', type: 'complete' });
    a.send({ type: 'ping' });
    await a.next((m) => m.type === 'pong');
    // one more than that: the 1026th emit finds the queue full
    const b = await initedWs(chatd.wsUrl, init);
    b.send(sub);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await broadcast(1026), 1025);
    const closed = await b.closedWith(20000);
    assert.deepEqual(closed, { code: 4008, reason: 'Slow consumer: too many pending events' });
    a.close();
  });
});

describe('slow consumer', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_WS_MAX_QUEUED: '65536' } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('a client that stops reading is closed with 4008 once its queue passes the limit', async () => {
    const c = await initedWs(chatd.wsUrl, init);
    c.ws._socket.pause(); // stop reading: the kernel buffers fill, then chatd's queue grows
    const text = 'x'.repeat(60000);
    for (let i = 0; i < 200; i++)
      c.send({ id: `q${i}`, type: 'subscribe', payload: { query: 'query($t: String!) { echo(text: $t) }', variables: { t: text } } });
    await new Promise((r) => setTimeout(r, 500));
    c.ws._socket.resume();
    const closed = await c.closedWith(15000);
    assert.equal(closed.code, 4008);
    assert.match(closed.reason, /Slow consumer/);
    const nexts = c.messages.filter((m) => m.type === 'next').length;
    assert.ok(nexts > 0 && nexts < 200, `${nexts} results before the close`);
    const m = await (await fetch(`${chatd.base}/metrics`)).text();
    assert.match(m, /chatd_ws_server_closes_total\{code="4008"\} [1-9]/);
  });
});
