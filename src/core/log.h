/*
 * log.h — structured one-line logs: "ts level module msg key=value ...".
 * Written to stderr; the level is set once at start (CHATD_LOG_LEVEL). The
 * message part is escaped (cd_log_escape): one call is always one line.
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

typedef enum cd_log_level { CD_LOG_DEBUG, CD_LOG_INFO, CD_LOG_WARN, CD_LOG_ERROR } cd_log_level;

#include <stddef.h>

#define CD_LOG_LINE_MAX 2048u /* bytes of one log line, newline included; longer is cut */

void cd_log_set_level(cd_log_level lvl);
int cd_log_parse_level(const char *s, cd_log_level *out);
void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src into dst (cap bytes, NUL-terminated) with every control byte
 * (< 0x20, 0x7f) written as \n, \r, \t or \xHH and backslash as \\, so
 * a value a client chose (a user name, a header) cannot forge or split log
 * lines. Stops before an escape that would not fit. Returns bytes written. */
size_t cd_log_escape(char *dst, size_t cap, const char *src);

#define cd_debug(mod, ...) cd_log(CD_LOG_DEBUG, mod, __VA_ARGS__)
#define cd_info(mod, ...) cd_log(CD_LOG_INFO, mod, __VA_ARGS__)
#define cd_warn(mod, ...) cd_log(CD_LOG_WARN, mod, __VA_ARGS__)
#define cd_error(mod, ...) cd_log(CD_LOG_ERROR, mod, __VA_ARGS__)

#endif
