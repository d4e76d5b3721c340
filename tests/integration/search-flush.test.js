// The sender merges the search index's pending list in the background
// (0015_latency.sql, src/chat/outbox.c: every sweeper tick), so no
// message's INSERT finds it full and merges it while holding its chat
// locks: after messages are written the sender's merge counter grows on
// its own, the list is then empty (a merge right after finds nothing), and
// the index still finds the messages. One merge at a time over
// all senders: the function skips (-1) while another session holds its lock.
//
// The suite runs in a database of its own: in the shared test database the
// senders of suites running beside it merge the same list on their own
// ticks, so this sender could find it already empty and its counter stay put.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startChatd, gqlPost, signToken, ownDatabase, psqlBin } from './lib/chatd.js';

const sfx = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 7);
let db;
const sql = (statement) => db.sql(statement);

async function metric(srv, name) {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  assert.ok(m, `${name} missing from /metrics`);
  return Number(m[1]);
}

describe('search index pending list', () => {
  let srv;
  before(async () => {
    db = ownDatabase('chatd_sf');
    // chatd applies the migrations at start
    srv = await startChatd({ role: 'sender', db: false, redis: true, env: { DATABASE_URL: db.url } });
  });
  after(async () => {
    if (srv) await srv.stop();
    if (db) db.drop();
  });

  test('the sender merges it after messages are written; searches still find them', async () => {
    const s = sfx();
    const ids = sql(`INSERT INTO users (username, email) VALUES ('sf${s}a', 'sf${s}a@example.com'), ('sf${s}b', 'sf${s}b@example.com') RETURNING id`).split('\n');
    const token = signToken({ sub: ids[0], username: `sf${s}a` });
    const h = { authorization: `Bearer ${token}` };
    const chat = await gqlPost(srv.url, {
      query: 'mutation C($in: CreateChatInput!) { createChat(createChatInput: $in) { id } }',
      variables: { in: { name: `sf${s}`, chatType: 'group', participantIds: [ids[0], ids[1]] } },
    }, h);
    assert.equal(chat.body.errors, undefined, JSON.stringify(chat.body));
    const chatId = chat.body.data.createChat.id;
    const before = await metric(srv, 'chatd_sender_search_flush_pages_total');
    // 300 messages of distinct words straight through the write function:
    // their index entries land in the pending list (fastupdate, 0009)
    sql(`SELECT count(*) FROM generate_series(1, 300) AS i, LATERAL chatd_create_message('${chatId}', '${ids[0]}', 'text', 'flush${s} word' || i, NULL, NULL)`);
    const t0 = Date.now();
    let pages = before;
    while (pages <= before && Date.now() - t0 < 20000) {
      await new Promise((r) => setTimeout(r, 200));
      pages = await metric(srv, 'chatd_sender_search_flush_pages_total');
    }
    assert.ok(pages > before, `no pending-list pages merged within 20 s (${before} → ${pages})`);
    assert.ok((await metric(srv, 'chatd_sender_search_flushes_total')) > 0);
    assert.equal(await metric(srv, 'chatd_sender_search_flush_errors_total'), 0);
    // merged: nothing left for a merge of our own
    assert.equal(sql("SELECT gin_clean_pending_list('messages_search_idx'::regclass)"), '0');
    // and the index still finds them (the search's own expression, 0009)
    assert.equal(sql(`SELECT string_agg(content, ',') FROM messages WHERE chat_id = '${chatId}' AND deleted_at IS NULL AND to_tsvector('simple', content) @@ plainto_tsquery('simple', 'flush${s} word17')`), `flush${s} word17`);
  });

  test('one merge at a time: the function skips while another session holds its lock', async () => {
    // a session holding the lock in an open transaction
    const holder = spawn(psqlBin, [db.url, '-XAtq'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    holder.stdout.on('data', (d) => (out += d));
    holder.stdin.write("BEGIN; SELECT 'held', pg_advisory_xact_lock(hashtext('chatd.search_pending_flush'));\n");
    const t0 = Date.now();
    while (!out.includes('held') && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(out.includes('held'), 'the holder did not take the lock');
    try {
      assert.equal(sql('SELECT chatd_search_pending_flush()'), '-1');
    } finally {
      holder.stdin.end('COMMIT;\n');
      await new Promise((r) => holder.on('exit', r));
    }
    assert.notEqual(sql('SELECT chatd_search_pending_flush()'), '-1');
  });
});
