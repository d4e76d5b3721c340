/*
 * test_chat_users.c — the user role's pure parts at their edges: username,
 * email and displayName validation (length limits ±1, control characters,
 * invalid UTF-8), UUID syntax, refresh-token encoding and hashing, the login
 * throttling policy (slow-down and lock thresholds, delay ceiling),
 * throttle sessions on a broker client (refusals fail open; a live round
 * trip against the test Redis records failures and clears on success),
 * control-channel message parsing, and the bounded set of disabled
 * accounts. The resolvers themselves run against real Postgres in
 * tests/integration/users.test.js.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

#include "chat/chat_internal.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/text.h"

static void test_username(void **state)
{
    (void)state;
    char buf[USER_USERNAME_MAX + 2];
    memset(buf, 'a', sizeof buf);
    assert_null(chat_user_check_username(buf, USER_USERNAME_MAX));
    assert_non_null(chat_user_check_username(buf, USER_USERNAME_MAX + 1));
    assert_null(chat_user_check_username("a", 1));
    assert_non_null(chat_user_check_username("", 0));
    assert_non_null(chat_user_check_username(NULL, 0));
    assert_non_null(chat_user_check_username(" ab", 3));
    assert_non_null(chat_user_check_username("ab ", 3));
    assert_null(chat_user_check_username("a b", 3));
    assert_non_null(chat_user_check_username("a\nb", 3));
    assert_non_null(chat_user_check_username("a\x7f", 2));
    assert_non_null(chat_user_check_username("a@b", 3));
    assert_null(chat_user_check_username("J\xc3\xbcrgen", 7)); /* ü */
    assert_non_null(chat_user_check_username("J\xc3", 2));     /* truncated */
    assert_non_null(chat_user_check_username("J\xc0\x80", 3)); /* overlong NUL */
    assert_non_null(chat_user_check_username("a\0b", 3));      /* embedded NUL */
}

static void test_email(void **state)
{
    (void)state;
    assert_null(chat_user_check_email("a@b.co", 6));
    assert_null(chat_user_check_email("first.last+tag@sub.example.org", 30));
    const char *bad[] = {"",     "plain",   "@b.co",    "a@",       "a@b",     "a@.co",
                         "a@b.", "a@@b.co", "a b@c.de", "a@b@c.de", "a\t@b.co"};
    for (unsigned i = 0; i < CD_ARRAY_LEN(bad); i++)
        assert_non_null(chat_user_check_email(bad[i], strlen(bad[i])));
    char big[USER_EMAIL_MAX + 2];
    memset(big, 'e', sizeof big);
    memcpy(big + USER_EMAIL_MAX - 5, "@x.io", 5);
    assert_null(chat_user_check_email(big, USER_EMAIL_MAX));
    big[USER_EMAIL_MAX - 6] = 'e';
    memcpy(big + USER_EMAIL_MAX - 4, "@x.io", 5);
    assert_non_null(chat_user_check_email(big, USER_EMAIL_MAX + 1));
}

static void test_display_name(void **state)
{
    (void)state;
    char buf[USER_DISPLAY_NAME_MAX + 1];
    memset(buf, 'd', sizeof buf);
    assert_null(chat_user_check_display_name(buf, USER_DISPLAY_NAME_MAX));
    assert_non_null(chat_user_check_display_name(buf, USER_DISPLAY_NAME_MAX + 1));
    assert_null(chat_user_check_display_name("", 0));
    assert_non_null(chat_user_check_display_name("x\r", 2));
}

static void test_uuid(void **state)
{
    (void)state;
    assert_true(cd_uuid_valid("425af4f3-c8d3-4f07-b8d0-a24cde78766d", 36));
    assert_true(cd_uuid_valid("425AF4F3-C8D3-4F07-B8D0-A24CDE78766D", 36));
    assert_false(cd_uuid_valid("425af4f3-c8d3-4f07-b8d0-a24cde78766", 35));
    assert_false(cd_uuid_valid("425af4f3-c8d3-4f07-b8d0-a24cde78766dd", 37));
    assert_false(cd_uuid_valid("425af4f3xc8d3-4f07-b8d0-a24cde78766d", 36));
    assert_false(cd_uuid_valid("g25af4f3-c8d3-4f07-b8d0-a24cde78766d", 36));
    assert_false(cd_uuid_valid(NULL, 0));
}

static void test_refresh_tokens(void **state)
{
    (void)state;
    char a[USER_RT_TEXT_LEN + 1], b[USER_RT_TEXT_LEN + 1];
    chat_rt_new(a);
    chat_rt_new(b);
    assert_int_equal(strlen(a), USER_RT_TEXT_LEN);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < USER_RT_TEXT_LEN; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    char h1[USER_RT_HASH_LEN + 1], h2[USER_RT_HASH_LEN + 1];
    chat_rt_hash(a, strlen(a), h1);
    chat_rt_hash(a, strlen(a), h2);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), USER_RT_HASH_LEN);
    chat_rt_hash("abc", 3, h1);
    assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* the shape check of presented tokens, at its edges */
    assert_true(chat_rt_shape_ok(a, strlen(a)));
    assert_false(chat_rt_shape_ok(a, strlen(a) - 1));
    assert_false(chat_rt_shape_ok(NULL, 0));
    char c[USER_RT_TEXT_LEN + 2];
    memcpy(c, a, USER_RT_TEXT_LEN);
    c[USER_RT_TEXT_LEN] = 'A';
    assert_false(chat_rt_shape_ok(c, USER_RT_TEXT_LEN + 1));
    c[5] = '+'; /* standard base64, not base64url */
    assert_false(chat_rt_shape_ok(c, USER_RT_TEXT_LEN));
    c[5] = '\0';
    assert_false(chat_rt_shape_ok(c, USER_RT_TEXT_LEN));
}

static void test_throttle_policy(void **state)
{
    (void)state;
    assert_int_equal(chat_throttle_delay_ms(0, 0), 0);
    assert_int_equal(chat_throttle_delay_ms(LOGIN_SLOW_AFTER_USER - 1, 0), 0);
    assert_int_equal(chat_throttle_delay_ms(LOGIN_SLOW_AFTER_USER, 0), LOGIN_SLOW_STEP_MS);
    assert_int_equal(chat_throttle_delay_ms(LOGIN_SLOW_AFTER_USER + 1, 0), 2 * LOGIN_SLOW_STEP_MS);
    assert_int_equal(chat_throttle_delay_ms(0, LOGIN_SLOW_AFTER_ADDR - 1), 0);
    assert_int_equal(chat_throttle_delay_ms(0, LOGIN_SLOW_AFTER_ADDR), LOGIN_SLOW_STEP_MS);
    assert_int_equal(chat_throttle_delay_ms(1000, 0), LOGIN_SLOW_MAX_MS);
    assert_int_equal(chat_throttle_delay_ms(0, 1000000), LOGIN_SLOW_MAX_MS);
    /* the larger of the two */
    assert_int_equal(chat_throttle_delay_ms(LOGIN_SLOW_AFTER_USER, LOGIN_SLOW_AFTER_ADDR + 2),
                     3 * LOGIN_SLOW_STEP_MS);
    assert_false(chat_throttle_locked(LOGIN_LOCK_USER - 1, LOGIN_LOCK_ADDR - 1));
    assert_true(chat_throttle_locked(LOGIN_LOCK_USER, 0));
    assert_true(chat_throttle_locked(0, LOGIN_LOCK_ADDR));
    /* the slow phase comes before the lock */
    assert_true(LOGIN_SLOW_AFTER_USER < LOGIN_LOCK_USER);
    assert_true(LOGIN_SLOW_AFTER_ADDR < LOGIN_LOCK_ADDR);
}

static void on_never(void *ud, int status, bool refused, long uf, long af, long retry)
{
    (void)ud;
    (void)status;
    (void)refused;
    (void)uf;
    (void)af;
    (void)retry;
    fail_msg("callback must not run");
}

/* ---- throttle sessions on a broker client ---- */

typedef struct rl_env {
    uv_loop_t loop;
    rd_client *rd;
    bool up;
    int closed;
} rl_env;

static void rl_msg(void *ud, const char *ch, size_t chlen, const char *data, size_t len)
{
    (void)ud;
    (void)ch;
    (void)chlen;
    (void)data;
    (void)len;
}

static void rl_state(void *ud, bool up)
{
    ((rl_env *)ud)->up = up;
}

static void rl_closed(void *ud)
{
    ((rl_env *)ud)->closed = 1;
}

static void rl_env_open(rl_env *e, const char *url)
{
    memset(e, 0, sizeof *e);
    uv_loop_init(&e->loop);
    rd_callbacks cbs = {.on_message = rl_msg, .on_state = rl_state, .ud = e};
    assert_int_equal(rd_client_new(&e->loop, url, &cbs, &e->rd), 0);
}

static void rl_env_close(rl_env *e)
{
    rd_client_close(e->rd, rl_closed, e);
    e->rd = NULL;
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(e->closed, 1);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

/* No client, a disconnected client, no memory: NULL (not throttled), no
 * callback, nothing left on the loop. */
static void test_throttle_open_refusals(void **state)
{
    (void)state;
    rl_env e;
    rl_env_open(&e, "redis://127.0.0.1:1"); /* nobody listens: never up */
    rd_client *none = NULL;
    assert_null(chat_rl_open(&e.loop, NULL, "u", 1, "127.0.0.1", on_never, NULL));
    assert_null(chat_rl_open(&e.loop, &none, "u", 1, "127.0.0.1", on_never, NULL));
    assert_null(chat_rl_open(&e.loop, &e.rd, "u", 1, "127.0.0.1", on_never, NULL));
    cd_alloc_fail_after(1);
    assert_null(chat_rl_open(&e.loop, &e.rd, "u", 1, "127.0.0.1", on_never, NULL));
    cd_alloc_fail_after(0);
    rl_env_close(&e);
}

typedef struct rl_probe {
    int calls;
    int status;
    bool refused;
    long uf, af, retry;
    chat_rl *s;
    chat_rl_outcome outcome;
} rl_probe;

static void on_checked(void *ud, int status, bool refused, long uf, long af, long retry)
{
    rl_probe *p = ud;
    p->calls++;
    p->status = status;
    p->refused = refused;
    p->uf = uf;
    p->af = af;
    p->retry = retry;
    chat_rl_finish(p->s, p->outcome);
}

static void run_until_calls(rl_env *e, rl_probe *p)
{
    uint64_t t0 = uv_hrtime();
    while (p->calls == 0) {
        uv_run(&e->loop, UV_RUN_ONCE);
        if (uv_hrtime() - t0 > 5000000000ull) fail_msg("no check callback");
    }
}

/* One session against the test Redis: counters read, a failure recorded
 * (both keys +1 with the window), the next session sees it; a success
 * clears the username's key. */
static void test_throttle_live(void **state)
{
    (void)state;
    const char *url = test_env_or_skip("CHATD_TEST_REDIS_URL");
    rl_env e;
    rl_env_open(&e, url);
    uint64_t t0 = uv_hrtime();
    while (!e.up) {
        uv_run(&e.loop, UV_RUN_ONCE);
        if (uv_hrtime() - t0 > 5000000000ull) fail_msg("redis did not come up");
    }
    char name[64], addr[64];
    snprintf(name, sizeof name, "UnitUser%llu", (unsigned long long)uv_hrtime());
    snprintf(addr, sizeof addr, "10.9.%u.%u", (unsigned)(t0 % 200), (unsigned)(t0 / 7 % 200));
    for (int round = 0; round < 3; round++) {
        rl_probe p = {.outcome = round < 2 ? CHAT_RL_FAILED : CHAT_RL_OK};
        p.s = chat_rl_open(&e.loop, &e.rd, name, strlen(name), addr, on_checked, &p);
        assert_non_null(p.s);
        assert_int_equal(p.calls, 0); /* never inside open */
        run_until_calls(&e, &p);
        assert_int_equal(p.status, 0);
        assert_int_equal(p.uf, round); /* 0, 1, 2 failures so far */
        assert_int_equal(p.af, round);
        assert_int_equal(p.retry, 0);
    }
    /* the success cleared the name, not the address */
    rl_probe p = {.outcome = CHAT_RL_NONE};
    p.s = chat_rl_open(&e.loop, &e.rd, name, strlen(name), addr, on_checked, &p);
    assert_non_null(p.s);
    run_until_calls(&e, &p);
    assert_int_equal(p.uf, 0);
    assert_int_equal(p.af, 2);
    assert_false(p.refused);
    /* the attempt without a verdict gave its slots back; at the lock limit
     * the next attempt is refused with the window's remaining seconds */
    for (int i = 0; i < LOGIN_LOCK_USER; i++) {
        rl_probe q = {.outcome = CHAT_RL_FAILED};
        q.s = chat_rl_open(&e.loop, &e.rd, name, strlen(name), addr, on_checked, &q);
        run_until_calls(&e, &q);
        assert_false(q.refused);
        assert_int_equal(q.uf, i);
    }
    rl_probe q = {.outcome = CHAT_RL_NONE};
    q.s = chat_rl_open(&e.loop, &e.rd, name, strlen(name), addr, on_checked, &q);
    run_until_calls(&e, &q);
    assert_true(q.refused);
    assert_int_equal(q.uf, LOGIN_LOCK_USER);
    assert_true(q.retry > 0 && q.retry <= LOGIN_FAIL_WINDOW_S);
    rl_env_close(&e);
}

/* Sign-ups per address: `limit` pass, the next is refused with retryAfter;
 * limit 0 (unlimited) opens no session. */
static void test_signup_limit(void **state)
{
    (void)state;
    const char *url = test_env_or_skip("CHATD_TEST_REDIS_URL");
    rl_env e;
    rl_env_open(&e, url);
    uint64_t t0 = uv_hrtime();
    while (!e.up) {
        uv_run(&e.loop, UV_RUN_ONCE);
        if (uv_hrtime() - t0 > 5000000000ull) fail_msg("redis did not come up");
    }
    char addr[64];
    snprintf(addr, sizeof addr, "10.8.%u.%u", (unsigned)(t0 % 200), (unsigned)(t0 / 7 % 200));
    assert_null(chat_rl_open_signup(&e.loop, &e.rd, addr, 0, on_never, NULL));
    for (int i = 0; i < 3; i++) {
        rl_probe p = {.outcome = CHAT_RL_FAILED};
        p.s = chat_rl_open_signup(&e.loop, &e.rd, addr, 2, on_checked, &p);
        assert_non_null(p.s);
        run_until_calls(&e, &p);
        assert_int_equal(p.status, 0);
        assert_int_equal(p.refused, i == 2);
        assert_int_equal(p.uf, i);
        if (i == 2) assert_true(p.retry > 0 && p.retry <= CD_SIGNUP_WINDOW_S);
    }
    rl_env_close(&e);
}

static proto_caller tok_caller(const char *id, int64_t ver)
{
    proto_caller c;
    proto_caller_init(&c, NULL);
    c.user_id = id;
    c.authenticated = true;
    c.token_ver = ver;
    return c;
}

static void test_control_messages(void **state)
{
    (void)state;
    chat_revoked_reset();
    proto_server srv;
    memset(&srv, 0, sizeof srv);
    const char *id = "425af4f3-c8d3-4f07-b8d0-a24cde78766d";
    proto_caller c0 = tok_caller(id, 0), c2 = tok_caller(id, 2), c3 = tok_caller(id, 3);
    const char *rev = "{\"kind\":\"tokens_revoked\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-"
                      "a24cde78766d\",\"ver\":3}";
    assert_int_equal(chat_control_handle(&srv, rev, strlen(rev)), 0);
    assert_true(chat_token_revoked(&c0));
    assert_true(chat_token_revoked(&c2));
    assert_false(chat_token_revoked(&c3)); /* issued after the bump */
    c0.trust = true;                       /* trust mode: only a removal counts */
    assert_false(chat_token_revoked(&c0));
    const char *ok = "{\"kind\":\"user_disabled\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-"
                     "a24cde78766d\",\"ver\":4}";
    assert_int_equal(chat_control_handle(&srv, ok, strlen(ok)), 0);
    assert_true(chat_token_revoked(&c0));
    assert_true(chat_token_revoked(&c3));
    /* without "ver" (an older sender): accepted, sockets closed, version unknown */
    const char *old =
        "{\"kind\":\"user_disabled\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-a24cde78766d\"}";
    assert_int_equal(chat_control_handle(&srv, old, strlen(old)), 0);
    const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"kind\":\"user_disabled\"}",
        "{\"kind\":\"user_disabled\",\"userId\":\"not-a-uuid\"}",
        "{\"kind\":\"other\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-a24cde78766d\"}",
        "{\"kind\":1,\"userId\":\"425af4f3-c8d3-4f07-b8d0-a24cde78766d\"}",
        "{\"kind\":\"tokens_revoked\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-a24cde78766d\","
        "\"ver\":-1}",
        "{\"kind\":\"tokens_revoked\",\"userId\":\"425af4f3-c8d3-4f07-b8d0-a24cde78766d\","
        "\"ver\":\"3\"}",
    };
    for (unsigned i = 0; i < CD_ARRAY_LEN(bad); i++)
        assert_int_equal(chat_control_handle(&srv, bad[i], strlen(bad[i])), CD_EBAD);
    char big[2048];
    memset(big, ' ', sizeof big);
    memcpy(big, ok, strlen(ok));
    assert_int_equal(chat_control_handle(&srv, big, sizeof big), CD_EBAD);
    chat_revoked_reset();
}

/* The revoked-token set: versions, expiry, churn (the old per-process ring
 * forgot an entry after 4096 newer ones), and its bound. */
static void test_revoked_set(void **state)
{
    (void)state;
    chat_revoked_reset();
    const char *a = "11111111-1111-4111-8111-111111111111";
    const char *b = "22222222-2222-4222-8222-222222222222";
    proto_caller ca = tok_caller(a, 0), cb = tok_caller(b, 0);
    assert_false(chat_token_revoked(&ca));
    chat_revoked_note(a, 1, false, 0);
    assert_true(chat_token_revoked(&ca));
    proto_caller upper = tok_caller("11111111-1111-4111-8111-111111111111", 1);
    assert_false(chat_token_revoked(&upper)); /* ver 1 tokens are the current ones */
    chat_revoked_note(a, 0, false, 0);        /* a lower version never lowers the bar */
    ca.token_ver = 0;
    assert_true(chat_token_revoked(&ca));
    assert_false(chat_token_revoked(&cb));
    assert_false(chat_token_revoked(NULL));
    /* an entry past its window no longer counts; one inside it does */
    int64_t now = (int64_t)time(NULL);
    chat_revoked_note(b, 1, false, now - 1);
    assert_false(chat_token_revoked(&cb));
    chat_revoked_note(b, 1, false, now + 5);
    assert_true(chat_token_revoked(&cb));
    chat_revoked_note("short", 1, true, 0); /* not an id: ignored */
    assert_int_equal(chat_revoked_count(), 2);
    /* churn: 10000 more accounts, the first is still refused */
    char id[37];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "33333333-3333-4333-8333-%012d", i);
        chat_revoked_note(id, 1, false, 0);
    }
    assert_true(chat_token_revoked(&ca));
    proto_caller c9 = tok_caller(id, 0);
    assert_true(chat_token_revoked(&c9));
    assert_int_equal(chat_revoked_count(), 10002);
    /* bounded at CHAT_REVOKED_MAX: one more is not kept (logged), the others stay */
    for (int i = 10000; i < CHAT_REVOKED_MAX - 2; i++) {
        snprintf(id, sizeof id, "33333333-3333-4333-8333-%012d", i);
        chat_revoked_note(id, 1, false, 0);
    }
    assert_int_equal(chat_revoked_count(), CHAT_REVOKED_MAX);
    snprintf(id, sizeof id, "44444444-4444-4444-8444-%012d", 1);
    chat_revoked_note(id, 1, false, 0);
    assert_int_equal(chat_revoked_count(), CHAT_REVOKED_MAX);
    proto_caller over = tok_caller(id, 0);
    assert_false(chat_token_revoked(&over));
    assert_true(chat_token_revoked(&ca));
    chat_revoked_reset();
    assert_int_equal(chat_revoked_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_display_name),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_refresh_tokens),
        cmocka_unit_test(test_throttle_policy),
        cmocka_unit_test(test_throttle_open_refusals),
        cmocka_unit_test(test_throttle_live),
        cmocka_unit_test(test_signup_limit),
        cmocka_unit_test(test_control_messages),
        cmocka_unit_test(test_revoked_set),
    };
    return test_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
