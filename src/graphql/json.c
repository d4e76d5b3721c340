/*
 * json.c — strict RFC 8259 reader into gql_value and compact writer.
 *
 * Reader: the whole text must be one value (whitespace around it allowed);
 * no trailing commas, no leading zeros, no control characters or invalid
 * UTF-8 in strings, no lone surrogate escapes. Integers that fit int64 become
 * GQL_V_INT, every other number GQL_V_FLOAT. Objects keep first-seen key
 * order; a duplicate key keeps its first position and takes the last value
 * (JSON.parse semantics); keys are C strings, so a key containing U+0000 is
 * rejected rather than truncated. Nesting deeper than GQL_JSON_MAX_DEPTH is
 * CD_ELIMIT. Everything is allocated from the caller's arena; lists are
 * collected on a heap scratch stack (cd_malloc) released before returning.
 *
 * Writer: compact, JSON.stringify-compatible numbers (shortest round-trip
 * digits, 1.0 → 1, 1e21 → 1e+21, non-finite → null). Strings go through
 * cd_buf_json_str; invalid UTF-8 is replaced by U+FFFD and U+2028/U+2029 are
 * escaped so the output is always valid UTF-8 and safe inside <script>.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/lexer.h"
#include "graphql/value.h"

/* ---- reader ---- */

#define GQL_JSON_SCRATCH_INITIAL 4096
#define GQL_JSON_DEDUP_LINEAR 8 /* objects up to this size dedup keys by scanning */

typedef struct json_reader {
    const char *s;
    size_t len, pos;
    cd_arena *a;
    char *err;
    size_t errlen;
    unsigned depth;
    char *scratch; /* cd_malloc'd stack of pending list items / fields */
    size_t top, cap;
} json_reader;

__attribute__((format(printf, 3, 4))) static int jerr(json_reader *r, int rc, const char *fmt, ...)
{
    if (r->errlen) {
        char msg[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(r->err, r->errlen, "%s at byte offset %zu", msg, r->pos);
    }
    return rc;
}

static int jerr_char(json_reader *r, const char *what)
{
    if (r->pos >= r->len) return jerr(r, CD_EBAD, "Unexpected end of JSON input (%s)", what);
    unsigned char c = (unsigned char)r->s[r->pos];
    if (c >= 0x20 && c < 0x7F) return jerr(r, CD_EBAD, "Unexpected character '%c' (%s)", c, what);
    return jerr(r, CD_EBAD, "Unexpected byte 0x%02X (%s)", c, what);
}

static int scratch_push(json_reader *r, const void *item, size_t size)
{
    if (r->cap - r->top < size) {
        size_t ncap = r->cap ? r->cap * 2 : GQL_JSON_SCRATCH_INITIAL;
        while (ncap - r->top < size)
            ncap *= 2;
        char *nb = cd_realloc(r->scratch, ncap);
        if (!nb) return jerr(r, CD_ENOMEM, "Out of memory");
        r->scratch = nb;
        r->cap = ncap;
    }
    memcpy(r->scratch + r->top, item, size);
    r->top += size;
    return 0;
}

static void *scratch_pop(json_reader *r, size_t mark, size_t size, uint32_t *n)
{
    size_t bytes = r->top - mark;
    *n = (uint32_t)(bytes / size);
    r->top = mark;
    if (bytes == 0) return r->a; /* any non-NULL: no items */
    void *arr = cd_arena_alloc(r->a, bytes);
    if (arr) memcpy(arr, r->scratch + mark, bytes);
    return arr;
}

static inline void skip_ws(json_reader *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
        r->pos++;
    }
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if (c >= 'a' && c <= 'f')
            h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            h = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Reads a string at r->pos (a '"'); result in arena, NUL-terminated. */
static int read_string(json_reader *r, const char **out, uint32_t *outlen)
{
    const char *s = r->s;
    size_t start = ++r->pos, p = start;
    bool escaped = false;
    /* pass 1: validate and find the end */
    for (;;) {
        if (p >= r->len) {
            r->pos = p;
            return jerr(r, CD_EBAD, "Unterminated string");
        }
        unsigned char c = (unsigned char)s[p];
        if (c == '"') break;
        if (c < 0x20) {
            r->pos = p;
            return jerr(r, CD_EBAD, "Control character in string");
        }
        if (c == '\\') {
            escaped = true;
            char e = p + 1 < r->len ? s[p + 1] : 0;
            if (e == 'u') {
                int cp = p + 6 <= r->len ? hex4(s + p + 2) : -1;
                if (cp < 0) {
                    r->pos = p;
                    return jerr(r, CD_EBAD, "Invalid \\u escape in string");
                }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    r->pos = p;
                    return jerr(r, CD_EBAD, "Lone surrogate in string");
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int t = (p + 12 <= r->len && s[p + 6] == '\\' && s[p + 7] == 'u')
                                ? hex4(s + p + 8)
                                : -1;
                    if (t < 0xDC00 || t > 0xDFFF) {
                        r->pos = p;
                        return jerr(r, CD_EBAD, "Lone surrogate in string");
                    }
                    p += 12;
                } else {
                    p += 6;
                }
                continue;
            }
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                e == 't') {
                p += 2;
                continue;
            }
            r->pos = p;
            return jerr(r, CD_EBAD, "Invalid escape in string");
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        uint32_t cp;
        int n = gql_utf8_decode((const unsigned char *)s + p, r->len - p, &cp);
        if (n == 0) {
            r->pos = p;
            return jerr(r, CD_EBAD, "Invalid UTF-8 in string");
        }
        p += (size_t)n;
    }
    size_t rawlen = p - start;
    char *d = cd_arena_alloc(r->a, rawlen + 1);
    if (!d) return jerr(r, CD_ENOMEM, "Out of memory");
    size_t o = 0;
    if (!escaped) {
        memcpy(d, s + start, rawlen);
        o = rawlen;
    } else {
        for (size_t i = start; i < p;) {
            if (s[i] != '\\') {
                d[o++] = s[i++];
                continue;
            }
            char e = s[i + 1];
            if (e == 'u') {
                uint32_t cp = (uint32_t)hex4(s + i + 2);
                i += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t t = (uint32_t)hex4(s + i + 2);
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (t - 0xDC00);
                }
                o += (size_t)gql_utf8_encode(cp, d + o);
                continue;
            }
            switch (e) {
            case 'b':
                d[o++] = '\b';
                break;
            case 'f':
                d[o++] = '\f';
                break;
            case 'n':
                d[o++] = '\n';
                break;
            case 'r':
                d[o++] = '\r';
                break;
            case 't':
                d[o++] = '\t';
                break;
            default:
                d[o++] = e;
                break;
            }
            i += 2;
        }
    }
    d[o] = '\0';
    *out = d;
    *outlen = (uint32_t)o;
    r->pos = p + 1;
    return 0;
}

static int read_number(json_reader *r, gql_value *out)
{
    const char *s = r->s;
    size_t p = r->pos, start = p;
    bool neg = false, is_float = false;
    if (s[p] == '-') {
        neg = true;
        p++;
    }
    if (p < r->len && s[p] == '0') {
        p++;
        if (p < r->len && s[p] >= '0' && s[p] <= '9') {
            r->pos = p;
            return jerr(r, CD_EBAD, "Leading zero in number");
        }
    } else if (p < r->len && s[p] >= '1' && s[p] <= '9') {
        while (p < r->len && s[p] >= '0' && s[p] <= '9')
            p++;
    } else {
        r->pos = p;
        return jerr_char(r, "expected digit");
    }
    size_t int_end = p;
    if (p < r->len && s[p] == '.') {
        is_float = true;
        p++;
        if (p >= r->len || s[p] < '0' || s[p] > '9') {
            r->pos = p;
            return jerr_char(r, "expected digit after '.'");
        }
        while (p < r->len && s[p] >= '0' && s[p] <= '9')
            p++;
    }
    if (p < r->len && (s[p] == 'e' || s[p] == 'E')) {
        is_float = true;
        p++;
        if (p < r->len && (s[p] == '+' || s[p] == '-')) p++;
        if (p >= r->len || s[p] < '0' || s[p] > '9') {
            r->pos = p;
            return jerr_char(r, "expected digit in exponent");
        }
        while (p < r->len && s[p] >= '0' && s[p] <= '9')
            p++;
    }
    r->pos = p;
    *out = gql_null();
    if (!is_float) {
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX, v = 0;
        bool fits = true;
        for (size_t i = start + (neg ? 1 : 0); i < int_end; i++) {
            unsigned dgt = (unsigned)(s[i] - '0');
            if (v > (limit - dgt) / 10) {
                fits = false;
                break;
            }
            v = v * 10 + dgt;
        }
        if (fits) {
            *out = gql_int(neg ? (int64_t)(0 - v) : (int64_t)v);
            return 0;
        }
    }
    char buf[64];
    size_t n = p - start;
    const char *txt = buf;
    if (n < sizeof buf) {
        memcpy(buf, s + start, n);
        buf[n] = '\0';
    } else {
        txt = cd_arena_strndup(r->a, s + start, n);
        if (!txt) return jerr(r, CD_ENOMEM, "Out of memory");
    }
    *out = gql_float(strtod(txt, NULL));
    return 0;
}

/* FNV-1a over a NUL-terminated key. */
static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

/* Merges duplicate keys in place: first position, last value. */
static int dedup_fields(json_reader *r, gql_kv *f, uint32_t *n)
{
    uint32_t cnt = *n, out = 0;
    if (cnt <= GQL_JSON_DEDUP_LINEAR) {
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t j = 0;
            while (j < out && strcmp(f[j].name, f[i].name) != 0)
                j++;
            if (j < out)
                f[j].value = f[i].value;
            else
                f[out++] = f[i];
        }
        *n = out;
        return 0;
    }
    uint32_t size = 16;
    while (size < cnt * 2)
        size *= 2;
    uint32_t *slots = cd_malloc(sizeof(uint32_t) * size); /* index + 1; 0 = empty */
    if (!slots) return jerr(r, CD_ENOMEM, "Out of memory");
    memset(slots, 0, sizeof(uint32_t) * size);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t h = key_hash(f[i].name) & (size - 1);
        for (;;) {
            if (slots[h] == 0) {
                f[out] = f[i];
                slots[h] = ++out;
                break;
            }
            if (strcmp(f[slots[h] - 1].name, f[i].name) == 0) {
                f[slots[h] - 1].value = f[i].value;
                break;
            }
            h = (h + 1) & (size - 1);
        }
    }
    cd_free(slots);
    *n = out;
    return 0;
}

static int read_value(json_reader *r, gql_value *out);

static int read_array(json_reader *r, gql_value *out)
{
    r->pos++; /* [ */
    size_t mark = r->top;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == ']') {
        r->pos++;
    } else {
        for (;;) {
            gql_value item;
            int rc = read_value(r, &item);
            if (rc == 0) rc = scratch_push(r, &item, sizeof item);
            if (rc) return rc;
            skip_ws(r);
            if (r->pos < r->len && r->s[r->pos] == ',') {
                r->pos++;
                continue;
            }
            if (r->pos < r->len && r->s[r->pos] == ']') {
                r->pos++;
                break;
            }
            return jerr_char(r, "expected ',' or ']'");
        }
    }
    *out = gql_null();
    out->kind = GQL_V_LIST;
    gql_value *items = scratch_pop(r, mark, sizeof(gql_value), &out->len);
    if (!items) return jerr(r, CD_ENOMEM, "Out of memory");
    out->u.items = out->len ? items : NULL;
    return 0;
}

static int read_object(json_reader *r, gql_value *out)
{
    r->pos++; /* { */
    size_t mark = r->top;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == '}') {
        r->pos++;
    } else {
        for (;;) {
            gql_kv kv;
            memset(&kv, 0, sizeof kv);
            skip_ws(r);
            if (r->pos >= r->len || r->s[r->pos] != '"') return jerr_char(r, "expected string key");
            uint32_t klen;
            size_t kpos = r->pos;
            int rc = read_string(r, &kv.name, &klen);
            if (rc) return rc;
            if (strlen(kv.name) != klen) {
                /* keys are C strings: refuse rather than silently truncate */
                r->pos = kpos;
                return jerr(r, CD_EBAD, "NUL character in object key");
            }
            skip_ws(r);
            if (r->pos >= r->len || r->s[r->pos] != ':') return jerr_char(r, "expected ':'");
            r->pos++;
            rc = read_value(r, &kv.value);
            if (rc == 0) rc = scratch_push(r, &kv, sizeof kv);
            if (rc) return rc;
            skip_ws(r);
            if (r->pos < r->len && r->s[r->pos] == ',') {
                r->pos++;
                continue;
            }
            if (r->pos < r->len && r->s[r->pos] == '}') {
                r->pos++;
                break;
            }
            return jerr_char(r, "expected ',' or '}'");
        }
    }
    *out = gql_null();
    out->kind = GQL_V_OBJECT;
    gql_kv *fields = scratch_pop(r, mark, sizeof(gql_kv), &out->len);
    if (!fields) return jerr(r, CD_ENOMEM, "Out of memory");
    out->u.fields = out->len ? fields : NULL;
    if (out->len > 1) return dedup_fields(r, out->u.fields, &out->len);
    return 0;
}

static int read_literal(json_reader *r, const char *word, size_t n, gql_value v, gql_value *out)
{
    if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n) != 0)
        return jerr_char(r, "expected a value");
    r->pos += n;
    *out = v;
    return 0;
}

static int read_value(json_reader *r, gql_value *out)
{
    skip_ws(r);
    if (r->pos >= r->len) return jerr_char(r, "expected a value");
    int rc;
    switch (r->s[r->pos]) {
    case '{':
    case '[':
        if (++r->depth > GQL_JSON_MAX_DEPTH)
            return jerr(r, CD_ELIMIT, "JSON nested deeper than %d levels", GQL_JSON_MAX_DEPTH);
        rc = r->s[r->pos] == '{' ? read_object(r, out) : read_array(r, out);
        r->depth--;
        return rc;
    case '"': {
        const char *s;
        uint32_t n;
        rc = read_string(r, &s, &n);
        if (rc) return rc;
        *out = gql_str_ref(s, n);
        return 0;
    }
    case 't':
        return read_literal(r, "true", 4, gql_bool(true), out);
    case 'f':
        return read_literal(r, "false", 5, gql_bool(false), out);
    case 'n':
        return read_literal(r, "null", 4, gql_null(), out);
    default:
        if (r->s[r->pos] == '-' || (r->s[r->pos] >= '0' && r->s[r->pos] <= '9'))
            return read_number(r, out);
        return jerr_char(r, "expected a value");
    }
}

int gql_json_parse(cd_arena *a, const char *buf, size_t len, gql_value *out, char *err,
                   size_t errlen)
{
    json_reader r;
    memset(&r, 0, sizeof r);
    r.s = buf;
    r.len = len;
    r.a = a;
    r.err = err;
    r.errlen = err ? errlen : 0;
    if (r.errlen) err[0] = '\0';
    *out = gql_null();
    int rc = read_value(&r, out);
    if (rc == 0) {
        skip_ws(&r);
        if (r.pos < r.len) rc = jerr_char(&r, "unexpected data after the JSON value");
    }
    cd_free(r.scratch);
    if (rc) *out = gql_null();
    return rc;
}

/* ---- writer ---- */

/* Number#toString(): shortest digits that round-trip, then the ECMAScript
 * choice between plain and exponential notation. */
static size_t format_double(double d, char *out)
{
    if (!isfinite(d)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (d == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    if (d == trunc(d) && fabs(d) < 9007199254740992.0) {
        /* integral and exact: the shortest digits are the integer's digits */
        return (size_t)snprintf(out, 40, "%lld", (long long)d);
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    /* tmp = [-]d[.ddd]e[+-]xx */
    char digits[20];
    int k = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;                 /* %.*e may pad */
    int n = atoi(p + 1) + 1; /* value = 0.digits × 10^n */
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (k <= n && n <= 21) {
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
        for (int i = 0; i < n - k; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(out + o, 8, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    out[o] = '\0';
    return o;
}

static void write_int(cd_buf *b, int64_t i)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) *--p = '-';
    cd_buf_append(b, p, (size_t)(e - p));
}

/* cd_buf_json_str without its surrounding quotes. */
static void write_inner(cd_buf *b, const char *s, size_t n)
{
    if (n == 0) return;
    size_t old = b->len;
    cd_buf_json_str(b, s, n);
    if (cd_buf_failed(b)) return;
    size_t w = b->len - old; /* includes both quotes */
    memmove(b->data + old, b->data + old + 1, w - 2);
    b->len -= 2;
    b->data[b->len] = '\0';
}

static void write_string(cd_buf *b, const char *s, size_t n)
{
    /* fast path: valid UTF-8 without U+2028/2029 */
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = gql_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k == 0 || cp == 0x2028 || cp == 0x2029) break;
        i += (size_t)k;
    }
    if (i == n) {
        cd_buf_json_str(b, s, n);
        return;
    }
    cd_buf_putc(b, '"');
    size_t seg = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = gql_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k != 0 && cp != 0x2028 && cp != 0x2029) {
            i += (size_t)k;
            continue;
        }
        write_inner(b, s + seg, i - seg);
        if (k == 0) {
            cd_buf_puts(b, "\\ufffd");
            i++;
        } else {
            cd_buf_puts(b, cp == 0x2028 ? "\\u2028" : "\\u2029");
            i += (size_t)k;
        }
        seg = i;
    }
    write_inner(b, s + seg, n - seg);
    cd_buf_putc(b, '"');
}

void gql_json_write(cd_buf *b, const gql_value *v)
{
    char num[40];
    switch (v->kind) {
    case GQL_V_NULL:
        cd_buf_append(b, "null", 4);
        return;
    case GQL_V_BOOL:
        if (v->u.b)
            cd_buf_append(b, "true", 4);
        else
            cd_buf_append(b, "false", 5);
        return;
    case GQL_V_INT:
        if (v->flags & GQL_VF_BIG)
            cd_buf_append(b, v->u.s, v->len); /* AST literal text: digits */
        else
            write_int(b, v->u.i);
        return;
    case GQL_V_FLOAT:
        cd_buf_append(b, num, format_double(v->u.f, num));
        return;
    case GQL_V_STRING:
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
        write_string(b, v->u.s ? v->u.s : "", v->len);
        return;
    case GQL_V_RAW_JSON:
        cd_buf_append(b, v->u.s, v->len);
        return;
    case GQL_V_LIST:
        cd_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) cd_buf_putc(b, ',');
            gql_json_write(b, &v->u.items[i]);
        }
        cd_buf_putc(b, ']');
        return;
    case GQL_V_OBJECT:
        cd_buf_putc(b, '{');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) cd_buf_putc(b, ',');
            const char *k = v->u.fields[i].name ? v->u.fields[i].name : "";
            write_string(b, k, strlen(k));
            cd_buf_putc(b, ':');
            gql_json_write(b, &v->u.fields[i].value);
        }
        cd_buf_putc(b, '}');
        return;
    default:
        cd_buf_append(b, "null", 4);
        return;
    }
}
