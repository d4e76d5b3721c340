/*
 * test_chat_replica.c — the pure parts of the receiver's read routing
 * (src/chat/replica.c) at their edges: LSNs as Postgres prints them, and
 * where a read goes given the replica's replay position, the read's target,
 * the lagging state and how long it has waited (CHAT_REPLICA_WAIT_MS).
 * The routing itself runs against a real primary and hot standby in
 * tests/integration/replica.test.js.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/chat_internal.h"

static void test_lsn_parse(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(chat_lsn_parse("0/0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(chat_lsn_parse("16/B374D848", &v), 0);
    assert_true(v == ((uint64_t)0x16 << 32 | 0xB374D848u));
    assert_int_equal(chat_lsn_parse("0/1a2b", &v), 0);
    assert_true(v == 0x1a2b);
    /* the largest: eight hex digits each side */
    assert_int_equal(chat_lsn_parse("FFFFFFFF/FFFFFFFF", &v), 0);
    assert_true(v == UINT64_MAX);
    /* order follows the WAL: the high part counts first */
    uint64_t a, b;
    assert_int_equal(chat_lsn_parse("1/0", &a), 0);
    assert_int_equal(chat_lsn_parse("0/FFFFFFFF", &b), 0);
    assert_true(a > b);
    /* malformed: nine digits, missing parts, junk, NULL (SQL NULL) */
    v = 7;
    assert_int_equal(chat_lsn_parse("1FFFFFFFF/0", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("0/1FFFFFFFF", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("/0", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("0/", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("0", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("0/0/0", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("0/0 ", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("g/0", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse("", &v), CD_EBAD);
    assert_int_equal(chat_lsn_parse(NULL, &v), CD_EBAD);
    assert_true(v == 7);
}

static void test_step(void **state)
{
    (void)state;
    /* replayed the target exactly: the replica answers, whatever else */
    assert_int_equal(chat_replica_step(100, 100, false, 0), CHAT_READ_REPLICA);
    assert_int_equal(chat_replica_step(100, 100, true, CHAT_REPLICA_WAIT_MS), CHAT_READ_REPLICA);
    assert_int_equal(chat_replica_step(101, 100, false, 0), CHAT_READ_REPLICA);
    /* one byte short: wait, up to the bound ... */
    assert_int_equal(chat_replica_step(99, 100, false, 0), CHAT_READ_WAIT);
    assert_int_equal(chat_replica_step(99, 100, false, CHAT_REPLICA_WAIT_MS - 1), CHAT_READ_WAIT);
    /* ... then the primary */
    assert_int_equal(chat_replica_step(99, 100, false, CHAT_REPLICA_WAIT_MS), CHAT_READ_PRIMARY);
    /* lagging: no wait at all */
    assert_int_equal(chat_replica_step(99, 100, true, 0), CHAT_READ_PRIMARY);
    /* a replica that never reported (0, or not a standby) is behind any target */
    assert_int_equal(chat_replica_step(0, 1, false, 0), CHAT_READ_WAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsn_parse),
        cmocka_unit_test(test_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
