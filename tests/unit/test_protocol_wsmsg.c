/*
 * test_protocol_wsmsg.c — classification of graphql-transport-ws messages
 * (gqlws_parse_message): every valid shape, and every invalid one with the
 * reason a 4400 close carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "protocol/gql_ws.h"
#include "protocol/protocol.h"

static cd_arena arena;
static char reason[256];

static int classify(const char *json, gqlws_msg *m)
{
    reason[0] = 0;
    return gqlws_parse_message(&arena, json, strlen(json), m, reason, sizeof reason);
}

static int setup(void **state)
{
    (void)state;
    cd_arena_init(&arena, 4096);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cd_arena_free(&arena);
    return 0;
}

static void test_init_ping_pong(void **state)
{
    (void)state;
    gqlws_msg m;
    assert_int_equal(classify("{\"type\":\"connection_init\"}", &m), 0);
    assert_int_equal(m.type, GQLWS_MSG_CONNECTION_INIT);
    assert_null(m.payload);
    assert_int_equal(
        classify("{\"type\":\"connection_init\",\"payload\":{\"authToken\":\"x\"}}", &m), 0);
    assert_non_null(m.payload);
    assert_non_null(gql_obj_get(m.payload, "authToken"));
    assert_int_equal(classify("{\"type\":\"connection_init\",\"payload\":null}", &m), 0);
    assert_null(m.payload);
    assert_int_equal(classify("{\"type\":\"ping\"}", &m), 0);
    assert_int_equal(m.type, GQLWS_MSG_PING);
    assert_int_equal(classify("{\"type\":\"pong\",\"payload\":{\"t\":1}}", &m), 0);
    assert_int_equal(m.type, GQLWS_MSG_PONG);
    assert_non_null(m.payload);
}

static void test_subscribe(void **state)
{
    (void)state;
    gqlws_msg m;
    const char *s = "{\"id\":\"1\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{ a }\","
                    "\"variables\":{\"x\":1},\"operationName\":\"Op\",\"extensions\":{}}}";
    assert_int_equal(classify(s, &m), 0);
    assert_int_equal(m.type, GQLWS_MSG_SUBSCRIBE);
    assert_string_equal(m.id, "1");
    assert_int_equal(m.id_len, 1);
    assert_int_equal(m.query_len, 5);
    assert_memory_equal(m.query, "{ a }", 5);
    assert_string_equal(m.operation_name, "Op");
    assert_non_null(m.variables);
    assert_non_null(m.extensions);
    s = "{\"id\":\"abc\",\"type\":\"subscribe\",\"payload\":{\"query\":\"{ a }\","
        "\"variables\":null,\"operationName\":null,\"extensions\":null}}";
    assert_int_equal(classify(s, &m), 0);
    assert_null(m.variables);
    assert_null(m.operation_name);
    assert_null(m.extensions);
}

static void test_complete(void **state)
{
    (void)state;
    gqlws_msg m;
    assert_int_equal(classify("{\"id\":\"7\",\"type\":\"complete\"}", &m), 0);
    assert_int_equal(m.type, GQLWS_MSG_COMPLETE);
    assert_string_equal(m.id, "7");
}

static void expect_bad(const char *json, const char *needle)
{
    gqlws_msg m;
    assert_int_equal(classify(json, &m), CD_EBAD);
    assert_int_equal(m.type, GQLWS_MSG_INVALID);
    if (!strstr(reason, needle))
        fail_msg("reason \"%s\" lacks \"%s\" for %s", reason, needle, json);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_bad("not json", "Invalid message");
    expect_bad("[1,2]", "expected to be an object");
    expect_bad("{}", "missing the 'type'");
    expect_bad("{\"type\":\"\"}", "missing the 'type'");
    expect_bad("{\"type\":5}", "to be a string");
    expect_bad("{\"type\":\"hello\"}", "Invalid message 'type'");
    expect_bad("{\"type\":\"next\",\"id\":\"1\",\"payload\":{}}", "Unexpected message");
    expect_bad("{\"type\":\"connection_ack\"}", "Unexpected message");
    expect_bad("{\"type\":\"connection_init\",\"payload\":\"x\"}", "payload");
    expect_bad("{\"type\":\"ping\",\"payload\":[1]}", "payload");
    expect_bad("{\"type\":\"subscribe\",\"payload\":{\"query\":\"{a}\"}}", "'id'");
    expect_bad("{\"type\":\"subscribe\",\"id\":1,\"payload\":{\"query\":\"{a}\"}}", "'id'");
    expect_bad("{\"type\":\"subscribe\",\"id\":\"\",\"payload\":{\"query\":\"{a}\"}}", "non-empty");
    expect_bad("{\"type\":\"subscribe\",\"id\":\"1\"}", "'payload'");
    expect_bad("{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{}}", "'query'");
    expect_bad("{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":5}}", "'query'");
    expect_bad(
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"{a}\",\"variables\":[]}}",
        "'variables'");
    expect_bad(
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"{a}\",\"operationName\":3}}",
        "'operationName'");
    expect_bad("{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"{a}\",\"extensions\":"
               "\"e\"}}",
               "'extensions'");
    expect_bad("{\"type\":\"complete\"}", "'id'");
    expect_bad("{\"type\":\"complete\",\"id\":\"\"}", "non-empty");
}

static void test_id_limit(void **state)
{
    (void)state;
    char id[GQLWS_MAX_ID_LEN + 2];
    char json[GQLWS_MAX_ID_LEN + 64];
    gqlws_msg m;
    memset(id, 'a', GQLWS_MAX_ID_LEN);
    id[GQLWS_MAX_ID_LEN] = 0;
    snprintf(json, sizeof json, "{\"type\":\"complete\",\"id\":\"%s\"}", id);
    assert_int_equal(classify(json, &m), 0);
    assert_int_equal(m.id_len, GQLWS_MAX_ID_LEN);
    id[GQLWS_MAX_ID_LEN] = 'a';
    id[GQLWS_MAX_ID_LEN + 1] = 0;
    snprintf(json, sizeof json, "{\"type\":\"complete\",\"id\":\"%s\"}", id);
    assert_int_equal(classify(json, &m), CD_EBAD);
    assert_non_null(strstr(reason, "longer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_ping_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_limit, setup, teardown),
    };
    return cmocka_run_group_tests_name("protocol_wsmsg", tests, NULL, NULL);
}
