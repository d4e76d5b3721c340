/*
 * execute_write.c — the response writer: serialises a finished run's result
 * tree (gql_rval, see execute_internal.h) straight to JSON, in spec order
 * ({"data":...,"errors":[...]}, no "errors" key when there are none;
 * {"errors":[...]} for request errors). No intermediate JSON value is built.
 *
 * The response byte budget (gql_exec_limits.max_response_bytes) is exact
 * here: the writer stops once the bytes it appended pass it, cuts `out` back
 * to where the response began and writes the RESPONSE_TOO_LARGE answer
 * instead, so `out` never grows much past the budget (one chunk or one large
 * value more).
 */
#include <stdio.h>
#include <string.h>

#include "graphql/execute_internal.h"

/* ---- response writer ----
 * Output goes through a small chunk buffer (gql_jw) flushed into the cd_buf
 * in large appends: a result is thousands of tiny pieces (keys, commas,
 * short strings) and per-piece cd_buf calls would dominate. */

#define GQL_JW_CHUNK 4096u

typedef struct gql_jw {
    cd_buf *out;
    size_t n;
    size_t start, limit; /* the response began at out->len == start */
    bool over;           /* it passed `limit`: stop writing */
    char buf[GQL_JW_CHUNK];
} gql_jw;

static void jw_check(gql_jw *w)
{
    if (w->out->len - w->start > w->limit) w->over = true;
}

static void jw_flush(gql_jw *w)
{
    if (w->n) cd_buf_append(w->out, w->buf, w->n);
    w->n = 0;
    jw_check(w);
}

static inline void jw_put(gql_jw *w, const char *p, size_t n)
{
    if (n > GQL_JW_CHUNK - w->n) {
        jw_flush(w);
        if (n > GQL_JW_CHUNK) {
            cd_buf_append(w->out, p, n);
            jw_check(w);
            return;
        }
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}

static inline void jw_c(gql_jw *w, char c)
{
    if (w->n == GQL_JW_CHUNK) jw_flush(w);
    w->buf[w->n++] = c;
}

static void jw_str(gql_jw *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
            jw_flush(w); /* rare: escapes are cd_buf_json_str's job */
            cd_buf_json_str(w->out, s, n);
            jw_check(w);
            return;
        }
    }
    jw_c(w, '"');
    jw_put(w, s, n);
    jw_c(w, '"');
}

static void jw_i64(gql_jw *w, int64_t i)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) *--p = '-';
    jw_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static void jw_leaf(gql_jw *w, const gql_value *v)
{
    char num[40];
    switch (v->kind) {
    case GQL_V_STRING:
    case GQL_V_ENUM:
        jw_str(w, v->u.s, v->len);
        break;
    case GQL_V_INT:
        jw_i64(w, v->u.i);
        break;
    case GQL_V_BOOL:
        if (v->u.b)
            jw_put(w, "true", 4);
        else
            jw_put(w, "false", 5);
        break;
    case GQL_V_NULL:
        jw_put(w, "null", 4);
        break;
    case GQL_V_FLOAT:
        if (v->u.f != v->u.f || v->u.f - v->u.f != 0) {
            jw_put(w, "null", 4);
        } else {
            gql_js_number(num, sizeof num, v->u.f);
            jw_put(w, num, strlen(num));
        }
        break;
    default: /* JSON-scalar values: lists, objects, raw JSON */
        jw_flush(w);
        gql_json_write(w->out, v);
        jw_check(w);
        break;
    }
}

static void jw_rval(gql_jw *w, const gql_rval *r)
{
    if (w->over) return;
    if (r->nulled) {
        jw_put(w, "null", 4);
        return;
    }
    switch (r->kind) {
    case R_LEAF:
        jw_leaf(w, &r->u.leaf);
        break;
    case R_OBJ: {
        const gql_pset *ps = r->u.obj.ps;
        jw_c(w, '{');
        for (uint32_t i = 0; i < ps->n && !w->over; i++) {
            if (i) jw_c(w, ',');
            jw_put(w, ps->f[i].jkey, ps->f[i].jkeylen);
            jw_rval(w, &r->u.obj.vals[i]);
        }
        jw_c(w, '}');
        break;
    }
    case R_LIST:
        jw_c(w, '[');
        for (uint32_t i = 0; i < r->n && !w->over; i++) {
            if (i) jw_c(w, ',');
            jw_rval(w, &r->u.items[i]);
        }
        jw_c(w, ']');
        break;
    default:
        jw_put(w, "null", 4);
        break;
    }
}

/* False when the response passed `limit` (counted from `start`). */
static bool write_data(cd_buf *out, const gql_rval *data, size_t start, size_t limit)
{
    gql_jw w; /* GQL_JW_CHUNK bytes of stack */
    w.out = out;
    w.n = 0;
    w.start = start;
    w.limit = limit;
    w.over = false;
    jw_rval(&w, data);
    jw_flush(&w);
    return !w.over;
}

static void write_too_large(cd_buf *out, size_t limit)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "Response too large: the result exceeds the limit of %zu bytes; select fewer "
             "fields or smaller pages.",
             limit);
    gql_kv kv = {.name = "limit", .value = gql_int((int64_t)limit)};
    gql_value ext = {.kind = GQL_V_OBJECT, .len = 1, .u.fields = &kv};
    gql_error e = {.message = msg, .code = "RESPONSE_TOO_LARGE", .ext = &ext};
    cd_buf_puts(out, "{\"data\":null,\"errors\":");
    gql_errors_write_json(out, &e, 1);
    cd_buf_putc(out, '}');
}

static const gql_error gql_oom_error = {
    .message = "Internal server error: out of memory",
    .code = "INTERNAL_SERVER_ERROR",
};

int gql_exec_write_result(const gql_exec *ex, cd_buf *out)
{
    if (ex->oom) {
        cd_buf_puts(out, ex->has_data ? "{\"data\":null,\"errors\":" : "{\"errors\":");
        gql_errors_write_json(out, &gql_oom_error, 1);
        cd_buf_putc(out, '}');
        return 0;
    }
    size_t start = out->len, limit = ex->limits.max_response_bytes;
    uint32_t n;
    const gql_error *errs = gql_exec_errors(ex, &n);
    if (ex->has_data) {
        cd_buf_puts(out, "{\"data\":");
        bool fits = true;
        if (ex->data)
            fits = write_data(out, ex->data, start, limit);
        else
            cd_buf_puts(out, "null");
        if (fits && n) {
            cd_buf_puts(out, ",\"errors\":");
            gql_errors_write_json(out, errs, n);
        }
        cd_buf_putc(out, '}');
        if (fits && out->len - start <= limit) return 0;
        cd_buf_truncate(out, start);
        write_too_large(out, limit);
        return CD_ELIMIT;
    }
    cd_buf_puts(out, "{\"errors\":");
    gql_errors_write_json(out, errs, n);
    cd_buf_putc(out, '}');
    return 0;
}
