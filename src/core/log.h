/*
 * log.h — structured one-line logs: "ts level module msg key=value ...".
 * Written to stderr; the level is set once at start (CHATD_LOG_LEVEL).
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

typedef enum cd_log_level { CD_LOG_DEBUG, CD_LOG_INFO, CD_LOG_WARN, CD_LOG_ERROR } cd_log_level;

void cd_log_set_level(cd_log_level lvl);
int cd_log_parse_level(const char *s, cd_log_level *out);
void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cd_debug(mod, ...) cd_log(CD_LOG_DEBUG, mod, __VA_ARGS__)
#define cd_info(mod, ...) cd_log(CD_LOG_INFO, mod, __VA_ARGS__)
#define cd_warn(mod, ...) cd_log(CD_LOG_WARN, mod, __VA_ARGS__)
#define cd_error(mod, ...) cd_log(CD_LOG_ERROR, mod, __VA_ARGS__)

#endif
