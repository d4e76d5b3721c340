// Browser test of the web client — the seeds' multi-instance scenario, three
// users in three browser contexts, each on a different sender/receiver pair:
// A creates a group with B and C and sends; B and C see it live; unread dots
// appear and clear; ✓✓ stays gray until both B and C opened the chat, then
// turns blue; typing shows; edit and delete reach the others; C switches its
// receiver and keeps receiving; a receiver is killed and A's UI reconnects to
// the other one and shows every message sent meanwhile exactly once.
// Screenshots of the main screens: see SHOTS in lib.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteSystem, shot } from './lib.js';

const WAIT = 20000; // ms for any visible state to appear
const sfx = Date.now().toString(36).slice(-5);

const S = suiteSystem();
const pages = {};


async function newPage(label) {
  const ctx = await S.browser.newContext({ viewport: { width: 1200, height: 720 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`[${label} pageerror] ${e.message}`));
  page.setDefaultTimeout(WAIT);
  await page.goto(S.sys.url);
  return page;
}

// picks sender/receiver instance i on the login screen (the page reloads)
async function chooseInstances(page, sender, receiver) {
  for (const [name, idx] of [['sender', sender], ['receiver', receiver]]) {
    const sel = page.getByLabel(name === 'sender' ? 'Sender' : 'Receiver');
    if ((await sel.inputValue()) !== String(idx)) {
      await Promise.all([page.waitForEvent('load'), sel.selectOption(String(idx))]);
    }
  }
}

async function signUp(page, username, displayName) {
  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill('correct horse 42');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('me').filter({ hasText: displayName }).waitFor();
  await page.locator('[data-status=connected]').waitFor();
}

const chatItem = (page, name) => page.locator('nav[aria-label=Chats] button.chatitem', { hasText: name });
const bodies = (page) => page.getByTestId('message-body');

const exact = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
// the message whose body is exactly text
const msg = (page, text) =>
  page.locator('li[data-testid=message]').filter({ has: page.getByTestId('message-body').filter({ hasText: exact(text) }) });

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
  await msg(page, text).waitFor();
}

async function countOf(page, text) {
  return page.getByTestId('message-body').filter({ hasText: exact(text) }).count();
}

test('three users on different instances: live messages, unread, receipts, typing, failover', { timeout: 240000 }, async () => {
  const names = { A: `alice_${sfx}`, B: `bob_${sfx}`, C: `carol_${sfx}` };
  const A = (pages.A = await newPage('A'));
  const B = (pages.B = await newPage('B'));
  const C = (pages.C = await newPage('C'));

  // the seeds' assignment: A s1/r1, B s1/r2, C s2/r1
  await chooseInstances(A, 0, 0);
  await chooseInstances(B, 0, 1);
  await chooseInstances(C, 1, 0);
  await shot(A, 'login');
  await signUp(A, names.A, 'Alice');
  await signUp(B, names.B, 'Bob');
  await signUp(C, names.C, 'Carol');
  const r = S.sys.ports.receiver;
  const s = S.sys.ports.sender;
  await B.getByTestId('in-use').filter({ hasText: `sender :${s[0]} · receiver :${r[1]}` }).waitFor();
  await C.getByTestId('in-use').filter({ hasText: `sender :${s[1]} · receiver :${r[0]}` }).waitFor();

  // A creates the group
  await A.getByRole('button', { name: 'New chat' }).click();
  const dlg = A.getByRole('dialog', { name: 'New chat' });
  await dlg.getByLabel('Chat name').fill('Project X');
  await dlg.getByLabel('Search people').fill(names.B);
  await dlg.getByRole('checkbox', { name: new RegExp(names.B) }).check();
  await shot(A, 'create-chat');
  await dlg.getByRole('button', { name: 'Create chat' }).click();
  await A.getByRole('region', { name: 'Chat Project X' }).waitFor();
  await chatItem(B, 'Project X').waitFor(); // live, via chatAdded

  // ... and adds C (AddUsersModal); C sees the chat appear live
  await A.getByRole('button', { name: 'Add people' }).click();
  const add = A.getByRole('dialog', { name: /Add people/ });
  await add.getByLabel('Search people').fill(names.C);
  await add.getByRole('checkbox', { name: new RegExp(names.C) }).check();
  await add.getByRole('button', { name: 'Add' }).click();
  await A.getByText('3 members').waitFor();
  await chatItem(C, 'Project X').waitFor();

  // A sends; B and C get preview + unread badge live
  await send(A, 'hello from A');
  const ticks = A.locator('li[data-testid=message]', { hasText: 'hello from A' }).getByTestId('ticks');
  await ticks.and(A.locator('[data-read=false]')).waitFor();
  for (const P of [B, C]) {
    await chatItem(P, 'Project X').getByTestId('preview').filter({ hasText: 'hello from A' }).waitFor();
    await chatItem(P, 'Project X').getByLabel('1 unread').waitFor();
  }
  await shot(B, 'chat-list-unread');

  // B opens: its dot clears; A's ticks stay gray (C has not read)
  await chatItem(B, 'Project X').click();
  await B.locator('li[data-testid=message]', { hasText: 'hello from A' }).waitFor();
  await chatItem(B, 'Project X').getByTestId('unread').waitFor({ state: 'detached' });
  // give a wrong blue tick a fair chance to show before asserting gray
  await B.waitForTimeout(500);
  assert.equal(await ticks.getAttribute('data-read'), 'false', 'read by B only: still gray');

  // C opens: now blue
  await chatItem(C, 'Project X').click();
  await C.locator('li[data-testid=message]', { hasText: 'hello from A' }).waitFor();
  await chatItem(C, 'Project X').getByTestId('unread').waitFor({ state: 'detached' });
  await A.locator('li[data-testid=message]', { hasText: 'hello from A' }).locator('[data-testid=ticks][data-read=true]').waitFor();

  // replies reach everyone; online dots show the others
  await send(C, 'hi from C');
  await A.locator('li[data-testid=message]', { hasText: 'hi from C' }).waitFor();
  await B.locator('li[data-testid=message]', { hasText: 'hi from C' }).waitFor();
  await chatItem(A, 'Project X').getByTestId('online').waitFor();

  // typing
  await B.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('typing something', { delay: 10 });
  await A.getByTestId('typing').filter({ hasText: 'Bob is typing' }).waitFor();
  await shot(A, 'chat-window');
  await B.getByRole('textbox', { name: 'Message', exact: true }).fill('');

  // edit and delete own messages
  const mine = A.locator('li[data-testid=message]', { hasText: 'hello from A' });
  await mine.hover();
  await mine.getByRole('button', { name: 'Edit message' }).click();
  await A.getByLabel('Edit message').fill('hello from A (edited)');
  await A.getByLabel('Edit message').press('Enter');
  await B.locator('li[data-testid=message]', { hasText: 'hello from A (edited)' }).getByText('edited', { exact: true }).waitFor();
  await send(A, 'to be deleted');
  await C.locator('li[data-testid=message]', { hasText: 'to be deleted' }).waitFor();
  const del = A.locator('li[data-testid=message]', { hasText: 'to be deleted' });
  await del.hover();
  await del.getByRole('button', { name: 'Delete message' }).click();
  await C.locator('li[data-testid=message]', { hasText: 'to be deleted' }).waitFor({ state: 'detached' });
  await C.getByRole('region', { name: 'Chat Project X' }).getByText('Message deleted').waitFor(); // (the chat list's preview says so too)

  // C switches its receiver (page reloads, session kept) and keeps receiving
  await Promise.all([C.waitForEvent('load'), C.getByLabel('Receiver').selectOption('1')]);
  await C.getByTestId('in-use').filter({ hasText: `receiver :${r[1]}` }).waitFor();
  await C.locator('[data-status=connected]').waitFor();
  await chatItem(C, 'Project X').click();
  await C.locator('li[data-testid=message]', { hasText: 'hi from C' }).waitFor();
  await send(A, 'after the switch');
  await C.locator('li[data-testid=message]', { hasText: 'after the switch' }).waitFor();

  // receiver 1 (A's) dies; B sends while A reconnects; A shows all, once
  await S.sys.procs.receiver[0].stop('SIGKILL');
  await A.locator('[data-status=reconnecting]').waitFor();
  const outage = ['during outage 1', 'during outage 2', 'during outage 3'];
  for (const t of outage) await send(B, t);
  await A.locator('[data-status=connected]').waitFor();
  await A.getByTestId('in-use').filter({ hasText: `receiver :${r[1]}` }).waitFor();
  for (const t of outage) await A.locator('li[data-testid=message]', { hasText: t }).waitFor();
  await send(B, 'after failover');
  await A.locator('li[data-testid=message]', { hasText: 'after failover' }).waitFor();
  for (const t of [...outage, 'hi from C', 'after the switch', 'after failover']) {
    assert.equal(await countOf(A, t), 1, `A shows "${t}" once`);
  }
  // seq order in the DOM
  const seqs = await A.locator('li[data-testid=message]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(new Set(seqs).size, seqs.length);
  await bodies(A).first().waitFor();
});

test('a failed send shows Retry and the retry delivers once', { timeout: 60000 }, async () => {
  const A = pages.A;
  assert.ok(A, 'needs the first test');
  // both senders down → the send fails visibly
  await A.context().setOffline(false);
  await A.route(/\/graphql$/, (route) => {
    const body = route.request().postData() || '';
    if (body.includes('CreateMessage')) return route.abort('connectionrefused');
    return route.continue();
  });
  const box = A.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill('retry me');
  await box.press('Enter');
  const failed = A.locator('li[data-testid=pending].failed', { hasText: 'retry me' });
  await failed.waitFor();
  await shot(A, 'send-failed');
  await A.unroute(/\/graphql$/);
  await failed.getByRole('button', { name: 'Retry' }).click();
  await A.locator('li[data-testid=message]', { hasText: 'retry me' }).waitFor();
  await A.locator('li[data-testid=pending]').waitFor({ state: 'detached' });
  await pages.B.locator('li[data-testid=message]', { hasText: 'retry me' }).waitFor();
  assert.equal(await countOf(pages.B, 'retry me'), 1);
});

test('direct chat: history is paged by seq when scrolling up', { timeout: 90000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  const bob = await B.getByTestId('me').textContent();
  await A.getByRole('button', { name: 'New chat' }).click();
  const dlg = A.getByRole('dialog', { name: 'New chat' });
  await dlg.getByRole('radio', { name: 'Direct' }).check();
  await dlg.getByLabel('Search people').fill('bob_');
  await dlg.getByRole('radio', { name: new RegExp(bob) }).check();
  await dlg.getByRole('button', { name: 'Create chat' }).click();
  await A.getByRole('region', { name: `Chat ${bob}` }).waitFor();
  const N = 45; // more than one page (30)
  for (let i = 1; i <= N; i++) await send(A, `m${i}`);
  await chatItem(B, 'Alice').getByLabel(`${N} unread`).waitFor();
  await chatItem(B, 'Alice').click();
  await msg(B, `m${N}`).waitFor();
  // only the newest page first
  assert.equal(await countOf(B, 'm1'), 0);
  // scroll to the top until the first message is loaded
  const list = B.getByRole('list', { name: 'Messages' });
  for (let k = 0; k < 10 && (await countOf(B, 'm1')) === 0; k++) {
    await list.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await B.waitForTimeout(300);
  }
  await msg(B, 'm1').waitFor();
  for (let i = 1; i <= N; i++) assert.equal(await countOf(B, `m${i}`), 1, `m${i} once`);
  const seqs = await B.locator('li[data-testid=message]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  await chatItem(B, 'Alice').getByTestId('unread').waitFor({ state: 'detached' });
});

test('a chat loaded before a read committed does not bring the read count back', { timeout: 60000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  await chatItem(A, 'Project X').click();
  await send(A, 'stale count?');
  await chatItem(B, 'Project X').getByLabel('1 unread').waitFor();
  // B opens the chat: its GetChat query is answered at once (count 1, before
  // the read) but handed to the page only after the read's count (0) came
  // on the stream — as a slow receiver does
  const readDone = B.waitForResponse((r) => (r.request().postData() || '').includes('"MarkChatAsRead"'));
  let delayed = 0;
  await B.route(/\/graphql$/, async (route) => {
    if (!(route.request().postData() || '').includes('"GetChat"')) return route.continue();
    const response = await route.fetch();
    await readDone;
    await new Promise((r) => setTimeout(r, 500));
    delayed++;
    return route.fulfill({ response });
  });
  await chatItem(B, 'Project X').click();
  await msg(B, 'stale count?').waitFor();
  await readDone;
  await B.waitForTimeout(1000); // the delayed answer is in
  await B.unroute(/\/graphql$/);
  assert.ok(delayed >= 1, 'the GetChat answer was held back');
  await chatItem(B, 'Project X').getByTestId('unread').waitFor({ state: 'detached', timeout: 2000 });
});

test('offline status, and an unusable access token is refreshed with the refresh token', { timeout: 60000 }, async () => {
  const A = pages.A;
  assert.ok(A, 'needs the first test');
  await A.context().setOffline(true);
  await A.locator('[data-status=offline]').waitFor();
  await A.context().setOffline(false);
  await A.locator('[data-status=connected]').waitFor();

  // a token that cannot be verified: the client rotates the refresh token
  const before = await A.evaluate(() => localStorage.getItem('chatd.refreshToken'));
  await A.evaluate(() => localStorage.setItem('chatd.token', 'not.a.token'));
  await A.reload();
  await A.locator('[data-status=connected]').waitFor();
  await chatItem(A, 'Project X').waitFor();
  const after = await A.evaluate(() => ({ t: localStorage.getItem('chatd.token'), r: localStorage.getItem('chatd.refreshToken') }));
  assert.notEqual(after.t, 'not.a.token');
  assert.notEqual(after.r, before, 'refresh token rotated');
  await chatItem(A, 'Project X').click();
  await send(A, 'after refresh');
  await msg(pages.C, 'after refresh').waitFor();
});
