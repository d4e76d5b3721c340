// Issue 20 items 1 and 2 against real chatd processes (1 sender + 1 receiver
// sharing one CHATD_FILES_DIR) on Postgres + Redis: POST /files (raw and
// multipart), the file limit at its edge (exactly the limit stored, one byte
// more refused, on Content-Length and on a chunked body), the per-user quota,
// magic-byte types (declared types are not trusted), dedupe (same bytes
// stored once), thumbnails made by libvips for a PNG (and the JPEG it
// becomes), the pixel limit (a decompression bomb's header is refused),
// createMessage attachments (own, unattached, at most 10), Message.attachments
// in queries and live events, GET /files/:id[/thumb] with ranges (206, 416),
// ETag/304 and authorization (member, ?t= URL, non-member 403, removed member
// 403, no token 401), a removed message's files gone (404, then their bytes),
// and never-attached files swept after the grace period.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import {
  startCluster, makeUsers, gql, ok, code, createChat, send, wsClient, record, waitChannel, sql,
  REMOVE_P, sleep,
} from './lib/receiver-env.js';
import { startChatd } from './lib/chatd.js';
import { png, bmp, sha, rnd, fileApi, errCode } from './lib/files.js';

const MAX = 256 * 1024; // CHATD_MAX_FILE_BYTES for this suite
const QUOTA = 3 * MAX + 1000; // CHATD_FILES_QUOTA_BYTES
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-files-'));
const env = {
  CHATD_FILES_DIR: dir,
  CHATD_MAX_FILE_BYTES: String(MAX),
  CHATD_FILES_QUOTA_BYTES: String(QUOTA),
};
let cl, s1, r1;
const clients = [];
before(async () => {
  cl = await startCluster({ senders: 1, receivers: 1, env });
  [s1] = cl.senders;
  [r1] = cl.receivers;
});
after(async () => {
  for (const c of clients) await c.dispose().catch(() => {});
  const res = await cl.stop();
  const procs = [...cl.senders, ...cl.receivers];
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
  fs.rmSync(dir, { recursive: true, force: true });
});

const { upload, uploadOk, download } = fileApi(() => ({ s: s1, r: r1 }));

const ATT = 'attachments { id contentType size name width height sha256 url thumbnailUrl }';
const CREATE = `mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id content ${ATT} } }`;
const MSGS = `query Q($c: ID!) { messages(chatId: $c, limit: 20) { id ${ATT} } }`;
const sendFiles = (user, chatId, attachments, content = 'files') =>
  gql(s1, CREATE, { in: { content, senderId: user.id, chatId, attachments } }, user.h);

describe('uploads', () => {
  test('raw and multipart uploads answer the stored file; the type is what the bytes are', async () => {
    const [a] = makeUsers(1);
    const text = Buffer.from('héllo wörld\n'.repeat(10));
    const t = await uploadOk(a, text, { ct: 'application/pdf', name: 'notes.txt' });
    assert.equal(t.contentType, 'text/plain; charset=utf-8');
    assert.equal(t.size, text.length);
    assert.equal(t.sha256, sha(text));
    assert.equal(t.name, 'notes.txt');
    assert.equal(t.width, null);
    const pdf = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n');
    assert.equal((await uploadOk(a, pdf, { ct: 'text/plain' })).contentType, 'application/pdf');
    const bin = Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]);
    assert.equal((await uploadOk(a, bin, { ct: 'text/plain' })).contentType, 'application/octet-stream');
    assert.equal((await uploadOk(a, bmp(), { ct: 'application/octet-stream' })).contentType, 'application/octet-stream');
    const empty = await uploadOk(a, Buffer.alloc(0), { name: 'empty.txt' });
    assert.equal(empty.size, 0);
    assert.equal(empty.contentType, 'text/plain; charset=utf-8');

    const fd = new FormData();
    fd.append('note', 'a plain field is ignored');
    fd.append('file', new Blob([png(40, 30)], { type: 'text/plain' }), 'pic.png');
    const m = await uploadOk(a, fd, { ct: null });
    assert.equal(m.contentType, 'image/png');
    assert.equal(m.name, 'pic.png');
    assert.equal(m.width, 40);
    assert.equal(m.height, 30);
    assert.equal(m.sha256, sha(png(40, 30)));
  });

  test('a declared image whose bytes are not one is refused (415); so is an unreadable image', async () => {
    const [a] = makeUsers(1);
    let r = await upload(a, Buffer.from('just text'), { ct: 'image/png' });
    assert.equal(r.status, 415, JSON.stringify(r.body));
    assert.equal(errCode(r), 'UNSUPPORTED_MEDIA_TYPE');
    r = await upload(a, bmp(), { ct: 'image/bmp' });
    assert.equal(r.status, 415);
    // PNG magic, garbage after it
    r = await upload(a, Buffer.concat([png(4, 4).subarray(0, 8), Buffer.from('nothing more')]), { ct: 'image/png' });
    assert.equal(r.status, 415, JSON.stringify(r.body));
    assert.equal(errCode(r), 'UNSUPPORTED_MEDIA_TYPE');
    // multipart: the part's declared type counts
    const fd = new FormData();
    fd.append('file', new Blob(['plain'], { type: 'image/jpeg' }), 'x.jpg');
    r = await upload(a, fd, { ct: null });
    assert.equal(r.status, 415);
  });

  test('the file limit at its edge: exactly CHATD_MAX_FILE_BYTES is stored, one byte more is 413', async () => {
    const [a] = makeUsers(1);
    const exact = rnd(MAX);
    const f = await uploadOk(a, exact);
    assert.equal(f.size, MAX);
    let r = await upload(a, rnd(MAX + 1));
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(errCode(r), 'FILE_TOO_LARGE');
    assert.equal(r.body.error.limit, MAX);
    // chunked (no Content-Length): checked while streaming
    const stream = (n) => new ReadableStream({
      start(c) {
        for (let o = 0; o < n; o += 10000) c.enqueue(new Uint8Array(rnd(Math.min(10000, n - o))));
        c.close();
      },
    });
    const ok1 = await upload(a, stream(MAX));
    assert.equal(ok1.status, 201, JSON.stringify(ok1.body));
    r = await upload(a, stream(MAX + 1));
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(errCode(r), 'FILE_TOO_LARGE');
    // multipart: the file part itself counts, not the body
    const fd = new FormData();
    fd.append('file', new Blob([rnd(MAX + 1)]), 'big.bin');
    r = await upload(a, fd, { ct: null });
    assert.equal(r.status, 413);
    // multipart: a file of exactly the limit is accepted (its framing is allowed on top)
    const fdx = new FormData();
    fdx.append('file', new Blob([rnd(MAX)]), 'exact.bin');
    assert.equal((await uploadOk(a, fdx, { ct: null })).size, MAX);
    // the process is fine afterwards
    assert.equal((await uploadOk(a, Buffer.from('after'))).size, 5);
  });

  test('curl with Expect: 100-continue uploads; a refused one is answered before the body is sent', async () => {
    const [a] = makeUsers(1);
    const f = path.join(dir, `curl-${Date.now()}.bin`);
    fs.writeFileSync(f, rnd(MAX));
    const curl = (file) => new Promise((resolve) => {
      execFile('curl', ['-s', '-H', `authorization: ${a.h.authorization}`, '-H', 'expect: 100-continue',
        '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`,
        '-w', '\n%{http_code}', `${s1.base}/files`], (err, out) => resolve(out));
    });
    let out = (await curl(f)).split('\n');
    assert.equal(out.at(-1), '201', out.join('\n'));
    assert.equal(JSON.parse(out[0]).size, MAX);
    fs.appendFileSync(f, 'x');
    out = (await curl(f)).split('\n');
    assert.equal(out.at(-1), '413', out.join('\n'));
    fs.rmSync(f);
  });

  test('an upload the client abandons halfway leaves nothing behind; the server carries on', async () => {
    const [a] = makeUsers(1);
    const ac = new AbortController();
    let sent = 0;
    const body = new ReadableStream({
      async pull(c) {
        if (sent >= 20000) {
          await sleep(300);
          ac.abort();
          return;
        }
        sent += 10000;
        c.enqueue(new Uint8Array(rnd(10000)));
      },
    });
    const before = sql(`SELECT count(*) FROM files WHERE owner_id = '${a.id}'`);
    await assert.rejects(fetch(`${s1.base}/files`, {
      method: 'POST', headers: { ...a.h, 'content-type': 'application/octet-stream' }, body, duplex: 'half', signal: ac.signal,
    }));
    for (let i = 0; i < 50 && fs.readdirSync(path.join(dir, 'tmp')).length > 0; i++) await sleep(100);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), []);
    assert.equal(sql(`SELECT count(*) FROM files WHERE owner_id = '${a.id}'`), before);
    assert.equal((await uploadOk(a, Buffer.from('still fine'))).size, 10);
  });

  test('the per-user quota counts every stored file of the user (413 QUOTA_EXCEEDED)', async () => {
    const [a, b] = makeUsers(2);
    for (let i = 0; i < 3; i++) await uploadOk(a, rnd(MAX));
    const r = await upload(a, rnd(1001));
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.equal(errCode(r), 'QUOTA_EXCEEDED');
    assert.equal(r.body.error.limit, QUOTA);
    await uploadOk(a, rnd(1000)); // exactly the quota
    await uploadOk(b, rnd(MAX)); // another user's quota is separate
  });

  test('bad requests: no token 401, bad multipart 400, two files 400, no file part 400', async () => {
    const [a] = makeUsers(1);
    let r = await upload(null, Buffer.from('x'));
    assert.equal(r.status, 401);
    assert.equal(errCode(r), 'UNAUTHENTICATED');
    r = await upload({ h: { authorization: 'Bearer nonsense' } }, Buffer.from('x'));
    assert.equal(r.status, 401);
    r = await upload(a, Buffer.from('--x\r\nbroken'), { ct: 'multipart/form-data; boundary=x' });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    r = await upload(a, Buffer.from('data'), { ct: 'multipart/form-data' });
    assert.equal(r.status, 400);
    const two = new FormData();
    two.append('a', new Blob(['1']), 'a.txt');
    two.append('b', new Blob(['2']), 'b.txt');
    r = await upload(a, two, { ct: null });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /one file/);
    const none = new FormData();
    none.append('a', 'field only');
    r = await upload(a, none, { ct: null });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /No file part/);
    r = await upload(a, Buffer.from('x'), { name: 'a/b' });
    assert.equal(r.status, 400);
  });

  test('the same bytes are stored once; each upload is its own file', async () => {
    const [a, b] = makeUsers(2);
    const bytes = rnd(5000);
    const f1 = await uploadOk(a, bytes);
    const f2 = await uploadOk(b, bytes);
    assert.notEqual(f1.id, f2.id);
    assert.equal(f1.sha256, f2.sha256);
    const copies = fs.readdirSync(path.join(dir, f1.sha256.slice(0, 2))).filter((n) => n === f1.sha256);
    assert.equal(copies.length, 1);
    assert.deepEqual(fs.readFileSync(path.join(dir, f1.sha256.slice(0, 2), f1.sha256)), bytes);
    assert.equal(sql(`SELECT count(*) FROM files WHERE sha256 = '${f1.sha256}'`), '2');
  });

  test('images get a thumbnail (PNG → JPEG, alpha kept as PNG); a decompression bomb is refused (422)', async () => {
    const [a] = makeUsers(1);
    const chat = await createChat(s1, a, [], 'thumbs');
    const big = await uploadOk(a, png(400, 300), { ct: 'image/png' });
    const alpha = await uploadOk(a, png(50, 500, { alpha: true }), { ct: 'image/png' });
    const m = ok(await sendFiles(a, chat.id, [big.id, alpha.id]), 'createMessage');
    const [ab, aa] = m.attachments;
    assert.ok(ab.thumbnailUrl, JSON.stringify(ab));
    let t = await download(ab.thumbnailUrl);
    assert.equal(t.status, 200);
    assert.equal(t.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual([...t.body.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    // the thumbnail is itself a JPEG this server reads: 320 x 240
    const j = await uploadOk(a, t.body, { ct: 'image/jpeg' });
    assert.equal(j.contentType, 'image/jpeg');
    assert.deepEqual([j.width, j.height], [320, 240]);
    t = await download(aa.thumbnailUrl);
    assert.equal(t.headers.get('content-type'), 'image/png');
    const tj = await uploadOk(a, t.body, { ct: 'image/png' });
    assert.deepEqual([tj.width, tj.height], [32, 320]);
    // 10000 x 10000 claimed by a tiny file: refused from the header alone
    const r = await upload(a, png(4, 4, { claim: [10000, 10000] }), { ct: 'image/png' });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(errCode(r), 'IMAGE_TOO_LARGE');
    // a non-image has no thumbnail
    const txt = await uploadOk(a, Buffer.from('text'));
    const m2 = ok(await sendFiles(a, chat.id, [txt.id]), 'createMessage');
    assert.equal(m2.attachments[0].thumbnailUrl, null);
    assert.equal((await download(`/files/${txt.id}/thumb`, a.h)).status, 404);
  });
});

describe('attaching', () => {
  test('only own, unattached files, at most 10; the message and its events carry them in order', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [b], 'attach');
    const c = wsClient(r1, b);
    clients.push(c);
    const rec = record(c, `subscription S($c: ID!) { messageAdded(chatId: $c) { id content ${ATT} } }`, { c: chat.id }, 'messageAdded');
    await waitChannel(`chat:${chat.id}`);
    const files = [];
    for (let i = 0; i < 11; i++) files.push(await uploadOk(a, Buffer.from(`file ${i}`), { name: `f${i}.txt` }));
    let r = await sendFiles(a, chat.id, files.map((f) => f.id));
    assert.equal(code(r), 'BAD_USER_INPUT');
    assert.match(r.errors[0].message, /at most 10/);
    const theirs = await uploadOk(b, Buffer.from('theirs'));
    r = await sendFiles(a, chat.id, [files[0].id, theirs.id]);
    assert.equal(code(r), 'NOT_FOUND', JSON.stringify(r));
    r = await sendFiles(a, chat.id, [files[0].id, files[0].id]);
    assert.equal(code(r), 'BAD_USER_INPUT');
    r = await sendFiles(a, chat.id, ['not-a-uuid']);
    assert.equal(code(r), 'NOT_FOUND');
    const ten = files.slice(0, 10).map((f) => f.id).reverse();
    const m = ok(await sendFiles(a, chat.id, ten, ''), 'createMessage');
    assert.equal(m.content, '');
    assert.deepEqual(m.attachments.map((x) => x.id), ten);
    assert.equal(m.attachments[0].name, 'f9.txt');
    assert.equal(m.attachments[0].contentType, 'text/plain; charset=utf-8');
    assert.match(m.attachments[0].url, new RegExp(`^/files/${ten[0]}\\?t=`));
    r = await sendFiles(a, chat.id, [files[3].id]);
    assert.equal(code(r), 'BAD_USER_INPUT');
    assert.match(r.errors[0].message, /already attached/);
    // empty content without attachments is still refused
    r = await gql(s1, CREATE, { in: { content: '', senderId: a.id, chatId: chat.id } }, a.h);
    assert.equal(code(r), 'BAD_USER_INPUT');
    // the live event and a later query show the same attachments, with URLs for the viewer
    await rec.waitFor(1);
    const ev = rec.events[0];
    assert.deepEqual(ev.attachments.map((x) => x.id), ten);
    assert.ok(ev.attachments[0].url.includes(`?t=${b.id}.`), ev.attachments[0].url);
    const q = ok(await gql(r1, MSGS, { c: chat.id }, b.h), 'messages');
    assert.deepEqual(q.find((x) => x.id === m.id).attachments.map((x) => x.id), ten);
    const got = await download(ev.attachments[0].url);
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'file 9');
    rec.stop();
  });
});

describe('downloads', () => {
  let a, b, outsider, chat, file, bytes, msg;
  before(async () => {
    [a, b, outsider] = makeUsers(3);
    chat = await createChat(s1, a, [b], 'downloads');
    bytes = rnd(MAX);
    file = await uploadOk(a, bytes, { name: 'report final.bin' });
    msg = ok(await sendFiles(a, chat.id, [file.id]), 'createMessage');
  });

  test('a member downloads with a bearer token or the signed URL: length, ETag, private caching, 304', async () => {
    let r = await download(`/files/${file.id}`, b.h);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, bytes);
    assert.equal(r.headers.get('content-length'), String(MAX));
    assert.equal(r.headers.get('etag'), `"${file.sha256}"`);
    assert.match(r.headers.get('cache-control'), /private/);
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.match(r.headers.get('content-disposition'), /attachment; filename\*=UTF-8''report%20final\.bin/);
    r = await download(msg.attachments[0].url);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, bytes);
    r = await download(`/files/${file.id}`, { ...b.h, 'if-none-match': `"${file.sha256}"` });
    assert.equal(r.status, 304);
    r = await download(`/files/${file.id}`, b.h, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(MAX));
    assert.equal(r.body.length, 0);
  });

  test('ranges: first bytes, a middle, a suffix, open-ended (206); unsatisfiable (416); malformed ignored', async () => {
    const range = (v) => download(`/files/${file.id}`, { ...b.h, range: v });
    let r = await range('bytes=0-9');
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, bytes.subarray(0, 10));
    assert.equal(r.headers.get('content-range'), `bytes 0-9/${MAX}`);
    assert.equal(r.headers.get('content-length'), '10');
    r = await range(`bytes=1000-${MAX + 5000}`); // past the end: up to the end
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, bytes.subarray(1000));
    r = await range('bytes=1000-2999');
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, bytes.subarray(1000, 3000));
    r = await range('bytes=-5');
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, bytes.subarray(MAX - 5));
    assert.equal(r.headers.get('content-range'), `bytes ${MAX - 5}-${MAX - 1}/${MAX}`);
    r = await range(`bytes=${MAX - 1}-`);
    assert.equal(r.status, 206);
    assert.equal(r.body.length, 1);
    r = await range(`bytes=${MAX}-`);
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), `bytes */${MAX}`);
    r = await range('bytes=-0');
    assert.equal(r.status, 416);
    r = await range('bytes=5-1');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, MAX);
    r = await range('bytes=0-1,5-6');
    assert.equal(r.status, 200);
    // a download abandoned halfway costs nothing; the next one is whole
    const ac = new AbortController();
    const res = await fetch(`${r1.base}/files/${file.id}`, { headers: b.h, signal: ac.signal });
    const reader = res.body.getReader();
    await reader.read();
    ac.abort();
    await assert.rejects(reader.read());
    r = await download(`/files/${file.id}`, b.h);
    assert.deepEqual(r.body, bytes);
    // resuming an interrupted download: If-Range with the ETag
    r = await download(`/files/${file.id}`, { ...b.h, range: 'bytes=60000-', 'if-range': `"${file.sha256}"` });
    assert.equal(r.status, 206);
    assert.deepEqual(Buffer.concat([bytes.subarray(0, 60000), r.body]), bytes);
  });

  test('authorization: no token 401, bad ?t= 401, non-member 403, removed member 403, unknown 404', async () => {
    assert.equal((await download(`/files/${file.id}`)).status, 401);
    assert.equal((await download(`/files/${file.id}?t=${b.id}.9999999999.AAAA`)).status, 401);
    // a URL signed for another file does not open this one
    const other = await uploadOk(a, Buffer.from('other'));
    const m2 = ok(await sendFiles(a, chat.id, [other.id]), 'createMessage');
    const t = new URL(m2.attachments[0].url, 'http://x').searchParams.get('t');
    assert.equal((await download(`/files/${file.id}?t=${encodeURIComponent(t)}`)).status, 401);
    let r = await download(`/files/${file.id}`, outsider.h);
    assert.equal(r.status, 403);
    assert.equal(errCode(r), 'FORBIDDEN');
    // an unattached file: only its uploader
    const mine = await uploadOk(a, Buffer.from('mine'));
    assert.equal((await download(`/files/${mine.id}`, a.h)).status, 200);
    assert.equal((await download(`/files/${mine.id}`, b.h)).status, 403);
    assert.equal((await download(`/files/00000000-0000-0000-0000-000000000000`, a.h)).status, 404);
    assert.equal((await download(`/files/nope`, a.h)).status, 404);
    // b's signed URL stops working when b is removed from the chat
    const url = (await gql(r1, MSGS, { c: chat.id }, b.h)).data.messages.find((x) => x.id === msg.id).attachments[0].url;
    assert.equal((await download(url)).status, 200);
    ok(await gql(s1, REMOVE_P, { c: chat.id, u: b.id }, a.h), 'removeParticipant');
    assert.equal((await download(url)).status, 403);
    assert.equal((await download(`/files/${file.id}`, b.h)).status, 403);
    assert.equal((await download(`/files/${file.id}`, a.h)).status, 200);
  });

  test('a removed message takes its files with it (404 at once, no attachments shown)', async () => {
    const [c] = makeUsers(1);
    const ch = await createChat(s1, c, [], 'removal');
    const bytes2 = rnd(3000);
    const f = await uploadOk(c, bytes2, { ct: 'application/octet-stream' });
    const m = ok(await sendFiles(c, ch.id, [f.id]), 'createMessage');
    const blob = path.join(dir, f.sha256.slice(0, 2), f.sha256);
    assert.ok(fs.existsSync(blob));
    ok(await gql(s1, 'mutation D($id: ID!, $u: String!) { removeMessage(id: $id, userId: $u) { id } }', { id: m.id, u: c.id }, c.h), 'removeMessage');
    assert.equal((await download(`/files/${f.id}`, c.h)).status, 404);
    // listed or not, a removed message shows no attachments
    const q = ok(await gql(r1, MSGS, { c: ch.id }, c.h), 'messages');
    const listed = q.find((x) => x.id === m.id);
    if (listed) assert.deepEqual(listed.attachments, []);
    const ev = ok(await gql(r1, 'query E($c: ID!) { chatEventsSince(chatId: $c, afterSeq: 0, limit: 50) { seq message { id attachments { id } } } }', { c: ch.id }, c.h), 'chatEventsSince');
    for (const e of ev) if (e.message && e.message.id === m.id) assert.deepEqual(e.message.attachments, []);
    assert.equal(sql(`SELECT gone FROM files WHERE id = '${f.id}'`), 't');
    // (the bytes go with the sweeper: see "grace period")
    assert.ok(fs.existsSync(blob) || sql(`SELECT count(*) FROM files WHERE id = '${f.id}'`) === '0');
  });
});

describe('grace period', () => {
  test('files never attached are removed after CHATD_FILES_GRACE_S; attached ones and shared bytes stay', async () => {
    const s2 = await startChatd({ role: 'sender', db: true, redis: true, env: { ...env, CHATD_FILES_GRACE_S: '1' } });
    try {
      const [a] = makeUsers(1);
      const ch = await createChat(s2, a, [], 'grace');
      const lonely = rnd(2000);
      const shared = rnd(2100);
      const f1 = await uploadOk(a, lonely, { srv: s2 });
      const f2 = await uploadOk(a, shared, { srv: s2 });
      ok(await gql(s2, CREATE, { in: { content: 'kept', senderId: a.id, chatId: ch.id, attachments: [f2.id] } }, a.h), 'createMessage');
      const f3 = await uploadOk(a, shared, { srv: s2 }); // same bytes, never attached
      const p1 = path.join(dir, f1.sha256.slice(0, 2), f1.sha256);
      const p2 = path.join(dir, f2.sha256.slice(0, 2), f2.sha256);
      const left = () => sql(`SELECT count(*) FROM files WHERE id IN ('${f1.id}', '${f3.id}')`);
      for (let i = 0; i < 100 && (fs.existsSync(p1) || left() !== '0'); i++) await sleep(200);
      assert.equal(fs.existsSync(p1), false, 'unattached bytes removed');
      assert.equal(left(), '0');
      assert.equal(fs.existsSync(p2), true, 'bytes still named by an attached file stay');
      assert.equal((await download(`/files/${f2.id}`, a.h)).status, 200);
      assert.equal((await download(`/files/${f1.id}`, a.h)).status, 404);
      // a removed message's file: its row and (unshared) bytes are swept too
      const gone = await uploadOk(a, rnd(2200), { srv: s2 });
      const gm = ok(await gql(s2, CREATE, { in: { content: 'bye', senderId: a.id, chatId: ch.id, attachments: [gone.id] } }, a.h), 'createMessage');
      const pg = path.join(dir, gone.sha256.slice(0, 2), gone.sha256);
      assert.ok(fs.existsSync(pg));
      ok(await gql(s2, 'mutation D($id: ID!, $u: String!) { removeMessage(id: $id, userId: $u) { id } }', { id: gm.id, u: a.id }, a.h), 'removeMessage');
      for (let i = 0; i < 100 && fs.existsSync(pg); i++) await sleep(200);
      assert.equal(fs.existsSync(pg), false, 'a removed message\'s bytes removed');
      assert.equal(sql(`SELECT count(*) FROM files WHERE id = '${gone.id}'`), '0');
    } finally {
      const r = await s2.stop();
      assert.equal(r.code, 0, s2.logs().slice(-4000));
    }
  });
});
