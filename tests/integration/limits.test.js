// Rate limits and connection caps (docs/operations.md "Limits"), each at
// its edge with the setting lowered: createMessage and the other sender
// mutations per user (token buckets in Redis shared by two sender
// instances; a local bucket when Redis is down) answered RATE_LIMITED with
// extensions.retryAfter; open connections per process and per peer address
// (503 + Retry-After, the connection closed; a WebSocket upgrade refused
// with 503); open WebSockets per user (close 1013, graphql-transport-ws and
// /ws).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { startChatd, signToken, rawWs } from './lib/chatd.js';
import { makeUsers, createChat, gql, code, sql, sleep, CREATE_MSG } from './lib/receiver-env.js';

const needsEnv = !process.env.CHATD_TEST_DATABASE_URL && 'needs scripts/testenv';
const TYPING = 'mutation($c: ID!) { setTyping(chatId: $c, isTyping: true) }';

async function sendMsg(srv, u, chatId, content) {
  return gql(srv, CREATE_MSG, { in: { chatId, senderId: u.id, content } }, u.h);
}

describe('write limits per user', { skip: needsEnv, timeout: 60000 }, () => {
  let s1, s2, setup;
  const env = {
    CHATD_RATE_MESSAGES: '1',
    CHATD_RATE_MESSAGES_BURST: '5',
    CHATD_RATE_MUTATIONS: '1',
    CHATD_RATE_MUTATIONS_BURST: '3',
  };
  before(async () => {
    s1 = await startChatd({ role: 'sender', db: true, redis: true, env });
    s2 = await startChatd({ role: 'sender', db: true, redis: true, env });
    // chats are made on an instance without the low limits (createChat is a mutation)
    setup = await startChatd({ role: 'sender', db: true, redis: true });
  });
  after(async () => {
    for (const p of [s1, s2, setup]) assert.equal((await p.stop()).code, 0, p.logs().slice(-2000));
  });

  test('createMessage: the burst is accepted across two instances, one more is RATE_LIMITED with retryAfter; nothing stored for it', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(setup, a, [b]);
    for (let i = 0; i < 5; i++) {
      const r = await sendMsg(i % 2 ? s2 : s1, a, chat.id, `m${i}`);
      assert.equal(r.errors, undefined, `send ${i}: ${JSON.stringify(r)}`);
    }
    const over = await sendMsg(s2, a, chat.id, 'one too many');
    assert.equal(code(over), 'RATE_LIMITED', JSON.stringify(over));
    assert.equal(over.errors[0].extensions.retryAfter, 1);
    assert.match(over.errors[0].message, /^Too many messages; try again in 1 second$/);
    assert.deepEqual(over.data, { createMessage: null });
    assert.equal(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}'`), '5');
    // another user has a bucket of their own
    assert.equal((await sendMsg(s1, b, chat.id, 'b')).errors, undefined);
    // the bucket refills at 1/s: after retryAfter one more goes through
    await sleep(1100);
    const again = await sendMsg(s1, a, chat.id, 'later');
    assert.equal(again.errors, undefined, JSON.stringify(again));
    assert.equal(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}'`), '7');
  });

  test('other mutations have their own bucket: 3 accepted, the 4th RATE_LIMITED; createMessage unaffected', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(setup, a, [b]);
    for (let i = 0; i < 3; i++) {
      const r = await gql(i % 2 ? s2 : s1, TYPING, { c: chat.id }, a.h);
      assert.equal(r.errors, undefined, `typing ${i}: ${JSON.stringify(r)}`);
    }
    const over = await gql(s1, TYPING, { c: chat.id }, a.h);
    assert.equal(code(over), 'RATE_LIMITED', JSON.stringify(over));
    assert.equal(over.errors[0].extensions.retryAfter, 1);
    assert.match(over.errors[0].message, /^Too many changes; try again in 1 second$/);
    assert.equal((await sendMsg(s2, a, chat.id, 'still fine')).errors, undefined);
  });

  test('Redis down: the local bucket of the instance holds the same limit', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(setup, a, [b]);
    const lone = await startChatd({
      role: 'sender',
      db: true,
      env: { ...env, REDIS_URL: 'redis://127.0.0.1:1' }, // nothing listens there
    });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await sendMsg(lone, a, chat.id, `d${i}`);
        assert.equal(r.errors, undefined, `send ${i}: ${JSON.stringify(r)}`);
      }
      const over = await sendMsg(lone, a, chat.id, 'over');
      assert.equal(code(over), 'RATE_LIMITED', JSON.stringify(over));
      assert.equal(over.errors[0].extensions.retryAfter, 1);
    } finally {
      assert.equal((await lone.stop()).code, 0, lone.logs().slice(-2000));
    }
  });
});

/** A raw keep-alive HTTP connection that sent GET /healthz: { status, head, sock, closed }. */
function rawGet(port, localAddress) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    let buf = '';
    const st = { sock, closed: false };
    sock.on('close', () => {
      st.closed = true;
      if (st.status === undefined) reject(new Error(`closed without a response: ${JSON.stringify(buf)}`));
    });
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && st.status === undefined) {
        st.head = buf.slice(0, end);
        st.status = Number(/^HTTP\/1\.1 (\d+)/.exec(buf)[1]);
        resolve(st);
      }
    });
    sock.on('connect', () => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
  });
}

async function waitClosed(st, ms = 3000) {
  for (let t = 0; t < ms && !st.closed; t += 20) await sleep(20);
  return st.closed;
}

describe('connection caps', { timeout: 60000 }, () => {
  test('per process: at the cap served, one more gets 503 with Retry-After and is closed; a freed slot is reused', async () => {
    const srv = await startChatd({ env: { CHATD_MAX_CONNS: '4' } });
    try {
      const open = [];
      for (let i = 0; i < 4; i++) open.push(await rawGet(srv.port));
      assert.deepEqual(open.map((c) => c.status), [200, 200, 200, 200]);
      const over = await rawGet(srv.port);
      assert.equal(over.status, 503);
      assert.match(over.head, /\r\nRetry-After: 1(\r\n|$)/);
      assert.match(over.head, /\r\nConnection: close(\r\n|$)/i);
      assert.ok(await waitClosed(over), 'the refused connection is closed');
      open[0].sock.destroy();
      await sleep(200);
      const again = await rawGet(srv.port);
      assert.equal(again.status, 200);
      for (const c of [...open, again]) c.sock.destroy();
    } finally {
      assert.equal((await srv.stop()).code, 0, srv.logs());
    }
  });

  test('per address: at the cap served, one more from that address 503 (also a WebSocket upgrade), another address served', async () => {
    const srv = await startChatd({ env: { CHATD_MAX_CONNS_PER_ADDR: '3' } });
    try {
      const open = [];
      for (let i = 0; i < 3; i++) open.push(await rawGet(srv.port, '127.0.0.1'));
      assert.deepEqual(open.map((c) => c.status), [200, 200, 200]);
      const over = await rawGet(srv.port, '127.0.0.1');
      assert.equal(over.status, 503);
      assert.match(over.head, /\r\nRetry-After: 1(\r\n|$)/);
      assert.ok(await waitClosed(over));
      const ws = rawWs(srv.wsUrl, { options: { localAddress: '127.0.0.1' } });
      await assert.rejects(ws.opened, /upgrade refused: 503/);
      const other = await rawGet(srv.port, '127.0.0.2');
      assert.equal(other.status, 200);
      for (const c of [...open, other]) c.sock.destroy();
    } finally {
      assert.equal((await srv.stop()).code, 0, srv.logs());
    }
  });

  test('WebSockets per user: at the cap acked, one more closed 1013; other users unaffected; a closed one frees its slot', async () => {
    const srv = await startChatd({ env: { CHATD_MAX_WS_PER_USER: '2' } });
    try {
      const tok = signToken({ sub: 'cap-user-a' });
      const init = async (t) => {
        const c = rawWs(srv.wsUrl);
        await c.opened;
        c.send({ type: 'connection_init', payload: { authToken: t } });
        return c;
      };
      const a1 = await init(tok);
      await a1.next((m) => m.type === 'connection_ack');
      const a2 = await init(tok);
      await a2.next((m) => m.type === 'connection_ack');
      const a3 = await init(tok);
      assert.deepEqual(await a3.closedWith(), { code: 1013, reason: 'Too many connections for this user' });
      const b = await init(signToken({ sub: 'cap-user-b' }));
      await b.next((m) => m.type === 'connection_ack');
      a1.close();
      await a1.closedWith();
      await sleep(100);
      const a4 = await init(tok);
      await a4.next((m) => m.type === 'connection_ack');
      for (const c of [a2, b, a4]) c.close();
    } finally {
      assert.equal((await srv.stop()).code, 0, srv.logs());
    }
  });

  test('WebSockets per user count seed-003 /ws sessions too (close 1013)', { skip: needsEnv }, async () => {
    const srv = await startChatd({ db: true, redis: true, env: { CHATD_MAX_WS_PER_USER: '1' } });
    try {
      const [a] = makeUsers(1);
      const g = rawWs(srv.wsUrl);
      await g.opened;
      g.send({ type: 'connection_init', payload: { authToken: a.token } });
      await g.next((m) => m.type === 'connection_ack');
      const w = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${a.token}`);
      w.on('error', () => {});
      const closed = await Promise.race([
        new Promise((r) => w.on('close', (c, reason) => r({ code: c, reason: reason.toString() }))),
        sleep(5000).then(() => 'still open after 5 s'),
      ]);
      w.terminate();
      assert.deepEqual(closed, { code: 1013, reason: 'Too many connections for this user' });
      g.close();
      await g.closedWith();
      await sleep(100);
      const w2 = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${a.token}`);
      const first = await new Promise((resolve, reject) => {
        w2.once('message', (d) => resolve(JSON.parse(d.toString())));
        w2.once('error', reject);
      });
      assert.equal(first.type, 'connected');
      w2.close();
    } finally {
      assert.equal((await srv.stop()).code, 0, srv.logs().slice(-2000));
    }
  });
});

