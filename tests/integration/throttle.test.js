// Login throttling against real chatd + Postgres + Redis: failures slow the
// answers down, then lock the username (RATE_LIMITED with retryAfter, even
// for the right password) until the Redis window ends; per-address lock;
// success clears the username counter; wrong old passwords in changePassword
// count too; Redis down → logins still work.
// Counters are inspected and aged with redis-cli on the test Redis.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startChatd, gqlPost } from './lib/chatd.js';

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { id } } }';
const ADDR_KEY = 'chatd:login:fail:a:127.0.0.1';
const userKey = (name) => `chatd:login:fail:u:${name.toLowerCase()}`;

function redis(...args) {
  return execFileSync('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, ...args], { encoding: 'utf8' }).trim();
}

describe('login throttling', { skip: !process.env.CHATD_TEST_REDIS_PORT && 'needs scripts/testenv' }, () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ db: true, redis: true, fixtures: false });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  async function createUser(name) {
    const r = await gqlPost(chatd.url, {
      query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }',
      variables: { in: { username: name, email: `${name}@example.com`, password: 'password-123' } },
    });
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
    return r.body.data.createUser;
  }
  async function timedLogin(u, p) {
    const t0 = performance.now();
    const r = await gqlPost(chatd.url, { query: LOGIN, variables: { u, p } });
    return { r, ms: performance.now() - t0, code: r.body.errors && r.body.errors[0].extensions.code };
  }

  test('failures slow down, then lock the username; the right password is refused while locked', async () => {
    redis('DEL', ADDR_KEY);
    const name = `Thr_${sfx()}`;
    await createUser(name);
    const tries = [];
    for (let i = 0; i < 5; i++) tries.push(await timedLogin(name, 'wrong-password'));
    for (const t of tries) assert.equal(t.code, 'UNAUTHENTICATED');
    // no delay for the first two; 250, 500, 750 ms added for the next three
    const ms = tries.map((t) => Math.round(t.ms)).join(',');
    assert.ok(tries[2].ms >= 250, ms);
    assert.ok(tries[3].ms >= 500, ms);
    assert.ok(tries[4].ms >= 750, ms);
    assert.equal(redis('GET', userKey(name)), '5');
    const ttl = Number(redis('TTL', userKey(name)));
    assert.ok(ttl > 800 && ttl <= 900, `ttl ${ttl}`);
    assert.equal(redis('GET', ADDR_KEY), '5');

    const locked = await timedLogin(name, 'password-123');
    assert.equal(locked.code, 'RATE_LIMITED', JSON.stringify(locked.r.body));
    const e = locked.r.body.errors[0];
    assert.match(e.message, /Too many failed login attempts; try again in \d+ seconds/);
    assert.ok(e.extensions.retryAfter > 800 && e.extensions.retryAfter <= 900);
    assert.deepEqual(locked.r.body.data, { login: null });
    // refusals do not count as further failures
    assert.equal(redis('GET', userKey(name)), '5');

    // another name from the same address is not locked (5 < address threshold)
    const other = `thr2_${sfx()}`;
    await createUser(other);
    const ok2 = await timedLogin(other, 'password-123');
    assert.equal(ok2.code, undefined, JSON.stringify(ok2.r.body));

    // the window ends → the right password works and clears the counter
    redis('EXPIRE', userKey(name), '1');
    await new Promise((r) => setTimeout(r, 1500));
    const ok = await timedLogin(name, 'password-123');
    assert.equal(ok.code, undefined, JSON.stringify(ok.r.body));
    assert.equal(redis('EXISTS', userKey(name)), '0');
    redis('DEL', ADDR_KEY);
  });

  test('30 concurrent wrong passwords: at most 5 are checked, the rest RATE_LIMITED; then locked', async () => {
    redis('DEL', ADDR_KEY);
    const name = `thx_${sfx()}`;
    await createUser(name);
    const all = await Promise.all(Array.from({ length: 30 }, () => timedLogin(name, 'wrong-password')));
    const codes = all.map((t) => t.code);
    const checked = codes.filter((c) => c === 'UNAUTHENTICATED').length;
    const limited = codes.filter((c) => c === 'RATE_LIMITED').length;
    assert.equal(checked + limited, 30, codes.join(','));
    // each attempt reserves its slot atomically: exactly the limit is checked
    assert.equal(checked, 5, `${checked} passwords verified: ${codes.join(',')}`);
    assert.equal(redis('GET', userKey(name)), '5');
    // refusals are not counted, so the address counter saw only the checked ones
    assert.equal(redis('GET', ADDR_KEY), '5');
    const locked = await timedLogin(name, 'password-123');
    assert.equal(locked.code, 'RATE_LIMITED', JSON.stringify(locked.r.body));
    redis('DEL', ADDR_KEY, userKey(name));
  });

  test('a success clears the username counter, not the address counter', async () => {
    redis('DEL', ADDR_KEY);
    const name = `thc_${sfx()}`;
    await createUser(name);
    assert.equal((await timedLogin(name, 'wrong-password')).code, 'UNAUTHENTICATED');
    assert.equal(redis('GET', userKey(name)), '1');
    assert.equal((await timedLogin(name, 'password-123')).code, undefined);
    assert.equal(redis('EXISTS', userKey(name)), '0');
    assert.equal(redis('GET', ADDR_KEY), '1');
    // case variants of one account share its counter; NUL tricks are refused
    assert.equal((await timedLogin(name.toUpperCase(), 'wrong-password')).code, 'UNAUTHENTICATED');
    assert.equal(redis('GET', userKey(name)), '1');
    assert.equal((await timedLogin(`${name}\u0000x`, 'wrong-password')).code, 'BAD_USER_INPUT');
    redis('DEL', userKey(name));
    // unknown usernames count too (no account enumeration through the throttle)
    const ghost = `ghost_${sfx()}`;
    assert.equal((await timedLogin(ghost, 'wrong-password')).code, 'UNAUTHENTICATED');
    assert.equal(redis('GET', userKey(ghost)), '1');
    redis('DEL', ADDR_KEY);
  });

  test('per-address lock: at the limit every username from that address is refused', async () => {
    const name = `tha_${sfx()}`;
    await createUser(name);
    redis('SET', ADDR_KEY, '19', 'EX', '60');
    const slowed = await timedLogin(name, 'password-123');
    assert.equal(slowed.code, undefined, JSON.stringify(slowed.r.body));
    assert.ok(slowed.ms >= 2000 - 50, `delay at 19 address failures: ${slowed.ms}`);
    redis('SET', ADDR_KEY, '20', 'EX', '60');
    const r = await timedLogin(name, 'password-123');
    assert.equal(r.code, 'RATE_LIMITED');
    assert.ok(r.r.body.errors[0].extensions.retryAfter <= 60);
    redis('DEL', ADDR_KEY);
    assert.equal((await timedLogin(name, 'password-123')).code, undefined);
  });

  test('wrong old passwords in changePassword count like failed logins', async () => {
    redis('DEL', ADDR_KEY);
    const name = `thp_${sfx()}`;
    await createUser(name);
    const l = await timedLogin(name, 'password-123');
    const auth = { authorization: `Bearer ${l.r.body.data.login.token}` };
    const CP = 'mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) }';
    for (let i = 0; i < 5; i++) {
      const r = await gqlPost(chatd.url, { query: CP, variables: { o: `guess-${i}-xx`, n: 'new-password-1' } }, auth);
      assert.equal(r.body.errors[0].extensions.code, 'BAD_USER_INPUT', JSON.stringify(r.body));
    }
    assert.equal(redis('GET', userKey(name)), '5');
    const locked = await gqlPost(chatd.url, { query: CP, variables: { o: 'password-123', n: 'new-password-1' } }, auth);
    assert.equal(locked.body.errors[0].extensions.code, 'RATE_LIMITED');
    assert.equal((await timedLogin(name, 'password-123')).code, 'RATE_LIMITED');
    redis('DEL', userKey(name), ADDR_KEY);
    const ok = await gqlPost(chatd.url, { query: CP, variables: { o: 'password-123', n: 'new-password-1' } }, auth);
    assert.deepEqual(ok.body, { data: { changePassword: true } });
  });

  test('Redis down: logins are not throttled but still work', async () => {
    const name = `thd_${sfx()}`;
    await createUser(name);
    execFileSync(process.env.CHATD_TESTENV, ['redis-stop', process.env.CHATD_TEST_DIR]);
    try {
      const r = await timedLogin(name, 'password-123');
      assert.equal(r.code, undefined, JSON.stringify(r.r.body));
      const w = await timedLogin(name, 'wrong-password');
      assert.equal(w.code, 'UNAUTHENTICATED');
    } finally {
      execFileSync(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
    }
    assert.match(chatd.logs(), /not throttled/);
  });
});

describe('shutdown with sign-ins in flight', { skip: !process.env.CHATD_TEST_REDIS_PORT && 'needs scripts/testenv' }, () => {
  test('SIGTERM while argon2 and throttle sessions run: answers delivered, clean exit', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false });
    const name = `thq_${sfx()}`;
    const c = await gqlPost(chatd.url, {
      query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }',
      variables: { in: { username: name, email: `${name}@example.com`, password: 'password-123' } },
    });
    assert.equal(c.body.errors, undefined);
    redis('DEL', ADDR_KEY, userKey(name));
    const inflight = [
      gqlPost(chatd.url, { query: LOGIN, variables: { u: name, p: 'password-123' } }),
      gqlPost(chatd.url, { query: LOGIN, variables: { u: name, p: 'wrong-password' } }),
      gqlPost(chatd.url, {
        query: 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }',
        variables: { in: { username: `${name}b`, email: `${name}b@example.com`, password: 'password-123' } },
      }),
    ];
    await new Promise((r) => setTimeout(r, 30));
    chatd.proc.kill('SIGTERM');
    const [ok, bad, created] = await Promise.all(inflight);
    assert.ok(ok.body.data.login.token, JSON.stringify(ok.body));
    assert.equal(bad.body.errors[0].extensions.code, 'UNAUTHENTICATED');
    assert.ok(created.body.data.createUser.id, JSON.stringify(created.body));
    const r = await chatd.exited;
    assert.equal(r.code, 0, chatd.logs());
    redis('DEL', ADDR_KEY, userKey(name));
  });
});

describe('client address behind a proxy', { skip: !process.env.CHATD_TEST_REDIS_PORT && 'needs scripts/testenv' }, () => {
  const XFF_ADDR = '203.0.113.77';
  const xffKey = `chatd:login:fail:a:${XFF_ADDR}`;
  async function wrongLogin(url, name) {
    const r = await gqlPost(url, { query: LOGIN, variables: { u: name, p: 'wrong-password' } }, { 'x-forwarded-for': `6.6.6.6, ${XFF_ADDR}` });
    assert.equal(r.body.errors[0].extensions.code, 'UNAUTHENTICATED', JSON.stringify(r.body));
  }

  test('untrusted peer: X-Forwarded-For is ignored, the TCP peer is counted', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false });
    try {
      redis('DEL', ADDR_KEY, xffKey);
      const name = `ghost_${sfx()}`;
      await wrongLogin(chatd.url, name);
      assert.equal(redis('GET', ADDR_KEY), '1');
      assert.equal(redis('EXISTS', xffKey), '0');
      redis('DEL', ADDR_KEY, userKey(name));
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });

  test('trusted peer (CHATD_TRUSTED_PROXIES): the rightmost untrusted hop is counted', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: { CHATD_TRUSTED_PROXIES: '127.0.0.1,::1' } });
    try {
      redis('DEL', ADDR_KEY, xffKey);
      const name = `ghost_${sfx()}`;
      await wrongLogin(chatd.url, name);
      assert.equal(redis('GET', xffKey), '1');
      assert.equal(redis('EXISTS', ADDR_KEY), '0');
      // one address locked out does not lock out the proxy's other clients
      redis('SET', xffKey, '20', 'EX', '60');
      const blocked = await gqlPost(chatd.url, { query: LOGIN, variables: { u: name, p: 'wrong-password' } }, { 'x-forwarded-for': XFF_ADDR });
      assert.equal(blocked.body.errors[0].extensions.code, 'RATE_LIMITED');
      const other = await gqlPost(chatd.url, { query: LOGIN, variables: { u: name, p: 'wrong-password' } }, { 'x-forwarded-for': '198.51.100.4' });
      assert.equal(other.body.errors[0].extensions.code, 'UNAUTHENTICATED', JSON.stringify(other.body));
      redis('DEL', xffKey, userKey(name), 'chatd:login:fail:a:198.51.100.4');
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });
});
