/*
 * errors.c — the GraphQL error list (gql_internal.h) and its JSON form.
 *
 * A gql_error_list lives in an arena: the array, messages, locations and
 * paths are arena memory and die with it. The list holds at most
 * GQL_MAX_ERRORS entries; further adds only set `truncated` (a response never
 * grows without bound because of a huge list of failing items).
 * gql_errors_write_json writes the spec's key order: message, locations,
 * path, extensions (code first, then further extension fields).
 */
#include <stdarg.h>
#include <string.h>

#include "graphql/gql_internal.h"

#define GQL_ERRORS_FIRST_CAP 4u

void gql_errors_init(gql_error_list *l, cd_arena *a)
{
    l->arena = a;
    l->items = NULL;
    l->n = 0;
    l->cap = 0;
    l->truncated = false;
}

gql_error *gql_errors_add(gql_error_list *l, const gql_loc *locs, uint32_t nlocs, const char *fmt,
                          ...)
{
    if (l->n >= GQL_MAX_ERRORS) {
        l->truncated = true;
        return NULL;
    }
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : GQL_ERRORS_FIRST_CAP;
        if (ncap > GQL_MAX_ERRORS) ncap = GQL_MAX_ERRORS;
        gql_error *ni = cd_arena_alloc(l->arena, ncap * sizeof *ni);
        if (!ni) return NULL;
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        l->items = ni;
        l->cap = ncap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = cd_arena_vsprintf(l->arena, fmt, ap);
    va_end(ap);
    if (!msg) return NULL;
    gql_loc *lc = NULL;
    uint32_t kept = 0;
    if (nlocs && locs) {
        lc = cd_arena_alloc(l->arena, nlocs * sizeof *lc);
        if (!lc) return NULL;
        for (uint32_t i = 0; i < nlocs; i++)
            if (locs[i].line) lc[kept++] = locs[i];
    }
    gql_error *e = &l->items[l->n++];
    memset(e, 0, sizeof *e);
    e->message = msg;
    e->locs = kept ? lc : NULL;
    e->nlocs = kept;
    return e;
}

static void gql_error_write(cd_buf *b, const gql_error *e)
{
    cd_buf_puts(b, "{\"message\":");
    const char *m = e->message ? e->message : "";
    cd_buf_json_str(b, m, strlen(m));
    if (e->nlocs) {
        cd_buf_puts(b, ",\"locations\":[");
        for (uint32_t i = 0; i < e->nlocs; i++)
            cd_buf_printf(b, "%s{\"line\":%u,\"column\":%u}", i ? "," : "", e->locs[i].line,
                          e->locs[i].col);
        cd_buf_putc(b, ']');
    }
    if (e->path) {
        cd_buf_puts(b, ",\"path\":[");
        for (uint32_t i = 0; i < e->npath; i++) {
            if (i) cd_buf_putc(b, ',');
            if (e->path[i].key)
                cd_buf_json_str(b, e->path[i].key, strlen(e->path[i].key));
            else
                cd_buf_printf(b, "%lld", (long long)e->path[i].index);
        }
        cd_buf_putc(b, ']');
    }
    bool has_ext = e->ext && e->ext->kind == GQL_V_OBJECT && e->ext->len;
    if (e->code || has_ext) {
        cd_buf_puts(b, ",\"extensions\":{");
        bool first = true;
        if (e->code) {
            cd_buf_puts(b, "\"code\":");
            cd_buf_json_str(b, e->code, strlen(e->code));
            first = false;
        }
        if (has_ext) {
            for (uint32_t i = 0; i < e->ext->len; i++) {
                const gql_kv *kv = &e->ext->u.fields[i];
                if (e->code && strcmp(kv->name, "code") == 0) continue;
                if (!first) cd_buf_putc(b, ',');
                first = false;
                cd_buf_json_str(b, kv->name, strlen(kv->name));
                cd_buf_putc(b, ':');
                gql_json_write(b, &kv->value);
            }
        }
        cd_buf_putc(b, '}');
    }
    cd_buf_putc(b, '}');
}

void gql_errors_write_json(cd_buf *b, const gql_error *errs, uint32_t n)
{
    cd_buf_putc(b, '[');
    for (uint32_t i = 0; i < n; i++) {
        if (i) cd_buf_putc(b, ',');
        gql_error_write(b, &errs[i]);
    }
    cd_buf_putc(b, ']');
}
