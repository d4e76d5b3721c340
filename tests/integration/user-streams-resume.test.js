// unreadCountUpdated resumed with afterSeqs (issue 14 item 5, found by the
// delivery checker's per-user streams): the stream first sends the current
// count of each named chat that moved past its seq (docs/api.md), then every
// change — also when the subscription arrives while the broker is away.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  startCluster, makeUsers, createChat, send, wsClient, record, sleep, waitChannel,
} from './lib/receiver-env.js';
import { CMN, UCU, recount } from './lib/user-streams.js';

const run = promisify(execFile);
let cl;
before(async () => {
  cl = await startCluster({ senders: 1, receivers: 1 });
});
after(async () => {
  const up = await run('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, 'ping']).then((r) => /PONG/.test(r.stdout), () => false);
  if (!up) await run(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
  const res = await cl.stop();
  res.forEach((r) => assert.equal(r.code, 0));
});

test('resume: the current count of a chat that moved past its afterSeqs entry comes first', async () => {
  const [s] = cl.senders;
  const [r] = cl.receivers;
  const [a, b] = makeUsers(2);
  const chat = await createChat(s, a, [b], 'resume');
  const m1 = await send(s, a, chat.id, 'one');
  await send(s, a, chat.id, 'two');
  const m3 = await send(s, a, chat.id, 'three');
  const client = wsClient(r, b);
  const c = record(client, UCU, { u: b.id, a: [{ chatId: chat.id, seq: m1.seq }] }, 'unreadCountUpdated');
  await c.waitFor(1, 10000);
  assert.deepEqual(c.events[0], { chatId: chat.id, userId: b.id, unreadCount: 3, seq: m3.seq });
  // then every change
  await waitChannel(`chat:${chat.id}`);
  const m4 = await send(s, a, chat.id, 'four');
  await c.waitFor(2, 10000);
  assert.deepEqual(c.events[1], { chatId: chat.id, userId: b.id, unreadCount: 4, seq: m4.seq });
  assert.equal(recount(chat.id, b.id), 4);
  // nothing for a chat that did not move
  const d = record(client, UCU, { u: b.id, a: [{ chatId: chat.id, seq: m4.seq }] }, 'unreadCountUpdated');
  await sleep(500);
  assert.deepEqual(d.events, []);
  assert.deepEqual([...c.errors, ...d.errors], []);
  await client.dispose();
});

test('resume while redis-server is down: both streams follow once it is back', async () => {
  assert.ok(process.env.CHATD_TESTENV && process.env.CHATD_TEST_DIR, 'run under scripts/testenv');
  const [s] = cl.senders;
  const [r] = cl.receivers;
  const [a, b] = makeUsers(2);
  const chat = await createChat(s, a, [b], 'outage');
  const m1 = await send(s, a, chat.id, 'one');
  const m2 = await send(s, a, chat.id, 'two');
  await run(process.env.CHATD_TESTENV, ['redis-stop', process.env.CHATD_TEST_DIR]);
  const client = wsClient(r, b);
  const cursor = [{ chatId: chat.id, seq: m1.seq }];
  const n = record(client, CMN, { u: b.id, a: cursor }, 'chatMessageNotification');
  const c = record(client, UCU, { u: b.id, a: cursor }, 'unreadCountUpdated');
  await sleep(500);
  await run(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
  await waitChannel(`user:${b.id}`, 1, 20000);
  await waitChannel(`chat:${chat.id}`, 1, 20000);
  await sleep(300);
  const m3 = await send(s, a, chat.id, 'three');
  await n.waitFor(2, 15000);
  assert.deepEqual(n.events.map((e) => e.id), [m2.id, m3.id]);
  await c.until(() => c.events.some((e) => e.seq === m3.seq), 15000, 'the count after the outage');
  // the current count on resume (at m2), then the change (m3)
  assert.deepEqual(c.events.map((e) => [e.seq, e.unreadCount]), [[m2.seq, 2], [m3.seq, 3]]);
  assert.deepEqual([...n.errors, ...c.errors], []);
  await client.dispose();
});
