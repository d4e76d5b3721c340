/*
 * test_store_pg.c — the async PostgreSQL pool against a real server
 * (CHATD_TEST_DATABASE_URL, set by scripts/testenv run -- ...; skipped with
 * the reason printed without it). Covers queries with params, server errors, prepared
 * statements, queueing, the queue limit at its edge, a backend killed with a
 * query in flight (CD_EUNAVAIL, then reconnect), transaction batches with
 * rollback, leases, an unreachable server, and close with pending work.
 * Every test ends with uv_loop_close() == 0.
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

#include "core/arena.h"
#include "store/pg.h"

static const char *db_url(void)
{
    const char *u = getenv("CHATD_TEST_DATABASE_URL");
    if (!u || !*u) {
        fail_msg("CHATD_TEST_DATABASE_URL is not set: run under scripts/testenv run -- ...");
    }
    return u;
}

/* Runs the loop until *flag is set (or 20 s pass: then the test fails). */
static void run_until(uv_loop_t *loop, int *flag)
{
    uint64_t start = uv_hrtime();
    while (!*flag) {
        uv_run(loop, UV_RUN_ONCE);
        if (uv_hrtime() - start > 20ull * 1000000000ull) fail_msg("timed out waiting");
    }
}

static void wait_connected(uv_loop_t *loop, pg_pool *p, int n)
{
    uint64_t start = uv_hrtime();
    pg_pool_stats st;
    for (;;) {
        pg_pool_stats_get(p, &st);
        if (st.connected == n && st.busy == 0) return;
        uv_run(loop, UV_RUN_ONCE);
        if (uv_hrtime() - start > 20ull * 1000000000ull) fail_msg("pool never connected");
    }
}

static int closed_flag;
static void on_closed(void *ud)
{
    (void)ud;
    closed_flag = 1;
}

static void close_pool_and_loop(uv_loop_t *loop, pg_pool *p)
{
    closed_flag = 0;
    pg_pool_close(p, on_closed, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(closed_flag, 1);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* A blocking side connection for setup and inspection. */
static PGconn *side_conn(void)
{
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK) fail_msg("side connection: %s", PQerrorMessage(c));
    return c;
}

static void side_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static long side_count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* ---- one query: result capture ---- */

typedef struct qres {
    int done;
    int status;
    char value[256];
    char sqlstate[8];
    char message[256];
    int rows;
    long affected;
    int order; /* completion order */
} qres;

static int completion_counter;

static void on_query(const pg_result *r, void *ud)
{
    qres *q = ud;
    q->done = 1;
    q->status = r->status;
    q->rows = pg_result_rows(r);
    q->affected = pg_result_affected(r);
    const char *v = pg_result_get(r, 0, 0);
    snprintf(q->value, sizeof q->value, "%s", v ? v : "(null)");
    snprintf(q->sqlstate, sizeof q->sqlstate, "%s", r->sqlstate);
    snprintf(q->message, sizeof q->message, "%s", r->message);
    q->order = completion_counter++;
}

static void test_query_params_and_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);

    qres a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    const char *pa[] = {"41"};
    assert_int_equal(pg_pool_query(p, "SELECT $1::int + 1", 1, pa, on_query, &a), 0);
    assert_int_equal(a.done, 0); /* never called inside the call */
    assert_int_equal(pg_pool_query(p, "SELECT 1/0", 0, NULL, on_query, &b), 0);
    const char *pn[] = {NULL};
    assert_int_equal(pg_pool_query(p, "SELECT $1::text IS NULL", 1, pn, on_query, &c), 0);
    /* unique violation maps to CD_EEXIST (same session: pool of one) */
    assert_int_equal(
        pg_pool_query(p, "CREATE TEMP TABLE tq(id int primary key)", 0, NULL, on_query, &d), 0);
    const char *p1[] = {"1"};
    assert_int_equal(
        pg_pool_query(p, "INSERT INTO tq VALUES ($1::int), ($1::int)", 1, p1, on_query, &e), 0);
    run_until(&loop, &e.done);

    assert_int_equal(a.status, 0);
    assert_string_equal(a.value, "42");
    assert_int_equal(a.rows, 1);
    assert_int_equal(b.status, CD_EIO);
    assert_string_equal(b.sqlstate, "22012");
    assert_non_null(strstr(b.message, "division by zero"));
    assert_int_equal(c.status, 0);
    assert_string_equal(c.value, "t");
    assert_int_equal(d.status, 0);
    assert_int_equal(e.status, CD_EEXIST);
    assert_string_equal(e.sqlstate, "23505");

    /* limits on parameters */
    const char *many[PG_MAX_PARAMS + 1];
    for (int i = 0; i <= PG_MAX_PARAMS; i++)
        many[i] = "1";
    qres f = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 1", PG_MAX_PARAMS + 1, many, on_query, &f),
                     CD_ELIMIT);
    assert_int_equal(pg_pool_query(p, "SELECT 1", -1, NULL, on_query, &f), CD_EBAD);
    assert_int_equal(pg_pool_query(p, "SELECT 1", 1, NULL, on_query, &f), CD_EBAD);

    /* a statement with exactly PG_MAX_PARAMS parameters works */
    char sql[2048] = "SELECT ";
    for (int i = 1; i <= PG_MAX_PARAMS; i++) {
        char part[24];
        snprintf(part, sizeof part, "%s$%d::int", i > 1 ? "+" : "", i);
        strcat(sql, part);
    }
    assert_int_equal(pg_pool_query(p, sql, PG_MAX_PARAMS, many, on_query, &f), 0);
    run_until(&loop, &f.done);
    assert_int_equal(f.status, 0);
    char expect[16];
    snprintf(expect, sizeof expect, "%d", PG_MAX_PARAMS);
    assert_string_equal(f.value, expect);

    pg_pool_stats st;
    pg_pool_stats_get(p, &st);
    assert_int_equal(st.size, 1);
    assert_int_equal(st.connected, 1);
    assert_true(pg_pool_ready(p));
    assert_true(st.queries >= 6);
    assert_true(st.errors >= 2);
    close_pool_and_loop(&loop, p);
}

static void test_prepared(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 2, &p), 0);
    /* registered before any connection is up */
    assert_int_equal(pg_pool_prepare(p, "add2", "SELECT $1::int + $2::int", 2), 0);
    assert_int_equal(pg_pool_prepare(p, "add2", "SELECT $1::int + $2::int", 2), 0);
    assert_int_equal(pg_pool_prepare(p, "add2", "SELECT $1::int - $2::int", 2), CD_EEXIST);
    assert_int_equal(pg_pool_prepare(p, "toomany", "SELECT 1", PG_MAX_PARAMS + 1), CD_ELIMIT);
    qres a = {0};
    const char *pa[] = {"40", "2"};
    assert_int_equal(pg_pool_query(p, "add2", 2, pa, on_query, &a), 0);
    run_until(&loop, &a.done);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.value, "42");

    /* registered after connections are up: prepared before their next work */
    assert_int_equal(pg_pool_prepare(p, "mul2", "SELECT $1::int * $2::int", 2), 0);
    qres b[4] = {{0}};
    const char *pb[] = {"6", "7"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pg_pool_query(p, "mul2", 2, pb, on_query, &b[i]), 0);
    for (int i = 0; i < 4; i++)
        run_until(&loop, &b[i].done);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(b[i].status, 0);
        assert_string_equal(b[i].value, "42");
    }
    /* the statement really is a server-side prepared statement on both */
    qres c = {0};
    assert_int_equal(
        pg_pool_query(p,
                      "SELECT count(*) FROM pg_prepared_statements WHERE name IN ('add2','mul2')",
                      0, NULL, on_query, &c),
        0);
    run_until(&loop, &c.done);
    assert_string_equal(c.value, "2");

    /* a statement whose PREPARE fails does not break the ones after it, and
     * running it reports the server's real error */
    assert_int_equal(pg_pool_prepare(p, "broken", "SELEC $1::int", 1), 0);
    assert_int_equal(pg_pool_prepare(p, "after_broken", "SELECT $1::int * 3", 1), 0);
    qres e = {0}, f = {0};
    const char *pe[] = {"5"};
    assert_int_equal(pg_pool_query(p, "broken", 1, pe, on_query, &e), 0);
    assert_int_equal(pg_pool_query(p, "after_broken", 1, pe, on_query, &f), 0);
    run_until(&loop, &e.done);
    run_until(&loop, &f.done);
    assert_int_equal(e.status, CD_EIO);
    assert_string_equal(e.sqlstate, "42601");
    assert_int_equal(f.status, 0);
    assert_string_equal(f.value, "15");
    qres g = {0};
    assert_int_equal(
        pg_pool_query(p, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'after_broken'",
                      0, NULL, on_query, &g),
        0);
    run_until(&loop, &g.done);
    assert_string_equal(g.value, "1");

    /* the registry is bounded by PG_MAX_PREPARED */
    int n = 4;
    char name[32];
    for (; n < PG_MAX_PREPARED; n++) {
        snprintf(name, sizeof name, "s%d", n);
        assert_int_equal(pg_pool_prepare(p, name, "SELECT 1", 0), 0);
    }
    assert_int_equal(pg_pool_prepare(p, "one_too_many", "SELECT 1", 0), CD_ELIMIT);
    qres d = {0};
    snprintf(name, sizeof name, "s%d", PG_MAX_PREPARED - 1);
    assert_int_equal(pg_pool_query(p, name, 0, NULL, on_query, &d), 0);
    run_until(&loop, &d.done);
    assert_int_equal(d.status, 0);
    assert_string_equal(d.value, "1");
    close_pool_and_loop(&loop, p);
}

static void test_queueing_fifo(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 2, &p), 0);
    enum { N = 60 };
    qres q[N];
    memset(q, 0, sizeof q);
    char vals[N][8];
    completion_counter = 0;
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        const char *pv[] = {vals[i]};
        assert_int_equal(
            pg_pool_query(p, "SELECT $1::int, pg_sleep(0.002)", 1, pv, on_query, &q[i]), 0);
    }
    pg_pool_stats st;
    pg_pool_stats_get(p, &st);
    assert_true(st.queued >= N - 2);
    int max_busy = 0;
    uint64_t start = uv_hrtime();
    for (;;) {
        int all = 1;
        for (int i = 0; i < N; i++)
            all &= q[i].done;
        if (all) break;
        uv_run(&loop, UV_RUN_ONCE);
        pg_pool_stats_get(p, &st);
        if (st.busy > max_busy) max_busy = st.busy;
        assert_true(uv_hrtime() - start < 20ull * 1000000000ull);
    }
    assert_int_equal(max_busy, 2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(q[i].status, 0);
        assert_string_equal(q[i].value, vals[i]);
    }
    pg_pool_stats_get(p, &st);
    assert_int_equal(st.queued, 0);
    close_pool_and_loop(&loop, p);

    /* with one connection, completion order is exactly submission order */
    uv_loop_init(&loop);
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    memset(q, 0, sizeof q);
    completion_counter = 0;
    for (int i = 0; i < N; i++) {
        const char *pv[] = {vals[i]};
        assert_int_equal(pg_pool_query(p, "SELECT $1::int", 1, pv, on_query, &q[i]), 0);
    }
    for (int i = 0; i < N; i++)
        run_until(&loop, &q[i].done);
    for (int i = 0; i < N; i++) {
        assert_int_equal(q[i].order, i);
        assert_string_equal(q[i].value, vals[i]);
    }
    close_pool_and_loop(&loop, p);
}

static int overflow_done;
static int overflow_ok;
static void on_overflow_query(const pg_result *r, void *ud)
{
    (void)ud;
    overflow_done++;
    if (r->status == 0) overflow_ok++;
}

static void test_queue_limit_edge(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    /* nothing is connected before the loop runs, so every unit queues */
    overflow_done = overflow_ok = 0;
    for (int i = 0; i < PG_POOL_QUEUE_MAX; i++)
        assert_int_equal(pg_pool_query(p, "SELECT 1", 0, NULL, on_overflow_query, NULL), 0);
    pg_pool_stats st;
    pg_pool_stats_get(p, &st);
    assert_int_equal(st.queued, PG_POOL_QUEUE_MAX);
    assert_int_equal(pg_pool_query(p, "SELECT 1", 0, NULL, on_overflow_query, NULL), CD_ELIMIT);
    pg_stmt s = {.sql = "SELECT 1"};
    assert_int_equal(pg_pool_tx(p, &s, 1, NULL, NULL), CD_EBAD);
    int flag = 0;
    while (overflow_done < PG_POOL_QUEUE_MAX) {
        uv_run(&loop, UV_RUN_ONCE);
        (void)flag;
    }
    assert_int_equal(overflow_ok, PG_POOL_QUEUE_MAX);
    /* room again */
    qres a = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 7", 0, NULL, on_query, &a), 0);
    run_until(&loop, &a.done);
    assert_string_equal(a.value, "7");
    close_pool_and_loop(&loop, p);
}

/* ---- killed backend ---- */

typedef struct killer {
    uv_timer_t t;
    char pid[300];
    int killed;
} killer;

static void kill_cb(uv_timer_t *t)
{
    killer *k = t->data;
    PGconn *c = side_conn();
    /* wait until the victim is really running the sleep */
    for (int i = 0; i < 200; i++) {
        char sql[480];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                 k->pid);
        if (side_count(c, sql) == 1) break;
        usleep(10000);
    }
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", k->pid);
    side_exec(c, sql);
    PQfinish(c);
    k->killed = 1;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_backend_killed_in_flight(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    qres pid1 = {0};
    assert_int_equal(pg_pool_query(p, "SELECT pg_backend_pid()", 0, NULL, on_query, &pid1), 0);
    run_until(&loop, &pid1.done);
    assert_int_equal(pid1.status, 0);

    killer k = {0};
    snprintf(k.pid, sizeof k.pid, "%s", pid1.value);
    uv_timer_init(&loop, &k.t);
    k.t.data = &k;
    uv_timer_start(&k.t, kill_cb, 20, 0);
    qres slow = {0}, after = {0};
    assert_int_equal(pg_pool_query(p, "SELECT pg_sleep(30)", 0, NULL, on_query, &slow), 0);
    /* queued behind the doomed query: must run on the new connection */
    assert_int_equal(pg_pool_query(p, "SELECT pg_backend_pid()", 0, NULL, on_query, &after), 0);
    uint64_t t0 = uv_hrtime();
    run_until(&loop, &slow.done);
    assert_true(uv_hrtime() - t0 < 10ull * 1000000000ull); /* not the 30 s sleep */
    assert_int_equal(k.killed, 1);
    assert_int_equal(slow.status, CD_EUNAVAIL);
    assert_non_null(strstr(slow.message, "connection lost"));
    run_until(&loop, &after.done);
    assert_int_equal(after.status, 0);
    assert_string_not_equal(after.value, pid1.value);
    pg_pool_stats st;
    pg_pool_stats_get(p, &st);
    assert_true(st.reconnects >= 1);
    assert_int_equal(st.connected, 1);

    /* an idle connection killed between queries is noticed and replaced */
    PGconn *c = side_conn();
    char sql[320];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", after.value);
    side_exec(c, sql);
    PQfinish(c);
    uv_sleep(100);
    qres again = {0};
    /* either the drop was seen first (query runs on a new backend) or the
     * query raced it and failed cleanly: both are allowed, nothing else */
    for (int tries = 0; tries < 3; tries++) {
        memset(&again, 0, sizeof again);
        assert_int_equal(pg_pool_query(p, "SELECT pg_backend_pid()", 0, NULL, on_query, &again), 0);
        run_until(&loop, &again.done);
        if (again.status == 0) break;
        assert_int_equal(again.status, CD_EUNAVAIL);
    }
    assert_int_equal(again.status, 0);
    assert_string_not_equal(again.value, after.value);
    close_pool_and_loop(&loop, p);
}

/* ---- transactions ---- */

typedef struct txres {
    int done;
    int status;
    int failed;
    int n;
    char first[64];
} txres;

static void on_tx(int status, const pg_result *results, int n, int failed, void *ud)
{
    txres *t = ud;
    t->done = 1;
    t->status = status;
    t->failed = failed;
    t->n = n;
    if (status == 0 && n > 0) {
        const char *v = pg_result_get(&results[n - 1], 0, 0);
        snprintf(t->first, sizeof t->first, "%s", v ? v : "(null)");
    }
}

static char table[64];

static void make_table(PGconn *c)
{
    snprintf(table, sizeof table, "t_store_pg_%d", (int)getpid());
    char sql[160];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    side_exec(c, sql);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int primary key, v text)", table);
    side_exec(c, sql);
}

static void drop_table(PGconn *c)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    side_exec(c, sql);
}

static long table_count(PGconn *c)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return side_count(c, sql);
}

static void test_tx_batch(void **state)
{
    (void)state;
    PGconn *side = side_conn();
    make_table(side);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    char ins[160], cnt[160];
    snprintf(ins, sizeof ins, "INSERT INTO %s VALUES ($1::int, $2)", table);
    snprintf(cnt, sizeof cnt, "SELECT count(*) FROM %s", table);

    /* second insert collides with the first: both roll back */
    const char *a1[] = {"1", "one"};
    pg_stmt bad[] = {{ins, 2, a1}, {ins, 2, a1}, {cnt, 0, NULL}};
    txres t1 = {0};
    assert_int_equal(pg_pool_tx(p, bad, 3, on_tx, &t1), 0);
    run_until(&loop, &t1.done);
    assert_int_equal(t1.status, CD_EEXIST);
    assert_int_equal(t1.failed, 1);
    assert_int_equal(t1.n, 0);
    assert_int_equal(table_count(side), 0);

    /* the same connection is usable right after (it was rolled back) */
    const char *b1[] = {"1", "one"}, *b2[] = {"2", "two"};
    pg_stmt good[] = {{ins, 2, b1}, {ins, 2, b2}, {cnt, 0, NULL}};
    txres t2 = {0};
    assert_int_equal(pg_pool_tx(p, good, 3, on_tx, &t2), 0);
    run_until(&loop, &t2.done);
    assert_int_equal(t2.status, 0);
    assert_int_equal(t2.n, 3);
    assert_string_equal(t2.first, "2"); /* count inside the tx sees both rows */
    assert_int_equal(table_count(side), 2);

    /* COMMIT-time failure: a deferred constraint */
    char sql[256];
    snprintf(sql, sizeof sql,
             "ALTER TABLE %s ADD CONSTRAINT %s_v_uniq UNIQUE (v) DEFERRABLE INITIALLY DEFERRED",
             table, table);
    side_exec(side, sql);
    const char *c1[] = {"3", "dup"}, *c2[] = {"4", "dup"};
    pg_stmt late[] = {{ins, 2, c1}, {ins, 2, c2}};
    txres t3 = {0};
    assert_int_equal(pg_pool_tx(p, late, 2, on_tx, &t3), 0);
    run_until(&loop, &t3.done);
    assert_int_equal(t3.status, CD_EEXIST);
    assert_int_equal(t3.failed, -1);
    assert_int_equal(table_count(side), 2);

    /* batch size limit at its edge */
    pg_stmt many[PG_TX_MAX_STMTS + 1];
    for (int i = 0; i <= PG_TX_MAX_STMTS; i++)
        many[i] = (pg_stmt){"SELECT 1", 0, NULL};
    txres t4 = {0};
    assert_int_equal(pg_pool_tx(p, many, PG_TX_MAX_STMTS + 1, on_tx, &t4), CD_ELIMIT);
    assert_int_equal(pg_pool_tx(p, many, PG_TX_MAX_STMTS, on_tx, &t4), 0);
    run_until(&loop, &t4.done);
    assert_int_equal(t4.status, 0);
    assert_int_equal(t4.n, PG_TX_MAX_STMTS);

    qres q = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 5", 0, NULL, on_query, &q), 0);
    run_until(&loop, &q.done);
    assert_int_equal(q.status, 0);
    close_pool_and_loop(&loop, p);
    drop_table(side);
    PQfinish(side);
}

/* ---- member-isolated batches (group commit) ---- */

typedef struct batchres {
    int done;
    int status;
    int n;
    int st[PG_BATCH_MAX_STMTS];
    char val[PG_BATCH_MAX_STMTS][32];
    char state[PG_BATCH_MAX_STMTS][8];
} batchres;

static void on_batch(int status, const char *message, const pg_result *results, int n, void *ud)
{
    batchres *b = ud;
    b->done = 1;
    b->status = status;
    b->n = n;
    assert_non_null(message);
    if (status) assert_null(results);
    for (int i = 0; i < n; i++) {
        b->st[i] = results[i].status;
        const char *v = pg_result_get(&results[i], 0, 0);
        snprintf(b->val[i], sizeof b->val[i], "%s", v ? v : "");
        snprintf(b->state[i], sizeof b->state[i], "%s", results[i].sqlstate);
        if (results[i].status) assert_true(results[i].message[0] != '\0');
    }
}

static void test_batch_members_isolated(void **state)
{
    (void)state;
    PGconn *side = side_conn();
    make_table(side);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    char ins[200], cnt[160];
    snprintf(ins, sizeof ins, "INSERT INTO %s VALUES ($1::int, $2) RETURNING txid_current()::text",
             table);
    snprintf(cnt, sizeof cnt, "SELECT count(*)::text FROM %s", table);

    /* members 1 and 3 fail (duplicate key, server error): the others commit,
     * in one transaction, in order (member 4 counts the rows before it) */
    const char *a0[] = {"1", "a"}, *a2[] = {"2", "b"};
    pg_stmt m1[] = {
        {ins, 2, a0}, {ins, 2, a0}, {ins, 2, a2}, {"SELECT 1/0", 0, NULL}, {cnt, 0, NULL},
    };
    batchres b1 = {0};
    assert_int_equal(pg_pool_batch(p, m1, 5, on_batch, &b1), 0);
    run_until(&loop, &b1.done);
    assert_int_equal(b1.status, 0);
    assert_int_equal(b1.n, 5);
    assert_int_equal(b1.st[0], 0);
    assert_int_equal(b1.st[1], CD_EEXIST);
    assert_string_equal(b1.state[1], "23505");
    assert_int_equal(b1.st[2], 0);
    assert_int_equal(b1.st[3], CD_EIO);
    assert_string_equal(b1.state[3], "22012");
    assert_int_equal(b1.st[4], 0);
    assert_string_equal(b1.val[4], "2");       /* rows of members 0 and 2 */
    assert_string_equal(b1.val[0], b1.val[2]); /* one transaction */
    assert_int_equal(table_count(side), 2);

    /* nothing fails: one plain round — no savepoint, so every row carries the
     * transaction's own xid as xmin (a savepoint would give each member a
     * subtransaction xid); the retry counter does not move */
    char insx[200];
    snprintf(insx, sizeof insx, "INSERT INTO %s VALUES ($1::int, $2) RETURNING xmin::text", table);
    const char *x1[] = {"21", "x"}, *x2[] = {"22", "y"}, *x3[] = {"23", "z"};
    pg_stmt mx[] = {{insx, 2, x1}, {insx, 2, x2}, {insx, 2, x3}};
    pg_pool_stats st0, st1, st2;
    pg_pool_stats_get(p, &st0);
    batchres bx = {0};
    assert_int_equal(pg_pool_batch(p, mx, 3, on_batch, &bx), 0);
    run_until(&loop, &bx.done);
    assert_int_equal(bx.status, 0);
    assert_int_equal(bx.st[0] | bx.st[1] | bx.st[2], 0);
    assert_string_equal(bx.val[0], bx.val[1]);
    assert_string_equal(bx.val[1], bx.val[2]);
    pg_pool_stats_get(p, &st1);
    assert_int_equal(st1.batch_retries, st0.batch_retries);
    assert_int_equal(table_count(side), 5);

    /* one member fails: the plain round is rolled back whole and the batch
     * runs again isolated (distinct subtransaction xids), once */
    const char *x4[] = {"24", "w"}, *x5[] = {"25", "v"};
    pg_stmt my[] = {{insx, 2, x4}, {insx, 2, x1}, {insx, 2, x5}};
    batchres by = {0};
    assert_int_equal(pg_pool_batch(p, my, 3, on_batch, &by), 0);
    run_until(&loop, &by.done);
    assert_int_equal(by.status, 0);
    assert_int_equal(by.st[0], 0);
    assert_int_equal(by.st[1], CD_EEXIST);
    assert_int_equal(by.st[2], 0);
    assert_string_not_equal(by.val[0], by.val[2]);
    pg_pool_stats_get(p, &st2);
    assert_int_equal(st2.batch_retries, st1.batch_retries + 1);
    assert_int_equal(table_count(side), 7);
    {
        char del[160];
        snprintf(del, sizeof del, "DELETE FROM %s WHERE id >= 21", table);
        side_exec(side, del);
    }

    /* the first and the last member fail */
    const char *c3[] = {"3", "c"};
    pg_stmt m2[] = {{ins, 2, a0}, {ins, 2, c3}, {ins, 2, a2}};
    batchres b2 = {0};
    assert_int_equal(pg_pool_batch(p, m2, 3, on_batch, &b2), 0);
    run_until(&loop, &b2.done);
    assert_int_equal(b2.status, 0);
    assert_int_equal(b2.st[0], CD_EEXIST);
    assert_int_equal(b2.st[1], 0);
    assert_int_equal(b2.st[2], CD_EEXIST);
    assert_int_equal(table_count(side), 3);

    /* every member fails: nothing stored, the batch itself still commits */
    pg_stmt m3[] = {{ins, 2, a0}, {ins, 2, c3}};
    batchres b3 = {0};
    assert_int_equal(pg_pool_batch(p, m3, 2, on_batch, &b3), 0);
    run_until(&loop, &b3.done);
    assert_int_equal(b3.status, 0);
    assert_int_equal(b3.st[0], CD_EEXIST);
    assert_int_equal(b3.st[1], CD_EEXIST);

    /* COMMIT-time failure (deferred constraint): the whole batch fails */
    char sql[256];
    snprintf(sql, sizeof sql,
             "ALTER TABLE %s ADD CONSTRAINT %s_v_uniq UNIQUE (v) DEFERRABLE INITIALLY DEFERRED",
             table, table);
    side_exec(side, sql);
    const char *d1[] = {"10", "dup"}, *d2[] = {"11", "dup"};
    pg_stmt m4[] = {{ins, 2, d1}, {ins, 2, d2}};
    batchres b4 = {0};
    assert_int_equal(pg_pool_batch(p, m4, 2, on_batch, &b4), 0);
    run_until(&loop, &b4.done);
    assert_int_equal(b4.status, CD_EEXIST);
    assert_int_equal(b4.n, 0);
    assert_int_equal(table_count(side), 3);

    /* size limit at its edge: PG_BATCH_MAX_STMTS members run, one more is refused */
    pg_stmt many[PG_BATCH_MAX_STMTS + 1];
    for (int i = 0; i <= PG_BATCH_MAX_STMTS; i++)
        many[i] = (pg_stmt){"SELECT txid_current()::text", 0, NULL};
    many[PG_BATCH_MAX_STMTS / 2] = (pg_stmt){"SELECT 1/0", 0, NULL};
    batchres b5 = {0};
    assert_int_equal(pg_pool_batch(p, many, PG_BATCH_MAX_STMTS + 1, on_batch, &b5), CD_ELIMIT);
    assert_int_equal(pg_pool_batch(p, many, 0, on_batch, &b5), CD_EBAD);
    assert_int_equal(pg_pool_batch(p, many, PG_BATCH_MAX_STMTS, on_batch, &b5), 0);
    run_until(&loop, &b5.done);
    assert_int_equal(b5.status, 0);
    assert_int_equal(b5.n, PG_BATCH_MAX_STMTS);
    for (int i = 0; i < PG_BATCH_MAX_STMTS; i++) {
        assert_int_equal(b5.st[i], i == PG_BATCH_MAX_STMTS / 2 ? CD_EIO : 0);
        if (i > 0 && i != PG_BATCH_MAX_STMTS / 2 && i - 1 != PG_BATCH_MAX_STMTS / 2)
            assert_string_equal(b5.val[i], b5.val[i - 1]);
    }

    /* the connection is clean afterwards */
    qres q = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 5", 0, NULL, on_query, &q), 0);
    run_until(&loop, &q.done);
    assert_int_equal(q.status, 0);
    close_pool_and_loop(&loop, p);
    drop_table(side);
    PQfinish(side);
}

/* A batch in flight when its backend is killed fails as a whole (CD_EUNAVAIL),
 * and a batch queued on a closing pool fails with CD_ECLOSED. */
static void test_batch_failures(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    wait_connected(&loop, p, 1);
    qres pid = {0};
    assert_int_equal(pg_pool_query(p, "SELECT pg_backend_pid()", 0, NULL, on_query, &pid), 0);
    run_until(&loop, &pid.done);
    pg_stmt slow[] = {{"SELECT 1", 0, NULL}, {"SELECT pg_sleep(5)", 0, NULL}};
    batchres b1 = {0};
    assert_int_equal(pg_pool_batch(p, slow, 2, on_batch, &b1), 0);
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(200);
    PGconn *side = side_conn();
    char sql[320];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid.value);
    side_exec(side, sql);
    PQfinish(side);
    run_until(&loop, &b1.done);
    assert_int_equal(b1.status, CD_EUNAVAIL);
    assert_int_equal(b1.n, 0);

    batchres b2 = {0};
    pg_stmt one[] = {{"SELECT 1", 0, NULL}};
    assert_int_equal(pg_pool_batch(p, one, 1, on_batch, &b2), 0);
    closed_flag = 0;
    pg_pool_close(p, on_closed, NULL);
    assert_int_equal(b2.done, 1);
    assert_int_equal(b2.status, CD_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed_flag, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- leases ---- */

typedef struct lease_test {
    pg_pool *p;
    pg_conn *c;
    int step;
    int done;
    int commit;
    int status;
    char id[32];
    qres q;
} lease_test;

static char ins_ret[160], upd[160];

static void lease_step(const pg_result *r, void *ud);

static void lease_next(lease_test *t)
{
    int rc = 0;
    switch (t->step) {
    case 0:
        rc = pg_conn_query(t->c, "BEGIN", 0, NULL, lease_step, t);
        break;
    case 1: {
        const char *pv[] = {t->commit ? "10" : "20", "x"};
        rc = pg_conn_query(t->c, ins_ret, 2, pv, lease_step, t);
        break;
    }
    case 2: {
        const char *pv[] = {t->id};
        /* depends on the previous statement's result */
        rc = pg_conn_query(t->c, upd, 1, pv, lease_step, t);
        /* one query at a time on a lease */
        assert_int_equal(pg_conn_query(t->c, "SELECT 1", 0, NULL, lease_step, t), CD_ESTATE);
        break;
    }
    case 3:
        if (t->commit) {
            rc = pg_conn_query(t->c, "COMMIT", 0, NULL, lease_step, t);
            break;
        }
        /* fall through: release with the transaction open → rolled back */
        /* FALLTHROUGH */
    default:
        pg_conn_release(t->c);
        t->done = 1;
        return;
    }
    assert_int_equal(rc, 0);
}

static void lease_step(const pg_result *r, void *ud)
{
    lease_test *t = ud;
    if (r->status != 0) {
        t->status = r->status;
        pg_conn_release(t->c);
        t->done = 1;
        return;
    }
    if (t->step == 1) snprintf(t->id, sizeof t->id, "%s", pg_result_get(r, 0, 0));
    t->step++;
    lease_next(t);
}

static void on_acquire(pg_conn *c, int status, void *ud)
{
    lease_test *t = ud;
    assert_int_equal(status, 0);
    assert_non_null(c);
    t->c = c;
    lease_next(t);
}

static void test_lease_transaction(void **state)
{
    (void)state;
    PGconn *side = side_conn();
    make_table(side);
    snprintf(ins_ret, sizeof ins_ret, "INSERT INTO %s VALUES ($1::int, $2) RETURNING id", table);
    snprintf(upd, sizeof upd, "UPDATE %s SET v = 'updated' WHERE id = $1::int", table);
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 2, &p), 0);
    wait_connected(&loop, p, 2);

    lease_test a = {.p = p, .commit = 1}, b = {.p = p, .commit = 0};
    assert_int_equal(pg_pool_acquire(p, on_acquire, &a), 0);
    assert_int_equal(pg_pool_acquire(p, on_acquire, &b), 0);
    assert_null(a.c); /* granted later, never inside the call */
    /* a plain query waits while both connections are leased */
    qres w = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 1", 0, NULL, on_query, &w), 0);
    int saw_waiting = 0;
    while (!a.done || !b.done) {
        uv_run(&loop, UV_RUN_ONCE);
        pg_pool_stats st;
        pg_pool_stats_get(p, &st);
        if (a.c && b.c && !a.done && !b.done) {
            assert_int_equal(w.done, 0);
            assert_int_equal(st.queued, 1);
            assert_int_equal(st.busy, 2);
            saw_waiting = 1;
        }
    }
    assert_int_equal(saw_waiting, 1);
    run_until(&loop, &w.done);
    qres q = {0};
    char cnt[160];
    snprintf(cnt, sizeof cnt, "SELECT count(*) FROM %s WHERE v = 'updated'", table);
    assert_int_equal(pg_pool_query(p, cnt, 0, NULL, on_query, &q), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.id, "10");
    assert_string_equal(b.id, "20");
    run_until(&loop, &q.done);
    assert_int_equal(q.status, 0);
    assert_string_equal(q.value, "1"); /* only the committed lease's row */
    assert_int_equal(table_count(side), 1);

    /* the rolled-back connection is clean: no transaction left open */
    qres r[4] = {{0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            pg_pool_query(p, "SELECT txid_current_if_assigned() IS NULL", 0, NULL, on_query, &r[i]),
            0);
    for (int i = 0; i < 4; i++)
        run_until(&loop, &r[i].done);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].value, "t");
    }
    close_pool_and_loop(&loop, p);
    drop_table(side);
    PQfinish(side);
}

/* ---- unavailable server, close ---- */

static void test_unreachable_server(void **state)
{
    (void)state;
    (void)db_url();
    /* a port with nothing listening */
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t tmp;
    uv_tcp_init(&loop, &tmp);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&tmp, (const struct sockaddr *)&sa, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&tmp, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&tmp, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    char url[128];
    snprintf(url, sizeof url, "postgresql://chatd@127.0.0.1:%d/chatd_test?connect_timeout=2", port);

    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, url, 2, &p), 0);
    qres a = {0};
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(pg_pool_query(p, "SELECT 1", 0, NULL, on_query, &a), 0);
    run_until(&loop, &a.done);
    uint64_t waited = uv_now(&loop) - t0;
    assert_int_equal(a.status, CD_EUNAVAIL);
    assert_true(waited >= PG_QUEUE_TIMEOUT_MS - 50);
    assert_true(waited < PG_QUEUE_TIMEOUT_MS + 2000);
    assert_false(pg_pool_ready(p));
    pg_pool_stats st;
    pg_pool_stats_get(p, &st);
    assert_int_equal(st.connected, 0);
    assert_true(st.reconnects >= 2); /* kept retrying with backoff */
    close_pool_and_loop(&loop, p);

    /* bad arguments */
    uv_loop_init(&loop);
    assert_int_equal(pg_pool_new(&loop, db_url(), 0, &p), CD_EBAD);
    assert_int_equal(pg_pool_new(&loop, db_url(), PG_POOL_MAX_CONNS + 1, &p), CD_EBAD);
    assert_int_equal(pg_pool_new(&loop, "host=127.0.0.1 bogus_key=1", 1, &p), CD_EBAD);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int closed_queries;
static void on_closed_query(const pg_result *r, void *ud)
{
    (void)ud;
    if (r->status == CD_ECLOSED) closed_queries++;
}
static void on_closed_acquire(pg_conn *c, int status, void *ud)
{
    (void)ud;
    assert_null(c);
    if (status == CD_ECLOSED) closed_queries++;
}

static void test_close_with_pending(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = NULL;
    assert_int_equal(pg_pool_new(&loop, db_url(), 1, &p), 0);
    qres a = {0};
    assert_int_equal(pg_pool_query(p, "SELECT 1", 0, NULL, on_query, &a), 0);
    run_until(&loop, &a.done);
    closed_queries = 0;
    assert_int_equal(pg_pool_query(p, "SELECT pg_sleep(10)", 0, NULL, on_closed_query, NULL), 0);
    assert_int_equal(pg_pool_query(p, "SELECT 2", 0, NULL, on_closed_query, NULL), 0);
    assert_int_equal(pg_pool_acquire(p, on_closed_acquire, NULL), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    closed_flag = 0;
    pg_pool_close(p, on_closed, NULL);
    assert_int_equal(closed_queries, 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed_flag, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Allocation failure at every step of the API paths and while connecting:
 * calls fail with CD_ENOMEM or complete, nothing leaks (ASan), and the pool
 * recovers once memory is back. */
static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 1; n <= 12; n++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        cd_alloc_fail_after(n);
        pg_pool *p = NULL;
        int rc = pg_pool_new(&loop, db_url(), 2, &p);
        if (rc != 0) {
            cd_alloc_fail_after(0);
            assert_int_equal(rc, CD_ENOMEM);
            uv_run(&loop, UV_RUN_DEFAULT);
            assert_int_equal(uv_loop_close(&loop), 0);
            continue;
        }
        int rp = pg_pool_prepare(p, "af_add", "SELECT $1::int + 1", 1);
        assert_true(rp == 0 || rp == CD_ENOMEM);
        qres a = {0};
        const char *pa[] = {"1"};
        int rq = pg_pool_query(p, "SELECT $1::int + 1", 1, pa, on_query, &a);
        assert_true(rq == 0 || rq == CD_ENOMEM);
        /* let failures happen inside the loop too (poll handles, units) */
        uint64_t end = uv_hrtime() + 30ull * 1000000;
        while (uv_hrtime() < end && !a.done)
            uv_run(&loop, UV_RUN_NOWAIT);
        cd_alloc_fail_after(0);
        if (rq == 0) {
            run_until(&loop, &a.done);
            assert_true(a.status == 0 || a.status == CD_EUNAVAIL);
            if (a.status == 0) assert_string_equal(a.value, "2");
        }
        qres b = {0};
        assert_int_equal(pg_pool_query(p, "SELECT 3", 0, NULL, on_query, &b), 0);
        run_until(&loop, &b.done);
        assert_int_equal(b.status, 0);
        assert_string_equal(b.value, "3");
        close_pool_and_loop(&loop, p);
    }
}

/* ---- chaos: backends killed at random while mixed work runs ---- */

enum { CHAOS_UNITS = 600 };

typedef struct chaos {
    pg_pool *p;
    int calls[CHAOS_UNITS];
    int ok, unavail, other;
    int finished;
    int kills;
    char app[64];
    uv_timer_t killer;
    PGconn *side;
    pg_conn *lease[CHAOS_UNITS];
    int step[CHAOS_UNITS];
} chaos;

static chaos *ch;

static void chaos_count(int idx, int status)
{
    ch->calls[idx]++;
    if (ch->calls[idx] == 1) {
        ch->finished++;
        if (status == 0)
            ch->ok++;
        else if (status == CD_EUNAVAIL)
            ch->unavail++;
        else
            ch->other++;
    }
}

static void chaos_query_cb(const pg_result *r, void *ud)
{
    int idx = (int)(intptr_t)ud;
    if (r->status == 0) {
        char want[16];
        snprintf(want, sizeof want, "%d", idx);
        const char *v = pg_result_get(r, 0, 0);
        if (!v || strcmp(v, want) != 0) ch->other++;
    }
    chaos_count(idx, r->status);
}

static void chaos_tx_cb(int status, const pg_result *results, int n, int failed, void *ud)
{
    (void)failed;
    int idx = (int)(intptr_t)ud;
    if (status == 0 && (n != 2 || !pg_result_get(&results[1], 0, 0))) ch->other++;
    chaos_count(idx, status);
}

static void chaos_lease_q(const pg_result *r, void *ud)
{
    int idx = (int)(intptr_t)ud;
    if (r->status != 0 || ++ch->step[idx] == 2) {
        pg_conn_release(ch->lease[idx]);
        chaos_count(idx, r->status);
        return;
    }
    char v[16];
    snprintf(v, sizeof v, "%d", idx);
    const char *pv[] = {v};
    int rc = pg_conn_query(ch->lease[idx], "chaos_echo", 1, pv, chaos_lease_q, ud);
    if (rc != 0) {
        pg_conn_release(ch->lease[idx]);
        chaos_count(idx, rc);
    }
}

static void chaos_acquired(pg_conn *c, int status, void *ud)
{
    int idx = (int)(intptr_t)ud;
    if (status != 0) {
        chaos_count(idx, status);
        return;
    }
    ch->lease[idx] = c;
    int rc = pg_conn_query(c, "SELECT pg_sleep(0.001)", 0, NULL, chaos_lease_q, ud);
    if (rc != 0) {
        pg_conn_release(c);
        chaos_count(idx, rc);
    }
}

static void chaos_kill(uv_timer_t *t)
{
    (void)t;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity"
             " WHERE application_name = '%s' ORDER BY random() LIMIT 1) k",
             ch->app);
    PGresult *r = PQexec(ch->side, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) ch->kills += atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void test_chaos_kills(void **state)
{
    (void)state;
    chaos *c = calloc(1, sizeof *c);
    ch = c;
    snprintf(c->app, sizeof c->app, "chatd_chaos_%d", (int)getpid());
    char url[600];
    snprintf(url, sizeof url, "%s%sapplication_name=%s", db_url(),
             strchr(db_url(), '?') ? "&" : "?", c->app);
    c->side = side_conn();
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(pg_pool_new(&loop, url, 4, &c->p), 0);
    assert_int_equal(pg_pool_prepare(c->p, "chaos_echo", "SELECT $1::int", 1), 0);
    wait_connected(&loop, c->p, 4);
    uv_timer_init(&loop, &c->killer);
    uv_timer_start(&c->killer, chaos_kill, 5, 7);

    char vals[CHAOS_UNITS][16];
    for (int i = 0; i < CHAOS_UNITS; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        const char *pv[] = {vals[i]};
        void *ud = (void *)(intptr_t)i;
        int rc;
        switch (i % 4) {
        case 0:
            rc = pg_pool_query(c->p, "chaos_echo", 1, pv, chaos_query_cb, ud);
            break;
        case 1:
            rc = pg_pool_query(c->p, "SELECT $1::int, pg_sleep(0.001)", 1, pv, chaos_query_cb, ud);
            break;
        case 2: {
            pg_stmt st[] = {{"SELECT pg_sleep(0.001)", 0, NULL}, {"chaos_echo", 1, pv}};
            rc = pg_pool_tx(c->p, st, 2, chaos_tx_cb, ud);
            break;
        }
        default:
            rc = pg_pool_acquire(c->p, chaos_acquired, ud);
            break;
        }
        assert_int_equal(rc, 0);
    }
    uint64_t t0 = uv_hrtime();
    while (c->finished < CHAOS_UNITS) {
        uv_run(&loop, UV_RUN_ONCE);
        if (uv_hrtime() - t0 > 60ull * 1000000000ull)
            fail_msg("chaos: %d of %d finished", c->finished, CHAOS_UNITS);
    }
    uv_close((uv_handle_t *)&c->killer, NULL);
    for (int i = 0; i < CHAOS_UNITS; i++)
        assert_int_equal(c->calls[i], 1);
    assert_int_equal(c->other, 0);
    assert_true(c->kills >= 3);
    assert_true(c->ok > 0);
    /* the pool is whole again afterwards */
    wait_connected(&loop, c->p, 4);
    qres q = {0};
    assert_int_equal(
        pg_pool_query(c->p, "chaos_echo", 1, (const char *const[]){"77"}, on_query, &q), 0);
    run_until(&loop, &q.done);
    assert_string_equal(q.value, "77");
    print_message("chaos: %d ok, %d unavailable, %d kills\n", c->ok, c->unavail, c->kills);
    close_pool_and_loop(&loop, c->p);
    PQfinish(c->side);
    free(c);
}

int main(void)
{
    if (!test_env("CHATD_TEST_DATABASE_URL")) return TEST_SKIP_EXIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_params_and_errors),
        cmocka_unit_test(test_prepared),
        cmocka_unit_test(test_queueing_fifo),
        cmocka_unit_test(test_queue_limit_edge),
        cmocka_unit_test(test_backend_killed_in_flight),
        cmocka_unit_test(test_tx_batch),
        cmocka_unit_test(test_batch_members_isolated),
        cmocka_unit_test(test_batch_failures),
        cmocka_unit_test(test_lease_transaction),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_close_with_pending),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_chaos_kills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
