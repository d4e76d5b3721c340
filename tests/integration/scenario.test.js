// The seeds' multi-instance scenario, automated with real graphql-ws clients
// against 2 senders + 2 receivers (separate chatd processes) on Postgres +
// Redis: UserA on sender-1/receiver-1, UserB on sender-2/receiver-2, UserC
// on sender-1/receiver-2; a group chat; A sends, B and C get it live; B and
// C mark it read; A sees messageReadUpdated for both and messageReadStatus
// turns isFullyRead; unread counts move as expected; B switches receiver
// mid-conversation (resuming with afterSeq) and misses nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startCluster, makeUsers, gql, ok, createChat, send, wsClient, record, waitChannel, sleep, MARK,
} from './lib/receiver-env.js';

let cl;
const clients = [];
before(async () => {
  cl = await startCluster();
});
after(async () => {
  for (const c of clients) await c.dispose();
  const res = await cl.stop();
  const procs = [...cl.senders, ...cl.receivers];
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});

const ADDED = 'subscription S($c: ID!, $a: Int) { messageAdded(chatId: $c, afterSeq: $a) { id content senderId chatId seq sender { id username } } }';
const READ_UPD = 'subscription R($m: ID!) { messageReadUpdated(messageId: $m) { messageId userId readAt } }';
const UNREAD_UPD = 'subscription U($u: String!) { unreadCountUpdated(userId: $u) { chatId userId unreadCount seq } }';
const STATUS = 'query S($m: ID!) { messageReadStatus(messageId: $m) { messageId totalParticipants readByCount isFullyRead readByUsers { userId readAt } } }';
const UNREAD = 'query U($c: ID!, $u: String!) { unreadCount(chatId: $c, userId: $u) }';
const UNREADS = 'query U($u: String!) { unreadCounts(userId: $u) { id chatId userId unreadCount createdAt updatedAt } }';

test('seed scenario: A/B/C across two senders and two receivers', async () => {
  const [s1, s2] = cl.senders;
  const [r1, r2] = cl.receivers;
  const [A, B, C] = makeUsers(3);
  const chat = await createChat(s1, A, [B, C], 'Team');
  assert.deepEqual(new Set(chat.participantIds), new Set([A.id, B.id, C.id]));

  const ca = wsClient(r1, A);
  const cb = wsClient(r2, B);
  const cc = wsClient(r2, C);
  clients.push(ca, cb, cc);
  const subA = record(ca, ADDED, { c: chat.id }, 'messageAdded');
  const subB = record(cb, ADDED, { c: chat.id }, 'messageAdded');
  const subC = record(cc, ADDED, { c: chat.id }, 'messageAdded');
  const unreadC = record(cc, UNREAD_UPD, { u: C.id }, 'unreadCountUpdated');
  const NOTE = 'subscription N($u: String!) { chatMessageNotification(userId: $u) { id chatId senderId } }';
  const LIST = 'subscription L($u: String!) { messageUpdateForChatList(userId: $u) { id chatId content } }';
  const notesA = record(ca, NOTE, { u: A.id }, 'chatMessageNotification');
  const notesC = record(cc, NOTE, { u: C.id }, 'chatMessageNotification');
  const listA = record(ca, LIST, { u: A.id }, 'messageUpdateForChatList');
  const listC = record(cc, LIST, { u: C.id }, 'messageUpdateForChatList');
  await waitChannel(`chat:${chat.id}`, 2);
  await waitChannel(`user:${C.id}`, 1);
  await waitChannel(`user:${A.id}`, 1);
  await sleep(100);

  // A sends through sender-1; B (receiver-2) and C (receiver-2) get it live
  const m1 = await send(s1, A, chat.id, 'hello team');
  await Promise.all([subA.waitFor(1), subB.waitFor(1), subC.waitFor(1)]);
  for (const s of [subA, subB, subC]) {
    assert.equal(s.events[0].id, m1.id);
    assert.equal(s.events[0].content, 'hello team');
    assert.equal(s.events[0].sender.id, A.id);
  }
  await unreadC.waitFor(1);
  // previews: the chat list of every participant (the sender's other
  // devices too), notifications only for the others
  await Promise.all([listA.waitFor(1), listC.waitFor(1), notesC.waitFor(1)]);
  assert.equal(listA.events[0].id, m1.id);
  assert.equal(notesC.events[0].id, m1.id);
  await sleep(200);
  assert.equal(notesA.events.length, 0);
  assert.equal(unreadC.events[0].unreadCount, 1);
  assert.equal(unreadC.events[0].chatId, chat.id);

  // unread counts before reading: 1 for B and C, 0 for A
  assert.equal(ok(await gql(r2, UNREAD, { c: chat.id, u: B.id }, B.h), 'unreadCount'), 1);
  assert.equal(ok(await gql(r1, UNREAD, { c: chat.id, u: A.id }, A.h), 'unreadCount'), 0);
  const listB = ok(await gql(r2, UNREADS, { u: B.id }, B.h), 'unreadCounts');
  assert.equal(listB.find((x) => x.chatId === chat.id).unreadCount, 1);

  // A watches the receipts of its own message
  const readA = record(ca, READ_UPD, { m: m1.id }, 'messageReadUpdated');
  await sleep(300);
  let st = ok(await gql(r1, STATUS, { m: m1.id }, A.h), 'messageReadStatus');
  assert.deepEqual([st.totalParticipants, st.readByCount, st.isFullyRead], [2, 0, false]);

  ok(await gql(s2, MARK, { id: m1.id, u: B.id }, B.h), 'markMessageAsRead');
  await readA.waitFor(1);
  assert.equal(readA.events[0].userId, B.id);
  st = ok(await gql(r1, STATUS, { m: m1.id }, A.h), 'messageReadStatus');
  assert.deepEqual([st.readByCount, st.isFullyRead], [1, false]);

  ok(await gql(s1, MARK, { id: m1.id, u: C.id }, C.h), 'markMessageAsRead');
  await readA.waitFor(2);
  assert.deepEqual(readA.events.map((e) => e.userId), [B.id, C.id]);
  assert.ok(readA.events.every((e) => e.messageId === m1.id && e.readAt));
  st = ok(await gql(r1, STATUS, { m: m1.id }, A.h), 'messageReadStatus');
  assert.deepEqual([st.totalParticipants, st.readByCount, st.isFullyRead], [2, 2, true]);
  assert.deepEqual(new Set(st.readByUsers.map((u) => u.userId)), new Set([B.id, C.id]));
  await unreadC.waitFor(2);
  assert.equal(unreadC.events[1].unreadCount, 0);
  assert.ok(unreadC.events[1].seq > unreadC.events[0].seq);
  assert.equal(ok(await gql(r2, UNREAD, { c: chat.id, u: B.id }, B.h), 'unreadCount'), 0);
  // a second mark of the same message changes nothing and emits nothing
  ok(await gql(s2, MARK, { id: m1.id, u: B.id }, B.h), 'markMessageAsRead');

  // B switches receiver mid-conversation: leaves receiver-2, A keeps
  // sending, B resumes on receiver-1 with afterSeq = the last seq it saw
  const lastB = subB.events.at(-1).seq;
  subB.stop();
  await cb.dispose();
  const m2 = await send(s1, A, chat.id, 'while B moves 1');
  const m3 = await send(s2, C, chat.id, 'while B moves 2');
  const cb2 = wsClient(r1, B);
  clients.push(cb2);
  const subB2 = record(cb2, ADDED, { c: chat.id, a: lastB }, 'messageAdded');
  await subB2.waitFor(2);
  const m4 = await send(s1, A, chat.id, 'after the move');
  await subB2.waitFor(3);
  await Promise.all([subA.waitFor(4), subC.waitFor(4)]);
  await sleep(200);
  assert.deepEqual(subB2.events.map((e) => e.id), [m2.id, m3.id, m4.id]);
  assert.deepEqual([...subB.events, ...subB2.events].map((e) => e.id), [m1.id, m2.id, m3.id, m4.id]);
  for (const s of [subA, subC]) assert.deepEqual(s.events.map((e) => e.id), [m1.id, m2.id, m3.id, m4.id]);
  assert.ok(readA.events.length === 2, 'no duplicate receipts');
});

test('trust mode (the seed client unmodified): user-id in connection_init, subscriptions and queries', async () => {
  const { startChatd } = await import('./lib/chatd.js');
  const srv = await startChatd({ role: 'all', db: true, redis: true, auth: 'trust' });
  const [A, B] = makeUsers(2);
  const hA = { 'user-id': A.id, username: 'a' };
  const hB = { 'user-id': B.id, username: 'b' };
  try {
    const chat = ok(await gql(srv, 'mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { id lastSeq } }',
      { in: { name: 'trust', chatType: 'group', participantIds: [A.id, B.id] } }, hA), 'createChat');
    const cb = wsClient(srv, B, { connectionParams: { 'user-id': B.id, username: 'b' } });
    clients.push(cb);
    const sub = record(cb, ADDED, { c: chat.id }, 'messageAdded');
    const notes = record(cb, 'subscription N($u: String!) { chatMessageNotification(userId: $u) { id chatId } }', { u: B.id }, 'chatMessageNotification');
    await waitChannel(`chat:${chat.id}`, 1);
    await waitChannel(`user:${B.id}`, 1);
    await sleep(100);
    const m = ok(await gql(srv, 'mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }',
      { in: { content: 'hi from the seed client', senderId: A.id, chatId: chat.id } }, hA), 'createMessage');
    await Promise.all([sub.waitFor(1), notes.waitFor(1)]);
    assert.equal(sub.events[0].id, m.id);
    assert.equal(notes.events[0].id, m.id);
    const byP = ok(await gql(srv, 'query Q($u: String!) { chatsByParticipant(userId: $u) { id messages { id } } }', { u: B.id }, hB), 'chatsByParticipant');
    assert.deepEqual(byP.map((c) => [c.id, c.messages.map((x) => x.id)]), [[chat.id, [m.id]]]);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.logs().slice(-4000));
  }
});
