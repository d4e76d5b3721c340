// Issue 15: redis-server restarted while writers in ANOTHER process keep
// sending (delivery.test.js restarts it with execSync, which pauses its own
// writers). The writers run as a separate Node process
// (lib/writer-proc.js) through both senders; Redis is stopped, kept down for
// a moment while they commit, then started again. Afterwards every
// subscriber's stream equals the chat_events log (the senders' sweepers
// publish what was committed while the broker was away; receivers
// re-subscribe and gap-fill), and so are the per-user streams
// (chatMessageNotification, unreadCountUpdated) some users follow — one of
// them reconnects (afterSeqs) while the broker is away. Redis is killed with SIGKILL (a graceful
// shutdown under this load takes seconds) and started on the same port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, sleep, sql } from './lib/receiver-env.js';
import { runChecker, WRITERS, PER_WRITER } from './lib/delivery-checker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const DOWN_MS = 1500;
// the writer process runs long enough to span the outage: more messages than
// the in-process checker, paced
const PER_EXT_WRITER = 2 * PER_WRITER;
const PACE_MS = 15;

let cl;
let child = null;
before(async () => {
  cl = await startCluster();
});
after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  // Redis must be up for the suites after this one whatever happened
  const up = await run('redis-cli', ['-p', process.env.CHATD_TEST_REDIS_PORT, 'ping']).then((r) => /PONG/.test(r.stdout), () => false);
  if (!up) await run(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});

test('redis restarted while another process keeps writing: streams equal the log', { timeout: 90000 }, async () => {
  assert.ok(process.env.CHATD_TESTENV && process.env.CHATD_TEST_DIR, 'run under scripts/testenv');
  let out = '';
  let exited;
  let duringOutage = -1;
  const errors = [];
  const { chats } = await runChecker(cl, async ({ progress, userFollowers }) => {
    while (progress() < (WRITERS * PER_EXT_WRITER) / 4) {
      assert.equal(child.exitCode, null, out.slice(-3000));
      await sleep(5);
    }
    // kill -9 (a graceful SHUTDOWN under this load takes seconds)
    const pidFile = path.join(process.env.CHATD_TEST_DIR, 'redis/redis.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    // gone once it no longer runs (a zombie waits for the reaper: don't wait for it)
    const running = () => {
      try {
        return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    while (running()) await sleep(5);
    rmSync(pidFile);
    const atStop = progress();
    // a client reconnects while the broker is away: resumes with afterSeqs
    await sleep(DOWN_MS / 3);
    await userFollowers[0].reattach(cl.receivers[1]);
    await sleep(DOWN_MS - DOWN_MS / 3);
    duringOutage = progress() - atStop;
    await run(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
  }, {
    userStreams: true, // per-user streams too (issue 14 item 5)
    writers: ({ users, chats: cs, onSent }) => {
      const cfg = {
        senders: cl.senders.map((s) => s.url),
        writers: users.slice(0, WRITERS).map((u) => ({ id: u.id, h: u.h })),
        chats: cs.map((c) => c.id),
        perWriter: PER_EXT_WRITER,
        paceMs: PACE_MS,
        retryMs: 20000,
      };
      child = spawn(process.execPath, [path.join(here, 'lib/writer-proc.js'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        out += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'sent') onSent();
          else if (line.startsWith('error ')) errors.push(line.slice(6));
        }
      });
      child.stderr.on('data', (d) => (out += d));
      exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      return exited.then((code) => assert.equal(code, 0, out.slice(-3000)));
    },
    settle: async ({ chats: cs }) => {
      const ids = cs.map((c) => `'${c.id}'`).join(',');
      const q = `SELECT count(*) FROM chat_outbox WHERE chat_id IN (${ids})`;
      const t0 = Date.now();
      while (sql(q) !== '0' && Date.now() - t0 < 30000) await sleep(200);
      await sleep(1500); // past a sweeper tick: a republish would arrive now
    },
  });
  // the writers were not blocked: they committed while the broker was down
  assert.ok(duringOutage > 0, `${duringOutage} messages committed while Redis was down; errors: ${errors.slice(0, 5)}`);
  const ids = chats.map((c) => `'${c.id}'`).join(',');
  assert.equal(sql(`SELECT count(*) FROM chat_outbox WHERE chat_id IN (${ids})`), '0');
});
