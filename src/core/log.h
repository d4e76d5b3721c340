/*
 * log.h — one log line per call on stderr, as text for a terminal or as one
 * JSON object per line for a log store (CHATD_LOG_FORMAT; the default is text
 * when stderr is a terminal, JSON otherwise).
 *
 *   text  "ts level module msg key=value ..."
 *   json  {"time":..,"level":..,"role":..,"instance":..,"module":..,
 *          "msg":..,"request_id":..,<fields>}
 *
 * The level and format are set once at start (cd_log_set_level/_format),
 * the process identity (role, instance id) with cd_log_set_identity. Client
 * chosen text (a user name, a header, a path) cannot forge or split lines: in
 * text mode it is escaped by cd_log_escape, in JSON mode by JSON string
 * escaping, with invalid UTF-8 replaced by U+FFFD so every line parses.
 *
 * Request ids: the protocol layer enters a log context for the work of one
 * request (cd_log_ctx_enter/leave); every line logged inside it carries the
 * request id. Asynchronous work keeps it by saving the context when it is
 * queued and entering it around its callback (the PostgreSQL pool does).
 */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum cd_log_level { CD_LOG_DEBUG, CD_LOG_INFO, CD_LOG_WARN, CD_LOG_ERROR } cd_log_level;
typedef enum cd_log_format { CD_LOG_FMT_AUTO = 0, CD_LOG_FMT_TEXT, CD_LOG_FMT_JSON } cd_log_format;

#define CD_LOG_LINE_MAX 2048u /* bytes of one log line, newline included; longer is cut */
#define CD_LOG_ID_MAX 64u     /* bytes of the role and of the instance id */
#define CD_LOG_MAX_FIELDS 16u /* fields of one line; more are dropped */
/* Bytes of the line kept for the fields after a long message (JSON): a
 * message is cut first, a field is written whole or left out. */
#define CD_LOG_FIELDS_RESERVE 640u

/* A request id: 1..CD_REQUEST_ID_MAX bytes of [A-Za-z0-9._:-]. */
#define CD_REQUEST_ID_MAX 64u

void cd_log_set_level(cd_log_level lvl);
int cd_log_parse_level(const char *s, cd_log_level *out);
/* AUTO resolves here: text when stderr is a terminal, JSON otherwise. */
void cd_log_set_format(cd_log_format fmt);
cd_log_format cd_log_get_format(void);
/* "text", "json" or "auto" (case-insensitive); 0 or CD_EBAD. */
int cd_log_parse_format(const char *s, cd_log_format *out);
/* The process identity of JSON lines; both copied (cut at CD_LOG_ID_MAX). */
void cd_log_set_identity(const char *role, const char *instance);

/* A structured field: a string (NULL = the field is left out), an integer
 * or a number printed with 3 decimals. Keys are the caller's constants
 * ([a-z_]), never one of the line's own keys. */
typedef enum cd_log_field_kind { CD_LF_STR, CD_LF_INT, CD_LF_NUM } cd_log_field_kind;
typedef struct cd_log_field {
    const char *key;
    cd_log_field_kind kind;
    const char *s;
    int64_t i;
    double d;
} cd_log_field;
#define CD_LF_S(k, v) ((cd_log_field){.key = (k), .kind = CD_LF_STR, .s = (v)})
#define CD_LF_I(k, v) ((cd_log_field){.key = (k), .kind = CD_LF_INT, .i = (int64_t)(v)})
#define CD_LF_N(k, v) ((cd_log_field){.key = (k), .kind = CD_LF_NUM, .d = (double)(v)})

void cd_log(cd_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* cd_log with fields (at most CD_LOG_MAX_FIELDS are written). */
void cd_log_kv(cd_log_level lvl, const char *module, const cd_log_field *fields, size_t nfields,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* True when a line at lvl would be written (skip building fields). */
bool cd_log_enabled(cd_log_level lvl);

/* The whole line cd_log_kv would write (the current identity and request
 * id), into line (cap bytes, cap >= 1024): returns its length, newline
 * included, never more than cap - 1 (NUL-terminated). For the unit tests. */
size_t cd_log_render(char *line, size_t cap, cd_log_format fmt, const struct timespec *ts,
                     cd_log_level lvl, const char *module, const char *msg,
                     const cd_log_field *fields, size_t nfields);

/* Copies src into dst (cap bytes, NUL-terminated) with every control byte
 * (< 0x20, 0x7f) written as \n, \r, \t or \xHH and backslash as \\, so
 * a value a client chose (a user name, a header) cannot forge or split log
 * lines. Stops before an escape that would not fit. Returns bytes written. */
size_t cd_log_escape(char *dst, size_t cap, const char *src);

/* ---- request ids and the log context ---- */

typedef struct cd_log_ctx {
    char request_id[CD_REQUEST_ID_MAX + 1]; /* "" = none */
} cd_log_ctx;

/* Makes request_id (NULL or "" = none; an invalid one counts as none) the
 * current one, saving the previous context in *saved. */
void cd_log_ctx_enter(const char *request_id, cd_log_ctx *saved);
/* Restores a context saved by cd_log_ctx_enter. */
void cd_log_ctx_leave(const cd_log_ctx *saved);
/* The current context (copy it to carry it over an asynchronous step). */
const cd_log_ctx *cd_log_ctx_current(void);
/* The current request id, "" when none. */
const char *cd_log_request_id(void);

/* True when s[0..len) is a request id a client may choose: 1 to
 * CD_REQUEST_ID_MAX bytes of letters, digits, '.', '_', ':' and '-'. */
bool cd_request_id_valid(const char *s, size_t len);
/* A new id unique to this process run: 16 hex digits drawn once per process
 * and a counter ("3f9c0e1b7d4a55e2-0000002a"). out: CD_REQUEST_ID_MAX + 1. */
void cd_request_id_new(char *out);

#define cd_debug(mod, ...) cd_log(CD_LOG_DEBUG, mod, __VA_ARGS__)
#define cd_info(mod, ...) cd_log(CD_LOG_INFO, mod, __VA_ARGS__)
#define cd_warn(mod, ...) cd_log(CD_LOG_WARN, mod, __VA_ARGS__)
#define cd_error(mod, ...) cd_log(CD_LOG_ERROR, mod, __VA_ARGS__)

#endif
