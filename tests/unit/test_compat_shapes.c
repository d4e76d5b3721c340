/*
 * test_compat_shapes.c — the pure parts of the seed-003 compatibility API
 * (src/compat/compat.c): GraphQL error code → HTTP status, the seed's message and room
 * JSON built from GraphQL results, the small JSON readers and role
 * placement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "compat/compat_internal.h"
#include "core/core.h"

static cd_arena arena;

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

static gql_value *parse(const char *json)
{
    gql_value *v = cd_arena_alloc(&arena, sizeof *v);
    char err[128];
    assert_int_equal(gql_json_parse(&arena, json, strlen(json), v, err, sizeof err), 0);
    return v;
}

/* Writes with fn, checks the output is JSON and returns it parsed. */
static gql_value *roundtrip(void (*fn)(cd_buf *, const gql_value *), const gql_value *in)
{
    cd_buf b;
    cd_buf_init(&b);
    fn(&b, in);
    assert_false(cd_buf_failed(&b));
    cd_buf_putc(&b, '\0');
    gql_value *out = parse(b.data);
    cd_buf_free(&b);
    return out;
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(compat_status_for("UNAUTHENTICATED"), 401);
    assert_int_equal(compat_status_for("FORBIDDEN"), 403);
    assert_int_equal(compat_status_for("NOT_FOUND"), 404);
    assert_int_equal(compat_status_for("CHAT_REMOVED"), 404);
    assert_int_equal(compat_status_for("BAD_USER_INPUT"), 400);
    assert_int_equal(compat_status_for("GRAPHQL_VALIDATION_FAILED"), 400);
    assert_int_equal(compat_status_for("PAYLOAD_TOO_LARGE"), 413);
    assert_int_equal(compat_status_for("RATE_LIMITED"), 429);
    assert_int_equal(compat_status_for("WRONG_SERVICE"), 421);
    assert_int_equal(compat_status_for("SERVICE_UNAVAILABLE"), 503);
    assert_int_equal(compat_status_for("INTERNAL_SERVER_ERROR"), 500);
    assert_int_equal(compat_status_for("SOMETHING_NEW"), 500);
    assert_int_equal(compat_status_for(NULL), 500);
}

static const char MSG[] =
    "{\"id\":\"m1\",\"chatId\":\"c1\",\"senderId\":\"u1\",\"content\":\"hi \\\"you\\\"\","
    "\"type\":\"gift\",\"metadata\":{\"gift\":\"rose\",\"n\":[1,2]},\"seq\":42,"
    "\"createdAt\":\"2026-11-26T12:00:00.000Z\",\"isEdited\":false,\"editedAt\":null,"
    "\"deletedAt\":null,\"sender\":{\"id\":\"u1\",\"username\":\"john\",\"displayName\":\"John\"}}";

static void test_message(void **state)
{
    (void)state;
    gql_value *m = roundtrip(compat_write_message, parse(MSG));
    assert_string_equal(compat_str(m, "id"), "m1");
    assert_string_equal(compat_str(m, "roomId"), "c1");
    assert_string_equal(compat_str(m, "senderId"), "u1");
    assert_string_equal(compat_str(m, "content"), "hi \"you\"");
    assert_string_equal(compat_str(m, "type"), "gift");
    int64_t seq = 0;
    assert_true(compat_int(m, "sequenceId", &seq));
    assert_int_equal(seq, 42);
    assert_null(gql_obj_get(m, "seq")); /* renamed, not copied */
    assert_null(gql_obj_get(m, "chatId"));
    const gql_value *meta = gql_obj_get(m, "metadata");
    assert_non_null(meta);
    assert_true(gql_value_equal(meta, gql_obj_get(parse(MSG), "metadata")));
    const gql_value *s = gql_obj_get(m, "sender");
    assert_string_equal(compat_str(s, "username"), "john");
    assert_string_equal(compat_str(s, "displayName"), "John");
    assert_int_equal(gql_obj_get(s, "avatar")->kind, GQL_V_NULL);
    assert_string_equal(compat_str(m, "createdAt"), "2026-11-26T12:00:00.000Z");

    /* absent fields become null, the output stays valid JSON */
    gql_value *e = roundtrip(compat_write_message, parse("{\"id\":\"x\"}"));
    assert_int_equal(gql_obj_get(e, "sequenceId")->kind, GQL_V_NULL);
    assert_int_equal(gql_obj_get(e, "sender")->kind, GQL_V_NULL);
}

static void test_room(void **state)
{
    (void)state;
    char json[2048];
    snprintf(json, sizeof json,
             "{\"id\":\"c1\",\"name\":\"direct\",\"description\":null,\"chatType\":\"direct\","
             "\"participantIds\":[\"u1\",\"u2\"],\"isActive\":true,\"lastSeq\":7,"
             "\"unreadCount\":3,\"createdAt\":\"t0\",\"updatedAt\":\"t1\",\"participants\":["
             "{\"id\":\"u1\",\"username\":\"john\",\"displayName\":null},"
             "{\"id\":\"u2\",\"username\":\"jane\",\"displayName\":\"Jane\"}],"
             "\"lastMessage\":%s}",
             MSG);
    gql_value *r = roundtrip(compat_write_room, parse(json));
    assert_string_equal(compat_str(r, "type"), "DIRECT");
    assert_string_equal(compat_str(gql_obj_get(r, "user1"), "username"), "john");
    assert_string_equal(compat_str(gql_obj_get(r, "user2"), "username"), "jane");
    assert_string_equal(compat_str(r, "lastMessageText"), "hi \"you\"");
    assert_string_equal(compat_str(r, "lastMessageAt"), "2026-11-26T12:00:00.000Z");
    int64_t n = 0;
    assert_true(compat_int(r, "unreadCount", &n));
    assert_int_equal(n, 3);
    assert_true(compat_int(r, "lastSequenceId", &n));
    assert_int_equal(n, 7);
    const gql_value *ms = gql_obj_get(r, "messages");
    assert_int_equal(ms->kind, GQL_V_LIST);
    assert_int_equal(ms->len, 1);
    assert_string_equal(compat_str(&ms->u.items[0], "roomId"), "c1");
    assert_int_equal(gql_obj_get(r, "participants")->len, 2);

    /* a group without messages: no user1/user2, empty messages, nulls */
    gql_value *g = roundtrip(compat_write_room,
                             parse("{\"id\":\"c2\",\"chatType\":\"group\",\"lastMessage\":null}"));
    assert_string_equal(compat_str(g, "type"), "GROUP");
    assert_null(gql_obj_get(g, "user1"));
    assert_int_equal(gql_obj_get(g, "messages")->len, 0);
    assert_int_equal(gql_obj_get(g, "lastMessageText")->kind, GQL_V_NULL);
    assert_int_equal(gql_obj_get(g, "participants")->len, 0);
}

static void test_readers(void **state)
{
    (void)state;
    gql_value *o = parse("{\"s\":\"x\",\"i\":5,\"f\":6.0,\"g\":6.5,\"n\":null,\"b\":true}");
    int64_t v = 0;
    assert_string_equal(compat_str(o, "s"), "x");
    assert_null(compat_str(o, "i"));
    assert_null(compat_str(o, "missing"));
    assert_null(compat_str(NULL, "s"));
    assert_true(compat_int(o, "i", &v));
    assert_int_equal(v, 5);
    assert_true(compat_int(o, "f", &v)); /* JSON 6.0 is the integer 6 */
    assert_int_equal(v, 6);
    assert_false(compat_int(o, "g", &v));
    assert_false(compat_int(o, "n", &v));
    assert_false(compat_int(o, "b", &v));
    assert_false(compat_int(o, "s", &v));
    assert_false(compat_int(parse("[1]"), "i", &v));
}

/* compat_int on floats: whole values inside int64's range are read; out of
 * range, fractional, NaN-like and huge ones are refused without casting
 * (the fuzz driver fuzz_compat_ws found 1e300 cast to int64_t, undefined). */
static void test_int_float_edges(void **state)
{
    (void)state;
    int64_t n = 7;
    const gql_value *o = parse("{\"a\":1e3,\"b\":1e300,\"c\":-1e300,\"d\":9223372036854775808.0,"
                               "\"e\":-9223372036854775808.0,\"f\":1.5,\"g\":9.2e18}");
    assert_true(compat_int(o, "a", &n));
    assert_int_equal(n, 1000);
    n = 7;
    assert_false(compat_int(o, "b", &n));
    assert_false(compat_int(o, "c", &n));
    assert_false(compat_int(o, "d", &n)); /* 2^63: one past INT64_MAX */
    assert_int_equal(n, 7);
    assert_true(compat_int(o, "e", &n)); /* -2^63 is INT64_MIN */
    assert_true(n == INT64_MIN);
    assert_false(compat_int(o, "f", &n));
    assert_true(compat_int(o, "g", &n));
    assert_true(n == 9200000000000000000LL);
}

/* compat_ws_parse: envelope errors, then the event's own checks. */
static void test_ws_parse(void **state)
{
    (void)state;
    compat_ws_msg m;
    const char *room = "0b1e7c52-9a1d-4f3e-8c2a-5d6e7f809a1b";
#define WS_PARSE(json) compat_ws_parse(&arena, json, strlen(json), &m)
    assert_int_equal(WS_PARSE("[1]"), CD_EBAD);
    assert_string_equal(m.err_code, "INVALID_MESSAGE");
    assert_int_equal(WS_PARSE("{\"type\":\"typing\",\"payload\":3}"), CD_EBAD);
    assert_string_equal(m.err_code, "INVALID_PAYLOAD");
    assert_string_equal(m.type, "typing");
    assert_int_equal(WS_PARSE("{\"type\":\"nope\"}"), 0);
    assert_string_equal(m.err_code, "UNKNOWN_EVENT");
    assert_int_equal(WS_PARSE("{\"type\":\"auth\",\"payload\":{\"token\":\"t\"}}"), 0);
    assert_null(m.err_code);
    assert_int_equal(m.ev, COMPAT_EV_AUTH);
    assert_string_equal(m.token, "t");
    assert_int_equal(WS_PARSE("{\"type\":\"markRead\",\"payload\":{\"sequenceId\":1}}"), 0);
    assert_string_equal(m.err_msg, "roomId is required");
    assert_int_equal(WS_PARSE("{\"type\":\"leaveRoom\",\"payload\":{\"roomId\":\"x\"}}"), 0);
    assert_string_equal(m.err_code, "NOT_FOUND");
    assert_string_equal(m.err_room, "x");
    char buf[200];
    snprintf(buf, sizeof buf,
             "{\"type\":\"markRead\",\"payload\":{\"roomId\":\"%s\",\"sequenceId\":1e300}}", room);
    assert_int_equal(WS_PARSE(buf), 0);
    assert_string_equal(m.err_msg, "sequenceId must be a non-negative integer");
    snprintf(buf, sizeof buf,
             "{\"type\":\"markRead\",\"payload\":{\"roomId\":\"%s\",\"sequenceId\":2147483647}}",
             room);
    assert_int_equal(WS_PARSE(buf), 0);
    assert_null(m.err_code);
    assert_int_equal(m.seq, 2147483647);
    snprintf(buf, sizeof buf, "{\"type\":\"typing\",\"payload\":{\"roomId\":\"%s\"}}", room);
    assert_int_equal(WS_PARSE(buf), 0);
    assert_string_equal(m.err_msg, "isTyping must be a boolean");
    assert_string_equal(m.err_room, room);
    assert_int_equal(WS_PARSE("{\"type\":\"joinRoom\",\"payload\":{\"targetUserId\":\"u\"}}"), 0);
    assert_string_equal(m.err_msg, "targetUserId must be a user id");
    assert_null(m.err_room);
    snprintf(buf, sizeof buf,
             "{\"type\":\"sendMessage\",\"payload\":{\"roomId\":\"%s\",\"content\":\"hi\"}}", room);
    assert_int_equal(WS_PARSE(buf), 0);
    assert_null(m.err_code);
    assert_int_equal(m.ev, COMPAT_EV_SEND);
#undef WS_PARSE
}

static void test_roles(void **state)
{
    (void)state;
    proto_server srv;
    memset(&srv, 0, sizeof srv);
    srv.service = NULL; /* --role all */
    assert_true(compat_role_serves(&srv, "user"));
    assert_true(compat_role_serves(&srv, "receiver"));
    srv.service = "receiver";
    assert_true(compat_role_serves(&srv, "receiver"));
    assert_false(compat_role_serves(&srv, "sender"));
    assert_false(compat_role_serves(&srv, "user"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_float_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_parse, setup, teardown),
    };
    return cmocka_run_group_tests_name("compat_shapes", tests, NULL, NULL);
}
