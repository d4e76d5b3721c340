// The write path at scale (issue 14, items 3 and 4) against real chatd
// processes + Postgres + Redis.
//
// Group commit: a concurrent createMessage burst from many clients into a
// few chats is committed in shared transactions (fewer distinct transaction
// start times than messages) with per-chat seq contiguous and in each client's send order, no
// loss, one stored row for a clientId sent twice inside one batch, and a bad
// message (not a participant, unknown chat) getting its own error while the
// rest of its burst succeeds. A group where nothing fails runs without
// savepoints (one xid for all its rows); one with a failing member runs again
// with a savepoint per member (the retry counter in /metrics), except a
// createMessage refused inside the group's array call ("one statement per
// group": its own error, no re-run, and a split into one statement per
// message when the array call fails whole).
//
// Membership: a 10,000-member group built with addParticipants in batches of
// 500 (the time is logged; the bound is generous), participantIds /
// participants bounded at 256 (edge: 256 and 257 members), memberCount,
// Chat.members pages covering every member once in join order, its
// authorization and argument errors, and CHATD_MAX_GROUP_MEMBERS at its edge.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startChatd, gqlPost, signToken, sql, psqlBin } from './lib/chatd.js';
import { redisSubscribe } from './lib/redis-sub.js';

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
const bearer = (t) => ({ authorization: `Bearer ${t}` });

function makeUsers(n) {
  const s = sfx();
  const ids = sql(`INSERT INTO users (username, email)
    SELECT 'w${s}_' || i, 'w${s}_' || i || '@example.com' FROM generate_series(1, ${n}) i
    ORDER BY i RETURNING id`).split('\n');
  return ids.map((id) => {
    const token = signToken({ sub: id, username: `u${id.slice(0, 6)}` });
    return { id, token, h: bearer(token) };
  });
}

async function gql(srv, query, variables, headers = {}) {
  const r = await gqlPost(srv.url, { query, variables }, headers);
  assert.equal(r.status, 200, JSON.stringify(r.body));
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

const CHAT = 'id participantIds memberCount lastSeq';
const CREATE_CHAT = `mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { ${CHAT} } }`;
const CREATE_MSG = `mutation M($in: CreateMessageInput!) { createMessage(createMessageInput: $in) { id seq chatId senderId content } }`;
const ADDS = `mutation A($c: ID!, $u: [String!]!) { addParticipants(chatId: $c, userIds: $u) { ${CHAT} } }`;
const ADD = `mutation A($c: ID!, $u: String!) { addParticipant(chatId: $c, userId: $u) { ${CHAT} } }`;
const REMOVE_P = `mutation P($c: ID!, $u: String!) { removeParticipant(chatId: $c, userId: $u) { ${CHAT} } }`;
const MEMBERS = `query Q($id: ID!, $first: Int, $after: String) { chat(id: $id) { id memberCount
  participants { id }
  members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { role joinedAt user { id username displayName } } } } } }`;

async function newChat(srv, owner, others) {
  const b = await gql(srv, CREATE_CHAT, { in: { name: `chat ${sfx()}`, participantIds: [owner.id, ...others.map((u) => u.id)] } }, owner.h);
  return ok(b, 'createChat');
}

let gc, def, small, held;
before(async () => {
  [gc, def, small, held] = await Promise.all([
    // a 20 ms window so a burst certainly shares transactions
    startChatd({ role: 'all', db: true, redis: true, fixtures: false, env: { CHATD_GROUP_COMMIT_US: '20000' } }),
    startChatd({ role: 'all', db: true, redis: true, fixtures: false }),
    startChatd({ role: 'all', db: true, redis: true, fixtures: false, env: { CHATD_MAX_GROUP_MEMBERS: '5' } }),
    // the longest window (100 ms): a burst sent while a group is in flight waits in one window
    startChatd({ role: 'all', db: true, redis: true, fixtures: false, env: { CHATD_GROUP_COMMIT_US: '100000' } }),
  ]);
});
after(async () => {
  await Promise.all([gc, def, small, held].filter(Boolean).map((s) => s.stop()));
});

describe('group commit', () => {
  test('a concurrent burst: shared transactions, per-chat seq in send order, no loss, own errors', async () => {
    const users = makeUsers(16);
    const outsider = makeUsers(1)[0];
    const chats = [];
    for (let i = 0; i < 3; i++) chats.push(await newChat(gc, users[0], users.slice(1)));
    const PER = 12; // sequential sends per (client, chat) pair, all pairs at once
    const sent = []; // {user, chat, k, content}
    const runs = [];
    for (const u of users) {
      for (const c of chats) {
        runs.push((async () => {
          const mine = [];
          for (let k = 0; k < PER; k++) {
            const content = `m ${u.id.slice(0, 8)} ${k}`;
            const b = await gql(gc, CREATE_MSG, { in: { chatId: c.id, senderId: u.id, content } }, u.h);
            const m = ok(b, 'createMessage');
            assert.equal(m.content, content);
            mine.push(m);
          }
          // each client's sends into one chat keep their order
          for (let k = 1; k < mine.length; k++) assert.ok(mine[k].seq > mine[k - 1].seq);
          sent.push(...mine);
        })());
      }
    }
    // inside the burst: a clientId sent twice at once, and bad messages
    const cid = `dup-${sfx()}`;
    const dupIn = { chatId: chats[0].id, senderId: users[1].id, content: 'same', clientId: cid };
    runs.push((async () => {
      const [a, b] = await Promise.all([
        gql(gc, CREATE_MSG, { in: dupIn }, users[1].h),
        gql(gc, CREATE_MSG, { in: dupIn }, users[1].h),
      ]);
      assert.equal(ok(a, 'createMessage').id, ok(b, 'createMessage').id);
    })());
    const bad = [];
    for (let i = 0; i < 6; i++) {
      bad.push(gql(gc, CREATE_MSG, { in: { chatId: chats[i % 3].id, senderId: outsider.id, content: 'intruder' } }, outsider.h)
        .then((b) => err(b, 'FORBIDDEN', /not a participant/)));
      const ghost = '00000000-0000-4000-8000-' + String(i).padStart(12, '0');
      bad.push(gql(gc, CREATE_MSG, { in: { chatId: ghost, senderId: users[2].id, content: 'nowhere' } }, users[2].h)
        .then((b) => err(b, 'NOT_FOUND', /not found/)));
    }
    await Promise.all([...runs, ...bad]);

    assert.equal(sent.length, users.length * chats.length * PER);
    const ids = chats.map((c) => `'${c.id}'`).join(',');
    // nothing lost, nothing extra: every returned message is stored once, plus the clientId one
    assert.equal(Number(sql(`SELECT count(*) FROM messages WHERE chat_id IN (${ids})`)), sent.length + 1);
    assert.equal(Number(sql(`SELECT count(*) FROM messages WHERE chat_id IN (${ids}) AND sender_id = '${outsider.id}'`)), 0);
    assert.equal(Number(sql(`SELECT count(*) FROM messages WHERE client_id = '${cid}'`)), 1);
    // per-chat seq: the event log is 1..last_seq with no gap or duplicate
    for (const c of chats) {
      const [n, mn, mx, last] = sql(`SELECT count(*), min(seq), max(seq), (SELECT last_seq FROM chats WHERE id = '${c.id}')
        FROM chat_events WHERE chat_id = '${c.id}'`).split('|').map(Number);
      assert.equal(mx, last);
      assert.equal(n, last - mn + 1);
      const dupSeq = Number(sql(`SELECT count(*) - count(DISTINCT seq) FROM messages WHERE chat_id = '${c.id}'`));
      assert.equal(dupSeq, 0);
    }
    // group commit happened: transactions carried several messages (created_at
    // is now(), the transaction's start time)
    const txs = Number(sql(`SELECT count(DISTINCT created_at) FROM messages WHERE chat_id IN (${ids})`));
    assert.ok(txs < sent.length / 2, `${txs} transactions for ${sent.length} messages`);
    console.log(`group commit: ${sent.length + 1} messages in ${txs} transactions`);
    const metrics = await (await fetch(`${gc.base}/metrics`)).text();
    const commits = Number(/^chatd_sender_group_commits_total (\d+)$/m.exec(metrics)[1]);
    const members = Number(/^chatd_sender_group_commit_members_total (\d+)$/m.exec(metrics)[1]);
    assert.ok(commits > 0 && members >= sent.length && members > commits, metrics);
  });

  test('a group where nothing fails is one plain transaction; a failing member makes it run again isolated', async () => {
    const users = makeUsers(8);
    const outsider = makeUsers(1)[0];
    const chat = await newChat(gc, users[0], users.slice(1));
    const retries = async () => {
      const m = await (await fetch(`${gc.base}/metrics`)).text();
      return Number(/^chatd_sender_group_commit_retries_total (\d+)$/m.exec(m)[1]);
    };
    const burst = (tag) => Promise.all(users.map((u) =>
      gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content: `${tag} ${u.id.slice(0, 6)}` } }, u.h)));
    // a clean burst: transactions of several messages, no savepoint (every row
    // of one transaction carries the transaction's xid; a savepoint would give
    // each its own), no retry
    const r0 = await retries();
    (await burst('clean')).forEach((b) => ok(b, 'createMessage'));
    const [n1, tx1, xid1] = sql(`SELECT count(*), count(DISTINCT created_at), count(DISTINCT xmin::text)
      FROM messages WHERE chat_id = '${chat.id}' AND content LIKE 'clean %'`).split('|').map(Number);
    assert.equal(n1, users.length);
    assert.ok(tx1 < n1, `${n1} messages in ${tx1} transactions: not grouped`);
    assert.equal(xid1, tx1, 'one xid per transaction: no subtransaction per member');
    assert.equal(await retries(), r0);
    // the same burst with a non-member inside: only it fails, with its own
    // error. Its createMessage is refused inside the group's array call
    // (0012_group_commit.sql); its markChatAsRead is a statement of its own,
    // whose failure makes the group run again with a savepoint per member
    const [bad, badRead, ...good] = await Promise.all([
      gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: outsider.id, content: 'mixed intruder' } }, outsider.h),
      gql(gc, 'mutation R($c: ID!) { markChatAsRead(chatId: $c) }', { c: chat.id }, outsider.h),
      burst('mixed'),
    ]);
    err(bad, 'FORBIDDEN', /not a participant/);
    err(badRead, 'FORBIDDEN');
    good.flat().forEach((b) => ok(b, 'createMessage'));
    assert.ok(await retries() > r0, 'the failing group was retried isolated');
    const [n2, mixedTx] = sql(`SELECT count(*), count(DISTINCT created_at) FROM messages
      WHERE chat_id = '${chat.id}' AND content LIKE 'mixed %'`).split('|').map(Number);
    assert.equal(n2, users.length);
    assert.ok(mixedTx < n2, `${n2} messages in ${mixedTx} transactions: not grouped`);
    // seqs: 1..last_seq, no gap (the aborted plain round's seqs were rolled back)
    const [cnt, mn, mx, last] = sql(`SELECT count(*), min(seq), max(seq), (SELECT last_seq FROM chats WHERE id = '${chat.id}')
      FROM chat_events WHERE chat_id = '${chat.id}'`).split('|').map(Number);
    assert.equal(mx, last);
    assert.equal(cnt, last - mn + 1);
  });

  test('a burst publishes every message exactly once on its chat channel', async () => {
    const users = makeUsers(8);
    const chat = await newChat(gc, users[0], users.slice(1));
    const sub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, [`chat:${chat.id}`]);
    try {
      const msgs = (await Promise.all(users.map(async (u) => {
        const out = [];
        for (let k = 0; k < 10; k++) {
          out.push(ok(await gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content: `p${k}` } }, u.h), 'createMessage'));
        }
        return out;
      }))).flat();
      const created = () => sub.messages.filter((x) => x.json && x.json.kind === 'message.created');
      for (let i = 0; i < 100 && created().length < msgs.length; i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive by now
      const seen = new Map();
      for (const ev of created()) {
        assert.ok(!seen.has(ev.json.seq), `seq ${ev.json.seq} published twice`);
        seen.set(ev.json.seq, ev.json.data.id);
      }
      assert.equal(seen.size, msgs.length);
      for (const m of msgs) assert.equal(seen.get(m.seq), m.id);
    } finally {
      sub.close();
    }
  });
});

// One statement per group (0012_group_commit.sql): a group's createMessage
// calls go as one chatd_create_messages call; a refused element gets its own
// exact error inside it (no re-run, no savepoint for the others); an array
// call failing as a whole is split into one statement per message.
const GCM = `SELECT o_i, o_state, o_err, o_seq, o_ch IS NOT NULL, o_payload::jsonb->>'id', o_payload::jsonb->>'content'
  FROM chatd_create_messages($ARGS$)`;
const arr = (xs, type) => `ARRAY[${xs.map((x) => (x === null ? 'NULL' : `'${x}'`)).join(',')}]::${type}[]`;
function createMessages(rows) {
  const col = (k, type) => arr(rows.map((r) => (r[k] === undefined ? null : r[k])), type);
  const args = [col('chat', 'uuid'), col('sender', 'uuid'), arr(rows.map(() => 'text'), 'text'), col('content', 'text'),
    col('meta', 'jsonb'), col('client', 'text'), col('reply', 'uuid')].join(', ');
  const out = sql(GCM.replace('$ARGS$', args));
  return out ? out.split('\n').map((l) => l.split('|')) : [];
}
async function gcMetric(srv, name) {
  const m = await (await fetch(`${srv.base}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(m)[1]);
}
// Holds chat `id`'s row lock in an open transaction until release() — the
// group sent meanwhile waits in flight, and what arrives next waits for it.
async function lockChat(id) {
  const p = spawn(psqlBin, [process.env.CHATD_TEST_DATABASE_URL, '-XAtq'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const locked = new Promise((resolve) => p.stdout.on('data', (d) => {
    out += d;
    if (out.includes('locked')) resolve();
  }));
  p.stdin.write(`BEGIN; SELECT 'locked' FROM chats WHERE id = '${id}' FOR UPDATE;\n`);
  await locked;
  const done = new Promise((resolve) => p.on('exit', resolve));
  return async () => {
    p.stdin.end('COMMIT;\n');
    await done;
  };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('one statement per group', () => {
  test('chatd_create_messages: refused elements get their own exact error, the others commit in order', async () => {
    const [a, b, c] = makeUsers(3);
    const outsider = makeUsers(1)[0];
    const chat = await newChat(gc, a, [b, c]);
    const first = ok(await gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: a.id, content: 'first', clientId: 'k0' } }, a.h), 'createMessage');
    const ghost = '00000000-0000-4000-8000-00000000abcd';
    const missing = '00000000-0000-4000-8000-00000000dcba';
    const rows = createMessages([
      { chat: chat.id, sender: a.id, content: 'e1' },
      { chat: ghost, sender: a.id, content: 'e2' },                        // a missing chat
      { chat: chat.id, sender: outsider.id, content: 'e3' },               // not a participant
      { chat: chat.id, sender: b.id, content: 'e4', reply: missing },      // a reply to a missing message
      { chat: chat.id, sender: b.id, content: 'e5', client: 'k1' },
      { chat: chat.id, sender: b.id, content: 'e6 again', client: 'k1' }, // k1 again in the same call: the stored e5
      { chat: chat.id, sender: a.id, content: 'e7 again', client: 'k0' }, // k0 stored before: the stored 'first'
      { chat: chat.id, sender: c.id, content: 'e8', reply: first.id },     // a reply (the exact path, committed)
      { chat: chat.id, sender: c.id, content: 'e9', meta: '{"k": [1, 2]}' },
    ]);
    const by = (i) => rows.filter((r) => Number(r[0]) === i);
    // refused: one row each, the 7-argument function's SQLSTATE and message word for word
    assert.deepEqual(by(2).map((r) => [r[1], r[2]]), [['CD404', `Chat ${ghost} not found`]]);
    assert.deepEqual(by(3).map((r) => [r[1], r[2]]),
      [['CD403', `Forbidden: user ${outsider.id} is not a participant of chat ${chat.id}`]]);
    assert.deepEqual(by(4).map((r) => [r[1], r[2]]), [['CD404', `Message ${missing} not found (replyToId)`]]);
    // stored again: one row (the message), no event to publish
    assert.equal(by(6).length, 1);
    assert.equal(by(6)[0][5], by(5)[0][5]);
    assert.equal(by(6)[0][6], 'e5');
    assert.equal(by(7).length, 1);
    assert.equal(by(7)[0][5], first.id);
    // committed: the message row, then the event row carrying the seq; seqs
    // follow the array order, contiguous after `first`
    const seqs = [];
    for (const i of [1, 5, 8, 9]) {
      const r = by(i);
      assert.equal(r.length, 2, JSON.stringify(r));
      assert.equal(r[0][1], '');
      assert.equal(r[1][4], 't');
      seqs.push(Number(r[1][3]));
    }
    assert.deepEqual(seqs, [first.seq + 1, first.seq + 2, first.seq + 3, first.seq + 4]);
    assert.equal(sql(`SELECT string_agg(content || ':' || seq, ',' ORDER BY seq) FROM messages WHERE chat_id = '${chat.id}'`),
      `first:${first.seq},e1:${first.seq + 1},e5:${first.seq + 2},e8:${first.seq + 3},e9:${first.seq + 4}`);
    assert.equal(sql(`SELECT reply_to_id FROM messages WHERE chat_id = '${chat.id}' AND content = 'e8'`), first.id);
    assert.equal(sql(`SELECT metadata::text FROM messages WHERE chat_id = '${chat.id}' AND content = 'e9'`), '{"k": [1, 2]}');
    assert.equal(Number(sql(`SELECT count(*) FROM chat_events WHERE chat_id = '${chat.id}'`)),
      Number(sql(`SELECT last_seq FROM chats WHERE id = '${chat.id}'`)));
    // an array call with arrays of different lengths is refused whole
    assert.throws(() => sql(`SELECT * FROM chatd_create_messages(ARRAY['${chat.id}']::uuid[], '{}', '{}', '{}', '{}', '{}', '{}')`),
      /differ in length/);
  });

  // the array function restates the 7-argument body inline (0012): both
  // must write and publish the same message JSON and event envelope
  test('chatd_create_messages and the 7-argument function answer the same JSON for a plain message', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(gc, a, [b]);
    const rowsOf = (q) => sql(q).split('\n').map((l) => JSON.parse(l));
    const one = rowsOf(`SELECT o_payload FROM chatd_create_message_reply('${chat.id}', '${a.id}', 'text', 'p1', '{"x": 1}', 'c1', NULL)`);
    const arrayed = rowsOf(`SELECT o_payload FROM chatd_create_messages(ARRAY['${chat.id}']::uuid[], ARRAY['${b.id}']::uuid[],
      ARRAY['text'], ARRAY['p2'], ARRAY['{"x": 1}']::jsonb[], ARRAY['c2'], ARRAY[NULL]::uuid[])`);
    assert.equal(one.length, 2);
    assert.equal(arrayed.length, 2);
    // what differs by nature: id, sender, content, seq, time, clientId-free JSON otherwise equal
    const norm = (m) => ({ ...m, id: 'ID', senderId: 'S', content: 'C', seq: 'N', createdAt: 'T' });
    assert.deepEqual(norm(arrayed[0]), norm(one[0]));
    assert.deepEqual({ ...arrayed[1], seq: 'N', at: 'T', data: norm(arrayed[1].data) },
      { ...one[1], seq: 'N', at: 'T', data: norm(one[1].data) });
    assert.equal(arrayed[1].seq, one[1].seq + 1);
    assert.deepEqual(arrayed[1].data, arrayed[0]);
  });

  // 0021_message_ids.sql: every write path names a message with a version 7
  // UUID — its first 48 bits the time in ms — so ids of later milliseconds
  // sort after earlier ones (inserts at the right edge of messages_pkey)
  test('message ids are time-ordered UUIDv7 on the group, single and GraphQL paths', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(gc, a, [b]);
    const t0 = Date.now();
    const ids = [];
    ids.push(createMessages([{ chat: chat.id, sender: a.id, content: 'v7 group' }])[0][5]);
    await sleep(3);
    ids.push(sql(`SELECT o_payload::jsonb->>'id' FROM chatd_create_message_reply('${chat.id}', '${a.id}', 'text', 'v7 one', NULL, NULL, NULL)`).split('\n')[0]);
    await sleep(3);
    ids.push(ok(await gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: b.id, content: 'v7 gql' } }, b.h), 'createMessage').id);
    const t1 = Date.now();
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, id);
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      assert.ok(ms >= t0 - 1000 && ms <= t1 + 1000, `${id}: ${ms} not within [${t0}, ${t1}]`);
    }
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(sql(`SELECT count(*) FROM messages WHERE id = ANY (ARRAY['${ids.join("','")}']::uuid[])`), '3');
  });

  // 0016_write_indexes.sql: no message_id index entry for message.created,
  // one (chat_id, seq) index on messages serving the unread count
  test('fewer index entries: unread count still exact over messages_chat_seq; removal still clears every payload', async () => {
    const [a, b] = makeUsers(2);
    const chat = await newChat(gc, a, [b]);
    const send = async (u, content) => ok(await gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content } }, u.h), 'createMessage');
    const m1 = await send(a, 'secret-one');
    await send(a, 'two');
    await send(b, 'from b');
    const edited = await send(a, 'secret-three');
    ok(await gql(gc, `mutation { updateMessage(id: "${edited.id}", content: "secret-edited", userId: "${a.id}") { id } }`, {}, a.h), 'updateMessage');
    const unread = () => Number(sql(`SELECT chatd_unread('${chat.id}', '${b.id}')`));
    assert.equal(unread(), 3);
    // the created events get no message_id index entry (its predicate); no second (chat_id, seq) index
    assert.equal(sql(`SELECT pg_get_indexdef('chat_events_message_idx'::regclass)`).includes("kind <> 'message.created'"), true);
    assert.equal(sql(`SELECT count(*) FROM pg_indexes WHERE tablename = 'messages' AND indexname = 'messages_unread_idx'`), '0');
    const inner = sql(`EXPLAIN SELECT count(*) FROM messages m WHERE m.chat_id = '${chat.id}' AND m.seq > 0
      AND m.sender_id <> '${b.id}' AND m.deleted_at IS NULL AND m.type <> 'system'`);
    assert.match(inner, /(Index Only Scan using|Bitmap Index Scan on) messages_chat_seq/);
    // removal: the created event (found by chat_id, seq) and the update event lose the content
    for (const m of [m1, edited]) {
      ok(await gql(gc, `mutation { removeMessage(id: "${m.id}", userId: "${a.id}") { id } }`, {}, a.h), 'removeMessage');
    }
    assert.equal(unread(), 1);
    assert.equal(sql(`SELECT count(*) FROM chat_events WHERE chat_id = '${chat.id}' AND payload::text LIKE '%secret%'`), '0');
    assert.equal(sql(`SELECT string_agg(kind, ',' ORDER BY seq) FROM chat_events WHERE chat_id = '${chat.id}'
      AND message_id IN ('${m1.id}', '${edited.id}')`), 'message.created,message.created,message.updated,message.deleted,message.deleted');
  });

  // 0014_write_cpu.sql: a group of common elements is written with one
  // statement for all of them; chatd_create_messages_each is 0012's loop
  // 0017_write_json.sql: the set path prints its JSON itself (escapes, a
  // scalar and a nested metadata, another type), byte for byte the loop's
  test('a clean group is written set-wise: the loop\'s rows byte for byte, per-chat seq in array order', async () => {
    const [a, b] = makeUsers(2);
    const [x1, y1, x2, y2] = await Promise.all([0, 1, 2, 3].map(() => newChat(gc, a, [b])));
    const call = (fn, x, y) => sql(`SELECT o_i, o_ch, o_payload, o_chat, o_seq, o_state, o_err FROM ${fn}(
      ARRAY['${x.id}', '${y.id}', '${x.id}', '${x.id}']::uuid[], ARRAY['${a.id}', '${b.id}', '${b.id}', '${a.id}']::uuid[],
      ARRAY['text', 'text', 'note', 'text'], ARRAY['m1', E'm2 "q" \\\\ \u00e9\\t</>', 'm3', 'm4'],
      ARRAY[NULL, '{"k": [1, "v"], "s": "x\\"y"}', NULL, '7']::jsonb[], ARRAY['q1', NULL, 'q1', NULL], ARRAY[NULL, NULL, NULL, NULL]::uuid[])`);
    const setwise = call('chatd_create_messages', x1, y1);
    const loop = call('chatd_create_messages_each', x2, y2);
    const ids = (out) => [...new Set(out.match(/"id": "[0-9a-f-]{36}"/g))];
    assert.equal(ids(setwise).length, 4);
    const norm = (out, x, y) => {
      let t = out.replaceAll(x.id, 'X').replaceAll(y.id, 'Y').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'T');
      ids(out).forEach((m, i) => { t = t.replaceAll(m.slice(7, -1), `M${i}`); });
      return t;
    };
    assert.equal(norm(setwise, x1, y1), norm(loop, x2, y2));
    // two rows per element, in element order; x's three messages take x's next seqs in array order
    const rows = setwise.split('\n').map((l) => l.split('|'));
    assert.deepEqual(rows.map((r) => Number(r[0])), [1, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual([1, 5, 7].map((k) => Number(rows[k][4])), [x1.lastSeq + 1, x1.lastSeq + 2, x1.lastSeq + 3]);
    assert.equal(Number(rows[3][4]), y1.lastSeq + 1);
    for (const [x, y] of [[x1, y1], [x2, y2]]) {
      assert.equal(sql(`SELECT string_agg(content || ':' || seq || ':' || coalesce(client_id, '-'), ',' ORDER BY seq)
        FROM messages WHERE chat_id = '${x.id}'`), `m1:${x.lastSeq + 1}:q1,m3:${x.lastSeq + 2}:q1,m4:${x.lastSeq + 3}:-`);
      assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${y.id}'`), String(y.lastSeq + 1));
    }
    const events = (x, y) => norm(sql(`SELECT seq, kind, payload::text, message_id FROM chat_events
      WHERE chat_id IN ('${x.id}', '${y.id}') AND seq > ${x.lastSeq} ORDER BY chat_id = '${y.id}', seq`), x, y);
    assert.equal(events(x1, y1).split('\n').length, 4);
    assert.equal(events(x1, y1), events(x2, y2));
    // 0019: the set path makes each id once — the message, its event's
    // message_id and its payload's id are one value, at one (chat_id, seq)
    assert.equal(sql(`SELECT count(*) FROM chat_events e JOIN messages m ON m.id = e.message_id
      AND m.chat_id = e.chat_id AND m.seq = e.seq AND (e.payload->>'id')::uuid = m.id
      AND e.payload->>'createdAt' = to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      WHERE e.chat_id IN ('${x1.id}', '${y1.id}') AND e.seq > ${x1.lastSeq} AND e.kind = 'message.created'`), '4');
  });

  test('a group with an uncommon element takes the loop: clientId twice or stored, non-participant, removed chat', async () => {
    const [a, b] = makeUsers(2);
    const outsider = makeUsers(1)[0];
    const [x, z] = await Promise.all([newChat(gc, a, [b]), newChat(gc, a, [b])]);
    sql(`UPDATE chats SET is_active = false WHERE id = '${z.id}'`);
    const by = (rows, i) => rows.filter((r) => Number(r[0]) === i);
    // the same clientId twice in one group: the second answers the first
    let rows = createMessages([
      { chat: x.id, sender: a.id, content: 'd1', client: 'dup' },
      { chat: x.id, sender: a.id, content: 'd1 again', client: 'dup' },
    ]);
    assert.equal(by(rows, 1).length, 2);
    assert.equal(by(rows, 2).length, 1);
    assert.equal(by(rows, 2)[0][5], by(rows, 1)[0][5]);
    // a clientId stored before: the stored message; a non-participant; a removed chat
    rows = createMessages([
      { chat: x.id, sender: a.id, content: 'd1 once more', client: 'dup' },
      { chat: x.id, sender: outsider.id, content: 'intruder' },
      { chat: z.id, sender: a.id, content: 'gone' },
      { chat: x.id, sender: b.id, content: 'fine' },
    ]);
    assert.equal(by(rows, 1).length, 1);
    assert.equal(by(rows, 1)[0][6], 'd1');
    assert.deepEqual(by(rows, 2).map((r) => [r[1], r[2]]),
      [['CD403', `Forbidden: user ${outsider.id} is not a participant of chat ${x.id}`]]);
    assert.deepEqual(by(rows, 3).map((r) => r[1]), ['CD410']); // chatd_chat_missing: removed
    assert.equal(by(rows, 4).length, 2);
    assert.equal(Number(by(rows, 4)[1][3]), x.lastSeq + 2);
    assert.equal(sql(`SELECT string_agg(content, ',' ORDER BY seq) FROM messages WHERE chat_id = '${x.id}'`), 'd1,fine');
    assert.equal(sql(`SELECT count(*) FROM messages WHERE chat_id = '${z.id}'`), '0');
    // a refused group gives back what its first statement reserved (0020): a
    // chat whose only element is refused keeps its last_seq and updated_at
    // (its last message's time); the other chat's message takes the next seq
    // after its own
    const y = await newChat(gc, a, [b]);
    createMessages([{ chat: y.id, sender: a.id, content: 'before the refusal' }]);
    const before = sql(`SELECT last_seq || '|' || updated_at FROM chats WHERE id = '${y.id}'`);
    const xSeq = Number(sql(`SELECT last_seq FROM chats WHERE id = '${x.id}'`));
    rows = createMessages([
      { chat: y.id, sender: outsider.id, content: 'refused' },
      { chat: x.id, sender: b.id, content: 'fine again' },
    ]);
    assert.equal(by(rows, 1)[0][1], 'CD403');
    assert.equal(Number(by(rows, 2)[1][3]), xSeq + 1);
    assert.equal(sql(`SELECT last_seq || '|' || updated_at FROM chats WHERE id = '${y.id}'`), before);
    assert.equal(sql(`SELECT count(*) FROM chat_events WHERE chat_id = '${y.id}' AND seq > ${before.split('|')[0]}`), '0');
  });

  test('a burst in one group: one array call, own errors, no re-run, seq in order, clientId once', async () => {
    const users = makeUsers(6);
    const outsider = makeUsers(1)[0];
    const chat = await newChat(held, users[0], users.slice(1));
    const first = ok(await gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: users[0].id, content: 'before' } }, users[0].h), 'createMessage');
    const [merged0, splits0, retries0] = await Promise.all(['merged', 'splits', 'retries'].map(
      (k) => gcMetric(held, `chatd_sender_group_commit_${k}_total`)));
    const release = await lockChat(chat.id);
    let blocked, burst;
    try {
      // the lock holds this one in flight; the burst gathers behind it
      blocked = gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: users[0].id, content: 'blocked' } }, users[0].h);
      await sleep(50);
      const send = (u, extra) => gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, ...extra } }, u.h);
      const cid = `c-${sfx()}`;
      burst = Promise.all([
        ...users.map((u, i) => send(u, { content: `good ${i}` })),
        send(outsider, { content: 'intruder' }),
        send(users[1], { content: 'reply', replyToId: '00000000-0000-4000-8000-000000000777' }),
        send(users[2], { content: 'to the original', replyToId: first.id }),
        send(users[3], { content: 'once', clientId: cid }),
        send(users[3], { content: 'once', clientId: cid }),
        gql(held, CREATE_MSG, { in: { chatId: '00000000-0000-4000-8000-000000000778', senderId: users[4].id, content: 'x' } }, users[4].h),
      ]);
      await sleep(300); // the window (100 ms) closed: the burst is one group in flight, behind the lock
    } finally {
      await release();
    }
    ok(await blocked, 'createMessage');
    const res = await burst;
    const good = res.slice(0, users.length).map((b) => ok(b, 'createMessage'));
    const [intruder, badReply, reply, once1, once2, ghost] = res.slice(users.length);
    err(intruder, 'FORBIDDEN', /not a participant/);
    err(badReply, 'NOT_FOUND', /not found \(replyToId\)/);
    ok(reply, 'createMessage');
    assert.equal(ok(once1, 'createMessage').id, ok(once2, 'createMessage').id);
    err(ghost, 'NOT_FOUND', /Chat .* not found/);
    // one array call carried them: nothing failed as a whole, nothing re-ran
    assert.ok(await gcMetric(held, 'chatd_sender_group_commit_merged_total') > merged0);
    assert.equal(await gcMetric(held, 'chatd_sender_group_commit_splits_total'), splits0);
    assert.equal(await gcMetric(held, 'chatd_sender_group_commit_retries_total'), retries0);
    // stored: every good one once, in one transaction with one xid (no
    // subtransaction for them), seqs contiguous from 'before'
    const [n, txs, xids] = sql(`SELECT count(*), count(DISTINCT created_at), count(DISTINCT xmin::text) FROM messages
      WHERE chat_id = '${chat.id}' AND content LIKE 'good %'`).split('|').map(Number);
    assert.equal(n, users.length);
    assert.equal(xids, txs);
    const seqs = sql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM messages WHERE chat_id = '${chat.id}'`).split(',').map(Number);
    assert.deepEqual(seqs, seqs.map((_, i) => first.seq + i));
    assert.equal(seqs.length, users.length + 4); // before, blocked, the good ones, the reply, once
    for (const m of good) assert.ok(m.seq > first.seq + 1);
  });

  test('an array call failing whole is split: one statement per message, each its own outcome', async () => {
    const users = makeUsers(5);
    const chat = await newChat(held, users[0], users.slice(1));
    const splits0 = await gcMetric(held, 'chatd_sender_group_commit_splits_total');
    const release = await lockChat(chat.id);
    let blocked, burst;
    try {
      blocked = gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: users[0].id, content: 'blocked' } }, users[0].h);
      await sleep(50);
      burst = Promise.all([
        ...users.map((u, i) => gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: u.id, content: `s ${i}` } }, u.h)),
        // jsonb cannot hold \u0000: the whole jsonb[] parameter is refused
        gql(held, CREATE_MSG, { in: { chatId: chat.id, senderId: users[1].id, content: 'nul', metadata: { nul: 'a\u0000b' } } }, users[1].h),
      ]);
      await sleep(300);
    } finally {
      await release();
    }
    ok(await blocked, 'createMessage');
    const res = await burst;
    const good = res.slice(0, users.length).map((b) => ok(b, 'createMessage'));
    err(res[users.length], 'BAD_USER_INPUT', /^Invalid input: a value cannot be stored/);
    assert.ok(await gcMetric(held, 'chatd_sender_group_commit_splits_total') > splits0);
    assert.equal(Number(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}' AND content LIKE 's %'`)), users.length);
    assert.equal(Number(sql(`SELECT count(*) FROM messages WHERE chat_id = '${chat.id}' AND content = 'nul'`)), 0);
    const seqs = good.map((m) => m.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
    const [cnt, last] = sql(`SELECT count(*), (SELECT last_seq FROM chats WHERE id = '${chat.id}') FROM chat_events
      WHERE chat_id = '${chat.id}'`).split('|').map(Number);
    assert.equal(cnt, last);
  });
});

describe('membership at scale', () => {
  test('participantIds at its edge: 256 members listed in full, 257 bounded; chat.updated only in small groups', async () => {
    const users = makeUsers(300);
    const owner = users[0];
    const chat = await newChat(def, owner, users.slice(1, 256)); // 256 members
    assert.equal(chat.memberCount, 256);
    assert.equal(chat.participantIds.length, 256);
    const sub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, [`user:${users[5].id}`]);
    try {
      const grown = ok(await gql(def, ADD, { c: chat.id, u: users[256].id }, owner.h), 'addParticipant');
      assert.equal(grown.memberCount, 257);
      assert.equal(grown.participantIds.length, 256);
      assert.deepEqual(grown.participantIds, users.slice(0, 256).map((u) => u.id));
      // the group had 256 members before: earlier members still heard of it
      await sub.next((x) => x.json.kind === 'chat.updated' && x.json.chatId === chat.id);
      // above the bound: no per-member notification, the chat channel carries it
      const chatSub = await redisSubscribe(process.env.CHATD_TEST_REDIS_URL, [`chat:${chat.id}`]);
      try {
        const g2 = ok(await gql(def, ADD, { c: chat.id, u: users[257].id }, owner.h), 'addParticipant');
        assert.equal(g2.memberCount, 258);
        const ev = await chatSub.next((x) => x.json.kind === 'participants.added');
        assert.deepEqual(ev.json.data.userIds, [users[257].id]);
        const q = ok(await gql(def, MEMBERS, { id: chat.id, first: 1 }, owner.h), 'chat');
        assert.equal(q.participants.length, 256);
        assert.equal(q.memberCount, 258);
        // a leave in the large group: count follows
        const g3 = ok(await gql(def, REMOVE_P, { c: chat.id, u: users[257].id }, users[257].h), 'removeParticipant');
        assert.equal(g3.memberCount, 257);
      } finally {
        chatSub.close();
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sub.messages.filter((x) => x.json.kind === 'chat.updated' && x.json.chatId === chat.id).length, 1);
    } finally {
      sub.close();
    }
  });

  test('a 10,000-member group built in batches of 500; Chat.members pages through it', async () => {
    const users = makeUsers(10000);
    const owner = users[0];
    const t0 = performance.now();
    const chat = await newChat(def, owner, users.slice(1, 500));
    let last;
    for (let i = 500; i < users.length; i += 500) {
      last = ok(await gql(def, ADDS, { c: chat.id, u: users.slice(i, i + 500).map((u) => u.id) }, owner.h), 'addParticipants');
    }
    const ms = performance.now() - t0;
    console.log(`built a 10,000-member group in batches of 500: ${(ms / 1000).toFixed(2)} s`);
    assert.ok(ms < 60000, `${ms} ms`); // generous: the target is well under 10 s
    assert.equal(last.memberCount, 10000);
    assert.equal(last.participantIds.length, 256);
    assert.equal(Number(sql(`SELECT member_count FROM chats WHERE id = '${chat.id}'`)), 10000);
    assert.equal(Number(sql(`SELECT count(*) FROM chat_participants WHERE chat_id = '${chat.id}' AND left_seq IS NULL`)), 10000);

    // every member once, in join order, 1,000 at a time
    const got = [];
    let after = null;
    let pages = 0;
    for (;;) {
      const q = ok(await gql(def, MEMBERS, { id: chat.id, first: 1000, after }, users[7].h), 'chat');
      const m = q.members;
      assert.equal(m.totalCount, 10000);
      assert.ok(m.edges.length <= 1000);
      for (const e of m.edges) got.push(e.node.user.id);
      pages++;
      if (!m.pageInfo.hasNextPage) {
        assert.equal(m.pageInfo.endCursor, m.edges.length ? m.edges[m.edges.length - 1].cursor : null);
        break;
      }
      after = m.pageInfo.endCursor;
      assert.ok(pages < 20);
    }
    assert.equal(pages, 10);
    assert.deepEqual(got, users.map((u) => u.id));
    const first = ok(await gql(def, MEMBERS, { id: chat.id }, owner.h), 'chat').members;
    assert.equal(first.edges.length, 100); // default page
    assert.equal(first.edges[0].node.role, 'OWNER'); // ChatRole (0008): the creator owns the group
    assert.equal(first.edges[1].node.role, 'MEMBER');
    assert.ok(first.edges[0].node.joinedAt);
    assert.ok(first.edges[0].node.user.username);

    // a message into the big group still works (the write path does not list members)
    ok(await gql(def, CREATE_MSG, { in: { chatId: chat.id, senderId: users[9999].id, content: 'hi all' } }, users[9999].h), 'createMessage');
  });

  test('Chat.members: only participants; bad first / after refused', async () => {
    const [a, b, outsider] = makeUsers(3);
    const chat = await newChat(def, a, [b]);
    err(await gql(def, MEMBERS, { id: chat.id }, outsider.h), 'FORBIDDEN');
    err(await gql(def, MEMBERS, { id: chat.id, first: 0 }, a.h), 'BAD_USER_INPUT', /first/);
    err(await gql(def, MEMBERS, { id: chat.id, first: 1001 }, a.h), 'BAD_USER_INPUT', /first/);
    const edge = ok(await gql(def, MEMBERS, { id: chat.id, first: 1000 }, a.h), 'chat').members;
    assert.equal(edge.edges.length, 2);
    assert.equal(edge.pageInfo.hasNextPage, false);
    for (const bad of ['', 'x', '1:2', `1:2:${a.id}x`, `a:1:${a.id}`, `1:-2:${a.id}`]) {
      err(await gql(def, MEMBERS, { id: chat.id, after: bad }, a.h), 'BAD_USER_INPUT', /cursor/);
    }
    const one = ok(await gql(def, MEMBERS, { id: chat.id, first: 1 }, a.h), 'chat').members;
    assert.equal(one.pageInfo.hasNextPage, true);
    const two = ok(await gql(def, MEMBERS, { id: chat.id, first: 1, after: one.pageInfo.endCursor }, a.h), 'chat').members;
    assert.equal(two.edges[0].node.user.id, b.id);
    assert.equal(two.pageInfo.hasNextPage, false);
  });

  test('CHATD_MAX_GROUP_MEMBERS: exactly the maximum is allowed, one more is BAD_USER_INPUT', async () => {
    const users = makeUsers(7);
    err(await gql(small, CREATE_CHAT, { in: { name: 'too big', participantIds: users.slice(0, 6).map((u) => u.id) } }, users[0].h),
      'BAD_USER_INPUT', /at most 5 members/);
    const chat = await newChat(small, users[0], users.slice(1, 4)); // 4
    const five = ok(await gql(small, ADD, { c: chat.id, u: users[4].id }, users[0].h), 'addParticipant');
    assert.equal(five.memberCount, 5);
    err(await gql(small, ADD, { c: chat.id, u: users[5].id }, users[0].h), 'BAD_USER_INPUT', /at most 5 members \(it has 5; adding 1/);
    err(await gql(small, ADDS, { c: chat.id, u: [users[5].id, users[6].id] }, users[0].h), 'BAD_USER_INPUT', /at most 5/);
    // re-adding existing members is not growth
    ok(await gql(small, ADD, { c: chat.id, u: users[1].id }, users[0].h), 'addParticipant');
    // after a leave there is room again
    ok(await gql(small, REMOVE_P, { c: chat.id, u: users[2].id }, users[2].h), 'removeParticipant');
    const again = ok(await gql(small, ADD, { c: chat.id, u: users[5].id }, users[0].h), 'addParticipant');
    assert.equal(again.memberCount, 5);
    assert.equal(Number(sql(`SELECT count(*) FROM chat_participants WHERE chat_id = '${chat.id}' AND left_seq IS NULL`)), 5);
  });
});
