/*
 * test_util.h — small helpers shared by the unit tests.
 */
#ifndef CHATD_TEST_UTIL_H
#define CHATD_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

/* Reads a whole file into a NUL-terminated malloc'd buffer (caller frees);
 * NULL when it cannot be read. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

#endif
