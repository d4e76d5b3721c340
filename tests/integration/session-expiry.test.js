// Token lifetime on WebSockets (docs/api.md "Token lifetime"): a
// graphql-transport-ws connection, or a seed-003 /ws session, is closed 4403
// "Token expired" when the access token it authenticated with expires,
// unless the client refreshes the token in-band: a graphql-transport-ws
// `ping` with payload {"token": "<access token>"} (answered by a `pong`
// {"tokenExpiresAt"}), or on /ws a second `auth` {"token"} (answered by
// `authRefreshed`). A token of another user closes the socket 4403.
// Real clients: graphql-ws's createClient and the `ws` package.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { startChatd, signToken, initedWs } from './lib/chatd.js';
import { makeUsers, sleep } from './lib/receiver-env.js';

const ME = '{ me { id } }';

describe('token lifetime on sockets', { skip: !process.env.CHATD_TEST_DATABASE_URL && 'needs scripts/testenv' }, () => {
  let srv;
  before(async () => {
    srv = await startChatd({ db: true, redis: true });
  });
  after(async () => {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.logs().slice(-3000));
  });

  /** A graphql-ws client that records its sockets, closes and pongs. */
  function client(token) {
    const st = { sockets: [], closes: [], pongs: [] };
    st.client = createClient({
      url: srv.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authToken: token },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => {},
      on: {
        connected: (socket) => st.sockets.push(socket),
        closed: (ev) => st.closes.push({ code: ev.code, reason: ev.reason, at: Date.now() }),
        pong: (received, payload) => st.pongs.push(payload),
      },
    });
    st.query = (query) =>
      new Promise((resolve, reject) => {
        const out = [];
        st.client.subscribe({ query }, { next: (v) => out.push(v), error: reject, complete: () => resolve(out) });
      });
    st.waitClose = async (ms) => {
      for (let t = 0; t < ms && st.closes.length === 0; t += 50) await sleep(50);
      return st.closes[0];
    };
    return st;
  }

  test('graphql-ws: a token valid 2 s answers { me } at once, then the socket closes 4403 after its expiry', async () => {
    const [a] = makeUsers(1);
    const t0 = Date.now();
    const c = client(signToken({ sub: a.id, ttl: 2 }));
    const r = await c.query(ME);
    assert.deepEqual(r, [{ data: { me: { id: a.id } } }]);
    const closed = await c.waitClose(10000);
    assert.ok(closed, 'closed after the token expired');
    assert.deepEqual([closed.code, closed.reason], [4403, 'Token expired']);
    // exp is whole seconds: 1..2 s of lifetime, plus scheduling slack
    const after = closed.at - t0;
    assert.ok(after >= 900 && after < 8000, `closed after ${after} ms`);
    assert.equal(c.sockets.length, 1);
    await c.client.dispose();
  });

  test('graphql-ws: refreshed in-band with a ping {token} it stays open and { me } keeps working', async () => {
    const [a] = makeUsers(1);
    const c = client(signToken({ sub: a.id, ttl: 2 }));
    assert.deepEqual(await c.query(ME), [{ data: { me: { id: a.id } } }]);
    const fresh = signToken({ sub: a.id, ttl: 3600 });
    c.sockets[0].send(JSON.stringify({ type: 'ping', payload: { token: fresh } }));
    for (let i = 0; i < 100 && c.pongs.length === 0; i++) await sleep(20);
    assert.equal(c.pongs.length, 1);
    const exp = JSON.parse(Buffer.from(fresh.split('.')[1], 'base64url')).exp;
    assert.deepEqual(c.pongs[0], { tokenExpiresAt: exp });
    await sleep(3500); // past the first token's expiry
    assert.deepEqual(c.closes, []);
    assert.deepEqual(await c.query(ME), [{ data: { me: { id: a.id } } }]);
    assert.equal(c.sockets.length, 1, 'the same socket throughout');
    assert.deepEqual(c.closes, []);
    await c.client.dispose();
  });

  test("graphql-ws: a refresh with another user's token closes 4403", async () => {
    const [a, b] = makeUsers(2);
    const c = client(signToken({ sub: a.id, ttl: 3600 }));
    assert.deepEqual(await c.query(ME), [{ data: { me: { id: a.id } } }]);
    c.sockets[0].send(JSON.stringify({ type: 'ping', payload: { token: signToken({ sub: b.id, ttl: 3600 }) } }));
    const closed = await c.waitClose(5000);
    assert.ok(closed, 'closed');
    assert.deepEqual([closed.code, closed.reason], [4403, 'Forbidden: token of another user']);
    assert.deepEqual(c.pongs, []);
    await c.client.dispose();
  });

  test('raw: an invalid refresh token closes 4403; a ping without a token is still echoed; a refresh before the ack closes 4401', async () => {
    const [a] = makeUsers(1);
    const c = await initedWs(srv.wsUrl, { authToken: signToken({ sub: a.id }) });
    c.send({ type: 'ping', payload: { hello: 1 } });
    assert.deepEqual(await c.next((m) => m.type === 'pong'), { type: 'pong', payload: { hello: 1 } });
    c.send({ type: 'ping', payload: { token: signToken({ sub: a.id, secret: 'another-secret-0123456789' }) } });
    assert.deepEqual(await c.closedWith(), { code: 4403, reason: 'Forbidden' });

    const d = await initedWs(srv.wsUrl, { authToken: signToken({ sub: a.id }) });
    d.send({ type: 'ping', payload: { token: signToken({ sub: a.id, ttl: -60 }) } }); // expired beyond the leeway
    assert.deepEqual(await d.closedWith(), { code: 4403, reason: 'Forbidden' });

    const { rawWs } = await import('./lib/chatd.js');
    const e = rawWs(srv.wsUrl);
    await e.opened;
    e.send({ type: 'ping', payload: { token: signToken({ sub: a.id }) } });
    assert.deepEqual(await e.closedWith(), { code: 4401, reason: 'Unauthorized' });
  });

  /** A seed-003 /ws client. */
  function compat(token) {
    const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${token}`);
    const events = [];
    let closed = null;
    ws.on('message', (d) => events.push(JSON.parse(d.toString())));
    ws.on('close', (code, reason) => (closed = { code, reason: reason.toString(), at: Date.now() }));
    ws.on('error', () => {});
    const c = {
      ws,
      events,
      get closed() {
        return closed;
      },
      send: (type, payload) => ws.send(JSON.stringify({ type, payload })),
      async type(t, ms = 5000) {
        for (let i = 0; i < ms / 20; i++) {
          const m = events.find((e) => e.type === t);
          if (m) return m;
          await sleep(20);
        }
        throw new Error(`no ${t}: ${JSON.stringify(events)}`);
      },
      async waitClose(ms) {
        for (let t = 0; t < ms && !closed; t += 50) await sleep(50);
        return closed;
      },
    };
    return c;
  }

  test('/ws: the session closes 4403 when its token expires; auth {token} refreshes it; another user closes 4403', async () => {
    const [a, b] = makeUsers(2);
    const t0 = Date.now();
    const x = compat(signToken({ sub: a.id, ttl: 2 }));
    assert.equal((await x.type('connected')).payload.userId, a.id);
    const closed = await x.waitClose(10000);
    assert.ok(closed, '/ws session closed after the token expired');
    assert.deepEqual([closed.code, closed.reason], [4403, 'Token expired']);
    assert.ok(closed.at - t0 >= 900, `closed after ${closed.at - t0} ms`);

    const y = compat(signToken({ sub: a.id, ttl: 2 }));
    await y.type('connected');
    const fresh = signToken({ sub: a.id, ttl: 3600 });
    y.send('auth', { token: fresh });
    const ref = await y.type('authRefreshed');
    assert.deepEqual(ref.payload, { userId: a.id, expiresAt: JSON.parse(Buffer.from(fresh.split('.')[1], 'base64url')).exp });
    await sleep(3500);
    assert.equal(y.closed, null);
    // still a working session: an unknown room is answered, not closed
    y.send('leaveRoom', { roomId: '00000000-0000-0000-0000-000000000000' });
    assert.equal((await y.type('error')).payload.code, 'NOT_JOINED');

    y.send('auth', { token: signToken({ sub: b.id }) });
    const cl = await y.waitClose(5000);
    assert.deepEqual([cl.code, cl.reason], [4403, 'Forbidden']);
  });
});
