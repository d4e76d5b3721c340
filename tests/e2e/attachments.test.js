// Browser test of attachments (issue 20 items 1-3; the server's API in
// docs/api.md "Files"): Fay uploads a 19 MB image through the attach button
// (progress shows; a second upload, held, is cancelled), sends
// it; Ben sees the thumbnail live and opens the full view; a text file shows
// as a download card that Ben (a member) downloads, while Cal (not a member)
// is refused the same file with his own token. Needs a chatd with
// attachments (the client probes for the Attachment type and hides the
// attach button otherwise): skipped while the schema has no Attachment type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { suiteSystem, shot, repoRoot } from './lib.js';

const WAIT = 20000;
const PASSWORD = 'correct horse 42';
const sfx = Date.now().toString(36).slice(-5);
const names = { A: `fay_${sfx}`, B: `gus_${sfx}`, C: `cal_${sfx}` };

const S = suiteSystem();

// a real PNG (noise, so it does not compress: the upload takes a while when throttled)
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function noisePng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let x = 12345;
  for (let i = 0; i < raw.length; i++) {
    if (i % (w * 3 + 1) === 0) raw[i] = 0; // filter: none
    else {
      x = (x * 1103515245 + 12345) >>> 0;
      raw[i] = x >>> 24;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function newPage(label) {
  const ctx = await S.browser.newContext({ viewport: { width: 1200, height: 720 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`[${label} pageerror] ${e.message}`));
  page.setDefaultTimeout(WAIT);
  await page.goto(S.sys.url);
  return page;
}

async function signUp(page, username, displayName) {
  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('me').filter({ hasText: displayName }).waitFor();
  await page.locator('[data-status=connected]').waitFor();
}

const chatItem = (page, name) => page.locator('nav[aria-label=Chats] button.chatitem', { hasText: name });

// The files work (POST /files, Message.attachments) is on its own branch until
// merged: without the Attachment type in the schema this suite says so and
// skips; with it, every check below runs.
const schemaHasAttachments = fs.readFileSync(path.join(repoRoot, 'schema/chat.graphql'), 'utf8').includes('type Attachment');

test('upload with progress and cancel, an image shown live, download by a member, refusal for a non-member', {
  timeout: 240000,
  skip: schemaHasAttachments ? false : 'schema/chat.graphql has no Attachment type (files work not merged)',
}, async () => {
  const A = await newPage('A');
  const B = await newPage('B');
  const C = await newPage('C');
  await signUp(A, names.A, 'Fay');
  await signUp(B, names.B, 'Gus');
  await signUp(C, names.C, 'Cal');

  await A.getByRole('button', { name: 'New chat' }).click();
  const dlg = A.getByRole('dialog', { name: 'New chat' });
  await dlg.getByLabel('Chat name').fill('Photos');
  await dlg.getByLabel('Search people').fill(names.B);
  await dlg.getByRole('checkbox', { name: new RegExp(names.B) }).check();
  await dlg.getByRole('button', { name: 'Create chat' }).click();
  await A.getByRole('region', { name: 'Chat Photos' }).waitFor();
  await chatItem(B, 'Photos').click();

  // a large image (~19 MB, under the 25 MiB limit) so progress events come
  // while it uploads; the second upload's request is held by the browser
  // until it is cancelled
  const png = noisePng(2500, 2500);
  await A.route(/\/files\?name=cancel-me/, () => {}); // never answered
  // every value the progress bar shows, sampled in the page
  await A.evaluate(() => {
    window.seenProgress = [];
    setInterval(() => {
      for (const p of document.querySelectorAll('progress')) window.seenProgress.push(p.value);
    }, 5);
  });
  const [chooser] = await Promise.all([A.waitForEvent('filechooser'), A.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser.setFiles({ name: 'noise.png', mimeType: 'image/png', buffer: png });
  await A.getByRole('progressbar', { name: 'Uploading noise.png' }).waitFor();
  // a second file, cancelled while it uploads: it goes away and is never sent
  const [chooser2] = await Promise.all([A.waitForEvent('filechooser'), A.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser2.setFiles({ name: 'cancel-me.png', mimeType: 'image/png', buffer: noisePng(60, 60) });
  await A.getByRole('progressbar', { name: 'Uploading cancel-me.png' }).waitFor();
  assert.equal(await A.getByRole('button', { name: 'Send' }).isDisabled(), true, 'no send while an upload runs');
  await A.getByRole('button', { name: 'Cancel cancel-me.png' }).click();
  await A.locator('[data-testid=upload]', { hasText: 'cancel-me.png' }).waitFor({ state: 'detached' });
  await A.locator('[data-testid=upload][data-status=done]', { hasText: 'noise.png' }).waitFor({ timeout: 60000 });
  const seen = await A.evaluate(() => window.seenProgress);
  // the bar was on screen while the bytes went out (Chromium reports no
  // intermediate upload progress over loopback, so its value is not checked)
  assert.ok(seen.length > 0, 'a progress bar was shown during the upload');
  const box = A.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill('a photo');
  await box.press('Enter');

  // Ben sees the thumbnail live; it loads from the receiver; the full view opens
  const onB = B.locator('li[data-testid=message]', { hasText: 'a photo' });
  const thumb = onB.getByTestId('attachment-image');
  await thumb.waitFor();
  await B.waitForFunction((el) => el.complete && el.naturalWidth > 0, await thumb.elementHandle());
  assert.ok((await thumb.evaluate((el) => el.naturalWidth)) <= 320, 'the thumbnail, not the original');
  await shot(B, 'attachment-image');
  await onB.getByRole('button', { name: /Open image/ }).click();
  const full = B.getByTestId('full-image');
  await B.waitForFunction((el) => el.complete && el.naturalWidth === 2500, await full.elementHandle(), { timeout: 60000 });
  await B.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  assert.equal(await A.locator('li[data-testid=message]', { hasText: 'cancel-me' }).count(), 0);

  // a text file as a download card (drag-and-drop path: the hidden input takes it)
  const text = `notes ${sfx}\nline two\n`;
  await A.getByTestId('file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await A.locator('[data-testid=upload][data-status=done]', { hasText: 'notes.txt' }).waitFor();
  await box.fill('the notes');
  await box.press('Enter');
  const card = B.locator('li[data-testid=message]', { hasText: 'the notes' }).getByTestId('attachment-file');
  await card.filter({ hasText: 'notes.txt' }).waitFor();
  const href = await card.getAttribute('href');
  // a member downloads it (the signed URL)
  const got = await B.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, body: await r.text() };
  }, href);
  assert.deepEqual(got, { status: 200, body: text });
  // a non-member with his own token is refused
  const bare = href.replace(/\?.*$/, '');
  const refused = await C.evaluate(async (u) => {
    const r = await fetch(u, { headers: { authorization: `Bearer ${localStorage.getItem('chatd.token')}` } });
    return r.status;
  }, bare);
  assert.equal(refused, 403, 'not a member: 403');
  // and nobody without a token
  assert.equal((await fetch(bare)).status, 401);
});
