/*
 * pool.h — slabs for small long-lived objects.
 *
 * The objects a connection keeps for its whole life (net_conn, gqlws_conn,
 * cws_conn, proto_sub, feed_sub, a caller's strings) are allocated while
 * bigger short-lived blocks come and go (handshake, request arena, subscribe
 * work). From the general heap they end up between the holes those leave,
 * and the holes stay resident. A pool keeps them apart: objects of one size
 * class (16-byte steps up to CD_POOL_MAX) are packed into CD_POOL_SLAB-byte
 * slabs of their own (mmap'd, aligned to their size, so an object's slab is
 * found from its address; no header per object). A slab whose objects are
 * all freed goes back to the kernel (one empty slab per class is kept).
 *
 * One pool per thread (an object is freed on the thread that allocated it).
 * cd_alloc_fail_after applies to cd_pool_calloc as to cd_malloc. In ASan
 * builds free slots are poisoned (a use after free is reported).
 */
#ifndef CHATD_CORE_POOL_H
#define CHATD_CORE_POOL_H

#include <stddef.h>

#define CD_POOL_MAX 512u           /* largest object size served */
#define CD_POOL_SLAB (64u * 1024u) /* slab size (and alignment) */

/* size bytes (1..CD_POOL_MAX), zeroed; NULL when out of memory or when
 * size is out of range. */
void *cd_pool_calloc(size_t size);
/* Frees an object of cd_pool_calloc (NULL: nothing). */
void cd_pool_free(void *p);
/* Slabs of this thread's pool (tests). */
size_t cd_pool_slabs(void);

#endif
