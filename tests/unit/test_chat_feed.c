/*
 * test_chat_feed.c — the receiver fan-out's pure decisions at their edges:
 * classifying a sequenced event against a subscriber's last seq (next /
 * duplicate / gap), the replay start of afterSeq (joined clamp, retention
 * edge → RESYNC_REQUIRED, live start), and the id lists that track readers
 * still to come (messageReadUpdated) and chat participants (presence).
 * Delivery itself — fills, re-subscribe, afterSeq seams, removal cutoff —
 * runs against real processes in tests/integration/{delivery,receiver,
 * scenario}.test.js.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "chat/chat_internal.h"

static void test_seq_classify(void **state)
{
    (void)state;
    assert_int_equal(recv_seq_classify(0, 1), RECV_SEQ_NEXT);
    assert_int_equal(recv_seq_classify(41, 42), RECV_SEQ_NEXT);
    assert_int_equal(recv_seq_classify(42, 42), RECV_SEQ_DUP);
    assert_int_equal(recv_seq_classify(42, 1), RECV_SEQ_DUP);
    assert_int_equal(recv_seq_classify(42, 44), RECV_SEQ_GAP);
    assert_int_equal(recv_seq_classify(0, 2), RECV_SEQ_GAP);
    assert_int_equal(recv_seq_classify(INT64_MAX - 1, INT64_MAX), RECV_SEQ_NEXT);
}

static void test_replay_start(void **state)
{
    (void)state;
    int64_t from = -7;
    /* no afterSeq: live from the chat's newest seq */
    assert_int_equal(recv_replay_start(-1, 0, 1, 10, &from), 0);
    assert_int_equal(from, 10);
    /* afterSeq inside the retained log */
    assert_int_equal(recv_replay_start(3, 0, 1, 10, &from), 0);
    assert_int_equal(from, 3);
    /* retention edge: oldest kept 5 → after 4 is fine (next wanted = 5) ... */
    assert_int_equal(recv_replay_start(4, 0, 5, 10, &from), 0);
    assert_int_equal(from, 4);
    /* ... after 3 would need seq 4, which is gone */
    assert_int_equal(recv_replay_start(3, 0, 5, 10, &from), CD_ENOENT);
    /* ... unless nothing after it exists at all */
    assert_int_equal(recv_replay_start(10, 0, 5, 10, &from), 0);
    assert_int_equal(from, 10);
    /* empty log (everything pruned): only "up to date" is answerable */
    assert_int_equal(recv_replay_start(9, 0, -1, 10, &from), CD_ENOENT);
    assert_int_equal(recv_replay_start(10, 0, -1, 10, &from), 0);
    /* a participant sees nothing from before they joined: afterSeq below
     * joined starts at joined, and the retention check uses that */
    assert_int_equal(recv_replay_start(0, 6, 5, 10, &from), 0);
    assert_int_equal(from, 6);
    assert_int_equal(recv_replay_start(0, 3, 5, 10, &from), CD_ENOENT);
    /* afterSeq beyond the newest seq: waits for it */
    assert_int_equal(recv_replay_start(20, 0, 1, 10, &from), 0);
    assert_int_equal(from, 20);
}

/* Which subscribers a gap fill's answer proves lost (RESYNC_REQUIRED). The
 * flake this pins: a live subscriber's fill after seq 12 (the chat's newest)
 * was in flight when a subscriber with afterSeq 0 of a member who joined at
 * 7 attached; the empty answer ("nothing after 12") was taken as "nothing
 * after 7 either" and ended the new subscriber with RESYNC_REQUIRED. */
static void test_fill_lost(void **state)
{
    (void)state;
    /* empty answer, nothing newer was known: nobody lost anything */
    assert_false(recv_fill_lost(12, 12, -1, 12));
    /* ... a subscriber attached meanwhile further back is the next fill's */
    assert_false(recv_fill_lost(12, 12, -1, 7));
    assert_false(recv_fill_lost(12, 15, -1, 11));
    /* empty answer although 13..15 were committed before it ran: gone */
    assert_true(recv_fill_lost(12, 15, -1, 12));
    assert_true(recv_fill_lost(12, 15, -1, 14));
    assert_false(recv_fill_lost(12, 15, -1, 15));
    /* first row right after from: nothing missing */
    assert_false(recv_fill_lost(12, 20, 13, 12));
    /* first row 16 after from 12: 13..15 are gone for those who need them */
    assert_true(recv_fill_lost(12, 20, 16, 12));
    assert_true(recv_fill_lost(12, 20, 16, 14));
    assert_false(recv_fill_lost(12, 20, 16, 15)); /* needs 16: in the answer */
    assert_false(recv_fill_lost(12, 20, 16, 11)); /* behind from: not judged */
}

static void test_idlists(void **state)
{
    (void)state;
    const char *a = "11111111-1111-4111-8111-111111111111";
    const char *b = "22222222-2222-4222-8222-222222222222";
    const char *c = "33333333-3333-4333-8333-333333333333";
    char list[200];
    snprintf(list, sizeof list, ",%s,%s,%s,", a, b, c);
    assert_true(recv_idlist_has(list, a, strlen(a)));
    assert_true(recv_idlist_has(list, c, strlen(c)));
    /* a prefix or a piece of an id is not a member */
    assert_false(recv_idlist_has(list, a, 8));
    assert_false(recv_idlist_has(list, "1,", 2));
    assert_false(recv_idlist_has(list, "", 0));
    assert_false(recv_idlist_has(NULL, a, strlen(a)));
    /* take removes exactly once, keeping the list well formed */
    assert_true(recv_idlist_take(list, b, strlen(b)));
    assert_false(recv_idlist_take(list, b, strlen(b)));
    char want[200];
    snprintf(want, sizeof want, ",%s,%s,", a, c);
    assert_string_equal(list, want);
    assert_true(recv_idlist_take(list, c, strlen(c)));
    assert_true(recv_idlist_take(list, a, strlen(a)));
    assert_string_equal(list, ",");
    assert_false(recv_idlist_has(list, a, strlen(a)));
    /* ids too long for a list entry are never members */
    char big[64];
    memset(big, 'x', sizeof big - 1);
    big[63] = 0;
    assert_false(recv_idlist_has(",x,", big, strlen(big)));
    /* empty list as built for a message nobody has left to read */
    assert_false(recv_idlist_has(",,", a, strlen(a)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_classify),
        cmocka_unit_test(test_replay_start),
        cmocka_unit_test(test_fill_lost),
        cmocka_unit_test(test_idlists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
