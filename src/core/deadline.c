/*
 * deadline.c — the min-heap of deadline.h. heap[i]->slot == i + 1 always;
 * the array shrinks by half when it is a quarter full (after a burst of
 * connections is gone), never below CD_DEADLINES_MIN nor the reserved
 * floor.
 */
#include "core/deadline.h"

#include "core/arena.h"
#include "core/core.h"

#define CD_DEADLINES_MIN 64u

static void place(cd_deadlines *q, uint32_t i, cd_deadline *d)
{
    q->heap[i] = d;
    d->slot = i + 1;
}

static void sift_up(cd_deadlines *q, uint32_t i)
{
    cd_deadline *d = q->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (q->heap[p]->due <= d->due) break;
        place(q, i, q->heap[p]);
        i = p;
    }
    place(q, i, d);
}

static void sift_down(cd_deadlines *q, uint32_t i)
{
    cd_deadline *d = q->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= q->n) break;
        uint32_t m = l;
        if (l + 1 < q->n && q->heap[l + 1]->due < q->heap[l]->due) m = l + 1;
        if (q->heap[m]->due >= d->due) break;
        place(q, i, q->heap[m]);
        i = m;
    }
    place(q, i, d);
}

static int resize(cd_deadlines *q, uint32_t cap)
{
    cd_deadline **h = cd_realloc(q->heap, (size_t)cap * sizeof *h);
    if (!h) return CD_ENOMEM;
    q->heap = h;
    q->cap = cap;
    return 0;
}

static int grow_to(cd_deadlines *q, uint32_t n)
{
    if (n <= q->cap) return 0;
    uint32_t cap = q->cap ? q->cap : CD_DEADLINES_MIN;
    while (cap < n)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    return resize(q, cap);
}

int cd_deadlines_reserve(cd_deadlines *q, uint32_t n)
{
    if (grow_to(q, n) != 0) return CD_ENOMEM;
    q->floor = n;
    return 0;
}

int cd_deadline_set(cd_deadlines *q, cd_deadline *d, uint64_t due)
{
    if (d->slot) {
        uint64_t old = d->due;
        d->due = due;
        if (due < old)
            sift_up(q, d->slot - 1);
        else if (due > old)
            sift_down(q, d->slot - 1);
        return 0;
    }
    if (q->n == q->cap && grow_to(q, q->n + 1) != 0) return CD_ENOMEM;
    d->due = due;
    place(q, q->n++, d);
    sift_up(q, q->n - 1);
    return 0;
}

void cd_deadline_clear(cd_deadlines *q, cd_deadline *d)
{
    if (!d->slot) return;
    uint32_t i = d->slot - 1;
    d->slot = 0;
    cd_deadline *last = q->heap[--q->n];
    if (i < q->n) {
        place(q, i, last);
        if (i > 0 && q->heap[(i - 1) / 2]->due > last->due)
            sift_up(q, i);
        else
            sift_down(q, i);
    }
    uint32_t half = q->cap / 2;
    if (half >= CD_DEADLINES_MIN && half >= q->floor && q->n < q->cap / 4)
        resize(q, half); /* may fail: keep the bigger array */
}

cd_deadline *cd_deadlines_pop(cd_deadlines *q, uint64_t now)
{
    cd_deadline *d = cd_deadlines_first(q);
    if (!d || d->due > now) return NULL;
    cd_deadline_clear(q, d);
    return d;
}

void cd_deadlines_free(cd_deadlines *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        q->heap[i]->slot = 0;
    cd_free(q->heap);
    q->heap = NULL;
    q->n = q->cap = q->floor = 0;
}
