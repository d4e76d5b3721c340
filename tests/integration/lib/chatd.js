// Helpers shared by the integration suites: start a real chatd process on an
// ephemeral port, wait until it listens, stop it with SIGTERM and collect its
// exit status; sign HS256 tokens; small HTTP and raw-WebSocket helpers.
//
// CHATD_BIN (default ../../build/debug/chatd) selects the binary; the
// database and broker come from CHATD_TEST_DATABASE_URL / CHATD_TEST_REDIS_URL
// when the caller passes { db: true } / { redis: true }.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const chatdBin = process.env.CHATD_BIN || path.join(repoRoot, 'build/debug/chatd');
export const JWT_SECRET = 'integration-test-secret-0123456789';
export const GQLWS = 'graphql-transport-ws';

// Every chatd this process started is killed if the test process exits
// without stopping it (a crashed suite must not leave servers behind).
const live = new Set();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/**
 * Starts chatd. opts: { role, env, args, db, redis, fixtures (default true),
 * auth ('token' default | 'trust'), bin (default chatdBin) }. Resolves to { url, wsUrl, port, proc,
 * stop(), logs() } once the process logs its listening line.
 */
export async function startChatd(opts = {}) {
  const env = {
    PATH: process.env.PATH,
    CHATD_PORT: '0',
    CHATD_LOG_LEVEL: process.env.CHATD_TEST_LOG_LEVEL || 'info',
    // readable logs in failure messages; logs.test.js checks the JSON default
    CHATD_LOG_FORMAT: 'text',
    CHATD_AUTH: opts.auth || 'token',
    CHATD_JWT_SECRET: JWT_SECRET,
    CHATD_TEST_FIXTURES: opts.fixtures === false ? '0' : '1',
    CHATD_SCHEMA: path.join(repoRoot, 'schema/chat.graphql'),
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1',
    ...(opts.db && process.env.CHATD_TEST_DATABASE_URL
      ? { DATABASE_URL: process.env.CHATD_TEST_DATABASE_URL }
      : {}),
    ...(opts.redis && process.env.CHATD_TEST_REDIS_URL
      ? { REDIS_URL: process.env.CHATD_TEST_REDIS_URL }
      : {}),
    ...(opts.env || {}),
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const args = ['--role', opts.role || 'all', ...(opts.args || [])];
  const proc = spawn(opts.bin || chatdBin, args, { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chatd did not start:\n${out}`)), 15000);
    const check = () => {
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stderr.on('data', check);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`chatd exited with ${code} before listening:\n${out}`));
    });
  });
  const host = '127.0.0.1';
  return {
    port,
    proc,
    url: `http://${host}:${port}/graphql`,
    base: `http://${host}:${port}`,
    wsUrl: `ws://${host}:${port}/graphql`,
    logs: () => out,
    exited,
    /** SIGTERM, then wait; resolves to { code, signal }. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** The psql of the testenv's PostgreSQL (CHATD_TEST_PG_BIN), else the one on PATH. */
export const psqlBin = process.env.CHATD_TEST_PG_BIN ? path.join(process.env.CHATD_TEST_PG_BIN, 'psql') : 'psql';

/** One SQL text against the shared test database (CHATD_TEST_DATABASE_URL, psql -c); its unaligned output. */
export function sql(statement) {
  return execFileSync(psqlBin, [process.env.CHATD_TEST_DATABASE_URL, '-XAtq', '-c', statement], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  }).trim();
}

/**
 * A database of the suite's own on the test cluster (empty: a chatd started
 * with env { DATABASE_URL: url } applies the migrations), for tests whose
 * premise the other suites sharing CHATD_TEST_DATABASE_URL would disturb
 * (their senders' background work, the statistics of its tables).
 * Returns { url, sql(statements) → trimmed output, drop() }.
 */
export function ownDatabase(prefix) {
  // statements on stdin: each runs on its own (BEGIN/COMMIT work), in one session
  const run = (url, statements) =>
    execFileSync(psqlBin, [url, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { input: statements, encoding: 'utf8' }).trim();
  const name = `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
  const admin = process.env.CHATD_TEST_DATABASE_URL;
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const url = u.toString();
  run(admin, `CREATE DATABASE ${name}`);
  return { url, sql: (statement) => run(url, statement), drop: () => run(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Runs chatd expecting it to fail at start; resolves { code, output }. */
export function runChatdExpectExit(args, env) {
  return new Promise((resolve) => {
    const proc = spawn(chatdBin, args, {
      env: { PATH: process.env.PATH, CHATD_SCHEMA: path.join(repoRoot, 'schema/chat.graphql'), ...env },
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    proc.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
  });
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** HS256 JWT with sub/username/iat/exp (as src/auth issues them). */
export function signToken({ sub, username = 'tester', ttl = 3600, secret = JWT_SECRET, alg = 'HS256' }) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ sub, username, iat: now, exp: now + ttl }));
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${sig}`;
}

/** POSTs a GraphQL request; resolves { status, headers, body (parsed or text) }. */
export async function gqlPost(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * Opens a raw WebSocket with the graphql-transport-ws subprotocol and
 * records every message and the close. Returns helpers to send and await.
 */
export function rawWs(wsUrl, { protocols = [GQLWS], headers, options = {} } = {}) {
  const ws = new WebSocket(wsUrl, protocols, { ...(headers ? { headers } : {}), ...options });
  const messages = [];
  const waiters = [];
  let closed = null;
  const closeWaiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    messages.push(msg);
    for (const w of [...waiters]) {
      if (w.pred(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    }
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    for (const w of closeWaiters) w(closed);
    for (const w of waiters) w.reject(new Error(`closed ${code} ${reason} while waiting`));
  });
  ws.on('error', () => {});
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    opened,
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    next(pred = () => true, timeoutMs = 5000) {
      const found = messages.find(pred);
      if (found) {
        messages.splice(messages.indexOf(found), 1);
        return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (m) => {
            clearTimeout(t);
            messages.splice(messages.indexOf(m), 1);
            resolve(m);
          },
          reject,
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timeout waiting for message; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    closedWith(timeoutMs = 5000) {
      if (closed) return Promise.resolve(closed);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timeout waiting for close')), timeoutMs);
        closeWaiters.push((c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
    },
    close: () => ws.close(),
  };
}

/** Opens a raw socket and completes connection_init → connection_ack. */
export async function initedWs(wsUrl, payload) {
  const c = rawWs(wsUrl);
  await c.opened;
  c.send(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });
  await c.next((m) => m.type === 'connection_ack');
  return c;
}
