// The per-user streams in the delivery checker (issue 14, item 5): a user
// follows chatMessageNotification and unreadCountUpdated over all of their
// chats, can move to another receiver resuming with the documented afterSeqs
// (the seq of the last Message / UnreadCountUpdate received per chat), and is
// compared with the chat_events log: every message of others exactly once, in
// per-chat order; every unread count equal to the log's count at its seq,
// every change reported once, in order; the last count equal to an SQL
// recount (design §5).
import assert from 'node:assert/strict';
import { wsClient, record, sql, sleep } from './receiver-env.js';

export const CMN = 'subscription N($u: String!, $a: [ChatSeqInput!]) { chatMessageNotification(userId: $u, afterSeqs: $a) { id chatId seq senderId } }';
export const UCU = 'subscription C($u: String!, $a: [ChatSeqInput!]) { unreadCountUpdated(userId: $u, afterSeqs: $a) { chatId userId unreadCount seq } }';

/** The unread count of `userId` in `chatId`, recomputed in SQL from the
 * design's definition (not through the server's chatd_unread). */
export function recount(chatId, userId) {
  return Number(sql(`SELECT count(*) FROM messages m, chat_participants p
    WHERE p.chat_id = '${chatId}' AND p.user_id = '${userId}' AND p.left_seq IS NULL
      AND m.chat_id = p.chat_id AND m.seq > greatest(p.last_read_seq, p.joined_seq)
      AND m.sender_id <> p.user_id AND m.deleted_at IS NULL AND m.type <> 'system'`));
}

/**
 * The per-user streams of `userId` in `chatId` expected from the whole log
 * (the user a member since the chat's creation): the messages of others after
 * `fromSeq` (chatMessageNotification) and the unread count after each event,
 * `changed` where the event changes it (a counted message of another sender,
 * the removal of a counted one, a read of the user), recomputed independently
 * of the server.
 */
export function expectedFromLog(chatId, userId, fromSeq) {
  const rows = sql(`SELECT seq, kind, payload::text FROM chat_events WHERE chat_id = '${chatId}' ORDER BY seq`)
    .split('\n').filter(Boolean).map((l) => {
      const i = l.indexOf('|');
      const j = l.indexOf('|', i + 1);
      return { seq: Number(l.slice(0, i)), kind: l.slice(i + 1, j), data: JSON.parse(l.slice(j + 1)) };
    });
  assert.equal(rows[0].seq, 1, 'the whole log is retained in this test');
  const counted = new Set();
  let wm = 0;
  const notes = [];
  const counts = [];
  for (const e of rows) {
    let changed = false;
    if (e.kind === 'message.created' && e.data.senderId !== userId) {
      if (e.seq > fromSeq) notes.push({ id: e.data.id, seq: e.seq });
      if (e.data.type !== 'system') {
        counted.add(e.data.seq);
        changed = true;
      }
    } else if (e.kind === 'message.deleted' && counted.delete(e.data.seq)) {
      changed = true;
    } else if (e.kind === 'read' && e.data.userId === userId) {
      wm = Math.max(wm, e.data.upToSeq);
      for (const s of [...counted]) if (s <= wm) counted.delete(s);
      assert.equal(e.data.unreadCount, counted.size, `read event ${e.seq} carries the exact count`);
      changed = true;
    }
    counts.push({ seq: e.seq, count: counted.size, changed });
  }
  return { notes, counts, final: counted.size };
}

/**
 * A user following chatMessageNotification + unreadCountUpdated on `srv`
 * for `chats` (their chats, each loaded at `chat.lastSeq`). attach(server)
 * (re)subscribes with afterSeqs = the last seq received per chat on each
 * stream; `closed` tells a lost connection. Each attachment is a segment.
 */
export function userFollower(user, chats, srv) {
  const u = { user, chats, segs: [], closed: false };
  const start = new Map(chats.map((c) => [c.id, c.lastSeq]));
  const last = (stream, id) => Math.max(start.get(id),
    ...u.segs.flatMap((s) => s[stream].events.filter((e) => e.chatId === id).map((e) => e.seq)));
  u.attach = (server) => {
    const cursors = (stream) => chats.map((c) => ({ chatId: c.id, seq: last(stream, c.id) }));
    const client = wsClient(server, user, { on: { closed: () => { u.closed = true; } } });
    u.closed = false;
    u.receiver = server;
    const a = { n: cursors('n'), c: cursors('c') };
    const seg = {
      client,
      cursorU: new Map(a.c.map((x) => [x.chatId, x.seq])),
      n: record(client, CMN, { u: user.id, a: a.n }, 'chatMessageNotification'),
      c: record(client, UCU, { u: user.id, a: a.c }, 'unreadCountUpdated'),
    };
    u.segs.push(seg);
  };
  /** After its receiver died: waits for the closed socket (every event it
   * delivered is recorded by then), then resumes on `server`. */
  u.moveTo = async (server, timeoutMs = 10000) => {
    const t0 = Date.now();
    while (!u.closed) {
      assert.ok(Date.now() - t0 < timeoutMs, `user ${user.id}: the connection to the killed receiver did not close`);
      await sleep(20);
    }
    u.segs.at(-1).n.stop();
    u.segs.at(-1).c.stop();
    u.attach(server);
  };
  /** Closes the current connection and resumes on `server` (afterSeqs). */
  u.reattach = async (server) => {
    const cur = u.segs.at(-1);
    cur.n.stop();
    cur.c.stop();
    await cur.client.dispose();
    u.attach(server);
  };
  u.dispose = () => Promise.all(u.segs.map((s) => s.client.dispose()));
  u.attach(srv);
  return u;
}

/** Waits until `u` received what the log says (up to `deadline`), then
 * compares; `wants` maps chat id → expectedFromLog(chat, user, chat.lastSeq). */
export async function checkUserFollower(u, wants, deadline) {
  const gotN = (id) => u.segs.flatMap((s) => s.n.events.filter((e) => e.chatId === id));
  const gotC = (id) => u.segs.flatMap((s) => s.c.events.filter((e) => e.chatId === id));
  for (const chat of u.chats) {
    const want = wants.get(chat.id);
    const lastChange = want.counts.filter((x) => x.changed && x.seq > chat.lastSeq).at(-1);
    while (Date.now() < deadline && (gotN(chat.id).length < want.notes.length
      || (lastChange && !gotC(chat.id).some((e) => e.seq >= lastChange.seq)))) await sleep(50);
  }
  await sleep(300); // a late duplicate would show up here
  const who = `user ${u.user.id}`;
  const cur = u.segs.at(-1);
  assert.deepEqual(cur.n.errors, [], `${who}: chatMessageNotification errors`);
  assert.deepEqual(cur.c.errors, [], `${who}: unreadCountUpdated errors`);
  for (const chat of u.chats) {
    const want = wants.get(chat.id);
    const where = `${who} in ${chat.id}`;
    // exactly once, in per-chat order, nothing missing after a resume
    const n = gotN(chat.id);
    assert.deepEqual(n.map((e) => [e.id, e.seq]), want.notes.map((e) => [e.id, e.seq]),
      `${where}: chatMessageNotification got ${n.length} of ${want.notes.length}`);
    assert.ok(n.every((e) => e.senderId !== u.user.id), `${where}: an own message notified`);
    // every count is the log's count at its seq; in each segment the first
    // is the current count on resume (when the chat moved past the cursor)
    // or the first change after it, then every change, once, in order
    const at = new Map(want.counts.map((x) => [x.seq, x]));
    const changes = (lo, hi) => want.counts.filter((x) => x.changed && x.seq > lo && x.seq <= hi).map((x) => x.seq);
    for (const seg of u.segs) {
      const c = seg.c.events.filter((e) => e.chatId === chat.id);
      for (const e of c) {
        assert.equal(e.userId, u.user.id);
        assert.ok(at.has(e.seq), `${where}: count at seq ${e.seq} not in the log`);
        assert.equal(e.unreadCount, at.get(e.seq).count, `${where}: count at seq ${e.seq}`);
      }
      if (!c.length) continue;
      assert.ok(c[0].seq > seg.cursorU.get(chat.id), `${where}: resumed after ${seg.cursorU.get(chat.id)}, got ${c[0].seq}`);
      assert.deepEqual(c.slice(1).map((e) => e.seq), changes(c[0].seq, c.at(-1).seq), `${where}: unreadCountUpdated order`);
    }
    // the live segment ends at the log's last change (nothing missing)
    const c = cur.c.events.filter((e) => e.chatId === chat.id);
    const from = c.length ? c.at(-1).seq : cur.cursorU.get(chat.id);
    assert.deepEqual(changes(from, Infinity), [], `${where}: changes after ${from} missing`);
    const all = gotC(chat.id);
    const final = all.length ? all.at(-1).unreadCount : 0;
    assert.equal(final, want.final, `${where}: last unreadCountUpdated`);
    assert.equal(want.final, recount(chat.id, u.user.id), `${where}: log count vs SQL recount`);
  }
  // a resume once everything is quiet: the current count of every chat that
  // moved past its afterSeqs entry first (here all, from their creation)
  const snap = record(cur.client, UCU, { u: u.user.id, a: u.chats.map((c) => ({ chatId: c.id, seq: c.lastSeq })) }, 'unreadCountUpdated');
  await snap.waitFor(u.chats.length, 15000);
  await sleep(200);
  const last = (id) => wants.get(id).counts.at(-1).seq;
  assert.deepEqual(
    [...snap.events].sort((x, y) => x.chatId.localeCompare(y.chatId)),
    u.chats.map((c) => ({ chatId: c.id, userId: u.user.id, unreadCount: wants.get(c.id).final, seq: last(c.id) }))
      .sort((x, y) => x.chatId.localeCompare(y.chatId)),
    `${who}: current counts on resume`,
  );
  assert.deepEqual(snap.errors, []);
  snap.stop();
}
