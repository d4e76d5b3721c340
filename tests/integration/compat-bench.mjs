// Benchmark of the seed-003 /ws API (docs/api.md, not part of make
// test): N seed-003 clients on one chatd, all joined to one of R rooms; one
// extra client per room sends messages at RATE msg/s for SECONDS; every
// delivery's send→receive latency is measured (the sender's timestamp rides
// in the message metadata; one process, one clock). Also reports chatd's RSS
// per connection and the time to connect + join everyone.
//   scripts/testenv run -- node tests/integration/compat-bench.mjs
// Env: CHATD_BIN, N (1000), R (10), RATE (20), SECONDS (10), JOIN=0 (connect
// only: RSS and time of authenticated, idle connections).
import WebSocket from 'ws';
import { readFileSync } from 'node:fs';
import { startChatd } from './lib/chatd.js';
import { makeUsers, createChat, sleep } from './lib/receiver-env.js';

const N = Number(process.env.N || 1000);
const R = Number(process.env.R || 10);
const RATE = Number(process.env.RATE || 20);
const SECONDS = Number(process.env.SECONDS || 10);

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const srv = await startChatd({ db: true, redis: true });
const users = makeUsers(N + R);
const rooms = [];
for (let r = 0; r < R; r++) {
  const members = users.filter((_, i) => i % R === r);
  rooms.push(await createChat(srv, members[0], members.slice(1), `bench${r}`));
}
const lat = [];
let delivered = 0;
function open(u, room) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/ws?token=${u.token}`);
    ws.on('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'connected' && process.env.JOIN === '0') resolve(ws);
      else if (m.type === 'connected') ws.send(JSON.stringify({ type: 'joinRoom', payload: { roomId: room.id } }));
      else if (m.type === 'roomJoined') resolve(ws);
      else if (m.type === 'message' && m.payload.metadata && m.payload.metadata.t) {
        delivered++;
        lat.push(performance.now() - m.payload.metadata.t);
      }
    });
  });
}
const rss0 = rss(srv.proc.pid);
const t0 = performance.now();
const socks = [];
for (let i = 0; i < N; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(N, i + 100); j++) batch.push(open(users[j], rooms[j % R]));
  socks.push(...(await Promise.all(batch)));
}
const tJoin = performance.now() - t0;
await sleep(1000);
const rss1 = rss(srv.proc.pid);
if (process.env.JOIN === '0') {
  console.log(JSON.stringify({ connections: N, connectMs: Math.round(tJoin), rssPerConnKiB: ((rss1 - rss0) / N).toFixed(2) }));
  for (const s of socks) s.close();
  await sleep(500);
  await srv.stop();
  process.exit(0);
}
// senders: the last R users, one per room (members of room r are i % R === r)
const senders = [];
for (let r = 0; r < R; r++) {
  const idx = N + ((r - (N % R) + R) % R);
  senders.push(await open(users[idx], rooms[idx % R]));
}
const total = RATE * SECONDS;
const interval = 1000 / RATE;
for (let k = 0; k < total; k++) {
  const s = senders[k % R];
  s.send(JSON.stringify({ type: 'sendMessage', payload: { roomId: rooms[k % R].id, content: `b${k}`, metadata: { t: performance.now() } } }));
  await sleep(interval);
}
await sleep(2000);
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
const perRoom = N / R;
console.log(JSON.stringify({
  connections: N, rooms: R, rate: RATE, seconds: SECONDS,
  connectJoinMs: Math.round(tJoin),
  rssPerConnKiB: ((rss1 - rss0) / N).toFixed(2),
  expected: total * (perRoom + 1), delivered,
  p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat[lat.length - 1].toFixed(1),
}));
for (const s of [...socks, ...senders]) s.close();
await sleep(500);
await srv.stop();
