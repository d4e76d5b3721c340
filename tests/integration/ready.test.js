// Readiness and dependency metrics against the real Postgres and Redis of
// scripts/testenv (skipped when CHATD_TEST_DATABASE_URL / _REDIS_URL are not
// set): /readyz is 200 with both up, 503 naming redis while it is stopped,
// 200 again after it is back; migrations run at start.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startChatd, gqlPost } from './lib/chatd.js';

const haveEnv = !!(process.env.CHATD_TEST_DATABASE_URL && process.env.CHATD_TEST_REDIS_URL && process.env.CHATD_TESTENV);

async function waitFor(fn, ms = 8000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('readiness with Postgres and Redis', { skip: !haveEnv && 'needs scripts/testenv' }, () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ db: true, redis: true });
  });
  after(async () => {
    try {
      execFileSync(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
    } catch {}
    if (chatd) assert.equal((await chatd.stop()).code, 0, chatd.logs());
  });

  test('ready when both are up; 503 naming redis while it is down', async () => {
    const ready = await waitFor(async () => (await fetch(`${chatd.base}/readyz`)).status === 200);
    assert.ok(ready, 'readyz never became 200');
    const m = await (await fetch(`${chatd.base}/metrics`)).text();
    assert.match(m, /chatd_pg_up 1/);
    assert.match(m, /chatd_redis_up 1/);
    assert.match(m, /chatd_pg_pool_connections\{state="configured"\} \d+/);

    execFileSync(process.env.CHATD_TESTENV, ['redis-stop', process.env.CHATD_TEST_DIR]);
    const down = await waitFor(async () => {
      const r = await fetch(`${chatd.base}/readyz`);
      return r.status === 503 ? await r.text() : null;
    });
    assert.match(down || '', /redis/);
    assert.doesNotMatch(down || '', /postgres/);
    const h = await gqlPost(chatd.url, { query: '{ health { status } }' });
    assert.equal(h.body.data.health.status, 'degraded');

    execFileSync(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
    const back = await waitFor(async () => (await fetch(`${chatd.base}/readyz`)).status === 200);
    assert.ok(back, 'readyz did not recover after redis came back');
  });
});
