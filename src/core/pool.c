/*
 * pool.c — size-class slabs for small long-lived objects (see pool.h).
 *
 * A slab starts with its header; objects follow from SLAB_HEAD on, handed
 * out from the free list (objects freed before) or else from the untouched
 * tail (`bump`), so a slab's pages are touched only as it fills. Slabs with
 * room are linked in their class's list; a slab is found from an object by
 * masking the address (slabs are aligned to CD_POOL_SLAB).
 */
#include "core/pool.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/arena.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
/* the leak checker scans slabs for pointers to heap blocks they own */
#define POOL_ROOT(p, n) __lsan_register_root_region((p), (n))
#define POOL_UNROOT(p, n) __lsan_unregister_root_region((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#define POOL_ROOT(p, n) ((void)(p), (void)(n))
#define POOL_UNROOT(p, n) ((void)(p), (void)(n))
#endif

#define POOL_GRAN 16u
#define POOL_CLASSES (CD_POOL_MAX / POOL_GRAN)

typedef struct pool_slab {
    struct pool_slab *prev, *next; /* in its class's list while it has room */
    void *free;                    /* freed objects, linked through their first word */
    uint32_t size;                 /* object size of the class */
    uint32_t used;                 /* objects handed out */
    uint32_t bump;                 /* offset of the first never-used object */
    uint32_t cls;
    bool listed;
} pool_slab;

#define SLAB_HEAD 64u /* header, rounded to a multiple of POOL_GRAN */
_Static_assert(sizeof(pool_slab) <= SLAB_HEAD, "slab header");

static _Thread_local struct {
    pool_slab *room[POOL_CLASSES];  /* slabs with a free object */
    pool_slab *spare[POOL_CLASSES]; /* one empty slab kept per class */
    size_t slabs;
} pool;

static pool_slab *slab_of(void *p)
{
    return (pool_slab *)((uintptr_t)p & ~(uintptr_t)(CD_POOL_SLAB - 1));
}

static void slab_link(pool_slab *s)
{
    s->prev = NULL;
    s->next = pool.room[s->cls];
    if (s->next) s->next->prev = s;
    pool.room[s->cls] = s;
    s->listed = true;
}

static void slab_unlink(pool_slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        pool.room[s->cls] = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->listed = false;
}

/* A CD_POOL_SLAB-aligned mapping: twice the size mapped, the rest unmapped. */
static pool_slab *slab_map(void)
{
    size_t len = 2 * (size_t)CD_POOL_SLAB;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)m + CD_POOL_SLAB - 1) & ~(uintptr_t)(CD_POOL_SLAB - 1);
    size_t head = (size_t)(a - (uintptr_t)m);
    if (head) munmap(m, head);
    size_t tail = len - head - CD_POOL_SLAB;
    if (tail) munmap((char *)a + CD_POOL_SLAB, tail);
    POOL_ROOT((void *)a, CD_POOL_SLAB);
    pool.slabs++;
    return (pool_slab *)a;
}

static void slab_unmap(pool_slab *s)
{
    POOL_UNPOISON(s, CD_POOL_SLAB);
    POOL_UNROOT(s, CD_POOL_SLAB);
    munmap(s, CD_POOL_SLAB);
    pool.slabs--;
}

static void slab_init(pool_slab *s, uint32_t cls)
{
    memset(s, 0, sizeof *s);
    s->cls = cls;
    s->size = (cls + 1) * POOL_GRAN;
    s->bump = SLAB_HEAD;
    POOL_POISON((char *)s + SLAB_HEAD, CD_POOL_SLAB - SLAB_HEAD);
}

void *cd_pool_calloc(size_t size)
{
    if (size == 0 || size > CD_POOL_MAX || cd_alloc_injected_failure()) return NULL;
    uint32_t cls = (uint32_t)((size + POOL_GRAN - 1) / POOL_GRAN) - 1;
    pool_slab *s = pool.room[cls];
    if (!s) {
        s = pool.spare[cls];
        pool.spare[cls] = NULL;
        if (!s) s = slab_map();
        if (!s) return NULL;
        slab_init(s, cls);
        slab_link(s);
    }
    void *p;
    if (s->free) {
        p = s->free;
        POOL_UNPOISON(p, s->size);
        memcpy(&s->free, p, sizeof s->free);
    } else {
        p = (char *)s + s->bump;
        s->bump += s->size;
        POOL_UNPOISON(p, s->size);
    }
    s->used++;
    if (!s->free && s->bump + s->size > CD_POOL_SLAB) slab_unlink(s); /* full */
    memset(p, 0, s->size);
    return p;
}

void cd_pool_free(void *p)
{
    if (!p) return;
    pool_slab *s = slab_of(p);
    memset(p, 0, s->size); /* no stale pointers for the leak checker to follow */
    memcpy(p, &s->free, sizeof s->free);
    POOL_POISON(p, s->size);
    s->free = p;
    s->used--;
    if (!s->listed) slab_link(s);
    if (s->used) return;
    /* empty: keep one per class, give the others back */
    slab_unlink(s);
    if (!pool.spare[s->cls]) {
        /* kept mapped, its pages after the first handed back */
        madvise((char *)s + 4096, CD_POOL_SLAB - 4096, MADV_DONTNEED);
        POOL_POISON((char *)s + SLAB_HEAD, CD_POOL_SLAB - SLAB_HEAD);
        pool.spare[s->cls] = s;
        return;
    }
    slab_unmap(s);
}

size_t cd_pool_slabs(void)
{
    return pool.slabs;
}
