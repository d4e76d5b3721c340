// Redis Cluster (issue 17): chatd on a cluster of 3 masters + 3 replicas
// (scripts/testenv cluster-start, torn down after the suite whatever
// happens) with sharded pub/sub. Two senders and two receivers configured
// with REDIS_CLUSTER_NODES; writers send into many chats (spread over every
// shard) while subscribers of every chat's event stream sit on both
// receivers. Every subscriber's sequence must equal the chat_events log —
// nothing lost, nothing duplicated, order kept:
//   1. undisturbed;
//   2. while a master is killed with SIGKILL under a steady send load: its
//      replica takes over (waited for, bounded), the receivers subscribe on
//      the new master and fill the gap from the log, the senders' outbox
//      republishes what could not be published meanwhile.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import {
  startCluster, makeUsers, gql, createChat, wsClient, record, sleep, sql, sfx, CREATE_MSG,
} from './lib/receiver-env.js';

const EVENTS = 'subscription E($c: ID!, $a: Int) { chatEvents(chatId: $c, afterSeq: $a) { chatId seq kind message { id seq } } }';
const CHATS = 3; // per shard
const WRITERS = 4;
const PER_WRITER = 30;
const FAILOVER_BOUND_MS = 30000;

let dir;
let nodes;
let ports;
let cl;

function cli(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args], {
    encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
}
function alive(port) {
  try {
    return cli(port, 'PING') === 'PONG';
  } catch {
    return false;
  }
}
/** [{start, end, port}] of the live masters, from a live node's CLUSTER NODES
 * ("<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots...>"). */
function slotsTable() {
  for (const p of ports) {
    if (!alive(p)) continue;
    const out = [];
    for (const line of cli(p, 'CLUSTER', 'NODES').split('\n')) {
      const f = line.split(' ');
      const flags = f[2].split(',');
      if (!flags.includes('master') || flags.includes('fail') || flags.includes('fail?')) continue;
      const port = Number(f[1].split('@')[0].split(':').at(-1));
      for (const r of f.slice(8)) {
        if (r.startsWith('[')) continue; // a migrating/importing mark
        const [start, end] = r.split('-').map(Number);
        out.push({ start, end: end === undefined ? start : end, port });
      }
    }
    return out;
  }
  throw new Error('no live cluster node');
}
function ownerOf(channel) {
  const p = ports.find(alive);
  const slot = Number(cli(p, 'CLUSTER', 'KEYSLOT', channel));
  const r = slotsTable().find((x) => slot >= x.start && slot <= x.end);
  return r ? r.port : null;
}
/** Subscribers of a shard channel, summed over every live node. */
function shardSubs(channel) {
  let n = 0;
  for (const p of ports) {
    if (!alive(p)) continue;
    const out = cli(p, 'PUBSUB', 'SHARDNUMSUB', channel).split('\n');
    n += Number(out[1] || 0);
  }
  return n;
}
async function waitShardChannel(channel, min, timeoutMs = 10000) {
  const t0 = Date.now();
  while (shardSubs(channel) < min) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${channel}: fewer than ${min} subscribers`);
    await sleep(50);
  }
}

before(async () => {
  assert.ok(process.env.CHATD_TESTENV && process.env.CHATD_TEST_DIR, 'run under scripts/testenv');
  dir = path.join(process.env.CHATD_TEST_DIR, `rcluster-${sfx()}`);
  execFileSync(process.env.CHATD_TESTENV, ['cluster-start', dir], { stdio: 'ignore', timeout: 60000 });
  const env = fs.readFileSync(path.join(dir, 'env'), 'utf8');
  nodes = /CHATD_TEST_REDIS_CLUSTER_NODES='([^']+)'/.exec(env)[1];
  ports = /CHATD_TEST_REDIS_CLUSTER_PORTS='([^']+)'/.exec(env)[1].split(' ').map(Number);
  cl = await startCluster({ env: { REDIS_URL: undefined, REDIS_CLUSTER_NODES: nodes } });
});

after(async () => {
  try {
    if (cl) {
      const res = await cl.stop();
      const procs = [...cl.senders, ...cl.receivers];
      res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
    }
  } finally {
    if (dir) execFileSync(process.env.CHATD_TESTENV, ['cluster-stop', dir], { stdio: 'ignore', timeout: 30000 });
  }
});

function follower(user, chatId, from, srv) {
  const f = { chatId, seqs: [], kinds: [] };
  f.client = wsClient(srv, user);
  f.rec = record(f.client, EVENTS, { c: chatId, a: from }, 'chatEvents');
  const push = f.rec.events.push.bind(f.rec.events);
  f.rec.events.push = (e) => {
    f.seqs.push(e.seq);
    f.kinds.push(e.kind);
    return push(e);
  };
  return f;
}

async function runChecker(disrupt) {
  const [s1, s2] = cl.senders;
  const users = makeUsers(WRITERS + 1);
  const [owner] = users;
  // chat ids are hash tags: each chat's channel lives on its slot's shard;
  // CHATS chats per master (ids are random: make chats until each has its share)
  const chats = [];
  const perShard = new Map();
  for (let i = 0; chats.length < 3 * CHATS && i < 20 * CHATS; i++) {
    const chat = await createChat(s1, owner, users.slice(1), `rc${i}`);
    const o = ownerOf(`chat:{${chat.id}}`);
    if ((perShard.get(o) || 0) >= CHATS) continue;
    perShard.set(o, (perShard.get(o) || 0) + 1);
    chats.push(chat);
  }
  assert.equal(perShard.size, 3, `chats on ${perShard.size} shards`);
  assert.equal(chats.length, 3 * CHATS);
  const followers = [];
  for (const chat of chats)
    for (const r of cl.receivers) followers.push(follower(users[WRITERS], chat.id, chat.lastSeq, r));
  for (const chat of chats) await waitShardChannel(`chat:{${chat.id}}`, cl.receivers.length);
  await sleep(200);

  let sent = 0;
  const writers = users.slice(0, WRITERS).map(async (u, w) => {
    for (let i = 0; i < PER_WRITER; i++) {
      const chat = chats[(w + i) % CHATS];
      const sender = (w + i) % 2 ? s1 : s2;
      let b;
      for (let attempt = 0; attempt < 100; attempt++) {
        b = await gql(sender, CREATE_MSG, {
          in: { content: `w${w} m${i}`, senderId: u.id, chatId: chat.id, clientId: `rc${w}-${i}-${chat.id}` },
        }, u.h).catch((e) => ({ errors: [{ message: String(e) }] }));
        if (!b.errors) break;
        await sleep(100); // a hiccup during the failover: retry (clientId makes it idempotent)
      }
      assert.equal(b.errors, undefined, JSON.stringify(b));
      sent++;
      await sleep(10); // a steady load, spread over the disruption
    }
  });
  await disrupt({ chats, progress: () => sent });
  await Promise.all(writers);

  const want = new Map();
  for (const chat of chats) {
    const rows = sql(`SELECT seq, kind FROM chat_events WHERE chat_id = '${chat.id}' AND seq > ${chat.lastSeq} ORDER BY seq`)
      .split('\n').filter(Boolean).map((l) => l.split('|'));
    want.set(chat.id, { seqs: rows.map((r) => Number(r[0])), kinds: rows.map((r) => r[1]) });
  }
  const deadline = Date.now() + 30000;
  for (const f of followers) {
    const w = want.get(f.chatId);
    while (f.seqs.length < w.seqs.length && Date.now() < deadline) await sleep(50);
  }
  await sleep(300); // a late duplicate would show up here
  for (const f of followers) {
    const w = want.get(f.chatId);
    assert.equal(f.rec.errors.length, 0, JSON.stringify(f.rec.errors));
    assert.deepEqual(f.seqs, w.seqs, `subscriber of ${f.chatId}: got ${f.seqs.length} of ${w.seqs.length}`);
    assert.deepEqual(f.kinds, w.kinds);
  }
  const total = [...want.values()].reduce((n, w) => n + w.seqs.length, 0);
  assert.equal(total, WRITERS * PER_WRITER, `log has ${total} events`);
  for (const f of followers) await f.client.dispose();
}

describe('redis cluster', { timeout: 120000 }, () => {
  test('senders and receivers on a cluster: every sequence equals the log', async () => {
    await runChecker(async () => {});
  });

  test('seed-003 /ws on a cluster: typing reaches a joined room over its hash-tagged channel', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(cl.senders[0], a, [b], 'rc-typing');
    const r = cl.receivers[0];
    const open = (u) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${r.base.replace('http', 'ws')}/ws?token=${u.token}`);
      const events = [];
      ws.on('message', (d) => events.push(JSON.parse(d.toString())));
      ws.once('open', () => resolve({ ws, events }));
      ws.once('error', reject);
    });
    const until = async (c, pred, what) => {
      for (let i = 0; i < 200; i++) {
        const e = c.events.find(pred);
        if (e) return e;
        await sleep(50);
      }
      throw new Error(`no ${what}: ${JSON.stringify(c.events).slice(0, 1000)}`);
    };
    const ca = await open(a);
    const cb = await open(b);
    for (const c of [ca, cb]) {
      await until(c, (e) => e.type === 'connected', 'connected');
      c.ws.send(JSON.stringify({ type: 'joinRoom', payload: { roomId: chat.id } }));
      await until(c, (e) => e.type === 'roomJoined', 'roomJoined');
    }
    await waitShardChannel(`chat:{${chat.id}}:eph`, 1);
    cb.ws.send(JSON.stringify({ type: 'typing', payload: { roomId: chat.id, isTyping: true } }));
    const t = await until(ca, (e) => e.type === 'typing', 'typing');
    assert.deepEqual([t.payload.roomId, t.payload.userId, t.payload.isTyping], [chat.id, b.id, true]);
    ca.ws.close();
    cb.ws.close();
  });

  test('a master killed with SIGKILL under load: its replica takes over, nothing lost or doubled', async () => {
    await runChecker(async ({ chats, progress }) => {
      while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(20);
      const victim = ownerOf(`chat:{${chats[0].id}}`);
      const pid = Number(fs.readFileSync(path.join(dir, String(victim), 'redis.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      // bounded wait for the failover: the slot has a live master again
      const t0 = Date.now();
      let promoted;
      for (;;) {
        const o = ownerOf(`chat:{${chats[0].id}}`);
        if (o && o !== victim && alive(o)) {
          promoted = o;
          break;
        }
        assert.ok(Date.now() - t0 < FAILOVER_BOUND_MS, 'no failover within the bound');
        await sleep(100);
      }
      // the receivers subscribe on the new master (the chats it now owns)
      for (const chat of chats) await waitShardChannel(`chat:{${chat.id}}`, cl.receivers.length, 15000);
      const moved = chats.filter((c) => ownerOf(`chat:{${c.id}}`) === promoted);
      assert.ok(moved.length > 0);
      for (const chat of moved) {
        assert.equal(Number(cli(promoted, 'PUBSUB', 'SHARDNUMSUB', `chat:{${chat.id}}`).split('\n')[1]),
          cl.receivers.length, `chat ${chat.id} not subscribed on the promoted master`);
      }
      // ... and say so (the log line of the re-subscribe, channels included)
      const want = new RegExp(`cluster subscriber connected to 127\\.0\\.0\\.1:${promoted} \\([1-9]`);
      for (const r of cl.receivers) {
        const t1 = Date.now();
        while (!want.test(r.logs()) && Date.now() - t1 < 5000) await sleep(50);
        assert.match(r.logs(), want);
      }
    });
  });
});
