// Limits on the unauthenticated argon2id paths (createUser, login) against a
// real chatd + Postgres + Redis: duplicates are refused before any hash, at
// most USER_PW_OPS_PER_REQUEST (5) password operations per request, sign-ups
// per client address (CHATD_SIGNUP_LIMIT), and the bounded argon2id queue
// (CHATD_PW_QUEUE_MAX: SERVICE_BUSY with retryAfter). Each server sees its
// clients through X-Forwarded-For (CHATD_TRUSTED_PROXIES=loopback) so every
// test counts against an address of its own.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { startChatd, gqlPost } from './lib/chatd.js';

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const code = (e) => e && e.extensions && e.extensions.code;
const PROXY = { CHATD_TRUSTED_PROXIES: '127.0.0.1,::1' };
let nextAddr = 1;
const freshAddr = () => ({ 'x-forwarded-for': `198.18.${Math.floor(Math.random() * 200)}.${nextAddr++}` });

const CREATE = 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }';
const input = (name) => ({ username: name, email: `${name}@example.com`, password: 'password-123' });

// One document with n aliased createUser fields of the given names.
function createMany(names) {
  const fields = names.map((n, i) => `c${i}: createUser(createUserInput: { username: "${n}", email: "${n}@example.com", password: "password-123" }) { id }`);
  return `mutation { ${fields.join(' ')} }`;
}

describe('argon2id work limits', { skip: !process.env.CHATD_TEST_REDIS_PORT && 'needs scripts/testenv' }, () => {
  test('a duplicate username or email is refused before hashing', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    try {
      const h = freshAddr();
      const name = `dup_${sfx()}`;
      const first = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(name) } }, h);
      assert.equal(first.body.errors, undefined, JSON.stringify(first.body));
      // 5 duplicates in one document (the per-request maximum) vs 5 fresh sign-ups:
      // a duplicate costs a query, a fresh sign-up an argon2id hash
      const time = async (names) => {
        const t0 = performance.now();
        const r = await gqlPost(chatd.url, { query: createMany(names) }, freshAddr());
        return { ms: performance.now() - t0, r };
      };
      let dupMs = Infinity, freshMs = Infinity;
      for (let k = 0; k < 3; k++) {
        const d = await time(Array.from({ length: 5 }, (_, i) => (i % 2 ? name.toUpperCase() : name)));
        assert.equal(d.r.body.errors.length, 5, JSON.stringify(d.r.body));
        for (const e of d.r.body.errors) assert.equal(e.message, 'Username already exists');
        dupMs = Math.min(dupMs, d.ms);
        const f = await time(Array.from({ length: 5 }, () => `fr_${sfx()}`));
        assert.equal(f.r.body.errors, undefined, JSON.stringify(f.r.body));
        freshMs = Math.min(freshMs, f.ms);
      }
      assert.ok(dupMs < freshMs / 2, `5 duplicates took ${dupMs} ms, 5 sign-ups ${freshMs} ms`);
      const email = await gqlPost(chatd.url, { query: CREATE, variables: { in: { ...input(`e_${sfx()}`), email: `${name.toUpperCase()}@example.com` } } }, h);
      assert.equal(email.body.errors[0].message, 'Email already exists');
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });

  test('at most 5 password operations per request: the 6th alias is RATE_LIMITED', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: PROXY });
    try {
      const five = await gqlPost(chatd.url, { query: createMany(Array.from({ length: 5 }, () => `pb_${sfx()}`)) }, freshAddr());
      assert.equal(five.body.errors, undefined, JSON.stringify(five.body));
      const names = Array.from({ length: 8 }, () => `pb_${sfx()}`);
      const six = await gqlPost(chatd.url, { query: createMany(names) }, freshAddr());
      const d = six.body.data;
      for (let i = 0; i < 5; i++) assert.ok(d[`c${i}`] && d[`c${i}`].id, JSON.stringify(six.body));
      for (let i = 5; i < 8; i++) assert.equal(d[`c${i}`], null);
      assert.equal(six.body.errors.length, 3);
      for (const e of six.body.errors) {
        assert.equal(code(e), 'RATE_LIMITED');
        assert.match(e.message, /Too many password operations in one request/);
      }
      // logins share the budget: 6 aliases → 5 checked, 1 refused
      const logins = Array.from({ length: 6 }, (_, i) => `l${i}: login(username: "ghost_${sfx()}", password: "wrong-password") { token }`);
      const lr = await gqlPost(chatd.url, { query: `mutation { ${logins.join(' ')} }` }, freshAddr());
      const codes = lr.body.errors.map(code);
      assert.deepEqual(codes, ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });

  test('sign-ups per address (CHATD_SIGNUP_LIMIT=3): the 4th is RATE_LIMITED, other addresses are not', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: { ...PROXY, CHATD_SIGNUP_LIMIT: '3' } });
    try {
      const h = freshAddr();
      for (let i = 0; i < 3; i++) {
        const r = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(`su_${sfx()}`) } }, h);
        assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
      }
      const r = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(`su_${sfx()}`) } }, h);
      assert.equal(code(r.body.errors[0]), 'RATE_LIMITED', JSON.stringify(r.body));
      assert.match(r.body.errors[0].message, /Too many sign-ups from your address; try again in \d+ seconds/);
      const ra = r.body.errors[0].extensions.retryAfter;
      assert.ok(ra > 0 && ra <= 600, `retryAfter ${ra}`);
      const other = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(`su_${sfx()}`) } }, freshAddr());
      assert.equal(other.body.errors, undefined, JSON.stringify(other.body));
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });

  test('argon2id queue full (CHATD_PW_QUEUE_MAX=1): SERVICE_BUSY with retryAfter, then work again', async () => {
    const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: { ...PROXY, CHATD_PW_QUEUE_MAX: '1' } });
    try {
      const all = await Promise.all(Array.from({ length: 8 }, () => gqlPost(chatd.url, { query: CREATE, variables: { in: input(`qb_${sfx()}`) } }, freshAddr())));
      const ok = all.filter((r) => !r.body.errors).length;
      const busy = all.filter((r) => r.body.errors && code(r.body.errors[0]) === 'SERVICE_BUSY');
      assert.equal(ok + busy.length, 8, JSON.stringify(all.map((r) => r.body)));
      assert.ok(ok >= 1 && busy.length >= 1, `ok ${ok}, busy ${busy.length}`);
      for (const b of busy) {
        assert.equal(b.body.errors[0].extensions.retryAfter, 1);
        assert.match(b.body.errors[0].message, /Server busy, try again/);
      }
      // the queue drained: a sign-up goes through again
      const again = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(`qb_${sfx()}`) } }, freshAddr());
      assert.equal(again.body.errors, undefined, JSON.stringify(again.body));
      assert.match(chatd.logs(), /argon2id queue full/);
    } finally {
      assert.equal((await chatd.stop()).code, 0);
    }
  });
  // libuv's pool (4 threads by default) holds the argon2id runs, thumbnails
  // and bucket requests: chatd sizes it to their bounds + 2 for file I/O
  // unless UV_THREADPOOL_SIZE is set (src/main.c size_thread_pool). The pool
  // starts all its threads at its first job (here a sign-up's hash).
  test('the thread pool is sized to the argon2id and files workers unless UV_THREADPOOL_SIZE is set', async () => {
    const threads = (pid) => readdirSync(`/proc/${pid}/task`).length;
    const run = async (env) => {
      const chatd = await startChatd({ db: true, redis: true, fixtures: false, env: { ...PROXY, ...env } });
      try {
        const before = threads(chatd.proc.pid);
        const r = await gqlPost(chatd.url, { query: CREATE, variables: { in: input(`tp_${sfx()}`) } }, freshAddr());
        assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
        return { added: threads(chatd.proc.pid) - before, logs: chatd.logs() };
      } finally {
        assert.equal((await chatd.stop()).code, 0);
      }
    };
    // 6 argon2id runs + 2 thumbnail workers + 2 for I/O = 10 pool threads
    const sized = await run({ CHATD_PW_THREADS: '6' });
    assert.match(sized.logs, /thread pool: 10 threads \(argon2id 6, files 2, I\/O 2\)/);
    assert.ok(sized.added >= 10, `pool threads started: ${sized.added}`);
    // the operator's setting wins (and is logged)
    const fixed = await run({ CHATD_PW_THREADS: '6', UV_THREADPOOL_SIZE: '3' });
    assert.match(fixed.logs, /thread pool: UV_THREADPOOL_SIZE=3 \(bounded workers \+ I\/O want 10\)/);
    assert.ok(fixed.added >= 3 && fixed.added < 10, `pool threads started: ${fixed.added}`);
  });
});
