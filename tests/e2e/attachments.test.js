// Browser test of attachments (issue 20 items 1-3; the server's API in
// docs/api.md "Files"): Fay uploads a ~1.9 MB image through the attach
// button with the browser's upload bandwidth throttled (Chromium's network
// emulation over a CDP session), so the progress bar shows values between 0
// and 1 before it completes; a second upload is cancelled half-way (it goes
// away, no message carries it, and the server keeps neither a row nor the
// bytes nor a temp file). She sends the image; Ben sees the thumbnail live
// and opens the full view; a text file shows as a download card that Ben (a
// member) downloads, while Cal (not a member) is refused the same file with
// his own token. Needs a chatd with attachments (the client probes for the
// Attachment type and hides the attach button otherwise): skipped while the
// schema has no Attachment type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { suiteSystem, shot, repoRoot, filesDir } from './lib.js';
import { png } from '../integration/lib/files.js';

const WAIT = 20000;
// the browser's upload bandwidth while the two uploads run: the ~1.9 MB
// image takes ~3 s, long enough for several progress events (Chromium sends
// one at most every 100 ms), short enough for the suite
const UPLOAD_BYTES_PER_S = 640 * 1024;
const PASSWORD = 'correct horse 42';
const sfx = Date.now().toString(36).slice(-5);
const names = { A: `fay_${sfx}`, B: `gus_${sfx}`, C: `cal_${sfx}` };

const S = suiteSystem();

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

  // Throttled uploads (the browser's own network emulation, as DevTools'
  // "slow network": without it Chromium on loopback hands the whole body to
  // the socket at once and reports no progress between 0 and 1)
  const cdp = await A.context().newCDPSession(A);
  await cdp.send('Network.enable');
  const throttle = (uploadThroughput) =>
    cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await throttle(UPLOAD_BYTES_PER_S);
  // every value the progress bars show, sampled in the page
  await A.evaluate(() => {
    window.seenProgress = {};
    setInterval(() => {
      for (const p of document.querySelectorAll('progress')) {
        const name = p.getAttribute('aria-label');
        (window.seenProgress[name] ||= []).push(p.value);
      }
    }, 5);
  });
  const attach = async (name, buffer) => {
    const [chooser] = await Promise.all([A.waitForEvent('filechooser'), A.getByRole('button', { name: 'Attach files' }).click()]);
    await chooser.setFiles({ name, mimeType: 'image/png', buffer });
  };
  const img = png(800, 800, { noise: 12345 }); // ~1.9 MB, under every limit
  assert.ok(img.length > 1.5e6 && img.length < 2.5e6, `${img.length} bytes`);
  const t0 = Date.now();
  await attach('noise.png', img);
  await A.getByRole('progressbar', { name: 'Uploading noise.png' }).waitFor();
  assert.equal(await A.getByRole('button', { name: 'Send' }).isDisabled(), true, 'no send while an upload runs');
  await A.locator('[data-testid=upload][data-status=done]', { hasText: 'noise.png' }).waitFor({ timeout: 60000 });
  const took = Date.now() - t0;
  const seen = (await A.evaluate(() => window.seenProgress))['Uploading noise.png'] || [];
  const between = [...new Set(seen.filter((v) => v > 0 && v < 1))];
  console.log(`# noise.png (${img.length} bytes) uploaded in ${took} ms; progress values between 0 and 1: ${between.map((v) => v.toFixed(2)).join(' ')}`);
  assert.ok(between.length >= 2, `the bar showed values between 0 and 1 while the bytes went out (saw ${JSON.stringify(seen.slice(0, 20))}…)`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], 'progress never goes back');

  // a second upload, cancelled half-way: it goes away and is never sent
  const cancelPng = png(800, 800, { noise: 777 });
  const cancelSha = crypto.createHash('sha256').update(cancelPng).digest('hex');
  await attach('cancel-me.png', cancelPng);
  const bar = A.getByRole('progressbar', { name: 'Uploading cancel-me.png' });
  await A.waitForFunction(() => {
    const p = document.querySelector('progress[aria-label="Uploading cancel-me.png"]');
    return p && p.value >= 0.2;
  });
  const dir = filesDir();
  const rows = () => Number(execFileSync('psql', ['-XAtq', '-d', process.env.CHATD_TEST_DATABASE_URL, '-c',
    "SELECT count(*) FROM files WHERE name = 'cancel-me.png'"], { encoding: 'utf8' }).trim());
  const parts = () => (fs.existsSync(path.join(dir, 'tmp')) ? fs.readdirSync(path.join(dir, 'tmp')) : []);
  // the server is receiving it (its temp file) when it is cancelled
  assert.ok(parts().length > 0, 'a temp file for the upload in progress');
  const at = await bar.evaluate((p) => p.value);
  assert.ok(at > 0 && at < 1, `cancelled half-way (at ${at})`);
  await A.getByRole('button', { name: 'Cancel cancel-me.png' }).click();
  await A.locator('[data-testid=upload]', { hasText: 'cancel-me.png' }).waitFor({ state: 'detached' });
  // the server keeps nothing of it: no row, no bytes at its content address, no temp file
  let left = null;
  for (const end = Date.now() + 15000; Date.now() < end;) {
    left = { rows: rows(), parts: parts(), blob: fs.existsSync(path.join(dir, cancelSha.slice(0, 2), cancelSha)) };
    if (left.rows === 0 && left.parts.length === 0 && !left.blob) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(left, { rows: 0, parts: [], blob: false }, 'the cancelled upload left nothing on the server');
  // only now: the page's abort reaches Chromium's network service asynchronously, and lifting
  // the throttle before it arrived let the rest of the body go out at once (seen once under
  // make test: the cancelled file stored). While throttled, a cancel that did not happen still
  // shows: the body completes within the wait above and the file is stored.
  await throttle(-1);
  // the image that did finish is stored (so the checks above look in the right place)
  const pngSha = crypto.createHash('sha256').update(img).digest('hex');
  assert.ok(fs.existsSync(path.join(dir, pngSha.slice(0, 2), pngSha)), 'noise.png is in the store');
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
  await B.waitForFunction((el) => el.complete && el.naturalWidth === 800, await full.elementHandle(), { timeout: 60000 });
  await B.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  // the message carries the finished upload only
  assert.equal(await onB.getByTestId('attachment-image').count(), 1, 'one attachment on the message');
  assert.equal(await onB.getByTestId('attachment-file').count(), 0);
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
