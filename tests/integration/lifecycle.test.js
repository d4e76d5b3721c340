// Process lifecycle: start-up refusals with clear messages (no JWT secret in
// token mode, trust mode on a public bind, busy port, bad flags), --help, and
// the SIGTERM drain (WebSockets closed with 1001, in-flight requests
// finished, exit status 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, runChatdExpectExit, gqlPost, initedWs, signToken, JWT_SECRET } from './lib/chatd.js';

test('token mode without a secret refuses to start', async () => {
  const r = await runChatdExpectExit(['--port', '0'], { CHATD_AUTH: 'token' });
  assert.equal(r.code, 1);
  assert.match(r.output, /CHATD_JWT_SECRET/);
});

test('trust mode on a non-loopback bind is refused unless forced', async () => {
  const r = await runChatdExpectExit(['--port', '0', '--bind', '0.0.0.0'], { CHATD_AUTH: 'trust' });
  assert.equal(r.code, 1);
  assert.match(r.output, /CHATD_AUTH_FORCE/);
});

test('a busy port is a clear error and exit 1', async () => {
  const first = await startChatd();
  try {
    const r = await runChatdExpectExit(['--port', String(first.port)], { CHATD_JWT_SECRET: JWT_SECRET });
    assert.equal(r.code, 1);
    assert.match(r.output, /in use/i);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
});

test('bad flags and --help', async () => {
  const bad = await runChatdExpectExit(['--role', 'boss'], { CHATD_JWT_SECRET: JWT_SECRET });
  assert.equal(bad.code, 1);
  assert.match(bad.output, /unknown role/);
  const help = await runChatdExpectExit(['--help'], {});
  assert.equal(help.code, 0);
  for (const s of ['--role', 'CHATD_AUTH', 'DATABASE_URL', 'REDIS_URL', 'CHATD_CORS_ORIGINS', 'CHATD_MAX_SUBSCRIPTIONS'])
    assert.ok(help.output.includes(s), `--help lacks ${s}`);
});

test('SIGTERM drains: WebSockets get 1001, in-flight requests finish, exit 0', async () => {
  const chatd = await startChatd();
  const auth = { authorization: `Bearer ${signToken({ sub: 'u' })}` };
  const ws = await initedWs(chatd.wsUrl, { authToken: signToken({ sub: 'u' }) });
  ws.send({ id: 's', type: 'subscribe', payload: { query: 'subscription { countdown(from: 100000) }' } });
  await ws.next((m) => m.id === 's');
  const slow = gqlPost(chatd.url, { query: '{ slow(ms: 400) }' }, auth);
  await new Promise((r) => setTimeout(r, 100));
  chatd.proc.kill('SIGTERM');
  const closed = await ws.closedWith(5000);
  assert.equal(closed.code, 1001);
  const res = await slow;
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { data: { slow: 'slept 400 ms' } });
  const exit = await chatd.exited;
  assert.equal(exit.code, 0, chatd.logs());
  assert.match(chatd.logs(), /draining/);
});
