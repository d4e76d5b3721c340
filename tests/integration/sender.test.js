// Sender role against real chatd processes + Postgres + Redis: every
// mutation with the seed's shapes and its Redis events, every input and
// authorization error (token mode matrix, trust mode), idempotent clientId,
// per-chat sequence with no gap or duplicate under 8 concurrent writers over
// two sender processes, unread counts exact (against the design §5 recount)
// after 2,000 concurrent mixed operations, removal clearing the event log,
// and retention pruning. The kill-after-COMMIT case is sender-crash.test.js.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, gqlPost, signToken, sql } from './lib/chatd.js';
import { redisSubscribe } from './lib/redis-sub.js';

// A "system" message as the server writes it (clients may not post the type):
// the same database function createMessage runs; returns the message id.
function systemMessage(chatId, userId, content) {
  return sql(`SELECT o_payload::jsonb->'data'->>'id' FROM chatd_create_message('${chatId}', '${userId}', 'system', '${content}', NULL, NULL) WHERE o_ch = 'chat:${chatId}'`);
}
const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const bearer = (t) => ({ authorization: `Bearer ${t}` });

// n fresh users straight in the database; returns [{id, token, h}]
function makeUsers(n) {
  const s = sfx();
  const values = Array.from({ length: n }, (_, i) => `('s${s}_${i}', 's${s}_${i}@example.com')`).join(',');
  const ids = sql(`INSERT INTO users (username, email) VALUES ${values} RETURNING id`).split('\n');
  return ids.map((id) => {
    const token = signToken({ sub: id, username: `u${id.slice(0, 6)}` });
    return { id, token, h: bearer(token) };
  });
}

async function gql(srv, query, variables, headers = {}) {
  const r = await gqlPost(srv.url, { query, variables }, headers);
  // 401 for an operation without a token (token mode), else 200
  assert.ok(r.status === 200 || (r.status === 401 && !headers.authorization), `${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
const code = (b) => b.errors && b.errors[0].extensions && b.errors[0].extensions.code;
function ok(b, field) {
  assert.equal(b.errors, undefined, JSON.stringify(b));
  return b.data[field];
}
function err(b, expectCode, re) {
  assert.ok(b.errors, `expected an error, got ${JSON.stringify(b)}`);
  assert.equal(code(b), expectCode, JSON.stringify(b));
  if (re) assert.match(b.errors[0].message, re);
}

const CHAT = 'id name description chatType participantIds isActive createdAt updatedAt lastSeq';
const MSG = 'id content senderId chatId isEdited editedAt createdAt seq type metadata deletedAt';
const CREATE_CHAT = `mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { ${CHAT} } }`;
const CREATE_MSG = `mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { ${MSG} } }`;
const UPDATE_MSG = `mutation U($id: ID!, $c: String!, $u: String!) { updateMessage(id: $id, content: $c, userId: $u) { ${MSG} } }`;
const REMOVE_MSG = `mutation R($id: ID!, $u: String!) { removeMessage(id: $id, userId: $u) { ${MSG} } }`;
const MARK = `mutation K($id: ID!, $u: String!) { markMessageAsRead(messageId: $id, userId: $u) { id messageId userId readAt } }`;
const MARK_CHAT = `mutation K($c: ID!, $s: Int) { markChatAsRead(chatId: $c, upToSeq: $s) }`;
const ADD = `mutation A($c: ID!, $u: String!) { addParticipant(chatId: $c, userId: $u) { ${CHAT} } }`;
const ADDS = `mutation A($c: ID!, $u: [String!]!) { addParticipants(chatId: $c, userIds: $u) { ${CHAT} } }`;
const REMOVE_P = `mutation P($c: ID!, $u: String!) { removeParticipant(chatId: $c, userId: $u) { ${CHAT} } }`;
const REMOVE_CHAT = `mutation X($id: ID!) { removeChat(id: $id) { ${CHAT} } }`;
const TYPING = `mutation T($c: ID!, $t: Boolean!) { setTyping(chatId: $c, isTyping: $t) }`;

async function newChat(srv, owner, others, extra = {}) {
  const b = await gql(srv, CREATE_CHAT, { in: { name: `chat ${sfx()}`, participantIds: [owner.id, ...others.map((u) => u.id)], ...extra } }, owner.h);
  return ok(b, 'createChat');
}
async function send(srv, chat, user, content = 'hello', extra = {}) {
  const b = await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: user.id, content, ...extra } }, user.h);
  return ok(b, 'createMessage');
}

// The design §5 definition, recomputed from scratch, next to the derived count
// (chatd_unread: the index-served query the receiver runs).
function unreadMismatches(chatId) {
  const rows = sql(`SELECT p.user_id, chatd_unread(p.chat_id, p.user_id),
      (SELECT count(*) FROM messages m WHERE m.chat_id = p.chat_id
        AND m.seq > greatest(p.last_read_seq, p.joined_seq) AND m.sender_id <> p.user_id
        AND m.deleted_at IS NULL AND m.type <> 'system')
    FROM chat_participants p
    WHERE p.chat_id = '${chatId}' AND p.left_seq IS NULL`);
  return rows
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'))
    .filter(([, stored, recount]) => stored !== recount);
}

describe('sender role, token mode', () => {
  let s1, s2, sub;
  before(async () => {
    [s1, s2] = await Promise.all([
      startChatd({ role: 'sender', db: true, redis: true, fixtures: false }),
      startChatd({ role: 'sender', db: true, redis: true, fixtures: false }),
    ]);
    sub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, ['chat:*', 'user:*']);
  });
  after(async () => {
    sub.close();
    for (const s of [s1, s2]) {
      const r = await s.stop();
      assert.equal(r.code, 0, s.logs());
    }
  });

  test('createChat: seed shape, creator included, chatAdded for every participant', async () => {
    const [a, b, c] = makeUsers(3);
    const chat = ok(await gql(s1, CREATE_CHAT, { in: { name: 'Team', description: 'd', participantIds: [b.id, c.id] } }, a.h), 'createChat');
    assert.match(chat.id, /^[0-9a-f-]{36}$/);
    assert.equal(chat.name, 'Team');
    assert.equal(chat.description, 'd');
    assert.equal(chat.chatType, 'group');
    assert.deepEqual(chat.participantIds, [a.id, b.id, c.id]);
    assert.equal(chat.isActive, true);
    assert.equal(chat.lastSeq, 0);
    assert.match(chat.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const u of [a, b, c]) {
      const m = await sub.next((m) => m.channel === `user:${u.id}` && m.json.kind === 'chat.added' && m.json.chatId === chat.id);
      assert.deepEqual(m.json.data.participantIds, chat.participantIds);
      assert.equal(m.json.userId, u.id);
    }
  });

  test('direct chats between the same two users are not duplicated (also concurrently)', async () => {
    const [a, b] = makeUsers(2);
    const results = await Promise.all(
      [s1, s2, s1, s2].map((s, i) => gql(s, CREATE_CHAT, { in: { name: 'dm', chatType: 'direct', participantIds: i % 2 ? [a.id, b.id] : [b.id] } }, i % 2 ? b.h : a.h)),
    );
    const ids = new Set(results.map((r) => ok(r, 'createChat').id));
    assert.equal(ids.size, 1);
    assert.equal(sql(`SELECT count(*) FROM chats WHERE direct_key = '${[a.id, b.id].sort().join(':')}'`), '1');
    const [c] = makeUsers(1);
    err(await gql(s1, CREATE_CHAT, { in: { name: 'dm', chatType: 'direct', participantIds: [b.id, c.id] } }, a.h), 'BAD_USER_INPUT', /exactly two/);
    const dm = ok(results[0], 'createChat');
    err(await gql(s1, ADD, { c: dm.id, u: c.id }, a.h), 'BAD_USER_INPUT', /direct chat/);
  });

  test('createChat input errors', async () => {
    const [a] = makeUsers(1);
    err(await gql(s1, CREATE_CHAT, { in: { name: '', participantIds: [] } }, a.h), 'BAD_USER_INPUT', /name must not be empty/);
    err(await gql(s1, CREATE_CHAT, { in: { name: 'x'.repeat(101), participantIds: [] } }, a.h), 'BAD_USER_INPUT', /at most 100 bytes/);
    ok(await gql(s1, CREATE_CHAT, { in: { name: 'x'.repeat(100), participantIds: [] } }, a.h), 'createChat');
    err(await gql(s1, CREATE_CHAT, { in: { name: 'n', chatType: 'channel', participantIds: [] } }, a.h), 'BAD_USER_INPUT', /chatType/);
    err(await gql(s1, CREATE_CHAT, { in: { name: 'n', participantIds: ['nope'] } }, a.h), 'NOT_FOUND', /User nope not found/);
    const ghost = '00000000-0000-4000-8000-000000000000';
    err(await gql(s1, CREATE_CHAT, { in: { name: 'n', participantIds: [ghost] } }, a.h), 'NOT_FOUND', new RegExp(ghost));
    const many = Array.from({ length: 501 }, () => ghost);
    err(await gql(s1, CREATE_CHAT, { in: { name: 'n', participantIds: many } }, a.h), 'BAD_USER_INPUT', /at most 500/);
  });

  test('createMessage: shape, type + metadata, ONE chat event and no per-user notification', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(s1, a, [b]);
    const m = await send(s1, chat, a, 'hi there', { type: 'image', metadata: { url: 'https://x/y.png', w: 3 } });
    assert.equal(m.content, 'hi there');
    assert.equal(m.senderId, a.id);
    assert.equal(m.chatId, chat.id);
    assert.equal(m.seq, 1);
    assert.equal(m.type, 'image');
    assert.deepEqual(m.metadata, { url: 'https://x/y.png', w: 3 });
    assert.equal(m.isEdited, false);
    assert.equal(m.editedAt, null);
    assert.equal(m.deletedAt, null);
    const ev = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === 1);
    assert.equal(ev.json.kind, 'message.created');
    assert.equal(ev.json.chatId, chat.id);
    assert.match(ev.json.at, /Z$/);
    assert.deepEqual({ ...ev.json.data, sender: undefined }, { ...m, sender: undefined });
    // the published text is the stored event's envelope byte for byte (the
    // write functions put it together as text since 0013_outbox.sql)
    assert.equal(String(ev.data), sql(`SELECT chatd_envelope(chat_id, seq, kind, created_at, payload) FROM chat_events WHERE chat_id = '${chat.id}' AND seq = 1`));
    // unread counts and previews are derived by receivers from the chat
    // channel: nothing per member is published (issue 14)
    assert.equal(sql(`SELECT chatd_unread('${chat.id}', '${b.id}')`), '1');
    assert.equal(sql(`SELECT chatd_unread('${chat.id}', '${a.id}')`), '0');
    const mark = await send(s1, chat, b, 'marker'); // published after m's event by the same sender
    await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === mark.seq);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sub.messages.filter((x) => (x.channel === `user:${a.id}` || x.channel === `user:${b.id}`) && x.json.chatId === chat.id && x.json.kind !== 'chat.added'), []);
    assert.equal(sub.messages.filter((x) => x.channel === `chat:${chat.id}` && x.json.seq === 1).length, 1);
    // the event's outbox row was deleted after Redis confirmed it (and the
    // event row itself was written once, never updated)
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sql(`SELECT count(*) FROM chat_outbox WHERE chat_id = '${chat.id}'`), '0');
    assert.equal(sql(`SELECT count(*) FROM chat_events WHERE chat_id = '${chat.id}' AND seq = 1 AND xmin::text::bigint = (SELECT xmin::text::bigint FROM messages WHERE chat_id = '${chat.id}' AND seq = 1)`), '1');
  });

  test('createMessage input errors name the limit; nothing is written', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(s1, a, [b]);
    const cases = [
      [{ content: '' }, 'BAD_USER_INPUT', /content must not be empty/],
      [{ content: ' \n ' }, 'BAD_USER_INPUT', /content must not be empty/],
      [{ content: 'x'.repeat(10001) }, 'BAD_USER_INPUT', /at most 10000 bytes/],
      [{ type: 'Bad Type' }, 'BAD_USER_INPUT', /type must be/],
      [{ clientId: 'c'.repeat(129) }, 'BAD_USER_INPUT', /at most 128 bytes/],
      [{ metadata: { blob: 'z'.repeat(9000) } }, 'BAD_USER_INPUT', /metadata is too large \(at most 8192 bytes/],
      [{ metadata: { nul: 'a\u0000b' } }, 'BAD_USER_INPUT', /^Invalid input: a value cannot be stored/], // never Postgres' own text
      [{ chatId: 'not-a-chat' }, 'NOT_FOUND', /Chat not-a-chat not found/],
      [{ chatId: '00000000-0000-4000-8000-000000000001' }, 'NOT_FOUND', /Chat .* not found/],
    ];
    for (const [over, c, re] of cases) {
      err(await gql(s1, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'ok', ...over } }, a.h), c, re);
    }
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '0');
    assert.equal(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}'`), '0');
    const edge = await send(s1, chat, a, 'é'.repeat(5000)); // exactly 10000 bytes
    assert.equal(edge.seq, 1);
  });

  test('clientId: a retried send is stored once (sequential and concurrent, across instances)', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(s1, a, [b]);
    const first = await send(s1, chat, a, 'once', { clientId: 'retry-1' });
    const again = await send(s2, chat, a, 'once', { clientId: 'retry-1' });
    assert.deepEqual(again, first);
    const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => send(i % 2 ? s1 : s2, chat, a, 'race', { clientId: 'race-1' })));
    assert.equal(new Set(racers.map((m) => m.id)).size, 1);
    assert.equal(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}'`), '2');
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '2');
    // same clientId from another sender is a different message
    const other = await send(s1, chat, b, 'mine', { clientId: 'retry-1' });
    assert.notEqual(other.id, first.id);
  });

  test('updateMessage and removeMessage: events, only the author, removal clears content everywhere', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(s1, a, [b]);
    const m = await send(s1, chat, a, 'secret words', { metadata: { k: 'secret' } });
    const u = ok(await gql(s2, UPDATE_MSG, { id: m.id, c: 'edited words', u: a.id }, a.h), 'updateMessage');
    assert.equal(u.content, 'edited words');
    assert.equal(u.isEdited, true);
    assert.match(u.editedAt, /Z$/);
    assert.equal(u.seq, m.seq);
    const ue = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === 2);
    assert.equal(ue.json.kind, 'message.updated');
    assert.equal(ue.json.data.content, 'edited words');
    err(await gql(s1, UPDATE_MSG, { id: m.id, c: 'x', u: b.id }, b.h), 'FORBIDDEN', /only the author/);
    err(await gql(s1, REMOVE_MSG, { id: m.id, u: b.id }, b.h), 'FORBIDDEN', /only the author/);
    err(await gql(s1, UPDATE_MSG, { id: m.id, c: '', u: a.id }, a.h), 'BAD_USER_INPUT', /content must not be empty/);
    const r = ok(await gql(s1, REMOVE_MSG, { id: m.id, u: a.id }, a.h), 'removeMessage');
    assert.equal(r.content, '');
    assert.equal(r.metadata, null);
    assert.match(r.deletedAt, /Z$/);
    const re = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === 3);
    assert.equal(re.json.kind, 'message.deleted');
    assert.equal(re.json.data.content, '');
    const left = sql(`SELECT count(*) FROM chat_events WHERE chat_id = '${chat.id}' AND payload::text LIKE '%secret%'`);
    assert.equal(left, '0');
    assert.equal(sql(`SELECT content || '|' || coalesce(metadata::text, 'null') FROM messages WHERE id = '${m.id}'`), '|null');
    err(await gql(s1, REMOVE_MSG, { id: m.id, u: a.id }, a.h), 'NOT_FOUND', /not found/);
    err(await gql(s1, UPDATE_MSG, { id: m.id, c: 'back', u: a.id }, a.h), 'NOT_FOUND', /not found/);
    err(await gql(s1, MARK, { id: m.id, u: b.id }, b.h), 'NOT_FOUND');
    err(await gql(s1, REMOVE_MSG, { id: 'nope', u: a.id }, a.h), 'NOT_FOUND', /Message nope not found/);
  });

  test('read receipts: watermark, ONE read event, unread counts, markChatAsRead', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(s1, a, [b]);
    const ms = [];
    for (let i = 0; i < 4; i++) ms.push(await send(s1, chat, a, `m${i}`));
    // "system" is reserved for the server: a client's is refused ...
    const sys = await gql(s1, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'joined', type: 'system' } }, a.h);
    assert.equal(code(sys), 'BAD_USER_INPUT', JSON.stringify(sys));
    assert.match(sys.errors[0].message, /type "system" is reserved/);
    systemMessage(chat.id, a.id, 'joined'); // ... the server's is not counted
    assert.equal(sql(`SELECT chatd_unread('${chat.id}', '${b.id}')`), '4');
    const rd = ok(await gql(s2, MARK, { id: ms[2].id, u: b.id }, b.h), 'markMessageAsRead');
    assert.equal(rd.messageId, ms[2].id);
    assert.equal(rd.userId, b.id);
    assert.match(rd.readAt, /Z$/);
    const ev = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.kind === 'read');
    assert.equal(ev.json.data.userId, b.id);
    assert.equal(ev.json.data.upToSeq, 3);
    assert.equal(ev.json.seq, 6);
    const un = await sub.next((x) => x.channel === `user:${b.id}` && x.json.kind === 'unread' && x.json.seq === 6);
    assert.equal(un.json.data.unreadCount, 1);
    // reading an older message again: receipt kept, no new event, no seq
    const again = ok(await gql(s1, MARK, { id: ms[0].id, u: b.id }, b.h), 'markMessageAsRead');
    assert.equal(again.messageId, ms[0].id);
    const twice = ok(await gql(s1, MARK, { id: ms[2].id, u: b.id }, b.h), 'markMessageAsRead');
    assert.equal(twice.id, rd.id);
    assert.equal(twice.readAt, rd.readAt);
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '6');
    assert.equal(ok(await gql(s1, MARK_CHAT, { c: chat.id }, b.h), 'markChatAsRead'), 0);
    assert.equal(sql(`SELECT last_read_seq FROM chat_participants WHERE chat_id = '${chat.id}' AND user_id = '${b.id}'`), '6');
    assert.equal(ok(await gql(s1, MARK_CHAT, { c: chat.id, s: 2 }, b.h), 'markChatAsRead'), 0); // never moves back
    err(await gql(s1, MARK_CHAT, { c: chat.id, s: -1 }, b.h), 'BAD_USER_INPUT', /negative/);
    assert.deepEqual(unreadMismatches(chat.id), []);
  });

  test('participants: add (one, many), remove (self, by the owner), removeChat; events and errors', async () => {
    const [a, b, c, d, e] = makeUsers(5);
    const chat = await newChat(s1, a, [b]);
    // roles (0008): only the owner (the creator, a) and admins add
    err(await gql(s1, ADD, { c: chat.id, u: c.id }, b.h), 'FORBIDDEN', /owner or an admin/);
    const one = ok(await gql(s1, ADD, { c: chat.id, u: c.id }, a.h), 'addParticipant');
    assert.deepEqual(one.participantIds, [a.id, b.id, c.id]);
    assert.equal(one.lastSeq, 1);
    const ev = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === 1);
    assert.equal(ev.json.kind, 'participants.added');
    assert.deepEqual(ev.json.data.userIds, [c.id]);
    await sub.next((x) => x.channel === `user:${c.id}` && x.json.kind === 'chat.added' && x.json.chatId === chat.id);
    await sub.next((x) => x.channel === `user:${a.id}` && x.json.kind === 'chat.updated' && x.json.chatId === chat.id);
    // the join's system message takes the next seq
    const sys = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.seq === 2);
    assert.deepEqual([sys.json.kind, sys.json.data.type, sys.json.data.senderId], ['message.created', 'system', a.id]);
    const many = ok(await gql(s1, ADDS, { c: chat.id, u: [d.id, e.id, c.id] }, a.h), 'addParticipants');
    assert.deepEqual(many.participantIds, [a.id, b.id, c.id, d.id, e.id]);
    assert.equal(many.lastSeq, 3);
    // already a member: nothing changes, no seq
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '4');
    assert.equal(ok(await gql(s1, ADD, { c: chat.id, u: d.id }, a.h), 'addParticipant').lastSeq, 4);
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '4');
    // a newcomer's unread count starts at 0 and counts from their join
    await send(s1, chat, a, 'after join');
    assert.equal(sql(`SELECT chatd_unread('${chat.id}', '${e.id}')`), '1');
    err(await gql(s1, REMOVE_P, { c: chat.id, u: c.id }, b.h), 'FORBIDDEN', /owner or an admin/);
    const left = ok(await gql(s1, REMOVE_P, { c: chat.id, u: c.id }, c.h), 'removeParticipant');
    assert.deepEqual(left.participantIds, [a.id, b.id, d.id, e.id]);
    const rev = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.kind === 'participant.removed');
    assert.equal(rev.json.data.userId, c.id);
    await sub.next((x) => x.channel === `user:${c.id}` && x.json.kind === 'chat.removed' && x.json.chatId === chat.id);
    const kicked = ok(await gql(s1, REMOVE_P, { c: chat.id, u: d.id }, a.h), 'removeParticipant');
    assert.deepEqual(kicked.participantIds, [a.id, b.id, e.id]);
    err(await gql(s1, REMOVE_P, { c: chat.id, u: d.id }, a.h), 'NOT_FOUND', /not a participant/);
    assert.equal(sql(`SELECT chatd_unread('${chat.id}', '${c.id}') + chatd_unread('${chat.id}', '${d.id}')`), '0');
    // the removed user no longer writes
    err(await gql(s1, CREATE_MSG, { in: { chatId: chat.id, senderId: c.id, content: 'x' } }, c.h), 'FORBIDDEN', /not a participant/);
    err(await gql(s1, REMOVE_CHAT, { id: chat.id }, b.h), 'FORBIDDEN', /only the chat's owner/);
    const gone = ok(await gql(s1, REMOVE_CHAT, { id: chat.id }, a.h), 'removeChat');
    assert.equal(gone.isActive, false);
    const cev = await sub.next((x) => x.channel === `chat:${chat.id}` && x.json.kind === 'chat.removed');
    assert.equal(cev.json.data.chat.isActive, false);
    await sub.next((x) => x.channel === `user:${e.id}` && x.json.kind === 'chat.removed' && x.json.chatId === chat.id);
    const seqBefore = sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`);
    err(await gql(s1, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'x' } }, a.h), 'CHAT_REMOVED', /was removed/);
    err(await gql(s1, ADD, { c: chat.id, u: c.id }, a.h), 'CHAT_REMOVED');
    err(await gql(s1, REMOVE_CHAT, { id: chat.id }, a.h), 'CHAT_REMOVED');
    err(await gql(s1, MARK_CHAT, { c: chat.id }, a.h), 'CHAT_REMOVED');
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), seqBefore);
    err(await gql(s1, REMOVE_CHAT, { id: '00000000-0000-4000-8000-000000000002' }, a.h), 'NOT_FOUND', /not found/);
    assert.deepEqual(unreadMismatches(chat.id), []);
  });

  test('setTyping publishes an ephemeral event on chat:<id>:eph (no seq, nothing stored)', async () => {
    const [a, b, x] = makeUsers(3);
    const chat = await newChat(s1, a, [b]);
    assert.equal(ok(await gql(s1, TYPING, { c: chat.id, t: true }, b.h), 'setTyping'), true);
    const t = await sub.next((m) => m.channel === `chat:${chat.id}:eph`);
    assert.deepEqual({ ...t.json, at: 'x' }, { kind: 'typing', chatId: chat.id, userId: b.id, isTyping: true, at: 'x' });
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '0');
    err(await gql(s1, TYPING, { c: chat.id, t: true }, x.h), 'FORBIDDEN');
  });

  test('authz matrix (token mode)', async () => {
    const [a, b, outsider] = makeUsers(3);
    const chat = await newChat(s1, a, [b]);
    const m = await send(s1, chat, a, 'x');
    const cases = [
      // [who, query, vars, code]
      [null, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'x' } }, 'UNAUTHENTICATED'],
      [b, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'x' } }, 'FORBIDDEN'],
      [outsider, CREATE_MSG, { in: { chatId: chat.id, senderId: outsider.id, content: 'x' } }, 'FORBIDDEN'],
      [b, UPDATE_MSG, { id: m.id, c: 'y', u: a.id }, 'FORBIDDEN'],
      [b, UPDATE_MSG, { id: m.id, c: 'y', u: b.id }, 'FORBIDDEN'],
      [b, REMOVE_MSG, { id: m.id, u: a.id }, 'FORBIDDEN'],
      [a, MARK, { id: m.id, u: b.id }, 'FORBIDDEN'],
      [outsider, MARK, { id: m.id, u: outsider.id }, 'FORBIDDEN'],
      [outsider, MARK_CHAT, { c: chat.id }, 'FORBIDDEN'],
      [outsider, ADD, { c: chat.id, u: outsider.id }, 'FORBIDDEN'],
      [outsider, REMOVE_P, { c: chat.id, u: b.id }, 'FORBIDDEN'],
      [outsider, REMOVE_CHAT, { id: chat.id }, 'FORBIDDEN'],
      [outsider, TYPING, { c: chat.id, t: true }, 'FORBIDDEN'],
      [null, REMOVE_CHAT, { id: chat.id }, 'UNAUTHENTICATED'],
      [null, MARK_CHAT, { c: chat.id }, 'UNAUTHENTICATED'],
    ];
    for (const [who, q, vars, c] of cases) {
      const b2 = await gql(s1, q, vars, who ? who.h : {});
      assert.equal(code(b2), c, `${q.slice(0, 40)} as ${who ? who.id : 'anonymous'}: ${JSON.stringify(b2)}`);
    }
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), '1');
    assert.equal(sql(`SELECT content FROM messages WHERE id = '${m.id}'`), 'x');
  });

  test('per-chat seq has no gap or duplicate under 8 concurrent writers on two instances', async () => {
    const users = makeUsers(8);
    const chat = await newChat(s1, users[0], users.slice(1));
    const PER = 25;
    const seqs = [];
    await Promise.all(
      users.map(async (u, w) => {
        for (let i = 0; i < PER; i++) seqs.push((await send(w % 2 ? s1 : s2, chat, u, `w${w} m${i}`)).seq);
      }),
    );
    const n = users.length * PER;
    assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(sql(`SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM messages WHERE chat_id = '${chat.id}'`), `${n}|1|${n}|${n}`);
    assert.equal(sql(`SELECT count(*), min(seq), max(seq) FROM chat_events WHERE chat_id = '${chat.id}'`), `${n}|1|${n}`);
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`), String(n));
    // each writer's messages are in its own send order
    for (let w = 0; w < users.length; w++) {
      const order = sql(`SELECT string_agg(content, ',' ORDER BY seq) FROM messages WHERE chat_id = '${chat.id}' AND sender_id = '${users[w].id}'`);
      assert.equal(order, Array.from({ length: PER }, (_, i) => `w${w} m${i}`).join(','));
    }
    assert.deepEqual(unreadMismatches(chat.id), []);
  });

  test('unread counts exact after 2,000 concurrent mixed createMessage / markMessageAsRead / removeMessage', async () => {
    const users = makeUsers(5);
    const chat = await newChat(s1, users[0], users.slice(1));
    const mine = users.map(() => []); // live message ids per author
    const all = [];
    let rnd = 12345;
    const rand = (n) => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) % n);
    const ops = [];
    for (let i = 0; i < 2000; i++) ops.push([rand(100), rand(users.length), rand(1 << 30)]);
    let next = 0;
    const counts = { create: 0, read: 0, remove: 0, errors: 0 };
    async function worker(wi) {
      const srv = wi % 2 ? s1 : s2;
      while (next < ops.length) {
        const [kind, ui, r] = ops[next++];
        const u = users[ui];
        let b;
        if (kind < 55 || all.length === 0) {
          if (r % 10 === 0) b = { data: { createMessage: { id: systemMessage(chat.id, u.id, `c${next}`) } } };
          else b = await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content: `c${next}`, type: 'text' } }, u.h);
          if (!b.errors) {
            mine[ui].push(b.data.createMessage.id);
            all.push(b.data.createMessage.id);
          }
          counts.create++;
        } else if (kind < 85) {
          b = await gql(srv, MARK, { id: all[r % all.length], u: u.id }, u.h);
          counts.read++;
        } else {
          if (mine[ui].length === 0) continue;
          const [id] = mine[ui].splice(r % mine[ui].length, 1);
          b = await gql(srv, REMOVE_MSG, { id, u: u.id }, u.h);
          counts.remove++;
        }
        if (b.errors) {
          assert.equal(code(b), 'NOT_FOUND', JSON.stringify(b)); // reading a message removed meanwhile
          counts.errors++;
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)));
    assert.ok(counts.create > 900 && counts.read > 400 && counts.remove > 150, JSON.stringify(counts));
    assert.deepEqual(unreadMismatches(chat.id), []);
    const last = Number(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`));
    assert.equal(sql(`SELECT count(*), count(DISTINCT seq), max(seq) FROM chat_events WHERE chat_id = '${chat.id}'`), `${last}|${last}|${last}`);
  });
});

describe('sender role, trust mode (the seed client)', () => {
  let srv;
  before(async () => {
    srv = await startChatd({ role: 'sender', db: true, redis: true, auth: 'trust', fixtures: false });
  });
  after(async () => {
    const r = await srv.stop();
    assert.equal(r.code, 0, srv.logs());
  });

  test('senderId / userId identify the caller; participants are still checked', async () => {
    const [a, b, c] = makeUsers(3);
    const chat = ok(await gql(srv, CREATE_CHAT, { in: { name: 'seed', participantIds: [a.id, b.id] } }, { 'user-id': a.id }), 'createChat');
    assert.deepEqual(chat.participantIds, [a.id, b.id]);
    const noHeader = ok(await gql(srv, CREATE_CHAT, { in: { name: 'seed2', participantIds: [b.id] } }), 'createChat');
    assert.deepEqual(noHeader.participantIds, [b.id]);
    const m = ok(await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'hi' } }), 'createMessage');
    assert.equal(m.senderId, a.id);
    err(await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: c.id, content: 'hi' } }), 'FORBIDDEN');
    err(await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: 'bob', content: 'hi' } }), 'BAD_USER_INPUT', /senderId/);
    err(await gql(srv, UPDATE_MSG, { id: m.id, c: 'y', u: b.id }), 'FORBIDDEN');
    ok(await gql(srv, MARK, { id: m.id, u: b.id }), 'markMessageAsRead');
    err(await gql(srv, MARK_CHAT, { c: chat.id }), 'UNAUTHENTICATED', /user-id/);
    assert.equal(ok(await gql(srv, MARK_CHAT, { c: chat.id }, { 'user-id': b.id }), 'markChatAsRead'), 0);
  });
});

describe('event log retention', () => {
  test('published events older than CHATD_EVENT_RETENTION are pruned, never the newest of a chat', async () => {
    const [a, b] = makeUsers(2);
    const s = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false });
    let chat;
    try {
      chat = await newChat(s, a, [b]);
      for (let i = 0; i < 3; i++) await send(s, chat, a, `old ${i}`);
      await new Promise((r) => setTimeout(r, 300));
      sql(`UPDATE chat_events SET created_at = now() - interval '2 hours' WHERE chat_id = '${chat.id}'`);
    } finally {
      assert.equal((await s.stop()).code, 0, s.logs());
    }
    const bad = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false, env: { CHATD_EVENT_RETENTION: '-3' } }).catch((e) => e);
    assert.match(String(bad.message), /CHATD_EVENT_RETENTION/);
    const p = await startChatd({ role: 'sender', db: true, redis: true, fixtures: false, env: { CHATD_EVENT_RETENTION: '1h' } });
    try {
      let left;
      for (let i = 0; i < 50; i++) {
        left = sql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM chat_events WHERE chat_id = '${chat.id}'`);
        if (left === '3') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(left, '3');
      // the log line is written after the DELETE commits: wait for it too
      for (let i = 0; i < 50 && !/pruned \d+ event/.test(p.logs()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(p.logs(), /pruned \d+ event/);
    } finally {
      assert.equal((await p.stop()).code, 0, p.logs());
    }
  });
});

describe('Postgres unavailable', () => {
  test('mutations fail fast with SERVICE_UNAVAILABLE and write nothing; they work again when it is back', async () => {
    // chatd reaches Postgres through a TCP proxy this test can cut
    const net = await import('node:net');
    const target = new URL(process.env.CHATD_TEST_DATABASE_URL);
    const sockets = new Set();
    let server;
    const listen = (port) =>
      new Promise((resolve) => {
        server = net.createServer((c) => {
          const up = net.connect(Number(target.port), target.hostname);
          sockets.add(c).add(up);
          c.pipe(up).pipe(c);
          const drop = () => (c.destroy(), up.destroy());
          c.on('error', drop).on('close', drop);
          up.on('error', drop).on('close', drop);
        });
        server.listen(port, '127.0.0.1', () => resolve(server.address().port));
      });
    const cut = () =>
      new Promise((resolve) => {
        server.close(resolve);
        for (const s of sockets) s.destroy();
        sockets.clear();
      });
    const port = await listen(0);
    const url = new URL(process.env.CHATD_TEST_DATABASE_URL);
    url.port = String(port);
    const srv = await startChatd({ role: 'sender', db: false, redis: true, fixtures: false, env: { DATABASE_URL: url.toString() } });
    try {
      const [a, b] = makeUsers(2);
      const chat = await newChat(srv, a, [b]);
      await send(srv, chat, a, 'before');
      await cut();
      await new Promise((r) => setTimeout(r, 300));
      for (const [q, vars] of [
        [CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'during' } }],
        [MARK_CHAT, { c: chat.id }],
        [CREATE_CHAT, { in: { name: 'x', participantIds: [b.id] } }],
      ]) {
        const t0 = Date.now();
        err(await gql(srv, q, vars, a.h), 'SERVICE_UNAVAILABLE', /Database unavailable/);
        assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
      }
      assert.equal(sql(`SELECT last_seq || '|' || (SELECT count(*) FROM messages WHERE chat_id = '${chat.id}') FROM chats WHERE id = '${chat.id}'`), '1|1');
      await listen(port);
      let m;
      for (let i = 0; i < 100 && !m; i++) {
        const r = await gql(srv, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'after', clientId: 'back-1' } }, a.h);
        if (!r.errors) m = r.data.createMessage;
        else {
          assert.equal(code(r), 'SERVICE_UNAVAILABLE');
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      assert.equal(m.seq, 2);
    } finally {
      assert.equal((await srv.stop()).code, 0, srv.logs());
      await cut();
    }
  });
});
