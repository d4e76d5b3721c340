/*
 * arena.h — region allocator for per-request data.
 *
 * An arena hands out memory from large blocks and frees everything at once in
 * cd_arena_free()/cd_arena_reset(). Requests (AST, variables, results) live in
 * one arena owned by the request; nothing allocated from it is freed alone.
 * Allocation failure returns NULL (callers check; the failing-allocator test
 * hook in cd_alloc_fail_after() exercises those paths).
 */
#ifndef CHATD_ARENA_H
#define CHATD_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct cd_arena_block cd_arena_block;

typedef struct cd_arena {
    cd_arena_block *head; /* private: newest block first */
    size_t block_size;    /* private: default size of a new block */
    size_t used_total;    /* read-only: bytes handed out since reset */
} cd_arena;

/* Initialises an empty arena; no memory is taken until the first alloc. */
void cd_arena_init(cd_arena *a, size_t block_size);
/* Frees every block. The arena may be reused after cd_arena_init. */
void cd_arena_free(cd_arena *a);
/* Frees all but the first block and rewinds it: cheap reuse between runs. */
void cd_arena_reset(cd_arena *a);

/* On an empty arena: allocates its first block with room for exactly n
 * bytes (rounded to the alignment), so allocations up to n in all take no
 * more memory. 0 or CD_ENOMEM; no effect on a non-empty arena. */
int cd_arena_prealloc(cd_arena *a, size_t n);
/* Bytes of all blocks (handed out or not). */
size_t cd_arena_capacity(const cd_arena *a);
/* Returns n bytes aligned to 16, or NULL on allocation failure. */
void *cd_arena_alloc(cd_arena *a, size_t n);
/* Same, zero-filled. */
void *cd_arena_calloc(cd_arena *a, size_t count, size_t size);
/* Copies len bytes and appends a NUL. */
char *cd_arena_strndup(cd_arena *a, const char *s, size_t len);
char *cd_arena_strdup(cd_arena *a, const char *s);
char *cd_arena_sprintf(cd_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *cd_arena_vsprintf(cd_arena *a, const char *fmt, va_list ap);

/* malloc/calloc/realloc/free wrappers used project-wide so tests can make the
 * Nth allocation fail (SQLite-style). n <= 0 disables the fault. */
void *cd_malloc(size_t n);
void *cd_calloc(size_t count, size_t size);
void *cd_realloc(void *p, size_t n);
void cd_free(void *p);
void cd_alloc_fail_after(long n);
/* True when the hook makes this allocation fail (for other allocators). */
int cd_alloc_injected_failure(void);

#endif
