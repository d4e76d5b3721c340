/*
 * buf.c — growable byte buffer (see buf.h). Capacity doubles; one byte is
 * always kept for a trailing NUL. A failed allocation poisons the buffer.
 */
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/arena.h"

void cd_buf_init(cd_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

void cd_buf_free(cd_buf *b)
{
    cd_free(b->data);
    cd_buf_init(b);
}

void cd_buf_reset(cd_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = '\0';
}

void cd_buf_truncate(cd_buf *b, size_t len)
{
    if (len >= b->len) return;
    b->len = len;
    if (b->data) b->data[len] = '\0';
}

int cd_buf_reserve(cd_buf *b, size_t extra)
{
    if (b->failed) return -3;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1) {
        if (ncap > ((size_t)-1) / 2) {
            b->failed = true;
            return -3;
        }
        ncap *= 2;
    }
    char *nd = cd_realloc(b->data, ncap);
    if (!nd) {
        b->failed = true;
        return -3;
    }
    b->data = nd;
    b->cap = ncap;
    return 0;
}

void cd_buf_append(cd_buf *b, const void *p, size_t n)
{
    if (cd_buf_reserve(b, n) != 0) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cd_buf_putc(cd_buf *b, char c)
{
    if (cd_buf_reserve(b, 1) != 0) return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void cd_buf_puts(cd_buf *b, const char *s)
{
    cd_buf_append(b, s, strlen(s));
}

void cd_buf_vprintf(cd_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || cd_buf_reserve(b, (size_t)n) != 0) return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cd_buf_printf(cd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cd_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void cd_buf_json_str(cd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case every byte becomes \u00XX */
    if (cd_buf_reserve(b, n * 6 + 2) != 0) return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *o++ = '\\';
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\b':
            *o++ = '\\';
            *o++ = 'b';
            break;
        case '\f':
            *o++ = '\\';
            *o++ = 'f';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                *o++ = '\\';
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            } else {
                *o++ = (char)c;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

char *cd_buf_steal(cd_buf *b, size_t *len)
{
    char *d = b->data;
    if (len) *len = b->len;
    cd_buf_init(b);
    return d;
}
