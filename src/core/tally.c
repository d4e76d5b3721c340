/*
 * tally.c — counts by string key (see tally.h). Entries are heap blocks
 * holding their key; an entry is freed when its count drops to zero.
 */
#include "core/tally.h"

#include <string.h>

#include "core/arena.h"
#include "core/core.h"

struct cd_tally_ent {
    cd_tally_ent *next;
    uint32_t count;
    char key[]; /* NUL-terminated */
};

static unsigned tally_bucket(const char *key)
{
    uint32_t h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 16777619u;
    return h % CD_TALLY_BUCKETS;
}

static cd_tally_ent **tally_find(const cd_tally *t, const char *key)
{
    if (!t->buckets) return NULL;
    cd_tally_ent **p = &t->buckets[tally_bucket(key)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

uint32_t cd_tally_get(const cd_tally *t, const char *key)
{
    cd_tally_ent **p = tally_find(t, key);
    return p && *p ? (*p)->count : 0;
}

const char *cd_tally_add_key(cd_tally *t, const char *key)
{
    if (!t->buckets && !(t->buckets = cd_calloc(CD_TALLY_BUCKETS, sizeof *t->buckets))) return NULL;
    cd_tally_ent **p = tally_find(t, key);
    if (*p) {
        (*p)->count++;
        return (*p)->key;
    }
    size_t len = strlen(key);
    cd_tally_ent *e = cd_malloc(sizeof *e + len + 1);
    if (!e) return NULL;
    memcpy(e->key, key, len + 1);
    e->count = 1;
    e->next = NULL;
    *p = e;
    t->keys++;
    return e->key;
}

int cd_tally_add(cd_tally *t, const char *key)
{
    return cd_tally_add_key(t, key) ? 0 : CD_ENOMEM;
}

void cd_tally_sub(cd_tally *t, const char *key)
{
    cd_tally_ent **p = tally_find(t, key);
    if (!p || !*p) return;
    cd_tally_ent *e = *p;
    if (--e->count) return;
    *p = e->next;
    cd_free(e);
    if (--t->keys == 0) cd_tally_free(t); /* nothing open: no memory held */
}

void cd_tally_free(cd_tally *t)
{
    for (unsigned i = 0; t->buckets && i < CD_TALLY_BUCKETS; i++) {
        while (t->buckets[i]) {
            cd_tally_ent *e = t->buckets[i];
            t->buckets[i] = e->next;
            cd_free(e);
        }
    }
    cd_free(t->buckets);
    t->buckets = NULL;
    t->keys = 0;
}
