// Issue 19 items 2, 3, 4, 7, 8 against real chatd processes (1 sender + 1
// receiver) on Postgres + Redis: one history rule on every read path
// (messages, Chat.messages, message, chatEventsSince, messageReadStatus,
// search, subscriptions) for a member added late and re-added; replies
// (same chat only, a removed original shows removed); reactions (limits,
// idempotence, `reaction` events live over graphql-ws, messageUpdated);
// searchMessages (prefix, paging stable under concurrent inserts, members
// only, removed messages never found); messages without a limit up to the
// history cap (lowered to HISTORY_CAP by CHATD_TEST_HISTORY_CAP) and
// HISTORY_TOO_LONG past it; the @listSize cost hint.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startCluster, makeUsers, gql, ok, code, createChat, send, wsClient, record, waitChannel, sql, sfx,
  REMOVE_P,
} from './lib/receiver-env.js';

const HISTORY_CAP = 12;
let cl;
let s1, r1;
const clients = [];
before(async () => {
  cl = await startCluster({ senders: 1, receivers: 1, env: { CHATD_TEST_HISTORY_CAP: String(HISTORY_CAP) } });
  [s1] = cl.senders;
  [r1] = cl.receivers;
});
after(async () => {
  for (const c of clients) await c.dispose().catch(() => {});
  const res = await cl.stop();
  const procs = [...cl.senders, ...cl.receivers];
  res.forEach((r, i) => assert.equal(r.code, 0, procs[i].logs().slice(-6000)));
});
const client = (srv, u) => {
  const c = wsClient(srv, u);
  clients.push(c);
  return c;
};

const ADD_P = 'mutation A($c: ID!, $u: String!) { addParticipant(chatId: $c, userId: $u) { id } }';
const REACT = `mutation R($m: ID!, $e: String!) { addReaction(messageId: $m, emoji: $e) {
  id reactions { emoji count reactedByMe users { id } } } }`;
const UNREACT = `mutation R($m: ID!, $e: String!) { removeReaction(messageId: $m, emoji: $e) {
  id reactions { emoji count reactedByMe } } }`;
const REMOVE_M = 'mutation D($id: ID!, $u: String!) { removeMessage(id: $id, userId: $u) { id deletedAt } }';
const EDIT_M = 'mutation U($id: ID!, $c: String!, $u: String!) { updateMessage(id: $id, content: $c, userId: $u) { id } }';
const SEARCH = `query S($q: String!, $c: ID, $f: Int, $a: String) { searchMessages(query: $q, chatId: $c, first: $f, after: $a) {
  edges { cursor highlight message { id chatId seq content sender { id username } } } pageInfo { hasNextPage endCursor } } }`;

const ids = (l) => l.map((m) => m.id);

describe('one history rule', () => {
  test('a member added late, removed and re-added sees only what came after the latest join, on every read path', async () => {
    // the server's own notices of the joins and the removal (type system) are
    // left out of the comparisons: they follow the same rule
    const nosys = (l) => l.filter((m) => m.type !== 'system');
    const nosysEv = (l) => l.filter((e) => !e.message || e.message.type !== 'system');
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [], 'history');
    const word = `hist${sfx()}`;
    const before1 = await send(s1, a, chat.id, `${word} before join`);
    ok(await gql(s1, ADD_P, { c: chat.id, u: b.id }, a.h), 'addParticipant');
    const seen1 = await send(s1, a, chat.id, `${word} after first join`);
    ok(await gql(s1, REMOVE_P, { c: chat.id, u: b.id }, a.h), 'removeParticipant');
    const whileOut = await send(s1, a, chat.id, `${word} while out`);
    ok(await gql(s1, ADD_P, { c: chat.id, u: b.id }, a.h), 'addParticipant');
    const after2 = await send(s1, a, chat.id, `${word} after re-add`);
    // an edit and a reaction of an old message happen after the re-add:
    // they are about a message b may not see
    ok(await gql(s1, EDIT_M, { id: before1.id, c: `${word} before join (edited)`, u: a.id }, a.h), 'updateMessage');
    ok(await gql(s1, REACT, { m: before1.id, e: '👍' }, a.h), 'addReaction');

    // the creator sees everything
    assert.deepEqual(ids(nosys(ok(await gql(r1, 'query Q($c: ID!) { messages(chatId: $c) { id type } }', { c: chat.id }, a.h), 'messages'))),
      ids([before1, seen1, whileOut, after2]));
    // b: only after the latest join
    const bAll = ok(await gql(r1, 'query Q($c: ID!) { messages(chatId: $c) { id type } }', { c: chat.id }, b.h), 'messages');
    assert.deepEqual(ids(nosys(bAll)), [after2.id]);
    // of the server's notices b sees only the one of its latest join
    assert.equal(bAll.filter((m) => m.type === 'system').length, 1, JSON.stringify(bAll));
    assert.deepEqual(ids(nosys(ok(await gql(r1, 'query Q($c: ID!) { messages(chatId: $c, limit: 50) { id type } }', { c: chat.id }, b.h), 'messages'))), [after2.id]);
    assert.deepEqual(ids(nosys(ok(await gql(r1, 'query Q($c: ID!) { messages(chatId: $c, limit: 50, afterSeq: 0) { id type } }', { c: chat.id }, b.h), 'messages'))), [after2.id]);
    const c = ok(await gql(r1, 'query Q($c: ID!) { chat(id: $c) { messages { id type } lastMessage { id } } }', { c: chat.id }, b.h), 'chat');
    assert.deepEqual(ids(nosys(c.messages)), [after2.id]);
    assert.equal(c.lastMessage.id, after2.id);
    for (const m of [before1, seen1, whileOut]) {
      assert.equal(code(await gql(r1, 'query Q($id: ID!) { message(id: $id) { id } }', { id: m.id }, b.h)), 'NOT_FOUND');
      assert.equal(code(await gql(r1, 'query Q($id: ID!) { messageReadStatus(messageId: $id) { messageId } }', { id: m.id }, b.h)), 'NOT_FOUND');
    }
    ok(await gql(r1, 'query Q($id: ID!) { messageReadStatus(messageId: $id) { messageId } }', { id: after2.id }, b.h), 'messageReadStatus');
    // chatEventsSince from 0: nothing before the re-add, and not the edit /
    // reaction of the old message
    const evs = nosysEv(ok(await gql(r1, 'query Q($c: ID!) { chatEventsSince(chatId: $c, afterSeq: 0) { seq kind message { id content type } } }', { c: chat.id }, b.h), 'chatEventsSince'));
    assert.deepEqual(evs.map((e) => e.kind), ['message.created']);
    assert.equal(evs[0].message.id, after2.id);
    const all = ok(await gql(r1, 'query Q($c: ID!) { chatEventsSince(chatId: $c, afterSeq: 0) { kind } }', { c: chat.id }, a.h), 'chatEventsSince');
    assert.ok(all.map((e) => e.kind).includes('reaction'), JSON.stringify(all));
    // search
    const sa = ok(await gql(r1, SEARCH, { q: word }, a.h), 'searchMessages');
    assert.equal(sa.edges.length, 4);
    const sb = ok(await gql(r1, SEARCH, { q: word }, b.h), 'searchMessages');
    assert.deepEqual(sb.edges.map((e) => e.message.id), [after2.id]);
    // subscriptions replayed from 0 start at the join
    const cb = client(r1, b);
    const rec = record(cb, 'subscription S($c: ID!) { chatEvents(chatId: $c, afterSeq: 0) { seq kind message { id type } } }', { c: chat.id }, 'chatEvents');
    const added = record(cb, 'subscription S($c: ID!) { messageAdded(chatId: $c, afterSeq: 0) { id type } }', { c: chat.id }, 'messageAdded');
    await rec.waitFor(1);
    await added.waitFor(1);
    // live: an edit of a message from before the join is not b's; one after is
    await waitChannel(`chat:${chat.id}`);
    ok(await gql(s1, EDIT_M, { id: seen1.id, c: `${word} edited again`, u: a.id }, a.h), 'updateMessage');
    const last = await send(s1, a, chat.id, `${word} live`);
    await rec.until(() => rec.events.some((e) => e.message && e.message.id === last.id));
    assert.deepEqual(nosysEv(rec.events).map((e) => e.message && e.message.id), [after2.id, last.id]);
    await added.until(() => added.events.some((e) => e.id === last.id));
    assert.deepEqual(ids(nosys(added.events)), [after2.id, last.id]);
    // replies to a message b cannot see: refused for b
    const r = await gql(s1, 'mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }',
      { in: { content: 'reply', senderId: b.id, chatId: chat.id, replyToId: before1.id } }, b.h);
    assert.equal(code(r), 'NOT_FOUND');
    // reacting to it too
    assert.equal(code(await gql(s1, REACT, { m: before1.id, e: '👍' }, b.h)), 'NOT_FOUND');
    rec.stop();
    added.stop();
  });
});

describe('messages without a limit (the seeds\' client)', () => {
  test('the whole visible history up to the cap; HISTORY_TOO_LONG past it; pages still work', async () => {
    const [a] = makeUsers(1);
    const chat = await createChat(s1, a, [], 'cap');
    const sent = [];
    for (let i = 0; i < HISTORY_CAP; i++) sent.push(await send(s1, a, chat.id, `c${i}`));
    const Q = 'query Q($c: ID!) { messages(chatId: $c) { id seq } }';
    const CQ = 'query Q($c: ID!) { chat(id: $c) { id messages { id } } }';
    // exactly the cap: every message, oldest first
    assert.deepEqual(ids(ok(await gql(r1, Q, { c: chat.id }, a.h), 'messages')), ids(sent));
    assert.deepEqual(ids(ok(await gql(r1, CQ, { c: chat.id }, a.h), 'chat').messages), ids(sent));
    // one more: a clear error, not a silent cut
    const extra = await send(s1, a, chat.id, 'one too many');
    const over = await gql(r1, Q, { c: chat.id }, a.h);
    assert.equal(code(over), 'HISTORY_TOO_LONG', JSON.stringify(over));
    assert.match(over.errors[0].message, new RegExp(`more than ${HISTORY_CAP}`));
    const cover = await gql(r1, CQ, { c: chat.id }, a.h);
    assert.equal(cover.errors[0].extensions.code, 'HISTORY_TOO_LONG');
    assert.deepEqual(cover.errors[0].path, ['chat', 'messages']);
    // a range within the cap is fine; pages are unchanged
    assert.deepEqual(ids(ok(await gql(r1, 'query Q($c: ID!, $a: Int) { messages(chatId: $c, afterSeq: $a) { id } }', { c: chat.id, a: sent[0].seq }, a.h), 'messages')),
      ids([...sent.slice(1), extra]));
    assert.deepEqual(ids(ok(await gql(r1, 'query Q($c: ID!) { messages(chatId: $c, limit: 3) { id } }', { c: chat.id }, a.h), 'messages')),
      ids([...sent.slice(-2), extra]));
    // removing one brings it back under the cap
    ok(await gql(s1, REMOVE_M, { id: sent[0].id, u: a.id }, a.h), 'removeMessage');
    assert.deepEqual(ids(ok(await gql(r1, Q, { c: chat.id }, a.h), 'messages')), ids([...sent.slice(1), extra]));
  });

  test('the cost model prices messages without a limit by its @listSize hint', async () => {
    const [a] = makeUsers(1);
    const chat = await createChat(s1, a, [], 'cost');
    // 25 aliases × (1 + 1000 × 1): over the default budget (25000); with
    // the old default size (10) they were priced 275 and ran
    const q = `{ ${Array.from({ length: 25 }, (_, i) => `m${i}: messages(chatId: "${chat.id}") { id }`).join(' ')} }`;
    const r = await gql(r1, q, {}, a.h);
    assert.equal(code(r), 'QUERY_TOO_COSTLY', JSON.stringify(r).slice(0, 300));
    // the seeds' own documents stay under it
    const seedMessages = 'query GetMessages($chatId: ID!) { messages(chatId: $chatId) { id content senderId chatId createdAt isEdited editedAt } }';
    ok(await gql(r1, seedMessages, { chatId: chat.id }, a.h), 'messages');
    const seedChats = `query GetChats { chats { id name description participantIds createdAt updatedAt
      messages { id content senderId createdAt } } }`;
    ok(await gql(r1, seedChats, {}, a.h), 'chats');
  });
});

describe('replies', () => {
  test('same chat only; replyTo, replyCount; a removed original shows removed, never its content', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [b], 'replies');
    const other = await createChat(s1, a, [], 'elsewhere');
    const orig = await send(s1, a, chat.id, 'the original secret');
    const elsewhere = await send(s1, a, other.id, 'another chat');
    const M = 'mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id replyToId replyTo { id content } } }';
    const rep = ok(await gql(s1, M, { in: { content: 'a reply', senderId: b.id, chatId: chat.id, replyToId: orig.id } }, b.h), 'createMessage');
    assert.equal(rep.replyToId, orig.id);
    assert.equal(rep.replyTo.id, orig.id);
    assert.equal(rep.replyTo.content, 'the original secret');
    ok(await gql(s1, M, { in: { content: 'second', senderId: a.id, chatId: chat.id, replyToId: orig.id } }, a.h), 'createMessage');
    // another chat's message: refused (as NOT_FOUND for b, who cannot see it)
    assert.equal(code(await gql(s1, M, { in: { content: 'x', senderId: a.id, chatId: chat.id, replyToId: elsewhere.id } }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(s1, M, { in: { content: 'x', senderId: b.id, chatId: chat.id, replyToId: elsewhere.id } }, b.h)), 'NOT_FOUND');
    assert.equal(code(await gql(s1, M, { in: { content: 'x', senderId: a.id, chatId: chat.id, replyToId: 'nope' } }, a.h)), 'NOT_FOUND');
    assert.equal(code(await gql(s1, M, { in: { content: 'x', senderId: a.id, chatId: chat.id, replyToId: '00000000-0000-4000-8000-000000000000' } }, a.h)), 'NOT_FOUND');
    const Q = 'query Q($c: ID!) { messages(chatId: $c) { id replyCount replyTo { id content deletedAt } } }';
    let l = ok(await gql(r1, Q, { c: chat.id }, b.h), 'messages');
    assert.equal(l[0].replyCount, 2);
    assert.equal(l[0].replyTo, null);
    assert.equal(l[1].replyTo.id, orig.id);
    // the original removed: the reply shows it removed
    ok(await gql(s1, REMOVE_M, { id: orig.id, u: a.id }, a.h), 'removeMessage');
    l = ok(await gql(r1, Q, { c: chat.id }, b.h), 'messages');
    assert.equal(l[0].replyTo.id, orig.id);
    assert.equal(l[0].replyTo.content, '');
    assert.ok(l[0].replyTo.deletedAt);
    assert.ok(!JSON.stringify(l).includes('secret'));
    // replying to a removed message is refused
    assert.equal(code(await gql(s1, M, { in: { content: 'x', senderId: a.id, chatId: chat.id, replyToId: orig.id } }, a.h)), 'NOT_FOUND');
    // the log and the seed-003 shape carry replyToId
    assert.equal(sql(`SELECT payload->>'replyToId' FROM chat_events WHERE message_id = '${rep.id}' AND kind = 'message.created'`), orig.id);
  });
});

describe('reactions', () => {
  test('one per user and emoji, idempotent, bounded; groups, reactedByMe, users(first:)', async () => {
    const [a, b, c] = makeUsers(3);
    const chat = await createChat(s1, a, [b, c], 'react');
    const m = await send(s1, a, chat.id, 'react to me');
    const seq0 = Number(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`));
    let r = ok(await gql(s1, REACT, { m: m.id, e: '👍' }, a.h), 'addReaction');
    assert.deepEqual(r.reactions, [{ emoji: '👍', count: 1, reactedByMe: true, users: [{ id: a.id }] }]);
    // the same again: nothing changes, no event
    r = ok(await gql(s1, REACT, { m: m.id, e: '👍' }, a.h), 'addReaction');
    assert.equal(r.reactions[0].count, 1);
    assert.equal(Number(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`)), seq0 + 1);
    ok(await gql(s1, REACT, { m: m.id, e: '👍' }, b.h), 'addReaction');
    ok(await gql(s1, REACT, { m: m.id, e: '🎉' }, c.h), 'addReaction');
    const Q = 'query Q($id: ID!) { message(id: $id) { reactions { emoji count reactedByMe users(first: 1) { id } } } }';
    const got = ok(await gql(r1, Q, { id: m.id }, c.h), 'message').reactions;
    assert.deepEqual(got, [
      { emoji: '👍', count: 2, reactedByMe: false, users: [{ id: a.id }] },
      { emoji: '🎉', count: 1, reactedByMe: true, users: [{ id: c.id }] },
    ]);
    assert.equal(code(await gql(r1, 'query Q($id: ID!) { message(id: $id) { reactions { users(first: 101) { id } } } }', { id: m.id }, c.h)), 'BAD_USER_INPUT');
    // removal, twice
    r = ok(await gql(s1, UNREACT, { m: m.id, e: '👍' }, a.h), 'removeReaction');
    assert.deepEqual(r.reactions.map((g) => [g.emoji, g.count]), [['👍', 1], ['🎉', 1]]);
    ok(await gql(s1, UNREACT, { m: m.id, e: '👍' }, a.h), 'removeReaction');
    // emoji limits: bytes, controls, spaces, empty
    assert.equal(code(await gql(s1, REACT, { m: m.id, e: 'x'.repeat(33) }, a.h)), 'BAD_USER_INPUT');
    ok(await gql(s1, REACT, { m: m.id, e: 'y'.repeat(32) }, a.h), 'addReaction');
    for (const e of ['', 'a b', 'a\u0001', 'a\n']) assert.equal(code(await gql(s1, REACT, { m: m.id, e }, a.h)), 'BAD_USER_INPUT', JSON.stringify(e));
    // at most 20 distinct emoji on one message (3 so far)
    for (let i = 0; i < 17; i++) ok(await gql(s1, REACT, { m: m.id, e: `e${i}` }, b.h), 'addReaction');
    const full = await gql(s1, REACT, { m: m.id, e: 'one-more' }, c.h);
    assert.equal(code(full), 'BAD_USER_INPUT');
    assert.match(full.errors[0].message, /at most 20/);
    // an emoji already there still takes another user
    ok(await gql(s1, REACT, { m: m.id, e: 'e0' }, c.h), 'addReaction');
    // non-participants and unknown messages
    const [d] = makeUsers(1);
    assert.equal(code(await gql(s1, REACT, { m: m.id, e: '👍' }, d.h)), 'FORBIDDEN');
    assert.equal(code(await gql(s1, REACT, { m: '00000000-0000-4000-8000-000000000000', e: '👍' }, a.h)), 'NOT_FOUND');
    assert.equal(code(await gql(s1, REACT, { m: m.id, e: '👍' }, {})), 'UNAUTHENTICATED');
    // a removed message has no reactions and takes none
    ok(await gql(s1, REMOVE_M, { id: m.id, u: a.id }, a.h), 'removeMessage');
    assert.equal(sql(`SELECT count(*) FROM message_reactions WHERE message_id = '${m.id}'`), '0');
    assert.equal(code(await gql(s1, REACT, { m: m.id, e: '👍' }, a.h)), 'NOT_FOUND');
    assert.equal(sql(`SELECT count(*) FROM chat_events WHERE message_id = '${m.id}' AND payload->>'content' <> ''`), '0');
  });

  test('reaction events live over graphql-ws: chatEvents and messageUpdated', async () => {
    const [a, b] = makeUsers(2);
    const chat = await createChat(s1, a, [b], 'react-live');
    const m = await send(s1, a, chat.id, 'live');
    const cb = client(r1, b);
    const evs = record(cb, 'subscription S($c: ID!) { chatEvents(chatId: $c) { seq kind userId emoji added message { id content reactions { emoji count reactedByMe } } } }', { c: chat.id }, 'chatEvents');
    const upd = record(cb, 'subscription S($c: ID!) { messageUpdated(chatId: $c) { id reactions { emoji count } } }', { c: chat.id }, 'messageUpdated');
    await waitChannel(`chat:${chat.id}`);
    await new Promise((r) => setTimeout(r, 200));
    ok(await gql(s1, REACT, { m: m.id, e: '❤️' }, a.h), 'addReaction');
    ok(await gql(s1, UNREACT, { m: m.id, e: '❤️' }, a.h), 'removeReaction');
    await evs.waitFor(2);
    await upd.waitFor(2);
    assert.deepEqual(evs.events.map((e) => [e.kind, e.userId, e.emoji, e.added, e.message.id, e.message.content]), [
      ['reaction', a.id, '❤️', true, m.id, 'live'],
      ['reaction', a.id, '❤️', false, m.id, 'live'],
    ]);
    assert.equal(evs.events[1].seq, evs.events[0].seq + 1);
    assert.deepEqual(ids(upd.events), [m.id, m.id]);
    evs.stop();
    upd.stop();
  });
});

describe('searchMessages', () => {
  test('prefix, every word, ranking, members only, removed never found, bounds', async () => {
    const [a, b, outsider] = makeUsers(3);
    const chat = await createChat(s1, a, [b], 'search');
    const w = `zq${sfx()}`;
    const m1 = await send(s1, a, chat.id, `the ${w}alpha report is ready`);
    const m2 = await send(s1, b, chat.id, `${w}alpha ${w}alpha ${w}alpha again`);
    const m3 = await send(s1, a, chat.id, `nothing here but ${w}beta`);
    // prefix on the last word
    let r = ok(await gql(r1, SEARCH, { q: w }, a.h), 'searchMessages');
    assert.deepEqual(new Set(r.edges.map((e) => e.message.id)), new Set([m1.id, m2.id, m3.id]));
    // every word must match; best rank first
    r = ok(await gql(r1, SEARCH, { q: `${w}alpha` }, b.h), 'searchMessages');
    assert.deepEqual(r.edges.map((e) => e.message.id), [m2.id, m1.id]);
    assert.match(r.edges[1].highlight, new RegExp(`«${w}alpha»`));
    assert.equal(r.edges[0].message.sender.id, b.id);
    r = ok(await gql(r1, SEARCH, { q: `REPORT ${w}al` }, a.h), 'searchMessages');
    assert.deepEqual(r.edges.map((e) => e.message.id), [m1.id]);
    // user input never reaches to_tsquery's syntax
    for (const q of [`${w}alpha & !`, `'${w}alpha'`, `${w}alpha:*|`, `(${w}alpha`, `\\${w}alpha`]) {
      r = ok(await gql(r1, SEARCH, { q }, a.h), 'searchMessages');
      assert.ok(r.edges.length >= 1, q);
    }
    // chatId filter; an outsider sees nothing
    assert.equal(ok(await gql(r1, SEARCH, { q: w, c: chat.id }, a.h), 'searchMessages').edges.length, 3);
    assert.equal(ok(await gql(r1, SEARCH, { q: w }, outsider.h), 'searchMessages').edges.length, 0);
    assert.equal(code(await gql(r1, SEARCH, { q: w, c: chat.id }, outsider.h)), 'FORBIDDEN');
    assert.equal(code(await gql(r1, SEARCH, { q: w }, {})), 'UNAUTHENTICATED');
    // removed and edited
    ok(await gql(s1, REMOVE_M, { id: m3.id, u: a.id }, a.h), 'removeMessage');
    r = ok(await gql(r1, SEARCH, { q: `${w}beta` }, a.h), 'searchMessages');
    assert.equal(r.edges.length, 0);
    ok(await gql(s1, EDIT_M, { id: m1.id, c: `now ${w}gamma`, u: a.id }, a.h), 'updateMessage');
    assert.deepEqual(ok(await gql(r1, SEARCH, { q: `${w}gamma` }, a.h), 'searchMessages').edges.map((e) => e.message.id), [m1.id]);
    // bounds
    assert.equal(code(await gql(r1, SEARCH, { q: '' }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(r1, SEARCH, { q: '!!! ---' }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(r1, SEARCH, { q: 'x'.repeat(201) }, a.h)), 'BAD_USER_INPUT');
    ok(await gql(r1, SEARCH, { q: 'x'.repeat(200) }, a.h), 'searchMessages');
    assert.equal(code(await gql(r1, SEARCH, { q: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ') }, a.h)), 'BAD_USER_INPUT');
    ok(await gql(r1, SEARCH, { q: Array.from({ length: 16 }, (_, i) => `w${i}`).join(' ') }, a.h), 'searchMessages');
    assert.equal(code(await gql(r1, SEARCH, { q: w, f: 101 }, a.h)), 'BAD_USER_INPUT');
    assert.equal(code(await gql(r1, SEARCH, { q: w, f: 0 }, a.h)), 'BAD_USER_INPUT');
    ok(await gql(r1, SEARCH, { q: w, f: 100 }, a.h), 'searchMessages');
    assert.equal(code(await gql(r1, SEARCH, { q: w, a: 'not-a-cursor' }, a.h)), 'BAD_USER_INPUT');
  });

  test('paging is stable while matching messages are inserted', async () => {
    const [a] = makeUsers(1);
    const chat = await createChat(s1, a, [], 'paging');
    const w = `pg${sfx()}`;
    const sent = [];
    for (let i = 0; i < 23; i++) sent.push(await send(s1, a, chat.id, `${w} ${i % 3 ? '' : `${w} `}item ${i}`));
    const seen = [];
    let after = null;
    let pages = 0;
    for (;;) {
      const r = ok(await gql(r1, SEARCH, { q: w, f: 5, a: after }, a.h), 'searchMessages');
      seen.push(...r.edges.map((e) => e.message.id));
      pages++;
      // inserts between pages, with both ranks
      await send(s1, a, chat.id, `${w} late ${pages}`);
      await send(s1, a, chat.id, `${w} ${w} ${w} late ${pages}`);
      if (!r.pageInfo.hasNextPage) break;
      assert.equal(r.pageInfo.endCursor, r.edges[r.edges.length - 1].cursor);
      after = r.pageInfo.endCursor;
      assert.ok(pages < 30);
    }
    // no duplicate, nothing of the original set missed
    assert.equal(new Set(seen).size, seen.length);
    for (const m of sent) assert.ok(seen.includes(m.id), `missed ${m.id}`);
  });
});

describe('authorization matrix of the new fields (token mode)', () => {
  test('anonymous, outsider, member and late member on every new operation and nested field', async () => {
    const [a, b, outsider, late] = makeUsers(4);
    const chat = await createChat(s1, a, [b], 'authz');
    const m = await send(s1, a, chat.id, 'authz words');
    ok(await gql(s1, REACT, { m: m.id, e: '👍' }, a.h), 'addReaction');
    ok(await gql(s1, ADD_P, { c: chat.id, u: late.id }, a.h), 'addParticipant');
    const NESTED = 'query Q($id: ID!) { message(id: $id) { id replyTo { id } replyCount reactions { emoji reactedByMe users { id } } } }';
    const REPLY = 'mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id } }';
    const cases = [
      // [who, server, query, vars, expected code or 'ok']
      [null, s1, REACT, { m: m.id, e: '👍' }, 'UNAUTHENTICATED'],
      [outsider, s1, REACT, { m: m.id, e: '👍' }, 'FORBIDDEN'],
      [late, s1, REACT, { m: m.id, e: '👍' }, 'NOT_FOUND'],
      [b, s1, REACT, { m: m.id, e: '👍' }, 'ok'],
      [null, s1, UNREACT, { m: m.id, e: '👍' }, 'UNAUTHENTICATED'],
      [outsider, s1, UNREACT, { m: m.id, e: '👍' }, 'FORBIDDEN'],
      [late, s1, UNREACT, { m: m.id, e: '👍' }, 'NOT_FOUND'],
      [b, s1, UNREACT, { m: m.id, e: '👍' }, 'ok'],
      [outsider, s1, REPLY, { in: { content: 'r', senderId: outsider.id, chatId: chat.id, replyToId: m.id } }, 'FORBIDDEN'],
      [late, s1, REPLY, { in: { content: 'r', senderId: late.id, chatId: chat.id, replyToId: m.id } }, 'NOT_FOUND'],
      [b, s1, REPLY, { in: { content: 'r', senderId: a.id, chatId: chat.id, replyToId: m.id } }, 'FORBIDDEN'],
      [b, s1, REPLY, { in: { content: 'r', senderId: b.id, chatId: chat.id, replyToId: m.id } }, 'ok'],
      [null, r1, SEARCH, { q: 'authz' }, 'UNAUTHENTICATED'],
      [outsider, r1, SEARCH, { q: 'authz', c: chat.id }, 'FORBIDDEN'],
      [b, r1, SEARCH, { q: 'authz', c: chat.id }, 'ok'],
      [null, r1, NESTED, { id: m.id }, 'UNAUTHENTICATED'],
      [outsider, r1, NESTED, { id: m.id }, 'FORBIDDEN'],
      [late, r1, NESTED, { id: m.id }, 'NOT_FOUND'],
      [b, r1, NESTED, { id: m.id }, 'ok'],
    ];
    for (const [who, srv, q, vars, want] of cases) {
      const r = await gql(srv, q, vars, who ? who.h : {});
      const what = `${q.slice(0, 50)} as ${who ? who.id : 'anonymous'}: ${JSON.stringify(r)}`;
      if (want === 'ok') assert.equal(r.errors, undefined, what);
      else assert.equal(code(r), want, what);
    }
    // what the outsider and the late member got: nothing of the chat
    assert.equal(ok(await gql(r1, SEARCH, { q: 'authz' }, outsider.h), 'searchMessages').edges.length, 0);
    assert.equal(ok(await gql(r1, SEARCH, { q: 'authz' }, late.h), 'searchMessages').edges.length, 0);
    assert.equal(ok(await gql(r1, SEARCH, { q: 'authz' }, b.h), 'searchMessages').edges.length, 1);
    const n = ok(await gql(r1, NESTED, { id: m.id }, b.h), 'message');
    assert.equal(n.replyCount, 1);
    assert.deepEqual(n.reactions, [{ emoji: '👍', reactedByMe: false, users: [{ id: a.id }] }]);
  });
});
