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

void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < cd_log_min) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, cd_log_names[lvl], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* one write per line so concurrent processes do not interleave mid-line */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}
