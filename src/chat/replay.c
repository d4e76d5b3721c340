/*
 * replay.c — the receiver's sequencing rules (see the replay.c section of
 * chat_internal.h): which seq a subscriber takes next, and where a replay
 * after afterSeq starts. Shared by the fan-out (feed.c) and chatEventsSince
 * (queries.c); pure, no state.
 */
#include "chat/chat_internal.h"

bool recv_fill_lost(int64_t from, int64_t known, int64_t first, int64_t last)
{
    if (last < from) return false;
    if (first < 0) return last < known; /* nothing after from, though known > from */
    return first > from + 1 && last < first - 1;
}

recv_seq_step recv_seq_classify(int64_t last, int64_t seq)
{
    if (seq <= last) return RECV_SEQ_DUP;
    return seq == last + 1 ? RECV_SEQ_NEXT : RECV_SEQ_GAP;
}

int recv_replay_start(int64_t after, int64_t joined, int64_t oldest, int64_t last_seq,
                      int64_t *from)
{
    if (after < 0) {
        *from = last_seq;
        return 0;
    }
    int64_t f = after < joined ? joined : after;
    int64_t first_kept = oldest >= 0 ? oldest : last_seq + 1;
    if (f + 1 < first_kept && f < last_seq) return CD_ENOENT;
    *from = f;
    return 0;
}
