/*
 * log.c — one log line per call on stderr, text or JSON (see log.h).
 *
 * A line is built in a stack buffer of CD_LOG_LINE_MAX bytes and written
 * with one fwrite, so lines of concurrent processes sharing a pipe do not
 * interleave. Nothing is allocated. State (level, format, identity, the
 * current request id) is per process: one loop, no threads log.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/core.h"

static cd_log_level cd_log_min = CD_LOG_INFO;
static cd_log_format cd_log_fmt = CD_LOG_FMT_TEXT;
static char cd_log_role[CD_LOG_ID_MAX + 1];
static char cd_log_instance[CD_LOG_ID_MAX + 1];
static cd_log_ctx cd_log_cur;
static const char *const cd_log_names[] = {"debug", "info", "warn", "error"};

void cd_log_set_level(cd_log_level lvl)
{
    cd_log_min = lvl;
}

bool cd_log_enabled(cd_log_level lvl)
{
    return lvl >= cd_log_min;
}

int cd_log_parse_level(const char *s, cd_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, cd_log_names[i]) == 0) {
            *out = (cd_log_level)i;
            return 0;
        }
    }
    return CD_EBAD;
}

void cd_log_set_format(cd_log_format fmt)
{
    if (fmt == CD_LOG_FMT_AUTO) fmt = isatty(STDERR_FILENO) ? CD_LOG_FMT_TEXT : CD_LOG_FMT_JSON;
    cd_log_fmt = fmt;
}

cd_log_format cd_log_get_format(void)
{
    return cd_log_fmt;
}

int cd_log_parse_format(const char *s, cd_log_format *out)
{
    static const char *const names[] = {"auto", "text", "json"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (cd_log_format)i;
            return 0;
        }
    }
    return CD_EBAD;
}

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, CD_LOG_ID_MAX + 1, "%s", src ? src : "");
}

void cd_log_set_identity(const char *role, const char *instance)
{
    copy_id(cd_log_role, role);
    copy_id(cd_log_instance, instance);
}

/* ---- request ids and the context ---- */

bool cd_request_id_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > CD_REQUEST_ID_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) return false;
    }
    return true;
}

void cd_request_id_new(char *out)
{
    static uint64_t seed, counter;
    static bool seeded;
    if (!seeded) {
        /* once per process; without entropy, time and pid still separate runs */
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
        }
        seeded = true;
    }
    snprintf(out, CD_REQUEST_ID_MAX + 1, "%016llx-%08llx", (unsigned long long)seed,
             (unsigned long long)++counter);
}

void cd_log_ctx_enter(const char *request_id, cd_log_ctx *saved)
{
    *saved = cd_log_cur;
    size_t n = request_id ? strnlen(request_id, CD_REQUEST_ID_MAX + 1) : 0;
    if (n && cd_request_id_valid(request_id, n))
        memcpy(cd_log_cur.request_id, request_id, n + 1);
    else
        cd_log_cur.request_id[0] = 0;
}

void cd_log_ctx_leave(const cd_log_ctx *saved)
{
    cd_log_cur = *saved;
}

const cd_log_ctx *cd_log_ctx_current(void)
{
    return &cd_log_cur;
}

const char *cd_log_request_id(void)
{
    return cd_log_cur.request_id;
}

/* ---- text escaping ---- */

size_t cd_log_escape(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    if (cap == 0) return 0;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char esc[4];
        size_t n = 0;
        unsigned char ch = *p;
        if (ch == '\n')
            esc[n++] = '\\', esc[n++] = 'n';
        else if (ch == '\r')
            esc[n++] = '\\', esc[n++] = 'r';
        else if (ch == '\t')
            esc[n++] = '\\', esc[n++] = 't';
        else if (ch == '\\')
            esc[n++] = '\\', esc[n++] = '\\';
        else if (ch < 0x20 || ch == 0x7f)
            esc[n++] = '\\', esc[n++] = 'x', esc[n++] = hex[ch >> 4], esc[n++] = hex[ch & 15];
        else
            esc[n++] = (char)ch;
        if (o + n >= cap) break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = 0;
    return o;
}

/* ---- the line writer ---- */

/* A bounded writer over the line buffer; `end` leaves room for what closes
 * the line. A piece that does not fit is not written (ok = false). */
typedef struct lw {
    char *buf;
    size_t len, end;
    bool cut; /* something was cut or left out */
} lw;

static bool lw_put(lw *w, const char *s, size_t n)
{
    if (w->len + n > w->end) return false;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    return true;
}

static bool lw_puts(lw *w, const char *s)
{
    return lw_put(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (at most `left` bytes), 0 when it
 * is not one (RFC 3629: no overlongs, surrogates or code points > U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string: quotes, backslashes and control bytes escaped, invalid
 * UTF-8 as \ufffd. With may_cut the string is cut at a character boundary
 * when it does not fit (w->cut set); otherwise false and nothing counts
 * (the caller rolls back). */
static bool lw_json_str(lw *w, const char *s, bool may_cut)
{
    static const char hex[] = "0123456789abcdef";
    if (w->len + 2 > w->end) return false; /* both quotes always fit */
    lw_put(w, "\"", 1);
    size_t slen = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    /* room for the closing quote */
    w->end--;
    bool ok = true;
    for (size_t i = 0; i < slen;) {
        char esc[8];
        const char *out = esc;
        size_t n = 0, adv = 1;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c == '\n') {
            esc[0] = '\\', esc[1] = 'n', n = 2;
        } else if (c == '\r') {
            esc[0] = '\\', esc[1] = 'r', n = 2;
        } else if (c == '\t') {
            esc[0] = '\\', esc[1] = 't', n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
        } else if (c < 0x80) {
            esc[0] = (char)c, n = 1;
        } else if ((adv = utf8_len(p + i, slen - i)) != 0) {
            out = s + i, n = adv;
        } else {
            memcpy(esc, "\\ufffd", 6);
            n = 6, adv = 1;
        }
        if (!lw_put(w, out, n)) {
            ok = false;
            break;
        }
        i += adv;
    }
    w->end++;
    if (!ok && !may_cut) return false;
    if (!ok) w->cut = true;
    return lw_put(w, "\"", 1);
}

/* ,"key":value — whole or not at all. */
static void lw_json_field(lw *w, const cd_log_field *f)
{
    size_t mark = w->len;
    char num[32];
    bool ok = lw_put(w, ",\"", 2) && lw_puts(w, f->key) && lw_put(w, "\":", 2);
    if (ok) {
        if (f->kind == CD_LF_STR) {
            ok = lw_json_str(w, f->s, false);
        } else {
            if (f->kind == CD_LF_INT)
                snprintf(num, sizeof num, "%lld", (long long)f->i);
            else
                snprintf(num, sizeof num, "%.3f", f->d);
            ok = lw_puts(w, num);
        }
    }
    if (!ok) {
        w->len = mark;
        w->cut = true;
    }
}

static size_t render_json(lw *w, const char *ts, cd_log_level lvl, const char *module,
                          const char *msg, const cd_log_field *f, size_t nf)
{
    static const char trunc[] = ",\"truncated\":true";
    size_t full = w->end;
    w->end = full - (sizeof trunc - 1) - 1; /* "}" */
    lw_puts(w, "{\"time\":\"");
    lw_puts(w, ts);
    lw_puts(w, "\",\"level\":\"");
    lw_puts(w, cd_log_names[lvl]);
    lw_puts(w, "\",\"role\":");
    lw_json_str(w, cd_log_role, true);
    lw_puts(w, ",\"instance\":");
    lw_json_str(w, cd_log_instance, true);
    lw_puts(w, ",\"module\":");
    lw_json_str(w, module, true);
    lw_puts(w, ",\"msg\":");
    /* the message is cut first so that the fields find room */
    size_t fields_end = w->end;
    if (w->end > w->len + CD_LOG_FIELDS_RESERVE) w->end -= CD_LOG_FIELDS_RESERVE;
    lw_json_str(w, msg, true);
    w->end = fields_end;
    if (cd_log_cur.request_id[0]) {
        cd_log_field rid = CD_LF_S("request_id", cd_log_cur.request_id);
        lw_json_field(w, &rid);
    }
    for (size_t i = 0; i < nf && i < CD_LOG_MAX_FIELDS; i++)
        if (f[i].kind != CD_LF_STR || f[i].s) lw_json_field(w, &f[i]);
    w->end = full;
    if (w->cut) lw_puts(w, trunc);
    lw_puts(w, "}");
    return w->len;
}

/* key=value with the value escaped; quoted when it holds a space, a quote
 * or is empty. */
static void lw_text_field(lw *w, const char *key, const char *val)
{
    char esc[CD_LOG_LINE_MAX];
    size_t mark = w->len;
    cd_log_escape(esc, sizeof esc, val);
    bool quote = !*esc || strpbrk(esc, " \"=") != NULL;
    bool ok = lw_put(w, " ", 1) && lw_puts(w, key) && lw_put(w, "=", 1);
    if (ok && quote) {
        ok = lw_put(w, "\"", 1);
        for (const char *p = esc; ok && *p; p++)
            ok = *p == '"' ? lw_put(w, "\\\"", 2) : lw_put(w, p, 1);
        ok = ok && lw_put(w, "\"", 1);
    } else if (ok) {
        ok = lw_puts(w, esc);
    }
    if (!ok) w->len = mark;
}

static size_t render_text(lw *w, const char *ts, cd_log_level lvl, const char *module,
                          const char *msg, const cd_log_field *f, size_t nf)
{
    char esc[CD_LOG_LINE_MAX];
    lw_puts(w, ts);
    lw_puts(w, " ");
    lw_puts(w, cd_log_names[lvl]);
    lw_puts(w, " ");
    lw_puts(w, module);
    lw_puts(w, " ");
    size_t room = w->end > w->len ? w->end - w->len : 0;
    if ((nf || cd_log_cur.request_id[0]) && room > 2 * CD_LOG_FIELDS_RESERVE)
        room -= CD_LOG_FIELDS_RESERVE;
    esc[0] = 0;
    cd_log_escape(esc, room + 1, msg);
    lw_puts(w, esc);
    for (size_t i = 0; i < nf && i < CD_LOG_MAX_FIELDS; i++) {
        char num[32];
        const char *v = f[i].s;
        if (f[i].kind == CD_LF_INT)
            snprintf(num, sizeof num, "%lld", (long long)f[i].i), v = num;
        else if (f[i].kind == CD_LF_NUM)
            snprintf(num, sizeof num, "%.3f", f[i].d), v = num;
        if (v) lw_text_field(w, f[i].key, v);
    }
    if (cd_log_cur.request_id[0]) lw_text_field(w, "request_id", cd_log_cur.request_id);
    return w->len;
}

size_t cd_log_render(char *line, size_t cap, cd_log_format fmt, const struct timespec *ts,
                     cd_log_level lvl, const char *module, const char *msg,
                     const cd_log_field *fields, size_t nfields)
{
    char tsb[80];
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(tsb, sizeof tsb, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(ts->tv_nsec / 1000000));
    if ((unsigned)lvl > CD_LOG_ERROR) lvl = CD_LOG_ERROR;
    lw w = {.buf = line, .len = 0, .end = cap - 2}; /* "\n" and NUL */
    size_t n = fmt == CD_LOG_FMT_JSON ? render_json(&w, tsb, lvl, module, msg, fields, nfields)
                                      : render_text(&w, tsb, lvl, module, msg, fields, nfields);
    line[n++] = '\n';
    line[n] = 0;
    return n;
}

static void cd_log_v(cd_log_level lvl, const char *module, const cd_log_field *fields, size_t nf,
                     const char *fmt, va_list ap)
{
    char line[CD_LOG_LINE_MAX], msg[CD_LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = cd_log_render(line, sizeof line, cd_log_fmt, &ts, lvl, module, msg, fields, nf);
    /* one write per line so concurrent processes do not interleave mid-line */
    fwrite(line, 1, len, stderr);
}

void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < cd_log_min) return;
    va_list ap;
    va_start(ap, fmt);
    cd_log_v(lvl, module, NULL, 0, fmt, ap);
    va_end(ap);
}

void cd_log_kv(cd_log_level lvl, const char *module, const cd_log_field *fields, size_t nfields,
               const char *fmt, ...)
{
    if (lvl < cd_log_min) return;
    va_list ap;
    va_start(ap, fmt);
    cd_log_v(lvl, module, fields, nfields, fmt, ap);
    va_end(ap);
}
