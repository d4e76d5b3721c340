// Helpers of the files suites (files.test.js: the directory store,
// files-s3.test.js: the bucket store): test images made here (no network),
// and the HTTP calls of POST /files and GET /files/:id against the servers a
// suite started.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (b) => {
  let c = 0xffffffff;
  for (const x of b) c = CRC[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
};
/** An RGB (or RGBA) PNG w x h with a gradient, or with noise from the seed `noise` (it
 * does not compress: a throttled upload of it takes a while); `claim` overrides the
 * header's size. */
export function png(w, h, { alpha = false, claim, noise } = {}) {
  const bpp = alpha ? 4 : 3;
  const raw = Buffer.alloc((w * bpp + 1) * h);
  let seed = noise;
  for (let y = 0; y < h; y++) {
    raw[y * (w * bpp + 1)] = 0; // filter: none
    if (noise !== undefined) {
      for (let i = y * (w * bpp + 1) + 1; i < (y + 1) * (w * bpp + 1); i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        raw[i] = seed >>> 24;
      }
      continue;
    }
    for (let x = 0; x < w; x++) {
      const o = y * (w * bpp + 1) + 1 + x * bpp;
      raw[o] = (x * 255) / w;
      raw[o + 1] = (y * 255) / h;
      raw[o + 2] = 128;
      if (alpha) raw[o + 3] = 200;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(claim ? claim[0] : w, 0);
  ihdr.writeUInt32BE(claim ? claim[1] : h, 4);
  ihdr[8] = 8;
  ihdr[9] = alpha ? 6 : 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}
/** A 2x2 24-bit BMP (a real image format this server does not treat as one). */
export function bmp() {
  const b = Buffer.alloc(54 + 16);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}
export const sha = (b) => createHash('sha256').update(b).digest('hex');
export const rnd = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + Math.floor(Math.random() * 256)) & 0xff));

/**
 * The HTTP calls, against servers() → { s: a sender, r: a receiver } (a
 * function: suites start their servers in before()).
 */
export function fileApi(servers) {
  async function upload(user, body, { ct = 'application/octet-stream', name, headers = {}, srv } = {}) {
    const q = name ? `?name=${encodeURIComponent(name)}` : '';
    const res = await fetch(`${(srv || servers().s).base}/files${q}`, {
      method: 'POST',
      headers: { ...(ct ? { 'content-type': ct } : {}), ...(user ? user.h : {}), ...headers },
      body,
      ...(body && typeof body.getReader === 'function' ? { duplex: 'half' } : {}),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  }
  async function uploadOk(user, body, opts) {
    const r = await upload(user, body, opts);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }
  async function download(pathOrUrl, headers = {}, method = 'GET') {
    const res = await fetch(`${servers().r.base}${pathOrUrl}`, { method, headers });
    const buf = Buffer.from(await res.arrayBuffer());
    return { status: res.status, body: buf, headers: res.headers };
  }
  return { upload, uploadOk, download };
}
export const errCode = (r) => {
  const b = Buffer.isBuffer(r.body) ? JSON.parse(r.body.toString()) : r.body;
  return b && b.error && b.error.code;
};
