// Issue 15's CPU and memory findings as bounded tests: each pathological
// request is sent to ONE process (default settings) while a second client, in
// a worker thread with its own event loop and keep-alive connection, polls
// `/healthz` on the same process. Each request must be refused early or finish
// under its budget, and /healthz must keep answering within HEALTH_MS.
//
// The binary: timing is what is tested, so the Release build
// (build/release/chatd, CHATD_STALL_BIN overrides; `make integration` builds
// it). The ASan debug build is several times slower — one 20,000-token
// document costs its loop a few hundred ms — so when only that one exists the
// suite runs it with the loose bounds below and says so.
//
// The bound: the issue asks for 50 ms, measured on loopback from a second
// client. On the shared 2-core test machine any poll can lose the CPU to
// another process for tens of ms, so: the median of the polls must be within
// HEALTH_MS (50 ms), nine in ten too, and every poll within HEALTH_MAX_MS (500 ms; the issue's
// stall was 1.8 s). Each attack repeats for at least MIN_ATTACK_MS so that the
// median has polls to stand on. The share of polls over 50 ms is logged, not
// asserted: with the machine's load average above 20 (other suites and
// benchmarks on 2 cores) it reached 20-25% in the 20,000-token cases while the
// median stayed under 20 ms, so a bound on it (or on the 90th percentile)
// failed by scheduling alone. With the debug build: every poll within 1 s and
// no median bound. The assertion message lists the slowest polls.
//
// Already covered elsewhere (not repeated here): the QUERY_TOO_COSTLY answer
// and its setting (cost.test.js), RESPONSE_TOO_LARGE at a lowered budget
// (cost.test.js), password operations per request and the argon2id queue at
// lowered settings (auth-limits.test.js).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startChatd, signToken, gqlPost, repoRoot } from './lib/chatd.js';

const needsEnv = !process.env.CHATD_TEST_DATABASE_URL && 'needs scripts/testenv';
const HEALTH_MS = 50;
const RELEASE = process.env.CHATD_STALL_BIN || path.join(repoRoot, 'build/release/chatd');
const STRICT = existsSync(RELEASE);
const HEALTH_MAX_MS = STRICT ? 500 : 1000;
const MIN_ATTACK_MS = 1500; // each attack repeats at least this long: enough polls for a median

// The poller: GET /healthz in a loop (5 ms apart) on one keep-alive
// connection; posts the latencies (ms; Infinity for a non-200) when told to stop.
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false;
const samples = [];
parentPort.on('message', () => { stop = true; });
const once = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent }, (r) => {
    r.resume();
    r.on('end', () => resolve(r.statusCode === 200 ? Number(process.hrtime.bigint() - t0) / 1e6 : Infinity));
  });
  req.on('error', () => resolve(Infinity));
});
(async () => {
  while (!stop) {
    samples.push(await once());
    await new Promise((r) => setTimeout(r, 5));
  }
  agent.destroy();
  parentPort.postMessage(samples);
})();
`;

let uniq = 0; // operation names never seen before: no document-cache hit

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Runs attack() while polling /healthz; asserts the poll bounds; returns attack's value. */
async function whilePolled(srv, attack) {
  const w = new Worker(POLLER, { eval: true, workerData: { port: srv.port } });
  const samples = new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await new Promise((r) => setTimeout(r, 50)); // the poller's connection is open
  let out;
  try {
    const t0 = performance.now();
    do out = await attack();
    while (performance.now() - t0 < MIN_ATTACK_MS);
  } finally {
    w.postMessage('stop');
  }
  const xs = await samples;
  await w.terminate();
  const slowest = [...xs].sort((a, b) => b - a).slice(0, 5).map((x) => x.toFixed(1));
  const info = `${xs.length} polls, median ${quantile(xs, 0.5).toFixed(1)} ms, p90 ${quantile(xs, 0.9).toFixed(1)} ms, slowest ${slowest.join(', ')} ms`;
  assert.ok(xs.length >= 1, `no /healthz poll: ${info}`);
  assert.ok(Math.max(...xs) < HEALTH_MAX_MS, `a /healthz poll took ${HEALTH_MAX_MS} ms or more: ${info}`);
  if (STRICT) {
    assert.ok(quantile(xs, 0.5) < HEALTH_MS, `median /healthz over ${HEALTH_MS} ms: ${info}`);
    // nine polls in ten within the 50 ms (on a machine running only
    // the test suite the slowest poll of any attack stayed near 20 ms)
    assert.ok(quantile(xs, 0.9) < HEALTH_MS, `90th percentile of /healthz over ${HEALTH_MS} ms: ${info}`);
  }
  const slow = xs.filter((x) => x >= HEALTH_MS).length;
  console.log(`# /healthz: ${info}; ${slow} of ${xs.length} polls at ${HEALTH_MS} ms or more`);
  return out;
}

async function timed(p) {
  const t0 = performance.now();
  const r = await p;
  return { r, ms: performance.now() - t0 };
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const errCode = (r) => r.body?.errors?.[0]?.extensions?.code;

describe('pathological requests do not stall the process', { skip: needsEnv, timeout: 300000 }, () => {
  let srv;
  let auth;
  before(async () => {
    if (!STRICT) console.log(`# ${RELEASE} missing: the debug build with loose bounds (run make release)`);
    srv = await startChatd({
      bin: STRICT ? RELEASE : undefined,
      role: 'all',
      db: true,
      redis: true,
      // sign-ups per address are another limit (auth-limits.test.js); here the
      // same address signs up more often than its default allows
      env: {
        CHATD_SIGNUP_LIMIT: '0',
        // a small ASan quarantine, so RSS follows what the process keeps
        ASAN_OPTIONS: 'detect_leaks=1:quarantine_size_mb=16',
      },
    });
    auth = { authorization: `Bearer ${signToken({ sub: 'u-stall', username: 'staller' })}` };
  });
  after(async () => {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.logs().slice(-3000));
    // the argon2id flood's failed logins locked the loopback address out for
    // the failure window; the suites after this one share the Redis and sign
    // in from that address
    const port = process.env.CHATD_TEST_REDIS_PORT;
    const keys = execFileSync('redis-cli', ['-p', port, '--scan', '--pattern', 'chatd:login:fail:a:*'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    if (keys.length) execFileSync('redis-cli', ['-p', port, 'DEL', ...keys]);
  });

  test('19,990 repeated fields (the overlap check), ten operation names (no cache hit): each under 1 s', async () => {
    const fields = '__typename '.repeat(19990);
    await whilePolled(srv, async () => {
      for (let i = 0; i < 10; i++) {
        const { r, ms } = await timed(gqlPost(srv.url, { query: `query Rep${i}_${uniq++} { ${fields}}` }, auth));
        assert.equal(r.status === 200 || r.status === 400, true, `status ${r.status}`);
        assert.ok(ms < 1000, `repeated fields took ${ms.toFixed(0)} ms`);
      }
    });
  });

  test('the same with an unknown field (the issue\'s `query { a a a … }`), unauthenticated: under 1 s', async () => {
    const fields = 'a '.repeat(19990);
    await whilePolled(srv, async () => {
      for (let i = 0; i < 3; i++) {
        const { r, ms } = await timed(gqlPost(srv.url, { query: `query A${i}_${uniq++} { ${fields}}` }));
        assert.ok(r.body.errors?.length >= 1, JSON.stringify(r.body).slice(0, 300));
        assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
      }
    });
  });

  test('deep nesting (6,000 levels): refused, under 1 s', async () => {
    const n = 6000;
    const q = `query Deep { ${'health { '.repeat(n)}status${' }'.repeat(n)} }`;
    await whilePolled(srv, async () => {
      const { r, ms } = await timed(gqlPost(srv.url, { query: q }, auth));
      assert.ok(r.body.errors?.length >= 1 && !r.body.data, JSON.stringify(r.body).slice(0, 300));
      assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    });
  });

  test('many aliases of a costly list field (20 × messages(limit: 1000)), 20 in parallel: QUERY_TOO_COSTLY, under 2 s', async () => {
    const chat = '00000000-0000-4000-8000-000000000001';
    const q = `query Heavy { ${Array.from({ length: 20 }, (_, i) => `m${i}: messages(chatId: "${chat}", limit: 1000) { content metadata }`).join(' ')} }`;
    await whilePolled(srv, async () => {
      const { r, ms } = await timed(Promise.all(Array.from({ length: 20 }, () => gqlPost(srv.url, { query: q }, auth))));
      for (const x of r) assert.equal(errCode(x), 'QUERY_TOO_COSTLY');
      assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
    });
  });

  test('a huge response (200 aliases × 200 KB, 40 MB) past the 32 MiB budget: RESPONSE_TOO_LARGE, under 5 s, RSS bounded', async () => {
    const q = `query Big($t: String!) { ${Array.from({ length: 200 }, (_, i) => `e${i}: echo(text: $t)`).join(' ')} }`;
    const before = rssKb(srv.proc.pid);
    await whilePolled(srv, async () => {
      const { r, ms } = await timed(gqlPost(srv.url, { query: q, variables: { t: 'x'.repeat(200000) } }, auth));
      assert.equal(errCode(r), 'RESPONSE_TOO_LARGE', JSON.stringify(r.body).slice(0, 300));
      assert.equal(r.body.data, null);
      assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
    });
    const grown = (rssKb(srv.proc.pid) - before) / 1024;
    assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MB`);
  });

  test('200 createUser aliases: at most 5 hashed, the rest RATE_LIMITED, under 20 s', async () => {
    const flood = (tag) => `mutation Flood { ${Array.from({ length: 200 }, (_, i) => `u${i}: createUser(createUserInput: { username: "fl${tag}${i}", email: "fl${tag}${i}@example.com", password: "password-${i}-long" }) { id }`).join(' ')} }`;
    await whilePolled(srv, async () => {
      const q = flood(Date.now().toString(36) + Math.random().toString(36).slice(2, 6));
      const { r, ms } = await timed(gqlPost(srv.url, { query: q }));
      const errs = r.body.errors ?? [];
      const created = Object.values(r.body.data ?? {}).filter(Boolean).length;
      assert.ok(created <= 5, `${created} accounts created`);
      const limited = errs.filter((e) => e.extensions?.code === 'RATE_LIMITED').length;
      // errors are capped at 100 (then TOO_MANY_ERRORS)
      assert.ok(limited >= 99, `${limited} RATE_LIMITED of ${errs.length} errors: ${JSON.stringify(errs.filter((e) => e.extensions?.code !== 'RATE_LIMITED').slice(0, 3))}`);
      assert.ok(ms < 20000, `took ${ms.toFixed(0)} ms`);
    });
  });

  test('argon2id flood: 12 parallel requests × 5 logins with wrong passwords; answers are errors, /healthz unaffected', async () => {
    const q = `mutation L { ${Array.from({ length: 5 }, (_, i) => `l${i}: login(username: "nobody-${i}", password: "wrong-password-${i}") { token }`).join(' ')} }`;
    await whilePolled(srv, async () => {
      const { r, ms } = await timed(Promise.all(Array.from({ length: 12 }, () => gqlPost(srv.url, { query: q }))));
      for (const x of r) {
        for (const e of x.body.errors ?? []) {
          assert.ok(['UNAUTHENTICATED', 'RATE_LIMITED', 'SERVICE_BUSY'].includes(e.extensions?.code), JSON.stringify(e));
        }
        assert.ok(!Object.values(x.body.data ?? {}).some(Boolean), 'a wrong password signed in');
      }
      assert.ok(ms < 60000, `took ${ms.toFixed(0)} ms`);
    });
  });

  test('document-cache-busting stream (400 distinct 21 KB documents, half invalid): RSS growth bounded by the cache budget', async () => {
    const body = '__typename '.repeat(1900); // under GQL_MAX_FIELDS (2000)
    const before = rssKb(srv.proc.pid);
    await whilePolled(srv, async () => {
      const t0 = performance.now();
      const lanes = Array.from({ length: 4 }, async (_, lane) => {
        for (let i = lane; i < 400; i += 4) {
          const q = i % 2 ? `query Bust${i} { ${body}}` : `query Bust${i} { ${body} nope${i} }`;
          const r = await gqlPost(srv.url, { query: q }, auth);
          assert.equal(r.body.errors ? i % 2 === 0 : i % 2 === 1, true, JSON.stringify(r.body).slice(0, 200));
        }
      });
      await Promise.all(lanes);
      assert.ok(performance.now() - t0 < 120000);
    });
    // GQL_CACHE_MAX_BYTES is 64 MiB; the rest is slack for allocator and ASan
    const grown = (rssKb(srv.proc.pid) - before) / 1024;
    assert.ok(grown < 160, `RSS grew ${grown.toFixed(0)} MB`);
  });
});
