// Issue 15: Postgres restarted under load inside the delivery checker. While
// writers send through both senders and followers stream every chat from
// both receivers, the server is stopped (pg_ctl -m fast: open sessions and
// transactions are cut), kept down for a few seconds and started again on the
// same port. While it is down the senders answer SERVICE_UNAVAILABLE (and
// nothing else); afterwards they commit again, the writers' retries
// (idempotent by clientId) go through, followers re-attached right after the
// restart replay from afterSeq, and every stream equals the chat_events log —
// the per-user streams some users follow too (one of them re-attached with
// afterSeqs right after the restart).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startCluster, sleep, sql, code } from './lib/receiver-env.js';
import { runChecker, WRITERS, PER_WRITER } from './lib/delivery-checker.js';

const run = promisify(execFile);
const DOWN_MS = 3000;

// pg_ctl as scripts/testenv runs it (as the postgres OS user when root)
function pgCtl(...args) {
  const bin = path.join(process.env.CHATD_TEST_PG_BIN, 'pg_ctl');
  const data = path.join(process.env.CHATD_TEST_DIR, 'pgdata');
  const argv = [bin, '-D', data, ...args];
  return process.getuid() === 0 ? run('runuser', ['-u', 'postgres', '--', ...argv]) : run(argv[0], argv.slice(1));
}
const pgStart = () => pgCtl('-l', path.join(process.env.CHATD_TEST_DIR, 'pgdata/server.log'), '-w', '-t', '60', '-o',
  `-p ${process.env.CHATD_TEST_PG_PORT} -k ${path.join(process.env.CHATD_TEST_DIR, 'sock')} -c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c max_connections=200`,
  'start');
const pgUp = () => pgCtl('status').then(() => true, () => false);

let cl;
before(async () => {
  cl = await startCluster();
});
after(async () => {
  // Postgres must be up for the suites after this one whatever happened
  if (!(await pgUp())) await pgStart();
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});

test('postgres restarted under load: UNAVAILABLE while down, then recovery; streams equal the log', { timeout: 90000 }, async () => {
  assert.ok(process.env.CHATD_TEST_PG_BIN && process.env.CHATD_TEST_DIR && process.env.CHATD_TEST_PG_PORT, 'run under scripts/testenv');
  const codes = new Map();
  let stoppedAt = 0;
  let restartedAt = 0;
  let sentWhileDown = -1;
  await runChecker(cl, async ({ followers, userFollowers, progress }) => {
    while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(5);
    await pgCtl('-m', 'fast', '-w', '-t', '30', 'stop');
    await sleep(500); // answers to commits made just before the stop are in
    stoppedAt = progress();
    await sleep(DOWN_MS - 500);
    sentWhileDown = progress() - stoppedAt;
    await pgStart();
    restartedAt = progress();
    // replay right after the restart: every other follower re-attaches
    // (alternating receivers), resuming with afterSeq
    const n = followers.length;
    for (let k = 0; k < n; k += 2) {
      const f = followers[k];
      f.rec.stop();
      await f.client.dispose();
      f.attach(cl.receivers[(k / 2) % 2]);
    }
    // and so does one user following the per-user streams (afterSeqs)
    await userFollowers[0].reattach(cl.receivers[1]);
  }, {
    userStreams: true, // per-user streams too (issue 14 item 5)
    retryMs: 30000,
    markBestEffort: true,
    onError: (b) => {
      const c = code(b) || b.errors[0].message;
      codes.set(c, (codes.get(c) || 0) + 1);
    },
  });
  assert.ok(stoppedAt > 0 && restartedAt < WRITERS * PER_WRITER, `stopped at ${stoppedAt}, restarted at ${restartedAt}`);
  assert.equal(sentWhileDown, 0, 'nothing commits while Postgres is down');
  assert.ok((codes.get('SERVICE_UNAVAILABLE') || 0) > 0, `errors: ${JSON.stringify([...codes])}`);
  assert.deepEqual([...codes.keys()], ['SERVICE_UNAVAILABLE'], `every failed write is SERVICE_UNAVAILABLE: ${JSON.stringify([...codes])}`);
  assert.equal(sql('SELECT 1'), '1');
});
