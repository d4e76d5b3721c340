// Receiver on /metrics (issue 7): the feed counters (channels, subscriptions,
// deliveries, duplicates, gaps, fills, resyncs) and the transport's
// subscription executions vs deliveries with real chat subscriptions: one
// message to four subscriptions of three users executes three times (one
// per caller: fields such as User.email and unreadCount depend on who asks) and is
// delivered four times, the two subscriptions of one user getting the same
// payload.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  startCluster, makeUsers, createChat, send, wsClient, record, waitChannel, sleep, sql,
} from './lib/receiver-env.js';

let cl;
let s1, r1;
const clients = [];
before(async () => {
  cl = await startCluster({ senders: 1, receivers: 1 });
  [s1] = cl.senders;
  [r1] = cl.receivers;
});
after(async () => {
  for (const c of clients) await c.dispose().catch(() => {});
  const res = await cl.stop();
  const procs = [...cl.senders, ...cl.receivers];
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});
const client = (srv, u) => {
  const c = wsClient(srv, u);
  clients.push(c);
  return c;
};
const metrics = async (srv) => {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  const out = {};
  for (const m of text.matchAll(/^(chatd_[a-z_]+) (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
};
const delta = (a, b, k) => {
  assert.ok(k in a && k in b, `${k} missing from /metrics`);
  return b[k] - a[k];
};

// User.email is resolved against the caller (visible only to its owner), so
// subscribers of different users never share an execution
const ADDED = 'subscription S($c: ID!) { messageAdded(chatId: $c) { id seq content sender { id username email } } }';
const EVENTS = 'subscription E($c: ID!, $a: Int) { chatEvents(chatId: $c, afterSeq: $a) { seq kind } }';

describe('receiver metrics', () => {
  test('one message, four subscriptions of three users: 3 executions, 4 deliveries', async () => {
    const [a, b, c] = makeUsers(3);
    const chat = await createChat(s1, a, [b, c]);
    const m0 = await metrics(r1);
    const recs = [
      record(client(r1, a), ADDED, { c: chat.id }, 'messageAdded'),
      record(client(r1, a), ADDED, { c: chat.id }, 'messageAdded'),
      record(client(r1, b), ADDED, { c: chat.id }, 'messageAdded'),
      record(client(r1, c), ADDED, { c: chat.id }, 'messageAdded'),
    ];
    await waitChannel(`chat:${chat.id}`, 1);
    await sleep(300);
    const m1 = await metrics(r1);
    assert.equal(delta(m0, m1, 'chatd_receiver_subscriptions'), 4);
    assert.equal(delta(m0, m1, 'chatd_receiver_channels'), 1);
    const msg = await send(s1, a, chat.id, 'hello');
    for (const r of recs) await r.waitFor(1);
    await sleep(100);
    const m2 = await metrics(r1);
    assert.equal(delta(m1, m2, 'chatd_subscription_executions_total'), 3);
    assert.equal(delta(m1, m2, 'chatd_subscription_deliveries_total'), 4);
    assert.equal(delta(m1, m2, 'chatd_receiver_events_delivered_total'), 4);
    for (const r of recs) assert.equal(r.events[0].id, msg.id);
    assert.deepEqual(recs[0].events[0], recs[1].events[0]);
    assert.equal(recs[0].events[0].sender.id, a.id);
    for (const r of recs) r.stop();
    await sleep(300);
    const m3 = await metrics(r1);
    assert.equal(delta(m0, m3, 'chatd_receiver_subscriptions'), 0);
    assert.equal(delta(m0, m3, 'chatd_receiver_channels'), 0);
  });

  test('a lost publish counts a gap and a fill; a late duplicate is counted as dropped', async () => {
    const pub = (ch, obj) => execFileSync('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, 'PUBLISH', ch, JSON.stringify(obj)]);
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [b]);
    const rec = record(client(r1, b), EVENTS, { c: chat.id }, 'chatEvents');
    await waitChannel(`chat:${chat.id}`, 1);
    await sleep(200);
    const m0 = await metrics(r1);
    const last = Number(sql(`UPDATE chats SET last_seq = last_seq + 2 WHERE id = '${chat.id}' RETURNING last_seq`));
    sql(`INSERT INTO chat_events (chat_id, seq, kind, payload, published_at) VALUES
      ('${chat.id}', ${last - 1}, 'chat.updated', '{}', now()), ('${chat.id}', ${last}, 'chat.updated', '{}', now())`);
    const env = (seq) => ({ chatId: chat.id, seq, kind: 'chat.updated', at: new Date().toISOString(), data: {} });
    pub(`chat:${chat.id}`, env(last)); // last - 1 was never published
    await rec.waitFor(2);
    pub(`chat:${chat.id}`, env(last)); // again: a duplicate
    await sleep(200);
    const m1 = await metrics(r1);
    assert.deepEqual(rec.events.map((e) => e.seq), [last - 1, last]);
    assert.ok(delta(m0, m1, 'chatd_receiver_gaps_total') >= 1);
    assert.ok(delta(m0, m1, 'chatd_receiver_fills_total') >= 1);
    assert.ok(delta(m0, m1, 'chatd_receiver_fill_rows_total') >= 2);
    assert.ok(delta(m0, m1, 'chatd_receiver_duplicates_dropped_total') >= 1);
    rec.stop();
  });

  test('an afterSeq past the retained log counts a resync', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [b]);
    const m = await send(s1, a, chat.id, 'x');
    await send(s1, a, chat.id, 'y');
    sql(`DELETE FROM chat_events WHERE chat_id = '${chat.id}' AND seq <= ${m.seq}`);
    const m0 = await metrics(r1);
    const old = record(client(r1, b), EVENTS, { c: chat.id, a: 0 }, 'chatEvents');
    await old.waitDone();
    assert.equal(old.errors[0].extensions.code, 'RESYNC_REQUIRED');
    const m1 = await metrics(r1);
    assert.equal(delta(m0, m1, 'chatd_receiver_resyncs_total'), 1);
  });
});
