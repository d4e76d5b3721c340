// Subscription fan-out (issue 7): one event delivered to many subscriptions
// is executed once per group of subscribers with the same document, the same
// variables and the same caller; the serialised payload is reused, each
// socket still gets its own frame with its own id. Checked through
// /metrics (chatd_subscription_executions_total vs
// chatd_subscription_deliveries_total) with the broadcast fixture (one
// shared event per broadcast, like the receiver's feed).
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, initedWs, signToken } from './lib/chatd.js';

const tokA = signToken({ sub: 'u-fan-a', username: 'a' });
const tokB = signToken({ sub: 'u-fan-b', username: 'b' });

describe('subscription fan-out executes once per (document, variables, caller)', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd();
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  const metric = async (name) => {
    const text = await (await fetch(`${chatd.base}/metrics`)).text();
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `${name} missing from /metrics`);
    return Number(m[1]);
  };
  const counters = async () => ({
    exec: await metric('chatd_subscription_executions_total'),
    deliv: await metric('chatd_subscription_deliveries_total'),
  });
  const broadcast = async (text) => {
    const r = await fetch(chatd.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
      body: JSON.stringify({ query: `mutation { broadcast(text: ${JSON.stringify(text)}) }` }),
    });
    return (await r.json()).data.broadcast;
  };
  // one socket per subscriber; resolves once the subscription is live
  const subscribe = async (token, id, query, variables) => {
    const c = await initedWs(chatd.wsUrl, { authToken: token });
    c.send({ id, type: 'subscribe', payload: { query, variables } });
    return c;
  };
  const settle = () => new Promise((r) => setTimeout(r, 150));

  test('N subscribers of one document and caller: one execution, N identical payloads', async () => {
    const N = 8;
    const q = 'subscription S { broadcasts { seq text } }';
    const socks = [];
    for (let i = 0; i < N; i++) socks.push(await subscribe(tokA, `s${i}`, q));
    await settle();
    const before = await counters();
    assert.equal(await broadcast('hello'), N);
    const got = await Promise.all(socks.map((c, i) => c.next((m) => m.id === `s${i}` && m.type === 'next')));
    const after = await counters();
    assert.equal(after.exec - before.exec, 1, 'executed once for all subscribers');
    assert.equal(after.deliv - before.deliv, N, 'delivered to every subscriber');
    for (const m of got) assert.deepEqual(m.payload, got[0].payload);
    assert.equal(got[0].payload.data.broadcasts.text, 'hello');
    for (const c of socks) c.close();
  });

  test('distinct callers, documents and variables each execute once', async () => {
    const q1 = 'subscription { broadcasts { seq text } }';
    const q2 = 'subscription { broadcasts { text } }';
    const qv = 'subscription V($ms: Int!) { broadcasts { seq slowText(ms: $ms) } }';
    const socks = [
      await subscribe(tokA, 'a1', q1), // group 1
      await subscribe(tokA, 'a2', q1), // group 1
      await subscribe(tokB, 'b1', q1), // group 2: another caller
      await subscribe(tokB, 'b2', q1), // group 2
      await subscribe(tokA, 'a3', q2), // group 3: another document
      await subscribe(tokA, 'v1', qv, { ms: 1 }), // group 4
      await subscribe(tokA, 'v2', qv, { ms: 1 }), // group 4
      await subscribe(tokA, 'v3', qv, { ms: 2 }), // group 5: other variables
    ];
    const ids = ['a1', 'a2', 'b1', 'b2', 'a3', 'v1', 'v2', 'v3'];
    await settle();
    const before = await counters();
    assert.equal(await broadcast('x'), ids.length);
    const got = await Promise.all(socks.map((c, i) => c.next((m) => m.id === ids[i] && m.type === 'next')));
    const after = await counters();
    assert.equal(after.exec - before.exec, 5);
    assert.equal(after.deliv - before.deliv, ids.length);
    assert.deepEqual(got[0].payload, got[1].payload);
    assert.deepEqual(got[2].payload, got[0].payload); // same data, computed separately
    assert.deepEqual(got[4].payload, { data: { broadcasts: { text: 'x' } } });
    assert.equal(got[5].payload.data.broadcasts.slowText, 'x');
    assert.deepEqual(got[6].payload, got[5].payload);
    for (const c of socks) c.close();
  });

  test('subscribers waiting on an asynchronous execution get its result, in order', async () => {
    // slowText completes from a timer: later subscribers wait for the first
    // one's run instead of executing again, and keep their event order
    const N = 6;
    const q = 'subscription { broadcasts { seq slowText(ms: 30) } }';
    const socks = [];
    for (let i = 0; i < N; i++) socks.push(await subscribe(tokB, `w${i}`, q));
    await settle();
    const before = await counters();
    for (let k = 0; k < 3; k++) assert.equal(await broadcast(`e${k}`), N);
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < 3; k++) {
        const m = await socks[i].next((x) => x.id === `w${i}` && x.type === 'next', 5000);
        assert.equal(m.payload.data.broadcasts.slowText, `e${k}`);
      }
    }
    const after = await counters();
    assert.equal(after.exec - before.exec, 3);
    assert.equal(after.deliv - before.deliv, 3 * N);
    for (const c of socks) c.close();
  });

  test('a waiting subscriber that completes early does not disturb the others', async () => {
    const q = 'subscription { broadcasts { seq slowText(ms: 50) } }';
    const a = await subscribe(tokA, 'r', q);
    const b = await subscribe(tokA, 'r', q);
    const c = await subscribe(tokA, 'r', q);
    await settle();
    assert.equal(await broadcast('z'), 3);
    b.send({ id: 'r', type: 'complete' }); // b is waiting on a's run
    const [ma, mc] = await Promise.all([a.next((m) => m.type === 'next'), c.next((m) => m.type === 'next')]);
    assert.deepEqual(ma.payload, mc.payload);
    b.send({ type: 'ping' });
    await b.next((m) => m.type === 'pong');
    assert.equal(b.messages.filter((m) => m.type === 'next').length, 0);
    a.close();
    await a.closedWith();
    await settle();
    assert.equal(await broadcast('y'), 1);
    assert.equal((await c.next((m) => m.type === 'next')).payload.data.broadcasts.slowText, 'y');
    c.close();
    b.close();
  });
});
