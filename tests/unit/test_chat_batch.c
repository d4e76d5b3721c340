/*
 * test_chat_batch.c — group commit (src/chat/batch.c) against a real server
 * (CHATD_TEST_DATABASE_URL, set by scripts/testenv run -- ...; skipped
 * without it): a window closed by exactly `max` members (one transaction),
 * max + 1 (two), a lone member sent at once while fewer than
 * CHAT_GC_EAGER_INFLIGHT groups are in flight and waiting for the time
 * window (or a group in flight) otherwise, a failing member
 * whose neighbours commit, arrival order per key with keys sorted, the
 * merge rule (a run of one statement as one array call, each member its own
 * rows or error; split into single statements when the call fails whole),
 * no callback inside submit, bad arguments, and close sending what is pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "test_util.h"

#include "chat/chat_internal.h"

static const char *db_url(void)
{
    const char *u = getenv("CHATD_TEST_DATABASE_URL");
    if (!u || !*u) fail_msg("CHATD_TEST_DATABASE_URL is not set");
    return u;
}

static void side_exec(const char *sql)
{
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK) fail_msg("side connection: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

static long side_count(const char *sql)
{
    PGconn *c = PQconnectdb(db_url());
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

typedef struct mres {
    int done;
    int status;
    char value[64];
    char sqlstate[8];
    int order;
} mres;

static int completions;
static bool in_submit;

static void on_member(const pg_result *r, void *ud)
{
    mres *m = ud;
    assert_false(in_submit);
    assert_int_equal(m->done, 0);
    m->done = 1;
    m->status = r->status;
    m->order = ++completions;
    const char *v = pg_result_get(r, 0, 0);
    snprintf(m->value, sizeof m->value, "%s", v ? v : "");
    snprintf(m->sqlstate, sizeof m->sqlstate, "%s", r->sqlstate ? r->sqlstate : "");
}

static int submit(chat_gc *gc, const char *key, const char *sql, int n, const char *const *params,
                  mres *m)
{
    in_submit = true;
    int rc = chat_gc_submit(gc, key, sql, n, params, on_member, m);
    in_submit = false;
    return rc;
}

static void run_all(uv_loop_t *loop, mres *m, int n)
{
    uint64_t start = uv_hrtime();
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += m[i].done;
        if (done == n) return;
        uv_run(loop, UV_RUN_ONCE);
        if (uv_hrtime() - start > 20ull * 1000000000ull) fail_msg("timed out");
    }
}

typedef struct env {
    uv_loop_t loop;
    pg_pool *p;
    chat_gc *gc;
} env;

static void env_open(env *e, uint32_t max, uint32_t window_us)
{
    uv_loop_init(&e->loop);
    /* a connection beyond the groups sent at once, so a group the window
     * closes is not held back by the pool */
    assert_int_equal(pg_pool_new(&e->loop, db_url(), CHAT_GC_EAGER_INFLIGHT + 1, &e->p), 0);
    assert_int_equal(chat_gc_new(&e->loop, e->p, max, window_us, &e->gc), 0);
    completions = 0;
}

static int closed;
static void on_closed(void *ud)
{
    (void)ud;
    closed = 1;
}

static void env_close(env *e)
{
    chat_gc_close(e->gc);
    closed = 0;
    pg_pool_close(e->p, on_closed, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

#define TXID "SELECT txid_current()::text"

/* Exactly max members: one transaction, sent without waiting for the
 * window; max + 1: two groups, the extra one in its own transaction. */
static void test_exactly_max(void **state)
{
    (void)state;
    env e;
    env_open(&e, 8, 10u * 1000u * 1000u); /* a 10 s window: only "full" can flush in time */
    mres m[9] = {{0}};
    for (int i = 0; i < 8; i++)
        assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &m[i]), 0);
    uint64_t t0 = uv_hrtime();
    run_all(&e.loop, m, 8);
    assert_true(uv_hrtime() - t0 < 5ull * 1000000000ull);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(m[i].status, 0);
        assert_string_equal(m[i].value, m[0].value);
    }
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.members, 8);
    assert_int_equal(st.largest, 8);
    assert_int_equal(st.full, 1);
    chat_gc_close(e.gc);
    assert_int_equal(chat_gc_new(&e.loop, e.p, 8, 20u * 1000u, &e.gc), 0);
    mres n[9] = {{0}};
    for (int i = 0; i < 9; i++)
        assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &n[i]), 0);
    run_all(&e.loop, n, 9);
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 2);
    assert_int_equal(st.largest, 8);
    for (int i = 1; i < 8; i++)
        assert_string_equal(n[i].value, n[0].value);
    assert_string_not_equal(n[8].value, n[0].value);
    assert_true(n[8].order > n[7].order);
    env_close(&e);
}

/* With no group in flight a lone member goes at the next loop turn (the
 * database is idle: waiting would only add latency); members submitted in
 * the same turn still share its transaction. */
static void test_idle_sends_at_once(void **state)
{
    (void)state;
    env e;
    env_open(&e, 64, 10u * 1000u * 1000u); /* a 10 s window: only "idle" can flush in time */
    mres m[3] = {{0}};
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &m[i]), 0);
    run_all(&e.loop, m, 3);
    assert_true(uv_hrtime() - t0 < 5ull * 1000000000ull);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m[i].status, 0);
        assert_string_equal(m[i].value, m[0].value);
    }
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.full, 0);
    env_close(&e);
}

/* Sends one group per slow statement (each at the next loop turn: fewer
 * than CHAT_GC_EAGER_INFLIGHT are in flight before it, and each under a
 * key of its own) and returns once all of them are in flight. */
static void start_slow(env *e, const char *sql, mres *slow, int n)
{
    static const char *const keys[] = {"s0", "s1", "s2", "s3"};
    _Static_assert(CHAT_GC_EAGER_INFLIGHT <= 4, "a key per slow group");
    for (int i = 0; i < n; i++) {
        assert_int_equal(submit(e->gc, keys[i], sql, 0, NULL, &slow[i]), 0);
        for (int k = 0; k < 5; k++)
            uv_run(&e->loop, UV_RUN_NOWAIT);
    }
}

/* A lone member does not queue behind the one group in flight (fewer than
 * CHAT_GC_EAGER_INFLIGHT are): it goes at the next loop turn and commits on
 * its own connection, here long before that group (a 10 s window). A
 * message arriving while the previous one commits so pays one commit, not
 * two. Not when its key (chat) is in the group in flight: sent beside it,
 * it could take the chat's lock first and commit ahead of a message that
 * arrived before it; it waits for that group. */
static void test_eager_beside_inflight(void **state)
{
    (void)state;
    env e;
    env_open(&e, 64, 10u * 1000u * 1000u);
    mres warm = {0};
    assert_int_equal(submit(e.gc, "a", TXID, 0, NULL, &warm), 0);
    run_all(&e.loop, &warm, 1);
    mres slow = {0};
    assert_int_equal(submit(e.gc, "a", "SELECT pg_sleep(1)::text", 0, NULL, &slow), 0);
    for (int k = 0; k < 5; k++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    mres same = {0}, m = {0};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(submit(e.gc, "b", TXID, 0, NULL, &m), 0);
    run_all(&e.loop, &m, 1);
    assert_true(uv_hrtime() - t0 < 900ull * 1000000ull);
    assert_int_equal(m.status, 0);
    assert_int_equal(slow.done, 0); /* m did not wait for it */
    /* the chat in flight: its next member waits for that group */
    assert_int_equal(submit(e.gc, "a", TXID, 0, NULL, &same), 0);
    for (int k = 0; k < 5; k++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_int_equal(same.done, 0);
    run_all(&e.loop, &same, 1);
    assert_int_equal(slow.done, 1);
    assert_true(slow.order < same.order);
    assert_int_equal(slow.status, 0);
    assert_int_equal(same.status, 0);
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 4); /* warm, slow, m alone, then same */
    env_close(&e);
}

/* Under load — the group in flight holds more than CHAT_GC_EAGER_BESIDE_MAX
 * members — a member does not go beside it: the window gathers the next
 * group while it commits and closes when it completes (a 10 s window), so
 * groups stay large. */
static void test_busy_group_gathers(void **state)
{
    (void)state;
    env e;
    env_open(&e, 64, 10u * 1000u * 1000u);
    mres warm = {0};
    assert_int_equal(submit(e.gc, "a", TXID, 0, NULL, &warm), 0);
    run_all(&e.loop, &warm, 1);
    enum { BIG = CHAT_GC_EAGER_BESIDE_MAX + 1 };
    mres slow[BIG] = {{0}};
    static const char *const keys[] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
    _Static_assert(BIG <= 8, "a key per member");
    for (int i = 0; i < BIG; i++) /* one turn: one group of BIG members */
        assert_int_equal(submit(e.gc, keys[i], "SELECT pg_sleep(0.3)::text", 0, NULL, &slow[i]), 0);
    for (int k = 0; k < 5; k++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    mres m = {0};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(submit(e.gc, "b", TXID, 0, NULL, &m), 0);
    run_all(&e.loop, &m, 1);
    assert_true(uv_hrtime() - t0 < 5ull * 1000000000ull); /* released by the completion */
    for (int i = 0; i < BIG; i++) {
        assert_int_equal(slow[i].done, 1);
        assert_true(slow[i].order < m.order);
    }
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 3);
    env_close(&e);
}

/* With CHAT_GC_EAGER_INFLIGHT groups in flight, a lone member waits — for
 * one of them to complete or, at the latest, for the time window — then
 * commits in its own transaction. */
static void test_time_window(void **state)
{
    (void)state;
    env e;
    env_open(&e, 64, 150u * 1000u); /* 150 ms */
    /* let the pool connect first so the wait measured is the window's */
    mres warm = {0};
    assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &warm), 0);
    run_all(&e.loop, &warm, 1);
    /* groups that stay in flight for 1 s */
    mres slow[CHAT_GC_EAGER_INFLIGHT] = {{0}};
    start_slow(&e, "SELECT pg_sleep(1)::text", slow, CHAT_GC_EAGER_INFLIGHT);
    mres m = {0};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &m), 0);
    /* nothing is sent before the window closes */
    for (int i = 0; i < 5; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_int_equal(m.done, 0);
    run_all(&e.loop, &m, 1);
    uint64_t ms = (uv_hrtime() - t0) / 1000000ull;
    assert_true(ms >= 140); /* the loop clock may lag the real one by a little */
    for (int i = 0; i < CHAT_GC_EAGER_INFLIGHT; i++)
        assert_int_equal(slow[i].done, 0); /* the window, not a slow group, released it */
    assert_int_equal(m.status, 0);
    run_all(&e.loop, slow, CHAT_GC_EAGER_INFLIGHT);
    for (int i = 0; i < CHAT_GC_EAGER_INFLIGHT; i++)
        assert_int_equal(slow[i].status, 0);
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 2 + CHAT_GC_EAGER_INFLIGHT);
    assert_int_equal(st.full, 0);
    env_close(&e);
}

/* Members that arrive while CHAT_GC_EAGER_INFLIGHT groups are in flight go
 * together as soon as one of them completes, well before a long window. */
static void test_completion_releases_waiters(void **state)
{
    (void)state;
    env e;
    env_open(&e, 64, 10u * 1000u * 1000u); /* 10 s */
    mres slow[CHAT_GC_EAGER_INFLIGHT] = {{0}};
    start_slow(&e, "SELECT pg_sleep(0.3)::text", slow, CHAT_GC_EAGER_INFLIGHT);
    mres m[4] = {{0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit(e.gc, "k", TXID, 0, NULL, &m[i]), 0);
    uint64_t t0 = uv_hrtime();
    run_all(&e.loop, m, 4);
    assert_true(uv_hrtime() - t0 < 5ull * 1000000000ull);
    int first = 0; /* the slow group that completed first released them */
    for (int i = 0; i < CHAT_GC_EAGER_INFLIGHT; i++)
        if (slow[i].done && (!first || slow[i].order < first)) first = slow[i].order;
    assert_true(first > 0 && first < m[0].order);
    for (int i = 1; i < 4; i++)
        assert_string_equal(m[i].value, m[0].value);
    run_all(&e.loop, slow, CHAT_GC_EAGER_INFLIGHT);
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 1 + CHAT_GC_EAGER_INFLIGHT);
    env_close(&e);
}

static void test_failing_member(void **state)
{
    (void)state;
    char tbl[64], sql[256], ins[256];
    snprintf(tbl, sizeof tbl, "t_chat_batch_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int primary key)", tbl,
             tbl);
    side_exec(sql);
    snprintf(ins, sizeof ins, "INSERT INTO %s VALUES ($1::int) RETURNING txid_current()::text",
             tbl);
    env e;
    env_open(&e, 64, 5000);
    const char *ids[] = {"1", "2", "1", "3", "x"};
    mres m[5] = {{0}};
    for (int i = 0; i < 5; i++)
        assert_int_equal(submit(e.gc, "k", ins, 1, &ids[i], &m[i]), 0);
    run_all(&e.loop, m, 5);
    assert_int_equal(m[0].status, 0);
    assert_int_equal(m[1].status, 0);
    assert_int_equal(m[2].status, CD_EEXIST); /* duplicate of member 0, same transaction */
    assert_string_equal(m[2].sqlstate, "23505");
    assert_int_equal(m[3].status, 0);
    assert_int_equal(m[4].status, CD_EIO); /* not an int */
    assert_string_equal(m[4].sqlstate, "22P02");
    assert_string_equal(m[0].value, m[1].value);
    assert_string_equal(m[0].value, m[3].value);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tbl);
    assert_int_equal(side_count(sql), 3);
    env_close(&e);
    snprintf(sql, sizeof sql, "DROP TABLE %s", tbl);
    side_exec(sql);
}

/* Arrival order within a key; keys in sorted order within a group. */
static void test_order(void **state)
{
    (void)state;
    char seq[64], sql[256], next[128];
    snprintf(seq, sizeof seq, "s_chat_batch_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP SEQUENCE IF EXISTS %s; CREATE SEQUENCE %s", seq, seq);
    side_exec(sql);
    snprintf(next, sizeof next, "SELECT nextval('%s')::text", seq);
    env e;
    env_open(&e, 64, 5000);
    const char *keys[] = {"b", "a", "B", "a", "c", "b"};
    mres m[6] = {{0}};
    for (int i = 0; i < 6; i++)
        assert_int_equal(submit(e.gc, keys[i], next, 0, NULL, &m[i]), 0);
    run_all(&e.loop, m, 6);
    long v[6];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(m[i].status, 0);
        v[i] = atol(m[i].value);
    }
    /* a: members 1, 3; b (any case): 0, 2, 5; c: 4 */
    assert_true(v[1] < v[3]);
    assert_true(v[3] < v[0] && v[0] < v[2] && v[2] < v[5]);
    assert_true(v[5] < v[4]);
    env_close(&e);
    snprintf(sql, sizeof sql, "DROP SEQUENCE %s", seq);
    side_exec(sql);
}

/* The merge rule: a run of members of one statement goes as ONE call of
 * its array form; each member still gets its own rows (a view: row 0 is
 * its first row) or its own error. The array function below mimics
 * chatd_create_messages' contract: rows tagged with the 1-based member
 * index (column CHAT_GC_COL_INDEX), a refused member one row with
 * SQLSTATE and message; it raises as a whole for 'boom' (then the group is
 * split: one statement per member, each its own outcome). */
static char merge_fn[64], merge_one[256], merge_arr[256];

static void merge_setup(void)
{
    char sql[1024];
    snprintf(merge_fn, sizeof merge_fn, "f_chat_batch_%d", (int)getpid());
    snprintf(sql, sizeof sql,
             "CREATE OR REPLACE FUNCTION %s(a text[], b text[]) RETURNS TABLE (c0 text, c1 "
             "text, c2 text, c3 text, o_i int, o_state text, o_err text) LANGUAGE plpgsql AS $f$ "
             "BEGIN FOR i IN 1..cardinality(a) LOOP "
             "IF a[i] = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; "
             "IF a[i] = 'bad' THEN RETURN QUERY SELECT NULL, NULL, NULL, NULL, i, 'CD404', "
             "'bad one'; CONTINUE; END IF; "
             "RETURN QUERY SELECT a[i] || ':' || coalesce(b[i], 'NULL'), txid_current()::text, "
             "NULL, NULL, i, NULL, NULL; "
             "RETURN QUERY SELECT 'second row', NULL, NULL, NULL, i, NULL, NULL; "
             "END LOOP; END $f$",
             merge_fn);
    side_exec(sql);
    /* the single statement: 'boom' fails alone too (division by zero) */
    snprintf(merge_one, sizeof merge_one,
             "SELECT CASE WHEN $1 = 'boom' THEN (1/0)::text ELSE $1 || ':' || "
             "coalesce($2, 'NULL') END, txid_current()::text");
    snprintf(merge_arr, sizeof merge_arr, "SELECT * FROM %s($1::text[], $2::text[])", merge_fn);
}

static void merge_teardown(void)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP FUNCTION %s(text[], text[])", merge_fn);
    side_exec(sql);
}

static void test_merge(void **state)
{
    (void)state;
    merge_setup();
    env e;
    env_open(&e, 64, 5000);
    assert_int_equal(chat_gc_merge(e.gc, merge_one, merge_arr), 0);
    assert_int_equal(chat_gc_merge(e.gc, NULL, merge_arr), CD_EBAD);
    /* array-literal quoting: quotes, backslashes, braces, commas, NULL */
    const char *p[5][2] = {
        {"a\"b\\c", "{x,y}"}, {"bad", "z"}, {"plain", NULL}, {"NULL", "''"}, {"one", "two"}};
    const char *want[5] = {"a\"b\\c:{x,y}", "", "plain:NULL", "NULL:''", "other"};
    mres m[5] = {{0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit(e.gc, "k", merge_one, 2, p[i], &m[i]), 0);
    /* another statement: sent alone, after the merged run (key order) */
    assert_int_equal(submit(e.gc, "l", TXID, 0, NULL, &m[4]), 0);
    run_all(&e.loop, m, 5);
    for (int i = 0; i < 4; i++) {
        if (i == 1) continue;
        assert_int_equal(m[i].status, 0);
        assert_string_equal(m[i].value, want[i]);
    }
    assert_int_equal(m[1].status, CD_EIO);
    assert_string_equal(m[1].sqlstate, "CD404");
    assert_int_equal(m[4].status, 0);
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.members, 5);
    assert_int_equal(st.merged, 1);
    assert_int_equal(st.splits, 0);
    env_close(&e);
    merge_teardown();
}

static void test_merge_split(void **state)
{
    (void)state;
    merge_setup();
    env e;
    env_open(&e, 64, 5000);
    assert_int_equal(chat_gc_merge(e.gc, merge_one, merge_arr), 0);
    const char *p[3][2] = {{"x", "1"}, {"boom", "2"}, {"y", "3"}};
    mres m[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit(e.gc, "k", merge_one, 2, p[i], &m[i]), 0);
    run_all(&e.loop, m, 3);
    assert_int_equal(m[0].status, 0);
    assert_string_equal(m[0].value, "x:1");
    assert_int_equal(m[1].status, CD_EIO);
    assert_string_equal(m[1].sqlstate, "22012"); /* its own statement's error */
    assert_int_equal(m[2].status, 0);
    assert_string_equal(m[2].value, "y:3");
    chat_gc_stats st;
    chat_gc_stats_get(e.gc, &st);
    assert_int_equal(st.merged, 1);
    assert_int_equal(st.splits, 1);
    env_close(&e);
    merge_teardown();
}

/* Bad arguments; close sends what is pending. */
static void test_args_and_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    chat_gc *gc;
    assert_int_equal(chat_gc_new(&loop, p, 1, 1000, &gc), CD_EBAD);
    assert_int_equal(chat_gc_new(&loop, p, CHAT_GC_MAX + 1, 1000, &gc), CD_EBAD);
    assert_int_equal(chat_gc_new(&loop, p, 2, 0, &gc), CD_EBAD);
    assert_int_equal(chat_gc_new(&loop, p, CHAT_GC_MAX, 1000u * 1000u * 10u, &gc), 0);
    mres m = {0};
    assert_int_equal(chat_gc_submit(gc, "k", NULL, 0, NULL, on_member, &m), CD_EBAD);
    assert_int_equal(chat_gc_submit(gc, "k", TXID, 1, NULL, on_member, &m), CD_EBAD);
    assert_int_equal(chat_gc_submit(gc, "k", TXID, 0, NULL, NULL, &m), CD_EBAD);
    completions = 0;
    assert_int_equal(submit(gc, NULL, TXID, 0, NULL, &m), 0);
    chat_gc_close(gc); /* 10 s window: only close can send it in time */
    run_all(&loop, &m, 1);
    assert_int_equal(m.status, 0);
    closed = 0;
    pg_pool_close(p, on_closed, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    if (!test_env("CHATD_TEST_DATABASE_URL")) return TEST_SKIP_EXIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_max),
        cmocka_unit_test(test_time_window),
        cmocka_unit_test(test_eager_beside_inflight),
        cmocka_unit_test(test_busy_group_gathers),
        cmocka_unit_test(test_idle_sends_at_once),
        cmocka_unit_test(test_completion_releases_waiters),
        cmocka_unit_test(test_failing_member),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_split),
        cmocka_unit_test(test_args_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
