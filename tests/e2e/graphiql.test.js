// GraphiQL at /graphiql (web/src/GraphiQLPage.jsx): with the session of the
// chat page (signed in through its form), a query runs on the user role, a
// subscription streams over graphql-ws from the receiver in use (a replayed
// event, then a live one sent meanwhile), and after switching the receiver
// in the instance selector the subscription runs on the other receiver.
// CHATD_E2E_TRACE=1 prints the page's console, POSTs and WebSocket frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { suiteSystem } from './lib.js';

const WAIT = 30000;
const sfx = Date.now().toString(36).slice(-5);
const PASSWORD = 'correct horse 42';
// the web build, the system, one browser; the sanitizer check at the end
const S = suiteSystem();

async function gql(role, query, variables, token) {
  const r = await fetch(`http://127.0.0.1:${S.sys.ports[role][0]}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

const createUser = async (username) =>
  (await gql('user', 'mutation($i: CreateUserInput!) { createUser(createUserInput: $i) { id } }', {
    i: { username, email: `${username}@example.com`, password: PASSWORD },
  })).createUser.id;

const send = (token, chatId, senderId, content) =>
  gql('sender', 'mutation($i: CreateMessageInput!) { createMessage(createMessageInput: $i) { id } }',
    { i: { chatId, senderId, content } }, token);

const graphiqlUrl = (query, variables) =>
  `${S.sys.url}/graphiql?query=${encodeURIComponent(query)}${variables ? `&variables=${encodeURIComponent(JSON.stringify(variables))}` : ''}`;

// runs the operation once GraphiQL shows it in its editor
async function run(page, word) {
  await page.locator('.graphiql-query-editor').filter({ hasText: word }).waitFor();
  await page.locator('.graphiql-execute-button').click();
}
const response = (page) => page.locator('.graphiql-response');
// waits for text in the result pane; on failure says what the pane shows
async function shows(page, text) {
  try {
    await response(page).filter({ hasText: text }).waitFor();
  } catch (e) {
    const file = path.join(os.tmpdir(), `graphiql-fail-${process.pid}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    throw new Error(`result pane lacks ${text} (screenshot ${file}): ${await response(page).innerText().catch(() => '?')}\n${e.message}`);
  }
}

test('GraphiQL: query and subscription with the session and the instance selector', async () => {
  const a = `gqa_${sfx}`;
  const aId = await createUser(a);
  const bId = await createUser(`gqb_${sfx}`);
  const { login } = await gql('user', 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: a, p: PASSWORD });
  const chat = (await gql('sender', 'mutation($i: CreateChatInput!) { createChat(createChatInput: $i) { id } }',
    { i: { name: `graphiql ${sfx}`, participantIds: [aId, bId] } }, login.token)).createChat;
  await send(login.token, chat.id, aId, `before ${sfx}`);

  const ctx = await S.browser.newContext({ viewport: { width: 1300, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const trace = [];
  page.on('console', (m) => trace.push(`console ${m.type()}: ${m.text()}`));
  page.on('websocket', (ws) => {
    trace.push(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => trace.push(`> ${String(f.payload).slice(0, 200)}`));
    ws.on('framereceived', (f) => trace.push(`< ${String(f.payload).slice(0, 200)}`));
    ws.on('close', () => trace.push('ws close'));
  });
  page.on('request', (r) => r.method() === 'POST' && trace.push(`POST ${r.url()} ${String(r.postData()).slice(0, 120)}`));
  process.on('exit', () => { if (process.env.CHATD_E2E_TRACE) console.log(trace.join('\n')); });
  page.setDefaultTimeout(WAIT);
  // sign in on the chat page: GraphiQL uses that session
  await page.goto(S.sys.url);
  await page.getByLabel('Username').fill(a);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('me').waitFor();

  // a query: routed to the user role (me), with the session's token
  await page.goto(graphiqlUrl('query Me { me { id username } }'));
  await page.getByTestId('graphiql-session').filter({ hasText: `signed in as ${a}` }).waitFor();
  await run(page, 'me');
  await shows(page, aId);
  assert.match(await response(page).innerText(), new RegExp(`"username":\\s*"${a}"`));

  // a subscription over graphql-ws: the replayed event, then a live one
  const sub = 'subscription Events($c: ID!) { chatEvents(chatId: $c, afterSeq: 0) { seq kind message { content } } }';
  await page.goto(graphiqlUrl(sub, { c: chat.id }));
  await page.locator('[data-status=connected]').waitFor();
  assert.match(await page.getByTestId('in-use').innerText(), new RegExp(`receiver :${S.sys.ports.receiver[0]}`));
  await run(page, 'chatEvents');
  await shows(page, `before ${sfx}`);
  await send(login.token, chat.id, aId, `live one ${sfx}`);
  await shows(page, `live one ${sfx}`);

  // the other receiver, chosen in the selector (the page reloads)
  await Promise.all([page.waitForEvent('load'), page.getByLabel('Receiver').selectOption('1')]);
  await page.locator('[data-status=connected]').waitFor();
  assert.match(await page.getByTestId('in-use').innerText(), new RegExp(`receiver :${S.sys.ports.receiver[1]}`));
  await run(page, 'chatEvents');
  await shows(page, `live one ${sfx}`);
  await send(login.token, chat.id, aId, `live two ${sfx}`);
  await shows(page, `live two ${sfx}`);
  assert.deepEqual(errors, [], 'no page errors');
  await ctx.close();
});

test('GraphiQL signed out: public operations run, no socket is opened', async () => {
  const ctx = await S.browser.newContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(WAIT);
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(graphiqlUrl('{ health { status role } }'));
  await page.getByTestId('graphiql-session').filter({ hasText: 'signed out' }).waitFor();
  await run(page, 'health');
  await shows(page, '"status"');
  assert.match(await response(page).innerText(), /"role":\s*"receiver"/);
  assert.deepEqual(sockets, [], 'a signed-out GraphiQL opens no WebSocket');
  await ctx.close();
});
