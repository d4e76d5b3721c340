// A minimal Redis pub/sub subscriber for tests (RESP2 over node:net): enough
// to watch what chatd publishes without an npm Redis client.
//   const sub = await redisSubscribe(url, ['chat:*', 'user:*']);  // patterns
//   const m = await sub.next((m) => m.channel === 'chat:...');    // {channel, data, json}
//   sub.close();
import net from 'node:net';

function encode(args) {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return s;
}

// Parses one RESP value at buf[off]; returns [value, nextOffset] or null if incomplete.
function parse(buf, off) {
  if (off >= buf.length) return null;
  const type = String.fromCharCode(buf[off]);
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const line = buf.toString('utf8', off + 1, eol);
  if (type === '+' || type === '-') return [line, eol + 2];
  if (type === ':') return [Number(line), eol + 2];
  if (type === '$') {
    const n = Number(line);
    if (n < 0) return [null, eol + 2];
    if (buf.length < eol + 2 + n + 2) return null;
    return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2];
  }
  if (type === '*') {
    const n = Number(line);
    const out = [];
    let p = eol + 2;
    for (let i = 0; i < n; i++) {
      const r = parse(buf, p);
      if (!r) return null;
      out.push(r[0]);
      p = r[1];
    }
    return [out, p];
  }
  throw new Error(`unexpected RESP type ${type}`);
}

export async function redisSubscribe(url, patterns) {
  const u = new URL(url);
  const sock = net.connect(Number(u.port || 6379), u.hostname);
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const messages = [];
  const waiters = [];
  let buf = Buffer.alloc(0);
  let confirmed = 0;
  let onConfirmed;
  const allConfirmed = new Promise((r) => (onConfirmed = r));
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const r = parse(buf, 0);
      if (!r) break;
      buf = buf.subarray(r[1]);
      const v = r[0];
      if (!Array.isArray(v)) continue;
      if (v[0] === 'psubscribe' && ++confirmed === patterns.length) onConfirmed();
      if (v[0] !== 'pmessage') continue;
      let json;
      try {
        json = JSON.parse(v[3]);
      } catch {}
      const m = { channel: v[2], data: v[3], json };
      messages.push(m);
      for (const w of [...waiters]) {
        if (w.pred(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  sock.on('error', () => {});
  sock.write(encode(['PSUBSCRIBE', ...patterns]));
  await allConfirmed;
  return {
    messages,
    next(pred = () => true, timeoutMs = 5000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (m) => (clearTimeout(t), resolve(m)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching Redis message in ${timeoutMs} ms; got ${messages.length}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close() {
      sock.destroy();
    },
  };
}
