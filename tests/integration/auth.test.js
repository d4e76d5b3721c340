// Authentication modes. Token mode: public operations (health, __typename,
// introspection) need no token; everything else needs a valid Bearer token
// (HTTP) or connection_init authToken (WS, else close 4403). Trust mode: the
// seed client's user-id/username headers and connection_init keys.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, gqlPost, signToken, rawWs, initedWs } from './lib/chatd.js';

describe('token mode', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ auth: 'token' });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('public operations need no token', async () => {
    for (const query of [
      '{ health { status } }',
      '{ __typename }',
      '{ __schema { queryType { name } } }',
      'query { ... on Query { __type(name: "User") { name } } }',
      'query { ...F } fragment F on Query { health { role } }',
    ]) {
      const r = await gqlPost(chatd.url, { query });
      assert.equal(r.status, 200, query);
      assert.equal(r.body.errors, undefined, `${query}: ${JSON.stringify(r.body)}`);
    }
  });

  test('a protected field without a token is UNAUTHENTICATED (401)', async () => {
    for (const query of ['{ echo(text: "x") }', '{ health { status } echo(text: "x") }', 'query { ...F } fragment F on Query { echo(text: "x") }']) {
      const r = await gqlPost(chatd.url, { query });
      assert.equal(r.status, 401, query);
      assert.equal(r.body.errors[0].extensions.code, 'UNAUTHENTICATED');
      assert.match(r.headers.get('www-authenticate'), /Bearer/);
    }
  });

  test('an invalid token: 401 invalid_token for protected fields, public ones still run', async () => {
    for (const tok of [
      'garbage',
      signToken({ sub: 'u', secret: 'some-other-secret-0123456789' }),
      signToken({ sub: 'u', ttl: -600 }),
    ]) {
      const r = await gqlPost(chatd.url, { query: '{ echo(text: "x") }' }, { authorization: `Bearer ${tok}` });
      assert.equal(r.status, 401);
      assert.equal(r.body.errors[0].extensions.code, 'UNAUTHENTICATED');
      assert.match(r.body.errors[0].message, /Invalid access token/);
      assert.match(r.headers.get('www-authenticate'), /invalid_token/);
      // a client holding an expired token can still reach the public fields (refresh, login)
      const pub = await gqlPost(chatd.url, { query: '{ health { status } whoami: __typename }' }, { authorization: `Bearer ${tok}` });
      assert.equal(pub.status, 200);
      assert.deepEqual(pub.body, { data: { health: { status: 'ok' }, whoami: 'Query' } });
    }
  });

  test('a valid token is accepted over HTTP and identifies the caller', async () => {
    const r = await gqlPost(chatd.url, { query: '{ echo(text: "x") whoami }' }, { authorization: `Bearer ${signToken({ sub: 'u1', username: 'ann' })}` });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { data: { echo: 'x', whoami: 'u1/ann' } });
    // identity headers are ignored in token mode
    const h = await gqlPost(chatd.url, { query: '{ whoami }' }, { authorization: `Bearer ${signToken({ sub: 'u1', username: 'ann' })}`, 'user-id': 'mallory' });
    assert.deepEqual(h.body, { data: { whoami: 'u1/ann' } });
  });

  test('WebSocket: missing/invalid token → 4403, valid → ack and operations', async () => {
    const bad = rawWs(chatd.wsUrl);
    await bad.opened;
    bad.send({ type: 'connection_init', payload: { authToken: 'nope' } });
    assert.equal((await bad.closedWith()).code, 4403);
    const good = await initedWs(chatd.wsUrl, { authToken: signToken({ sub: 'u2', username: 'bob' }), 'user-id': 'mallory' });
    good.send({ id: '1', type: 'subscribe', payload: { query: '{ echo(text: "ws") whoami }' } });
    assert.deepEqual(await good.next((m) => m.id === '1'), { id: '1', type: 'next', payload: { data: { echo: 'ws', whoami: 'u2/bob' } } });
    good.close();
    // Authorization-style payload key is accepted too
    const alt = await initedWs(chatd.wsUrl, { Authorization: `Bearer ${signToken({ sub: 'u3' })}` });
    alt.close();
  });
});

describe('trust mode', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ auth: 'trust', env: { CHATD_JWT_SECRET: undefined } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('no token needed; the seed client identity keys are accepted', async () => {
    const r = await gqlPost(chatd.url, { query: '{ echo(text: "t") whoami }' }, { 'user-id': 'u-seed', username: 'seed' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { data: { echo: 't', whoami: 'u-seed/seed' } });
    const anon = await gqlPost(chatd.url, { query: '{ whoami }' });
    assert.deepEqual(anon.body, { data: { whoami: null } });
    const c = await initedWs(chatd.wsUrl, { 'user-id': 'u-seed', username: 'seed' });
    c.send({ id: '1', type: 'subscribe', payload: { query: 'subscription { countdown(from: 0) }' } });
    assert.equal((await c.next((m) => m.id === '1')).type, 'next');
    c.send({ id: '2', type: 'subscribe', payload: { query: '{ whoami }' } });
    assert.deepEqual(await c.next((m) => m.id === '2'), { id: '2', type: 'next', payload: { data: { whoami: 'u-seed/seed' } } });
    c.close();
    // identity from the upgrade request's headers when connection_init has none
    const h = rawWs(chatd.wsUrl, { headers: { 'user-id': 'u-hdr', username: 'hdr' } });
    await h.opened;
    h.send({ type: 'connection_init', payload: {} });
    await h.next((m) => m.type === 'connection_ack');
    h.send({ id: '3', type: 'subscribe', payload: { query: '{ whoami }' } });
    assert.deepEqual(await h.next((m) => m.id === '3'), { id: '3', type: 'next', payload: { data: { whoami: 'u-hdr/hdr' } } });
    h.close();
    assert.match(chatd.logs(), /TRUST/);
  });
});

describe('roles', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ role: 'sender' });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test("asking a role for another role's field answers WRONG_SERVICE", async () => {
    const tok = { authorization: `Bearer ${signToken({ sub: 'u1' })}` };
    const r = await gqlPost(chatd.url, { query: '{ chats { id } }' }, tok);
    assert.equal(r.status, 200);
    const e = r.body.errors[0];
    assert.equal(e.extensions.code, 'WRONG_SERVICE');
    assert.equal(e.extensions.service, 'receiver');
    assert.match(e.message, /^(Field "chats"|chats) is served by the receiver service$/);
    assert.deepEqual(e.path, ['chats']);
    const u = await gqlPost(chatd.url, { query: '{ users { id } }' }, tok);
    assert.equal(u.body.errors[0].extensions.service, 'user');
    const h = await gqlPost(chatd.url, { query: '{ health { role } }' });
    assert.deepEqual(h.body, { data: { health: { role: 'sender' } } });
  });
});

describe('introspection off', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_INTROSPECTION: 'off' } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('__schema and __type are refused, __typename still works', async () => {
    const s = await gqlPost(chatd.url, { query: '{ __schema { queryType { name } } }' });
    assert.ok(s.body.errors && s.body.errors.length > 0, JSON.stringify(s.body));
    assert.ok(!s.body.data || !s.body.data.__schema, JSON.stringify(s.body));
    const t = await gqlPost(chatd.url, { query: '{ __type(name: "User") { name } }' });
    assert.ok(t.body.errors && t.body.errors.length > 0, JSON.stringify(t.body));
    const ok = await gqlPost(chatd.url, { query: '{ __typename }' });
    assert.deepEqual(ok.body, { data: { __typename: 'Query' } });
  });
});
