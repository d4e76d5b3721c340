/*
 * test_core_config.c — the WebSocket burst default follows the subscription
 * limit (a client may open every subscription it is allowed at once without
 * tripping the inbound rate limit); an explicit burst is kept as given. The
 * environment is a fake table (no real getenv).
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

static const char *env_burst, *env_subs;

static const char *env_get(const char *k)
{
    if (strcmp(k, "CHATD_JWT_SECRET") == 0) return "0123456789abcdef0123";
    if (strcmp(k, "CHATD_WS_BURST") == 0) return env_burst;
    if (strcmp(k, "CHATD_MAX_SUBSCRIPTIONS") == 0) return env_subs;
    return NULL;
}

static int parse(cd_config *c, const char *burst, const char *subs)
{
    char err[256];
    char *argv[] = {"chatd", NULL};
    env_burst = burst;
    env_subs = subs;
    return cd_config_parse(c, 1, argv, env_get, err, sizeof err);
}

static void test_default_burst_covers_subscriptions(void **state)
{
    (void)state;
    cd_config c;
    assert_int_equal(parse(&c, NULL, NULL), 0);
    assert_int_equal(c.max_subscriptions, CD_DEFAULT_MAX_SUBSCRIPTIONS);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST);
    /* connection_init + every allowed subscribe + one over the limit */
    assert_true(c.ws_burst >= c.max_subscriptions + 2);
    assert_true(CD_DEFAULT_WS_BURST >= CD_DEFAULT_MAX_SUBSCRIPTIONS + CD_WS_BURST_HEADROOM);
}

static void test_burst_follows_limit(void **state)
{
    (void)state;
    cd_config c;
    /* at the edge: max_subscriptions + headroom == the default burst */
    char edge[16], over[16];
    snprintf(edge, sizeof edge, "%u", CD_DEFAULT_WS_BURST - CD_WS_BURST_HEADROOM);
    snprintf(over, sizeof over, "%u", CD_DEFAULT_WS_BURST - CD_WS_BURST_HEADROOM + 1);
    assert_int_equal(parse(&c, NULL, edge), 0);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST);
    assert_int_equal(parse(&c, NULL, over), 0);
    assert_int_equal(c.ws_burst, CD_DEFAULT_WS_BURST + 1);
    assert_int_equal(parse(&c, NULL, "100000"), 0);
    assert_int_equal(c.ws_burst, 100000 + CD_WS_BURST_HEADROOM);
    assert_int_equal(cd_config_ws_burst_auto(1), CD_DEFAULT_WS_BURST);
}

static void test_explicit_burst_kept(void **state)
{
    (void)state;
    cd_config c;
    assert_int_equal(parse(&c, "20", NULL), 0); /* smaller than the limit: honoured */
    assert_int_equal(c.ws_burst, 20);
    assert_int_equal(parse(&c, "5000", "20"), 0);
    assert_int_equal(c.ws_burst, 5000);
    assert_int_equal(parse(&c, "0", NULL), CD_EBAD); /* below the option's minimum */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_burst_covers_subscriptions),
        cmocka_unit_test(test_burst_follows_limit),
        cmocka_unit_test(test_explicit_burst_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
