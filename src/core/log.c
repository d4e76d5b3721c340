/*
 * log.c — one-line structured logs on stderr (see log.h).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static cd_log_level cd_log_min = CD_LOG_INFO;
static const char *const cd_log_names[] = {"debug", "info", "warn", "error"};

void cd_log_set_level(cd_log_level lvl)
{
    cd_log_min = lvl;
}

int cd_log_parse_level(const char *s, cd_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, cd_log_names[i]) == 0) {
            *out = (cd_log_level)i;
            return 0;
        }
    }
    return -2;
}

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

void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < cd_log_min) return;
    char line[CD_LOG_LINE_MAX], msg[CD_LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, cd_log_names[lvl], module);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 1) n = 0;
    cd_log_escape(line + n, sizeof line - 1 - (size_t)n, msg);
    /* one write per line so concurrent processes do not interleave mid-line */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
