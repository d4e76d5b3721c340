/*
 * coerce.c — input coercion (spec §6.4.2 CoerceVariableValues, §6.4.1
 * CoerceArgumentValues, §3.5 scalar input/result coercion), with messages in
 * graphql-js 16's wording so clients and differential tests see the same text.
 *
 * Coerced values are gql_value trees in the caller's arena: enum values become
 * STRING (their name), ID becomes STRING, input objects become OBJECT with
 * fields in type-definition order (provided or defaulted only). Variables are
 * trusted once coerced (as graphql-js does): a variable inside a literal is
 * substituted without further checks. The scalar hooks installed by
 * gql_scalars_install() serve both this file (parse_value) and execute.c
 * (serialize).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/execute_internal.h"

#define GQL_INT_MAX 2147483647LL
#define GQL_INT_MIN (-2147483647LL - 1)
/* deepest input path we report; JSON input is bounded by GQL_JSON_MAX_DEPTH */
#define GQL_COERCE_MAX_PATH (GQL_JSON_MAX_DEPTH + 8)
#define GQL_INSPECT_MAX_ITEMS 10u
#define GQL_INSPECT_MAX_DEPTH 2u
#define GQL_MSG_LEN 512
/* variable coercion errors reported before giving up (graphql-js execute()'s
 * maxCoercionErrors default); one more error then says so */
#define GQL_MAX_VARIABLE_ERRORS 50u

/* ---- printing values like graphql-js ---- */

void gql_js_number(char *buf, size_t len, double f)
{
    if (isnan(f)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, len, f < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (f == 0) {
        snprintf(buf, len, "0");
        return;
    }
    /* shortest round-tripping digits */
    char tmp[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]d[.ddd]e[+-]xx */
    const char *s = tmp;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    char digits[24];
    int k = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && k < 20) digits[k++] = *s;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int e = *s == 'e' ? atoi(s + 1) : 0;
    int n = e + 1;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (k <= n && n <= 21) {
        for (int i = 0; i < k; i++)
            out[o++] = digits[i];
        for (int i = k; i < n; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        for (int i = 0; i < n; i++)
            out[o++] = digits[i];
        out[o++] = '.';
        for (int i = n; i < k; i++)
            out[o++] = digits[i];
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        for (int i = 0; i < k; i++)
            out[o++] = digits[i];
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            for (int i = 1; i < k; i++)
                out[o++] = digits[i];
        }
        o += snprintf(out + o, sizeof out - (size_t)o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    out[o] = '\0';
    snprintf(buf, len, "%s", out);
}

static void inspect_rec(cd_buf *b, const gql_value *v, unsigned depth)
{
    char num[40];
    switch (v->kind) {
    case GQL_V_NULL:
        cd_buf_puts(b, "null");
        break;
    case GQL_V_BOOL:
        cd_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case GQL_V_INT:
        if (v->flags & GQL_VF_BIG)
            cd_buf_append(b, v->u.s, v->len);
        else
            cd_buf_printf(b, "%lld", (long long)v->u.i);
        break;
    case GQL_V_FLOAT:
        gql_js_number(num, sizeof num, v->u.f);
        cd_buf_puts(b, num);
        break;
    case GQL_V_STRING:
    case GQL_V_ENUM:
        cd_buf_json_str(b, v->u.s, v->len);
        break;
    case GQL_V_VARIABLE:
        cd_buf_printf(b, "$%s", v->u.s);
        break;
    case GQL_V_RAW_JSON:
        cd_buf_append(b, v->u.s, v->len);
        break;
    case GQL_V_LIST:
        if (v->len == 0) {
            cd_buf_puts(b, "[]");
            break;
        }
        if (depth >= GQL_INSPECT_MAX_DEPTH) {
            cd_buf_puts(b, "[Array]");
            break;
        }
        cd_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->len && i < GQL_INSPECT_MAX_ITEMS; i++) {
            if (i) cd_buf_puts(b, ", ");
            inspect_rec(b, &v->u.items[i], depth + 1);
        }
        if (v->len == GQL_INSPECT_MAX_ITEMS + 1)
            cd_buf_puts(b, ", ... 1 more item");
        else if (v->len > GQL_INSPECT_MAX_ITEMS + 1)
            cd_buf_printf(b, ", ... %u more items", v->len - GQL_INSPECT_MAX_ITEMS);
        cd_buf_putc(b, ']');
        break;
    case GQL_V_OBJECT:
        if (v->len == 0) {
            cd_buf_puts(b, "{}");
            break;
        }
        if (depth >= GQL_INSPECT_MAX_DEPTH) {
            cd_buf_puts(b, "[Object]");
            break;
        }
        cd_buf_puts(b, "{ ");
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) cd_buf_puts(b, ", ");
            cd_buf_printf(b, "%s: ", v->u.fields[i].name);
            inspect_rec(b, &v->u.fields[i].value, depth + 1);
        }
        cd_buf_puts(b, " }");
        break;
    default:
        cd_buf_puts(b, "undefined");
        break;
    }
}

void gql_inspect(cd_buf *b, const gql_value *v)
{
    inspect_rec(b, v, 0);
}

/* inspect() into a fixed buffer (messages are bounded anyway) */
static const char *inspect_s(char *buf, size_t len, const gql_value *v)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_inspect(&b, v);
    if (b.failed || !b.data) {
        snprintf(buf, len, "<value>");
    } else {
        snprintf(buf, len, "%s", b.data);
        if (b.len >= len && len > 4) memcpy(buf + len - 4, "...", 4);
    }
    cd_buf_free(&b);
    return buf;
}

/* ---- scalar hooks ---- */

static int msgf(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int msgf(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return CD_EBAD;
}

static bool is_number(const gql_value *v)
{
    return v->kind == GQL_V_INT || v->kind == GQL_V_FLOAT;
}

static double num_of(const gql_value *v)
{
    return v->kind == GQL_V_INT ? (double)v->u.i : v->u.f;
}

/* Int input: an integral JSON number within 32 bits (1.0 counts, as in JS). */
static int int_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_INT && !(in->flags & GQL_VF_BIG)) {
        if (in->u.i > GQL_INT_MAX || in->u.i < GQL_INT_MIN)
            return msgf(msg, ml, "Int cannot represent non 32-bit signed integer value: %lld",
                        (long long)in->u.i);
        *out = gql_int(in->u.i);
        return 0;
    }
    if (in->kind == GQL_V_FLOAT && isfinite(in->u.f) && floor(in->u.f) == in->u.f) {
        if (in->u.f > (double)GQL_INT_MAX || in->u.f < (double)GQL_INT_MIN) {
            char nb[40];
            gql_js_number(nb, sizeof nb, in->u.f);
            return msgf(msg, ml, "Int cannot represent non 32-bit signed integer value: %s", nb);
        }
        *out = gql_int((int64_t)in->u.f);
        return 0;
    }
    return msgf(msg, ml, "Int cannot represent non-integer value: %s",
                inspect_s(ib, sizeof ib, in));
}

static int float_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_INT && !(in->flags & GQL_VF_BIG)) {
        *out = gql_float((double)in->u.i);
        return 0;
    }
    if (in->kind == GQL_V_FLOAT && isfinite(in->u.f)) {
        *out = gql_float(in->u.f);
        return 0;
    }
    return msgf(msg, ml, "Float cannot represent non numeric value: %s",
                inspect_s(ib, sizeof ib, in));
}

static int string_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_STRING) {
        *out = *in;
        out->loc = (gql_loc){0, 0};
        out->flags = 0;
        return 0;
    }
    return msgf(msg, ml, "String cannot represent a non string value: %s",
                inspect_s(ib, sizeof ib, in));
}

static int bool_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_BOOL) {
        *out = gql_bool(in->u.b);
        return 0;
    }
    return msgf(msg, ml, "Boolean cannot represent a non boolean value: %s",
                inspect_s(ib, sizeof ib, in));
}

static int id_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_STRING) {
        *out = gql_str_ref(in->u.s, in->len);
        return 0;
    }
    if ((in->kind == GQL_V_INT && !(in->flags & GQL_VF_BIG)) ||
        (in->kind == GQL_V_FLOAT && isfinite(in->u.f) && floor(in->u.f) == in->u.f)) {
        char nb[40];
        if (in->kind == GQL_V_INT)
            snprintf(nb, sizeof nb, "%lld", (long long)in->u.i);
        else
            gql_js_number(nb, sizeof nb, in->u.f);
        *out = gql_str_dup(a, nb, strlen(nb));
        return out->kind == GQL_V_STRING ? 0 : CD_ENOMEM;
    }
    return msgf(msg, ml, "ID cannot represent value: %s", inspect_s(ib, sizeof ib, in));
}

static bool digits_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* ISO-8601 / RFC 3339 date-time: YYYY-MM-DD[(T|t| )hh:mm[:ss[.fff]][Z|±hh:mm|±hhmm]] */
static bool iso_datetime_ok(const char *s, size_t n)
{
    if (n < 10 || !digits_n(s, 4) || s[4] != '-' || !digits_n(s + 5, 2) || s[7] != '-' ||
        !digits_n(s + 8, 2))
        return false;
    int mo = num2(s + 5), d = num2(s + 8);
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
    if (n == 10) return true;
    size_t i = 10;
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
    i++;
    if (n < i + 5 || !digits_n(s + i, 2) || s[i + 2] != ':' || !digits_n(s + i + 3, 2))
        return false;
    if (num2(s + i) > 23 || num2(s + i + 3) > 59) return false;
    i += 5;
    if (i < n && s[i] == ':') {
        if (n < i + 3 || !digits_n(s + i + 1, 2) || num2(s + i + 1) > 60) return false;
        i += 3;
        if (i < n && (s[i] == '.' || s[i] == ',')) {
            size_t j = ++i;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
            if (i == j) return false;
        }
    }
    if (i == n) return true;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) return true;
    if (s[i] != '+' && s[i] != '-') return false;
    i++;
    if (n == i + 5 && digits_n(s + i, 2) && s[i + 2] == ':' && digits_n(s + i + 3, 2))
        return num2(s + i) <= 23 && num2(s + i + 3) <= 59;
    if (n == i + 4 && digits_n(s + i, 4)) return num2(s + i) <= 23 && num2(s + i + 2) <= 59;
    if (n == i + 2 && digits_n(s + i, 2)) return num2(s + i) <= 23;
    return false;
}

static int datetime_parse(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_STRING && iso_datetime_ok(in->u.s, in->len)) {
        *out = gql_str_ref(in->u.s, in->len);
        return 0;
    }
    return msgf(msg, ml, "DateTime cannot represent a non ISO-8601 date-time value: %s",
                inspect_s(ib, sizeof ib, in));
}

/* Number("...") for result coercion of numeric strings (graphql-js does). */
static bool js_string_number(const gql_value *in, double *out)
{
    if (in->len == 0 || in->len > 64) return false;
    char tmp[72];
    memcpy(tmp, in->u.s, in->len);
    tmp[in->len] = '\0';
    const char *p = tmp;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (!*p) {
        *out = 0;
        return true;
    }
    char *end;
    double d = strtod(p, &end);
    if (end == p) return false;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (*end) return false;
    /* strtod accepts "nan", "inf", hex: JS Number() differs; reject them */
    for (const char *q = p; q < end; q++)
        if ((*q >= 'a' && *q <= 'z' && *q != 'e') || (*q >= 'A' && *q <= 'Z' && *q != 'E'))
            return false;
    *out = d;
    return true;
}

static int int_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    double d;
    if (in->kind == GQL_V_INT) {
        if (in->u.i > GQL_INT_MAX || in->u.i < GQL_INT_MIN)
            return msgf(msg, ml, "Int cannot represent non 32-bit signed integer value: %lld",
                        (long long)in->u.i);
        *out = gql_int(in->u.i);
        return 0;
    }
    if (in->kind == GQL_V_BOOL) {
        *out = gql_int(in->u.b ? 1 : 0);
        return 0;
    }
    if (in->kind == GQL_V_FLOAT)
        d = in->u.f;
    else if (in->kind == GQL_V_STRING && in->len && js_string_number(in, &d))
        ;
    else
        return msgf(msg, ml, "Int cannot represent non-integer value: %s",
                    inspect_s(ib, sizeof ib, in));
    if (!isfinite(d) || floor(d) != d)
        return msgf(msg, ml, "Int cannot represent non-integer value: %s",
                    inspect_s(ib, sizeof ib, in));
    if (d > (double)GQL_INT_MAX || d < (double)GQL_INT_MIN)
        return msgf(msg, ml, "Int cannot represent non 32-bit signed integer value: %s",
                    inspect_s(ib, sizeof ib, in));
    *out = gql_int((int64_t)d);
    return 0;
}

static int float_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    double d;
    if (in->kind == GQL_V_BOOL) {
        *out = gql_float(in->u.b ? 1 : 0);
        return 0;
    }
    if (is_number(in))
        d = num_of(in);
    else if (in->kind == GQL_V_STRING && in->len && js_string_number(in, &d))
        ;
    else
        d = NAN;
    if (!isfinite(d))
        return msgf(msg, ml, "Float cannot represent non numeric value: %s",
                    inspect_s(ib, sizeof ib, in));
    *out = gql_float(d);
    return 0;
}

static int string_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    char ib[GQL_MSG_LEN];
    char nb[40];
    switch (in->kind) {
    case GQL_V_STRING:
        *out = gql_str_ref(in->u.s, in->len);
        return 0;
    case GQL_V_BOOL:
        *out = gql_str_ref(in->u.b ? "true" : "false", in->u.b ? 4 : 5);
        return 0;
    case GQL_V_INT:
        snprintf(nb, sizeof nb, "%lld", (long long)in->u.i);
        *out = gql_str_dup(a, nb, strlen(nb));
        return out->kind == GQL_V_STRING ? 0 : CD_ENOMEM;
    case GQL_V_FLOAT:
        if (!isfinite(in->u.f)) break;
        gql_js_number(nb, sizeof nb, in->u.f);
        *out = gql_str_dup(a, nb, strlen(nb));
        return out->kind == GQL_V_STRING ? 0 : CD_ENOMEM;
    default:
        break;
    }
    return msgf(msg, ml, "String cannot represent value: %s", inspect_s(ib, sizeof ib, in));
}

static int bool_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_BOOL) {
        *out = gql_bool(in->u.b);
        return 0;
    }
    if (is_number(in) && isfinite(num_of(in))) {
        *out = gql_bool(num_of(in) != 0);
        return 0;
    }
    return msgf(msg, ml, "Boolean cannot represent a non boolean value: %s",
                inspect_s(ib, sizeof ib, in));
}

static int id_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg, size_t ml)
{
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_STRING || in->kind == GQL_V_INT ||
        (in->kind == GQL_V_FLOAT && isfinite(in->u.f) && floor(in->u.f) == in->u.f))
        return id_parse(a, in, out, msg, ml);
    return msgf(msg, ml, "ID cannot represent value: %s", inspect_s(ib, sizeof ib, in));
}

static int datetime_serialize(cd_arena *a, const gql_value *in, gql_value *out, char *msg,
                              size_t ml)
{
    (void)a;
    char ib[GQL_MSG_LEN];
    if (in->kind == GQL_V_STRING) {
        *out = *in;
        return 0;
    }
    return msgf(msg, ml, "DateTime cannot represent value: %s", inspect_s(ib, sizeof ib, in));
}

void gql_scalars_install(gql_schema *s)
{
    static const struct {
        const char *name;
        gql_scalar_fn ser, parse;
    } known[] = {
        {"Int", int_serialize, int_parse},
        {"Float", float_serialize, float_parse},
        {"String", string_serialize, string_parse},
        {"Boolean", bool_serialize, bool_parse},
        {"ID", id_serialize, id_parse},
        {"DateTime", datetime_serialize, datetime_parse},
        /* JSON and other custom scalars: identity (NULL hooks) */
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(known); i++) {
        gql_type *t = gql_schema_type(s, known[i].name);
        if (!t || t->kind != GQL_T_SCALAR) continue;
        t->serialize = known[i].ser;
        t->parse_value = known[i].parse;
    }
}

int gql_serialize_leaf(cd_arena *a, const gql_type *t, const gql_value *in, gql_value *out,
                       char *msg, size_t msglen)
{
    if (t->kind == GQL_T_ENUM) {
        char ib[GQL_MSG_LEN];
        if (in->kind == GQL_V_STRING || in->kind == GQL_V_ENUM) {
            for (uint32_t i = 0; i < t->nvalues; i++) {
                const char *n = t->values[i].name;
                if (strlen(n) == in->len && memcmp(n, in->u.s, in->len) == 0) {
                    *out = gql_str_ref(n, in->len);
                    return 0;
                }
            }
        }
        return msgf(msg, msglen, "Enum \"%s\" cannot represent value: %s", t->name,
                    inspect_s(ib, sizeof ib, in));
    }
    if (t->serialize) return t->serialize(a, in, out, msg, msglen);
    *out = *in;
    return 0;
}

/* ---- runtime (JSON) input coercion ---- */

typedef struct co_ctx {
    cd_arena *a;
    gql_error_list *errs; /* variables mode: errors go here */
    const char *var;      /* variable name (without $) */
    gql_loc var_loc;
    char *msg; /* single-message mode (gql_coerce_input) */
    size_t msglen;
    uint32_t nerr;
    bool oom;
    bool aborted; /* GQL_MAX_VARIABLE_ERRORS reached: stop coercing */
    uint32_t depth;
    gql_path_seg path[GQL_COERCE_MAX_PATH]; /* last: not cleared on init */
} co_ctx;

static void co_path_print(cd_buf *b, const co_ctx *c)
{
    for (uint32_t i = 0; i < c->depth && i < GQL_COERCE_MAX_PATH; i++) {
        if (c->path[i].key)
            cd_buf_printf(b, ".%s", c->path[i].key);
        else
            cd_buf_printf(b, "[%lld]", (long long)c->path[i].index);
    }
}

/* graphql-js: past the limit, one last error and coercion stops. */
static void var_errors_full(co_ctx *c)
{
    gql_error *e = gql_errors_add(
        c->errs, NULL, 0,
        "Too many errors processing variables, error limit reached. Execution aborted.");
    if (e) e->code = "BAD_USER_INPUT";
    c->aborted = true;
}

/* A variable error not produced by co_value (missing, null, bad type). */
static void var_error(co_ctx *c, const gql_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void var_error(co_ctx *c, const gql_loc *loc, const char *fmt, ...)
{
    if (c->aborted) return;
    if (c->nerr >= GQL_MAX_VARIABLE_ERRORS) {
        var_errors_full(c);
        return;
    }
    c->nerr++;
    char msg[GQL_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gql_error *e = gql_errors_add(c->errs, loc, 1, "%s", msg);
    if (e)
        e->code = "BAD_USER_INPUT";
    else if (!c->errs->truncated)
        c->oom = true;
}

static void co_error(co_ctx *c, const gql_value *invalid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void co_error(co_ctx *c, const gql_value *invalid, const char *fmt, ...)
{
    char reason[GQL_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (c->aborted) return;
    if (c->errs && c->nerr >= GQL_MAX_VARIABLE_ERRORS) {
        var_errors_full(c);
        return;
    }
    c->nerr++;
    cd_buf b;
    cd_buf_init(&b);
    if (c->errs) {
        cd_buf_printf(&b, "Variable \"$%s\" got invalid value ", c->var);
        gql_inspect(&b, invalid);
        if (c->depth) {
            cd_buf_printf(&b, " at \"%s", c->var);
            co_path_print(&b, c);
            cd_buf_putc(&b, '"');
        }
        cd_buf_printf(&b, "; %s", reason);
        if (b.failed) {
            c->oom = true;
        } else {
            gql_error *e = gql_errors_add(c->errs, &c->var_loc, 1, "%s", b.data);
            if (e)
                e->code = "BAD_USER_INPUT";
            else if (!c->errs->truncated)
                c->oom = true;
        }
    } else if (c->msg && c->nerr == 1) {
        if (c->depth) {
            cd_buf_puts(&b, "at \"value");
            co_path_print(&b, c);
            cd_buf_puts(&b, "\": ");
        }
        cd_buf_puts(&b, reason);
        snprintf(c->msg, c->msglen, "%s", b.failed ? reason : b.data);
    }
    cd_buf_free(&b);
}

static void co_push(co_ctx *c, const char *key, int64_t index)
{
    if (c->depth < GQL_COERCE_MAX_PATH) {
        c->path[c->depth].key = key;
        c->path[c->depth].index = index;
    }
    c->depth++;
}

static const char *tref_str(char *buf, size_t len, const gql_tref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_tref(&b, t);
    snprintf(buf, len, "%s", b.data && !b.failed ? b.data : "?");
    cd_buf_free(&b);
    return buf;
}

static int co_literal(cd_arena *a, const gql_tref *t, const gql_value *lit, const gql_value *vars,
                      gql_value *out);

/* Coerces a runtime value; reports every problem through co_error (as
 * graphql-js does) and returns -1 when any was found below. */
static int co_value(co_ctx *c, const gql_tref *t, const gql_value *in, gql_value *out)
{
    char tb[256];
    if (t->kind == GQL_TR_NON_NULL) {
        if (in->kind != GQL_V_NULL) return co_value(c, t->of, in, out);
        co_error(c, in, "Expected non-nullable type \"%s\" not to be null.",
                 tref_str(tb, sizeof tb, t));
        return -1;
    }
    if (in->kind == GQL_V_NULL) {
        *out = gql_null();
        return 0;
    }
    if (t->kind == GQL_TR_LIST) {
        if (in->kind != GQL_V_LIST) {
            gql_value *one = gql_list_new(c->a, 1);
            if (!one) {
                c->oom = true;
                return -1;
            }
            int rc = co_value(c, t->of, in, &one->u.items[0]);
            *out = *one;
            return rc;
        }
        if (in->len > GQL_MAX_VARIABLE_LIST) {
            co_error(c, in, "List has more than %u items.", GQL_MAX_VARIABLE_LIST);
            return -1;
        }
        gql_value *l = gql_list_new(c->a, in->len);
        if (!l) {
            c->oom = true;
            return -1;
        }
        int rc = 0;
        for (uint32_t i = 0; i < in->len; i++) {
            co_push(c, NULL, i);
            if (co_value(c, t->of, &in->u.items[i], &l->u.items[i]) != 0) rc = -1;
            c->depth--;
            if (c->oom || c->aborted) return -1;
        }
        *out = *l;
        return rc;
    }
    gql_type *nt = t->named;
    if (nt->kind == GQL_T_INPUT_OBJECT) {
        if (in->kind != GQL_V_OBJECT) {
            co_error(c, in, "Expected type \"%s\" to be an object.", nt->name);
            return -1;
        }
        gql_value *o = gql_obj_new(c->a, nt->ninput_fields);
        if (!o) {
            c->oom = true;
            return -1;
        }
        int rc = 0;
        uint32_t n = 0;
        const char *one_key = NULL; /* OneOf: the first provided field, */
        bool one_null = false;      /* coerced to null */
        for (uint32_t i = 0; i < nt->ninput_fields; i++) {
            const gql_input_value *f = &nt->input_fields[i];
            const gql_value *fv = gql_obj_get(in, f->name);
            if (!fv) {
                if (f->default_value) {
                    gql_value dv;
                    if (co_literal(c->a, f->type, f->default_value, NULL, &dv) == 0)
                        gql_obj_set(o, n++, f->name, dv);
                } else if (f->type->kind == GQL_TR_NON_NULL) {
                    co_error(c, in, "Field \"%s\" of required type \"%s\" was not provided.",
                             f->name, tref_str(tb, sizeof tb, f->type));
                    rc = -1;
                }
                continue;
            }
            gql_value v = gql_null();
            co_push(c, f->name, 0);
            int frc = co_value(c, f->type, fv, &v);
            if (frc != 0) rc = -1;
            c->depth--;
            if (c->oom || c->aborted) return -1;
            if (!one_key) {
                one_key = f->name;
                one_null = frc == 0 && v.kind == GQL_V_NULL;
            }
            gql_obj_set(o, n++, f->name, v);
        }
        for (uint32_t i = 0; i < in->len; i++) {
            const char *k = in->u.fields[i].name;
            if (!gql_type_input_field(nt, k)) {
                co_error(c, in, "Field \"%s\" is not defined by type \"%s\".", k, nt->name);
                rc = -1;
            }
        }
        if (nt->oneof) {
            /* graphql-js coerceInputValue: counts the provided fields, even
             * those that failed; then the first one must not be null */
            if (n != 1) {
                co_error(c, in, "Exactly one key must be specified for OneOf type \"%s\".",
                         nt->name);
                rc = -1;
            }
            if (one_null) {
                co_push(c, one_key, 0);
                co_error(c, &gql_null_value, "Field \"%s\" must be non-null.", one_key);
                c->depth--;
                rc = -1;
            }
        }
        o->len = n;
        *out = *o;
        return rc;
    }
    if (nt->kind == GQL_T_ENUM) {
        char ib[GQL_MSG_LEN];
        if (in->kind != GQL_V_STRING) {
            co_error(c, in, "Enum \"%s\" cannot represent non-string value: %s.", nt->name,
                     inspect_s(ib, sizeof ib, in));
            return -1;
        }
        const gql_enum_value *ev = gql_type_enum_value(nt, in->u.s);
        if (!ev || strlen(ev->name) != in->len) {
            co_error(c, in, "Value \"%s\" does not exist in \"%s\" enum.", in->u.s, nt->name);
            return -1;
        }
        *out = gql_str_ref(ev->name, in->len);
        return 0;
    }
    if (nt->kind == GQL_T_SCALAR) {
        if (!nt->parse_value) {
            *out = *in;
            return 0;
        }
        char reason[GQL_MSG_LEN];
        reason[0] = '\0';
        int rc = nt->parse_value(c->a, in, out, reason, sizeof reason);
        if (rc == CD_ENOMEM) {
            c->oom = true;
            return -1;
        }
        if (rc != 0) {
            if (reason[0])
                co_error(c, in, "%s", reason);
            else
                co_error(c, in, "Expected type \"%s\".", nt->name);
            return -1;
        }
        return 0;
    }
    co_error(c, in, "Expected an input type, got \"%s\".", nt->name);
    return -1;
}

int gql_coerce_input(cd_arena *a, const gql_tref *type, const gql_value *in, gql_value *out,
                     char *msg, size_t msglen)
{
    co_ctx *c = cd_malloc(sizeof *c);
    if (!c) return CD_ENOMEM;
    memset(c, 0, offsetof(co_ctx, path));
    c->a = a;
    c->msg = msg;
    c->msglen = msglen;
    if (msg && msglen) msg[0] = '\0';
    int rc = co_value(c, type, in, out);
    bool oom = c->oom;
    cd_free(c);
    if (oom) return CD_ENOMEM;
    return rc == 0 ? 0 : CD_EBAD;
}

/* ---- literal (AST) coercion: graphql-js valueFromAST ---- */

static const gql_value *var_lookup(const gql_value *vars, const char *name)
{
    return vars && vars->kind == GQL_V_OBJECT ? gql_obj_get(vars, name) : NULL;
}

static bool is_missing_var(const gql_value *lit, const gql_value *vars)
{
    return lit->kind == GQL_V_VARIABLE && !var_lookup(vars, lit->u.s);
}

/* valueFromASTUntyped: literal → plain value (for custom scalars). Returns
 * -1 for a missing variable at the top, 0 otherwise; CD_ENOMEM on OOM. */
static int co_untyped(cd_arena *a, const gql_value *lit, const gql_value *vars, gql_value *out)
{
    switch (lit->kind) {
    case GQL_V_VARIABLE: {
        const gql_value *v = var_lookup(vars, lit->u.s);
        if (!v) return -1;
        *out = *v;
        return 0;
    }
    case GQL_V_ENUM:
        *out = gql_str_ref(lit->u.s, lit->len);
        return 0;
    case GQL_V_LIST: {
        gql_value *l = gql_list_new(a, lit->len);
        if (!l) return CD_ENOMEM;
        for (uint32_t i = 0; i < lit->len; i++) {
            int rc = co_untyped(a, &lit->u.items[i], vars, &l->u.items[i]);
            if (rc == CD_ENOMEM) return rc;
            if (rc) l->u.items[i] = gql_null();
        }
        *out = *l;
        return 0;
    }
    case GQL_V_OBJECT: {
        gql_value *o = gql_obj_new(a, lit->len);
        if (!o) return CD_ENOMEM;
        uint32_t n = 0;
        for (uint32_t i = 0; i < lit->len; i++) {
            gql_value v;
            int rc = co_untyped(a, &lit->u.fields[i].value, vars, &v);
            if (rc == CD_ENOMEM) return rc;
            if (rc == 0) gql_obj_set(o, n++, lit->u.fields[i].name, v);
        }
        o->len = n;
        *out = *o;
        return 0;
    }
    case GQL_V_INT:
        if (lit->flags & GQL_VF_BIG) { /* JS parseInt: a double */
            *out = gql_float(strtod(lit->u.s, NULL));
            return 0;
        }
        *out = *lit;
        out->loc = (gql_loc){0, 0};
        return 0;
    default:
        *out = *lit;
        out->loc = (gql_loc){0, 0};
        return 0;
    }
}

static int co_literal_leaf(cd_arena *a, const gql_type *t, const gql_value *lit,
                           const gql_value *vars, gql_value *out)
{
    if (t->kind == GQL_T_ENUM) {
        if (lit->kind != GQL_V_ENUM) return -1;
        const gql_enum_value *ev = gql_type_enum_value(t, lit->u.s);
        if (!ev) return -1;
        *out = gql_str_ref(ev->name, strlen(ev->name));
        return 0;
    }
    uint8_t k = lit->kind;
    if (t->parse_value == int_parse) {
        if (k != GQL_V_INT) return -1;
    } else if (t->parse_value == float_parse) {
        if (k != GQL_V_INT && k != GQL_V_FLOAT) return -1;
    } else if (t->parse_value == string_parse || t->parse_value == datetime_parse) {
        if (k != GQL_V_STRING) return -1;
    } else if (t->parse_value == bool_parse) {
        if (k != GQL_V_BOOL) return -1;
    } else if (t->parse_value == id_parse) {
        if (k != GQL_V_STRING && k != GQL_V_INT) return -1;
        if (k == GQL_V_INT && (lit->flags & GQL_VF_BIG)) { /* the literal's digits */
            *out = gql_str_ref(lit->u.s, lit->len);
            return 0;
        }
    }
    if (k == GQL_V_INT && (lit->flags & GQL_VF_BIG) && t->parse_value == int_parse)
        return -1; /* outside int64, so outside Int */
    gql_value raw;
    int rc = co_untyped(a, lit, vars, &raw);
    if (rc) return rc;
    if (!t->parse_value) {
        *out = raw;
        return 0;
    }
    rc = t->parse_value(a, &raw, out, NULL, 0);
    return rc == CD_ENOMEM ? rc : rc ? -1 : 0;
}

/* Returns 0, -1 (invalid: "undefined" in graphql-js) or CD_ENOMEM. */
static int co_literal(cd_arena *a, const gql_tref *t, const gql_value *lit, const gql_value *vars,
                      gql_value *out)
{
    if (lit->kind == GQL_V_VARIABLE) {
        const gql_value *v = var_lookup(vars, lit->u.s);
        if (!v) return -1;
        if (v->kind == GQL_V_NULL && t->kind == GQL_TR_NON_NULL) return -1;
        *out = *v;
        return 0;
    }
    if (t->kind == GQL_TR_NON_NULL) {
        if (lit->kind == GQL_V_NULL) return -1;
        return co_literal(a, t->of, lit, vars, out);
    }
    if (lit->kind == GQL_V_NULL) {
        *out = gql_null();
        return 0;
    }
    if (t->kind == GQL_TR_LIST) {
        if (lit->kind == GQL_V_LIST) {
            gql_value *l = gql_list_new(a, lit->len);
            if (!l) return CD_ENOMEM;
            for (uint32_t i = 0; i < lit->len; i++) {
                const gql_value *it = &lit->u.items[i];
                if (is_missing_var(it, vars)) {
                    if (t->of->kind == GQL_TR_NON_NULL) return -1;
                    l->u.items[i] = gql_null();
                    continue;
                }
                int rc = co_literal(a, t->of, it, vars, &l->u.items[i]);
                if (rc) return rc;
            }
            *out = *l;
            return 0;
        }
        gql_value *one = gql_list_new(a, 1);
        if (!one) return CD_ENOMEM;
        int rc = co_literal(a, t->of, lit, vars, &one->u.items[0]);
        if (rc) return rc;
        *out = *one;
        return 0;
    }
    const gql_type *nt = t->named;
    if (nt->kind == GQL_T_INPUT_OBJECT) {
        if (lit->kind != GQL_V_OBJECT) return -1;
        gql_value *o = gql_obj_new(a, nt->ninput_fields);
        if (!o) return CD_ENOMEM;
        uint32_t n = 0;
        for (uint32_t i = 0; i < nt->ninput_fields; i++) {
            const gql_input_value *f = &nt->input_fields[i];
            const gql_value *fl = gql_obj_get(lit, f->name);
            if (!fl || is_missing_var(fl, vars)) {
                if (f->default_value) {
                    gql_value dv;
                    int rc = co_literal(a, f->type, f->default_value, NULL, &dv);
                    if (rc == CD_ENOMEM) return rc;
                    if (rc == 0) gql_obj_set(o, n++, f->name, dv);
                } else if (f->type->kind == GQL_TR_NON_NULL) {
                    return -1;
                }
                continue;
            }
            gql_value fv;
            int rc = co_literal(a, f->type, fl, vars, &fv);
            if (rc) return rc;
            gql_obj_set(o, n++, f->name, fv);
        }
        /* graphql-js valueFromAST: a OneOf value has exactly one non-null field */
        if (nt->oneof && (n != 1 || o->u.fields[0].value.kind == GQL_V_NULL)) return -1;
        o->len = n;
        *out = *o;
        return 0;
    }
    if (nt->kind == GQL_T_SCALAR || nt->kind == GQL_T_ENUM)
        return co_literal_leaf(a, nt, lit, vars, out);
    return -1;
}

/* ---- CoerceVariableValues ---- */

int gql_coerce_variables(cd_arena *a, const gql_schema *s, const gql_operation *op,
                         const gql_value *vars, gql_value *out, gql_error_list *errs)
{
    char tb[256];
    gql_value *o = gql_obj_new(a, op->nvars);
    if (!o && op->nvars) return CD_ENOMEM;
    co_ctx *c = cd_malloc(sizeof *c);
    if (!c) return CD_ENOMEM;
    memset(c, 0, offsetof(co_ctx, path));
    c->a = a;
    c->errs = errs;
    uint32_t n = 0;
    int rc = 0;
    if (vars && vars->kind != GQL_V_OBJECT) vars = NULL;
    for (uint32_t i = 0; i < op->nvars && !c->oom && !c->aborted; i++) {
        const gql_var_def *vd = &op->vars[i];
        c->var = vd->name;
        c->var_loc = vd->loc;
        gql_tref *t = gql_tref_from_ast(a, s, vd->type);
        if (!t || !gql_type_is_input(gql_tref_named(t))) {
            cd_buf b;
            cd_buf_init(&b);
            gql_print_type_ref(&b, vd->type);
            var_error(c, &vd->loc,
                      "Variable \"$%s\" expected value of type \"%s\" which cannot be used as "
                      "an input type.",
                      vd->name, b.data && !b.failed ? b.data : "?");
            cd_buf_free(&b);
            continue;
        }
        const gql_value *in = vars ? gql_obj_get(vars, vd->name) : NULL;
        if (!in) {
            if (vd->default_value) {
                gql_value dv;
                int lr = co_literal(a, t, vd->default_value, NULL, &dv);
                if (lr == CD_ENOMEM) {
                    c->oom = true;
                    break;
                }
                if (lr == 0) gql_obj_set(o, n++, vd->name, dv);
            } else if (t->kind == GQL_TR_NON_NULL) {
                var_error(c, &vd->loc, "Variable \"$%s\" of required type \"%s\" was not provided.",
                          vd->name, tref_str(tb, sizeof tb, t));
            }
            continue;
        }
        if (in->kind == GQL_V_NULL && t->kind == GQL_TR_NON_NULL) {
            var_error(c, &vd->loc, "Variable \"$%s\" of non-null type \"%s\" must not be null.",
                      vd->name, tref_str(tb, sizeof tb, t));
            continue;
        }
        gql_value v;
        c->depth = 0;
        if (co_value(c, t, in, &v) == 0) gql_obj_set(o, n++, vd->name, v);
    }
    if (c->oom)
        rc = CD_ENOMEM;
    else if (c->nerr || c->aborted)
        rc = CD_EBAD;
    cd_free(c);
    if (rc) return rc;
    if (o) {
        o->len = n;
        *out = *o;
    } else {
        *out = (gql_value){.kind = GQL_V_OBJECT};
    }
    return 0;
}

/* ---- CoerceArgumentValues ---- */

static void arg_error(gql_error_list *errs, gql_loc at, const char *msg)
{
    gql_error *e = gql_errors_add(errs, &at, 1, "%s", msg);
    if (e) e->code = "BAD_USER_INPUT";
}

int gql_coerce_arguments(cd_arena *a, const gql_input_value *defs, uint32_t ndefs,
                         const gql_argument *args, uint32_t nargs, const gql_value *vars,
                         gql_value *out, gql_error_list *errs, gql_loc at)
{
    char tb[256];
    char msg[GQL_MSG_LEN];
    gql_value *o = ndefs ? gql_obj_new(a, ndefs) : NULL;
    if (ndefs && !o) return CD_ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ndefs; i++) {
        const gql_input_value *d = &defs[i];
        const gql_argument *arg = NULL;
        for (uint32_t j = 0; j < nargs; j++)
            if (strcmp(args[j].name, d->name) == 0) {
                arg = &args[j];
                break;
            }
        if (!arg) {
            if (d->default_value) {
                gql_value dv;
                int rc = co_literal(a, d->type, d->default_value, NULL, &dv);
                if (rc == CD_ENOMEM) return rc;
                if (rc == 0) gql_obj_set(o, n++, d->name, dv);
            } else if (d->type->kind == GQL_TR_NON_NULL) {
                snprintf(msg, sizeof msg,
                         "Argument \"%s\" of required type \"%s\" was not provided.", d->name,
                         tref_str(tb, sizeof tb, d->type));
                arg_error(errs, at, msg);
                return CD_EBAD;
            }
            continue;
        }
        const gql_value *lit = &arg->value;
        gql_loc vloc = lit->loc.line ? lit->loc : arg->loc;
        bool is_null = lit->kind == GQL_V_NULL;
        if (lit->kind == GQL_V_VARIABLE) {
            const gql_value *v = var_lookup(vars, lit->u.s);
            if (!v) {
                if (d->default_value) {
                    gql_value dv;
                    int rc = co_literal(a, d->type, d->default_value, NULL, &dv);
                    if (rc == CD_ENOMEM) return rc;
                    if (rc == 0) gql_obj_set(o, n++, d->name, dv);
                } else if (d->type->kind == GQL_TR_NON_NULL) {
                    snprintf(msg, sizeof msg,
                             "Argument \"%s\" of required type \"%s\" was provided the variable "
                             "\"$%s\" which was not provided a runtime value.",
                             d->name, tref_str(tb, sizeof tb, d->type), lit->u.s);
                    arg_error(errs, vloc, msg);
                    return CD_EBAD;
                }
                continue;
            }
            is_null = v->kind == GQL_V_NULL;
        }
        if (is_null && d->type->kind == GQL_TR_NON_NULL) {
            snprintf(msg, sizeof msg, "Argument \"%s\" of non-null type \"%s\" must not be null.",
                     d->name, tref_str(tb, sizeof tb, d->type));
            arg_error(errs, vloc, msg);
            return CD_EBAD;
        }
        gql_value v;
        int rc = co_literal(a, d->type, lit, vars, &v);
        if (rc == CD_ENOMEM) return rc;
        if (rc) {
            cd_buf b;
            cd_buf_init(&b);
            gql_print_value(&b, lit);
            snprintf(msg, sizeof msg, "Argument \"%s\" has invalid value %s.", d->name,
                     b.data && !b.failed ? b.data : "?");
            cd_buf_free(&b);
            arg_error(errs, vloc, msg);
            return CD_EBAD;
        }
        gql_obj_set(o, n++, d->name, v);
    }
    if (o) {
        o->len = n;
        *out = *o;
    } else {
        *out = (gql_value){.kind = GQL_V_OBJECT};
    }
    return 0;
}
