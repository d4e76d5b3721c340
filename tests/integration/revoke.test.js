// Revoking access tokens everywhere (users.token_version, JWT "ver"): logout
// without a refresh token (everywhere), changePassword and removeUser refuse
// every token issued before them on every process — through the Redis
// control channel at once, from the database after a restart or without
// Redis — and close that user's open WebSockets on every process (4401 for
// revoked tokens, 4403 for a removed account).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, gqlPost, initedWs } from './lib/chatd.js';

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const code = (r) => r.body.errors && r.body.errors[0].extensions && r.body.errors[0].extensions.code;
const ME = '{ me { id } }';
const PROXY = { CHATD_TRUSTED_PROXIES: '127.0.0.1,::1' };
const addr = () => ({ 'x-forwarded-for': `198.19.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` });

async function signUp(p, name) {
  const r = await gqlPost(p.url, { query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }', variables: { in: { username: name, email: `${name}@example.com`, password: 'password-123' } } }, addr());
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data.createUser;
}
async function login(p, name, pw = 'password-123') {
  const r = await gqlPost(p.url, { query: 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token refreshToken } }', variables: { u: name, p: pw } }, addr());
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data.login;
}
const me = (p, tok) => gqlPost(p.url, { query: ME }, bearer(tok));
async function waitControl(p) {
  for (let i = 0; i < 50 && !/redis up/.test(p.logs()); i++) await sleep(100);
  await sleep(200);
}

describe('revoked tokens, two processes', { skip: !process.env.CHATD_TEST_REDIS_PORT && 'needs scripts/testenv' }, () => {
  test('logout everywhere: old tokens refused on the other process, its sockets closed 4401; a new login works', async () => {
    const p1 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    const p2 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    try {
      const name = `lo_${sfx()}`;
      const other = `loo_${sfx()}`;
      await signUp(p1, name);
      await signUp(p1, other);
      const l = await login(p1, name);
      const l2 = await login(p1, name); // a second device
      const lo = await login(p1, other);
      assert.equal(code(await me(p2, l.token)), undefined);
      await waitControl(p2);
      const ws = await initedWs(p2.wsUrl, { authToken: l2.token });
      const wsOther = await initedWs(p2.wsUrl, { authToken: lo.token });
      const out = await gqlPost(p1.url, { query: 'mutation { logout }' }, bearer(l.token));
      assert.deepEqual(out.body, { data: { logout: true } });
      const closed = await ws.closedWith();
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /session revoked/);
      for (const t of [l.token, l2.token]) {
        assert.equal(code(await me(p1, t)), 'UNAUTHENTICATED');
        assert.equal(code(await me(p2, t)), 'UNAUTHENTICATED');
      }
      // refresh tokens are revoked too
      const rt = await gqlPost(p2.url, { query: 'mutation($t: String!) { refreshToken(refreshToken: $t) { token } }', variables: { t: l2.refreshToken } });
      assert.equal(code(rt), 'UNAUTHENTICATED');
      // a new sign-in gets a token of the new version, accepted everywhere
      const fresh = await login(p2, name);
      assert.equal(code(await me(p1, fresh.token)), undefined, 'new token on p1');
      assert.equal(code(await me(p2, fresh.token)), undefined, 'new token on p2');
      const ws2 = await initedWs(p2.wsUrl, { authToken: fresh.token });
      // other users are untouched
      await sleep(200);
      assert.equal(wsOther.ws.readyState, 1);
      assert.equal(code(await me(p2, lo.token)), undefined);
      ws2.close();
      wsOther.close();
    } finally {
      assert.equal((await p1.stop()).code, 0, p1.logs());
      assert.equal((await p2.stop()).code, 0, p2.logs());
    }
  });

  test('changePassword: old tokens refused everywhere, sockets closed 4401; logout(refreshToken) ends one device only', async () => {
    const p1 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    const p2 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    try {
      const name = `cp_${sfx()}`;
      await signUp(p1, name);
      const a = await login(p1, name);
      const b = await login(p1, name);
      await waitControl(p2);
      // one device signs out: its refresh token ends, the other device's socket stays
      const wsB = await initedWs(p2.wsUrl, { authToken: b.token });
      const one = await gqlPost(p1.url, { query: 'mutation($t: String) { logout(refreshToken: $t) }', variables: { t: a.refreshToken } }, bearer(a.token));
      assert.deepEqual(one.body, { data: { logout: true } });
      await sleep(300);
      assert.equal(wsB.ws.readyState, 1);
      assert.equal(code(await me(p2, b.token)), undefined);
      // password change: every token and socket of the account ends
      const cp = await gqlPost(p1.url, { query: 'mutation { changePassword(oldPassword: "password-123", newPassword: "new-password-9") }' }, bearer(b.token));
      assert.deepEqual(cp.body, { data: { changePassword: true } });
      assert.equal((await wsB.closedWith()).code, 4401);
      assert.equal(code(await me(p2, b.token)), 'UNAUTHENTICATED');
      assert.equal(code(await me(p1, a.token)), 'UNAUTHENTICATED');
      const n = await login(p2, name, 'new-password-9');
      assert.equal(code(await me(p1, n.token)), undefined);
    } finally {
      assert.equal((await p1.stop()).code, 0, p1.logs());
      assert.equal((await p2.stop()).code, 0, p2.logs());
    }
  });

  test('a revocation survives a restart and reaches a process without Redis (database refresh)', async () => {
    const p1 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    const solo = await startChatd({ db: true, fixtures: false, env: PROXY }); // no Redis: no control channel
    let p3 = null;
    try {
      const name = `rs_${sfx()}`;
      const gone = `rm_${sfx()}`;
      await signUp(p1, name);
      const g = await signUp(p1, gone);
      const l = await login(p1, name);
      const lg = await login(p1, gone);
      assert.equal(code(await me(solo, l.token)), undefined);
      assert.equal(code(await gqlPost(p1.url, { query: 'mutation { logout }' }, bearer(l.token))), undefined);
      const rm = await gqlPost(p1.url, { query: 'mutation($id: ID!) { removeUser(id: $id) { id } }', variables: { id: g.id } }, bearer(lg.token));
      assert.equal(rm.body.errors, undefined, JSON.stringify(rm.body));
      // the process without Redis learns it from the database within its refresh period
      let refused = false;
      for (let i = 0; i < 80 && !refused; i++) {
        refused = code(await me(solo, l.token)) === 'UNAUTHENTICATED' && code(await me(solo, lg.token)) === 'UNAUTHENTICATED';
        if (!refused) await sleep(125);
      }
      assert.ok(refused, 'revocations not seen by the process without Redis within 10 s');
      // a process started afterwards refuses them from the start (loaded from the database)
      await p1.stop();
      p3 = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
      for (let i = 0; i < 50 && !/revoked-token set loaded/.test(p3.logs()); i++) await sleep(100);
      assert.match(p3.logs(), /revoked-token set loaded/);
      assert.equal(code(await me(p3, l.token)), 'UNAUTHENTICATED');
      assert.equal(code(await me(p3, lg.token)), 'UNAUTHENTICATED');
      const ws = await initedWs(p3.wsUrl, { authToken: l.token });
      const sub = new Promise((resolve) => {
        ws.ws.on('message', (d) => {
          const m = JSON.parse(d.toString());
          if (m.id === 's1') resolve(m);
        });
      });
      ws.send({ id: 's1', type: 'subscribe', payload: { query: 'subscription($u: String!) { chatAdded(userId: $u) { id } }', variables: { u: g.id } } });
      const first = await sub; // the subscription is refused like an anonymous one
      assert.match(JSON.stringify(first), /"code":"UNAUTHENTICATED"/);
      ws.close();
    } finally {
      if (p3) assert.equal((await p3.stop()).code, 0, p3.logs());
      assert.equal((await solo.stop()).code, 0, solo.logs());
    }
  });
});
