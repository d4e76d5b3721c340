/*
 * test_store_migrate.c — migrations against a real server: each test gets
 * its own fresh database (created through CHATD_TEST_DATABASE_URL, whose role
 * may create databases; skipped with the reason printed without it). Covers ordered
 * apply, idempotent re-run, six concurrent starters applying each migration
 * exactly once, a failing migration rolling back alone, bad file names,
 * a missing directory, the repository's own db/migrations, and 0013's move
 * of still-unpublished events into chat_outbox.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#include "core/arena.h"
#include "store/migrate.h"

static char dbname[64];
static char dburl[512];
static char migdir[256];

static const char *db_url(void)
{
    const char *u = getenv("CHATD_TEST_DATABASE_URL");
    if (!u || !*u)
        fail_msg("CHATD_TEST_DATABASE_URL is not set: run under scripts/testenv run -- ...");
    return u;
}

static void admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(db_url());
    if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* The URL of the fresh database: same server and role, other dbname. */
static void make_url(void)
{
    char *e = NULL;
    PQconninfoOption *o = PQconninfoParse(db_url(), &e);
    assert_non_null(o);
    const char *host = "127.0.0.1", *port = "5432", *user = "chatd";
    for (PQconninfoOption *p = o; p->keyword; p++) {
        if (!p->val) continue;
        if (!strcmp(p->keyword, "host")) host = p->val;
        if (!strcmp(p->keyword, "port")) port = p->val;
        if (!strcmp(p->keyword, "user")) user = p->val;
    }
    snprintf(dburl, sizeof dburl, "host=%s port=%s user=%s dbname=%s", host, port, user, dbname);
    PQconninfoFree(o);
}

static int setup(void **state)
{
    (void)state;
    static int seq;
    snprintf(dbname, sizeof dbname, "chatd_mig_%d_%d", (int)getpid(), seq++);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    admin_exec(sql);
    make_url();
    snprintf(migdir, sizeof migdir, "/tmp/chatd_migtest_%d_%d", (int)getpid(), seq);
    mkdir(migdir, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", migdir);
    if (system(cmd) != 0) return -1;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    admin_exec(sql);
    return 0;
}

static void write_file(const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", migdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static long q_long(const char *sql)
{
    PGconn *c = PQconnectdb(dburl);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static void test_apply_in_order_and_rerun(void **state)
{
    (void)state;
    write_file("0002_second.sql", "INSERT INTO probe (step) VALUES (2);");
    write_file("0001_first.sql",
               "CREATE TABLE probe (step int NOT NULL, at timestamptz DEFAULT clock_timestamp());"
               "INSERT INTO probe (step) VALUES (1);");
    write_file("README.md.sql.txt", "not a migration");
    int applied = -1;
    char *err = NULL;
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), 0);
    assert_null(err);
    assert_int_equal(applied, 2);
    /* applied in file-name order: the table exists before the insert */
    assert_int_equal(q_long("SELECT count(*) FROM probe"), 2);
    assert_int_equal(q_long("SELECT step FROM probe ORDER BY at LIMIT 1"), 1);
    assert_int_equal(
        q_long(
            "SELECT count(*) FROM schema_migrations WHERE version IN ('0001_first','0002_second')"),
        2);

    /* a re-run applies nothing */
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(q_long("SELECT count(*) FROM probe"), 2);

    /* a new file is applied alone */
    write_file("0003_third.sql", "INSERT INTO probe (step) VALUES (3);");
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(q_long("SELECT count(*) FROM probe"), 3);
}

static void test_six_concurrent_starters(void **state)
{
    (void)state;
    /* CREATE TABLE without IF NOT EXISTS fails if applied twice; the sleep
     * makes the starters overlap for real */
    write_file("0001_a.sql",
               "CREATE TABLE once_a (x int); SELECT pg_sleep(0.3); INSERT INTO once_a VALUES (1);");
    write_file("0002_b.sql", "CREATE TABLE once_b (x int); INSERT INTO once_b VALUES (1);");
    write_file("0003_c.sql", "SELECT pg_sleep(0.1); INSERT INTO once_a VALUES (3);");
    enum { NPROC = 6 };
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            int applied = 0;
            char *err = NULL;
            int rc = pg_migrate(dburl, migdir, &applied, &err);
            if (rc != 0) {
                fprintf(stderr, "child %d: %s\n", i, err ? err : "?");
                _exit(100);
            }
            _exit(applied);
        }
    }
    int total = 0;
    for (int i = 0; i < NPROC; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        int code = WEXITSTATUS(st);
        assert_true(code <= 3); /* 100 = a starter failed */
        total += code;
    }
    assert_int_equal(total, 3);
    assert_int_equal(q_long("SELECT count(*) FROM once_a"), 2);
    assert_int_equal(q_long("SELECT count(*) FROM once_b"), 1);
    assert_int_equal(q_long("SELECT count(*) FROM schema_migrations"), 3);
}

static void test_failure_rolls_back_alone(void **state)
{
    (void)state;
    write_file("0001_ok.sql", "CREATE TABLE good (x int);");
    write_file("0002_bad.sql", "CREATE TABLE half (x int); INSERT INTO nope VALUES (1);");
    write_file("0003_later.sql", "CREATE TABLE later (x int);");
    int applied = -1;
    char *err = NULL;
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), CD_EIO);
    assert_int_equal(applied, 1);
    assert_non_null(err);
    assert_non_null(strstr(err, "0002_bad"));
    assert_non_null(strstr(err, "nope"));
    cd_free(err);
    err = NULL;
    assert_int_equal(q_long("SELECT count(*) FROM pg_tables WHERE tablename IN ('good')"), 1);
    /* the failing file left nothing behind, and later files did not run */
    assert_int_equal(q_long("SELECT count(*) FROM pg_tables WHERE tablename IN ('half','later')"),
                     0);
    assert_int_equal(q_long("SELECT count(*) FROM schema_migrations"), 1);
    /* the lock was released: a fixed file applies */
    write_file("0002_bad.sql", "CREATE TABLE half (x int);");
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), 0);
    assert_int_equal(applied, 2);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    int applied = -1;
    char *err = NULL;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", migdir);
    assert_int_equal(pg_migrate(dburl, missing, &applied, &err), CD_ENOENT);
    assert_non_null(err);
    cd_free(err);
    err = NULL;

    write_file("1_short.sql", "SELECT 1;");
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), CD_EBAD);
    assert_non_null(strstr(err, "1_short.sql"));
    cd_free(err);
    err = NULL;
    char path[400];
    snprintf(path, sizeof path, "%s/1_short.sql", migdir);
    unlink(path);

    write_file("0001_x.sql", "SELECT 1;");
    write_file("0001_y.sql", "SELECT 1;");
    assert_int_equal(pg_migrate(dburl, migdir, &applied, &err), CD_EBAD);
    assert_non_null(strstr(err, "share a number"));
    cd_free(err);
    err = NULL;
    snprintf(path, sizeof path, "%s/0001_y.sql", migdir);
    unlink(path);

    assert_int_equal(pg_migrate("host=127.0.0.1 port=1 connect_timeout=2", migdir, &applied, &err),
                     CD_EUNAVAIL);
    assert_non_null(err);
    cd_free(err);
    err = NULL;
    assert_int_equal(pg_migrate(dburl, migdir, &applied, NULL), 0);
    assert_int_equal(applied, 1);
}

static void test_repository_migrations(void **state)
{
    (void)state;
    const char *src = getenv("CHATD_SRC");
    if (!src) fail_msg("CHATD_SRC is not set (CTest sets it to the source dir)");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/db/migrations", src);
    int applied = -1;
    char *err = NULL;
    int rc = pg_migrate(dburl, dir, &applied, &err);
    if (rc) fail_msg("repository migrations: %s", err ? err : cd_strerror(rc));
    assert_true(applied >= 1);
    assert_int_equal(q_long("SELECT count(*) FROM schema_migrations"), applied);
    assert_int_equal(pg_migrate(dburl, dir, &applied, &err), 0);
    assert_int_equal(applied, 0);
}

/* Links the repository's migrations named below `before` (e.g. "0013")
 * into migdir, or every one when before is NULL. */
static void link_repository_migrations(const char *before)
{
    const char *src = getenv("CHATD_SRC");
    if (!src) fail_msg("CHATD_SRC is not set (CTest sets it to the source dir)");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "for f in %s/db/migrations/*.sql; do b=$(basename \"$f\"); "
             "if [ -z '%s' ] || [ \"$b\" \\< '%s' ]; then ln -sf \"$f\" %s/; fi; done",
             src, before ? before : "", before ? before : "", migdir);
    if (system(cmd) != 0) fail_msg("linking migrations: %s", cmd);
}

static void exec_sql(const char *sql)
{
    PGconn *c = PQconnectdb(dburl);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* 0013_outbox.sql: events whose publish was not confirmed before it ran
 * (published_at NULL) keep their pending state, now as chat_outbox rows
 * with their lease; confirmed ones get none. */
static void test_outbox_migration_moves_pending(void **state)
{
    (void)state;
    link_repository_migrations("0013");
    int applied = -1;
    char *err = NULL;
    int rc = pg_migrate(dburl, migdir, &applied, &err);
    if (rc) fail_msg("migrations before 0013: %s", err ? err : cd_strerror(rc));
    assert_int_equal(q_long("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = 'chat_outbox'"),
                     0);
    /* (0011 dropped chat_events' foreign key: no chat row needed) */
    exec_sql("INSERT INTO chat_events (chat_id, seq, kind, payload, published_at, sweep_after) "
             "VALUES ('00000000-0000-4000-8000-000000000001', 1, 'chat.updated', '{}', now(), "
             "'2030-01-01'), "
             "('00000000-0000-4000-8000-000000000001', 2, 'chat.updated', '{}', NULL, "
             "'2030-01-02'), "
             "('00000000-0000-4000-8000-000000000002', 7, 'chat.updated', '{}', NULL, "
             "'2030-01-03')");
    link_repository_migrations(NULL);
    rc = pg_migrate(dburl, migdir, &applied, &err);
    if (rc) fail_msg("0013 and later: %s", err ? err : cd_strerror(rc));
    assert_true(applied >= 1);
    assert_int_equal(q_long("SELECT count(*) FROM chat_outbox"), 2);
    assert_int_equal(q_long("SELECT count(*) FROM chat_outbox WHERE "
                            "(chat_id = '00000000-0000-4000-8000-000000000001' AND seq = 2 "
                            " AND sweep_after = '2030-01-02') OR "
                            "(chat_id = '00000000-0000-4000-8000-000000000002' AND seq = 7 "
                            " AND sweep_after = '2030-01-03')"),
                     2);
    assert_int_equal(q_long("SELECT count(*) FROM pg_indexes "
                            "WHERE indexname = 'chat_events_unpublished_idx'"),
                     0);
}

int main(void)
{
    if (!test_env("CHATD_TEST_DATABASE_URL")) return TEST_SKIP_EXIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_in_order_and_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_six_concurrent_starters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_rolls_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repository_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_migration_moves_pending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
