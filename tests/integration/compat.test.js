// The seed-003 compatibility API (docs/api.md): REST under /api/v1
// and the JSON event WebSocket on /ws, served by chatd on the same data and
// delivery core as GraphQL. Every event and route, their error cases, admin
// cleanup, and the cross-API check: a GraphQL client and a seed-003 client
// in one chat see each other's messages live in the same seq order, with
// read receipts and unread counts consistent across both APIs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { startChatd, runChatdExpectExit, signToken } from './lib/chatd.js';
import {
  sql, sfx, sleep, makeUsers, gql, ok, createChat, send, wsClient, record, CREATE_MSG, waitChannel,
} from './lib/receiver-env.js';
import { execFileSync } from 'node:child_process';

let srv;
before(async () => {
  srv = await startChatd({ db: true, redis: true, env: { CHATD_WS_PING_MS: '1000' } });
});
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, srv.logs().slice(-3000));
});

async function rest(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(`${srv.base}/api/v1${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = text;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, body: json };
}

/** A seed-003 /ws client recording every event. */
function compatWs(token, { query = true, protocols, auth } = {}) {
  const url = `${srv.base.replace('http', 'ws')}/ws${query && token ? `?token=${token}` : ''}`;
  const ws = new WebSocket(url, protocols);
  const events = [];
  const waiters = [];
  let closed = null;
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    events.push(m);
    for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
  });
  ws.on('error', () => {});
  const closedP = new Promise((r) => ws.on('close', (code, reason) => { closed = { code, reason: reason.toString() }; r(closed); }));
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => { if (auth) ws.send(JSON.stringify({ type: 'auth', payload: { token: auth } })); resolve(); });
    ws.once('unexpected-response', (_q, res) => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  const c = {
    ws, events, opened, closedP,
    get closed() { return closed; },
    send: (type, payload) => ws.send(typeof type === 'string' && payload === undefined && type.startsWith('{') ? type : JSON.stringify({ type, payload })),
    next(pred, timeoutMs = 5000) {
      const f = events.find(pred);
      if (f) { events.splice(events.indexOf(f), 1); return Promise.resolve(f); }
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (m) => { clearTimeout(t); events.splice(events.indexOf(m), 1); resolve(m); } };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); reject(new Error(`timeout; got ${JSON.stringify(events).slice(0, 1500)}`)); }, timeoutMs);
        waiters.push(w);
      });
    },
    type: (t, more = () => true, ms) => c.next((m) => m.type === t && more(m.payload), ms),
    close: () => ws.close(),
  };
  return c;
}

async function connected(user) {
  const c = compatWs(user.token);
  await c.opened;
  const m = await c.type('connected');
  assert.equal(m.payload.userId, user.id);
  assert.match(m.payload.timestamp, /^\d{4}-\d\d-\d\dT/);
  return c;
}

test('REST login returns the GraphQL login tokens; errors 400/401', async () => {
  const name = `c3${sfx()}`;
  const b = await gql(srv, 'mutation($i:CreateUserInput!){createUser(createUserInput:$i){id}}',
    { i: { username: name, email: `${name}@example.com`, password: 'correct horse' } });
  const id = ok(b, 'createUser').id;
  const r = await rest('POST', '/auth/login', { body: { username: name, password: 'correct horse' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.user.id, id);
  assert.equal(r.body.user.isAdmin, false);
  assert.ok(r.body.token && r.body.refreshToken);
  // the same tokens as GraphQL's: the access token works on /graphql, the refresh token on refreshToken
  const me = await gql(srv, '{ me { id } }', {}, { authorization: `Bearer ${r.body.token}` });
  assert.equal(ok(me, 'me').id, id);
  const rt = await gql(srv, 'mutation($t:String!){refreshToken(refreshToken:$t){token}}', { t: r.body.refreshToken });
  assert.ok(ok(rt, 'refreshToken').token);
  const bad = await rest('POST', '/auth/login', { body: { username: name, password: 'wrong password' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, 'UNAUTHENTICATED');
  assert.equal((await rest('POST', '/auth/login', { body: { username: name } })).status, 400);
  assert.equal((await rest('POST', '/auth/login', { body: 'not json' })).status, 400);
  assert.equal((await rest('GET', '/auth/login')).status, 405);
  // the login throttle (src/chat/throttle.c) answers 429 once the name is locked
  for (let i = 0; i < 5; i++) await rest('POST', '/auth/login', { body: { username: name, password: `wrong${i}` } });
  const locked = await rest('POST', '/auth/login', { body: { username: name, password: 'correct horse' } });
  assert.equal(locked.status, 429, JSON.stringify(locked.body));
  assert.equal(locked.body.error.code, 'RATE_LIMITED');
});

test('REST chat routes: rooms, messages (paging), unread, read, online, direct; errors', async () => {
  const [a, b, x] = makeUsers(3);
  const chat = await createChat(srv, a, [b], 'restroom');
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push(await send(srv, a, chat.id, `m${i}`, { type: i === 4 ? 'gift' : 'text', metadata: i === 4 ? { gift: 'rose' } : undefined }));

  const rooms = await rest('GET', '/chat/rooms', { token: b.token });
  assert.equal(rooms.status, 200);
  const room = rooms.body.rooms.find((r) => r.id === chat.id);
  assert.ok(room, JSON.stringify(rooms.body));
  assert.equal(rooms.body.count, rooms.body.rooms.length);
  assert.equal(room.type, 'GROUP');
  assert.equal(room.unreadCount, 5);
  assert.equal(room.lastMessageText, 'm4');
  assert.equal(room.lastSequenceId, sent[4].seq);
  assert.deepEqual(room.participantIds.sort(), [a.id, b.id].sort());

  const page = await rest('GET', `/chat/rooms/${chat.id}/messages?limit=2`, { token: b.token });
  assert.equal(page.status, 200, JSON.stringify(page.body));
  assert.deepEqual(page.body.messages.map((m) => m.content), ['m3', 'm4']);
  assert.equal(page.body.count, 2);
  assert.equal(page.body.hasMore, true);
  assert.equal(page.body.unreadCount, 5);
  const gift = page.body.messages[1];
  assert.equal(gift.type, 'gift');
  assert.deepEqual(gift.metadata, { gift: 'rose' });
  assert.equal(gift.roomId, chat.id);
  assert.equal(gift.senderId, a.id);
  assert.equal(gift.sequenceId, sent[4].seq);
  assert.equal(gift.sender.id, a.id);
  const older = await rest('GET', `/chat/rooms/${chat.id}/messages?limit=10&beforeSequenceId=${sent[3].seq}`, { token: b.token });
  assert.deepEqual(older.body.messages.map((m) => m.content), ['m0', 'm1', 'm2']);
  assert.equal(older.body.hasMore, false);

  const un = await rest('GET', `/chat/rooms/${chat.id}/unread`, { token: b.token });
  assert.deepEqual(un.body, { roomId: chat.id, unreadCount: 5 });
  const rd = await rest('POST', `/chat/rooms/${chat.id}/read`, { token: b.token, body: { sequenceId: sent[2].seq } });
  assert.equal(rd.status, 200, JSON.stringify(rd.body));
  assert.deepEqual(rd.body, { success: true, roomId: chat.id, markedUpTo: sent[2].seq, unreadCount: 2 });
  // the GraphQL API agrees
  const g = await gql(srv, 'query($c:ID!,$u:String!){unreadCount(chatId:$c,userId:$u)}', { c: chat.id, u: b.id }, b.h);
  assert.equal(ok(g, 'unreadCount'), 2);

  const on = await rest('GET', `/chat/rooms/${chat.id}/online`, { token: a.token });
  assert.equal(on.status, 200);
  assert.equal(on.body.roomId, chat.id);
  assert.equal(on.body.count, on.body.onlineUsers.length);

  const d1 = await rest('POST', '/chat/direct', { token: a.token, body: { targetUserId: x.id } });
  assert.equal(d1.status, 200, JSON.stringify(d1.body));
  assert.equal(d1.body.room.type, 'DIRECT');
  assert.deepEqual([d1.body.room.user1.id, d1.body.room.user2.id].sort(), [a.id, x.id].sort());
  assert.deepEqual(d1.body.messages, []);
  assert.equal(d1.body.unreadCount, 0);
  const d2 = await rest('POST', '/chat/direct', { token: x.token, body: { targetUserId: a.id } });
  assert.equal(d2.body.room.id, d1.body.room.id, 'create-or-get: the same direct room');

  // errors
  assert.equal((await rest('GET', '/chat/rooms')).status, 401);
  assert.equal((await rest('GET', '/chat/rooms', { token: 'garbage' })).status, 401);
  assert.equal((await rest('GET', '/chat/rooms', { token: signToken({ sub: a.id, ttl: -100 }) })).status, 401);
  assert.equal((await rest('GET', '/chat/nothing', { token: a.token })).status, 404);
  assert.equal((await rest('GET', '/chat/rooms/not-a-uuid/messages', { token: a.token })).status, 404);
  const forb = await rest('GET', `/chat/rooms/${chat.id}/messages`, { token: x.token });
  assert.ok([403, 404].includes(forb.status), JSON.stringify(forb.body));
  assert.ok(forb.body.error.code && forb.body.error.message);
  assert.equal((await rest('POST', `/chat/rooms/${chat.id}/read`, { token: x.token, body: { sequenceId: 1 } })).status, forb.status);
  assert.equal((await rest('GET', `/chat/rooms/${chat.id}/messages?limit=0`, { token: a.token })).status, 400);
  assert.equal((await rest('GET', `/chat/rooms/${chat.id}/messages?limit=1001`, { token: a.token })).status, 400);
  const max = await rest('GET', `/chat/rooms/${chat.id}/messages?limit=1000`, { token: a.token });
  assert.equal(max.status, 200);
  assert.equal(max.body.count, 5);
  assert.equal(max.body.hasMore, false);
  assert.equal((await rest('GET', `/chat/rooms/${chat.id}/messages?beforeSequenceId=x`, { token: a.token })).status, 400);
  assert.equal((await rest('POST', `/chat/rooms/${chat.id}/read`, { token: a.token, body: { sequenceId: -1 } })).status, 400);
  assert.equal((await rest('POST', `/chat/rooms/${chat.id}/read`, { token: a.token, body: {} })).status, 400);
  assert.equal((await rest('POST', '/chat/direct', { token: a.token, body: { targetUserId: 'nope' } })).status, 400);
  assert.equal((await rest('POST', '/chat/direct', { token: a.token, body: { targetUserId: a.id } })).status, 400);
  assert.equal((await rest('DELETE', `/chat/rooms/${chat.id}/messages`, { token: a.token })).status, 405);
  // CORS: the seed's web origins may call the API, DELETE included
  const pre = await fetch(`${srv.base}/api/v1/chat/rooms/${chat.id}/cleanup`, { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'DELETE' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-methods'), /DELETE/);
  const cors = await fetch(`${srv.base}/api/v1/chat/rooms`, { headers: { origin: 'http://localhost:3000', authorization: `Bearer ${a.token}` } });
  assert.equal(cors.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  const big = await fetch(`${srv.base}/api/v1/chat/direct`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) }).catch(() => ({ status: 413 }));
  assert.equal(big.status, 413);
});

test('DELETE cleanup: admin only (403), keeps the newest N, unread recounted', async () => {
  const [a, b] = makeUsers(2);
  const chat = await createChat(srv, a, [b], 'cleanup');
  for (let i = 0; i < 6; i++) await send(srv, a, chat.id, `c${i}`);
  const no = await rest('DELETE', `/chat/rooms/${chat.id}/cleanup?keep=2`, { token: a.token });
  assert.equal(no.status, 403);
  assert.equal(no.body.error.code, 'FORBIDDEN');
  const name = sql(`SELECT username FROM users WHERE id = '${a.id}'`);
  const g = await runChatdExpectExit(['admin', 'grant', name], { DATABASE_URL: process.env.CHATD_TEST_DATABASE_URL });
  assert.equal(g.code, 0, g.output);
  const missing = await runChatdExpectExit(['admin', 'grant', `nobody${sfx()}`], { DATABASE_URL: process.env.CHATD_TEST_DATABASE_URL });
  assert.equal(missing.code, 1);
  assert.equal((await rest('DELETE', `/chat/rooms/${chat.id}/cleanup?keep=0`, { token: a.token })).status, 400);
  const r = await rest('DELETE', `/chat/rooms/${chat.id}/cleanup?keep=2`, { token: a.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.deleted, 4);
  const page = await rest('GET', `/chat/rooms/${chat.id}/messages`, { token: b.token });
  assert.deepEqual(page.body.messages.map((m) => m.content), ['c4', 'c5']);
  const un = await rest('GET', `/chat/rooms/${chat.id}/unread`, { token: b.token });
  assert.equal(un.body.unreadCount, 2);
  const stored = sql(`SELECT chatd_unread('${chat.id}', '${b.id}')`);
  assert.equal(stored, '2');
  // the log forgets the cleared contents too (the created events, found by (chat_id, seq): 0016)
  assert.equal(sql(`SELECT string_agg(payload->>'content', ',' ORDER BY seq) FROM chat_events
    WHERE chat_id = '${chat.id}' AND kind = 'message.created'`), ',,,,c4,c5');
  assert.equal((await rest('DELETE', `/chat/rooms/${randomUUID()}/cleanup`, { token: a.token })).status, 404);
  // the flag shows in the REST login of an admin: set a password first
  const login = await rest('POST', '/auth/login', { body: { username: name, password: 'x' } });
  assert.ok([401, 400].includes(login.status));
});

test('/ws: auth by query, subprotocol and first message; bad tokens refused', async () => {
  const [a] = makeUsers(1);
  const q = await connected(a);
  q.close();
  const p = compatWs(a.token, { query: false, protocols: ['access_token', a.token] });
  await p.opened;
  assert.equal(p.ws.protocol, 'access_token');
  assert.equal((await p.type('connected')).payload.userId, a.id);
  p.close();
  const m = compatWs(null, { auth: a.token });
  await m.opened;
  assert.equal((await m.type('connected')).payload.userId, a.id);
  m.close();
  await assert.rejects(compatWs('garbage').opened, (e) => e.status === 401);
  const bad = compatWs(null, { auth: 'garbage' });
  await bad.opened;
  assert.equal((await bad.type('error')).payload.code, 'UNAUTHENTICATED');
  assert.equal((await bad.closedP).code, 4401);
  const early = compatWs(null);
  await early.opened;
  early.send('joinRoom', { roomId: randomUUID() });
  assert.equal((await early.type('error')).payload.code, 'UNAUTHENTICATED');
  assert.equal((await early.closedP).code, 4401);
});

test('/ws events: joinRoom, sendMessage (text/image/gift/system + metadata), typing, markRead, leaveRoom, presence, errors', async () => {
  const [a, b, x] = makeUsers(3);
  const chat = await createChat(srv, a, [b], 'wsroom');
  await send(srv, a, chat.id, 'before');
  const ca = await connected(a);
  const cb = await connected(b);
  ca.send('joinRoom', { roomId: chat.id });
  const j = await ca.type('roomJoined');
  assert.equal(j.payload.room.id, chat.id);
  assert.deepEqual(j.payload.messages.map((m) => m.content), ['before']);
  assert.equal(j.payload.unreadCount, 0);
  await sleep(300); // a's presence subscription is live (presence events are not replayed)
  cb.send('joinRoom', { roomId: chat.id });
  const jb = await cb.type('roomJoined');
  assert.equal(jb.payload.unreadCount, 1);
  assert.ok(jb.payload.onlineUsers.includes(a.id), JSON.stringify(jb.payload.onlineUsers)); // the snapshot
  // presence: b's connection came up
  await ca.type('presenceUpdate', (p) => p.userId === b.id && p.status === 'online');

  const kinds = [['text', undefined], ['image', { url: 'https://example.com/i.png' }], ['gift', { gift: 'rose', amount: 3 }], ['system', undefined]];
  for (const [type, metadata] of kinds) ca.send('sendMessage', { roomId: chat.id, content: `hi ${type}`, type, metadata, clientId: `c-${type}` });
  const got = [];
  for (let i = 0; i < kinds.length; i++) got.push((await cb.type('message')).payload);
  assert.deepEqual(got.map((m) => m.type), kinds.map((k) => k[0]));
  assert.deepEqual(got[2].metadata, { gift: 'rose', amount: 3 });
  assert.equal(got[0].sender.id, a.id);
  for (let i = 1; i < got.length; i++) assert.equal(got[i].sequenceId, got[i - 1].sequenceId + 1);
  const ack = await ca.type('messageSent', (p) => p.clientId === 'c-gift');
  assert.equal(ack.payload.message.sequenceId, got[2].sequenceId);
  // the sender's own socket gets the room's messages too (the seed broadcasts to the room)
  await ca.type('message', (m) => m.content === 'hi system');

  cb.send('typing', { roomId: chat.id, isTyping: true });
  const ty = await ca.type('typing');
  assert.deepEqual([ty.payload.userId, ty.payload.isTyping, ty.payload.roomId], [b.id, true, chat.id]);
  assert.equal(ty.payload.username, sql(`SELECT username FROM users WHERE id='${b.id}'`));

  cb.send('markRead', { roomId: chat.id, sequenceId: got[1].sequenceId });
  const rm = await cb.type('readMarked');
  assert.equal(rm.payload.unreadCount, 1 /* gift; system messages do not count */);
  const rr = await ca.type('read', (p) => p.userId === b.id);
  assert.equal(rr.payload.sequenceId, got[1].sequenceId);

  // errors
  const err = async (raw, code) => {
    cb.ws.send(raw);
    const e = await cb.type('error');
    assert.equal(e.payload.code, code, JSON.stringify(e));
    assert.ok(e.payload.message);
  };
  await err('not json', 'INVALID_MESSAGE');
  await err(JSON.stringify({ payload: {} }), 'INVALID_MESSAGE');
  await err(JSON.stringify({ type: 'shout', payload: {} }), 'UNKNOWN_EVENT');
  await err(JSON.stringify({ type: 'sendMessage', payload: { roomId: chat.id } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'sendMessage', payload: { roomId: chat.id, content: 'x', type: 'video' } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'sendMessage', payload: { roomId: chat.id, content: 'x', metadata: 5 } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'sendMessage', payload: { content: 'x' } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'sendMessage', payload: { roomId: chat.id, content: '' } }), 'BAD_USER_INPUT');
  await err(JSON.stringify({ type: 'typing', payload: { roomId: chat.id, isTyping: 'yes' } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'markRead', payload: { roomId: chat.id, sequenceId: -3 } }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'joinRoom', payload: {} }), 'INVALID_PAYLOAD');
  await err(JSON.stringify({ type: 'leaveRoom', payload: { roomId: randomUUID() } }), 'NOT_JOINED');
  await err(JSON.stringify({ type: 'joinRoom', payload: { roomId: 'zzz' } }), 'NOT_FOUND');
  // a non-participant can neither join nor write
  const cx = await connected(x);
  cx.send('joinRoom', { roomId: chat.id });
  const ex = await cx.type('error');
  assert.ok(['FORBIDDEN', 'NOT_FOUND'].includes(ex.payload.code), JSON.stringify(ex));
  cx.send('sendMessage', { roomId: chat.id, content: 'intruder' });
  const ex2 = await cx.type('error');
  assert.ok(['FORBIDDEN', 'NOT_FOUND'].includes(ex2.payload.code));
  // joinRoom by targetUserId: the direct room
  cx.send('joinRoom', { targetUserId: a.id });
  const dj = await cx.type('roomJoined');
  assert.equal(dj.payload.room.type, 'DIRECT');

  // leaveRoom stops the room's events
  cb.send('leaveRoom', { roomId: chat.id });
  await cb.type('roomLeft');
  ca.send('sendMessage', { roomId: chat.id, content: 'after leave' });
  await ca.type('message', (m) => m.content === 'after leave');
  await sleep(300);
  assert.equal(cb.events.filter((e) => e.type === 'message').length, 0);

  // presence offline when b disconnects (b left the room: a hears it only
  // while b is in the room, so rejoin first)
  cb.send('joinRoom', { roomId: chat.id });
  await cb.type('roomJoined');
  cb.close();
  await ca.type('presenceUpdate', (p) => p.userId === b.id && p.status === 'offline', 8000);
  ca.close();
  cx.close();
});

test('/ws room stream (one subscription per room): edits, deletes, a member added later gets typing and presence routed, removal ends the room with roomLeft, a late join replays nothing twice', async () => {
  const [a, b, c] = makeUsers(3);
  const chat = await createChat(srv, a, [b], 'watchroom');
  const ca = await connected(a);
  ca.send('joinRoom', { roomId: chat.id });
  await ca.type('roomJoined');
  // one receiver subscription per joined room (not three)
  const subs = async () => Number((await (await fetch(`${srv.base}/metrics`)).text())
    .match(/^chatd_receiver_subscriptions (\d+)/m)[1]);
  await sleep(300); // a's subscription is attached (its lookup is asynchronous)
  const before = await subs();
  const cb = await connected(b);
  cb.send('joinRoom', { roomId: chat.id });
  await cb.type('roomJoined');
  await ca.type('presenceUpdate', (p) => p.userId === b.id && p.status === 'online');
  await sleep(300);
  assert.equal(await subs(), before + 1);

  const m = await send(srv, a, chat.id, 'original');
  const live = (await cb.type('message', (p) => p.id === m.id)).payload;
  assert.deepEqual([live.sender.id, live.content, live.isEdited, live.replyToId, live.deletedAt], [a.id, 'original', false, null, null]);
  ok(await gql(srv, 'mutation($i:ID!,$c:String!,$u:String!){updateMessage(id:$i,content:$c,userId:$u){id}}',
    { i: m.id, c: 'edited', u: a.id }, a.h), 'updateMessage');
  const up = await cb.type('messageUpdated', (p) => p.id === m.id);
  assert.deepEqual([up.payload.content, up.payload.isEdited, up.payload.roomId], ['edited', true, chat.id]);
  assert.ok(up.payload.editedAt);
  assert.equal(up.payload.sender.id, a.id);
  ok(await gql(srv, 'mutation($i:ID!,$u:String!){removeMessage(id:$i,userId:$u){id}}', { i: m.id, u: a.id }, a.h), 'removeMessage');
  const del = await cb.type('messageDeleted', (p) => p.id === m.id);
  assert.ok(del.payload.deletedAt);
  // (sequenceId of messageUpdated / messageDeleted is the message's own seq, as in the seed)
  assert.deepEqual([up.payload.sequenceId, del.payload.sequenceId], [m.seq, m.seq]);

  // c joins the chat after the rooms were joined: the room's member list
  // follows the membership event, so c's presence and typing reach a
  const cc = await connected(c);
  ok(await gql(srv, 'mutation($c:ID!,$u:String!){addParticipant(chatId:$c,userId:$u){id}}', { c: chat.id, u: c.id }, a.h), 'addParticipant');
  await ca.type('roomEvent', (p) => p.kind === 'participants.added');
  cc.send('joinRoom', { roomId: chat.id });
  await cc.type('roomJoined');
  await ca.type('presenceUpdate', (p) => p.userId === c.id && p.status === 'online');
  cc.send('typing', { roomId: chat.id, isTyping: true });
  const ty = await cb.type('typing', (p) => p.userId === c.id);
  assert.equal(ty.payload.isTyping, true);
  // the typist does not hear itself
  await sleep(300);
  assert.equal(cc.events.filter((e) => e.type === 'typing').length, 0);

  // b is removed: b's room ends (roomLeft), nothing after the removal reaches b
  ok(await gql(srv, 'mutation($c:ID!,$u:String!){removeParticipant(chatId:$c,userId:$u){id}}', { c: chat.id, u: b.id }, a.h), 'removeParticipant');
  await cb.type('roomLeft', (p) => p.roomId === chat.id);
  await send(srv, a, chat.id, 'after removal');
  await ca.type('message', (p) => p.content === 'after removal');
  await sleep(300);
  assert.equal(cb.events.filter((e) => e.type === 'message' && e.payload.content === 'after removal').length, 0);
  assert.equal(await subs(), before + 1); // b's ended, c's is live

  // the room's messages and membership events reached a once each, in seq order
  const seqs = ca.events.filter((e) => e.type === 'message' || e.type === 'roomEvent').map((e) => e.payload.sequenceId);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], JSON.stringify(seqs));
  ca.close();
  cb.close();
  cc.close();
});

test('/ws typing: a joined room adds one local channel; its typing subscription is shared with GraphQL typing subscribers and outlives either', async () => {
  const [a, b, g] = makeUsers(3);
  const chat = await createChat(srv, a, [b, g], 'typing-shared');
  const other = await createChat(srv, a, [b], 'typing-other');
  const eph = `chat:${chat.id}:eph`;
  const numsub = (ch) => Number(execFileSync('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, 'PUBSUB', 'NUMSUB', ch],
    { encoding: 'utf8' }).trim().split('\n')[1]);
  const channels = async () => Number((await (await fetch(`${srv.base}/metrics`)).text())
    .match(/^chatd_receiver_channels (\d+)/m)[1]);
  const ca = await connected(a);
  ca.send('joinRoom', { roomId: other.id });
  await ca.type('roomJoined');
  await sleep(300);
  const before = await channels();
  ca.send('joinRoom', { roomId: chat.id });
  await ca.type('roomJoined');
  await waitChannel(eph, 1);
  await sleep(300);
  // the room's chat channel only: typing has no local channel of its own
  assert.equal(await channels(), before + 1);
  const cb = await connected(b);
  cb.send('joinRoom', { roomId: chat.id });
  await cb.type('roomJoined');
  // a GraphQL typing subscriber on the same chat and process
  const gc = wsClient(srv, g);
  const T = 'subscription T($c: ID!) { typing(chatId: $c) { userId isTyping } }';
  const tg = record(gc, T, { c: chat.id }, 'typing');
  await sleep(500);
  cb.send('typing', { roomId: chat.id, isTyping: true });
  assert.equal((await ca.type('typing', (p) => p.userId === b.id)).payload.isTyping, true);
  await tg.waitFor(1);
  assert.deepEqual(tg.events[0], { userId: b.id, isTyping: true });
  // the GraphQL subscriber leaves: the room still hears typing, once
  tg.stop();
  await sleep(500);
  cb.send('typing', { roomId: chat.id, isTyping: false });
  assert.equal((await ca.type('typing', (p) => p.userId === b.id)).payload.isTyping, false);
  await sleep(300);
  assert.equal(ca.events.filter((e) => e.type === 'typing').length, 0);
  // a GraphQL subscriber again; then both rooms are left: it still hears typing
  const tg2 = record(gc, T, { c: chat.id }, 'typing');
  await sleep(500);
  ca.send('leaveRoom', { roomId: chat.id });
  await ca.type('roomLeft');
  cb.send('leaveRoom', { roomId: chat.id });
  await cb.type('roomLeft');
  await sleep(300);
  ok(await gql(srv, 'mutation T($c: ID!) { setTyping(chatId: $c, isTyping: true) }', { c: chat.id }, a.h), 'setTyping');
  await tg2.waitFor(1);
  assert.deepEqual(tg2.events[0], { userId: a.id, isTyping: true });
  // nobody follows the chat's typing any more: the broker subscription ends
  tg2.stop();
  for (let i = 0; i < 50 && numsub(eph) > 0; i++) await sleep(100);
  assert.equal(numsub(eph), 0);
  await gc.dispose();
  ca.close();
  cb.close();
});

test('/ws message senders: names from the room, refreshed when participants join', async () => {
  const [a, b, n] = makeUsers(3);
  const chat = await createChat(srv, a, [b], 'senders');
  sql(`UPDATE users SET display_name = 'Bee' WHERE id = '${b.id}'`);
  const ca = await connected(a);
  ca.send('joinRoom', { roomId: chat.id });
  await ca.type('roomJoined');
  await send(srv, b, chat.id, 'from b');
  const mb = await ca.type('message');
  assert.deepEqual([mb.payload.sender.id, mb.payload.sender.displayName], [b.id, 'Bee']);
  assert.equal(mb.payload.sender.username, sql(`SELECT username FROM users WHERE id='${b.id}'`));
  ok(await gql(srv, 'mutation($c:ID!,$u:String!){addParticipant(chatId:$c,userId:$u){id}}', { c: chat.id, u: n.id }, a.h), 'addParticipant');
  await ca.type('roomEvent', (p) => p.kind === 'participants.added');
  await sleep(200);
  await send(srv, n, chat.id, 'from n');
  // (the join's system message "… added …" comes first: skip to n's own)
  const mn = await ca.type('message', (p) => p.content === 'from n');
  assert.equal(mn.payload.sender.username, sql(`SELECT username FROM users WHERE id='${n.id}'`));
  ca.close();
});

test('trust mode (how the seed client runs): user-id header / ?userId identify the caller', async () => {
  const t = await startChatd({ db: true, redis: true, auth: 'trust' });
  try {
    const [a, b] = makeUsers(2);
    const chat = await createChat(srv, a, [b], 'trust');
    const r = await fetch(`${t.base}/api/v1/chat/rooms`, { headers: { 'user-id': a.id } });
    assert.equal(r.status, 200);
    assert.ok((await r.json()).rooms.some((x) => x.id === chat.id));
    assert.equal((await fetch(`${t.base}/api/v1/chat/rooms`)).status, 401);
    const ws = new WebSocket(`${t.base.replace('http', 'ws')}/ws?userId=${a.id}`);
    const first = await new Promise((resolve, reject) => { ws.once('message', (d) => resolve(JSON.parse(d.toString()))); ws.once('error', reject); });
    assert.deepEqual([first.type, first.payload.userId], ['connected', a.id]);
    ws.close();
  } finally {
    assert.equal((await t.stop()).code, 0, t.logs().slice(-2000));
  }
});

test('/ws: at most COMPAT_MAX_ROOMS (100) joined rooms per connection; a join burst runs COMPAT_JOINS_RUNNING (8) at a time', async () => {
  const [a, b] = makeUsers(2);
  const chats = [];
  for (let i = 0; i < 101; i++) chats.push(await createChat(srv, a, [b], `many${i}`));
  const c = await connected(a);
  const metric = async (name) => Number((await (await fetch(`${srv.base}/metrics`)).text())
    .match(new RegExp(`^${name} (\\d+)`, 'm'))[1]);
  const waited = await metric('chatd_compat_joins_waited_total');
  for (let i = 0; i < 100; i++) c.send('joinRoom', { roomId: chats[i].id });
  const joined = new Set();
  for (let i = 0; i < 100; i++) joined.add((await c.type('roomJoined', () => true, 10000)).payload.room.id);
  assert.equal(joined.size, 100);
  // join admission: at most COMPAT_JOINS_RUNNING (8) join queries at once,
  // the rest of the burst waited for a slot; every join was answered
  assert.ok(await metric('chatd_compat_joins_running_max') <= 8);
  assert.ok(await metric('chatd_compat_joins_waited_total') > waited);
  assert.equal(await metric('chatd_compat_joins_running'), 0);
  assert.equal(await metric('chatd_compat_joins_waiting'), 0);
  c.send('joinRoom', { roomId: chats[100].id });
  const e = await c.type('error');
  assert.deepEqual([e.payload.code, e.payload.roomId], ['TOO_MANY_ROOMS', chats[100].id]);
  // leaving one makes room for another
  c.send('leaveRoom', { roomId: chats[0].id });
  await c.type('roomLeft');
  c.send('joinRoom', { roomId: chats[100].id });
  assert.equal((await c.type('roomJoined')).payload.room.id, chats[100].id);
  c.close();
});

test('/ws: at most COMPAT_MAX_PENDING_JOINS (100) joins waiting or running per connection; more are RATE_LIMITED', async () => {
  const [a, b] = makeUsers(2);
  const chat = await createChat(srv, a, [b], 'pending-joins');
  const c = await connected(a);
  // 150 joins in one write: they are read before any has been answered
  const sock = c.ws._socket;
  sock.cork();
  for (let i = 0; i < 150; i++) c.send('joinRoom', { roomId: chat.id });
  sock.uncork();
  const done = () => c.events.filter((e) => e.type === 'roomJoined' || e.type === 'error').length;
  for (let i = 0; i < 200 && done() < 150; i++) await sleep(100);
  const joined = c.events.filter((e) => e.type === 'roomJoined');
  const refused = c.events.filter((e) => e.type === 'error');
  assert.equal(joined.length + refused.length, 150);
  assert.ok(joined.length >= 100, `${joined.length} joined`);
  assert.ok(refused.length >= 1);
  for (const e of refused)
    assert.deepEqual([e.payload.code, e.payload.event, e.payload.roomId], ['RATE_LIMITED', 'joinRoom', chat.id]);
  // once they were answered, joins are accepted again
  c.send('joinRoom', { roomId: chat.id });
  const count = () => c.events.filter((e) => e.type === 'roomJoined').length;
  for (let i = 0; i < 100 && count() === joined.length; i++) await sleep(100);
  assert.equal(count(), joined.length + 1);
  c.close();
});

test('/ws: joins waiting for a slot are dropped when their socket closes; later joins are answered', async () => {
  const [a, b] = makeUsers(2);
  const chats = [];
  for (let i = 0; i < 40; i++) chats.push(await createChat(srv, a, [b], `gone${i}`));
  const metric = async (name) => Number((await (await fetch(`${srv.base}/metrics`)).text())
    .match(new RegExp(`^${name} (\\d+)`, 'm'))[1]);
  const waited = await metric('chatd_compat_joins_waited_total');
  const gone = await connected(a);
  for (const ch of chats) gone.send('joinRoom', { roomId: ch.id });
  gone.ws.terminate();
  const c = await connected(b);
  c.send('joinRoom', { roomId: chats[0].id });
  assert.equal((await c.type('roomJoined', () => true, 10000)).payload.room.id, chats[0].id);
  for (let i = 0; i < 50 && (await metric('chatd_compat_joins_waiting')) + (await metric('chatd_compat_joins_running')) > 0; i++) await sleep(100);
  assert.equal(await metric('chatd_compat_joins_waiting'), 0);
  assert.equal(await metric('chatd_compat_joins_running'), 0);
  assert.ok(await metric('chatd_compat_joins_waited_total') > waited); // some did wait
  c.close();
});

test('/ws heartbeat: a silent peer is pinged and, if it never answers, closed', async () => {
  const [a] = makeUsers(1);
  const c = compatWs(a.token, {});
  await c.opened;
  await c.type('connected');
  // the ws client answers pings automatically: still open after 3 ping periods
  await sleep(3000);
  assert.equal(c.closed, null);
  // stop answering pings: ws lets us by pausing the socket's reads
  c.ws._socket.pause();
  const cl = await Promise.race([c.closedP, sleep(8000).then(() => null)]);
  c.ws._socket.resume();
  const closed = cl || (await Promise.race([c.closedP, sleep(4000).then(() => null)]));
  assert.ok(closed, 'closed after missing pongs');
});

test('cross-API: GraphQL and seed-003 clients see each other live, same seq order, reads and unread consistent', async () => {
  const [g, w] = makeUsers(2);
  const chat = await createChat(srv, g, [w], 'crossapi');
  const client = wsClient(srv, g);
  const gq = record(client, `subscription($c: ID!) { chatEvents(chatId: $c) { seq kind userId upToSeq message { id content seq senderId } } }`, { c: chat.id }, 'chatEvents');
  const cw = await connected(w);
  cw.send('joinRoom', { roomId: chat.id });
  await cw.type('roomJoined');
  await sleep(300); // both subscriptions live
  const N = 20;
  const jobs = [];
  for (let i = 0; i < N; i++) {
    if (i % 2) cw.send('sendMessage', { roomId: chat.id, content: `w${i}` });
    else jobs.push(send(srv, g, chat.id, `g${i}`));
  }
  await Promise.all(jobs);
  const seen = [];
  while (seen.length < N) seen.push((await cw.type('message', () => true, 8000)).payload);
  await gq.until(() => gq.events.filter((e) => e.kind === 'message.created').length >= N);
  const gseen = gq.events.filter((e) => e.kind === 'message.created').map((e) => e.message);
  assert.deepEqual(seen.map((m) => [m.sequenceId, m.content, m.id]), gseen.map((m) => [m.seq, m.content, m.id]));
  for (let i = 1; i < N; i++) assert.ok(seen[i].sequenceId > seen[i - 1].sequenceId);
  assert.equal(new Set(seen.map((m) => m.content)).size, N);
  const db = sql(`SELECT string_agg(content, ',' ORDER BY seq) FROM messages WHERE chat_id='${chat.id}'`);
  assert.equal(db, seen.map((m) => m.content).join(','));

  // the seed client reads up to the 10th message → GraphQL sees the read event
  const upTo = seen[9].sequenceId;
  cw.send('markRead', { roomId: chat.id, sequenceId: upTo });
  await gq.until(() => gq.events.some((e) => e.kind === 'read' && e.userId === w.id && e.upToSeq === upTo));
  // w's unread: the 5 of g's messages after upTo (w's own never count)
  const gUnread = ok(await gql(srv, 'query($c:ID!,$u:String!){unreadCount(chatId:$c,userId:$u)}', { c: chat.id, u: w.id }, w.h), 'unreadCount');
  const rUnread = (await rest('GET', `/chat/rooms/${chat.id}/unread`, { token: w.token })).body.unreadCount;
  const expect = seen.filter((m) => m.sequenceId > upTo && m.senderId === g.id).length;
  assert.equal(gUnread, expect);
  assert.equal(rUnread, expect);
  // GraphQL marks read → the seed client gets a read event, REST agrees
  const last = seen[N - 1].sequenceId;
  ok(await gql(srv, 'mutation($c:ID!,$s:Int){markChatAsRead(chatId:$c,upToSeq:$s)}', { c: chat.id, s: last }, g.h), 'markChatAsRead');
  const rd = await cw.type('read', (p) => p.userId === g.id);
  assert.equal(rd.payload.sequenceId, last);
  assert.equal((await rest('GET', `/chat/rooms/${chat.id}/unread`, { token: g.token })).body.unreadCount, 0);
  const st = ok(await gql(srv, 'query($m:ID!){messageReadStatus(messageId:$m){isFullyRead readByCount}}', { m: seen[9].id }, g.h), 'messageReadStatus');
  assert.equal(st.isFullyRead, true);
  gq.stop();
  await client.dispose();
  cw.close();
});

test('/ws: reactions arrive as `reaction` events; replies carry replyToId (issue 19)', async () => {
  const [a, b] = makeUsers(2);
  const chat = await createChat(srv, a, [b], 'ws-react');
  const orig = await send(srv, a, chat.id, 'react here');
  const cb = await connected(b);
  cb.send('joinRoom', { roomId: chat.id });
  await cb.type('roomJoined');
  await sleep(300);
  const R = 'mutation R($m: ID!, $e: String!) { addReaction(messageId: $m, emoji: $e) { id } }';
  const U = 'mutation R($m: ID!, $e: String!) { removeReaction(messageId: $m, emoji: $e) { id } }';
  ok(await gql(srv, R, { m: orig.id, e: '🔥' }, a.h), 'addReaction');
  ok(await gql(srv, U, { m: orig.id, e: '🔥' }, a.h), 'removeReaction');
  const r1 = await cb.type('reaction', (p) => p.added === true);
  const r2 = await cb.type('reaction', (p) => p.added === false);
  assert.deepEqual([r1.payload.roomId, r1.payload.messageId, r1.payload.userId, r1.payload.emoji], [chat.id, orig.id, a.id, '🔥']);
  assert.equal(r2.payload.sequenceId, r1.payload.sequenceId + 1);
  const rep = await send(srv, b, chat.id, 'a reply', { replyToId: orig.id });
  const m = await cb.type('message', (p) => p.id === rep.id);
  assert.equal(m.payload.replyToId, orig.id);
  const plain = await send(srv, a, chat.id, 'plain');
  assert.equal((await cb.type('message', (p) => p.id === plain.id)).payload.replyToId, null);
  cb.close();
});
