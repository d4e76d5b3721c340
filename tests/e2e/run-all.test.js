// `make run` (scripts/run-all) itself: on free ports and a temporary data
// directory it starts Postgres, Redis, the six chatd processes and the web
// server, prefixes every log line, serves /config.json with the ports, the
// roles answer; a Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) lets every chatd drain once and stops everything; a second run
// reuses the data (the user signed up before can still sign in); a busy port
// is refused with a message naming it.
//
// Supervision: `kill -9` of the process behind the second receiver's port;
// the first receiver answers /healthz every ~50 ms throughout, the killed one
// answers again within 5 s (measured), the log names it, its signal and the
// restart count; Redis and PostgreSQL going away are reported and nothing
// stops; SIGTERM to run-all stops chatd (drained) before the web server
// before Redis and PostgreSQL.
//
// Every run is torn down even when an assertion fails: SIGTERM to run-all,
// then SIGKILL of its group and of whatever still listens on the run's ports
// (found through /proc), Redis and PostgreSQL by their pid files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort, repoRoot, chatdBin } from './lib.js';

const RESTART_BOUND_MS = 5000; // the killed receiver must answer again within this
const POLL_MS = 50; // /healthz polling period during the kill + restart window
const POLL_TIMEOUT_MS = 2000; // one /healthz answer slower than this counts as a failure
const READY_MS = 120000; // run-all start-up (initdb, six debug chatd) on a busy machine
const STOP_MS = 30000; // run-all's own stop sequence before the test kills

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// resolves to null after ms without keeping the process alive (for races)
const deadline = (ms) => new Promise((r) => setTimeout(r, ms, null).unref());

// The pid of the process listening on 127.0.0.1:port (or any address), from
// /proc/net/tcp{,6} and the processes' fd links; null when nothing listens.
function listenerPid(port) {
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link;
      try {
        link = fs.readlinkSync(`/proc/${d}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) return Number(d);
    }
  }
  return null;
}
const comm = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
};
const kill = (pid, sig) => {
  try {
    process.kill(pid, sig);
  } catch {}
};
const pidFile = (file) => {
  try {
    return Number(fs.readFileSync(file, 'utf8').split('\n')[0]) || null;
  } catch {
    return null;
  }
};

// Synchronous last resort (also on process exit): whatever of a run is left.
const leftovers = new Set();
function reapSync(sys) {
  if (sys.proc && sys.proc.exitCode === null && sys.proc.signalCode === null) kill(-sys.proc.pid, 'SIGKILL');
  for (const p of sys.chatdPorts) {
    const pid = listenerPid(p);
    if (pid) kill(pid, 'SIGKILL');
  }
  const rpid = pidFile(path.join(sys.data, 'redis/redis.pid'));
  if (rpid) kill(rpid, 'SIGKILL');
  const ppid = pidFile(path.join(sys.data, 'pg/postmaster.pid'));
  if (ppid) kill(ppid, 'SIGQUIT'); // immediate shutdown; its children follow
}
process.on('exit', () => {
  for (const sys of leftovers) reapSync(sys);
});

async function ports(n) {
  const out = new Set();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

// A data directory and free ports for one system; reap() stops whatever is
// left of it (call it in finally).
async function newSystem() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-runall-'));
  const [u1, u2, s1, s2, r1, r2, web, pg, redis] = await ports(9);
  const sys = {
    data,
    u1, u2, s1, s2, r1, r2, web,
    chatdPorts: [u1, u2, s1, s2, r1, r2, web],
    env: {
      CHATD_DATA_DIR: data,
      CHATD_USER_PORTS: `${u1} ${u2}`,
      CHATD_SENDER_PORTS: `${s1} ${s2}`,
      CHATD_RECEIVER_PORTS: `${r1} ${r2}`,
      CHATD_WEB_PORT: String(web),
      CHATD_PG_PORT: String(pg),
      CHATD_REDIS_PORT: String(redis),
    },
    runs: [],
    async reap() {
      for (const run of sys.runs) await run.stop();
      sys.proc = null;
      reapSync(sys);
      leftovers.delete(sys);
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
  leftovers.add(sys);
  return sys;
}

function runAll(sys) {
  const proc = spawn(path.join(repoRoot, 'scripts/run-all'), [], {
    // text log lines, as on a terminal (a pipe would get JSON lines)
    env: { ...process.env, CHATD_BIN: chatdBin, CHATD_LOG_FORMAT: 'text', ...sys.env },
    detached: true, // own process group, like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sys.proc = proc;
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const waitFor = (re, ms = READY_MS) =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        if (re.test(out)) return resolve();
        if (!alive()) return reject(new Error(`run-all exited:\n${out}`));
        if (Date.now() - t0 > ms) return reject(new Error(`timeout waiting for ${re}:\n${out}`));
        setTimeout(tick, 100);
      };
      tick();
    });
  // SIGTERM to run-all alone, then its group's SIGKILL if it does not finish
  const stop = async () => {
    if (alive()) kill(proc.pid, 'SIGTERM');
    const r = await Promise.race([exited, deadline(STOP_MS)]);
    if (!r) kill(-proc.pid, 'SIGKILL');
    return exited;
  };
  const run = { proc, exited, waitFor, stop, alive, out: () => out };
  sys.runs.push(run);
  return run;
}

const gql = async (port, query, variables, token) => {
  const r = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return r.json();
};

const listening = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });

// GET /healthz → true on "200 ok" within POLL_TIMEOUT_MS
const healthy = async (port) => {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    return r.status === 200 && (await r.text()).startsWith('ok');
  } catch {
    return false;
  }
};

test('scripts/run-all: six processes + web, prefixed logs, Ctrl-C stops all, data reused, busy port refused', { timeout: 300000 }, async () => {
  const sys = await newSystem();
  const { u1, u2, s1, s2, r1, r2, web } = sys;
  try {
    // first run
    let run = runAll(sys);
    await run.waitFor(/\[run-all\] ready/);
    for (const name of ['user-1', 'user-2', 'sender-1', 'sender-2', 'receiver-1', 'receiver-2', 'web']) {
      assert.match(run.out(), new RegExp(`^\\[${name}\\] `, 'm'), `${name} lines are prefixed`);
    }
    const cfg = await (await fetch(`http://127.0.0.1:${web}/config.json`)).json();
    assert.deepEqual(cfg, { user: [u1, u2], sender: [s1, s2], receiver: [r1, r2] });
    const html = await (await fetch(`http://127.0.0.1:${web}/`)).text();
    assert.match(html, /<div id="root">/);
    for (const [port, role] of [[u1, 'user'], [u2, 'user'], [s1, 'sender'], [s2, 'sender'], [r1, 'receiver'], [r2, 'receiver']]) {
      assert.equal((await gql(port, '{ health { role } }')).data.health.role, role);
    }
    const name = `runall_${Date.now().toString(36)}`;
    const made = await gql(u2, 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }',
      { in: { username: name, email: `${name}@example.com`, password: 'password-123' } });
    assert.ok(made.data.createUser.id, JSON.stringify(made));

    // a busy port: a second run-all refuses, naming the port
    const busy = runAll({ ...sys, runs: [] });
    const b = await busy.exited;
    assert.equal(b.code, 1);
    assert.match(busy.out(), new RegExp(`port\\(s\\) .*${u1}.* already in use`));

    // Ctrl-C: SIGINT to the whole group
    process.kill(-run.proc.pid, 'SIGINT');
    const st = await run.exited;
    assert.equal(st.code, 130, run.out());
    assert.match(run.out(), /\[run-all\] stopped/);
    assert.doesNotMatch(run.out(), /second signal/, 'every chatd drained on the one signal');
    assert.equal((run.out().match(/\] .*info main bye/g) || []).length, 6, 'six chatd said bye');
    for (const p of sys.chatdPorts) assert.equal(await listening(p), false, `port ${p} released`);

    // second run reuses the data: the user signs in
    run = runAll(sys);
    await run.waitFor(/\[run-all\] ready/);
    const login = await gql(u1, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: name, p: 'password-123' });
    assert.ok(login.data && login.data.login.token, JSON.stringify(login));
    process.kill(-run.proc.pid, 'SIGINT');
    assert.equal((await run.exited).code, 130);
  } finally {
    await sys.reap();
  }
});

test('scripts/run-all supervises: kill -9 of a receiver, the other serves throughout, it is back within 5 s; Redis/Postgres loss reported; SIGTERM stops in order', { timeout: 300000 }, async () => {
  const sys = await newSystem();
  const { r1, r2 } = sys;
  try {
    const run = runAll(sys);
    await run.waitFor(/\[run-all\] ready/);
    const before = Object.fromEntries(sys.chatdPorts.map((p) => [p, listenerPid(p)]));
    const victim = before[r2];
    assert.ok(victim, `a process listens on receiver-2's port ${r2}`);
    assert.equal(comm(victim), 'chatd');
    assert.ok(await healthy(r1) && await healthy(r2));

    // poll receiver-1 every POLL_MS from before the kill until after receiver-2 is back
    const polls = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = Date.now();
        polls.push({ t, ok: await healthy(r1), ms: Date.now() - t });
        await sleep(Math.max(0, POLL_MS - (Date.now() - t)));
      }
    })();
    await sleep(300);

    const t0 = Date.now();
    process.kill(victim, 'SIGKILL');
    let back = null;
    while (Date.now() - t0 < 3 * RESTART_BOUND_MS) {
      const pid = listenerPid(r2);
      if (pid && pid !== victim && (await healthy(r2))) {
        back = Date.now() - t0;
        break;
      }
      await sleep(POLL_MS);
    }
    await sleep(500);
    polling = false;
    await poller;

    const failed = polls.filter((p) => !p.ok);
    assert.ok(polls.length >= 10, `receiver-1 was polled (${polls.length} times)`);
    assert.deepEqual(failed, [], `receiver-1 answered /healthz on every poll (${polls.length} polls)`);
    assert.ok(polls[0].t < t0 && polls.at(-1).t > t0 + (back ?? 0), 'the polls cover the kill and the restart');
    assert.notEqual(back, null, `receiver-2 answers again:\n${run.out().slice(-4000)}`);
    assert.ok(back < RESTART_BOUND_MS, `receiver-2 answered again after ${back} ms (bound ${RESTART_BOUND_MS} ms)`);
    console.log(`# receiver-2 back after ${back} ms; receiver-1 answered ${polls.length} polls, slowest ${Math.max(...polls.map((p) => p.ms))} ms`);

    const newPid = listenerPid(r2);
    assert.equal(comm(newPid), 'chatd');
    await run.waitFor(new RegExp(`\\[run-all\\] receiver-2 restarted \\(pid ${newPid}, restart #1\\)`), 5000);
    assert.match(run.out(), new RegExp(`\\[run-all\\] receiver-2 \\(pid ${victim}\\) killed by signal 9 \\(KILL\\) after \\d+ s up; restart #1 in [0-9.]+ s`));
    for (const p of sys.chatdPorts) {
      if (p !== r2) assert.equal(listenerPid(p), before[p], `the process on port ${p} was left alone`);
    }

    // Redis, then PostgreSQL go away: reported, nothing stops
    const rpid = pidFile(path.join(sys.data, 'redis/redis.pid'));
    assert.ok(rpid);
    process.kill(rpid, 'SIGTERM');
    await run.waitFor(/\[run-all\] Redis \(127\.0\.0\.1:\d+\) is gone/, 10000);
    const ppid = pidFile(path.join(sys.data, 'pg/postmaster.pid'));
    assert.ok(ppid);
    process.kill(ppid, 'SIGINT'); // fast shutdown
    await run.waitFor(/\[run-all\] PostgreSQL \(127\.0\.0\.1:\d+\) is gone/, 15000);
    assert.ok(run.alive(), 'run-all still runs');
    for (const p of sys.chatdPorts) assert.ok(await healthy(p) || p === sys.web, `port ${p} still answers /healthz`);
    assert.equal((await fetch(`http://127.0.0.1:${sys.web}/config.json`)).status, 200);
    const ready = await fetch(`http://127.0.0.1:${r1}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /redis/);
    const deaths = run.out().match(/^\[run-all\] \S+ \(pid \d+\) (killed by|exited with)/gm) || [];
    assert.equal(deaths.length, 1, 'no process died but the one killed');

    // SIGTERM to run-all alone: chatd drain first, then web, then the rest
    process.kill(run.proc.pid, 'SIGTERM');
    const st = (await Promise.race([run.exited, deadline(STOP_MS)])) ?? { code: 'timeout' };
    assert.equal(st.code, 143, run.out().slice(-4000));
    const out = run.out();
    const at = (re) => {
      const m = re.exec(out);
      assert.ok(m, `${re} in the log`);
      return m.index;
    };
    const byes = [...out.matchAll(/^\[(user|sender|receiver)-\d\] .*info main bye$/gm)].map((m) => m.index);
    assert.equal(byes.length, 6, 'six chatd drained and said bye');
    const stopChatd = at(/\[run-all\] stopping: chatd first/);
    const stopWeb = at(/\[run-all\] stopping the web server/);
    assert.ok(byes.every((i) => i > stopChatd && i < stopWeb), 'every chatd said bye before the web server was stopped');
    assert.ok(stopWeb < at(/\[run-all\] stopped$/m));
    assert.doesNotMatch(out, /still running after/, 'nothing needed a KILL');
    for (const p of sys.chatdPorts) assert.equal(listenerPid(p), null, `nothing listens on ${p}`);
  } finally {
    await sys.reap();
  }
});
