/*
 * test_core_limits.c — start-up limits at their edges and log-line safety:
 * the shortest JWT secret accepted, the largest --ws-max-queued (the net
 * layer's own bound, refused above rather than silently capped), and log
 * messages that cannot split or forge lines, URLs logged without their
 * password. The environment is a fake table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/core.h"
#include "core/log.h"
#include "core/text.h"
#include "net/ws.h"

static const char *env_secret, *env_queued;

static const char *env_get(const char *k)
{
    if (strcmp(k, "CHATD_JWT_SECRET") == 0) return env_secret;
    if (strcmp(k, "CHATD_WS_MAX_QUEUED") == 0) return env_queued;
    return NULL;
}

static int parse(cd_config *c, const char *secret, const char *queued, char *err, size_t errlen)
{
    char *argv[] = {"chatd", NULL};
    env_secret = secret;
    env_queued = queued;
    err[0] = 0;
    return cd_config_parse(c, 1, argv, env_get, err, errlen);
}

static void test_jwt_secret_edge(void **state)
{
    (void)state;
    cd_config c;
    char err[256], secret[64];
    memset(secret, 'k', sizeof secret);
    secret[CD_CONFIG_MIN_JWT_SECRET] = 0;
    assert_int_equal(parse(&c, secret, NULL, err, sizeof err), 0);
    secret[CD_CONFIG_MIN_JWT_SECRET - 1] = 0;
    assert_int_equal(parse(&c, secret, NULL, err, sizeof err), CD_EBAD);
    assert_non_null(strstr(err, "CHATD_JWT_SECRET"));
    assert_non_null(strstr(err, "at least 16"));
}

static void test_ws_max_queued_edge(void **state)
{
    (void)state;
    cd_config c;
    char err[256], v[32];
    const char *secret = "0123456789abcdef0123";
    /* the net layer enforces its own bound: the setting may not exceed it */
    assert_int_equal(CD_CONFIG_MAX_WS_QUEUED, WS_MAX_WRITE_QUEUE);
    snprintf(v, sizeof v, "%u", CD_CONFIG_MAX_WS_QUEUED);
    assert_int_equal(parse(&c, secret, v, err, sizeof err), 0);
    assert_int_equal(c.ws_max_queued, CD_CONFIG_MAX_WS_QUEUED);
    snprintf(v, sizeof v, "%u", CD_CONFIG_MAX_WS_QUEUED + 1);
    assert_int_not_equal(parse(&c, secret, v, err, sizeof err), 0);
    assert_non_null(strstr(err, "CHATD_WS_MAX_QUEUED"));
}

static void test_log_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(cd_log_escape(out, sizeof out, "plain name"), 10);
    assert_string_equal(out, "plain name");
    cd_log_escape(out, sizeof out, "eve\n2026-01-01T00:00:00Z info fake\r\t\x1b[31m\\");
    assert_string_equal(out, "eve\\n2026-01-01T00:00:00Z info fake\\r\\t\\x1b[31m\\\\");
    assert_null(strchr(out, '\n'));
    /* cut before an escape that does not fit, always terminated */
    assert_int_equal(cd_log_escape(out, 4, "ab\ncd"), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(cd_log_escape(out, 6, "ab\ncd"), 5);
    assert_string_equal(out, "ab\\nc");
    assert_int_equal(cd_log_escape(out, 1, "abc"), 0);
    assert_string_equal(out, "");
    /* UTF-8 passes through untouched */
    cd_log_escape(out, sizeof out, "J\xc3\xbcrgen");
    assert_string_equal(out, "J\xc3\xbcrgen");
}

static void test_url_redact(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(cd_url_redact("redis://:s3cret@127.0.0.1:6379/0", out, sizeof out),
                        "redis://:***@127.0.0.1:6379/0");
    assert_string_equal(cd_url_redact("redis://user:s3cret@host:6379", out, sizeof out),
                        "redis://user:***@host:6379");
    assert_string_equal(
        cd_url_redact("postgres://chatd:p@ss:word@db/chatd?sslmode=disable", out, sizeof out),
        "postgres://chatd:***@db/chatd?sslmode=disable");
    /* no password: unchanged, including an '@' or ':' after the host */
    assert_string_equal(cd_url_redact("redis://127.0.0.1:6379", out, sizeof out),
                        "redis://127.0.0.1:6379");
    assert_string_equal(cd_url_redact("redis://user@host:1/x?a=b:c@d", out, sizeof out),
                        "redis://user@host:1/x?a=b:c@d");
    assert_string_equal(cd_url_redact("not a url", out, sizeof out), "not a url");
    /* cut, never unterminated, never the secret */
    assert_string_equal(cd_url_redact("redis://:s3cret@host", out, 12), "redis://:**");
    assert_null(strstr(cd_url_redact("redis://:s3cret@host", out, 12), "s3c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_secret_edge),
        cmocka_unit_test(test_ws_max_queued_edge),
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_url_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
