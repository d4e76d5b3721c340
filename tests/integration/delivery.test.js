// Delivery checker (issue 7): several clients send concurrently into shared
// chats through two sender processes while others subscribe to every chat's
// event stream (chatEvents) on two receiver processes. At the end, every
// subscriber's sequence per chat must equal the chat_events log — no loss,
// no duplicate, no reordering. Run three ways: undisturbed; while one
// receiver is killed with SIGKILL and its clients resume on the other with
// afterSeq; while redis-server is restarted mid-run. In every run some of
// the users also follow their per-user streams (chatMessageNotification,
// unreadCountUpdated; issue 14 item 5), resume them with afterSeqs on the
// other receiver after the SIGKILL, and are compared with the same log: every
// message of others once, in per-chat order; every unread count the log's,
// the last one equal to an SQL recount.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { startCluster, sleep } from './lib/receiver-env.js';
import { runChecker as check, WRITERS, PER_WRITER } from './lib/delivery-checker.js';

let cl;
before(async () => {
  cl = await startCluster();
});
after(async () => {
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  // every process but the one killed on purpose exits cleanly (no leak)
  res.forEach((r, i) => {
    if (r.signal !== 'SIGKILL') assert.equal(r.code, 0, procs[i].logs().slice(-6000));
  });
});

const runChecker = (disrupt) => check(cl, disrupt, { userStreams: true });

describe('delivery checker', () => {
  test('concurrent senders, subscribers on both receivers: every sequence equals the log', async () => {
    await runChecker(async () => {});
  });

  test('redis-server restarted mid-run: re-subscribe and gap-fill, still exact', async () => {
    assert.ok(process.env.CHATD_TEST_REDIS_CMD, 'scripts/testenv exports CHATD_TEST_REDIS_CMD');
    await runChecker(async ({ progress }) => {
      while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(20);
      execSync(process.env.CHATD_TEST_REDIS_CMD, { stdio: 'ignore' });
    });
  });

  test('a receiver killed with SIGKILL: its clients resume on the other with afterSeq', async () => {
    const victim = cl.receivers[0];
    const survivor = cl.receivers[1];
    await runChecker(async ({ followers, userFollowers, progress }) => {
      while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(20);
      const moved = followers.filter((f) => f.client && f.rec && f.attachedTo === undefined);
      victim.proc.kill('SIGKILL');
      await victim.exited;
      await sleep(100);
      for (const f of moved) if (f.closed) {
        f.rec.stop();
        f.attach(survivor);
      }
      // the users on the killed receiver resume on the survivor (afterSeqs)
      const onVictim = userFollowers.filter((u) => u.receiver === victim);
      assert.ok(onVictim.length > 0, 'some users follow their streams on the victim');
      for (const u of onVictim) await u.moveTo(survivor);
    });
  });
});
