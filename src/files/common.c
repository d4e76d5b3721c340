/*
 * common.c — what every piece of the files module uses: the database with
 * the module's statements registered (each piece's registration is handed in
 * by bind.c, so nothing here calls back up), paths and names, the JSON error
 * answer, the id check, and the "does a row still name these bytes?" query
 * both stores' removals ask.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/core.h"
#include "core/log.h"
#include "core/text.h"
#include "files/files_internal.h"
#include "store/pg.h"

pg_pool *files_db(files_ctx *fc)
{
    pg_pool *pg = fc->srv->pg;
    if (!pg || fc->prepared == pg) return pg;
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < CD_ARRAY_LEN(fc->prepare) && fc->prepare[i]; i++)
        rc = fc->prepare[i](fc);
    if (rc != 0) {
        cd_error("files", "registering statements: %s", cd_strerror(rc));
        return NULL;
    }
    fc->prepared = pg;
    return pg;
}

bool files_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

void files_random_name(char *out, size_t n)
{
    unsigned char b[12];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, n, b, sizeof b);
}

/* ---- answers ---- */

_Static_assert(FILES_UUID_LEN == CD_UUID_LEN, "a file or user id is a UUID's text");

void files_respond_error(http_request *req, const char *cors, int status, const char *code,
                         const char *extra_json, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":", code);
    cd_buf_json_str(&b, msg, strlen(msg));
    if (extra_json) cd_buf_printf(&b, ",%s", extra_json);
    cd_buf_puts(&b, "}}");
    const char *extra = cors;
    if (status == 503)
        extra = cd_arena_sprintf(req->arena, "%sRetry-After: 1\r\n", cors ? cors : "");
    else if (status == 401)
        extra = cd_arena_sprintf(req->arena, "%sWWW-Authenticate: Bearer\r\n", cors ? cors : "");
    proto_respond_buf(req, status, FILES_CT_JSON, extra, &b);
}

/* ---- "does a row still name these bytes?" (both backends' removals) ---- */

typedef struct named_q {
    files_named_cb cb;
    void *ud;
} named_q;

static void named_cb(const pg_result *r, void *ud)
{
    named_q q = *(named_q *)ud;
    cd_free(ud);
    if (r->status != 0 || !r->res || PQntuples(r->res) != 1) {
        q.cb(CD_EUNAVAIL, q.ud);
        return;
    }
    q.cb(strcmp(PQgetvalue(r->res, 0, 0), "t") == 0, q.ud);
}

void files_store_ask_named(files_ctx *fc, const char *sha, files_named_cb cb, void *ud)
{
    named_q *q = cd_malloc(sizeof *q);
    const char *params[] = {sha};
    pg_pool *pg = files_db(fc);
    if (q) *q = (named_q){cb, ud};
    if (!q || !pg || pg_pool_query(pg, "files_named", 1, params, named_cb, q) != 0) {
        cd_free(q);
        cb(CD_EUNAVAIL, ud);
    }
}
