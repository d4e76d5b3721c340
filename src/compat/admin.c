/*
 * admin.c — the admin flag of the seed-003 API (users.is_admin,
 * db/migrations/0004_admin.sql): `chatd admin grant|revoke <username>` and
 * CHATD_ADMINS (comma-separated usernames granted at start).
 *
 * Both run the chat module's named statement (chat_compat_set_admin) on the
 * async pool and run the loop until it completes: the command on a loop
 * and a one-connection pool of its own, CHATD_ADMINS on the server's loop
 * and pool before the HTTP server listens, so admins are granted before any
 * request is served. A name is resolved to its account id at grant time
 * (chat.h): renaming never moves the flag.
 */
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "compat/compat_internal.h"
#include "store/migrate.h"

#define COMPAT_ADMIN_POOL_SIZE 1  /* `chatd admin`: one statement, one connection */
#define COMPAT_ADMIN_NAME_MAX 256 /* bytes of one CHATD_ADMINS entry, with the NUL */
#define COMPAT_ADMIN_ERR_MAX 512  /* the command's error text */

/* One grant or revoke waited for on the loop. */
typedef struct admin_wait {
    bool done;
    int status;
    char *err; /* the caller's buffer */
    size_t errlen;
    const char *username;
} admin_wait;

static void admin_set_done(int status, const char *message, const char *user_id, void *ud)
{
    CD_UNUSED(user_id);
    admin_wait *w = ud;
    w->done = true;
    w->status = status;
    if (status == CD_ENOENT)
        snprintf(w->err, w->errlen, "no user named \"%s\"", w->username);
    else if (status != 0)
        snprintf(w->err, w->errlen, "%s", message && *message ? message : cd_strerror(status));
}

/* Sets or clears the flag of `username` and runs `loop` until the statement
 * completed. 0, CD_ENOENT (no such user) or another CD_* code, with the
 * reason in err. */
static int admin_set(uv_loop_t *loop, pg_pool *pg, const char *username, bool on, char *err,
                     size_t errlen)
{
    admin_wait w = {.err = err, .errlen = errlen, .username = username};
    int rc = chat_compat_set_admin(pg, username, on, admin_set_done, &w);
    if (rc != 0) {
        snprintf(err, errlen, "%s", cd_strerror(rc));
        return rc;
    }
    /* the pool calls back exactly once, from the loop; while it has not,
     * its connection or retry timer keeps the loop alive */
    while (!w.done)
        if (uv_run(loop, UV_RUN_ONCE) == 0 && !w.done) {
            snprintf(err, errlen, "the database pool stopped before answering");
            return CD_ESTATE;
        }
    return w.status;
}

int compat_admin_grant_list(uv_loop_t *loop, pg_pool *pg, const char *list, char *err,
                            size_t errlen)
{
    if (!list || !*list) return 0;
    int rc = 0;
    const char *p = list;
    while (*p && rc == 0) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - s);
        while (n && s[n - 1] == ' ')
            n--;
        if (!n) continue;
        char name[COMPAT_ADMIN_NAME_MAX];
        if (n >= sizeof name) {
            snprintf(err, errlen, "CHATD_ADMINS: username too long");
            return CD_EBAD;
        }
        memcpy(name, s, n);
        name[n] = 0;
        rc = admin_set(loop, pg, name, true, err, errlen);
    }
    return rc;
}

int compat_admin_main(int argc, char **argv, const char *conninfo, const char *migrations)
{
    if (argc != 3 || (strcmp(argv[1], "grant") != 0 && strcmp(argv[1], "revoke") != 0)) {
        fprintf(stderr,
                "usage: chatd admin grant|revoke <username>   (DATABASE_URL must be set)\n");
        return 2;
    }
    if (!conninfo || !*conninfo) {
        fprintf(stderr, "chatd admin: DATABASE_URL is not set\n");
        return 1;
    }
    if (migrations) {
        int applied = 0;
        char *merr = NULL;
        int rc = pg_migrate(conninfo, migrations, &applied, &merr);
        if (rc != 0) {
            fprintf(stderr, "chatd admin: migrations failed: %s\n", merr ? merr : cd_strerror(rc));
            cd_free(merr);
            return 1;
        }
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "chatd admin: cannot start an event loop\n");
        return 1;
    }
    pg_pool *pg = NULL;
    char err[COMPAT_ADMIN_ERR_MAX] = "";
    bool on = strcmp(argv[1], "grant") == 0;
    int rc = pg_pool_new(&loop, conninfo, COMPAT_ADMIN_POOL_SIZE, &pg);
    if (rc != 0)
        snprintf(err, sizeof err, "%s", cd_strerror(rc));
    else
        rc = admin_set(&loop, pg, argv[2], on, err, sizeof err);
    if (pg) pg_pool_close(pg, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc != 0) {
        fprintf(stderr, "chatd admin: %s\n", err);
        return 1;
    }
    printf("%s is %s an admin\n", argv[2], on ? "now" : "no longer");
    return 0;
}
