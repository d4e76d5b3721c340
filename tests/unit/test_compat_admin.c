/*
 * test_compat_admin.c — the admin flag of the seed-003 API against a real
 * PostgreSQL (CHATD_TEST_DATABASE_URL from scripts/testenv; skipped with a
 * message without it): CHATD_ADMINS through compat_admin_grant_list and the
 * chat module's named statements (chat_compat_set_admin / is_admin /
 * cleanup) on the async pool. The grant follows the account, not the name:
 * after a rename the flag stays, and a new holder of the old name has none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "chat/chat.h"
#include "compat/compat.h"
#include "store/migrate.h"
#include "store/pg.h"

#define WAIT_NS (20ull * 1000000000ull)

static const char *db_url(void)
{
    const char *u = getenv("CHATD_TEST_DATABASE_URL");
    return u && *u ? u : NULL;
}

/* Runs the loop until *flag is set (20 s at most, then the test fails). */
static void run_until(uv_loop_t *loop, const bool *flag)
{
    uint64_t start = uv_hrtime();
    while (!*flag) {
        uv_run(loop, UV_RUN_ONCE);
        if (uv_hrtime() - start > WAIT_NS) fail_msg("timed out waiting");
    }
}

typedef struct sql_wait {
    bool done;
    int status;
    char value[64]; /* first column of the first row, "" when none */
} sql_wait;

static void sql_done(const pg_result *r, void *ud)
{
    sql_wait *w = ud;
    w->done = true;
    w->status = r->status;
    const char *v = r->status == 0 ? pg_result_get(r, 0, 0) : NULL;
    snprintf(w->value, sizeof w->value, "%s", v ? v : "");
}

/* Runs SQL text (test set-up only) and returns its first value. */
static void sql(uv_loop_t *loop, pg_pool *pg, const char *text, sql_wait *w)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(pg_pool_query(pg, text, 0, NULL, sql_done, w), 0);
    run_until(loop, &w->done);
    assert_int_equal(w->status, 0);
}

typedef struct admin_wait {
    bool done;
    int status;
    bool admin;
} admin_wait;

static void admin_done(int status, const char *message, bool admin, void *ud)
{
    (void)message;
    admin_wait *w = ud;
    w->done = true;
    w->status = status;
    w->admin = admin;
}

static bool is_admin(uv_loop_t *loop, pg_pool *pg, const char *user_id)
{
    admin_wait w = {0};
    assert_int_equal(chat_compat_is_admin(pg, user_id, admin_done, &w), 0);
    run_until(loop, &w.done);
    assert_int_equal(w.status, 0);
    return w.admin;
}

typedef struct grant_wait {
    bool done;
    int status;
    char user_id[64];
} grant_wait;

static void grant_done(int status, const char *message, const char *user_id, void *ud)
{
    (void)message;
    grant_wait *w = ud;
    w->done = true;
    w->status = status;
    snprintf(w->user_id, sizeof w->user_id, "%s", user_id ? user_id : "");
}

typedef struct cleanup_wait {
    bool done;
    int status;
} cleanup_wait;

static void cleanup_done(int status, const char *message, int64_t removed, void *ud)
{
    (void)message;
    (void)removed;
    cleanup_wait *w = ud;
    w->done = true;
    w->status = status;
}

static void test_admins(void **state)
{
    (void)state;
    const char *url = db_url();
    if (!url) {
        print_message("skipped: CHATD_TEST_DATABASE_URL is not set (run under scripts/testenv)\n");
        skip();
    }
    char mig[4096];
    const char *src = getenv("CHATD_SRC");
    snprintf(mig, sizeof mig, "%s/db/migrations", src ? src : ".");
    int applied = 0;
    char *merr = NULL;
    assert_int_equal(pg_migrate(url, mig, &applied, &merr), 0);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    pg_pool *pg = NULL;
    assert_int_equal(pg_pool_new(&loop, url, 1, &pg), 0);

    char name[64], renamed[64], q[512];
    unsigned sfx = (unsigned)getpid() ^ (unsigned)(uv_hrtime() & 0xffffff);
    snprintf(name, sizeof name, "adm%x", sfx);
    snprintf(renamed, sizeof renamed, "adm%x_r", sfx);
    sql_wait w;
    snprintf(q, sizeof q,
             "INSERT INTO users (username, email) VALUES ('%s', '%s@example.test') RETURNING id",
             name, name);
    sql(&loop, pg, q, &w);
    char first[64];
    snprintf(first, sizeof first, "%s", w.value);
    assert_false(is_admin(&loop, pg, first));

    /* CHATD_ADMINS: list syntax, case-insensitive names */
    char err[256] = "";
    char list[160];
    snprintf(list, sizeof list, " , %s ,", name);
    for (char *p = list; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    assert_int_equal(compat_admin_grant_list(&loop, pg, list, err, sizeof err), 0);
    assert_true(is_admin(&loop, pg, first));
    assert_int_equal(compat_admin_grant_list(&loop, pg, "", err, sizeof err), 0);
    assert_int_equal(compat_admin_grant_list(&loop, pg, NULL, err, sizeof err), 0);

    /* the flag follows the account: rename it, give the old name to another */
    snprintf(q, sizeof q, "UPDATE users SET username = '%s' WHERE id = '%s' RETURNING id", renamed,
             first);
    sql(&loop, pg, q, &w);
    snprintf(q, sizeof q,
             "INSERT INTO users (username, email) VALUES ('%s', '%s2@example.test') RETURNING id",
             name, name);
    sql(&loop, pg, q, &w);
    char second[64];
    snprintf(second, sizeof second, "%s", w.value);
    assert_true(is_admin(&loop, pg, first));
    assert_false(is_admin(&loop, pg, second));

    /* an unknown name stops the list with a clear reason */
    snprintf(list, sizeof list, "%s,nobody%x", renamed, sfx);
    assert_int_equal(compat_admin_grant_list(&loop, pg, list, err, sizeof err), CD_ENOENT);
    char want[128];
    snprintf(want, sizeof want, "no user named \"nobody%x\"", sfx);
    assert_string_equal(err, want);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(compat_admin_grant_list(&loop, pg, longname, err, sizeof err), CD_EBAD);
    assert_string_equal(err, "CHATD_ADMINS: username too long");

    /* revoke by the current name; ids of no account are no admins */
    grant_wait gw = {0};
    assert_int_equal(chat_compat_set_admin(pg, renamed, false, grant_done, &gw), 0);
    run_until(&loop, &gw.done);
    assert_int_equal(gw.status, 0);
    assert_string_equal(gw.user_id, first);
    assert_false(is_admin(&loop, pg, first));
    assert_false(is_admin(&loop, pg, "00000000-0000-0000-0000-000000000000"));

    /* cleanup of a chat that does not exist */
    cleanup_wait cw = {0};
    assert_int_equal(
        chat_compat_cleanup(pg, "00000000-0000-0000-0000-000000000000", 1, cleanup_done, &cw), 0);
    run_until(&loop, &cw.done);
    assert_int_equal(cw.status, CD_ENOENT);

    pg_pool_close(pg, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_no_pool(void **state)
{
    (void)state;
    admin_wait w = {0};
    assert_int_equal(chat_compat_is_admin(NULL, "x", admin_done, &w), CD_EUNAVAIL);
    assert_int_equal(chat_compat_is_admin(NULL, NULL, admin_done, &w), CD_EBAD);
    assert_false(w.done); /* a refused call never calls back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admins),
        cmocka_unit_test(test_no_pool),
    };
    return cmocka_run_group_tests_name("compat_admin", tests, NULL, NULL);
}
