/*
 * test_util.h — small helpers shared by the unit tests.
 */
#ifndef CHATD_TEST_UTIL_H
#define CHATD_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

/* The exit status CTest reads as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt). */
#define TEST_SKIP_EXIT 77

/* Set once a test of this binary was skipped by test_env_or_skip(). */
static inline int *test_skipped_flag(void)
{
    static int skipped;
    return &skipped;
}

/* The value of `name`, an environment variable scripts/testenv exports
 * (CHATD_TEST_DATABASE_URL, CHATD_TEST_REDIS_URL), or NULL after printing
 * why the tests that need it are skipped (once per binary). The one check
 * every database test goes through. */
static inline const char *test_env(const char *name)
{
    static int told;
    const char *v = getenv(name);
    if (v && *v) return v;
    if (!told) {
        printf("skipped: %s not set — run under scripts/testenv (make unit)\n", name);
        fflush(stdout);
        told = 1;
    }
    return NULL;
}

/* Inside one cmocka test: the value of `name`, or the test is skipped. */
static inline const char *test_env_or_skip(const char *name)
{
    const char *v = test_env(name);
    if (!v) {
        *test_skipped_flag() = 1;
        skip();
    }
    return v;
}

/* main's exit status after cmocka_run_group_tests(): the failure count when
 * something failed, TEST_SKIP_EXIT when nothing failed but a test was
 * skipped for want of the test environment, else 0. */
static inline int test_exit_status(int failed)
{
    if (failed) return failed;
    return *test_skipped_flag() ? TEST_SKIP_EXIT : 0;
}

#endif
