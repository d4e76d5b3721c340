// A receiver with a streaming replica (DATABASE_REPLICA_URL) against the real
// Postgres primary + hot standby of scripts/testenv (replica-start): its
// queries are served by the replica (the replica's own statistics count the
// rows read), a query right after one's own write sees it, afterSeq replays
// and queries are complete while the replica's replay is paused (the reads
// fall back to the primary, /readyz says "lagging"), and with the replica
// killed reads fall back to the primary with nothing wrong served, /readyz
// says "down" (still 200), and the replica is used again once it is back.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startChatd, runChatdExpectExit, psqlBin } from './lib/chatd.js';
import {
  makeUsers, gql, ok, createChat, send, wsClient, record, sleep, waitChannel, MSG,
} from './lib/receiver-env.js';

const haveEnv = !!(process.env.CHATD_TEST_DATABASE_URL && process.env.CHATD_TEST_REDIS_URL && process.env.CHATD_TESTENV);
const WAIT_MS = 100; // CHAT_REPLICA_WAIT_MS

let replicaPort;
/** A statement on the replica, as the superuser (pausing replay needs it). */
function rsql(statement) {
  return execFileSync(psqlBin, [`postgres://postgres@127.0.0.1:${replicaPort}/chatd_test`, '-XAtq', '-c', statement], {
    encoding: 'utf8',
  }).trim();
}
const testenv = (...args) => execFileSync(process.env.CHATD_TESTENV, [...args, process.env.CHATD_TEST_DIR], { encoding: 'utf8' });

async function until(fn, ms = 10000, what = 'condition') {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${what}`);
    await sleep(50);
  }
}

async function metric(srv, re) {
  const m = re.exec(await (await fetch(`${srv.base}/metrics`)).text());
  return m ? Number(m[1]) : NaN;
}
const servedReplica = (srv) => metric(srv, /chatd_pg_replica_reads_total\{served="replica"\} (\d+)/);
const servedPrimary = (srv, why) =>
  metric(srv, new RegExp(`chatd_pg_replica_reads_total\\{served="primary",reason="${why}"\\} (\\d+)`));
async function readyz(srv) {
  const r = await fetch(`${srv.base}/readyz`);
  return { status: r.status, body: await r.text() };
}
/** Rows the replica's backends read from chatd_test so far (its own statistics). */
const replicaRows = () =>
  Number(rsql("SELECT tup_returned + tup_fetched FROM pg_stat_database WHERE datname = 'chatd_test'"));

const MESSAGES = `query Q($c: ID!, $a: Int, $l: Int) { messages(chatId: $c, afterSeq: $a, limit: $l) { ${MSG} } }`;
const CHAT_Q = 'query C($id: ID!) { chat(id: $id) { id lastSeq lastMessage { id seq content } } }';

test('DATABASE_REPLICA_URL without DATABASE_URL is refused at start', async () => {
  const r = await runChatdExpectExit(['--role', 'receiver'], {
    CHATD_JWT_SECRET: 'integration-test-secret-0123456789',
    DATABASE_REPLICA_URL: 'postgres://nobody@127.0.0.1:1/x',
  });
  assert.equal(r.code, 1);
  assert.match(r.output, /DATABASE_REPLICA_URL needs DATABASE_URL/);
});

describe('receiver reads from a streaming replica', { skip: !haveEnv && 'needs scripts/testenv' }, () => {
  let sender, receiver, users, chat;
  before(async () => {
    const env = testenv('replica-start');
    replicaPort = /CHATD_TEST_REPLICA_PORT='(\d+)'/.exec(env)[1];
    const replicaUrl = /CHATD_TEST_REPLICA_URL='([^']+)'/.exec(env)[1];
    sender = await startChatd({ role: 'sender', db: true, redis: true });
    receiver = await startChatd({
      role: 'receiver', db: true, redis: true, env: { DATABASE_REPLICA_URL: replicaUrl },
    });
    users = makeUsers(2);
    chat = await createChat(sender, users[0], [users[1]], 'replica');
    // the replica has the migrated schema and the chat before the suite reads
    await until(() => rsql(`SELECT count(*) FROM chats WHERE id = '${chat.id}'`) === '1', 15000, 'chat on the replica');
  });
  after(async () => {
    try {
      rsql('SELECT pg_wal_replay_resume()');
    } catch {}
    try {
      testenv('replica-start');
    } catch {}
    for (const p of [receiver, sender]) if (p) assert.equal((await p.stop()).code, 0, p.logs());
  });

  test('queries and history are served by the replica', async () => {
    const rz = await until(async () => {
      const r = await readyz(receiver);
      return r.status === 200 && /replica: up/.test(r.body) ? r : null;
    }, 10000, 'replica: up');
    assert.match(rz.body, /^ready\n/);
    assert.equal(await metric(receiver, /^chatd_pg_replica_up (\d)$/m), 1);
    for (let i = 0; i < 40; i++) await send(sender, users[0], chat.id, `m${i}`);
    const rows0 = replicaRows();
    const served0 = await servedReplica(receiver);
    const N = 20;
    for (let i = 0; i < N; i++) {
      const list = ok(await gql(receiver, MESSAGES, { c: chat.id, l: 200 }, users[1].h), 'messages');
      assert.equal(list.length, 40);
      assert.deepEqual(list.map((m) => m.content), Array.from({ length: 40 }, (_, k) => `m${k}`));
      const c = ok(await gql(receiver, CHAT_Q, { id: chat.id }, users[1].h), 'chat');
      assert.equal(c.lastMessage.content, 'm39');
    }
    // the receiver counted them as the replica's ...
    assert.ok((await servedReplica(receiver)) - served0 >= 2 * N, 'reads served by the replica');
    // ... and the replica itself read the rows (its statistics arrive within ~1 s)
    await until(() => replicaRows() - rows0 >= N * 40, 10000, 'rows read on the replica');
  });

  test('a query right after one\'s own write sees it', async () => {
    for (let i = 0; i < 25; i++) {
      const m = await send(sender, users[1], chat.id, `rw${i}`);
      const list = ok(await gql(receiver, MESSAGES, { c: chat.id, l: 1 }, users[1].h), 'messages');
      assert.equal(list[0].id, m.id, `write ${i} not seen by the next read`);
      const c = ok(await gql(receiver, CHAT_Q, { id: chat.id }, users[1].h), 'chat');
      assert.ok(c.lastSeq >= m.seq, `chat.lastSeq ${c.lastSeq} older than the write's seq ${m.seq}`);
    }
  });

  test('replay paused: reads wait at most a bound, then the primary answers; afterSeq has no gap', async () => {
    rsql('SELECT pg_wal_replay_pause()');
    await until(() => rsql('SELECT pg_get_wal_replay_pause_state()') === 'paused', 10000, 'replay paused');
    const lag0 = await servedPrimary(receiver, 'lag');
    const c0 = ok(await gql(receiver, CHAT_Q, { id: chat.id }, users[0].h), 'chat');
    const from = c0.lastSeq;
    const burst = [];
    for (let i = 0; i < 30; i++) burst.push(await send(sender, users[0], chat.id, `b${i}`));
    // the replica really lacks the burst ...
    assert.equal(Number(rsql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`)), from);
    // ... and nobody is answered from it: the first read waits (bounded), the next go straight to the primary
    const t0 = Date.now();
    const list = ok(await gql(receiver, MESSAGES, { c: chat.id, a: from, l: 100 }, users[1].h), 'messages');
    const first = Date.now() - t0;
    assert.deepEqual(list.map((m) => m.seq), burst.map((m) => m.seq));
    assert.ok(first < 5000, `first read took ${first} ms`);
    const rz = await readyz(receiver);
    assert.equal(rz.status, 200);
    assert.match(rz.body, /replica: lagging/);
    assert.equal(await metric(receiver, /^chatd_pg_replica_lagging (\d)$/m), 1);
    const t1 = Date.now();
    for (let i = 0; i < 5; i++) {
      const c = ok(await gql(receiver, CHAT_Q, { id: chat.id }, users[1].h), 'chat');
      assert.equal(c.lastSeq, burst[29].seq);
      assert.equal(c.lastMessage.content, 'b29');
    }
    assert.ok(Date.now() - t1 < 5 * WAIT_MS + 2000, 'reads while lagging do not each wait the bound');
    assert.ok((await servedPrimary(receiver, 'lag')) - lag0 >= 6);

    // a subscription resuming after the burst gets all of it, in order, then live
    const client = wsClient(receiver, users[1]);
    const rec = record(client, `subscription S($c: ID!, $a: Int) { messageAdded(chatId: $c, afterSeq: $a) { id seq content } }`,
      { c: chat.id, a: from }, 'messageAdded');
    await rec.waitFor(30);
    await waitChannel(`chat:${chat.id}`);
    const live = await send(sender, users[0], chat.id, 'live');
    await rec.waitFor(31);
    assert.deepEqual(rec.events.map((e) => e.seq), [...burst.map((m) => m.seq), live.seq]);
    assert.deepEqual(rec.errors, []);
    rec.stop();
    await client.dispose();

    // replay resumed: the replica catches up and serves again
    rsql('SELECT pg_wal_replay_resume()');
    await until(async () => /replica: up/.test((await readyz(receiver)).body), 10000, 'replica: up after resume');
    // "up" is the link; a read that must include the caller's view waits for
    // the replay to pass it, else the primary answers (under load the
    // replica may still be behind for a moment): every answer is current,
    // and within the bound one comes from the replica
    const s0 = await servedReplica(receiver);
    await until(async () => {
      const again = ok(await gql(receiver, CHAT_Q, { id: chat.id }, users[1].h), 'chat');
      assert.equal(again.lastSeq, live.seq);
      return (await servedReplica(receiver)) > s0;
    }, 10000, 'the replica serves again after catching up');
  });

  test('replica killed: reads fall back to the primary, /readyz says so; back → used again', async () => {
    testenv('replica-stop');
    await until(async () => /replica: down/.test((await readyz(receiver)).body), 10000, 'replica: down');
    const rz = await readyz(receiver);
    assert.equal(rz.status, 200, 'a receiver whose replica is down still serves');
    assert.equal(await metric(receiver, /^chatd_pg_replica_up (\d)$/m), 0);
    const down0 = await servedPrimary(receiver, 'down');
    const served0 = await servedReplica(receiver);
    for (let i = 0; i < 10; i++) {
      const m = await send(sender, users[0], chat.id, `d${i}`);
      const list = ok(await gql(receiver, MESSAGES, { c: chat.id, l: 1 }, users[1].h), 'messages');
      assert.equal(list[0].id, m.id);
      assert.equal(list[0].content, `d${i}`);
    }
    assert.ok((await servedPrimary(receiver, 'down')) - down0 >= 10);
    assert.equal(await servedReplica(receiver), served0);

    testenv('replica-start');
    await until(async () => /replica: up/.test((await readyz(receiver)).body), 20000, 'replica: up after restart');
    const m = await send(sender, users[1], chat.id, 'back');
    const s0 = await servedReplica(receiver);
    await until(async () => {
      const list = ok(await gql(receiver, MESSAGES, { c: chat.id, l: 1 }, users[0].h), 'messages');
      assert.equal(list[0].id, m.id, 'a read after the restart misses the newest write');
      return (await servedReplica(receiver)) > s0;
    }, 10000, 'reads served by the restarted replica');
  });
});
