// Logs for a log store (CHATD_LOG_FORMAT): with stderr a pipe and no
// setting, chatd writes one JSON object per line with time, level, role,
// instance, module and msg; one access line per HTTP request and per
// WebSocket session (graphql-transport-ws and the seed-003 /ws); the
// client's X-Request-Id (or a generated one) is echoed and carried by every
// line of the operation, also across the database, broker and password
// hashing steps; no token, password or query string is ever logged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startChatd, gqlPost, rawWs } from './lib/chatd.js';

const PASSWORD = 'Log-test-Pa55word!';
const WRONG = 'Wrong-pa55word-xyz!';
let chatd;
const secrets = [PASSWORD, WRONG];

before(async () => {
  chatd = await startChatd({
    role: 'all',
    db: true,
    redis: true,
    env: { CHATD_LOG_FORMAT: undefined, CHATD_INSTANCE_ID: undefined },
  });
});

after(async () => {
  if (!chatd) return;
  const r = await chatd.stop();
  assert.equal(r.code, 0, chatd.logs().slice(-4000));
});

/** Every stderr line parsed (a line that is not JSON fails the test). */
function lines() {
  return chatd
    .logs()
    .split('\n')
    .filter((l) => l.length)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`not a JSON line: ${l}`);
      }
    });
}

async function waitLine(pred, what, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const l = lines().find(pred);
    if (l) return l;
    if (Date.now() - t0 > ms) assert.fail(`no log line ${what}:\n${chatd.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const post = (query, variables, headers = {}) =>
  gqlPost(chatd.url, { query, variables }, headers);

test('every line is one JSON object with the process identity', async () => {
  const all = lines();
  assert.ok(all.length > 0);
  for (const l of all) {
    for (const k of ['time', 'level', 'role', 'instance', 'module', 'msg'])
      assert.equal(typeof l[k], 'string', `${k} in ${JSON.stringify(l)}`);
    assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level));
    assert.equal(l.role, 'all');
  }
  const listening = all.find((l) => /listening on/.test(l.msg));
  assert.ok(listening);
  assert.equal(listening.instance, `all-${chatd.port}`);
});

test('HTTP: access line, request id echoed and carried through the login', async () => {
  const username = `logs_${Date.now()}`;
  let r = await post(
    'mutation($i: CreateUserInput!) { createUser(createUserInput: $i) { id } }',
    { i: { username, email: `${username}@example.com`, password: PASSWORD } },
    { 'x-request-id': 'create-1' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get('x-request-id'), 'create-1');
  const uid = r.body.data.createUser.id;

  r = await post(
    'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token refreshToken } }',
    { u: username, p: PASSWORD },
    { 'x-request-id': 'login-ok-1' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { token, refreshToken } = r.body.data.login;
  secrets.push(token, refreshToken);

  // a wrong password: the "failed login" line comes from the password
  // check's callback (after Redis and Postgres), with the request's id
  r = await post(
    'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
    { u: username, p: WRONG },
    { 'x-request-id': 'login-bad-1' },
  );
  assert.equal(r.body.errors[0].extensions.code, 'UNAUTHENTICATED');
  const failed = await waitLine((l) => /failed login/.test(l.msg), 'failed login');
  assert.equal(failed.request_id, 'login-bad-1');
  assert.equal(failed.module, 'users');

  // an authenticated query: the access line names the user
  r = await post('{ me { id } }', undefined, {
    authorization: `Bearer ${token}`,
    'x-request-id': 'me-1',
  });
  assert.equal(r.body.data.me.id, uid);
  const me = await waitLine((l) => l.msg === 'http request' && l.request_id === 'me-1', 'me-1');
  assert.equal(me.level, 'info');
  assert.equal(me.module, 'http');
  assert.equal(me.method, 'POST');
  assert.equal(me.path, '/graphql');
  assert.equal(me.status, 200);
  assert.equal(typeof me.bytes, 'number');
  assert.ok(me.bytes > 0);
  assert.equal(typeof me.duration_ms, 'number');
  assert.ok(me.duration_ms >= 0);
  assert.equal(me.user_id, uid);
  assert.equal(me.client_ip, '127.0.0.1');

  for (const id of ['create-1', 'login-ok-1', 'login-bad-1'])
    await waitLine((l) => l.msg === 'http request' && l.request_id === id, id);
});

test('request ids: generated when absent, replaced when unsafe or too long', async () => {
  const seen = new Set();
  for (const sent of [undefined, 'has space', 'a"b', 'x'.repeat(65), 'ü']) {
    const h = sent === undefined ? {} : { 'x-request-id': sent };
    const r = await post('{ health { status } }', undefined, h);
    assert.equal(r.status, 200);
    const id = r.headers.get('x-request-id');
    assert.match(id, /^[A-Za-z0-9._:-]{1,64}$/);
    assert.notEqual(id, sent);
    assert.ok(!seen.has(id), 'ids differ');
    seen.add(id);
    await waitLine((l) => l.msg === 'http request' && l.request_id === id, id);
  }
  // the longest id accepted as sent
  const max = 'k'.repeat(64);
  const r = await post('{ health { status } }', undefined, { 'x-request-id': max });
  assert.equal(r.headers.get('x-request-id'), max);
  // other answers carry it too: 404, a probe
  let res = await fetch(`${chatd.base}/nowhere`, { headers: { 'x-request-id': 'nf-1' } });
  assert.equal(res.status, 404);
  assert.equal(res.headers.get('x-request-id'), 'nf-1');
  const nf = await waitLine((l) => l.request_id === 'nf-1', 'nf-1');
  assert.equal(nf.status, 404);
  res = await fetch(`${chatd.base}/healthz`, { headers: { 'x-request-id': 'hz-1' } });
  assert.equal(res.headers.get('x-request-id'), 'hz-1');
  // a CORS client may read it
  res = await fetch(`${chatd.base}/healthz`, { headers: { origin: 'http://localhost:3000' } });
  assert.match(res.headers.get('access-control-expose-headers') || '', /X-Request-Id/i);
});

test('a GET query string (which may hold anything) is never logged', async () => {
  const q = encodeURIComponent('{ health { status } }');
  const res = await fetch(`${chatd.url}?query=${q}&extensions=SECRET-IN-QUERY`, {
    headers: { 'x-request-id': 'get-1' },
  });
  assert.equal(res.status, 200);
  const l = await waitLine((x) => x.request_id === 'get-1', 'get-1');
  assert.equal(l.path, '/graphql');
  assert.ok(!chatd.logs().includes('SECRET-IN-QUERY'));
});

test('WebSocket sessions: one access line at close, messages log with its id', async () => {
  const token = secrets[2];
  // refused init: its line carries the upgrade's request id
  let c = rawWs(chatd.wsUrl, { headers: { 'x-request-id': 'ws-bad-1' } });
  await c.opened;
  c.send({ type: 'connection_init', payload: { authToken: 'not.a.token' } });
  assert.equal((await c.closedWith()).code, 4403);
  const refused = await waitLine((l) => /connection_init refused/.test(l.msg), 'refused');
  assert.equal(refused.request_id, 'ws-bad-1');
  const bad = await waitLine((l) => l.msg === 'websocket session' && l.request_id === 'ws-bad-1', 'ws-bad-1');
  assert.equal(bad.close_code, 4403);
  assert.equal(bad.user_id, undefined);

  c = rawWs(chatd.wsUrl, { headers: { 'x-request-id': 'ws-ok-1' } });
  await c.opened;
  c.send({ type: 'connection_init', payload: { authToken: token } });
  await c.next((m) => m.type === 'connection_ack');
  c.send({ id: '1', type: 'subscribe', payload: { query: '{ me { id } }' } });
  const n = await c.next((m) => m.type === 'next');
  const uid = n.payload.data.me.id;
  await c.next((m) => m.type === 'complete');
  c.ws.close(1000);
  await c.closedWith();
  const s = await waitLine((l) => l.msg === 'websocket session' && l.request_id === 'ws-ok-1', 'ws-ok-1');
  assert.equal(s.module, 'ws');
  assert.equal(s.level, 'info');
  assert.equal(s.path, '/graphql');
  assert.equal(s.status, 101);
  assert.equal(s.user_id, uid);
  assert.equal(s.close_code, 1000);
  assert.equal(s.messages_in, 2);
  assert.equal(s.messages_out, 3);
  assert.ok(s.bytes_in > 0 && s.bytes_out > 0);
  assert.ok(s.duration_ms >= 0);

  // the seed-003 /ws takes its token in the query string: never logged
  const ws = new WebSocket(`${chatd.base.replace('http', 'ws')}/ws?token=${token}`, {
    headers: { 'x-request-id': 'compat-1' },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.close();
  const cs = await waitLine((l) => l.msg === 'websocket session' && l.request_id === 'compat-1', 'compat-1');
  assert.equal(cs.path, '/ws');
  assert.equal(cs.user_id, uid);
});

test('no token or password anywhere in the log', async () => {
  await chatd.stop();
  const text = chatd.logs();
  assert.equal(secrets.length, 4);
  for (const s of secrets) assert.ok(!text.includes(s), `secret ${s.slice(0, 12)}… logged`);
  assert.ok(!/bearer/i.test(text));
  // and it still all parses after the shutdown lines
  lines();
});
