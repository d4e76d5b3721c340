// The delivery checker (issue 7, reused by the fault suites of issue 15):
// several writers send concurrently into shared chats through the senders
// while followers subscribe to every chat's event stream (chatEvents) on the
// receivers; at the end every follower's sequence per chat must equal the
// chat_events log — no loss, no duplicate, no reordering.
import assert from 'node:assert/strict';
import {
  makeUsers, gql, createChat, wsClient, record, waitChannel, sleep, sql, CREATE_MSG,
} from './receiver-env.js';
import { userFollower, expectedFromLog, checkUserFollower } from './user-streams.js';

export const EVENTS = 'subscription E($c: ID!, $a: Int) { chatEvents(chatId: $c, afterSeq: $a) { chatId seq kind message { id seq } } }';
export const MARK_CHAT = 'mutation K($c: ID!) { markChatAsRead(chatId: $c) }';
export const CHATS = 3;
export const WRITERS = 6;
export const PER_WRITER = 40;
export const SUBS_PER_RECEIVER = 2; // per chat
export const USER_STREAMS = 3; // users following their per-user streams (opts.userStreams)

export const alive = (p) => p.proc.exitCode === null && p.proc.signalCode === null;

/** A subscriber that follows one chat and can move to another receiver,
 * resuming with afterSeq = the last seq it saw. */
export function follower(user, chatId, from, srv) {
  const f = { user, chatId, seqs: [], kinds: [], client: null, rec: null, closed: false };
  f.attach = (server) => {
    const after = f.seqs.length ? f.seqs.at(-1) : from;
    f.client = wsClient(server, user, {
      on: { closed: () => { f.closed = true; } },
    });
    f.closed = false;
    const rec = record(f.client, EVENTS, { c: chatId, a: after }, 'chatEvents');
    f.rec = rec;
    const push = rec.events.push.bind(rec.events);
    rec.events.push = (e) => {
      f.seqs.push(e.seq);
      f.kinds.push(e.kind);
      return push(e);
    };
  };
  f.attach(srv);
  return f;
}

/**
 * Runs the checker on cluster `cl` while `disrupt({ followers, progress,
 * users, chats })` runs. opts:
 *   senderFor(w, i, attempt)  the sender of writer w's i-th message on that
 *                             attempt (default: alternate, same on retries)
 *   retryMs                   how long one message is retried (default 5 s)
 *   onError(body, sender)     sees every failed attempt
 *   settle({ followers, chats, want })  awaited after the followers caught up
 *                             and before the comparison (e.g. until a sweeper
 *                             has republished what a fault left behind)
 *   markBestEffort            a markChatAsRead that throws does not fail it
 *   writers({ users, chats, onSent })  replaces the in-process writers
 *                             (must call onSent() per message, resolve when done)
 *   userStreams               USER_STREAMS users (a pure reader and two
 *                             writers who mark read) also follow their
 *                             per-user streams (chatMessageNotification,
 *                             unreadCountUpdated; lib/user-streams.js), spread
 *                             over the receivers, compared with the log too;
 *                             disrupt gets them as `userFollowers` (moveTo)
 * Resolves to { followers, userFollowers, total, chats, users }.
 */
export async function runChecker(cl, disrupt, opts = {}) {
  const [s1, s2] = cl.senders;
  const senderFor = opts.senderFor || ((w, i) => ((w + i) % 2 ? s1 : s2));
  const retryMs = opts.retryMs || 5000;
  const users = makeUsers(WRITERS + 2);
  const [owner] = users;
  const chats = [];
  for (let i = 0; i < CHATS; i++) chats.push(await createChat(s1, owner, users.slice(1), `deliv${i}`));
  const followers = [];
  const live = cl.receivers.filter(alive);
  for (const chat of chats)
    for (const r of live)
      for (let k = 0; k < SUBS_PER_RECEIVER; k++)
        followers.push(follower(users[WRITERS + 1 - k], chat.id, chat.lastSeq, r));
  const userFollowers = [];
  if (opts.userStreams) {
    const who = [users[WRITERS + 1], users[1], users[2]].slice(0, USER_STREAMS);
    who.forEach((u, k) => userFollowers.push(userFollower(u, chats, live[k % live.length])));
  }
  for (const chat of chats) await waitChannel(`chat:${chat.id}`, live.length);
  await sleep(200);

  let sent = 0;
  const onSent = () => sent++;
  const writers = opts.writers
    ? opts.writers({ users, chats, onSent })
    : Promise.all(users.slice(0, WRITERS).map(async (u, w) => {
      for (let i = 0; i < PER_WRITER; i++) {
        const chat = chats[(w + i) % CHATS];
        let b;
        let sender;
        const t0 = Date.now();
        for (let attempt = 0; ; attempt++) {
          sender = senderFor(w, i, attempt);
          b = await gql(sender, CREATE_MSG, {
            in: { content: `w${w} m${i}`, senderId: u.id, chatId: chat.id, clientId: `w${w}-${i}-${chat.id}` },
          }, u.h).catch((e) => ({ errors: [{ message: String(e) }] }));
          if (!b.errors) break;
          if (opts.onError) opts.onError(b, sender);
          if (Date.now() - t0 > retryMs) break;
          await sleep(100); // a disruption: retry (clientId makes it idempotent)
        }
        assert.equal(b.errors, undefined, JSON.stringify(b));
        sent++;
        if (i % 10 === 9) {
          const mark = gql(sender, MARK_CHAT, { c: chat.id }, u.h);
          // under a fault the mark may fail; its result is not checked either way
          await (opts.markBestEffort ? mark.catch(() => {}) : mark);
        }
      }
    }));
  await disrupt({ followers, userFollowers, progress: () => sent, users, chats });
  await writers;

  // everyone must reach the log's end, then match it exactly
  const want = new Map();
  for (const chat of chats) {
    const rows = sql(`SELECT seq, kind FROM chat_events WHERE chat_id = '${chat.id}' AND seq > ${chat.lastSeq} ORDER BY seq`)
      .split('\n').map((l) => l.split('|'));
    want.set(chat.id, { seqs: rows.map((r) => Number(r[0])), kinds: rows.map((r) => r[1]) });
  }
  const deadline = Date.now() + 30000;
  for (const f of followers) {
    const w = want.get(f.chatId);
    while (f.seqs.length < w.seqs.length && Date.now() < deadline) await sleep(50);
  }
  if (opts.settle) await opts.settle({ followers, chats, want });
  await sleep(300); // a late duplicate would show up here
  for (const f of followers) {
    const w = want.get(f.chatId);
    assert.equal(f.rec.errors.length, 0, JSON.stringify(f.rec.errors));
    assert.deepEqual(f.seqs, w.seqs, `subscriber of ${f.chatId}: got ${f.seqs.length} of ${w.seqs.length}`);
    assert.deepEqual(f.kinds, w.kinds);
  }
  const total = [...want.values()].reduce((n, w) => n + w.seqs.length, 0);
  assert.ok(total >= WRITERS * PER_WRITER, `log has ${total} events`);
  // the per-user streams: the same log, seen through each user's chats
  const userDeadline = Date.now() + 30000;
  for (const u of userFollowers) {
    const wants = new Map(chats.map((c) => [c.id, expectedFromLog(c.id, u.user.id, c.lastSeq)]));
    await checkUserFollower(u, wants, userDeadline);
  }
  for (const f of followers) await f.client.dispose();
  for (const u of userFollowers) await u.dispose();
  return { followers, userFollowers, total, chats, users };
}

