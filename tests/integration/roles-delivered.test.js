// Issue 19, items 1, 5, 6, 9 (docs/api.md "Roles and chat settings",
// "Delivered receipts", "Presence"): chat roles and their rules, ownership
// hand-over, updateChat → chatUpdated and chat.updated, server-written
// system messages, delivered ticks (markChatAsDelivered, the read status
// counts, the chatEvents and seed-003 /ws delivered event), the
// messageUpdated / messageDeleted / chatUpdated subscriptions end to end
// with graphql-ws, and User.online / User.lastSeenAt including a receiver
// SIGKILL (bounded by the presence TTL). The role × action matrix is in
// authz-matrix.test.js.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { startChatd } from './lib/chatd.js';
import {
  sql, sleep, makeUsers, gql, ok, code, createChat, send, wsClient, record, waitChannel, CHAT, MSG,
} from './lib/receiver-env.js';

let srv;
before(async () => {
  srv = await startChatd({ db: true, redis: true });
});
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, srv.logs().slice(-3000));
});

const SET_ROLE = `mutation R($c: ID!, $u: String!, $r: ChatRole!) { setParticipantRole(chatId: $c, userId: $u, role: $r) { id myRole } }`;
const LEAVE = 'mutation L($c: ID!) { leaveChat(chatId: $c) }';
const UPDATE = `mutation U($in: UpdateChatInput!) { updateChat(updateChatInput: $in) { ${CHAT} description myRole } }`;
const DELIVERED = 'mutation D($c: ID!, $s: Int!) { markChatAsDelivered(chatId: $c, upToSeq: $s) }';
const MEMBERS = 'query M($c: ID!) { chat(id: $c) { myRole members { edges { node { user { id } role } } } } }';
const STATUS = `query S($m: ID!) { messageReadStatus(messageId: $m) { messageId totalParticipants readByCount isFullyRead
  deliveredCount isFullyDelivered deliveredToUsers { userId readAt } readByUsers { userId } } }`;
const HISTORY = `query H($c: ID!) { messages(chatId: $c, limit: 1000) { ${MSG} } }`;
const EVENTS = 'subscription E($c: ID!, $a: Int) { chatEvents(chatId: $c, afterSeq: $a) { seq kind userId upToSeq deliveredAt role chat { id name description } message { type content } } }';

const roleOf = (members, u) => members.edges.find((e) => e.node.user.id === u.id)?.node.role;
async function members(chatId, viewer) {
  return ok(await gql(srv, MEMBERS, { c: chatId }, viewer.h), 'chat');
}
async function systemMessages(chatId, viewer) {
  return ok(await gql(srv, HISTORY, { c: chatId }, viewer.h), 'messages').filter((m) => m.type === 'system');
}

describe('roles and chat settings', () => {
  test('the creator owns the group; owner hands over ownership; roles listed; system messages', async () => {
    const [o, a, m] = makeUsers(3);
    const chat = await createChat(srv, o, [a, m]);
    let mm = await members(chat.id, o);
    assert.equal(mm.myRole, 'OWNER');
    assert.equal(roleOf(mm.members, a), 'MEMBER');
    assert.equal(ok(await gql(srv, SET_ROLE, { c: chat.id, u: a.id, r: 'ADMIN' }, o.h), 'setParticipantRole').myRole, 'OWNER');
    assert.equal((await members(chat.id, a)).myRole, 'ADMIN');
    // the same role again changes nothing and writes no event
    const before = ok(await gql(srv, `query($c: ID!) { chat(id: $c) { lastSeq } }`, { c: chat.id }, o.h), 'chat').lastSeq;
    ok(await gql(srv, SET_ROLE, { c: chat.id, u: a.id, r: 'ADMIN' }, o.h), 'setParticipantRole');
    assert.equal(ok(await gql(srv, `query($c: ID!) { chat(id: $c) { lastSeq } }`, { c: chat.id }, o.h), 'chat').lastSeq, before);
    // the owner cannot demote themselves; an admin cannot change roles
    assert.equal(code(await gql(srv, SET_ROLE, { c: chat.id, u: o.id, r: 'MEMBER' }, o.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(srv, SET_ROLE, { c: chat.id, u: m.id, r: 'ADMIN' }, a.h)), 'FORBIDDEN');
    // transfer: m becomes OWNER, o is demoted to ADMIN
    ok(await gql(srv, SET_ROLE, { c: chat.id, u: m.id, r: 'OWNER' }, o.h), 'setParticipantRole');
    mm = await members(chat.id, m);
    assert.equal(mm.myRole, 'OWNER');
    assert.equal(roleOf(mm.members, o), 'ADMIN');
    assert.equal(roleOf(mm.members, a), 'ADMIN');
    assert.equal(Number(sql(`SELECT count(*) FROM chat_participants WHERE chat_id = '${chat.id}' AND role = 'owner' AND left_seq IS NULL`)), 1);
    // the new owner leaves: ownership goes to the oldest admin (o, first in join order)
    assert.equal(ok(await gql(srv, LEAVE, { c: chat.id }, m.h), 'leaveChat'), true);
    assert.equal((await members(chat.id, o)).myRole, 'OWNER');
    assert.equal(code(await gql(srv, MEMBERS, { c: chat.id }, m.h)), 'FORBIDDEN');
    const sys = await systemMessages(chat.id, o);
    const texts = sys.map((x) => x.content);
    assert.ok(texts.some((t) => /made .* an admin/.test(t)), JSON.stringify(texts));
    assert.ok(texts.some((t) => /made .* the owner/.test(t)), JSON.stringify(texts));
    assert.ok(texts.some((t) => / left; .* is now the owner/.test(t)), JSON.stringify(texts));
    assert.equal(sys.at(-1).metadata.event, 'participant.left');
    assert.equal(sys.at(-1).metadata.newOwnerId, o.id);
    // system messages are the server's and are never unread
    const n = ok(await gql(srv, 'query($c: ID!, $u: String!) { unreadCount(chatId: $c, userId: $u) }', { c: chat.id, u: a.id }, a.h), 'unreadCount');
    assert.equal(n, 0);
  });

  test('owner leaving with no admin hands ownership to the oldest member; a re-added user is a member', async () => {
    const [o, b, c] = makeUsers(3);
    const chat = await createChat(srv, o, [b, c]);
    ok(await gql(srv, LEAVE, { c: chat.id }, o.h), 'leaveChat');
    const mm = await members(chat.id, b);
    assert.equal(mm.myRole, 'OWNER');
    assert.equal(roleOf(mm.members, c), 'MEMBER');
    ok(await gql(srv, 'mutation($c: ID!, $u: String!) { addParticipant(chatId: $c, userId: $u) { id } }', { c: chat.id, u: o.id }, b.h), 'addParticipant');
    assert.equal((await members(chat.id, o)).myRole, 'MEMBER');
    const sys = await systemMessages(chat.id, o);
    assert.match(sys.at(-1).content, / added /);
    assert.deepEqual(sys.at(-1).metadata.userIds, [o.id]);
    assert.equal(sys.at(-1).senderId, b.id);
    // leaving twice: not a participant any more
    ok(await gql(srv, LEAVE, { c: chat.id }, c.h), 'leaveChat');
    assert.equal(code(await gql(srv, LEAVE, { c: chat.id }, c.h)), 'FORBIDDEN');
  });

  test('direct chats: no roles beyond their two members', async () => {
    const [a, b] = makeUsers(2);
    const d = ok(await gql(srv, `mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }`,
      { in: { name: 'dm', chatType: 'direct', participantIds: [b.id] } }, a.h), 'createChat');
    const mm = await members(d.id, b);
    assert.equal(mm.myRole, 'MEMBER');
    assert.deepEqual(mm.members.edges.map((e) => e.node.role), ['MEMBER', 'MEMBER']);
    assert.equal(code(await gql(srv, SET_ROLE, { c: d.id, u: b.id, r: 'ADMIN' }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(srv, LEAVE, { c: d.id }, a.h)), 'BAD_USER_INPUT');
    // either member renames it and removes it
    assert.equal(ok(await gql(srv, UPDATE, { in: { id: d.id, name: 'renamed dm' } }, b.h), 'updateChat').name, 'renamed dm');
    ok(await gql(srv, 'mutation($id: ID!) { removeChat(id: $id) { id isActive } }', { id: d.id }, b.h), 'removeChat');
  });

  test('updateChat: rules, validation, no-op, the chat.updated event, chatUpdated and a system message', async () => {
    const [o, a, m, x] = makeUsers(4);
    const chat = await createChat(srv, o, [a, m]);
    ok(await gql(srv, SET_ROLE, { c: chat.id, u: a.id, r: 'ADMIN' }, o.h), 'setParticipantRole');
    const C = 'subscription C($u: String!) { chatUpdated(userId: $u) { id name description myRole } }';
    const cm = wsClient(srv, m);
    const cx = wsClient(srv, x);
    const recM = record(cm, C, { u: m.id }, 'chatUpdated');
    const recX = record(cx, C, { u: x.id }, 'chatUpdated');
    const ev = record(cm, EVENTS, { c: chat.id, a: chat.lastSeq }, 'chatEvents');
    await waitChannel(`user:${m.id}`, 1);
    await waitChannel(`chat:${chat.id}`, 1);
    await sleep(100);
    assert.equal(code(await gql(srv, UPDATE, { in: { id: chat.id, name: 'nope' } }, m.h)), 'FORBIDDEN');
    assert.equal(code(await gql(srv, UPDATE, { in: { id: chat.id, name: 'nope' } }, x.h)), 'FORBIDDEN');
    assert.equal(code(await gql(srv, UPDATE, { in: { id: chat.id, name: '   ' } }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(srv, UPDATE, { in: { id: chat.id, name: 'n'.repeat(101) } }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(srv, UPDATE, { in: { id: chat.id, description: 'd'.repeat(1001) } }, a.h)), 'BAD_USER_INPUT');
    const u = ok(await gql(srv, UPDATE, { in: { id: chat.id, name: 'Renamed', description: 'about' } }, a.h), 'updateChat');
    assert.equal(u.name, 'Renamed');
    assert.equal(u.description, 'about');
    assert.equal(u.myRole, 'ADMIN');
    await recM.until(() => recM.events.some((c) => c.name === 'Renamed'), 5000, 'chatUpdated');
    const got = recM.events.find((c) => c.name === 'Renamed');
    assert.equal(got.description, 'about');
    assert.equal(got.myRole, 'MEMBER'); // nested field resolved for the subscriber
    await ev.until(() => ev.events.some((e) => e.kind === 'chat.updated'), 5000, 'chat.updated event');
    const upd = ev.events.find((e) => e.kind === 'chat.updated');
    assert.equal(upd.chat.name, 'Renamed');
    assert.equal(upd.userId, a.id);
    await ev.until(() => ev.events.some((e) => e.seq === upd.seq + 1), 5000, 'system message event');
    const sysEv = ev.events.find((e) => e.seq === upd.seq + 1);
    assert.equal(sysEv.kind, 'message.created');
    assert.equal(sysEv.message.type, 'system');
    assert.match(sysEv.message.content, /renamed the chat to "Renamed" and changed the description/);
    assert.equal(sysEv.seq, upd.seq + 1);
    // the same values again: no event; clearing the description is a change
    const n0 = ev.events.length;
    assert.equal(n0, ev.events.indexOf(sysEv) + 1); // nothing after the system message yet
    ok(await gql(srv, UPDATE, { in: { id: chat.id, name: 'Renamed' } }, o.h), 'updateChat');
    const cleared = ok(await gql(srv, UPDATE, { in: { id: chat.id, description: null } }, o.h), 'updateChat');
    assert.equal(cleared.description, null);
    await ev.until(() => ev.events.length >= n0 + 2, 5000, 'description cleared');
    assert.equal(ev.events[n0].kind, 'chat.updated');
    assert.equal(ev.events[n0].chat.description, null);
    // only members hear chatUpdated
    await sleep(200);
    assert.equal(recX.events.length, 0);
    cm.dispose();
    cx.dispose();
  });
});

describe('subscriptions end to end', () => {
  test('messageUpdated and messageDeleted reach members with graphql-ws; outsiders are refused', async () => {
    const [a, b, x] = makeUsers(3);
    const chat = await createChat(srv, a, [b]);
    const cb = wsClient(srv, b);
    const U = `subscription U($c: ID!) { messageUpdated(chatId: $c) { id content isEdited editedAt seq sender { id } } }`;
    const D = `subscription D($c: ID!) { messageDeleted(chatId: $c) { id content deletedAt seq } }`;
    const upd = record(cb, U, { c: chat.id }, 'messageUpdated');
    const del = record(cb, D, { c: chat.id }, 'messageDeleted');
    const out = record(wsClient(srv, x), U, { c: chat.id }, 'messageUpdated');
    await waitChannel(`chat:${chat.id}`, 1);
    await sleep(100);
    const m1 = await send(srv, a, chat.id, 'first');
    const m2 = await send(srv, a, chat.id, 'second');
    ok(await gql(srv, 'mutation($id: ID!, $c: String!, $u: String!) { updateMessage(id: $id, content: $c, userId: $u) { id } }', { id: m1.id, c: 'first, edited', u: a.id }, a.h), 'updateMessage');
    ok(await gql(srv, 'mutation($id: ID!, $u: String!) { removeMessage(id: $id, userId: $u) { id } }', { id: m2.id, u: a.id }, a.h), 'removeMessage');
    await upd.waitFor(1, 5000);
    await del.waitFor(1, 5000);
    assert.equal(upd.events[0].id, m1.id);
    assert.equal(upd.events[0].content, 'first, edited');
    assert.equal(upd.events[0].isEdited, true);
    assert.ok(upd.events[0].editedAt);
    assert.equal(upd.events[0].sender.id, a.id);
    assert.equal(del.events[0].id, m2.id);
    assert.equal(del.events[0].content, '');
    assert.ok(del.events[0].deletedAt);
    // one each, nothing else (a message.created is not an update)
    await sleep(300);
    assert.equal(upd.events.length, 1);
    assert.equal(del.events.length, 1);
    await out.waitDone(5000);
    assert.equal(out.errors[0].extensions?.code ?? out.errors[0].message, 'FORBIDDEN', JSON.stringify(out.errors));
    cb.dispose();
  });
});

describe('delivered receipts', () => {
  test('markChatAsDelivered: watermark, counts, a read implies delivered, events, errors', async () => {
    const [a, b, c, x] = makeUsers(4);
    const chat = await createChat(srv, a, [b, c]);
    const ca = wsClient(srv, a);
    const ev = record(ca, EVENTS, { c: chat.id, a: chat.lastSeq }, 'chatEvents');
    await waitChannel(`chat:${chat.id}`, 1);
    const m1 = await send(srv, a, chat.id, 'one');
    const m2 = await send(srv, a, chat.id, 'two');
    let s = ok(await gql(srv, STATUS, { m: m1.id }, a.h), 'messageReadStatus');
    assert.deepEqual([s.totalParticipants, s.deliveredCount, s.isFullyDelivered, s.readByCount], [2, 0, false, 0]);
    // b's device got both
    assert.equal(ok(await gql(srv, DELIVERED, { c: chat.id, s: m2.seq }, b.h), 'markChatAsDelivered'), m2.seq);
    s = ok(await gql(srv, STATUS, { m: m2.id }, a.h), 'messageReadStatus');
    assert.equal(s.deliveredCount, 1);
    assert.deepEqual(s.deliveredToUsers.map((u) => u.userId), [b.id]);
    assert.ok(s.deliveredToUsers[0].readAt);
    // idempotent and monotonic: lower or equal marks change nothing, no event
    const seq0 = (await gql(srv, `query($c: ID!) { chat(id: $c) { lastSeq } }`, { c: chat.id }, a.h)).data.chat.lastSeq;
    assert.equal(ok(await gql(srv, DELIVERED, { c: chat.id, s: m1.seq }, b.h), 'markChatAsDelivered'), m2.seq);
    assert.equal(ok(await gql(srv, DELIVERED, { c: chat.id, s: m2.seq }, b.h), 'markChatAsDelivered'), m2.seq);
    assert.equal((await gql(srv, `query($c: ID!) { chat(id: $c) { lastSeq } }`, { c: chat.id }, a.h)).data.chat.lastSeq, seq0);
    // c reads (never marked delivered): a read counts as delivered
    ok(await gql(srv, 'mutation($c: ID!, $s: Int) { markChatAsRead(chatId: $c, upToSeq: $s) }', { c: chat.id, s: m1.seq }, c.h), 'markChatAsRead');
    s = ok(await gql(srv, STATUS, { m: m1.id }, a.h), 'messageReadStatus');
    assert.deepEqual([s.deliveredCount, s.isFullyDelivered, s.readByCount, s.isFullyRead], [2, true, 1, false]);
    s = ok(await gql(srv, STATUS, { m: m2.id }, a.h), 'messageReadStatus');
    assert.deepEqual([s.deliveredCount, s.isFullyDelivered], [1, false]);
    // a mark past the end is clamped to the chat's last seq
    const top = ok(await gql(srv, DELIVERED, { c: chat.id, s: 1000000 }, c.h), 'markChatAsDelivered');
    assert.equal(top, seq0 + 1); // after c's read event
    // the delivered events, in chatEvents
    await ev.until(() => ev.events.filter((e) => e.kind === 'delivered').length >= 2, 5000, 'delivered events');
    const dv = ev.events.filter((e) => e.kind === 'delivered');
    assert.equal(dv.length, 2);
    assert.deepEqual([dv[0].userId, dv[0].upToSeq], [b.id, m2.seq]);
    assert.ok(dv[0].deliveredAt);
    assert.deepEqual([dv[1].userId, dv[1].upToSeq], [c.id, top]);
    // errors
    assert.equal(code(await gql(srv, DELIVERED, { c: chat.id, s: -1 }, b.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(srv, DELIVERED, { c: chat.id, s: 1 }, x.h)), 'FORBIDDEN');
    assert.equal(code(await gql(srv, DELIVERED, { c: '00000000-0000-0000-0000-000000000000', s: 1 }, x.h)), 'NOT_FOUND');
    assert.equal(code(await gql(srv, DELIVERED, { c: chat.id, s: 1 }, {})), 'UNAUTHENTICATED');
    assert.equal(code(await gql(srv, STATUS, { m: m1.id }, x.h)), 'FORBIDDEN');
    ca.dispose();
  });

  test('the seed-003 /ws gets a delivered event', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(srv, a, [b]);
    const m = await send(srv, a, chat.id, 'tick');
    const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${a.token}`);
    const events = [];
    const waitEv = (pred, what) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout: ${what} ${JSON.stringify(events)}`)), 5000);
      const check = () => { const e = events.find(pred); if (e) { clearTimeout(t); resolve(e); } };
      ws.on('message', check);
      check();
    });
    ws.on('message', (d) => events.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'joinRoom', payload: { roomId: chat.id } }));
    await waitEv((e) => e.type === 'roomJoined', 'roomJoined');
    await waitChannel(`chat:${chat.id}`, 1);
    ok(await gql(srv, DELIVERED, { c: chat.id, s: m.seq }, b.h), 'markChatAsDelivered');
    const d = await waitEv((e) => e.type === 'delivered', 'delivered');
    assert.deepEqual([d.payload.roomId, d.payload.userId, d.payload.sequenceId], [chat.id, b.id, m.seq]);
    assert.match(d.payload.deliveredAt, /^\d{4}-\d\d-\d\dT/);
    ws.close();
  });
});

const PRESENCE = 'query P($id: ID!) { user(id: $id) { id online lastSeenAt } }';

describe('presence', () => {
  test('User.online and lastSeenAt: offline, online, offline with the time persisted', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(srv, a, [b]);
    let u = ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user');
    assert.deepEqual([u.online, u.lastSeenAt], [false, null]);
    const cb = wsClient(srv, b);
    record(cb, 'subscription($c: ID!) { messageAdded(chatId: $c) { id } }', { c: chat.id }, 'messageAdded');
    await waitChannel(`chat:${chat.id}`, 1);
    const t0 = Date.now();
    for (;;) {
      u = ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user');
      if (u.online) break;
      assert.ok(Date.now() - t0 < 5000, 'never online');
      await sleep(50);
    }
    assert.ok(Math.abs(Date.parse(u.lastSeenAt) - Date.now()) < 5000, u.lastSeenAt);
    // online also in lists (users) and nested (Message.sender)
    const m = await send(srv, b, chat.id, 'hi');
    const msg = ok(await gql(srv, 'query($id: ID!) { message(id: $id) { sender { online } } }', { id: m.id }, a.h), 'message');
    assert.equal(msg.sender.online, true);
    cb.dispose();
    const left = Date.now();
    for (;;) {
      u = ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user');
      if (!u.online) break;
      assert.ok(Date.now() - left < 5000, 'never offline');
      await sleep(50);
    }
    const seen = Date.parse(u.lastSeenAt);
    assert.ok(seen >= t0 - 1000 && seen <= Date.now() + 1000, u.lastSeenAt);
    // persisted in users.last_seen_at (batched, within ~2 s)
    let row = '';
    for (const t1 = Date.now(); !(row = sql(`SELECT last_seen_at FROM users WHERE id = '${b.id}'`)); await sleep(200))
      assert.ok(Date.now() - t1 < 6000, 'users.last_seen_at never written');
    // without Redis's last-seen key the persisted time answers
    execFileSync('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, 'DEL', `presence:seen:${b.id}`]);
    u = ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user');
    assert.equal(u.online, false);
    assert.ok(Math.abs(Date.parse(u.lastSeenAt) - seen) < 5000, `${u.lastSeenAt} vs ${new Date(seen).toISOString()}`);
  });

  test("a SIGKILLed receiver's user goes offline within the TTL and keeps a last-seen time", async () => {
    const doomed = await startChatd({ role: 'receiver', db: true, redis: true, env: { CHATD_TEST_PRESENCE_TTL_S: '2' } });
    const [a, b] = makeUsers(2);
    const chat = await createChat(srv, a, [b]);
    const cb = wsClient(doomed, b);
    record(cb, 'subscription($c: ID!) { messageAdded(chatId: $c) { id } }', { c: chat.id }, 'messageAdded');
    await waitChannel(`chat:${chat.id}`, 1);
    const t0 = Date.now();
    while (!ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user').online) {
      assert.ok(Date.now() - t0 < 5000, 'never online');
      await sleep(50);
    }
    doomed.proc.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    let u;
    for (;;) {
      u = ok(await gql(srv, PRESENCE, { id: b.id }, a.h), 'user');
      if (!u.online) break;
      assert.ok(Date.now() - killedAt < 4000, 'still online 4 s after its receiver died (TTL 2 s)');
      await sleep(100);
    }
    assert.ok(u.lastSeenAt, 'no lastSeenAt after the crash');
    const seen = Date.parse(u.lastSeenAt);
    assert.ok(seen >= t0 - 1000 && seen <= killedAt + 100, `${u.lastSeenAt} not within the session`);
    cb.dispose();
  });
});
