/*
 * test_chat_sender.c — the sender role's pure parts at their edges: content,
 * type, clientId, chat name and description limits (±1 byte, blank,
 * control characters, invalid UTF-8), the uuid[] literal builder (creator
 * insertion, dedupe of the creator, SENDER_MAX_IDS edge, bad entries), the
 * SQLSTATE → error-code map, CHATD_EVENT_RETENTION parsing, and events.c
 * (channel names, typing payload, envelope parsing). The mutations run
 * against real Postgres + Redis in tests/integration/sender*.test.js.
 */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "core/arena.h"

static void test_content(void **state)
{
    (void)state;
    static char buf[SENDER_CONTENT_MAX + 2];
    memset(buf, 'a', sizeof buf);
    assert_null(chat_sender_check_content(buf, SENDER_CONTENT_MAX));
    const char *m = chat_sender_check_content(buf, SENDER_CONTENT_MAX + 1);
    assert_non_null(m);
    assert_non_null(strstr(m, "10000 bytes"));
    assert_string_equal(chat_sender_check_content("", 0), "content must not be empty");
    assert_string_equal(chat_sender_check_content(NULL, 0), "content must not be empty");
    assert_string_equal(chat_sender_check_content(" \t\r\n", 4), "content must not be empty");
    assert_null(chat_sender_check_content("a\nb\tc", 5));
    assert_non_null(chat_sender_check_content("a\x01", 2));
    assert_non_null(chat_sender_check_content("a\x7f", 2));
    assert_non_null(chat_sender_check_content("\xc3", 1));     /* truncated UTF-8 */
    assert_non_null(chat_sender_check_content("\xc0\x80", 2)); /* overlong */
    assert_null(chat_sender_check_content("\xc3\xa9", 2));     /* é */
    assert_null(chat_sender_check_content("\xf0\x9f\x98\x80", 4));
}

static void test_emoji(void **state)
{
    (void)state;
    char buf[SENDER_EMOJI_MAX + 2];
    memset(buf, 'x', sizeof buf);
    assert_null(chat_sender_check_emoji(buf, SENDER_EMOJI_MAX));
    assert_non_null(chat_sender_check_emoji(buf, SENDER_EMOJI_MAX + 1));
    assert_null(chat_sender_check_emoji("\xf0\x9f\x91\x8d", 4));         /* thumbs up */
    assert_null(chat_sender_check_emoji("\xe2\x9d\xa4\xef\xb8\x8f", 6)); /* heart + VS16 */
    assert_non_null(chat_sender_check_emoji("", 0));
    assert_non_null(chat_sender_check_emoji(NULL, 0));
    assert_non_null(chat_sender_check_emoji("a b", 3));
    assert_non_null(chat_sender_check_emoji("a\n", 2));
    assert_non_null(chat_sender_check_emoji("a\x01", 2));
    assert_non_null(chat_sender_check_emoji("\xf0\x9f", 2)); /* truncated UTF-8 */
}

static void test_search_tokens(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    const char *q = "Hello, w\xc3\xb6rld! 'x'&|:*()\\\"42";
    assert_int_equal(recv_search_tokens(q, strlen(q), &b), 4);
    cd_buf_putc(&b, 0);
    assert_string_equal(b.data, "{\"Hello\",\"w\xc3\xb6rld\",\"x\",\"42\"}");
    cd_buf_reset(&b);
    assert_int_equal(recv_search_tokens("!! -- ::", 8, &b), 0);
    char many[128] = "";
    for (int i = 0; i < RECV_SEARCH_TERMS_MAX; i++)
        strcat(many, "w ");
    cd_buf_reset(&b);
    assert_int_equal(recv_search_tokens(many, strlen(many), &b), RECV_SEARCH_TERMS_MAX);
    strcat(many, "w");
    cd_buf_reset(&b);
    assert_int_equal(recv_search_tokens(many, strlen(many), &b), -1);
    cd_buf_free(&b);
}

static void test_type_client_id(void **state)
{
    (void)state;
    char buf[SENDER_CLIENT_ID_MAX + 2];
    memset(buf, 'k', sizeof buf);
    assert_null(chat_sender_check_client_id(buf, SENDER_CLIENT_ID_MAX));
    assert_non_null(chat_sender_check_client_id(buf, SENDER_CLIENT_ID_MAX + 1));
    assert_non_null(chat_sender_check_client_id("", 0));
    assert_non_null(chat_sender_check_client_id("a\nb", 3));
    memset(buf, 'x', sizeof buf);
    assert_null(chat_sender_check_type(buf, SENDER_TYPE_MAX));
    assert_non_null(chat_sender_check_type(buf, SENDER_TYPE_MAX + 1));
    assert_null(chat_sender_check_type("text", 4));
    assert_null(chat_sender_check_type("image", 5));
    assert_null(chat_sender_check_type("system", 6));
    assert_null(chat_sender_check_type("x.gift_v-2", 10));
    assert_non_null(chat_sender_check_type("Text", 4));
    assert_non_null(chat_sender_check_type("a b", 3));
    assert_non_null(chat_sender_check_type("", 0));
}

static void test_chat_fields(void **state)
{
    (void)state;
    char buf[SENDER_CHAT_DESC_MAX + 2];
    memset(buf, 'n', sizeof buf);
    assert_null(chat_sender_check_chat_name(buf, SENDER_CHAT_NAME_MAX));
    assert_non_null(chat_sender_check_chat_name(buf, SENDER_CHAT_NAME_MAX + 1));
    assert_non_null(chat_sender_check_chat_name("  ", 2));
    assert_non_null(chat_sender_check_chat_name("a\nb", 3)); /* names are one line */
    assert_null(chat_sender_check_chat_desc(buf, SENDER_CHAT_DESC_MAX));
    assert_non_null(chat_sender_check_chat_desc(buf, SENDER_CHAT_DESC_MAX + 1));
    assert_null(chat_sender_check_chat_desc(NULL, 0));
    assert_null(chat_sender_check_chat_desc("line\nline", 9));
}

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"

static gql_value str(const char *s)
{
    return gql_str_ref(s, strlen(s));
}

static void test_uuid_array(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_value *list = gql_list_new(&a, 2);
    list->u.items[0] = str(U1);
    list->u.items[1] = str(U2);
    const char *bad;
    cd_buf b;
    cd_buf_init(&b);
    assert_int_equal(chat_sender_uuid_array(&b, list, NULL, &bad), 0);
    assert_string_equal(b.data, "{" U1 "," U2 "}");
    cd_buf_reset(&b);
    /* the creator is put first unless listed already */
    const char *me = "33333333-3333-4333-8333-333333333333";
    assert_int_equal(chat_sender_uuid_array(&b, list, me, &bad), 0);
    assert_string_equal(b.data, "{33333333-3333-4333-8333-333333333333," U1 "," U2 "}");
    cd_buf_reset(&b);
    assert_int_equal(chat_sender_uuid_array(&b, list, U2, &bad), 0);
    assert_string_equal(b.data, "{" U1 "," U2 "}");
    cd_buf_reset(&b);
    assert_int_equal(chat_sender_uuid_array(&b, NULL, NULL, &bad), 0);
    assert_string_equal(b.data, "{}");
    cd_buf_reset(&b);
    /* nothing but canonical UUIDs reaches the SQL literal */
    list->u.items[1] = str(U2 "}");
    assert_int_equal(chat_sender_uuid_array(&b, list, NULL, &bad), CD_EBAD);
    assert_string_equal(bad, U2 "}");
    list->u.items[1] = str("a,b");
    assert_int_equal(chat_sender_uuid_array(&b, list, NULL, &bad), CD_EBAD);
    list->u.items[1] = gql_null();
    assert_int_equal(chat_sender_uuid_array(&b, list, NULL, &bad), CD_EBAD);
    cd_buf_reset(&b);
    /* SENDER_MAX_IDS edge */
    gql_value *big = gql_list_new(&a, SENDER_MAX_IDS + 1);
    for (uint32_t i = 0; i <= SENDER_MAX_IDS; i++)
        big->u.items[i] = str(U1);
    big->len = SENDER_MAX_IDS;
    assert_int_equal(chat_sender_uuid_array(&b, big, NULL, &bad), 0);
    cd_buf_reset(&b);
    big->len = SENDER_MAX_IDS + 1;
    assert_int_equal(chat_sender_uuid_array(&b, big, NULL, &bad), CD_ELIMIT);
    cd_buf_free(&b);
    cd_arena_free(&a);
}

static void test_sqlstate_codes(void **state)
{
    (void)state;
    assert_string_equal(chat_code_for_sqlstate("CD400"), CHAT_E_BAD_INPUT);
    assert_string_equal(chat_code_for_sqlstate("CD403"), CHAT_E_FORBIDDEN);
    assert_string_equal(chat_code_for_sqlstate("CD404"), CHAT_E_NOT_FOUND);
    assert_string_equal(chat_code_for_sqlstate("CD410"), CHAT_E_CHAT_REMOVED);
    assert_string_equal(chat_code_for_sqlstate("22P05"), CHAT_E_BAD_INPUT);
    assert_null(chat_code_for_sqlstate("23505"));
    assert_null(chat_code_for_sqlstate(""));
    assert_null(chat_code_for_sqlstate(NULL));
    /* messages: ours (class CD) kept, Postgres' own text never shown */
    assert_string_equal(chat_message_for_sqlstate("CD403", "Forbidden: not a participant"),
                        "Forbidden: not a participant");
    assert_string_equal(chat_message_for_sqlstate("22P05", "unsupported Unicode escape sequence"),
                        CHAT_MSG_BAD_VALUE);
    assert_string_equal(chat_message_for_sqlstate("CD400", ""), CHAT_MSG_BAD_VALUE);
    assert_null(chat_message_for_sqlstate("23505", "duplicate key value violates unique"));
    assert_null(chat_message_for_sqlstate("42P01", "relation \"users\" does not exist"));
    assert_null(chat_message_for_sqlstate(NULL, "x"));
}

static void test_retention(void **state)
{
    (void)state;
    assert_int_equal(chat_outbox_parse_retention(NULL), SENDER_RETENTION_DEFAULT_S);
    assert_int_equal(chat_outbox_parse_retention(""), SENDER_RETENTION_DEFAULT_S);
    assert_int_equal(chat_outbox_parse_retention("90"), 90);
    assert_int_equal(chat_outbox_parse_retention("90s"), 90);
    assert_int_equal(chat_outbox_parse_retention("5m"), 300);
    assert_int_equal(chat_outbox_parse_retention("2h"), 7200);
    assert_int_equal(chat_outbox_parse_retention("30d"), 30 * 86400);
    assert_int_equal(chat_outbox_parse_retention("1"), 1);
    assert_int_equal(chat_outbox_parse_retention("0"), -1);
    assert_int_equal(chat_outbox_parse_retention("-3"), -1);
    assert_int_equal(chat_outbox_parse_retention("3w"), -1);
    assert_int_equal(chat_outbox_parse_retention("3dd"), -1);
    assert_int_equal(chat_outbox_parse_retention("d"), -1);
    assert_int_equal(chat_outbox_parse_retention("99999999999999999d"), -1);
}

static void test_events(void **state)
{
    (void)state;
    char ch[CHAT_EV_CHANNEL_MAX];
    assert_int_equal(chat_ev_chat_channel(ch, sizeof ch, U1), 0);
    assert_string_equal(ch, "chat:" U1);
    assert_int_equal(chat_ev_eph_channel(ch, sizeof ch, U1), 0);
    assert_string_equal(ch, "chat:" U1 ":eph");
    assert_int_equal(chat_ev_user_channel(ch, sizeof ch, U2), 0);
    assert_string_equal(ch, "user:" U2);
    assert_int_equal(chat_ev_chat_channel(ch, sizeof ch, ""), CD_EBAD);
    char small[10];
    assert_int_equal(chat_ev_chat_channel(small, sizeof small, U1), CD_EBAD);
    assert_string_equal(small, "");
    /* one redis-server: the database's names go out as they are */
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "chat:" U1 ":eph"), 0);
    assert_string_equal(ch, "chat:" U1 ":eph");

    /* Redis Cluster: ids in hash tags, a chat's channels in one slot */
    chat_use_hash_tags(true);
    assert_int_equal(chat_ev_chat_channel(ch, sizeof ch, U1), 0);
    assert_string_equal(ch, "chat:{" U1 "}");
    assert_int_equal(rd_key_slot(ch, strlen(ch)), rd_key_slot(U1, strlen(U1)));
    assert_int_equal(chat_ev_eph_channel(ch, sizeof ch, U1), 0);
    assert_string_equal(ch, "chat:{" U1 "}:eph");
    assert_int_equal(rd_key_slot(ch, strlen(ch)), rd_key_slot(U1, strlen(U1)));
    assert_true(strlen(ch) < CHAT_EV_CHANNEL_MAX);
    assert_int_equal(chat_ev_user_channel(ch, sizeof ch, U2), 0);
    assert_string_equal(ch, "user:{" U2 "}");
    /* the names the SQL of the write path produces, mapped */
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "chat:" U1), 0);
    assert_string_equal(ch, "chat:{" U1 "}");
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "chat:" U1 ":eph"), 0);
    assert_string_equal(ch, "chat:{" U1 "}:eph");
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "user:" U2), 0);
    assert_string_equal(ch, "user:{" U2 "}");
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "chat:{" U1 "}:eph"), 0);
    assert_string_equal(ch, "chat:{" U1 "}:eph"); /* already tagged */
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, CHAT_EV_PRESENCE_CHANNEL), 0);
    assert_string_equal(ch, CHAT_EV_PRESENCE_CHANNEL);
    assert_int_equal(chat_ev_broker_channel(ch, sizeof ch, "chat:"), CD_EBAD);
    assert_int_equal(chat_ev_broker_channel(small, sizeof small, "chat:" U1), CD_EBAD);
    /* the prefixes the receiver routes by still match */
    assert_int_equal(chat_ev_eph_channel(ch, sizeof ch, U1), 0);
    assert_int_equal(strncmp(ch, CHAT_EV_CHAT_PREFIX, strlen(CHAT_EV_CHAT_PREFIX)), 0);
    assert_int_equal(chat_ev_user_channel(ch, sizeof ch, U2), 0);
    assert_int_equal(strncmp(ch, CHAT_EV_USER_PREFIX, strlen(CHAT_EV_USER_PREFIX)), 0);
    chat_use_hash_tags(false);
    assert_int_equal(chat_ev_chat_channel(ch, sizeof ch, U1), 0);
    assert_string_equal(ch, "chat:" U1);

    char at[32];
    chat_ev_now_iso(at);
    assert_int_equal(strlen(at), 24);
    assert_int_equal(at[10], 'T');
    assert_int_equal(at[23], 'Z');

    cd_arena a;
    cd_arena_init(&a, 4096);
    cd_buf b;
    cd_buf_init(&b);
    chat_ev_typing_json(&b, U1, U2, true, "2026-01-01T00:00:00.000Z");
    gql_value v;
    char err[64];
    assert_int_equal(gql_json_parse(&a, b.data, b.len, &v, err, sizeof err), 0);
    assert_string_equal(gql_obj_get(&v, "kind")->u.s, "typing");
    assert_string_equal(gql_obj_get(&v, "userId")->u.s, U2);
    assert_true(gql_obj_get(&v, "isTyping")->u.b);
    cd_buf_free(&b);

    chat_ev ev;
    const char *env = "{\"chatId\":\"" U1 "\",\"seq\":42,\"kind\":\"message.created\","
                      "\"at\":\"2026-11-26T16:05:08.123Z\",\"data\":{\"id\":\"m\"}}";
    assert_int_equal(chat_ev_parse(&a, env, strlen(env), &ev), 0);
    assert_string_equal(ev.chat_id, U1);
    assert_int_equal(ev.seq, 42);
    assert_string_equal(ev.kind, CHAT_EV_MESSAGE_CREATED);
    assert_string_equal(ev.at, "2026-11-26T16:05:08.123Z");
    assert_null(ev.user_id);
    assert_string_equal(gql_obj_get(ev.data, "id")->u.s, "m");
    const char *note = "{\"userId\":\"" U2 "\",\"chatId\":\"" U1 "\",\"seq\":0,\"kind\":\"unread\","
                       "\"data\":{}}";
    assert_int_equal(chat_ev_parse(&a, note, strlen(note), &ev), 0);
    assert_string_equal(ev.user_id, U2);
    assert_int_equal(ev.seq, 0);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"chatId\":\"c\",\"seq\":1,\"kind\":\"k\"}",                 /* no data */
        "{\"chatId\":\"c\",\"seq\":\"1\",\"kind\":\"k\",\"data\":{}}", /* seq not a number */
        "{\"chatId\":\"c\",\"seq\":-1,\"kind\":\"k\",\"data\":{}}",
        "{\"seq\":1,\"kind\":\"k\",\"data\":{}}",
        "{\"chatId\":\"c\",\"seq\":1,\"data\":{}}",
        "{\"chatId\":\"c\",\"seq\":1,\"kind\":\"k\",\"data\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(chat_ev_parse(&a, bad[i], strlen(bad[i]), &ev), CD_EBAD);
    cd_arena_free(&a);
}

/* The write-limit bucket (ratelimit.c) at its edges: a full bucket gives
 * exactly `burst` tokens, one more is refused with the seconds until the
 * next; refill by rate, capped at the burst. */
static void test_rate_bucket(void **state)
{
    (void)state;
    double tok = 5;
    uint64_t ts = 1000;
    uint32_t retry = 0;
    for (int i = 0; i < 5; i++)
        assert_true(chat_rate_bucket_take(&tok, &ts, 1000, 1, 5, &retry));
    assert_false(chat_rate_bucket_take(&tok, &ts, 1000, 1, 5, &retry));
    assert_int_equal(retry, 1);
    /* 999 ms later: still not a whole token */
    assert_false(chat_rate_bucket_take(&tok, &ts, 1999, 1, 5, &retry));
    assert_true(chat_rate_bucket_take(&tok, &ts, 2001, 1, 5, &retry));
    /* a long pause refills to the burst, not beyond */
    for (int i = 0; i < 5; i++)
        assert_true(chat_rate_bucket_take(&tok, &ts, 100000, 1, 5, &retry));
    assert_false(chat_rate_bucket_take(&tok, &ts, 100000, 1, 5, &retry));
    /* a slow rate: the hint is the whole wait, rounded up */
    tok = 0;
    ts = 0;
    assert_false(chat_rate_bucket_take(&tok, &ts, 0, 20, 300, &retry));
    assert_int_equal(retry, 1);
    assert_int_equal(chat_rate_kind_of("createMessage"), CHAT_RATE_MESSAGE);
    assert_int_equal(chat_rate_kind_of("setTyping"), CHAT_RATE_MUTATION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content),        cmocka_unit_test(test_type_client_id),
        cmocka_unit_test(test_chat_fields),    cmocka_unit_test(test_uuid_array),
        cmocka_unit_test(test_sqlstate_codes), cmocka_unit_test(test_retention),
        cmocka_unit_test(test_events),         cmocka_unit_test(test_rate_bucket),
        cmocka_unit_test(test_emoji),          cmocka_unit_test(test_search_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
