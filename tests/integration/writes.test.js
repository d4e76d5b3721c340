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
// with a savepoint per member (the retry counter in /metrics).
//
// Membership: a 10,000-member group built with addParticipants in batches of
// 500 (the time is logged; the bound is generous), participantIds /
// participants bounded at 256 (edge: 256 and 257 members), memberCount,
// Chat.members pages covering every member once in join order, its
// authorization and argument errors, and CHATD_MAX_GROUP_MEMBERS at its edge.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startChatd, gqlPost, signToken } from './lib/chatd.js';
import { redisSubscribe } from './lib/redis-sub.js';

function sql(statement) {
  const psql = process.env.CHATD_TEST_PG_BIN ? path.join(process.env.CHATD_TEST_PG_BIN, 'psql') : 'psql';
  return execFileSync(psql, [process.env.CHATD_TEST_DATABASE_URL, '-XAtq', '-c', statement], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  }).trim();
}
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

let gc, def, small;
before(async () => {
  [gc, def, small] = await Promise.all([
    // a 20 ms window so a burst certainly shares transactions
    startChatd({ role: 'all', db: true, redis: true, fixtures: false, env: { CHATD_GROUP_COMMIT_US: '20000' } }),
    startChatd({ role: 'all', db: true, redis: true, fixtures: false }),
    startChatd({ role: 'all', db: true, redis: true, fixtures: false, env: { CHATD_MAX_GROUP_MEMBERS: '5' } }),
  ]);
});
after(async () => {
  await Promise.all([gc, def, small].filter(Boolean).map((s) => s.stop()));
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
    // error; the group ran again with a savepoint per member
    const [bad, ...good] = await Promise.all([
      gql(gc, CREATE_MSG, { in: { chatId: chat.id, senderId: outsider.id, content: 'mixed intruder' } }, outsider.h),
      burst('mixed'),
    ]);
    err(bad, 'FORBIDDEN', /not a participant/);
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
