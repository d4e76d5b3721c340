/*
 * test_core_tally.c — counts by key (core/tally.h): add / get / sub at the
 * edges (a count going back to zero drops the entry, and the last one the
 * bucket array), keys sharing a bucket, free of a non-empty tally.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/tally.h"

static void test_counts(void **state)
{
    (void)state;
    cd_tally t = {0};
    assert_int_equal(cd_tally_get(&t, "127.0.0.1"), 0);
    cd_tally_sub(&t, "absent"); /* nothing to take: no effect */
    assert_null(t.buckets);
    assert_int_equal(cd_tally_add(&t, "127.0.0.1"), 0);
    assert_int_equal(cd_tally_add(&t, "127.0.0.1"), 0);
    assert_int_equal(cd_tally_add(&t, "::1"), 0);
    assert_int_equal(cd_tally_get(&t, "127.0.0.1"), 2);
    assert_int_equal(cd_tally_get(&t, "::1"), 1);
    assert_int_equal(t.keys, 2);
    cd_tally_sub(&t, "127.0.0.1");
    assert_int_equal(cd_tally_get(&t, "127.0.0.1"), 1);
    cd_tally_sub(&t, "127.0.0.1");
    assert_int_equal(cd_tally_get(&t, "127.0.0.1"), 0);
    assert_int_equal(t.keys, 1);
    assert_non_null(t.buckets);
    cd_tally_sub(&t, "::1"); /* the last count: no memory held */
    assert_int_equal(t.keys, 0);
    assert_null(t.buckets);
}

static void test_many_keys(void **state)
{
    (void)state;
    cd_tally t = {0};
    char k[32];
    /* more keys than buckets: chains */
    for (unsigned i = 0; i < 3 * CD_TALLY_BUCKETS; i++) {
        snprintf(k, sizeof k, "user-%u", i);
        assert_int_equal(cd_tally_add(&t, k), 0);
    }
    assert_int_equal(t.keys, 3 * CD_TALLY_BUCKETS);
    for (unsigned i = 0; i < 3 * CD_TALLY_BUCKETS; i += 7) {
        snprintf(k, sizeof k, "user-%u", i);
        assert_int_equal(cd_tally_get(&t, k), 1);
    }
    for (unsigned i = 0; i < 3 * CD_TALLY_BUCKETS; i += 2) {
        snprintf(k, sizeof k, "user-%u", i);
        cd_tally_sub(&t, k);
    }
    snprintf(k, sizeof k, "user-%u", 1u);
    assert_int_equal(cd_tally_get(&t, k), 1);
    snprintf(k, sizeof k, "user-%u", 2u);
    assert_int_equal(cd_tally_get(&t, k), 0);
    cd_tally_free(&t); /* frees what is left */
    assert_null(t.buckets);
    assert_int_equal(t.keys, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
