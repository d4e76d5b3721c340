// Issue 17 item 5: faults behind HAProxy. Two senders and two receivers on
// the testenv's Postgres + Redis, and Debian's haproxy in front of them with
// the shipped settings (ops/haproxy/haproxy.cfg's global and defaults
// sections verbatim; frontends and backends generated on free ports). Inside
// the delivery checker (writers in several chats, followers on chatEvents):
//  - a receiver SIGKILLed: every follower connected through the balancer's
//    receiver port, the ones on the killed receiver reconnect through the
//    same port, land on the other receiver and resume with afterSeq; every
//    stream equals the log (once, in order);
//  - a sender drained with SIGTERM while writers post through the balancer's
//    sender port: not one request fails (HAProxy stops sending to it, the
//    requests in flight finish), every message is in the log and delivered.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { repoRoot } from './lib/chatd.js';
import { startCluster, sleep } from './lib/receiver-env.js';
import { runChecker, alive, WRITERS, PER_WRITER, CHATS, SUBS_PER_RECEIVER } from './lib/delivery-checker.js';

const WAIT_MS = 15000; // any single step: HAProxy up, servers up, sockets closed, resumes
// chatd behind the balancer keeps idle keep-alive connections this long when
// draining (CHATD_DRAIN_IDLE_MS), well above the check interval (500 ms,
// fall 1): HAProxy may still send a request on a pooled connection until
// its check sees the drain; closing that connection under it loses the request
const DRAIN_IDLE_MS = 1500;

let cl;
let lb;

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.unref();
  s.on('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

/** HAProxy with the shipped global/defaults in front of the cluster's
 * senders and receivers; resolves { sender, receiver, stop(), logs() }. */
async function startHaproxy(senders, receivers) {
  const shipped = fs.readFileSync(path.join(repoRoot, 'ops/haproxy/haproxy.cfg'), 'utf8');
  const cut = shipped.search(/^frontend /m);
  assert.ok(cut > 0, 'ops/haproxy/haproxy.cfg has its frontends after global/defaults');
  const sp = await freePort();
  const rp = await freePort();
  const servers = (name, list) => list.map((s, i) => `    server ${name}-${i + 1} 127.0.0.1:${s.port}`).join('\n');
  const cfg = `${shipped.slice(0, cut)}
frontend sender
    bind 127.0.0.1:${sp}
    default_backend sender

frontend receiver
    bind 127.0.0.1:${rp}
    default_backend receiver

backend sender
    balance roundrobin
${servers('sender', senders)}

backend receiver
    balance leastconn
${servers('receiver', receivers)}
`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, cfg);
  const proc = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  proc.on('error', (e) => (out += `spawn haproxy: ${e.message}\n`));
  process.on('exit', () => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL'));
  const endpoint = (port) => ({
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    proc: { exitCode: null, signalCode: null }, // "alive" for the checker
  });
  const lbx = {
    sender: endpoint(sp),
    receiver: endpoint(rp),
    logs: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  // both frontends answer and every server is up (rise 2 × inter 500 ms)
  await until(async () => {
    const stats = await Promise.all([sp, rp].map((p) => fetch(`http://127.0.0.1:${p}/readyz`).then((r) => r.status, () => 0)));
    return stats.every((s) => s === 200);
  }, 'HAProxy answering /readyz on both frontends', () => out);
  await sleep(1500); // past rise 2 of every server (they start UP; a first failed check would show here)
  return lbx;
}

async function until(cond, what, detail = () => '') {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - t0 > WAIT_MS) throw new Error(`timeout: ${what}\n${detail()}`);
    await sleep(100);
  }
}

async function wsGauge(srv) {
  const t = await (await fetch(`${srv.base}/metrics`)).text();
  const m = /^chatd_connections\{transport="ws"\} (\d+)$/m.exec(t);
  assert.ok(m, 'chatd_connections{transport="ws"} on /metrics');
  return Number(m[1]);
}

before(async () => {
  cl = await startCluster({ env: { CHATD_DRAIN_IDLE_MS: String(DRAIN_IDLE_MS) } });
  lb = await startHaproxy(cl.senders, cl.receivers);
});
after(async () => {
  const r = lb ? await lb.stop() : null;
  const procs = [...cl.senders, ...cl.receivers];
  const res = await cl.stop();
  res.forEach((x, i) => {
    if (x.signal !== 'SIGKILL') assert.equal(x.code, 0, procs[i].logs().slice(-6000));
  });
  if (r) assert.ok(r.code === 0 || r.signal === 'SIGTERM' || r.code === 143, `haproxy exit ${JSON.stringify(r)}\n${lb.logs()}`);
});

describe('faults behind HAProxy', { timeout: 120000 }, () => {
  test('a receiver SIGKILLed: its clients reconnect through the balancer and resume with afterSeq, every stream equals the log', async () => {
    let victimHad = 0;
    let moved = 0;
    // every follower connects through the balancer's receiver port; writers go
    // straight to the senders (this test is about the receivers)
    const via = { senders: cl.senders, receivers: [lb.receiver] };
    await runChecker(via, async ({ followers, progress }) => {
      assert.equal(followers.length, CHATS * SUBS_PER_RECEIVER);
      // leastconn spread the sockets over both receivers
      await until(async () => (await Promise.all(cl.receivers.map(wsGauge))).reduce((a, b) => a + b, 0) === followers.length,
        'every follower counted by a receiver');
      const counts = await Promise.all(cl.receivers.map(wsGauge));
      assert.ok(counts.every((c) => c >= 1), `leastconn: both receivers hold sockets (${counts})`);
      while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(10);
      const victim = cl.receivers[0];
      const survivor = cl.receivers[1];
      victimHad = counts[0];
      victim.proc.kill('SIGKILL');
      assert.equal((await victim.exited).signal, 'SIGKILL');
      // the balancer closes the client side of each tunnel to the dead receiver
      await until(() => followers.filter((f) => f.closed).length >= victimHad, `${victimHad} followers see their socket close`);
      await sleep(200);
      assert.equal(followers.filter((f) => f.closed).length, victimHad, 'only the killed receiver\'s clients were cut');
      // reconnect through the same port: afterSeq = the last seq each one saw;
      // until HAProxy's next check marks the dead server down a connection to
      // it is refused and redispatched (retries + redispatch)
      const t0 = Date.now();
      while (followers.some((f) => f.closed)) {
        for (const f of followers) if (f.closed) {
          f.rec.stop();
          f.attach(lb.receiver);
          moved++;
        }
        if (Date.now() - t0 > WAIT_MS) throw new Error('followers did not reconnect through the balancer');
        await sleep(300);
      }
      await until(async () => (await wsGauge(survivor)) === followers.length, 'every follower on the surviving receiver');
    });
    assert.ok(victimHad >= 1 && moved >= victimHad, `moved ${moved} of ${victimHad}`);
  });

  test('a sender drained with SIGTERM behind the balancer: no request fails, every message is in the log and delivered', async () => {
    // a fresh receiver-only run against the remaining live receiver; writers
    // post every message through the balancer's sender port
    const receivers = cl.receivers.filter(alive);
    assert.ok(receivers.length >= 1);
    const errors = [];
    let drained = null;
    const { total } = await runChecker({ senders: [lb.sender, lb.sender], receivers }, async ({ progress }) => {
      while (progress() < (WRITERS * PER_WRITER) / 3) await sleep(10);
      const victim = cl.senders[0];
      victim.proc.kill('SIGTERM');
      drained = await victim.exited;
    }, {
      senderFor: () => lb.sender,
      onError: (b) => errors.push(JSON.stringify(b).slice(0, 300)),
    });
    assert.deepEqual(drained, { code: 0, signal: null }, 'the drained sender exits 0');
    assert.deepEqual(errors, [], `every request through the balancer answered without error\n${lb.logs().split('\n').filter((l) => l.includes('sender')).slice(-20).join('\n')}`);
    assert.ok(total >= WRITERS * PER_WRITER);
  });
});
