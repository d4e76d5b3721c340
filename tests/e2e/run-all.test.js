// `make run` (scripts/run-all) itself: on free ports and a temporary data
// directory it starts Postgres, Redis, the six chatd processes and the web
// server, prefixes every log line, serves /config.json with the ports, the
// roles answer; a Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) lets every chatd drain once and stops everything; a second run
// reuses the data (the user signed up before can still sign in); a busy port
// is refused with a message naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort, repoRoot, chatdBin } from './lib.js';

async function ports(n) {
  const out = new Set();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

function runAll(env) {
  const proc = spawn(path.join(repoRoot, 'scripts/run-all'), [], {
    env: { ...process.env, CHATD_BIN: chatdBin, ...env },
    detached: true, // own process group, like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const waitFor = (re, ms = 60000) =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        if (re.test(out)) return resolve();
        if (proc.exitCode !== null) return reject(new Error(`run-all exited:\n${out}`));
        if (Date.now() - t0 > ms) return reject(new Error(`timeout waiting for ${re}:\n${out}`));
        setTimeout(tick, 100);
      };
      tick();
    });
  return { proc, exited, waitFor, out: () => out };
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

test('scripts/run-all: six processes + web, prefixed logs, Ctrl-C stops all, data reused, busy port refused', { timeout: 180000 }, async () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-runall-'));
  const [u1, u2, s1, s2, r1, r2, web, pg, redis] = await ports(9);
  const env = {
    CHATD_DATA_DIR: data,
    CHATD_USER_PORTS: `${u1} ${u2}`,
    CHATD_SENDER_PORTS: `${s1} ${s2}`,
    CHATD_RECEIVER_PORTS: `${r1} ${r2}`,
    CHATD_WEB_PORT: String(web),
    CHATD_PG_PORT: String(pg),
    CHATD_REDIS_PORT: String(redis),
  };
  const all = [u1, u2, s1, s2, r1, r2, web];
  try {
    // first run
    let run = runAll(env);
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
    const busy = runAll(env);
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
    for (const p of all) assert.equal(await listening(p), false, `port ${p} released`);

    // second run reuses the data: the user signs in
    run = runAll(env);
    await run.waitFor(/\[run-all\] ready/);
    const login = await gql(u1, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: name, p: 'password-123' });
    assert.ok(login.data && login.data.login.token, JSON.stringify(login));
    process.kill(-run.proc.pid, 'SIGINT');
    assert.equal((await run.exited).code, 130);
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
});
