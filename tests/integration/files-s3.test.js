// Issue 20 item 1, the bucket store: chatd (1 sender + 1 receiver) with
// CHATD_FILES_S3_* pointing at a real S3-compatible server (s3rver, started
// here on a free port over a temp directory; it checks every request's
// signature). Uploads land in the bucket under their content address and
// nothing stays in CHATD_FILES_DIR; the same bytes are PUT once (HEAD before
// PUT); downloads stream from the bucket in ranged GETs (a file larger than
// two pieces; ranges across piece boundaries; ETag/304/HEAD; an abandoned
// download); thumbnails are stored and served the same way; authorization
// is unchanged; the sweeper removes unattached bytes from the bucket and
// keeps shared ones; with the bucket down uploads and downloads answer 503
// SERVICE_UNAVAILABLE and nothing stored is lost when it comes back; a wrong
// secret key stops the start with a clear message; the bucket request queue
// at its edge (FILES_S3_WORKERS running + FILES_S3_QUEUE waiting are taken,
// one more is 503 SERVICE_BUSY) against a server that holds its answers.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import http from 'node:http';
import S3rver from 's3rver';
import {
  startCluster, makeUsers, gql, ok, createChat, sql, sleep,
} from './lib/receiver-env.js';
import { startChatd } from './lib/chatd.js';
import { png, sha, rnd, fileApi, errCode } from './lib/files.js';

const BUCKET = 'chatd-files';
const MAX = 600 * 1024; // more than two of the bucket store's 256 KiB read pieces
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-files-s3-'));
const bucketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-s3rver-'));
let s3, s3port;
const puts = []; // keys of every object created in the bucket
async function startS3(port = 0) {
  const s = new S3rver({
    port, address: '127.0.0.1', directory: bucketDir, silent: true, configureBuckets: [{ name: BUCKET }],
  });
  s.on('event', (e) => {
    for (const r of e.Records || []) if (r.eventName.startsWith('ObjectCreated')) puts.push(r.s3.object.key);
  });
  const addr = await s.run();
  return [s, addr.port];
}
const s3env = () => ({
  CHATD_FILES_DIR: dir,
  CHATD_MAX_FILE_BYTES: String(MAX),
  CHATD_FILES_S3_ENDPOINT: `127.0.0.1:${s3port}`,
  CHATD_FILES_S3_BUCKET: BUCKET,
  CHATD_FILES_S3_ACCESS_KEY: 'S3RVER',
  CHATD_FILES_S3_SECRET_KEY: 'S3RVER',
  CHATD_FILES_S3_HTTPS: '0',
});
/** HEAD of a key with libs3's own command-line tool (Debian's libs3-2): its size, or null.
 * (Asynchronous: s3rver runs in this process.) */
function bucketSize(key) {
  return new Promise((resolve) => {
    execFile('s3', ['-u', 'head', `${BUCKET}/${key}`], {
      env: { ...process.env, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_HOSTNAME: `127.0.0.1:${s3port}` },
    }, (err, out) => {
      const m = !err && /Content-Length: (\d+)/.exec(out);
      resolve(m ? Number(m[1]) : null);
    });
  });
}
const keyOf = (hex, thumb = false) => `${hex.slice(0, 2)}/${hex}${thumb ? '.thumb' : ''}`;
/** Every file under CHATD_FILES_DIR (relative paths). */
const localFiles = () => fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile());

let cl, s1, r1;
before(async () => {
  [s3, s3port] = await startS3();
  cl = await startCluster({ senders: 1, receivers: 1, env: s3env() });
  [s1] = cl.senders;
  [r1] = cl.receivers;
});
after(async () => {
  const res = await cl.stop();
  const procs = [...cl.senders, ...cl.receivers];
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
  await s3.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(bucketDir, { recursive: true, force: true });
});
const { upload, uploadOk, download } = fileApi(() => ({ s: s1, r: r1 }));

const ATT = 'attachments { id contentType size name width height sha256 url thumbnailUrl }';
const CREATE = `mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id content ${ATT} } }`;
const sendFiles = (user, chatId, attachments, srv = s1) =>
  gql(srv, CREATE, { in: { content: 'files', senderId: user.id, chatId, attachments } }, user.h);

describe('the bucket store', () => {
  test('uploads land in the bucket under their content address; nothing stays in the directory', async () => {
    const [a] = makeUsers(1);
    const bytes = rnd(MAX);
    const f = await uploadOk(a, bytes, { name: 'big.bin' });
    assert.equal(f.size, MAX);
    assert.equal(f.sha256, sha(bytes));
    assert.equal(await bucketSize(keyOf(f.sha256)), MAX);
    const fd = new FormData();
    fd.append('file', new Blob([Buffer.from('multipart text\n')], { type: 'text/plain' }), 'm.txt');
    const m = await uploadOk(a, fd, { ct: null });
    assert.equal(await bucketSize(keyOf(m.sha256)), 15);
    assert.deepEqual(localFiles(), []); // no temp file left, no bytes kept locally
    // the file limit still holds at its edge
    const r = await upload(a, rnd(MAX + 1));
    assert.equal(r.status, 413);
    assert.equal(errCode(r), 'FILE_TOO_LARGE');
  });

  test('the same bytes are PUT once (HEAD before PUT); each upload is its own file', async () => {
    const [a, b] = makeUsers(2);
    const bytes = rnd(7000);
    const key = keyOf(sha(bytes));
    const f1 = await uploadOk(a, bytes);
    const f2 = await uploadOk(b, bytes);
    assert.notEqual(f1.id, f2.id);
    assert.equal(f1.sha256, f2.sha256);
    assert.equal(puts.filter((k) => k === key).length, 1, JSON.stringify(puts));
    assert.equal(sql(`SELECT count(*) FROM files WHERE sha256 = '${f1.sha256}'`), '2');
  });

  test('downloads stream from the bucket: whole, ranges across pieces, ETag/304, HEAD, an abandoned one', async () => {
    const [a, b, outsider] = makeUsers(3);
    const chat = await createChat(s1, a, [b], 's3 downloads');
    const bytes = rnd(MAX);
    const f = await uploadOk(a, bytes, { name: 'report.bin' });
    const msg = ok(await sendFiles(a, chat.id, [f.id]), 'createMessage');
    let r = await download(`/files/${f.id}`, b.h);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(MAX));
    assert.equal(r.headers.get('etag'), `"${f.sha256}"`);
    assert.match(r.headers.get('cache-control'), /private/);
    assert.ok(r.body.equals(bytes));
    r = await download(msg.attachments[0].url);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(bytes));
    const range = (v, extra = {}) => download(`/files/${f.id}`, { ...b.h, range: v, ...extra });
    const piece = 256 * 1024;
    r = await range(`bytes=${piece - 10}-${2 * piece + 9}`); // across two piece boundaries
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes ${piece - 10}-${2 * piece + 9}/${MAX}`);
    assert.ok(r.body.equals(bytes.subarray(piece - 10, 2 * piece + 10)));
    r = await range('bytes=-5');
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(bytes.subarray(MAX - 5)));
    r = await range(`bytes=${MAX}-`);
    assert.equal(r.status, 416);
    r = await range('bytes=300000-', { 'if-range': `"${f.sha256}"` });
    assert.equal(r.status, 206);
    assert.ok(Buffer.concat([bytes.subarray(0, 300000), r.body]).equals(bytes));
    r = await download(`/files/${f.id}`, { ...b.h, 'if-none-match': `"${f.sha256}"` });
    assert.equal(r.status, 304);
    r = await download(`/files/${f.id}`, b.h, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(MAX));
    assert.equal(r.body.length, 0);
    // abandoned halfway: costs nothing, the next download is whole
    const ac = new AbortController();
    const res = await fetch(`${r1.base}/files/${f.id}`, { headers: b.h, signal: ac.signal });
    await res.body.getReader().read();
    ac.abort();
    r = await download(`/files/${f.id}`, b.h);
    assert.ok(r.body.equals(bytes));
    // authorization is the same as with the directory
    assert.equal((await download(`/files/${f.id}`)).status, 401);
    r = await download(`/files/${f.id}`, outsider.h);
    assert.equal(r.status, 403);
    assert.equal(errCode(r), 'FORBIDDEN');
  });

  test('thumbnails are stored in the bucket and served from it', async () => {
    const [a] = makeUsers(1);
    const chat = await createChat(s1, a, [], 's3 thumbs');
    const img = await uploadOk(a, png(400, 300), { ct: 'image/png' });
    assert.deepEqual([img.width, img.height], [400, 300]);
    assert.ok(await bucketSize(keyOf(img.sha256, true)) > 0);
    const m = ok(await sendFiles(a, chat.id, [img.id]), 'createMessage');
    const t = await download(m.attachments[0].thumbnailUrl);
    assert.equal(t.status, 200);
    assert.equal(t.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual([...t.body.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.equal(t.body.length, await bucketSize(keyOf(img.sha256, true)));
    assert.deepEqual(localFiles(), []);
  });
});

describe('the sweeper and the bucket', () => {
  test('unattached bytes are removed from the bucket after the grace period; shared and attached ones stay', async () => {
    const s2 = await startChatd({ role: 'sender', db: true, redis: true, env: { ...s3env(), CHATD_FILES_GRACE_S: '1' } });
    try {
      const [a] = makeUsers(1);
      const ch = await createChat(s2, a, [], 's3 grace');
      const lonely = await uploadOk(a, png(60, 40), { ct: 'image/png', srv: s2 });
      const sharedBytes = rnd(2100);
      const kept = await uploadOk(a, sharedBytes, { srv: s2 });
      ok(await sendFiles(a, ch.id, [kept.id], s2), 'createMessage');
      await uploadOk(a, sharedBytes, { srv: s2 }); // the same bytes, never attached
      assert.ok(await bucketSize(keyOf(lonely.sha256)) > 0);
      assert.ok(await bucketSize(keyOf(lonely.sha256, true)) > 0);
      for (let i = 0; i < 100 && await bucketSize(keyOf(lonely.sha256)) !== null; i++) await sleep(200);
      assert.equal(await bucketSize(keyOf(lonely.sha256)), null, 'unattached bytes removed');
      assert.equal(await bucketSize(keyOf(lonely.sha256, true)), null, 'and their thumbnail');
      for (let i = 0; i < 50 && sql(`SELECT count(*) FROM files WHERE sha256 = '${kept.sha256}'`) !== '1'; i++) await sleep(200);
      assert.equal(sql(`SELECT count(*) FROM files WHERE sha256 = '${kept.sha256}'`), '1');
      await sleep(500); // a removal of the shared bytes, had one started, has finished
      assert.equal(await bucketSize(keyOf(kept.sha256)), 2100, 'bytes still named by an attached file stay');
      const got = await download(`/files/${kept.id}`, a.h);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(sharedBytes));
      assert.equal((await download(`/files/${lonely.id}`, a.h)).status, 404);
      // nothing is left in the bucket's trash
      assert.deepEqual(fs.readdirSync(bucketDir, { recursive: true }).filter((f) => f.includes('trash/') && f.endsWith('_S3rver_object')), []);
    } finally {
      const r = await s2.stop();
      assert.equal(r.code, 0, s2.logs().slice(-4000));
    }
  });
});

describe('the bucket down', () => {
  test('uploads and downloads answer 503 SERVICE_UNAVAILABLE; everything is there when it is back', async () => {
    const [a] = makeUsers(1);
    const bytes = rnd(50000);
    const f = await uploadOk(a, bytes);
    const rows = sql(`SELECT count(*) FROM files WHERE owner_id = '${a.id}'`);
    await s3.close();
    try {
      let r = await upload(a, rnd(3000));
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(errCode(r), 'SERVICE_UNAVAILABLE');
      assert.equal(r.headers.get('retry-after'), '1');
      r = await download(`/files/${f.id}`, a.h);
      assert.equal(r.status, 503);
      assert.equal(errCode(r), 'SERVICE_UNAVAILABLE');
      // the refused upload left no row and no temp file
      assert.equal(sql(`SELECT count(*) FROM files WHERE owner_id = '${a.id}'`), rows);
      assert.deepEqual(localFiles(), []);
    } finally {
      [s3] = await startS3(s3port);
    }
    const r = await download(`/files/${f.id}`, a.h);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(bytes));
    assert.equal((await uploadOk(a, rnd(3000))).size, 3000);
  });

  test('a bucket that does not answer at start-up does not stop the start: files answer 503 until it does', async () => {
    const closed = http.createServer();
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = closed.address().port;
    await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
    const r2 = await startChatd({ role: 'receiver', db: true, redis: true, env: { ...s3env(), CHATD_FILES_S3_ENDPOINT: `127.0.0.1:${port}` } });
    try {
      assert.match(r2.logs(), /does not answer \(FailedToConnect\)/);
      const [a] = makeUsers(1);
      const f = await uploadOk(a, Buffer.from('stored while the other bucket is away'));
      const r = await fetch(`${r2.base}/files/${f.id}`, { headers: a.h });
      assert.equal(r.status, 503);
      assert.equal((await r.json()).error.code, 'SERVICE_UNAVAILABLE');
    } finally {
      const r = await r2.stop();
      assert.equal(r.code, 0, r2.logs().slice(-4000));
    }
  });

  test('a wrong secret key or an unknown bucket stops the start with a clear message', async () => {
    await assert.rejects(
      startChatd({ role: 'sender', db: true, env: { ...s3env(), CHATD_FILES_S3_SECRET_KEY: 'wrong' } }),
      /bucket chatd-files at 127\.0\.0\.1:\d+: ErrorSignatureDoesNotMatch/,
    );
    await assert.rejects(
      startChatd({ role: 'receiver', db: true, env: { ...s3env(), CHATD_FILES_S3_BUCKET: 'no-such-bucket' } }),
      /bucket no-such-bucket at .*ErrorNoSuchBucket/,
    );
  });
});

/** An S3 stand-in that answers NoSuchKey at once, or holds every request
 * (hold()) until release(), which answers the held ones and all later ones 500. */
async function holdServer() {
  const held = [];
  let mode = 'answer';
  const srv = http.createServer((req, res) => {
    req.resume();
    const answer = () => {
      if (mode === 'fail') {
        res.writeHead(500, { 'content-length': 0 });
        res.end();
        return;
      }
      const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>';
      res.writeHead(404, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (mode === 'hold') held.push(answer);
    else answer();
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: srv.address().port,
    held,
    hold() {
      mode = 'hold';
    },
    release() {
      mode = 'fail';
      for (const f of held.splice(0)) f();
    },
    close: () => new Promise((resolve) => {
      srv.closeAllConnections();
      srv.close(resolve);
    }),
  };
}

describe('the bucket request queue', () => {
  test('at its edge: 2 running + 256 waiting are taken, one more is 503 SERVICE_BUSY', async () => {
    const WORKERS = 2; // FILES_S3_WORKERS
    const QUEUE = 256; // FILES_S3_QUEUE
    const hs = await holdServer();
    const r2 = await startChatd({ role: 'receiver', db: true, redis: true, env: { ...s3env(), CHATD_FILES_S3_ENDPOINT: `127.0.0.1:${hs.port}` } });
    try {
      const [a] = makeUsers(1);
      const f = await uploadOk(a, Buffer.from('queued'));
      hs.hold();
      const get = () => fetch(`${r2.base}/files/${f.id}`, { headers: a.h })
        .then(async (res) => `${res.status} ${(await res.json()).error.code}`);
      const taken = Array.from({ length: WORKERS + QUEUE }, get);
      for (let i = 0; i < 100 && hs.held.length < WORKERS; i++) await sleep(100);
      assert.equal(hs.held.length, WORKERS);
      await sleep(3000); // the others pass their access check and wait in the queue
      assert.equal(hs.held.length, WORKERS, 'no more than FILES_S3_WORKERS requests at once');
      assert.equal(await get(), '503 SERVICE_BUSY');
      hs.release();
      // every one taken was run (and failed with the bucket): none was refused
      assert.deepEqual([...new Set(await Promise.all(taken))], ['503 SERVICE_UNAVAILABLE']);
    } finally {
      const r = await r2.stop();
      await hs.close();
      assert.equal(r.code, 0, r2.logs().slice(-4000));
    }
  });
});
