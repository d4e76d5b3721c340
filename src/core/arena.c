/*
 * arena.c — block allocator behind cd_arena (see arena.h) and the project's
 * malloc wrappers with a fault-injection hook for tests.
 *
 * Invariant: blocks form a singly linked list, newest first; only the head
 * block has free space worth using. Oversized requests get their own block
 * linked behind the head so the head keeps serving small allocations.
 */
#include "core/arena.h"
#include "core/core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cd_arena_block {
    cd_arena_block *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

#define CD_ARENA_ALIGN 16
#define CD_ARENA_DEFAULT_BLOCK 4096

static long cd_alloc_countdown; /* 0 = no fault injection */

void cd_alloc_fail_after(long n)
{
    cd_alloc_countdown = n > 0 ? n : 0;
}

static int cd_alloc_should_fail(void)
{
    if (cd_alloc_countdown == 0) return 0;
    if (--cd_alloc_countdown == 0) {
        cd_alloc_countdown = -1; /* stay failing until reset */
        return 1;
    }
    return cd_alloc_countdown < 0;
}

int cd_alloc_injected_failure(void)
{
    return cd_alloc_should_fail();
}

void *cd_malloc(size_t n)
{
    if (cd_alloc_should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *cd_calloc(size_t count, size_t size)
{
    if (cd_alloc_should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *cd_realloc(void *p, size_t n)
{
    if (cd_alloc_should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void cd_free(void *p)
{
    free(p);
}

void cd_arena_init(cd_arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : CD_ARENA_DEFAULT_BLOCK;
    a->used_total = 0;
}

void cd_arena_free(cd_arena *a)
{
    cd_arena_block *b = a->head;
    while (b) {
        cd_arena_block *next = b->next;
        cd_free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

void cd_arena_reset(cd_arena *a)
{
    if (!a->head) return;
    /* keep the largest-capacity "default" block: the last one in the list is
     * the first allocated; keep the head for simplicity */
    cd_arena_block *keep = a->head;
    cd_arena_block *b = keep->next;
    while (b) {
        cd_arena_block *next = b->next;
        cd_free(b);
        b = next;
    }
    keep->next = NULL;
    keep->used = 0;
    a->head = keep;
    a->used_total = 0;
}

size_t cd_arena_capacity(const cd_arena *a)
{
    size_t n = 0;
    for (const cd_arena_block *b = a->head; b; b = b->next)
        n += b->size;
    return n;
}

int cd_arena_prealloc(cd_arena *a, size_t n)
{
    if (a->head) return 0;
    size_t size = (n + CD_ARENA_ALIGN - 1) & ~(size_t)(CD_ARENA_ALIGN - 1);
    if (size < n || size > SIZE_MAX - sizeof(cd_arena_block)) return CD_ENOMEM;
    cd_arena_block *nb = cd_malloc(sizeof(cd_arena_block) + size);
    if (!nb) return CD_ENOMEM;
    nb->size = size;
    nb->used = 0;
    nb->next = NULL;
    a->head = nb;
    return 0;
}

void *cd_arena_alloc(cd_arena *a, size_t n)
{
    size_t need = (n + CD_ARENA_ALIGN - 1) & ~(size_t)(CD_ARENA_ALIGN - 1);
    if (need < n) return NULL; /* overflow */
    cd_arena_block *h = a->head;
    if (h && h->size - h->used >= need) {
        void *p = h->data + h->used;
        h->used += need;
        a->used_total += need;
        return p;
    }
    size_t size = need > a->block_size / 4 ? need : a->block_size;
    if (size > SIZE_MAX - sizeof(cd_arena_block)) return NULL;
    cd_arena_block *nb = cd_malloc(sizeof(cd_arena_block) + size);
    if (!nb) return NULL;
    nb->size = size;
    nb->used = need;
    if (h && size == need && h->size - h->used > 256) {
        /* big one-off: link behind the head so the head keeps its space */
        nb->next = h->next;
        h->next = nb;
    } else {
        nb->next = h;
        a->head = nb;
    }
    a->used_total += need;
    return nb->data;
}

void *cd_arena_calloc(cd_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = cd_arena_alloc(a, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

char *cd_arena_strndup(cd_arena *a, const char *s, size_t len)
{
    char *p = cd_arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cd_arena_strdup(cd_arena *a, const char *s)
{
    return cd_arena_strndup(a, s, strlen(s));
}

char *cd_arena_vsprintf(cd_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return NULL;
    char *p = cd_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *cd_arena_sprintf(cd_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = cd_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}
