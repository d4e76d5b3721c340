// Issue 15: a sender SIGKILLed under load inside the delivery checker. Two
// senders, writers on both; one sender is killed with kill -9 mid-run.
// Writes to it fail and the clients retry on the other (clientId keeps the
// retry idempotent). Afterwards every committed event (chat_events) reached
// every subscriber exactly once, in order: what the killed sender committed
// but never published is republished by the surviving sender's outbox
// sweeper, and nothing is left unpublished. Some users follow their per-user
// streams too (chatMessageNotification, unreadCountUpdated), checked the same way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, sleep, sql } from './lib/receiver-env.js';
import { runChecker, alive, WRITERS, PER_WRITER } from './lib/delivery-checker.js';

let cl;
before(async () => {
  cl = await startCluster();
});
after(async () => {
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  res.forEach((r, i) => {
    if (r.signal !== 'SIGKILL') assert.equal(r.code, 0, procs[i].logs().slice(-6000));
  });
});

test('a sender killed with SIGKILL under load: every committed event delivered once, in order', { timeout: 90000 }, async () => {
  const [victim, survivor] = cl.senders;
  let killedAt = 0;
  let failedOnVictim = 0;
  let failedOnSurvivor = 0;
  const { chats } = await runChecker(cl, async ({ progress }) => {
    while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(5);
    victim.proc.kill('SIGKILL');
    killedAt = progress();
    const r = await victim.exited;
    assert.equal(r.signal, 'SIGKILL');
  }, {
    // a writer alternates senders per message and moves to the other on a retry
    senderFor: (w, i, attempt) => cl.senders[(w + i + attempt) % 2],
    userStreams: true, // per-user streams too (issue 14 item 5)
    retryMs: 20000,
    markBestEffort: true,
    // every row the killed sender left unconfirmed is republished (and then
    // marked) by the survivor's sweeper before the streams are compared, so a
    // duplicate from that republish would be seen
    settle: async ({ chats: cs }) => {
      const ids = cs.map((c) => `'${c.id}'`).join(',');
      const q = `SELECT count(*) FROM chat_outbox WHERE chat_id IN (${ids})`;
      const t0 = Date.now();
      while (sql(q) !== '0' && Date.now() - t0 < 30000) await sleep(200);
      await sleep(1500); // past a sweeper tick: a republish would arrive now
    },
    onError: (b, s) => {
      if (s === victim) failedOnVictim++;
      else failedOnSurvivor++;
    },
  });
  assert.ok(killedAt > 0 && killedAt < WRITERS * PER_WRITER, `killed after ${killedAt} messages`);
  assert.ok(!alive(victim));
  assert.ok(failedOnVictim > 0, 'writes to the killed sender failed');
  assert.equal(failedOnSurvivor, 0, 'the surviving sender answered every write');
  // nothing committed stays unpublished (the survivor's sweeper took the rest)
  const ids = chats.map((c) => `'${c.id}'`).join(',');
  assert.equal(sql(`SELECT count(*) FROM chat_outbox WHERE chat_id IN (${ids})`), '0');
});
