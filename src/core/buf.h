/*
 * buf.h — growable byte buffer used for responses and frames.
 *
 * A cd_buf owns its heap storage (cd_malloc). Appends keep one spare byte so
 * data is always NUL-terminated for debugging and C-string use. After an
 * allocation failure the buffer is marked failed: further appends are no-ops
 * and cd_buf_failed() reports it, so writers can append freely and check once.
 */
#ifndef CHATD_BUF_H
#define CHATD_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cd_buf {
    char *data;  /* read-only outside buf.c */
    size_t len;  /* read-only */
    size_t cap;  /* private */
    bool failed; /* read-only: an allocation failed */
} cd_buf;

void cd_buf_init(cd_buf *b);
void cd_buf_free(cd_buf *b);
void cd_buf_reset(cd_buf *b); /* len = 0, keeps capacity */
/* Cuts the data back to its first `len` bytes (no-op when not longer);
 * keeps capacity and the failed mark. */
void cd_buf_truncate(cd_buf *b, size_t len);
int cd_buf_reserve(cd_buf *b, size_t extra);
void cd_buf_append(cd_buf *b, const void *p, size_t n);
void cd_buf_putc(cd_buf *b, char c);
void cd_buf_puts(cd_buf *b, const char *s);
void cd_buf_printf(cd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cd_buf_vprintf(cd_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal with quotes and escapes. */
void cd_buf_json_str(cd_buf *b, const char *s, size_t n);
/* Takes ownership of the storage: returns data (caller frees with cd_free). */
char *cd_buf_steal(cd_buf *b, size_t *len);
static inline bool cd_buf_failed(const cd_buf *b)
{
    return b->failed;
}

#endif
