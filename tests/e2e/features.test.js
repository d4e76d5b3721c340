// Browser tests of the chat features (issue 20 item 3), two or three users in
// separate browser contexts on different sender/receiver instances:
// reactions and replies seen live by the other user (picker, counts, who,
// quoted original, jump to it), search with highlighted results that open the
// chat at a message older than the loaded page, a role change and a rename
// done by one member and seen live by another, leaving a group, the 360 px
// layout (two screens and a back button; screenshots), and account settings
// (display name, password change, sign in again, sign out other sessions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteSystem, shot } from './lib.js';

const WAIT = 20000; // ms for any visible state to appear
const PASSWORD = 'correct horse 42';
const sfx = Date.now().toString(36).slice(-5);
const names = { A: `ann_${sfx}`, B: `ben_${sfx}`, C: `cat_${sfx}` };

const S = suiteSystem();
const pages = {};


async function newPage(label, viewport = { width: 1200, height: 720 }) {
  const ctx = await S.browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`[${label} pageerror] ${e.message}`));
  page.setDefaultTimeout(WAIT);
  await page.goto(S.sys.url);
  return page;
}

async function chooseInstances(page, sender, receiver) {
  for (const [label, idx] of [['Sender', sender], ['Receiver', receiver]]) {
    const sel = page.getByLabel(label);
    if ((await sel.inputValue()) !== String(idx)) {
      await Promise.all([page.waitForEvent('load'), sel.selectOption(String(idx))]);
    }
  }
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

async function signIn(page, username, password) {
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const chatItem = (page, name) => page.locator('nav[aria-label=Chats] button.chatitem', { hasText: name });
const exact = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
const msg = (page, text) =>
  page.locator('li[data-testid=message]').filter({ has: page.getByTestId('message-body').filter({ hasText: exact(text) }) });

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
  await msg(page, text).waitFor();
}

async function createGroup(page, name, usernames) {
  await page.getByRole('button', { name: 'New chat' }).click();
  const dlg = page.getByRole('dialog', { name: 'New chat' });
  await dlg.getByLabel('Chat name').fill(name);
  for (const u of usernames) {
    await dlg.getByLabel('Search people').fill(u);
    await dlg.getByRole('checkbox', { name: new RegExp(u) }).check();
  }
  await dlg.getByRole('button', { name: 'Create chat' }).click();
  await page.getByRole('region', { name: `Chat ${name}` }).waitFor();
}

test('reactions and replies are seen live by the other user', { timeout: 180000 }, async () => {
  const A = (pages.A = await newPage('A'));
  const B = (pages.B = await newPage('B'));
  await chooseInstances(A, 0, 0);
  await chooseInstances(B, 1, 1);
  await signUp(A, names.A, 'Ann');
  await signUp(B, names.B, 'Ben');

  await createGroup(A, 'Features', [names.B]);
  await send(A, 'lunch at noon?');
  await chatItem(B, 'Features').click();
  await msg(B, 'lunch at noon?').waitFor();

  // B reacts 👍 through the picker; A sees the count and who, live
  const onB = msg(B, 'lunch at noon?');
  await onB.hover();
  await onB.getByRole('button', { name: 'React', exact: true }).click();
  await onB.getByRole('button', { name: 'React 👍' }).click();
  const onA = msg(A, 'lunch at noon?');
  const thumbsA = onA.locator('[data-testid=reaction][data-emoji="👍"]');
  await thumbsA.filter({ hasText: '1' }).waitFor();
  assert.match(await thumbsA.getAttribute('aria-label'), /Ben/);
  assert.equal(await thumbsA.getAttribute('aria-pressed'), 'false', 'not A\'s own reaction');
  // A adds the same emoji by its chip: 2, and both names, on B's screen too
  await thumbsA.click();
  const thumbsB = onB.locator('[data-testid=reaction][data-emoji="👍"]');
  await thumbsB.filter({ hasText: '2' }).waitFor();
  assert.match(await thumbsB.getAttribute('aria-label'), /Ann.*Ben|Ben.*Ann/);
  assert.equal(await thumbsB.getAttribute('aria-pressed'), 'true', 'B\'s own reaction is marked');
  // B takes it back: A sees 1 again
  await thumbsB.click();
  await thumbsA.filter({ hasText: exact('👍 1') }).waitFor();

  // several messages later B replies to the first one; A sees the quote live
  for (let i = 1; i <= 3; i++) await send(A, `filler ${i}`);
  await msg(B, 'filler 3').waitFor();
  await onB.hover();
  await onB.getByRole('button', { name: 'Reply', exact: true }).click();
  await B.getByTestId('replying').filter({ hasText: 'lunch at noon?' }).waitFor();
  await send(B, 'yes, see you there');
  assert.equal(await B.getByTestId('replying').count(), 0, 'the reply bar closes after sending');
  const reply = msg(A, 'yes, see you there');
  await reply.waitFor();
  const quote = reply.getByTestId('quote');
  await quote.filter({ hasText: 'lunch at noon?' }).waitFor();
  await quote.filter({ hasText: 'Ann' }).waitFor();
  await shot(A, 'reactions-replies');
  // jump to the original: it is highlighted
  await quote.click();
  await A.locator('li[data-testid=message].flash', { hasText: 'lunch at noon?' }).waitFor();
});

test('search finds a message and jumps to it in its chat', { timeout: 180000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  await createGroup(A, 'Archive', [names.B]);
  const word = `zebra${sfx}`;
  await send(A, `the ${word} report is ready`);
  const N = 35; // more than one page (30): the hit is not in the first page
  for (let i = 1; i <= N; i++) await send(A, `later ${i}`);
  // B is on another chat; searches
  await chatItem(B, 'Features').click();
  await B.getByRole('searchbox', { name: 'Search messages' }).fill(word.slice(0, -2)); // a prefix matches
  const hit = B.getByTestId('search-result').filter({ hasText: 'Archive' });
  await hit.waitFor();
  assert.equal(await hit.locator('mark').first().innerText(), word, 'the match is highlighted');
  await shot(B, 'search');
  await hit.click();
  await B.getByRole('region', { name: 'Chat Archive' }).waitFor();
  const target = B.locator('li[data-testid=message].flash', { hasText: `the ${word} report is ready` });
  await target.waitFor();
  await target.evaluate((el) => new Promise((r) => setTimeout(r, 300)));
  const inView = await target.evaluate((el) => {
    const list = el.closest('ol').getBoundingClientRect();
    const r = el.getBoundingClientRect();
    return r.bottom > list.top && r.top < list.bottom;
  });
  assert.ok(inView, 'the message is scrolled into view');
  // clearing the search shows the chat list again
  await B.getByRole('searchbox', { name: 'Search messages' }).fill('');
  await chatItem(B, 'Features').waitFor();
});

test('a role change and a rename by one member are seen by another', { timeout: 180000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  await chatItem(A, 'Features').click();
  await chatItem(B, 'Features').click();
  // B (a member) sees members and roles but cannot rename yet
  await B.getByRole('button', { name: 'Members' }).click();
  const benRow = (P) => P.locator(`[data-testid=member][data-user=${names.B}]`);
  await benRow(B).filter({ hasText: 'member' }).waitFor();
  await B.locator(`[data-testid=member][data-user=${names.A}][data-role=OWNER]`).waitFor();
  assert.equal(await B.getByRole('button', { name: 'Rename' }).count(), 0, 'a member cannot rename');

  // A (owner) makes B an admin; B's list and B's own controls follow live
  await A.getByRole('button', { name: 'Members' }).click();
  await benRow(A).getByRole('button', { name: 'Make admin' }).click();
  await benRow(A).and(A.locator('[data-role=ADMIN]')).waitFor();
  await benRow(B).and(B.locator('[data-role=ADMIN]')).waitFor();
  await B.getByText('you are admin').waitFor();
  await B.getByTestId('system-message').filter({ hasText: /admin/ }).first().waitFor();
  await shot(B, 'members');

  // B renames the chat; A sees the new name in the list and the header
  await B.getByRole('button', { name: 'Rename' }).click();
  const dlg = B.getByRole('dialog', { name: 'Rename chat' });
  await dlg.getByLabel('Chat name').fill('Features v2');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await A.getByTestId('chat-title').filter({ hasText: exact('Features v2') }).waitFor();
  await chatItem(A, 'Features v2').waitFor();
  await B.getByTestId('chat-title').filter({ hasText: exact('Features v2') }).waitFor();

  // an admin cannot change roles: no role buttons on B's side
  assert.equal(await B.getByRole('button', { name: 'Make admin' }).count(), 0);
});

test('leaving a group removes it from the list; the others see it', { timeout: 120000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  await chatItem(A, 'Archive').click();
  await chatItem(B, 'Archive').click();
  await B.getByRole('button', { name: 'Leave' }).click();
  await B.getByRole('button', { name: 'Yes, leave' }).click();
  await chatItem(B, 'Archive').waitFor({ state: 'detached' });
  await A.getByTestId('system-message').filter({ hasText: /left/ }).waitFor();
  await A.getByRole('region', { name: 'Chat Archive' }).getByText(/^1 members/).waitFor();
});

test('360 px wide: chat list and chat are two screens with a back button', { timeout: 120000 }, async () => {
  const P = await newPage('phone', { width: 360, height: 740 });
  await signIn(P, names.B, PASSWORD);
  await P.getByTestId('me').waitFor();
  await P.locator('[data-status=connected]').waitFor();
  const list = P.getByRole('navigation', { name: 'Chats' });
  await chatItem(P, 'Features v2').waitFor();
  const overflow = () => P.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, 'no horizontal scrolling on the chat list');
  await shot(P, 'mobile-chat-list');
  await chatItem(P, 'Features v2').click();
  const chat = P.getByRole('region', { name: 'Chat Features v2' });
  await chat.waitFor();
  assert.equal(await list.isVisible(), false, 'the list is hidden while a chat is open');
  await msg(P, 'yes, see you there').waitFor();
  await send(P, 'sent from a phone');
  await chatItem(pages.A, 'Features v2').getByTestId('preview').filter({ hasText: 'sent from a phone' }).waitFor();
  assert.ok((await overflow()) <= 0, 'no horizontal scrolling in a chat');
  const composer = await P.getByRole('textbox', { name: 'Message', exact: true }).boundingBox();
  assert.ok(composer.x >= 0 && composer.x + composer.width <= 360, 'the composer fits');
  await shot(P, 'mobile-chat');
  await P.getByRole('button', { name: 'Back to chats' }).click();
  await list.waitFor();
  assert.equal(await chat.count(), 0, 'back on the list');
  await P.context().close();
});

test('account settings: display name, password change, sign in again, sign out other sessions', { timeout: 180000 }, async () => {
  const A = pages.A;
  const B = pages.B;
  assert.ok(A && B, 'needs the first test');
  // a second session of Ann (another device)
  const A2 = await newPage('A2');
  await signIn(A2, names.A, PASSWORD);
  await A2.locator('[data-status=connected]').waitFor();

  await A.getByRole('button', { name: 'Account' }).click();
  const dlg = A.getByRole('dialog', { name: 'Account' });
  await dlg.getByLabel('Display name').fill('Ann Smith');
  await dlg.getByRole('button', { name: 'Save name' }).click();
  await dlg.getByRole('status').filter({ hasText: 'Display name saved' }).waitFor();
  await A.getByTestId('me').filter({ hasText: 'Ann Smith' }).waitFor();
  // others see the new name where they load it
  await B.reload();
  await chatItem(B, 'Features v2').click();
  await msg(B, 'lunch at noon?').locator('.msg-sender', { hasText: 'Ann Smith' }).waitFor();

  // wrong current password: refused, nothing changes
  await dlg.getByLabel('Current password').fill('not the password');
  await dlg.getByLabel('New password', { exact: true }).fill('battery staple 77');
  await dlg.getByLabel('Repeat new password').fill('battery staple 77');
  await dlg.getByRole('button', { name: 'Change password' }).click();
  await dlg.getByRole('alert').filter({ hasText: /incorrect/i }).waitFor();
  // the right one: this device stays signed in, the other one is signed out
  await dlg.getByLabel('Current password').fill(PASSWORD);
  await dlg.getByRole('button', { name: 'Change password' }).click();
  await dlg.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
  await shot(A, 'account');
  await dlg.getByRole('button', { name: 'Close' }).click();
  // the socket was closed 4401 and reconnects with the new token (argon2id
  // work of changePassword + login on a loaded machine: a wider bound)
  await A.locator('[data-status=connected]').waitFor({ timeout: 45000 });
  await chatItem(A, 'Features v2').click();
  await send(A, 'after the password change');
  await msg(B, 'after the password change').waitFor();
  await A2.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 30000 });

  // sign in again: the old password is refused, the new one works
  await signIn(A2, names.A, PASSWORD);
  await A2.getByRole('alert').filter({ hasText: /Invalid username or password/ }).waitFor();
  await signIn(A2, names.A, 'battery staple 77');
  await A2.getByTestId('me').filter({ hasText: 'Ann Smith' }).waitFor();
  await A2.locator('[data-status=connected]').waitFor();

  // sign out other sessions from A: A2 goes back to the sign-in screen, A stays
  await A.getByRole('button', { name: 'Account' }).click();
  await dlg.getByLabel('Password (to stay signed in here)').fill('battery staple 77');
  await dlg.getByRole('button', { name: 'Sign out other sessions' }).click();
  await dlg.getByRole('status').filter({ hasText: 'Other sessions were signed out' }).waitFor();
  await dlg.getByRole('button', { name: 'Close' }).click();
  await A2.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 30000 });
  await A.locator('[data-status=connected]').waitFor({ timeout: 45000 });
  await chatItem(A, 'Features v2').click(); // the re-sign-in reopened the app on the list
  await send(A, 'still signed in here');
  await msg(B, 'still signed in here').waitFor();
  await A2.context().close();
});
