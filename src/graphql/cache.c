/*
 * cache.c — the prepared-document cache: query text → parsed and validated
 * document (or its errors), so a repeated operation skips parse + validate.
 *
 * Entries are keyed by a 64-bit hash of the text and confirmed by comparing
 * the full text. Only documents that parsed and validated are kept: a
 * document with errors is returned to its caller uncached (anonymous clients
 * must not be able to fill the cache with documents nobody can run; its cost
 * is bounded by the parser's and the validator's own limits). Entries are
 * reference counted: the cache holds one reference while an entry is in its
 * table, every gql_cache_get caller one more; eviction (LRU, at max_entries or
 * when the entries' memory would exceed max_bytes, GQL_CACHE_MAX_BYTES unless
 * set) drops the cache's reference and the entry is freed when the last user
 * releases it. An entry is charged its arena rounded up to whole blocks,
 * re-measured at every hit (execution adds its plans to the arena); an entry
 * larger than max_bytes is never kept. Out-of-memory during parse or
 * validation is never cached.
 */
#include <string.h>

#include "graphql/gql_internal.h"

#define GQL_CACHE_ARENA_BLOCK 8192u

typedef struct gql_centry gql_centry;
struct gql_centry {
    gql_cached_doc doc;      /* first: gql_cached_doc_release casts back */
    gql_centry *hnext;       /* hash chain */
    gql_centry *prev, *next; /* LRU list, most recent first */
    size_t bytes;            /* charged to the cache while in_cache */
    bool in_cache;
};

struct gql_cache {
    gql_schema *schema;
    gql_centry **buckets;
    uint32_t nbuckets; /* power of two */
    uint32_t n, max;
    size_t bytes, max_bytes; /* memory of the entries held, and its bound */
    gql_centry *head, *tail;
    uint64_t hits, misses;
};

/* 64-bit hash reading 8 bytes a step (multiply-xorshift mixing). */
static uint64_t gql_text_hash(const char *s, size_t len)
{
    const uint64_t m = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0xcbf29ce484222325ull ^ (len * m);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h ^= w * 0xff51afd7ed558ccdull;
        h = (h << 31 | h >> 33) * m;
    }
    uint64_t w = 0;
    for (size_t j = 0; i < len; i++, j += 8)
        w |= (uint64_t)(unsigned char)s[i] << j;
    h ^= w * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

gql_cache *gql_cache_new(gql_schema *s, uint32_t max_entries)
{
    if (max_entries == 0) max_entries = GQL_CACHE_DEFAULT_ENTRIES;
    gql_cache *c = cd_calloc(1, sizeof *c);
    if (!c) return NULL;
    uint32_t nb = 16;
    while (nb < max_entries * 2u && nb < (1u << 30))
        nb <<= 1;
    c->buckets = cd_calloc(nb, sizeof *c->buckets);
    if (!c->buckets) {
        cd_free(c);
        return NULL;
    }
    c->nbuckets = nb;
    c->max = max_entries;
    c->max_bytes = GQL_CACHE_MAX_BYTES;
    c->schema = s;
    return c;
}

void gql_cache_set_max_bytes(gql_cache *c, size_t max_bytes)
{
    c->max_bytes = max_bytes;
}

size_t gql_cache_bytes(const gql_cache *c)
{
    return c ? c->bytes : 0;
}

/* Memory an entry holds: the entry and its arena in whole blocks. */
static size_t centry_bytes(const gql_centry *e)
{
    size_t used = e->doc.arena.used_total;
    size_t blocks = (used + GQL_CACHE_ARENA_BLOCK - 1) / GQL_CACHE_ARENA_BLOCK;
    return sizeof *e + (blocks ? blocks : 1) * GQL_CACHE_ARENA_BLOCK;
}

static void centry_free(gql_centry *e)
{
    cd_arena_free(&e->doc.arena);
    cd_free(e);
}

void gql_cached_doc_release(gql_cached_doc *d)
{
    if (!d) return;
    gql_centry *e = (gql_centry *)d;
    if (--d->refs == 0) centry_free(e);
}

static void lru_unlink(gql_cache *c, gql_centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(gql_cache *c, gql_centry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static void cache_remove(gql_cache *c, gql_centry *e)
{
    gql_centry **pp = &c->buckets[e->doc.hash & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    lru_unlink(c, e);
    e->in_cache = false;
    c->n--;
    c->bytes -= e->bytes;
    gql_cached_doc_release(&e->doc);
}

void gql_cache_free(gql_cache *c)
{
    if (!c) return;
    while (c->head)
        cache_remove(c, c->head);
    cd_free(c->buckets);
    cd_free(c);
}

void gql_cache_stats(const gql_cache *c, uint64_t *hits, uint64_t *misses)
{
    if (hits) *hits = c ? c->hits : 0;
    if (misses) *misses = c ? c->misses : 0;
}

/* Parses and validates into a fresh entry; NULL on OOM. */
static gql_centry *centry_build(gql_schema *s, const char *q, size_t len, uint64_t h)
{
    gql_centry *e = cd_calloc(1, sizeof *e);
    if (!e) return NULL;
    gql_cached_doc *d = &e->doc;
    cd_arena_init(&d->arena, GQL_CACHE_ARENA_BLOCK);
    d->refs = 1;
    d->hash = h;
    d->len = len;
    d->text = cd_arena_strndup(&d->arena, q, len);
    if (!d->text) goto oom;
    gql_syntax_error serr;
    memset(&serr, 0, sizeof serr);
    gql_document *doc = NULL;
    int rc = gql_parse(&d->arena, q, len, &doc, &serr);
    if (rc == CD_ENOMEM) goto oom;
    gql_error_list errs;
    gql_errors_init(&errs, &d->arena);
    if (rc != 0) {
        gql_error *err = gql_errors_add(&errs, &serr.loc, serr.loc.line ? 1 : 0, "%s",
                                        serr.message[0] ? serr.message : "Syntax Error");
        if (!err) goto oom;
        err->code = "GRAPHQL_PARSE_FAILED";
    } else {
        d->doc = doc;
        uint32_t nv = gql_validate(s, doc, &errs);
        /* validation that ran out of memory is not a verdict on the
         * document: report OOM and cache nothing */
        if (nv > errs.n && !errs.truncated) goto oom;
        for (uint32_t i = 0; i < errs.n; i++) {
            if (strncmp(errs.items[i].message, "Out of memory", 13) == 0) goto oom;
            if (!errs.items[i].code) errs.items[i].code = "GRAPHQL_VALIDATION_FAILED";
        }
    }
    d->errors = errs.items;
    d->nerrors = errs.n;
    return e;
oom:
    centry_free(e);
    return NULL;
}

gql_cached_doc *gql_cache_get(gql_cache *c, gql_schema *s, const char *query, size_t len)
{
    uint64_t h = gql_text_hash(query, len);
    if (!c) {
        gql_centry *e = centry_build(s, query, len, h);
        return e ? &e->doc : NULL;
    }
    gql_centry *e = c->buckets[h & (c->nbuckets - 1)];
    for (; e; e = e->hnext) {
        if (e->doc.hash == h && e->doc.len == len && memcmp(e->doc.text, query, len) == 0) {
            c->hits++;
            if (c->head != e) {
                lru_unlink(c, e);
                lru_push_front(c, e);
            }
            e->doc.refs++; /* first: eviction below must not free it */
            size_t now = centry_bytes(e);
            c->bytes += now - e->bytes;
            e->bytes = now;
            if (now > c->max_bytes) {
                cache_remove(c, e);
            } else {
                while (c->bytes > c->max_bytes && c->tail != e)
                    cache_remove(c, c->tail);
            }
            return &e->doc;
        }
    }
    c->misses++;
    e = centry_build(s ? s : c->schema, query, len, h);
    if (!e) return NULL;
    e->bytes = centry_bytes(e);
    if (e->doc.nerrors || e->bytes > c->max_bytes) return &e->doc; /* uncached */
    while ((c->n >= c->max || c->bytes + e->bytes > c->max_bytes) && c->tail)
        cache_remove(c, c->tail);
    uint32_t b = (uint32_t)(h & (c->nbuckets - 1));
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    e->in_cache = true;
    c->n++;
    c->bytes += e->bytes;
    e->doc.refs++; /* the caller's reference; the cache keeps the first */
    return &e->doc;
}
