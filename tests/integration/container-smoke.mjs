// The smoke test of the compose stack (scripts/container-test): every chatd
// instance ready, the web UI and GraphiQL served; two users created and
// signed in on the user ports, a chat and a message sent through both sender
// ports, and the messages received on both receivers over graphql-ws (the
// subscription replays from seq 0, so no race with its start).
//   node tests/integration/container-smoke.mjs '<ports JSON>'
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const ports = JSON.parse(process.argv[2]);
const host = '127.0.0.1';
const WAIT_MS = 30000;
const sfx = Date.now().toString(36);
const fail = (msg) => {
  console.error(`container-smoke: FAILED: ${msg}`);
  process.exit(1);
};

async function gql(port, query, variables, token) {
  const r = await fetch(`http://${host}:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) fail(`${query.slice(0, 40)} on :${port}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function ready(url) {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return await r.text();
    } catch {}
    if (Date.now() - t0 > WAIT_MS) fail(`${url} not ready after ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

for (const role of ['user', 'sender', 'receiver'])
  for (const p of ports[role]) await ready(`http://${host}:${p}/readyz`);
const html = await ready(`http://${host}:${ports.web}/graphiql`);
if (!html.includes('<div id="root">')) fail('the web UI did not serve its page');
const cfg = JSON.parse(await ready(`http://${host}:${ports.web}/config.json`));
if (JSON.stringify(cfg.receiver) !== JSON.stringify(ports.receiver)) fail(`web config ${JSON.stringify(cfg)}`);
console.log('container-smoke: 6 chatd ready, web UI serves / and /graphiql');

const PW = 'Container-smoke-42';
const newUser = async (port, name) =>
  (await gql(port, 'mutation($i: CreateUserInput!) { createUser(createUserInput: $i) { id } }', {
    i: { username: name, email: `${name}@example.com`, password: PW },
  })).createUser.id;
const login = async (port, name) =>
  (await gql(port, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: name, p: PW })).login.token;

const a = `ct_a_${sfx}`;
const b = `ct_b_${sfx}`;
const aId = await newUser(ports.user[0], a);
const bId = await newUser(ports.user[1], b);
const aTok = await login(ports.user[1], a);
const bTok = await login(ports.user[0], b);
const chat = (await gql(ports.sender[0], 'mutation($i: CreateChatInput!) { createChat(createChatInput: $i) { id } }',
  { i: { name: `smoke ${sfx}`, participantIds: [aId, bId] } }, aTok)).createChat;
const texts = [`via sender 1 ${sfx}`, `via sender 2 ${sfx}`];
for (const [i, content] of texts.entries())
  await gql(ports.sender[i], 'mutation($i: CreateMessageInput!) { createMessage(createMessageInput: $i) { id } }',
    { i: { chatId: chat.id, senderId: aId, content } }, aTok);

// both receivers deliver both messages, in order, to the other participant
for (const port of ports.receiver) {
  const client = createClient({ url: `ws://${host}:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authToken: bTok }, retryAttempts: 0 });
  const got = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`receiver :${port}: got ${JSON.stringify(got)}`)), WAIT_MS);
    const stop = client.subscribe(
      { query: 'subscription($c: ID!) { chatEvents(chatId: $c, afterSeq: 0) { seq kind message { content } } }', variables: { c: chat.id } },
      {
        next: (r) => {
          if (r.errors) return reject(new Error(JSON.stringify(r.errors)));
          const m = r.data.chatEvents.message;
          if (m) got.push(m.content);
          if (got.length === texts.length) {
            clearTimeout(t);
            stop();
            resolve();
          }
        },
        error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
        complete: () => {},
      },
    );
  }).catch((e) => fail(e.message));
  await client.dispose();
  if (JSON.stringify(got) !== JSON.stringify(texts)) fail(`receiver :${port} delivered ${JSON.stringify(got)}`);
  console.log(`container-smoke: receiver :${port} delivered both messages over graphql-ws`);
}
console.log('container-smoke: ok');
