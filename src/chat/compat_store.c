/*
 * compat_store.c — the chat module's statements for the seed-003 API
 * (src/compat; chat.h, last section): the admin flag (users.is_admin) and
 * the retention cleanup (chatd_compat_cleanup), both from
 * db/migrations/0004_admin.sql. src/compat owns no SQL: these are the only
 * statements it runs, each a named prepared statement on the async pool.
 *
 * The statements are a chat_stmt table (chat_internal.h) registered on the
 * pool by every call (idempotent; these calls are rare: a login, a cleanup,
 * an admin grant). Each call owns one
 * small heap record (callback + user data) from the moment the pool accepts
 * the query until its callback has run; the pool copies the parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/chat_internal.h"
#include "core/log.h"

#define COMPAT_STMT_IS_ADMIN "compat_is_admin"
#define COMPAT_STMT_SET_ADMIN "compat_set_admin"
#define COMPAT_STMT_CLEANUP "compat_cleanup"
#define COMPAT_INT_TEXT_MAX 24 /* an int64 in decimal, with sign and NUL */

static const chat_stmt compat_stmts[] = {
    {COMPAT_STMT_IS_ADMIN,
     "SELECT is_admin FROM users WHERE id = $1::uuid AND is_active AND deleted_at IS NULL", 1},
    /* the name is resolved to one account id here, once: the flag stays with
     * that account through renames and never passes to a later holder of
     * the name (usernames are unique case-insensitively) */
    {COMPAT_STMT_SET_ADMIN,
     "UPDATE users SET is_admin = $2::boolean WHERE id = (SELECT id FROM users WHERE "
     "lower(username) = lower($1) AND deleted_at IS NULL) RETURNING id",
     2},
    {COMPAT_STMT_CLEANUP, "SELECT chatd_compat_cleanup($1::uuid, $2::int)", 2},
};

/* One call in flight: the caller's callback (one of three kinds). */
typedef struct compat_call {
    union {
        chat_compat_admin_cb admin;
        chat_compat_grant_cb grant;
        chat_compat_cleanup_cb cleanup;
    } cb;
    void *ud;
} compat_call;

static int compat_run(pg_pool *pg, const char *stmt, int nparams, const char *const *params,
                      pg_query_cb done, compat_call *call)
{
    /* prepared on pg itself each time, not through the kit's per-pool
     * cache: a new pool (the admin command's, a test's) at a recycled
     * address still gets them; these calls are rare (a login, a cleanup, an
     * admin grant) */
    int rc = chat_stmts_prepare(pg, compat_stmts, CD_ARRAY_LEN(compat_stmts));
    if (rc == 0) rc = pg_pool_query(pg, stmt, nparams, params, done, call);
    if (rc != 0) cd_free(call);
    return rc;
}

static compat_call *compat_call_new(void *ud)
{
    compat_call *call = cd_calloc(1, sizeof *call);
    if (call) call->ud = ud;
    return call;
}

/* ---- is_admin ---- */

static void is_admin_done(const pg_result *r, void *ud)
{
    compat_call *call = ud;
    const char *v = r->status == 0 && pg_result_rows(r) == 1 ? pg_result_get(r, 0, 0) : NULL;
    call->cb.admin(r->status, r->message, v && v[0] == 't', call->ud);
    cd_free(call);
}

int chat_compat_is_admin(pg_pool *pg, const char *user_id, chat_compat_admin_cb cb, void *ud)
{
    if (!user_id || !cb) return CD_EBAD;
    compat_call *call = compat_call_new(ud);
    if (!call) return CD_ENOMEM;
    call->cb.admin = cb;
    const char *params[1] = {user_id};
    return compat_run(pg, COMPAT_STMT_IS_ADMIN, 1, params, is_admin_done, call);
}

/* ---- set_admin ---- */

static void set_admin_done(const pg_result *r, void *ud)
{
    compat_call *call = ud;
    const char *id = r->status == 0 && pg_result_rows(r) == 1 ? pg_result_get(r, 0, 0) : NULL;
    int status = r->status != 0 ? r->status : id ? 0 : CD_ENOENT;
    call->cb.grant(status, r->message, id, call->ud);
    cd_free(call);
}

int chat_compat_set_admin(pg_pool *pg, const char *username, bool on, chat_compat_grant_cb cb,
                          void *ud)
{
    if (!username || !cb) return CD_EBAD;
    compat_call *call = compat_call_new(ud);
    if (!call) return CD_ENOMEM;
    call->cb.grant = cb;
    const char *params[2] = {username, on ? "true" : "false"};
    return compat_run(pg, COMPAT_STMT_SET_ADMIN, 2, params, set_admin_done, call);
}

/* ---- cleanup ---- */

static void cleanup_done(const pg_result *r, void *ud)
{
    compat_call *call = ud;
    const char *v = r->status == 0 && pg_result_rows(r) == 1 ? pg_result_get(r, 0, 0) : NULL;
    int status = r->status != 0 ? r->status : v ? 0 : CD_ENOENT;
    call->cb.cleanup(status, r->message, v ? strtoll(v, NULL, 10) : 0, call->ud);
    cd_free(call);
}

int chat_compat_cleanup(pg_pool *pg, const char *chat_id, int64_t keep, chat_compat_cleanup_cb cb,
                        void *ud)
{
    if (!chat_id || !cb) return CD_EBAD;
    compat_call *call = compat_call_new(ud);
    if (!call) return CD_ENOMEM;
    call->cb.cleanup = cb;
    char keep_s[COMPAT_INT_TEXT_MAX];
    snprintf(keep_s, sizeof keep_s, "%lld", (long long)keep);
    const char *params[2] = {chat_id, keep_s};
    return compat_run(pg, COMPAT_STMT_CLEANUP, 2, params, cleanup_done, call);
}
