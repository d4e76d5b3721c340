// The default inbound burst covers the default subscription limit: a client
// that opens its whole allowance (500 subscribes) in one go, right after
// connection_init, keeps its socket; the 501st subscribe gets the
// TOO_MANY_OPERATIONS error, not a 4429 close. With the burst set below the
// limit explicitly, the same burst is closed 4429 (the edge the default
// avoids).
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, rawWs, signToken } from './lib/chatd.js';

const token = signToken({ sub: 'u-burst' });
const LIMIT = 500; // CD_DEFAULT_MAX_SUBSCRIPTIONS

// connection_init and LIMIT + 1 subscribes written back to back
const burst = async (wsUrl) => {
  const c = rawWs(wsUrl);
  await c.opened;
  c.send({ type: 'connection_init', payload: { authToken: token } });
  for (let i = 0; i <= LIMIT; i++)
    c.send({ id: `s${i}`, type: 'subscribe', payload: { query: 'subscription { broadcasts { seq } }' } });
  return c;
};

describe('default WebSocket burst vs subscription limit', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd();
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test(`${LIMIT} subscribes at once are accepted, the ${LIMIT + 1}st gets the limit error`, async () => {
    const c = await burst(chatd.wsUrl);
    const err = await c.next((m) => m.type === 'error', 10000);
    assert.equal(err.id, `s${LIMIT}`);
    assert.equal(err.payload[0].extensions.code, 'TOO_MANY_OPERATIONS');
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong', 10000);
    // all LIMIT subscriptions are live: one event reaches each of them
    const r = await fetch(chatd.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { broadcast(text: "b") }' }),
    });
    assert.equal((await r.json()).data.broadcast, LIMIT);
    const ids = new Set();
    for (let i = 0; i < LIMIT; i++) ids.add((await c.next((m) => m.type === 'next', 10000)).id);
    assert.equal(ids.size, LIMIT);
    assert.ok(!ids.has(`s${LIMIT}`));
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.close();
  });
});

describe('an explicit burst below the limit', () => {
  let chatd;
  before(async () => {
    chatd = await startChatd({ env: { CHATD_WS_BURST: '400' } });
  });
  after(async () => {
    const r = await chatd.stop();
    assert.equal(r.code, 0, chatd.logs());
  });

  test('is honoured (closes the same burst 4429) and warned about at start-up', async () => {
    assert.match(chatd.logs(), /ws burst 400 is below max subscriptions 500/);
    const c = await burst(chatd.wsUrl);
    const closed = await c.closedWith(10000);
    assert.deepEqual(closed, { code: 4429, reason: 'Too many messages' });
  });
});
