/*
 * tally.h — counts by string key (connections per peer address in src/net,
 * WebSockets per user in src/protocol): a small chained hash table that
 * holds an entry only while its count is above zero, so its memory follows
 * what is open, not what was ever seen.
 *
 * A zeroed cd_tally is empty and ready; the bucket array is allocated at
 * the first add and freed when the last count drops to zero (or by
 * cd_tally_free). Keys are copied. One loop, no
 * locks.
 */
#ifndef CHATD_CORE_TALLY_H
#define CHATD_CORE_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define CD_TALLY_BUCKETS 1024u /* hash buckets (chained) */

typedef struct cd_tally_ent cd_tally_ent;
typedef struct cd_tally {
    cd_tally_ent **buckets; /* CD_TALLY_BUCKETS, or NULL while empty */
    size_t keys;            /* keys with a count above zero */
} cd_tally;

/* The count of key (0 when absent). */
uint32_t cd_tally_get(const cd_tally *t, const char *key);
/* Adds one to key's count. 0, or CD_ENOMEM (the count is unchanged). */
int cd_tally_add(cd_tally *t, const char *key);
/* The same, returning the tally's own copy of key (valid while this count
 * is held: until the matching cd_tally_sub), or NULL on no memory. */
const char *cd_tally_add_key(cd_tally *t, const char *key);
/* Takes one from key's count (the entry goes at zero; nothing when absent). */
void cd_tally_sub(cd_tally *t, const char *key);
/* Frees every entry and the buckets; t is empty again. */
void cd_tally_free(cd_tally *t);

#endif
