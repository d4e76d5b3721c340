// Helpers for the receiver suites (receiver*.test.js, scenario*.test.js,
// delivery*.test.js): a cluster of real chatd processes (senders +
// receivers) on the testenv's Postgres + Redis, users made in SQL, GraphQL
// over HTTP, and graphql-ws clients that record every event they get.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { startChatd, gqlPost, signToken, sql } from './chatd.js';

export { sql } from './chatd.js';
export const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** n fresh users straight in the database: [{id, token, h}] */
export function makeUsers(n) {
  const s = sfx();
  const values = Array.from({ length: n }, (_, i) => `('r${s}_${i}', 'r${s}_${i}@example.com')`).join(',');
  const ids = sql(`INSERT INTO users (username, email) VALUES ${values} RETURNING id`).split('\n');
  return ids.map((id) => {
    const token = signToken({ sub: id, username: `u${id.slice(0, 6)}` });
    return { id, token, h: { authorization: `Bearer ${token}` } };
  });
}

export async function gql(srv, query, variables, headers = {}) {
  const r = await gqlPost(srv.url, { query, variables }, headers);
  return r.body;
}
export const code = (b) => b.errors && b.errors[0].extensions && b.errors[0].extensions.code;
export function ok(b, field) {
  assert.equal(b.errors, undefined, JSON.stringify(b));
  return b.data[field];
}

export const CHAT = 'id name description chatType participantIds isActive createdAt updatedAt lastSeq';
export const MSG = 'id content senderId chatId isEdited editedAt createdAt seq type metadata';
export const CREATE_CHAT = `mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { ${CHAT} } }`;
export const CREATE_MSG = `mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { ${MSG} } }`;
export const MARK = `mutation K($id: ID!, $u: String!) { markMessageAsRead(messageId: $id, userId: $u) { id messageId userId readAt } }`;
export const REMOVE_P = `mutation P($c: ID!, $u: String!) { removeParticipant(chatId: $c, userId: $u) { ${CHAT} } }`;

export async function createChat(sender, owner, others, name = 'group') {
  const b = await gql(sender, CREATE_CHAT, {
    in: { name, chatType: 'group', participantIds: others.map((u) => u.id) },
  }, owner.h);
  return ok(b, 'createChat');
}
export async function send(sender, user, chatId, content, extra = {}) {
  // "system" is the server's type (clients are refused it): such a message is
  // written the way the server writes one — its SQL function, in one
  // transaction with its event; the outbox sweeper publishes it
  if (extra.type === 'system') return systemMessage(chatId, user.id, content);
  const b = await gql(sender, CREATE_MSG, { in: { content, senderId: user.id, chatId, ...extra } }, user.h);
  return ok(b, 'createMessage');
}

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
/** A system message written through chatd_create_message (as the server does). */
export function systemMessage(chatId, userId, content) {
  return JSON.parse(sql(`SELECT o_payload FROM chatd_create_message(${lit(chatId)}, ${lit(userId)}, 'system', ${lit(content)}, NULL, NULL) WHERE o_ch IS NULL`));
}

/** Starts `senders` sender and `receivers` receiver processes. */
export async function startCluster({ senders = 2, receivers = 2, env = {} } = {}) {
  const s = [];
  const r = [];
  for (let i = 0; i < senders; i++) s.push(await startChatd({ role: 'sender', db: true, redis: true, env }));
  for (let i = 0; i < receivers; i++) r.push(await startChatd({ role: 'receiver', db: true, redis: true, env }));
  return {
    senders: s,
    receivers: r,
    async stop() {
      const out = [];
      for (const p of [...s, ...r]) out.push(await p.stop());
      return out;
    },
  };
}

/** A graphql-ws client for `user` on receiver `srv`. */
export function wsClient(srv, user, opts = {}) {
  return createClient({
    url: srv.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authToken: user.token },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {}, // a server going away is expected in these suites
    ...opts,
  });
}

/**
 * Subscribes and records: { events, errors, done, waitFor(n), stop() }.
 * `events` holds each next payload's data[field]; errors the error payloads
 * and GraphQL errors.
 */
export function record(client, query, variables, field) {
  const events = [];
  const errors = [];
  let done = false;
  const waiters = [];
  const wake = () => {
    for (const w of [...waiters]) if (w.pred()) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const unsubscribe = client.subscribe({ query, variables }, {
    next: (v) => {
      if (v.errors) errors.push(...v.errors);
      else events.push(v.data[field]);
      wake();
    },
    error: (e) => {
      errors.push(Array.isArray(e) ? e[0] : e);
      done = true;
      wake();
    },
    complete: () => {
      done = true;
      wake();
    },
  });
  const rec = {
    events,
    errors,
    get done() {
      return done;
    },
    until(pred, timeoutMs = 10000, what = 'condition') {
      if (pred()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: () => { clearTimeout(t); resolve(); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timeout waiting for ${what}: events=${JSON.stringify(events).slice(0, 2000)} errors=${JSON.stringify(errors)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    waitFor(n, timeoutMs) {
      return rec.until(() => events.length >= n, timeoutMs, `${n} events`);
    },
    waitDone(timeoutMs) {
      return rec.until(() => done, timeoutMs, 'completion');
    },
    stop: unsubscribe,
  };
  return rec;
}

/** Waits until a subscription is live on the receiver (its Redis channel is
 * subscribed): polls PUBSUB NUMSUB through redis-cli. */
export async function waitChannel(channel, minSubs = 1, timeoutMs = 5000) {
  const port = process.env.CHATD_TEST_REDIS_PORT;
  const t0 = Date.now();
  for (;;) {
    const out = execFileSync('redis-cli', ['-p', port, 'PUBSUB', 'NUMSUB', channel], { encoding: 'utf8' }).trim().split('\n');
    if (Number(out[1]) >= minSubs) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`channel ${channel} has ${out[1]} subscribers`);
    await sleep(20);
  }
}
