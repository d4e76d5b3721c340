// The check of a running `make run-cluster` (scripts/run-cluster-check starts
// and stops it; not part of make test). Everything goes through HAProxy:
// two users created and signed in on :4010, a chat and messages sent on
// :4020, received over graphql-ws on :4050. Then the receiver holding the
// WebSocket is found (its chatd_connections{transport="ws"} gauge) and killed
// with SIGKILL; two messages are sent while the client is cut off; the client
// reconnects through :4050 (HAProxy sends it to the other receiver) and
// resubscribes with afterSeq = the last seq it saw: it must get exactly the
// missed messages, in order, no duplicate, then a live one.
//   node tests/integration/run-cluster-check.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { execFileSync } from 'node:child_process';

const host = '127.0.0.1';
const LB = { user: 4010, sender: 4020, receiver: 4050 };
const RECEIVERS = [4005, 4006];
const WAIT_MS = 30000; // any single step (start-up, delivery, reconnect)
const sfx = Date.now().toString(36);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (m) => console.log(`run-cluster-check: ${m}`);
const fail = (msg) => {
  console.error(`run-cluster-check: FAILED: ${msg}`);
  process.exit(1);
};

async function gql(port, query, variables, token) {
  const r = await fetch(`http://${host}:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) fail(`${query.slice(0, 40)} on :${port}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function ready(port) {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(`http://${host}:${port}/readyz`);
      if (r.ok) return await r.text();
    } catch {}
    if (Date.now() - t0 > WAIT_MS) fail(`:${port}/readyz not 200 after ${WAIT_MS} ms`);
    await sleep(250);
  }
}

async function wsCount(port) {
  try {
    const t = await (await fetch(`http://${host}:${port}/metrics`)).text();
    const m = /^chatd_connections\{transport="ws"\} (\d+)$/m.exec(t);
    return m ? Number(m[1]) : 0;
  } catch {
    return -1; // down
  }
}

function listenerPid(port) {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  if (!m) fail(`no process listens on :${port}: ${out}`);
  return Number(m[1]);
}

for (const p of Object.values(LB)) await ready(p);
say(`HAProxy :4010 :4020 :4050 answer /readyz 200; receiver says: ${JSON.stringify(await ready(LB.receiver))}`);

const PW = 'Run-cluster-42';
const newUser = async (name) =>
  (await gql(LB.user, 'mutation($i: CreateUserInput!) { createUser(createUserInput: $i) { id } }', {
    i: { username: name, email: `${name}@example.com`, password: PW },
  })).createUser.id;
const login = async (name) =>
  (await gql(LB.user, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: name, p: PW })).login.token;
const a = `rc_a_${sfx}`;
const b = `rc_b_${sfx}`;
const aId = await newUser(a);
const bId = await newUser(b);
const aTok = await login(a);
const bTok = await login(b);
const chat = (await gql(LB.sender, 'mutation($i: CreateChatInput!) { createChat(createChatInput: $i) { id } }',
  { i: { name: `cluster ${sfx}`, participantIds: [aId, bId] } }, aTok)).createChat;
const send = async (content) =>
  gql(LB.sender, 'mutation($i: CreateMessageInput!) { createMessage(createMessageInput: $i) { id } }',
    { i: { chatId: chat.id, senderId: aId, content } }, aTok);
say(`users ${a}, ${b} created and signed in on :4010; chat ${chat.id} created on :4020`);

// One subscription on a fresh graphql-ws client through :4050, from afterSeq;
// every message event goes to `got` ({seq, content}); resolves once acked.
const got = [];
let lastSeq = 0;
function subscribe(afterSeq) {
  const client = createClient({
    url: `ws://${host}:${LB.receiver}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authToken: bTok },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {}, // reported through the sink's error
  });
  const state = { client, closed: false, error: null };
  client.on('closed', (ev) => {
    state.closed = true;
    state.code = ev && ev.code;
  });
  client.subscribe(
    { query: 'subscription($c: ID!, $s: Int) { chatEvents(chatId: $c, afterSeq: $s) { seq kind message { content } } }', variables: { c: chat.id, s: afterSeq } },
    {
      next: (r) => {
        if (r.errors) state.error = JSON.stringify(r.errors);
        const ev = r.data && r.data.chatEvents;
        if (!ev) return;
        lastSeq = Math.max(lastSeq, ev.seq);
        if (ev.message) got.push({ seq: ev.seq, content: ev.message.content });
      },
      error: (e) => (state.error = e && e.message ? e.message : String(e && e.code ? `close ${e.code}` : e)),
      complete: () => {},
    },
  );
  return state;
}
async function until(cond, what) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > WAIT_MS) fail(`${what}: got ${JSON.stringify(got)}`);
    await sleep(50);
  }
}
const contents = () => got.map((g) => g.content);

await send(`m1 ${sfx}`);
let sub = subscribe(0);
await until(() => got.length === 1, 'm1 replayed from afterSeq 0');
await send(`m2 ${sfx}`);
await until(() => got.length === 2, 'm2 live');
const counts = await Promise.all(RECEIVERS.map(wsCount));
const victimPort = RECEIVERS[counts.indexOf(Math.max(...counts))];
if (Math.max(...counts) < 1) fail(`no receiver reports our WebSocket: ${counts}`);
say(`subscribed through :4050 — HAProxy put the WebSocket on receiver :${victimPort} (ws gauges ${RECEIVERS.map((p, i) => `:${p}=${counts[i]}`).join(' ')}); m1 (replay) and m2 (live) received`);

// Takes the receiver holding the socket away with `signal`, sends two
// messages meanwhile, reconnects through :4050 and resumes with afterSeq.
async function loseReceiver(victim, signal) {
  const other = RECEIVERS.find((p) => p !== victim);
  const pid = listenerPid(victim);
  const n = got.length;
  process.kill(pid, signal);
  const killedAt = Date.now();
  say(`${signal} receiver :${victim} (pid ${pid}); last seq seen ${lastSeq}`);
  await until(() => sub.closed, 'the client notices its receiver going away');
  say(`client's socket closed after ${Date.now() - killedAt} ms with code ${sub.code}`);
  if (signal === 'SIGTERM' && sub.code !== 1001) fail(`a draining receiver closes with 1001, got ${sub.code}`);
  await send(`m${n + 1} ${sfx}`);
  await send(`m${n + 2} ${sfx}`);
  say(`m${n + 1}, m${n + 2} sent on :4020 while the client is disconnected`);
  const resumeFrom = lastSeq;
  let attempt = 0;
  for (;;) {
    attempt++;
    sub = subscribe(resumeFrom);
    const t0 = Date.now();
    while (!sub.closed && got.length < n + 2 && Date.now() - t0 < 5000) await sleep(50);
    if (got.length >= n + 2) break;
    if (attempt >= 10) fail(`no resume after ${attempt} attempts (last: ${sub.error})`);
    say(`reconnect attempt ${attempt} failed (${sub.error || 'closed'}), retrying`);
    await sub.client.dispose();
    await sleep(500);
  }
  const after = await Promise.all(RECEIVERS.map(wsCount));
  say(`reconnected through :4050 on attempt ${attempt}, ${Date.now() - killedAt} ms after the ${signal}, resumed with afterSeq ${resumeFrom}; ws gauges now ${RECEIVERS.map((p, i) => `:${p}=${after[i]}`).join(' ')}`);
  if (!(after[RECEIVERS.indexOf(other)] >= 1)) fail(`the resumed socket is not on receiver :${other}`);
  await send(`m${n + 3} ${sfx}`);
  await until(() => got.length === n + 3, `m${n + 3} live after the resume`);
  await sleep(500); // a duplicate would arrive now
  const want = Array.from({ length: n + 3 }, (_, i) => `m${i + 1} ${sfx}`);
  if (JSON.stringify(contents()) !== JSON.stringify(want)) fail(`delivered ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  const seqs = got.map((g) => g.seq);
  if (seqs.some((q, i) => i > 0 && q <= seqs[i - 1])) fail(`seqs not increasing: ${seqs}`);
  say(`delivered exactly once, in order: ${contents().join(', ')} (seqs ${seqs.join(',')})`);
  return other;
}

// 1. crash: SIGKILL of the receiver behind the socket
const survivor = await loseReceiver(victimPort, 'SIGKILL');
// 2. drain: run-all restarted the killed one; once HAProxy has it up again
// (rise 2 × 500 ms), SIGTERM the survivor: /readyz 503, listener closed,
// WebSockets closed with 1001 — the client lands on the restarted one
await ready(victimPort);
await sleep(2000);
await loseReceiver(survivor, 'SIGTERM');
await sub.client.dispose();
say('ok');
process.exit(0);
