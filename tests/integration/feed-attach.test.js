// Issue 14 (receiver side): many per-user streams subscribing at once. Each
// chatMessageNotification stream looks the user's chats up before it can
// follow them; those lookups are batched (one statement per 500 users), and
// a stream counts in chatd_receiver_subscriptions only once its chats are
// attached — so a client (or the benchmark) that waits for the gauge and
// then sends loses nothing. 2,000 users over two receivers subscribe at
// once; as soon as the gauge says all are attached one message is sent, and
// every member but its sender gets it, once, with no error.
//
// And a race of the gap fill: a subscription with afterSeq that attaches
// while a fill for a live subscriber of the same chat is in flight must be
// replayed, not ended with RESYNC_REQUIRED (the empty answer "nothing after
// the newest seq" says nothing about the older seqs it needs).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, makeUsers, gql, ok, createChat, send, wsClient, record, sleep } from './lib/receiver-env.js';

const EVENTS = 'subscription E($c: ID!) { chatEvents(chatId: $c) { seq kind } }';
const ADDED = 'subscription S($c: ID!, $a: Int) { messageAdded(chatId: $c, afterSeq: $a) { id seq } }';

const ADDS = 'mutation A($c: ID!, $u: [String!]!) { addParticipants(chatId: $c, userIds: $u) { id lastSeq } }';
const CMN = 'subscription N($u: String!) { chatMessageNotification(userId: $u) { id chatId seq senderId } }';
const USERS = 2000;

let cl;
const clients = [];
before(async () => {
  // 2,000 connections opened at once from one Node process on a loaded
  // machine: connection_init may take longer than the default 3 s
  cl = await startCluster({ senders: 1, receivers: 2, env: { CHATD_WS_INIT_TIMEOUT_MS: '60000' } });
});
after(async () => {
  for (const c of clients) await c.dispose().catch(() => {});
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});

const gauge = async (srv) => {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  const m = text.match(/^chatd_receiver_subscriptions (\d+)$/m);
  assert.ok(m, 'chatd_receiver_subscriptions missing from /metrics');
  return Number(m[1]);
};
// an error payload, a GraphQL error or a close event, readable
const show = (e) => (e && (e.message || e.reason || e.code) ? { message: e.message, code: e.code, reason: e.reason } : e);
const gauges = async () => (await Promise.all(cl.receivers.map(gauge))).reduce((a, b) => a + b, 0);

describe('per-user streams attach at scale', () => {
  test(`${USERS.toLocaleString('en')} users subscribing chatMessageNotification at once all attach and all get the next message`, async () => {
    const [s1] = cl.senders;
    const members = makeUsers(USERS);
    const [owner, ...rest] = members;
    const chat = await createChat(s1, owner, rest.slice(0, 499), 'attach');
    for (let i = 499; i < rest.length; i += 500)
      ok(await gql(s1, ADDS, { c: chat.id, u: rest.slice(i, i + 500).map((u) => u.id) }, owner.h), 'addParticipants');
    const base = await gauges();

    // every subscribe is sent at once (one connection per user, half per receiver)
    const recs = members.map((u, i) => {
      const c = wsClient(cl.receivers[i % 2], u);
      clients.push(c);
      return record(c, CMN, { u: u.id }, 'chatMessageNotification');
    });
    // the gauge counts a per-user stream once its chats are attached: send
    // the moment it says all are (no grace period)
    const t0 = Date.now();
    for (;;) {
      const n = (await gauges()) - base;
      assert.ok(n <= USERS, `gauge counts ${n} streams for ${USERS} subscriptions`);
      if (n === USERS) break;
      const errs = recs.filter((r) => r.errors.length);
      assert.deepEqual(errs.slice(0, 3).map((r) => r.errors.map(show)), [], `${errs.length} subscriptions failed`);
      assert.ok(Date.now() - t0 < 90000, `only ${n} of ${USERS} streams attached after 90 s`);
      await sleep(20);
    }
    const m = await send(s1, owner, chat.id, 'to everyone');

    // every member but the sender gets it exactly once
    const others = recs.slice(1);
    const t1 = Date.now();
    while (others.some((r) => r.events.length === 0 && !r.done)) {
      assert.ok(Date.now() - t1 < 60000,
        `${others.filter((r) => r.events.length === 0).length} of ${others.length} streams got nothing in 60 s`);
      await sleep(50);
    }
    await sleep(500); // a duplicate would arrive by now
    const wrong = others.filter((r) => r.events.length !== 1 || r.events[0].id !== m.id || r.errors.length);
    assert.deepEqual(wrong.slice(0, 3).map((r) => ({ events: r.events, errors: r.errors.map(show) })), [],
      `${wrong.length} streams did not get exactly the message`);
    for (const r of others) assert.equal(r.events[0].seq, m.seq);
    assert.deepEqual(recs[0].events, [], 'the sender is not notified of their own message');
    assert.deepEqual(recs[0].errors, []);

    // ending them takes the gauge back to where it was
    for (const c of clients.splice(0)) await c.dispose();
    const t2 = Date.now();
    while ((await gauges()) !== base) {
      assert.ok(Date.now() - t2 < 20000, `gauge ${await gauges()} != ${base} after the streams ended`);
      await sleep(50);
    }
  });
});

describe('a replay attaching while a fill is in flight', () => {
  test('messageAdded(afterSeq: 0) next to a live chatEvents on a fresh channel always replays', async () => {
    const [s1] = cl.senders;
    const r = cl.receivers[0];
    const [a, b] = makeUsers(2);
    const bad = [];
    for (let round = 0; round < 30; round++) {
      const chat = await createChat(s1, a, [b], `race${round}`);
      const sent = [];
      for (let i = 0; i < 3; i++) sent.push(await send(s1, a, chat.id, `m${round}.${i}`));
      // the live subscriber creates the channel (its first fill runs); the
      // replay arrives a little later, on another connection
      const ca = wsClient(r, a);
      const cb = wsClient(r, b);
      clients.push(ca, cb);
      const live = record(ca, EVENTS, { c: chat.id }, 'chatEvents');
      await sleep(round % 10);
      const rep = record(cb, ADDED, { c: chat.id, a: 0 }, 'messageAdded');
      await rep.until(() => rep.events.length >= 3 || rep.errors.length > 0 || rep.done, 20000, 'the replay');
      if (rep.errors.length || rep.events.map((e) => e.id).join() !== sent.map((m) => m.id).join())
        bad.push({ round, events: rep.events, errors: rep.errors.map(show) });
      live.stop();
      rep.stop();
      await ca.dispose();
      await cb.dispose();
      clients.splice(clients.indexOf(ca), 2);
    }
    assert.deepEqual(bad, []);
  });
});

describe('a channel the receiver cannot follow', () => {
  test('the subscription is refused with SERVICE_UNAVAILABLE instead of attaching to silence (CHATD_TEST_FEED_CHANNELS at its edge)', async () => {
    // this receiver follows at most 3 broker channels (test hook standing in
    // for RD_MAX_CHANNELS): user:<u>, chat:<A>, chat:<B>
    const small = await startCluster({ senders: 1, receivers: 1, env: { CHATD_TEST_FEED_CHANNELS: '3' } });
    const own = [];
    try {
      const [s] = small.senders;
      const [r] = small.receivers;
      const [u, v, w] = makeUsers(3);
      const A = await createChat(s, w, [u], 'limitA');
      const B = await createChat(s, w, [u], 'limitB');
      const C = await createChat(s, w, [v], 'limitC');
      const cu = wsClient(r, u);
      own.push(cu);
      const nu = record(cu, CMN, { u: u.id }, 'chatMessageNotification');
      // 3 channels: the stream attaches (the gauge counts it) and works
      const t0 = Date.now();
      while ((await gauge(r)) < 1) {
        assert.ok(Date.now() - t0 < 20000, 'the stream at the limit never attached');
        await sleep(20);
      }
      const m = await send(s, w, B.id, 'within the limit');
      await nu.waitFor(1, 20000);
      assert.equal(nu.events[0].id, m.id);
      // a 4th channel: refused with an error, not left waiting
      const cv = wsClient(r, v);
      own.push(cv);
      const nv = record(cv, CMN, { u: v.id }, 'chatMessageNotification');
      const av = record(cv, 'subscription S($c: ID!) { messageAdded(chatId: $c) { id } }', { c: C.id }, 'messageAdded');
      await nv.until(() => nv.errors.length > 0, 20000, 'an error for the per-user stream');
      await av.until(() => av.errors.length > 0, 20000, 'an error for messageAdded');
      for (const rec of [nv, av]) {
        const e = rec.errors[0];
        assert.equal(e.extensions && e.extensions.code, 'SERVICE_UNAVAILABLE', JSON.stringify(rec.errors));
        assert.match(e.message, /cannot follow more channels/);
      }
      assert.equal(await gauge(r), 1, 'refused subscriptions are not counted');
      // u's stream keeps working; once it ends the channels are free again
      const m2 = await send(s, w, A.id, 'still within the limit');
      await nu.waitFor(2, 20000);
      assert.equal(nu.events[1].id, m2.id);
      assert.deepEqual(nu.errors, []);
      nu.stop();
      const t1 = Date.now();
      while ((await gauge(r)) !== 0) {
        assert.ok(Date.now() - t1 < 20000, 'the ended stream is still counted');
        await sleep(20);
      }
      let again;
      for (let i = 0; i < 100; i++) { // the freed channels are unsubscribed by a sweep
        again = record(cv, 'subscription S($c: ID!) { messageAdded(chatId: $c) { id } }', { c: C.id }, 'messageAdded');
        await sleep(200);
        if (again.errors.length === 0 && !again.done) break;
        again.stop();
      }
      const m3 = await send(s, w, C.id, 'after the limit freed up');
      await again.waitFor(1, 20000);
      assert.equal(again.events[0].id, m3.id);
    } finally {
      for (const c of own) await c.dispose().catch(() => {});
      const procs = [...small.senders, ...small.receivers];
      const res = await small.stop();
      res.forEach((x, i) => assert.equal(x.code, 0, procs[i].logs().slice(-6000)));
    }
  });
});
