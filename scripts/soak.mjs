#!/usr/bin/env node
// soak — `make soak` (not part of `make test`): the whole system as `make run`
// starts it (scripts/run-all: Postgres, Redis, 2 × user, 2 × sender,
// 2 × receiver, Release build) in a scratch data directory on free ports,
// under SOAK_MINUTES (default 30) of mixed load: sign-ins (login through the
// user role), sends (createMessage through both senders), reads (messages,
// chats on the receivers), short-lived subscriptions, and followers of every
// chat's event stream that reconnect now and then (afterSeq = the last seq they
// saw). At the end:
//   - every follower's stream equals the chat_events log (the delivery
//     checker's rule: no loss, no duplicate, no reordering);
//   - RSS, open files (/proc/<pid>/fd) and Postgres connections of every chatd
//     process grew less than SOAK_MAX_GROWTH (5%) from the end of the warm-up
//     (SOAK_WARMUP, 20% of the run) to the end: each compared as the median
//     of the samples in the first and last SOAK_WINDOW (10%) of the measured
//     part, so one sample taken during a reconnect does not decide (Postgres
//     connections: the process's established sockets to the Postgres port,
//     from `ss -tnp`).
// Results: bench/results/soak.json (SOAK_OUT overrides), rendered by
// bench/report.py as the "Soak" section. Exit status 0 only when it passed.
// The machine may be shared: this is a leak and correctness check, the load is
// modest and fixed (SOAK_RATE messages per second in all).
import { spawn, execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests/integration/package.json'));
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');

const MINUTES = Number(process.env.SOAK_MINUTES || 30);
const WARMUP = Number(process.env.SOAK_WARMUP || 0.2);
const WINDOW = Number(process.env.SOAK_WINDOW || 0.1);
const MAX_GROWTH = Number(process.env.SOAK_MAX_GROWTH || 0.05);
const RATE = Number(process.env.SOAK_RATE || 20); // messages per second, all writers
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS || 5000);
const OUT = process.env.SOAK_OUT || path.join(ROOT, 'bench/results/soak.json');
const BIN = process.env.CHATD_BIN || path.join(ROOT, 'build/release/chatd');
const USERS = 12;
const CHATS = 4;
const FOLLOWERS_PER_RECEIVER = 2; // per chat
const PASSWORD = 'soak-password-1234';

const execFileP = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function pgBin() {
  for (const v of [15, 16, 17, 14]) if (existsSync(`/usr/lib/postgresql/${v}/bin/psql`)) return `/usr/lib/postgresql/${v}/bin`;
  return '';
}

// ---------------------------------------------------------------- the system
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chatd-soak-'));
const ports = {};
// distinct: the kernel may hand out a port again once its probe socket closed
const taken = new Set();
for (const k of ['u1', 'u2', 's1', 's2', 'r1', 'r2', 'web', 'pg', 'redis']) {
  let p;
  do p = await freePort();
  while (taken.has(p));
  taken.add(p);
  ports[k] = p;
}
const PROCS = [
  { name: 'user-1', role: 'user', port: ports.u1 },
  { name: 'user-2', role: 'user', port: ports.u2 },
  { name: 'sender-1', role: 'sender', port: ports.s1 },
  { name: 'sender-2', role: 'sender', port: ports.s2 },
  { name: 'receiver-1', role: 'receiver', port: ports.r1 },
  { name: 'receiver-2', role: 'receiver', port: ports.r2 },
];
for (const p of PROCS) {
  p.url = `http://127.0.0.1:${p.port}/graphql`;
  p.wsUrl = `ws://127.0.0.1:${p.port}/graphql`;
}
const byRole = (r) => PROCS.filter((p) => p.role === r);

let runAllOut = '';
const runAll = spawn(path.join(ROOT, 'scripts/run-all'), [], {
  cwd: ROOT,
  env: {
    ...process.env,
    CHATD_BIN: BIN,
    CHATD_DATA_DIR: dataDir,
    CHATD_USER_PORTS: `${ports.u1} ${ports.u2}`,
    CHATD_SENDER_PORTS: `${ports.s1} ${ports.s2}`,
    CHATD_RECEIVER_PORTS: `${ports.r1} ${ports.r2}`,
    CHATD_WEB_PORT: String(ports.web),
    CHATD_PG_PORT: String(ports.pg),
    CHATD_REDIS_PORT: String(ports.redis),
    CHATD_LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
runAll.stdout.on('data', (d) => (runAllOut += d));
runAll.stderr.on('data', (d) => (runAllOut += d));
const runAllExit = new Promise((r) => runAll.on('exit', (code, sig) => r({ code, sig })));
let stopping = false;
async function stopSystem() {
  if (stopping) return runAllExit;
  stopping = true;
  runAll.kill('SIGTERM');
  const t = setTimeout(() => runAll.kill('SIGKILL'), 60000);
  const r = await runAllExit;
  clearTimeout(t);
  return r;
}
process.on('SIGINT', async () => {
  await stopSystem();
  process.exit(130);
});

{
  const deadline = Date.now() + 600000;
  while (!/\[run-all\] ready:/.test(runAllOut)) {
    if (runAll.exitCode !== null || Date.now() > deadline) {
      console.error(runAllOut.slice(-4000));
      throw new Error('run-all did not become ready');
    }
    await sleep(200);
  }
}
log(`system ready (data ${dataDir})`);
const SECRET = readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
const DB_URL = `postgres://chatd@127.0.0.1:${ports.pg}/chatd`;
const PSQL = path.join(pgBin(), 'psql');
const sql = (q) => execFileSync(PSQL, [DB_URL, '-XAtq', '-c', q], { encoding: 'utf8' }).trim();

// the chatd process of each port: its pid (a process of BIN with --port P)
for (const p of PROCS) {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = cmd.indexOf('--port');
    if (i > 0 && cmd[i + 1] === String(p.port) && path.basename(cmd[0]) === 'chatd') p.pid = Number(d);
  }
  if (!p.pid) throw new Error(`no pid for ${p.name}`);
}

// ---------------------------------------------------------------- sampling
// Postgres connections per process: `ss` (netlink, filtered in the kernel:
// reading /proc/net/tcp on a machine holding 100k sockets takes seconds)
async function pgConnsByPid() {
  const { stdout } = await execFileP('ss', ['-Htnp', 'state', 'established', `dport = :${ports.pg}`], { maxBuffer: 64 << 20 });
  const n = new Map();
  for (const m of stdout.matchAll(/pid=(\d+),fd=\d+/g)) n.set(Number(m[1]), (n.get(Number(m[1])) || 0) + 1);
  return n;
}
function sampleProc(p, pgConns) {
  const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const fds = readdirSync(`/proc/${p.pid}/fd`).length;
  return { rssKb, fds, pg: pgConns.get(p.pid) || 0 };
}
const samples = []; // { t (s since start), procs: { name: {rssKb, fds, pg} } }
const t0 = Date.now();
async function sample() {
  const pgConns = await pgConnsByPid();
  const procs = {};
  for (const p of PROCS) {
    try {
      procs[p.name] = sampleProc(p, pgConns);
    } catch (e) {
      procs[p.name] = { gone: String(e.message) };
    }
  }
  samples.push({ t: (Date.now() - t0) / 1000, procs });
}

// ---------------------------------------------------------------- clients
async function gql(srv, query, variables, token) {
  const res = await fetch(srv.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const stats = { sent: 0, sendErrors: 0, reads: 0, readErrors: 0, signins: 0, signinErrors: 0, subscribes: 0, subscribeErrors: 0, reconnects: 0, rateLimited: 0 };
const errorSamples = [];
const noteError = (what, b) => {
  if (errorSamples.length < 20) errorSamples.push({ what, error: JSON.stringify(b).slice(0, 300) });
};

const CREATE_USER = 'mutation($in: CreateUserInput!) { createUser(createUserInput: $in) { id } }';
const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { id } } }';
const CREATE_CHAT = 'mutation($in: CreateChatInput!) { createChat(createChatInput: $in) { id lastSeq } }';
const CREATE_MSG = 'mutation($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id seq } }';
const MESSAGES = 'query($c: ID!) { messages(chatId: $c, limit: 50) { id seq content } }';
const CHATS_Q = '{ chats { id lastSeq unreadCount } }';
const EVENTS = 'subscription E($c: ID!, $a: Int) { chatEvents(chatId: $c, afterSeq: $a) { chatId seq kind } }';

const tag = Date.now().toString(36);
const users = [];
for (let i = 0; i < USERS; i++) {
  const username = `soak${tag}${i}`;
  const b = await gql(pick(byRole('user')), CREATE_USER, { in: { username, email: `${username}@example.com`, password: PASSWORD } });
  if (b.errors) throw new Error(`createUser: ${JSON.stringify(b.errors)}`);
  const l = await gql(pick(byRole('user')), LOGIN, { u: username, p: PASSWORD });
  if (l.errors) throw new Error(`login: ${JSON.stringify(l.errors)}`);
  users.push({ id: b.data.createUser.id, username, token: l.data.login.token });
}
const chats = [];
for (let i = 0; i < CHATS; i++) {
  const b = await gql(byRole('sender')[0], CREATE_CHAT, { in: { name: `soak ${i}`, chatType: 'group', participantIds: users.slice(1).map((u) => u.id) } }, users[0].token);
  if (b.errors) throw new Error(`createChat: ${JSON.stringify(b.errors)}`);
  chats.push(b.data.createChat);
}
log(`${users.length} users, ${chats.length} chats`);

// followers: each chat followed on each receiver; one reconnects now and then
function follower(user, chat, receiver) {
  const f = { user, chatId: chat.id, from: chat.lastSeq, seqs: [], kinds: [], errors: [], drops: [], receiver, client: null, gen: 0, stopped: false };
  f.attach = () => {
    const gen = ++f.gen;
    const after = f.seqs.length ? f.seqs.at(-1) : f.from;
    f.client = createClient({
      url: f.receiver.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authToken: f.user.token },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => {},
    });
    f.client.subscribe({ query: EVENTS, variables: { c: f.chatId, a: after } }, {
      next: (v) => {
        // a connection being replaced may still hand over a frame it had read;
        // the new one resumes after the last seq seen, so only it counts
        if (gen !== f.gen) return;
        if (v.errors) f.errors.push(v.errors[0]);
        else {
          f.seqs.push(v.data.chatEvents.seq);
          f.kinds.push(v.data.chatEvents.kind);
        }
      },
      // a dropped connection is resumed from the last seq, as a client does
      // (the drop is reported; the stream must still equal the log)
      error: (e) => {
        if (gen !== f.gen || f.stopped) return;
        f.drops.push(String(e?.message || e?.reason || e?.code || e));
        setTimeout(() => {
          if (gen === f.gen && !f.stopped) f.attach();
        }, 500);
      },
      complete: () => {},
    });
  };
  f.attach();
  return f;
}
const followers = [];
for (const chat of chats)
  for (const r of byRole('receiver'))
    for (let k = 0; k < FOLLOWERS_PER_RECEIVER; k++) followers.push(follower(users[USERS - 1 - k], chat, r));
await sleep(2000);

// ---------------------------------------------------------------- the load
const endAt = t0 + MINUTES * 60000;
let running = true;
const tasks = [];
const loop = (fn, everyMs) => tasks.push((async () => {
  while (running && Date.now() < endAt) {
    const t = Date.now();
    try {
      await fn();
    } catch (e) {
      noteError('exception', String(e));
    }
    await sleep(Math.max(0, everyMs - (Date.now() - t)));
  }
})());

// sends: USERS - 2 writers (the last two are followers only), RATE in all
const writers = users.slice(0, USERS - 2);
writers.forEach((u, w) => {
  let i = 0;
  loop(async () => {
    const chat = chats[(w + i) % CHATS];
    const clientId = `soak-${w}-${i++}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      const b = await gql(pick(byRole('sender')), CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content: `w${w} ${clientId}`, clientId } }, u.token).catch((e) => ({ errors: [{ message: String(e) }] }));
      if (!b.errors) {
        stats.sent++;
        return;
      }
      stats.sendErrors++;
      if (b.errors[0]?.extensions?.code === 'RATE_LIMITED') stats.rateLimited++;
      noteError('send', b);
      await sleep(250);
    }
  }, (1000 * writers.length) / RATE);
});
// reads
loop(async () => {
  const u = pick(users);
  const r = pick(byRole('receiver'));
  const b = Math.random() < 0.5 ? await gql(r, MESSAGES, { c: pick(chats).id }, u.token) : await gql(r, CHATS_Q, {}, u.token);
  if (b.errors) {
    stats.readErrors++;
    noteError('read', b);
  } else stats.reads++;
}, 200);
// sign-ins (argon2id each)
loop(async () => {
  const u = pick(users);
  const b = await gql(pick(byRole('user')), LOGIN, { u: u.username, p: PASSWORD });
  if (b.errors) {
    stats.signinErrors++;
    noteError('login', b);
  } else {
    stats.signins++;
    u.token = b.data.login.token; // fresh tokens for the next connections
  }
}, 2000);
// short-lived subscriptions: subscribe, take what comes for a moment, leave
loop(async () => {
  const u = pick(users.slice(1));
  const client = createClient({ url: pick(byRole('receiver')).wsUrl, webSocketImpl: WebSocket, connectionParams: { authToken: u.token }, retryAttempts: 0, lazy: false, onNonLazyError: () => {} });
  let failed = false;
  const stop = client.subscribe({ query: EVENTS, variables: { c: pick(chats).id } }, { next: () => {}, error: () => { failed = true; }, complete: () => {} });
  await sleep(1500);
  stop();
  await client.dispose();
  if (failed) stats.subscribeErrors++;
  else stats.subscribes++;
}, 1000);
// reconnects: one follower closes and resumes on the same receiver from its last seq
loop(async () => {
  const f = pick(followers);
  f.gen++; // what the old connection reports now is not a drop
  await f.client.dispose();
  f.user = users.find((u) => u.id === f.user.id); // its newest token
  f.attach();
  stats.reconnects++;
}, 5000);
// samples
loop(() => sample(), SAMPLE_MS);

const progress = setInterval(() => log(`${Math.round((Date.now() - t0) / 1000)} s: ${JSON.stringify(stats)}`), 60000);
await Promise.all(tasks);
running = false;
clearInterval(progress);
await sample();
log(`load done: ${JSON.stringify(stats)}`);

// ---------------------------------------------------------------- checks
const want = new Map();
for (const chat of chats) {
  const rows = sql(`SELECT seq, kind FROM chat_events WHERE chat_id = '${chat.id}' AND seq > ${chat.lastSeq} ORDER BY seq`).split('\n').filter(Boolean).map((l) => l.split('|'));
  want.set(chat.id, { seqs: rows.map((r) => Number(r[0])), kinds: rows.map((r) => r[1]) });
}
const catchUp = Date.now() + 60000;
for (const f of followers) while (f.seqs.length < want.get(f.chatId).seqs.length && Date.now() < catchUp) await sleep(100);
await sleep(1000); // a late duplicate would show up here
const streamProblems = [];
for (const f of followers) {
  const w = want.get(f.chatId);
  const same = f.seqs.length === w.seqs.length && f.seqs.every((s, i) => s === w.seqs[i]) && f.kinds.every((k, i) => k === w.kinds[i]);
  if (!same || f.errors.length) {
    const firstDiff = f.seqs.findIndex((s, i) => s !== w.seqs[i]);
    streamProblems.push({ chat: f.chatId, receiver: f.receiver.name, got: f.seqs.length, want: w.seqs.length, firstDiff, errors: f.errors.slice(0, 3), drops: f.drops.slice(0, 3), around: f.seqs.slice(Math.max(0, firstDiff - 3), firstDiff + 3), wantAround: w.seqs.slice(Math.max(0, firstDiff - 3), firstDiff + 3) });
  }
}
for (const f of followers) {
  f.stopped = true;
  await f.client.dispose();
}
const drops = followers.reduce((n, f) => n + f.drops.length, 0);
const events = [...want.values()].reduce((n, w) => n + w.seqs.length, 0);

// growth: medians of the first and the last window after the warm-up
const total = samples.at(-1).t;
const from = total * WARMUP;
const win = Math.max(total * WINDOW, (SAMPLE_MS / 1000) * 3);
const base = samples.filter((s) => s.t >= from && s.t < from + win);
const last = samples.filter((s) => s.t > total - win);
const processes = PROCS.map((p) => {
  const m = (set, k) => median(set.map((s) => s.procs[p.name]?.[k]).filter((x) => typeof x === 'number'));
  const out = { name: p.name, role: p.role, pid: p.pid, base: {}, end: {}, growth: {}, ok: true };
  for (const k of ['rssKb', 'fds', 'pg']) {
    out.base[k] = m(base, k);
    out.end[k] = m(last, k);
    out.growth[k] = out.base[k] ? (out.end[k] - out.base[k]) / out.base[k] : out.end[k] ? Infinity : 0;
    if (!(out.growth[k] < MAX_GROWTH)) out.ok = false;
  }
  if (samples.some((s) => s.procs[p.name]?.gone)) out.ok = false;
  return out;
});

const sys = await stopSystem();
const commit = git('rev-parse', 'HEAD');
let dirty = '';
try {
  dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' });
} catch {}
const result = {
  kind: 'soak',
  commit,
  dirty: dirty.split('\n').filter(Boolean).map((l) => l.slice(3)).filter((f) => f !== path.relative(ROOT, OUT)),
  started: new Date(t0).toISOString(),
  finished: new Date().toISOString(),
  minutes: MINUTES,
  warmup: WARMUP,
  window: WINDOW,
  maxGrowth: MAX_GROWTH,
  rate: RATE,
  sampleMs: SAMPLE_MS,
  machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memKb: Math.round(os.totalmem() / 1024), loadavg: os.loadavg().map((x) => x.toFixed(2)) },
  setup: { users: USERS, chats: CHATS, followers: followers.length, writers: writers.length },
  load: stats,
  errorSamples,
  streams: { followers: followers.length, events, drops, dropSamples: followers.flatMap((f) => f.drops).slice(0, 10), problems: streamProblems, ok: streamProblems.length === 0 },
  processes,
  samples,
  runAllExit: sys,
};
// a healthy system answers nearly everything: at most MAX_ERROR_SHARE of each
// kind of operation may fail (rate limits count as failures too)
const MAX_ERROR_SHARE = 0.01;
result.errorShares = Object.fromEntries(
  ['send', 'read', 'signin', 'subscribe'].map((k) => {
    const ok = stats[k === 'send' ? 'sent' : `${k}s`], bad = stats[`${k}Errors`];
    return [k, ok + bad ? bad / (ok + bad) : 0];
  }),
);
result.errorsOk = Object.values(result.errorShares).every((x) => x <= MAX_ERROR_SHARE);
result.ok = result.streams.ok && processes.every((p) => p.ok) && stats.sent > 0 && result.errorsOk;
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
log(`streams: ${followers.length} followers over ${events} events: ${result.streams.ok ? 'every stream equals the log' : JSON.stringify(streamProblems.slice(0, 3))}`);
for (const p of processes) {
  log(`${p.name}: ${['rssKb', 'fds', 'pg'].map((k) => `${k} ${p.base[k]} → ${p.end[k]} (${(p.growth[k] * 100).toFixed(1)}%)`).join(', ')} ${p.ok ? 'ok' : 'GREW'}`);
}
log(`errors: ${Object.entries(result.errorShares).map(([k, x]) => `${k} ${(x * 100).toFixed(2)}%`).join(', ')} ${result.errorsOk ? 'ok' : `(more than ${MAX_ERROR_SHARE * 100}%)`}`);
log(`${result.ok ? 'PASSED' : 'FAILED'}; results in ${path.relative(ROOT, OUT)}`);
if (process.env.SOAK_KEEP_DATA !== '1') rmSync(dataDir, { recursive: true, force: true });
process.exit(result.ok ? 0 : 1);
