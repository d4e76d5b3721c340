// The group-commit set path's stored-clientId check stays one index probe
// per element whatever the statistics say (0018_client_probe.sql).
//
// Its plan is generic and chosen from the statistics of the moment. Here
// they are made stale the way a deployment gets them: messages analyzed
// while no message had a clientId (messages_client_id looks empty), then
// many messages with clientIds written. A group with clientIds must then
// still read a handful of that index's entries, not all of them. The suite
// runs in a database of its own: the shared one's statistics belong to the
// suites running beside it.
import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startChatd, ownDatabase } from './lib/chatd.js';

const STORED = 2000; // messages with a clientId written after the ANALYZE
const GROUP = 4;

describe('stored clientId probe of the set path', () => {
  let db;
  before(async () => {
    db = ownDatabase('chatd_wp');
    // a sender applies the migrations; nothing else runs here
    const srv = await startChatd({ role: 'sender', db: false, redis: true, env: { DATABASE_URL: db.url } });
    await srv.stop();
  });
  after(() => {
    if (db) db.drop();
  });

  test('reads a few index entries per group, not every stored clientId', () => {
    const { sql } = db;
    const ids = sql("INSERT INTO users (username, email) SELECT 'wp' || g, 'wp' || g || '@example.com' FROM generate_series(1, 2) g RETURNING id").split('\n');
    sql(`SELECT count(*) FROM chatd_create_chat('${ids[0]}', 'wp', NULL, 'group', ARRAY['${ids[0]}', '${ids[1]}']::uuid[], 100)`);
    const chat = sql("SELECT id FROM chats WHERE name = 'wp'");
    assert.match(chat, /^[0-9a-f-]{36}$/);
    // statistics taken while no message has a clientId
    sql(`SELECT count(*) FROM generate_series(1, 500) g, LATERAL chatd_create_message('${chat}', '${ids[0]}', 'text', 'plain ' || g, NULL, NULL)`);
    sql('ANALYZE messages');
    assert.equal(sql("SELECT reltuples FROM pg_class WHERE relname = 'messages_client_id'"), '0');
    // then many with one (not analyzed)
    sql(`SELECT count(*) FROM generate_series(1, ${STORED}) g, LATERAL chatd_create_message('${chat}', '${ids[1]}', 'text', 'keyed ' || g, NULL, 'stored-' || g)`);
    assert.equal(sql('SELECT count(*) FROM messages WHERE client_id IS NOT NULL'), String(STORED));
    const seq0 = Number(sql(`SELECT last_seq FROM chats WHERE id = '${chat}'`));

    const arr = (v) => `ARRAY[${Array(GROUP).fill(v).join(',')}]`;
    const call = (tag) =>
      `SELECT count(*) FROM chatd_create_messages(${arr(`'${chat}'`)}::uuid[], ${arr(`'${ids[0]}'`)}::uuid[], ` +
      `${arr("'text'")}, ARRAY[${[...Array(GROUP).keys()].map((k) => `'${tag} ${k}'`).join(',')}], ` +
      `${arr('NULL')}::jsonb[], ARRAY[${[...Array(GROUP).keys()].map((k) => `'${tag}-${k}'`).join(',')}], ${arr('NULL')}::uuid[])`;
    // one session: the first call plans the statement; the second is measured
    // in its own transaction by the index's per-transaction counters
    const out = sql(
      `SELECT count(*) FROM (${call('warm')}) w; BEGIN; ${call('probe')}; ` +
        "SELECT 'read=' || pg_stat_get_xact_tuples_returned('messages_client_id'::regclass); COMMIT;"
    );
    const m = /read=(\d+)/.exec(out);
    assert.ok(m, out);
    // GROUP probes find nothing; the unique index's own insert checks read
    // at most a few entries more
    assert.ok(Number(m[1]) <= 4 * GROUP, `messages_client_id entries read by one group of ${GROUP}: ${m[1]} (stored: ${STORED})`);
    // and the group was written by the set path, its clientIds stored once
    assert.equal(sql("SELECT count(*) FROM messages WHERE client_id LIKE 'probe-%'"), String(GROUP));
    assert.equal(sql(`SELECT last_seq FROM chats WHERE id = '${chat}'`), String(seq0 + 2 * GROUP));
  });
});
