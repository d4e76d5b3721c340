/*
 * test_auth_password.c — argon2id hashes: round trip, mismatch, the
 * "no stored hash" path, length limits at their edges, malformed stored
 * hashes, and the off-loop contract: while a hash runs on the thread pool a
 * 1 ms timer on the loop keeps firing (the largest gap is far below the time
 * one hash takes on the loop thread, which the test measures and prints).
 * Every loop test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "auth/password.h"
#include "core/arena.h"

static void test_round_trip(void **state)
{
    (void)state;
    char h[AUTH_PW_HASH_MAX];
    assert_int_equal(auth_password_hash("correct horse", 13, h), 0);
    assert_non_null(strstr(h, "$argon2id$"));
    assert_null(strstr(h, "correct horse"));
    assert_int_equal(auth_password_verify(h, "correct horse", 13), 0);
    assert_int_equal(auth_password_verify(h, "correct hors", 12), CD_EAUTH);
    assert_int_equal(auth_password_verify(h, "Correct horse", 13), CD_EAUTH);
    /* two hashes of one password differ (random salt) */
    char h2[AUTH_PW_HASH_MAX];
    assert_int_equal(auth_password_hash("correct horse", 13, h2), 0);
    assert_string_not_equal(h, h2);
    assert_int_equal(auth_password_verify(NULL, "correct horse", 13), CD_EAUTH);
    assert_int_equal(auth_password_verify("$argon2id$garbage", "correct horse", 13), CD_EAUTH);
    assert_int_equal(auth_password_verify("", "x", 1), CD_EAUTH);
}

static void test_length_edges(void **state)
{
    (void)state;
    assert_false(auth_password_check_len(AUTH_PW_MIN_LEN - 1));
    assert_true(auth_password_check_len(AUTH_PW_MIN_LEN));
    assert_true(auth_password_check_len(AUTH_PW_MAX_LEN));
    assert_false(auth_password_check_len(AUTH_PW_MAX_LEN + 1));
    char big[AUTH_PW_MAX_LEN + 2];
    memset(big, 'a', sizeof big);
    uv_loop_t loop;
    uv_loop_init(&loop);
    assert_int_equal(auth_password_hash_async(&loop, big, AUTH_PW_MAX_LEN + 1, NULL, NULL),
                     CD_EBAD);
    assert_int_equal(auth_password_hash_async(&loop, big, AUTH_PW_MIN_LEN - 1, NULL, NULL),
                     CD_EBAD);
    assert_int_equal(auth_password_verify_async(&loop, NULL, big, AUTH_PW_MAX_LEN + 1, NULL, NULL),
                     CD_EBAD);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- off-loop: the loop keeps ticking while argon2 runs ---- */

typedef struct tick_state {
    uv_timer_t timer;
    uint64_t last_ns;
    uint64_t max_gap_ns;
    int ticks;
    int done;
    int hash_status;
    int verify_status;
    char hash[AUTH_PW_HASH_MAX];
} tick_state;

static void on_tick(uv_timer_t *t)
{
    tick_state *s = t->data;
    uint64_t now = uv_hrtime();
    if (now - s->last_ns > s->max_gap_ns) s->max_gap_ns = now - s->last_ns;
    s->last_ns = now;
    s->ticks++;
}

static void on_verified(int status, void *ud)
{
    tick_state *s = ud;
    s->verify_status = status;
    s->done = 1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, NULL);
}

static void on_hashed(int status, const char *hash, void *ud)
{
    tick_state *s = ud;
    s->hash_status = status;
    assert_non_null(hash);
    snprintf(s->hash, sizeof s->hash, "%s", hash);
    assert_int_equal(
        auth_password_verify_async(s->timer.loop, s->hash, "hunter22", 8, on_verified, s), 0);
}

static void test_off_loop(void **state)
{
    (void)state;
    /* what one hash costs when run on the calling thread */
    char h[AUTH_PW_HASH_MAX];
    uint64_t t0 = uv_hrtime();
    assert_int_equal(auth_password_hash("hunter22", 8, h), 0);
    uint64_t blocking_ns = uv_hrtime() - t0;
    t0 = uv_hrtime();
    assert_int_equal(auth_password_verify(h, "hunter22", 8), 0);
    uint64_t verify_ns = uv_hrtime() - t0;
    fprintf(stderr, "argon2id (ops=%llu, mem=%llu MiB): hash blocks %.1f ms, verify %.1f ms\n",
            AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT >> 20, blocking_ns / 1e6, verify_ns / 1e6);

    uv_loop_t loop;
    uv_loop_init(&loop);
    tick_state s = {0};
    uv_timer_init(&loop, &s.timer);
    s.timer.data = &s;
    s.last_ns = uv_hrtime();
    uv_timer_start(&s.timer, on_tick, 1, 1);
    assert_int_equal(auth_password_hash_async(&loop, "hunter22", 8, on_hashed, &s), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.hash_status, 0);
    assert_int_equal(s.verify_status, 0);
    assert_int_equal(auth_password_verify(s.hash, "hunter22", 8), 0);
    fprintf(stderr, "off-loop hash+verify: %d ticks, largest loop gap %.1f ms\n", s.ticks,
            s.max_gap_ns / 1e6);
    /* a hash and a verification ran with the loop ticking: on the loop
     * thread they would allow ~2 ticks and one gap as long as a hash; off
     * the loop the 1 ms timer keeps firing (loose bounds: CI machines are
     * loaded and ASan slows the loop) */
    assert_true(s.ticks >= 10);
    assert_true(s.max_gap_ns < blocking_ns);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_mismatch(int status, void *ud)
{
    *(int *)ud = status;
}

static void test_async_mismatch_and_no_hash(void **state)
{
    (void)state;
    char h[AUTH_PW_HASH_MAX];
    assert_int_equal(auth_password_hash("password1", 9, h), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int st1 = 99, st2 = 99, st3 = 99;
    assert_int_equal(auth_password_verify_async(&loop, h, "password2", 9, on_mismatch, &st1), 0);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st2), 0);
    assert_int_equal(auth_password_verify_async(&loop, h, "password1", 9, on_mismatch, &st3), 0);
    /* callbacks never run inside the call */
    assert_int_equal(st1, 99);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st1, CD_EAUTH);
    assert_int_equal(st2, CD_EAUTH);
    assert_int_equal(st3, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Allocation failure: the call fails with CD_ENOMEM, no callback runs,
 * nothing is left on the loop. */
static void test_alloc_failure(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int st = 99;
    cd_alloc_fail_after(1);
    assert_int_equal(auth_password_hash_async(&loop, "password1", 9, NULL, NULL), CD_ENOMEM);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st),
                     CD_ENOMEM);
    cd_alloc_fail_after(0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st, 99);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The queue bound: at the limit one more is refused (CD_ELIMIT) at once
 * with no callback; once the queue drains, calls are accepted again. */
static void test_queue_bound(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    auth_password_set_queue_max(2);
    int st[4] = {99, 99, 99, 99};
    assert_int_equal(auth_password_inflight(), 0);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st[0]),
                     0);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st[1]),
                     0);
    assert_int_equal(auth_password_inflight(), 2);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st[2]),
                     CD_ELIMIT);
    assert_int_equal(auth_password_hash_async(&loop, "password1", 9, NULL, NULL), CD_ELIMIT);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st[0], CD_EAUTH);
    assert_int_equal(st[1], CD_EAUTH);
    assert_int_equal(st[2], 99); /* refused: never called */
    assert_int_equal(auth_password_inflight(), 0);
    assert_int_equal(auth_password_verify_async(&loop, NULL, "password1", 9, on_mismatch, &st[3]),
                     0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(st[3], CD_EAUTH);
    auth_password_set_queue_max(AUTH_PW_QUEUE_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The run bound: with 1 allowed at a time, three operations queue, run one
 * by one in submission order, and the running count never exceeds the
 * bound; the default is CPUs - 1, at least 1; the setting is capped. */
typedef struct {
    int order[3];
    int n;
    unsigned max_running_seen;
} run_state;

static run_state g_run;

static void on_run_done(int status, void *ud)
{
    assert_int_equal(status, CD_EAUTH);
    g_run.order[g_run.n++] = (int)(intptr_t)ud;
    unsigned r = auth_password_running();
    if (r > g_run.max_running_seen) g_run.max_running_seen = r;
}

static void test_run_bound(void **state)
{
    (void)state;
    unsigned ncpu = uv_available_parallelism();
    auth_password_set_run_max(0);
    assert_int_equal(auth_password_run_max(), ncpu > 1 ? ncpu - 1 : 1);
    auth_password_set_run_max(AUTH_PW_RUN_MAX_LIMIT + 1);
    assert_int_equal(auth_password_run_max(), AUTH_PW_RUN_MAX_LIMIT);

    uv_loop_t loop;
    uv_loop_init(&loop);
    auth_password_set_run_max(1);
    memset(&g_run, 0, sizeof g_run);
    for (intptr_t i = 0; i < 3; i++)
        assert_int_equal(
            auth_password_verify_async(&loop, NULL, "password1", 9, on_run_done, (void *)i), 0);
    assert_int_equal(auth_password_running(), 1); /* two wait */
    assert_int_equal(auth_password_inflight(), 3);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(g_run.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(g_run.order[i], i);
    /* seen from inside each callback: the next one already started */
    assert_true(g_run.max_running_seen <= 1);
    assert_int_equal(auth_password_running(), 0);
    assert_int_equal(auth_password_inflight(), 0);
    auth_password_set_run_max(0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_length_edges),
        cmocka_unit_test(test_off_loop),      cmocka_unit_test(test_async_mismatch_and_no_hash),
        cmocka_unit_test(test_alloc_failure), cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_run_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
