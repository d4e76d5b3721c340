// Helpers for the browser tests: start chatd processes (CHATD_BIN, default
// build/debug/chatd) on free ports against the testenv's Postgres + Redis,
// the web client's static server (web/serve.mjs) on a free port, and
// Debian's chromium through playwright-core (headless, no sandbox, fresh
// profile; nothing downloads a browser).
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const chatdBin = process.env.CHATD_BIN || path.join(repoRoot, 'build/debug/chatd');
export const CHROMIUM = process.env.CHATD_CHROMIUM || '/usr/bin/chromium';
const JWT_SECRET = 'e2e-test-secret-0123456789abcdef0123';

const live = new Set();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function waitFor(proc, re, what, ms = 20000) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), ms);
    const on = (d) => {
      out += d;
      if (re.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${out}`));
    });
  });
}

function track(proc, name) {
  live.add(proc);
  const logs = [];
  const keep = (d) => {
    logs.push(String(d));
    if (logs.length > 400) logs.shift();
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((r) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    r({ code, signal });
  }));
  return {
    name,
    proc,
    exited,
    logs: () => logs.join(''),
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

let filesDirPath = null;
/** CHATD_FILES_DIR of this test process's chatd (one throwaway directory). */
export function filesDir() {
  if (!filesDirPath) {
    filesDirPath = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-e2e-files-'));
    process.on('exit', () => fs.rmSync(filesDirPath, { recursive: true, force: true }));
  }
  return filesDirPath;
}

export async function startChatd(role, port, webOrigin) {
  const env = {
    PATH: process.env.PATH,
    CHATD_ROLE: role,
    CHATD_PORT: String(port),
    CHATD_AUTH: 'token',
    CHATD_JWT_SECRET: JWT_SECRET,
    CHATD_CORS_ORIGINS: webOrigin,
    CHATD_LOG_LEVEL: process.env.CHATD_TEST_LOG_LEVEL || 'info',
    CHATD_WS_PING_MS: '2000',
    CHATD_SCHEMA: path.join(repoRoot, 'schema/chat.graphql'),
    DATABASE_URL: process.env.CHATD_TEST_DATABASE_URL,
    REDIS_URL: process.env.CHATD_TEST_REDIS_URL,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0',
    // uploads (attachments.test.js): one throwaway directory per test process
    CHATD_FILES_DIR: filesDir(),
  };
  const proc = spawn(chatdBin, ['--role', role], { env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const h = track(proc, `${role}:${port}`);
  await waitFor(proc, /listening on [^\s]+:\d+/, `chatd ${role} on ${port}`);
  return { ...h, port };
}

/** 2 × user, 2 × sender, 2 × receiver + the web client. */
export async function startSystem() {
  const webPort = await freePort();
  const webOrigin = `http://localhost:${webPort}`;
  const ports = { user: [], sender: [], receiver: [] };
  const procs = { user: [], sender: [], receiver: [] };
  for (const role of ['user', 'sender', 'receiver']) {
    for (let i = 0; i < 2; i++) {
      const p = await freePort();
      ports[role].push(p);
      procs[role].push(await startChatd(role, p, webOrigin));
    }
  }
  const web = spawn(process.execPath, [path.join(repoRoot, 'web/serve.mjs'), '--port', String(webPort)], {
    env: { ...process.env, CHATD_WEB_CONFIG: JSON.stringify({ host: '127.0.0.1', ...ports }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const webH = track(web, 'web');
  await waitFor(web, /web client on/, 'web server');
  return {
    url: webOrigin,
    ports,
    procs,
    /** Stops everything; returns the sanitizer reports found in chatd's output. */
    async stop() {
      await webH.stop();
      const reports = [];
      for (const role of ['receiver', 'sender', 'user']) {
        for (const p of procs[role]) {
          await p.stop();
          if (/AddressSanitizer|runtime error:|LeakSanitizer/.test(p.logs())) reports.push(`${p.name}:\n${p.logs()}`);
        }
      }
      return reports;
    },
  };
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing (scripts/install-deps installs Debian's chromium)`);
  // launch() gives every run a fresh temporary profile (user-data-dir)
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Builds web/dist when missing or older than the sources. */
export function ensureWebBuilt() {
  const web = path.join(repoRoot, 'web');
  const dist = path.join(web, 'dist/index.html');
  const newest = (dir) => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return t;
  };
  const srcT = Math.max(newest(path.join(web, 'src')), fs.statSync(path.join(web, 'index.html')).mtimeMs);
  if (!fs.existsSync(dist) || fs.statSync(dist).mtimeMs < srcT) {
    // vite under the node running the tests (Node 18 or 20)
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit' });
  }
}

// build/e2e-screenshots by default (make test must not dirty the tree);
// CHATD_E2E_SCREENSHOTS=docs/screenshots refreshes the README's pictures
export const SHOTS = path.resolve(repoRoot, process.env.CHATD_E2E_SCREENSHOTS || 'build/e2e-screenshots');

/** Saves page's screenshot as SHOTS/<name>.png (none with CHATD_E2E_SCREENSHOTS=off). */
export async function shot(page, name) {
  if (process.env.CHATD_E2E_SCREENSHOTS === 'off') return;
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/**
 * One suite's system: before() builds the web client if needed, starts the
 * whole system (startSystem) and one browser; after() closes the browser,
 * stops the system and asserts that no chatd printed a sanitizer report.
 * Returns { sys, browser }, filled in by before().
 */
export function suiteSystem() {
  const S = { sys: null, browser: null };
  before(async () => {
    ensureWebBuilt();
    S.sys = await startSystem();
    S.browser = await launchBrowser();
    fs.mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    if (S.browser) await S.browser.close();
    if (S.sys) {
      const reports = await S.sys.stop();
      assert.deepEqual(reports, [], 'no sanitizer report from any chatd');
    }
  });
  return S;
}
