/*
 * test_core_deadline.c — the deadline heap (core/deadline.h): pops come
 * out earliest first and only when due, moves (earlier and later) and
 * clears anywhere in the heap keep the order, checked against a brute-force
 * model over random operations; growth failure leaves the node unqueued;
 * reserve makes later sets infallible; the array shrinks after a burst.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/core.h"
#include "core/deadline.h"

static void test_order_and_due(void **state)
{
    (void)state;
    cd_deadlines q = {0};
    cd_deadline a = {0}, b = {0}, c = {0};
    assert_null(cd_deadlines_first(&q));
    assert_null(cd_deadlines_pop(&q, 1000));
    assert_int_equal(cd_deadline_set(&q, &a, 30), 0);
    assert_int_equal(cd_deadline_set(&q, &b, 10), 0);
    assert_int_equal(cd_deadline_set(&q, &c, 20), 0);
    assert_true(cd_deadline_queued(&a));
    assert_ptr_equal(cd_deadlines_first(&q), &b);
    assert_null(cd_deadlines_pop(&q, 9)); /* not due yet */
    assert_ptr_equal(cd_deadlines_pop(&q, 10), &b);
    assert_false(cd_deadline_queued(&b));
    /* move a before c, then c later than a */
    assert_int_equal(cd_deadline_set(&q, &a, 15), 0);
    assert_ptr_equal(cd_deadlines_first(&q), &a);
    assert_int_equal(cd_deadline_set(&q, &a, 25), 0);
    assert_ptr_equal(cd_deadlines_first(&q), &c);
    cd_deadline_clear(&q, &c);
    cd_deadline_clear(&q, &c); /* not queued: no effect */
    assert_ptr_equal(cd_deadlines_pop(&q, 100), &a);
    assert_null(cd_deadlines_pop(&q, 100));
    assert_int_equal(q.n, 0);
    cd_deadline_set(&q, &a, 5);
    cd_deadlines_free(&q); /* nodes become unqueued */
    assert_false(cd_deadline_queued(&a));
    assert_null(q.heap);
}

#define NODES 500

static void test_random_against_model(void **state)
{
    (void)state;
    srand(12345);
    cd_deadlines q = {0};
    static cd_deadline n[NODES];
    static int64_t model[NODES]; /* due, -1 = not queued */
    for (int i = 0; i < NODES; i++)
        model[i] = -1;
    uint64_t now = 0;
    for (int step = 0; step < 200000; step++) {
        int i = rand() % NODES;
        int op = rand() % 10;
        if (op < 6) {
            uint64_t due = now + 1 + (uint64_t)(rand() % 5000);
            assert_int_equal(cd_deadline_set(&q, &n[i], due), 0);
            model[i] = (int64_t)due;
        } else if (op < 8) {
            cd_deadline_clear(&q, &n[i]);
            model[i] = -1;
        } else {
            now += (uint64_t)(rand() % 300);
            cd_deadline *d;
            uint64_t last = 0;
            while ((d = cd_deadlines_pop(&q, now))) {
                int k = (int)(d - n);
                assert_true(k >= 0 && k < NODES);
                assert_true(model[k] >= 0 && (uint64_t)model[k] <= now);
                assert_true((uint64_t)model[k] >= last); /* earliest first */
                last = (uint64_t)model[k];
                model[k] = -1;
            }
            for (int k = 0; k < NODES; k++) /* nothing due was left behind */
                assert_true(model[k] < 0 || (uint64_t)model[k] > now);
        }
        uint32_t queued = 0;
        int64_t min = -1;
        for (int k = 0; k < NODES; k++)
            if (model[k] >= 0) {
                queued++;
                if (min < 0 || model[k] < min) min = model[k];
                assert_true(cd_deadline_queued(&n[k]));
            } else {
                assert_false(cd_deadline_queued(&n[k]));
            }
        assert_int_equal(q.n, queued);
        if (queued) assert_int_equal(cd_deadlines_first(&q)->due, (uint64_t)min);
    }
    cd_deadlines_free(&q);
}

static void test_alloc_failure_and_shrink(void **state)
{
    (void)state;
    cd_deadlines q = {0};
    static cd_deadline n[1000];
    cd_alloc_fail_after(1);
    assert_int_equal(cd_deadline_set(&q, &n[0], 1), CD_ENOMEM);
    cd_alloc_fail_after(0);
    assert_false(cd_deadline_queued(&n[0]));
    assert_int_equal(q.n, 0);
    /* reserved room: sets cannot fail even when allocation does */
    assert_int_equal(cd_deadlines_reserve(&q, 1000), 0);
    uint32_t cap = q.cap;
    assert_true(cap >= 1000);
    cd_alloc_fail_after(1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(cd_deadline_set(&q, &n[i], (uint64_t)(1000 - i)), 0);
    cd_alloc_fail_after(0);
    /* the burst goes away: the reserved room stays ... */
    for (int i = 0; i < 500; i++)
        cd_deadline_clear(&q, &n[i]);
    assert_int_equal(q.cap, cap);
    /* ... until the owner lowers it: then the array shrinks, the order holds */
    assert_int_equal(cd_deadlines_reserve(&q, 10), 0);
    for (int i = 500; i < 990; i++)
        cd_deadline_clear(&q, &n[i]);
    assert_true(q.cap < cap);
    for (int i = 999; i >= 990; i--)
        assert_ptr_equal(cd_deadlines_pop(&q, 10000), &n[i]);
    assert_int_equal(q.n, 0);
    cd_deadlines_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_due),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_alloc_failure_and_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
