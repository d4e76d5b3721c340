// A sender killed between COMMIT and PUBLISH loses nothing: the process
// started with CHATD_TEST_CRASH_AFTER_COMMIT=1 (test hook, needs test
// fixtures) exits right after its first createMessage commits; the event
// sits in chat_events unpublished; another sender's sweeper publishes it to
// a Redis subscriber of the chat channel and marks it published.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startChatd, gqlPost, signToken, sql } from './lib/chatd.js';
import { redisSubscribe } from './lib/redis-sub.js';

// The tests write users with psql: make sure the schema exists even when this
// suite runs first on a fresh database (a chatd with a database migrates it).
before(async () => {
  const migrator = await startChatd({ role: 'sender', db: true });
  await migrator.stop();
});

test('an event committed by a sender that died before PUBLISH reaches a Redis subscriber', async () => {
  const s = Date.now().toString(36);
  const [a, b] = sql(`INSERT INTO users (username, email) VALUES ('crash_a${s}', 'ca${s}@example.com'), ('crash_b${s}', 'cb${s}@example.com') RETURNING id`).split('\n');
  const h = { authorization: `Bearer ${signToken({ sub: a })}` };

  const doomed = await startChatd({ role: 'sender', db: true, redis: true, env: { CHATD_TEST_CRASH_AFTER_COMMIT: '1' } });
  const chatRes = await gqlPost(doomed.url, { query: 'mutation($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }', variables: { in: { name: 'crash', participantIds: [b] } } }, h);
  const chatId = chatRes.body.data.createChat.id;
  const sub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, [`chat:${chatId}`]);
  try {
    const send = gqlPost(doomed.url, { query: 'mutation($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }', variables: { in: { chatId, senderId: a, content: 'survives the crash' } } }, h).catch((e) => e);
    const { code } = await doomed.exited;
    assert.equal(code, 86, doomed.logs());
    assert.ok((await send) instanceof Error, 'the client saw the connection drop');
    // committed, not published
    assert.equal(sql(`SELECT seq || '|' || kind || '|' || EXISTS (SELECT 1 FROM chat_outbox o WHERE o.chat_id = e.chat_id AND o.seq = e.seq) FROM chat_events e WHERE chat_id = '${chatId}'`), '1|message.created|true');
    assert.equal(sub.messages.length, 0);

    const rescuer = await startChatd({ role: 'sender', db: true, redis: true });
    try {
      const m = await sub.next((x) => x.json && x.json.seq === 1, 10000);
      assert.equal(m.json.kind, 'message.created');
      assert.equal(m.json.chatId, chatId);
      assert.equal(m.json.data.content, 'survives the crash');
      assert.match(rescuer.logs(), /republishing 1 unconfirmed event/);
      let published = 'f';
      for (let i = 0; i < 30 && published !== 't'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        published = sql(`SELECT NOT EXISTS (SELECT 1 FROM chat_outbox WHERE chat_id = '${chatId}' AND seq = 1)`);
      }
      assert.equal(published, 't');
      // later sweeps do not publish it again
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(sub.messages.filter((x) => x.json && x.json.seq === 1).length, 1);
    } finally {
      assert.equal((await rescuer.stop()).code, 0, rescuer.logs());
    }
  } finally {
    sub.close();
  }
});

test('end to end: a receiver subscriber of messageAdded gets the message a crashed sender committed', async () => {
  const s = Date.now().toString(36);
  const [a, b] = sql(`INSERT INTO users (username, email) VALUES ('e2e_a${s}', 'ea${s}@example.com'), ('e2e_b${s}', 'eb${s}@example.com') RETURNING id`).split('\n');
  const h = { authorization: `Bearer ${signToken({ sub: a })}` };
  const receiver = await startChatd({ role: 'receiver', db: true, redis: true, fixtures: false });
  const doomed = await startChatd({ role: 'sender', db: true, redis: true, env: { CHATD_TEST_CRASH_AFTER_COMMIT: '1' } });
  let rescuer;
  const client = createClient({ url: receiver.wsUrl, webSocketImpl: WebSocket, connectionParams: { authToken: signToken({ sub: b }) }, retryAttempts: 0 });
  try {
    const chatRes = await gqlPost(doomed.url, { query: 'mutation($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }', variables: { in: { name: 'e2e', participantIds: [b] } } }, h);
    const chatId = chatRes.body.data.createChat.id;
    const got = [];
    let subscribed;
    const arrived = new Promise((resolve, reject) => {
      client.subscribe(
        { query: 'subscription($c: ID!) { messageAdded(chatId: $c) { id seq content senderId } }', variables: { c: chatId } },
        { next: (v) => (got.push(v), resolve(v)), error: reject, complete: () => {} },
      );
      subscribed = new Promise((r) => setTimeout(r, 500)); // let the receiver subscribe its Redis channel
    });
    await subscribed;
    await gqlPost(doomed.url, { query: 'mutation($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }', variables: { in: { chatId, senderId: a, content: 'e2e after crash' } } }, h).catch(() => {});
    assert.equal((await doomed.exited).code, 86, doomed.logs());
    rescuer = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false });
    const v = await Promise.race([arrived, new Promise((_, rej) => setTimeout(() => rej(new Error(`nothing in 10 s:\n${receiver.logs()}`)), 10000))]);
    assert.equal(v.errors, undefined, JSON.stringify(v));
    assert.deepEqual({ ...v.data.messageAdded, id: 'x' }, { id: 'x', seq: 1, content: 'e2e after crash', senderId: a });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.length, 1);
  } finally {
    client.dispose();
    if (rescuer) assert.equal((await rescuer.stop()).code, 0, rescuer.logs());
    assert.equal((await receiver.stop()).code, 0, receiver.logs());
  }
});

test('messages written while Redis is down are published by the sweeper once it is back', async () => {
  const s = Date.now().toString(36);
  const [a, b] = sql(`INSERT INTO users (username, email) VALUES ('rd_a${s}', 'ra${s}@example.com'), ('rd_b${s}', 'rb${s}@example.com') RETURNING id`).split('\n');
  const h = { authorization: `Bearer ${signToken({ sub: a })}` };
  const srv = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false });
  let sub;
  try {
    const chatRes = await gqlPost(srv.url, { query: 'mutation($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }', variables: { in: { name: 'rd', participantIds: [b] } } }, h);
    const chatId = chatRes.body.data.createChat.id;
    execFileSync(process.env.CHATD_TESTENV, ['redis-stop', process.env.CHATD_TEST_DIR]);
    for (let i = 1; i <= 3; i++) {
      const r = await gqlPost(srv.url, { query: 'mutation($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { seq } }', variables: { in: { chatId, senderId: a, content: `while down ${i}` } } }, h);
      assert.equal(r.body.data.createMessage.seq, i, JSON.stringify(r.body));
    }
    assert.equal(sql(`SELECT count(*) FROM chat_outbox WHERE chat_id = '${chatId}'`), '3');
    execFileSync(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
    sub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, [`chat:${chatId}`]);
    for (let i = 1; i <= 3; i++) {
      const m = await sub.next((x) => x.json && x.json.seq === i, 15000);
      assert.equal(m.json.data.content, `while down ${i}`);
    }
    assert.deepEqual(sub.messages.map((x) => x.json.seq), [1, 2, 3]); // republished in seq order
  } finally {
    try {
      execFileSync(process.env.CHATD_TESTENV, ['redis-start', process.env.CHATD_TEST_DIR]);
    } catch {}
    if (sub) sub.close();
    assert.equal((await srv.stop()).code, 0, srv.logs());
  }
});

test('the crash hook is inert without test fixtures', async () => {
  const srv = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false, env: { CHATD_TEST_CRASH_AFTER_COMMIT: '1' } });
  try {
    assert.match(srv.logs(), /CHATD_TEST_CRASH_AFTER_COMMIT ignored/);
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.logs());
  }
});
