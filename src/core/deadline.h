/*
 * deadline.h — deadlines ordered by time: a binary min-heap of intrusive
 * nodes, so the owner of many timeouts (one per connection) arms one libuv
 * timer at the earliest and, when it fires, takes only the expired ones.
 * Nothing walks every entry: set, move and clear cost O(log n), reading the
 * earliest O(1).
 *
 * A cd_deadline lives inside its owner (a connection); the heap holds
 * pointers to nodes and each node its position, so a node must be cleared
 * before its memory goes. cd_deadlines_reserve lets an owner that queues
 * at most one node per object keep room for all of its objects, so that
 * sets cannot fail: call it with the new count whenever an object is added
 * (may fail) or removed (never fails).
 */
#ifndef CHATD_CORE_DEADLINE_H
#define CHATD_CORE_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cd_deadline {
    uint64_t due;  /* ms on the owner's clock (uv_now) */
    uint32_t slot; /* 1 + position in the heap; 0 = not queued */
} cd_deadline;

typedef struct cd_deadlines {
    cd_deadline **heap;
    uint32_t n, cap;
    uint32_t floor; /* capacity kept (cd_deadlines_reserve) */
} cd_deadlines;

static inline bool cd_deadline_queued(const cd_deadline *d)
{
    return d->slot != 0;
}

/* Keeps room for n nodes in all from now on (the array never shrinks
 * below it). 0, or CD_ENOMEM when it had to grow and could not (the
 * previous room is kept). */
int cd_deadlines_reserve(cd_deadlines *q, uint32_t n);
/* Queues d for `due`, or moves it there when queued. 0, or CD_ENOMEM when
 * d was not queued and the heap could not grow (d stays unqueued). */
int cd_deadline_set(cd_deadlines *q, cd_deadline *d, uint64_t due);
/* Unqueues d (no effect when it is not queued). */
void cd_deadline_clear(cd_deadlines *q, cd_deadline *d);
/* The earliest node, or NULL when empty. */
static inline cd_deadline *cd_deadlines_first(const cd_deadlines *q)
{
    return q->n ? q->heap[0] : NULL;
}
/* Removes and returns the earliest node if it is due at `now`, else NULL. */
cd_deadline *cd_deadlines_pop(cd_deadlines *q, uint64_t now);
/* Frees the heap (nodes are the owners'; they become unqueued). */
void cd_deadlines_free(cd_deadlines *q);

#endif
