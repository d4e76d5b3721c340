/*
 * test_protocol_server.c — shutdown hooks: registration order, the limit at
 * its edge, run-once semantics; mounted routes (matching, the limit); the public-field table used
 * for the token mode decision; operation ids stored as UUID bytes (forms, round
 * trip, near-UUIDs) and the pool class an operation takes per id form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/pool.h"
#include "protocol/protocol.h"
#include "protocol/subscribe.h"
#include "protocol/subscribe_internal.h"

static char order[64];

static void hook(proto_server *srv, void *ud)
{
    (void)srv;
    size_t n = strlen(order);
    order[n] = (char)(intptr_t)ud;
    order[n + 1] = 0;
}

static void test_hooks_order_and_once(void **state)
{
    (void)state;
    proto_server srv;
    memset(&srv, 0, sizeof srv);
    order[0] = 0;
    assert_int_equal(proto_on_shutdown(&srv, hook, (void *)(intptr_t)'a'), 0);
    assert_int_equal(proto_on_shutdown(&srv, hook, (void *)(intptr_t)'b'), 0);
    assert_int_equal(proto_on_shutdown(&srv, NULL, NULL), CD_EBAD);
    proto_run_shutdown_hooks(&srv);
    assert_string_equal(order, "ab");
    proto_run_shutdown_hooks(&srv);
    assert_string_equal(order, "ab");
}

static void test_hooks_limit(void **state)
{
    (void)state;
    proto_server srv;
    memset(&srv, 0, sizeof srv);
    order[0] = 0;
    for (unsigned i = 0; i < PROTO_MAX_SHUTDOWN_HOOKS; i++)
        assert_int_equal(proto_on_shutdown(&srv, hook, (void *)(intptr_t)'x'), 0);
    assert_int_equal(proto_on_shutdown(&srv, hook, (void *)(intptr_t)'y'), CD_ELIMIT);
    proto_run_shutdown_hooks(&srv);
    assert_int_equal(strlen(order), PROTO_MAX_SHUTDOWN_HOOKS);
    assert_null(strchr(order, 'y'));
}

static bool route_fn(proto_server *srv, http_request *req, const char *cors, void *ud)
{
    (void)srv;
    (void)req;
    (void)cors;
    (void)ud;
    return true;
}

static void test_routes_match_and_limit(void **state)
{
    (void)state;
    proto_server srv;
    memset(&srv, 0, sizeof srv);
    assert_int_equal(proto_route_add(&srv, NULL, NULL, route_fn, NULL), CD_EBAD);
    assert_int_equal(proto_route_add(&srv, "", NULL, route_fn, NULL), CD_EBAD);
    assert_int_equal(proto_route_add(&srv, "/ws", NULL, NULL, NULL), CD_EBAD);
    assert_int_equal(proto_route_add(&srv, "/ws", NULL, route_fn, (void *)1), 0);
    assert_int_equal(proto_route_add(&srv, "/api/v1/", "GET, DELETE", route_fn, (void *)2), 0);
    /* exact paths match only themselves; a trailing '/' matches below it */
    assert_ptr_equal(proto_route_match(&srv, "/ws")->ud, (void *)1);
    assert_null(proto_route_match(&srv, "/wsx"));
    assert_null(proto_route_match(&srv, "/ws/"));
    assert_ptr_equal(proto_route_match(&srv, "/api/v1/chat/rooms")->ud, (void *)2);
    assert_string_equal(proto_route_match(&srv, "/api/v1/")->methods, "GET, DELETE");
    assert_string_equal(proto_route_match(&srv, "/ws")->methods, "GET, POST, OPTIONS");
    assert_null(proto_route_match(&srv, "/api/v1"));
    assert_null(proto_route_match(&srv, "/graphql"));
    for (unsigned i = srv.nroutes; i < PROTO_MAX_ROUTES; i++)
        assert_int_equal(proto_route_add(&srv, "/x", NULL, route_fn, NULL), 0);
    assert_int_equal(proto_route_add(&srv, "/y", NULL, route_fn, NULL), CD_ELIMIT);
    assert_null(proto_route_match(&srv, "/y"));
}

static void test_public_fields(void **state)
{
    (void)state;
    for (const char *const *f = (const char *const[]){"health", "__typename", "__schema", "__type",
                                                      "createUser", "login", "refreshToken", NULL};
         *f; f++)
        assert_true(proto_field_is_public(*f));
    assert_false(proto_field_is_public("me"));
    assert_false(proto_field_is_public("users"));
    assert_false(proto_field_is_public("createMessage"));
    assert_false(proto_field_is_public("logout"));
    assert_false(proto_field_is_public("Health"));
    assert_false(proto_field_is_public(""));
}

/* The client address: X-Forwarded-For only from a trusted peer, read right
 * to left past trusted hops, over every such header in order. */
static void test_client_addr(void **state)
{
    (void)state;
    char out[PROTO_MAX_CLIENT_IP + 1];
#define H(v)                                                                                       \
    {                                                                                              \
        "X-Forwarded-For", v, 15, sizeof v - 1                                                     \
    }
    const http_header one[] = {{"Host", "x", 4, 1}, H("6.6.6.6, 203.0.113.9")};
    /* untrusted peer: the header is ignored */
    proto_client_addr(NULL, "198.51.100.1", one, 2, out, sizeof out);
    assert_string_equal(out, "198.51.100.1");
    proto_client_addr("10.0.0.0/8", "198.51.100.1", one, 2, out, sizeof out);
    assert_string_equal(out, "198.51.100.1");
    /* trusted peer: the rightmost hop that is not a trusted proxy */
    proto_client_addr("10.0.0.0/8", "10.0.0.2", one, 2, out, sizeof out);
    assert_string_equal(out, "203.0.113.9");
    const http_header chain[] = {H("6.6.6.6, 203.0.113.9, 10.0.0.7")};
    proto_client_addr("10.0.0.0/8", "10.0.0.2", chain, 1, out, sizeof out);
    assert_string_equal(out, "203.0.113.9");
    /* every hop trusted: the leftmost */
    const http_header inner[] = {H("10.1.1.1,10.0.0.7")};
    proto_client_addr("10.0.0.0/8", "10.0.0.2", inner, 1, out, sizeof out);
    assert_string_equal(out, "10.1.1.1");
    /* a malformed hop: the last valid one right of it */
    const http_header junk[] = {H("unknown, 10.0.0.7")};
    proto_client_addr("10.0.0.0/8", "10.0.0.2", junk, 1, out, sizeof out);
    assert_string_equal(out, "10.0.0.7");
    /* two headers (a proxy that adds its own line): the last one is read first */
    const http_header two[] = {H("6.6.6.6"), {"x-forwarded-for", "203.0.113.5", 15, 11}};
    proto_client_addr("10.0.0.0/8", "10.0.0.2", two, 2, out, sizeof out);
    assert_string_equal(out, "203.0.113.5");
    /* no header from a trusted peer: the peer */
    proto_client_addr("10.0.0.0/8", "10.0.0.2", one, 1, out, sizeof out);
    assert_string_equal(out, "10.0.0.2");
    /* empty elements are skipped; IPv6 */
    const http_header v6[] = {H("2001:db8::5 , ,")};
    proto_client_addr("::1", "::1", v6, 1, out, sizeof out);
    assert_string_equal(out, "2001:db8::5");
    proto_client_addr("::1", NULL, v6, 1, out, sizeof out);
    assert_string_equal(out, "");
#undef H
}

static void test_caller_strings(void **state)
{
    (void)state;
    proto_caller c;
    proto_caller_init(&c, NULL);
    assert_string_equal(c.user_id, "");
    assert_string_equal(c.username, "");
    assert_string_equal(c.client_ip, "");
    /* heap mode: replaced values are freed (ASan would report leaks) */
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, "u-1", 3), 0);
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, "u-22", 4), 0);
    assert_string_equal(c.user_id, "u-22");
    char big[PROTO_MAX_USER_ID + 2];
    memset(big, 'a', sizeof big);
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, big, PROTO_MAX_USER_ID), 0);
    assert_int_equal(strlen(c.user_id), PROTO_MAX_USER_ID);
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, big, PROTO_MAX_USER_ID + 1),
                     0);
    assert_string_equal(c.user_id, ""); /* over the limit: unknown, not truncated */
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USERNAME, "ann", 3), 0);
    assert_string_equal(c.user_id, "");
    assert_string_equal(c.username, "ann");
    /* user id and username share one block; setting one keeps the other */
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, "u-3", 3), 0);
    assert_ptr_equal(c.user_id, c.names);
    assert_ptr_equal(c.username, c.names + 4);
    assert_string_equal(c.user_id, "u-3");
    assert_string_equal(c.username, "ann");
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USERNAME, c.user_id, 3), 0);
    assert_string_equal(c.username, "u-3"); /* copied from the old block */
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, "", 0), 0);
    assert_string_equal(c.user_id, "");
    assert_string_equal(c.username, "u-3");
    /* no memory: the field is "", the other one stays */
    cd_alloc_fail_after(1);
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USER_ID, "u-4", 3), CD_ENOMEM);
    cd_alloc_fail_after(0);
    assert_string_equal(c.user_id, "");
    assert_string_equal(c.username, "u-3");
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_CLIENT_IP, "10.0.0.1", 8), 0);
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USERNAME, NULL, 0), 0);
    assert_null(c.names);
    assert_string_equal(c.client_ip, "10.0.0.1");
    assert_int_equal(proto_caller_set(&c, NULL, PROTO_CALLER_USERNAME, "bo", 2), 0);
    proto_caller_free(&c);
    assert_null(c.names);
    assert_string_equal(c.username, "");
    /* arena mode */
    cd_arena a;
    cd_arena_init(&a, 256);
    proto_caller_init(&c, NULL);
    assert_int_equal(proto_caller_set(&c, &a, PROTO_CALLER_CLIENT_IP, "127.0.0.1", 9), 0);
    assert_string_equal(c.client_ip, "127.0.0.1");
    cd_arena_free(&a);
}

static int src_start(proto_sub *sub, const gql_value *args, const proto_caller *caller, void *ud,
                     void **state, const char **code, char *err, size_t errlen)
{
    (void)sub, (void)args, (void)caller, (void)ud, (void)state, (void)code, (void)err, (void)errlen;
    return 0;
}

static void src_stop(void *state, void *ud)
{
    (void)state, (void)ud;
}

static void test_source_registry(void **state)
{
    (void)state;
    static char names[PROTO_SUB_MAX_SOURCES + 1][16];
    proto_sub_registry_clear();
    for (unsigned i = 0; i < PROTO_SUB_MAX_SOURCES; i++) {
        snprintf(names[i], sizeof names[i], "field%u", i);
        assert_int_equal(proto_sub_register(names[i], src_start, src_stop, NULL), 0);
    }
    snprintf(names[PROTO_SUB_MAX_SOURCES], 16, "onemore");
    assert_int_equal(proto_sub_register(names[PROTO_SUB_MAX_SOURCES], src_start, src_stop, NULL),
                     CD_ELIMIT);
    assert_int_equal(proto_sub_register("field3", src_start, src_stop, NULL), CD_EEXIST);
    assert_int_equal(proto_sub_register("x", NULL, src_stop, NULL), CD_EBAD);
    const proto_sub_source *s = proto_sub_lookup("field7");
    assert_non_null(s);
    assert_string_equal(s->field, "field7");
    assert_ptr_equal(s->start, src_start);
    assert_null(proto_sub_lookup("onemore"));
    proto_sub_registry_clear();
    assert_null(proto_sub_lookup("field7"));
}

/* The pool's 16-byte class of an allocation of n bytes. */
static size_t pool_class(size_t n)
{
    return (n + 15) / 16 * 16;
}

static void expect_uuid(const char *id, proto_opid_form want)
{
    uint8_t bin[PROTO_OPID_BIN];
    assert_int_equal(proto_opid_pack(id, strlen(id), bin), want);
    char out[PROTO_OPID_UUID_LEN + 1];
    proto_opid_unpack(want, bin, out);
    assert_string_equal(out, id); /* echoed byte for byte */
}

static void expect_text(const char *id, size_t len)
{
    uint8_t bin[PROTO_OPID_BIN];
    assert_int_equal(proto_opid_pack(id, len, bin), PROTO_OPID_TEXT);
}

static void test_opid_forms(void **state)
{
    (void)state;
    expect_uuid("0f8fad5b-d9cb-469f-a165-70867728950e", PROTO_OPID_UUID_LOWER);
    expect_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E", PROTO_OPID_UUID_UPPER);
    expect_uuid("12345678-1234-4234-8234-123456789012", PROTO_OPID_UUID_LOWER); /* no letters */
    expect_uuid("00000000-0000-0000-0000-000000000000", PROTO_OPID_UUID_LOWER);
    expect_uuid("ffffffff-ffff-ffff-ffff-ffffffffffff", PROTO_OPID_UUID_LOWER);
    /* the lower and upper case forms of one UUID are different ids */
    uint8_t lo[PROTO_OPID_BIN], up[PROTO_OPID_BIN];
    assert_int_not_equal(proto_opid_pack("0f8fad5b-d9cb-469f-a165-70867728950e", 36, lo),
                         proto_opid_pack("0F8FAD5B-D9CB-469F-A165-70867728950E", 36, up));
    assert_memory_equal(lo, up, PROTO_OPID_BIN);
    /* mixed case, near-UUIDs and other ids stay text */
    const char *text[] = {
        "0f8fad5b-d9cb-469f-a165-70867728950E",  /* mixed case */
        "0F8FAD5B-d9cb-469f-a165-70867728950e",  /* mixed case */
        "0f8fad5b-d9cb-469f-a165-70867728950",   /* 35 chars */
        "0f8fad5b-d9cb-469f-a165-70867728950e0", /* 37 chars */
        "0f8fad5b-d9cb-469f-a165-70867728950g",  /* not hex */
        "0f8fad5b-d9cb-469f-a165-70867728950 ",  /* not hex */
        "0f8fad5bd-9cb-469f-a165-70867728950e",  /* dash misplaced */
        "0f8fad5b-d9cb-469f-a165_70867728950e",  /* not a dash */
        "0f8fad5b0d9cb0469f0a165070867728950e",  /* no dashes, 36 chars */
        "{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5bd9cb469fa16570867728950e", "1", "",
    };
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        expect_text(text[i], strlen(text[i]));
    /* an embedded NUL is not a hex digit */
    expect_text("0f8fad5b-d9cb-469f-a165-70867728950\0", 36);
}

static void test_opid_pool_class(void **state)
{
    (void)state;
    /* numbered ids ("1") and graphql-ws UUIDs in either case: the 96 and 112 classes */
    assert_int_equal(pool_class(proto_sub_alloc_size("1", 1)), 96);
    assert_int_equal(pool_class(proto_sub_alloc_size("0f8fad5b-d9cb-469f-a165-70867728950e", 36)),
                     112);
    assert_int_equal(pool_class(proto_sub_alloc_size("0F8FAD5B-D9CB-469F-A165-70867728950E", 36)),
                     112);
    /* a mixed-case UUID is text: 36 chars and a NUL */
    size_t mixed = proto_sub_alloc_size("0f8fad5b-d9cb-469f-a165-70867728950E", 36);
    assert_int_equal(mixed, proto_sub_alloc_size("1", 1) + 35);
    assert_int_equal(pool_class(mixed), 144);
    /* the longest id still fits the pool */
    static char longest[GQLWS_MAX_ID_LEN + 1];
    memset(longest, 'x', GQLWS_MAX_ID_LEN);
    assert_true(proto_sub_alloc_size(longest, GQLWS_MAX_ID_LEN) <= CD_POOL_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_order_and_once),   cmocka_unit_test(test_hooks_limit),
        cmocka_unit_test(test_routes_match_and_limit), cmocka_unit_test(test_public_fields),
        cmocka_unit_test(test_caller_strings),         cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_source_registry),        cmocka_unit_test(test_opid_forms),
        cmocka_unit_test(test_opid_pool_class),
    };
    return cmocka_run_group_tests_name("protocol_server", tests, NULL, NULL);
}
