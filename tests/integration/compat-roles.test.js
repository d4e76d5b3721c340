// The seed-003 API on split roles (docs/api.md): login on the user
// role, REST reads and /ws on the receiver, REST writes on the sender; a
// route on another role answers 421 WRONG_SERVICE. /ws write events run the
// sender's mutations in the receiver process, and a message sent over /ws on
// one receiver reaches a /ws client and a GraphQL client on another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import { startChatd } from './lib/chatd.js';
import { sfx, makeUsers, gql, ok, createChat, wsClient, record, sleep } from './lib/receiver-env.js';

let user, sender, r1, r2;
before(async () => {
  const o = { db: true, redis: true };
  user = await startChatd({ ...o, role: 'user' });
  sender = await startChatd({ ...o, role: 'sender' });
  r1 = await startChatd({ ...o, role: 'receiver' });
  r2 = await startChatd({ ...o, role: 'receiver' });
});
after(async () => {
  for (const p of [user, sender, r1, r2]) assert.equal((await p.stop()).code, 0, p.logs().slice(-2000));
});

// node:http, not fetch: Node 18's fetch (undici 5) re-sends a POST answered
// 421 on a new connection with its already-consumed body stream and fails
// (RequestContentLengthMismatchError) instead of returning the 421.
const rest = (srv, method, path, token, body) => new Promise((resolve, reject) => {
  const data = body ? JSON.stringify(body) : null;
  const req = http.request(`${srv.base}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
    },
  }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (text += d));
    res.on('end', () => {
      try {
        resolve({ status: res.statusCode, body: JSON.parse(text) });
      } catch (e) {
        reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
      }
    });
  });
  req.on('error', reject);
  req.end(data || undefined);
});

function compatWs(srv, token) {
  const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${token}`);
  const events = [];
  const waiters = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    events.push(m);
    for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
  });
  return {
    ws,
    send: (type, payload) => ws.send(JSON.stringify({ type, payload })),
    type(t, pred = () => true, ms = 5000) {
      const f = events.find((m) => m.type === t && pred(m.payload));
      if (f) { events.splice(events.indexOf(f), 1); return Promise.resolve(f); }
      return new Promise((resolve, reject) => {
        const w = { pred: (m) => m.type === t && pred(m.payload), resolve: (m) => { clearTimeout(tm); events.splice(events.indexOf(m), 1); resolve(m); } };
        const tm = setTimeout(() => reject(new Error(`timeout for ${t}: ${JSON.stringify(events).slice(0, 1000)}`)), ms);
        waiters.push(w);
      });
    },
  };
}

test('routes live on their roles; others answer 421 WRONG_SERVICE', async () => {
  const [a, b] = makeUsers(2);
  const chat = await createChat(sender, a, [b], 'roles');
  const name = `c3r${sfx()}`;
  ok(await gql(user, 'mutation($i:CreateUserInput!){createUser(createUserInput:$i){id}}', { i: { username: name, email: `${name}@example.com`, password: 'password123' } }), 'createUser');
  assert.equal((await rest(user, 'POST', '/auth/login', null, { username: name, password: 'password123' })).status, 200);
  const wrong = await rest(r1, 'POST', '/auth/login', null, { username: name, password: 'password123' });
  assert.equal(wrong.status, 421);
  assert.deepEqual([wrong.body.error.code, wrong.body.error.service], ['WRONG_SERVICE', 'user']);
  assert.equal((await rest(r1, 'GET', '/chat/rooms', a.token)).status, 200);
  assert.equal((await rest(sender, 'GET', '/chat/rooms', a.token)).body.error.service, 'receiver');
  assert.equal((await rest(sender, 'POST', `/chat/rooms/${chat.id}/read`, b.token, { sequenceId: 0 })).status, 200);
  assert.equal((await rest(r1, 'POST', `/chat/rooms/${chat.id}/read`, b.token, { sequenceId: 0 })).body.error.service, 'sender');
  const d = await rest(sender, 'POST', '/chat/direct', a.token, { targetUserId: b.id });
  assert.equal(d.status, 200, JSON.stringify(d.body));
  assert.equal(d.body.room.type, 'DIRECT');
  const up = await new Promise((resolve) => {
    const ws = new WebSocket(`${sender.base.replace('http', 'ws')}/ws?token=${a.token}`);
    ws.on('unexpected-response', (_q, res) => resolve(res.statusCode));
    ws.on('open', () => resolve(101));
    ws.on('error', () => {});
  });
  assert.equal(up, 421);
});

test('/ws on two receivers + GraphQL: sendMessage through a receiver reaches both APIs in seq order', async () => {
  const [a, b, g] = makeUsers(3);
  const chat = await createChat(sender, a, [b, g], 'roles-live');
  const ca = compatWs(r1, a.token);
  const cb = compatWs(r2, b.token);
  await ca.type('connected');
  await cb.type('connected');
  ca.send('joinRoom', { roomId: chat.id });
  cb.send('joinRoom', { roomId: chat.id });
  await ca.type('roomJoined');
  await cb.type('roomJoined');
  const client = wsClient(r2, g);
  const gq = record(client, 'subscription($c:ID!){messageAdded(chatId:$c){seq content}}', { c: chat.id }, 'messageAdded');
  await sleep(300);
  for (let i = 0; i < 10; i++) ca.send('sendMessage', { roomId: chat.id, content: `r${i}` });
  const got = [];
  for (let i = 0; i < 10; i++) got.push((await cb.type('message')).payload);
  assert.deepEqual(got.map((m) => m.content), Array.from({ length: 10 }, (_, i) => `r${i}`));
  await gq.waitFor(10);
  assert.deepEqual(gq.events.map((e) => [e.seq, e.content]), got.map((m) => [m.sequenceId, m.content]));
  cb.send('markRead', { roomId: chat.id, sequenceId: got[9].sequenceId });
  await ca.type('read', (p) => p.userId === b.id);
  assert.equal((await rest(r1, 'GET', `/chat/rooms/${chat.id}/unread`, b.token)).body.unreadCount, 0);
  assert.equal((await rest(r1, 'GET', `/chat/rooms/${chat.id}/unread`, g.token)).body.unreadCount, 10);
  gq.stop();
  await client.dispose();
  ca.ws.close();
  cb.ws.close();
});
