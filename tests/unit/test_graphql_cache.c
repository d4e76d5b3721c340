/* Unit tests for src/graphql/cache.c: hits and misses, LRU eviction at
 * max_entries and at max_bytes, reference counts that keep evicted documents
 * alive, bad documents returned with their errors but never retained,
 * uncached use, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graphql/gql_internal.h"

static const char *SDL = "type Query { a: Int b: String }\n";

static int setup(void **state)
{
    gql_schema *s;
    char err[256];
    if (gql_schema_build(SDL, strlen(SDL), &s, err, sizeof err) != 0) return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    gql_schema_free(*state);
    return 0;
}

static gql_cached_doc *get(gql_cache *c, gql_schema *s, const char *q)
{
    return gql_cache_get(c, s, q, strlen(q));
}

static void test_hit_miss(void **state)
{
    gql_schema *s = *state;
    gql_cache *c = gql_cache_new(s, 8);
    assert_non_null(c);
    gql_cached_doc *d1 = get(c, s, "{ a }");
    assert_non_null(d1);
    assert_non_null(d1->doc);
    assert_int_equal(d1->nerrors, 0);
    gql_cached_doc *d2 = get(c, s, "{ a }");
    assert_ptr_equal(d1, d2);
    assert_int_equal(d1->refs, 3); /* cache + two users */
    gql_cached_doc *d3 = get(c, s, "{ b }");
    assert_ptr_not_equal(d1, d3);
    /* same length, different text: never confused */
    gql_cached_doc *d4 = get(c, s, "{ a}");
    gql_cached_doc *d5 = get(c, s, "{a }");
    assert_ptr_not_equal(d4, d5);
    assert_string_equal(d5->text, "{a }");
    uint64_t hits, misses;
    gql_cache_stats(c, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 4);
    gql_cached_doc_release(d1);
    gql_cached_doc_release(d2);
    gql_cached_doc_release(d3);
    gql_cached_doc_release(d4);
    gql_cached_doc_release(d5);
    gql_cache_free(c);
}

static void test_bad_document_not_cached(void **state)
{
    gql_schema *s = *state;
    gql_cache *c = gql_cache_new(s, 8);
    gql_cached_doc *d = get(c, s, "{ a ");
    assert_non_null(d);
    assert_null(d->doc);
    assert_int_equal(d->nerrors, 1);
    assert_non_null(strstr(d->errors[0].message, "Syntax Error"));
    assert_string_equal(d->errors[0].code, "GRAPHQL_PARSE_FAILED");
    assert_int_equal(d->errors[0].nlocs, 1);
    assert_int_equal(d->refs, 1); /* the caller's only: not in the cache */
    gql_cached_doc *again = get(c, s, "{ a ");
    assert_non_null(again);
    assert_ptr_not_equal(d, again);
    assert_int_equal(again->nerrors, 1);
    /* a document that fails validation is not retained either */
    gql_cached_doc *inv = get(c, s, "{ nope }");
    assert_non_null(inv);
    assert_non_null(inv->doc);
    assert_int_equal(inv->nerrors, 1);
    assert_string_equal(inv->errors[0].code, "GRAPHQL_VALIDATION_FAILED");
    assert_int_equal(inv->refs, 1);
    gql_cached_doc *inv2 = get(c, s, "{ nope }");
    assert_ptr_not_equal(inv, inv2);
    assert_int_equal(gql_cache_bytes(c), 0);
    uint64_t hits, misses;
    gql_cache_stats(c, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 4);
    /* the valid document next to them is kept */
    gql_cached_doc *ok = get(c, s, "{ a }");
    gql_cached_doc *ok2 = get(c, s, "{ a }");
    assert_ptr_equal(ok, ok2);
    assert_true(gql_cache_bytes(c) > 0);
    gql_cached_doc_release(d);
    gql_cached_doc_release(again);
    gql_cached_doc_release(inv);
    gql_cached_doc_release(inv2);
    gql_cached_doc_release(ok);
    gql_cached_doc_release(ok2);
    gql_cache_free(c);
}

/* max_bytes: entries of equal size; exactly at the bound all stay, one byte
 * under it the least recently used goes; an entry larger than the bound is
 * never kept. */
static void test_eviction_by_bytes(void **state)
{
    gql_schema *s = *state;
    gql_cache *c = gql_cache_new(s, 100);
    assert_int_equal(gql_cache_bytes(c), 0);
    gql_cached_doc_release(get(c, s, "query Q0 { a }"));
    size_t one = gql_cache_bytes(c);
    assert_true(one > 0);
    assert_true(one <= GQL_CACHE_MAX_BYTES);
    gql_cached_doc_release(get(c, s, "query Q1 { a }"));
    assert_int_equal(gql_cache_bytes(c), 2 * one);

    /* at the edge: both fit */
    gql_cache_set_max_bytes(c, 2 * one);
    gql_cached_doc_release(get(c, s, "query Q0 { a }")); /* hit; Q1 is now LRU */
    uint64_t h, m;
    gql_cache_stats(c, &h, &m);
    assert_int_equal(h, 1);
    assert_int_equal(m, 2);
    assert_int_equal(gql_cache_bytes(c), 2 * one);
    /* a third evicts the least recently used (Q1), by bytes, not entries */
    gql_cached_doc_release(get(c, s, "query Q2 { a }"));
    assert_int_equal(gql_cache_bytes(c), 2 * one);
    gql_cached_doc_release(get(c, s, "query Q0 { a }"));
    gql_cache_stats(c, &h, &m);
    assert_int_equal(h, 2);
    assert_int_equal(m, 3);
    gql_cached_doc_release(get(c, s, "query Q1 { a }")); /* evicted: a miss */
    gql_cache_stats(c, &h, &m);
    assert_int_equal(m, 4);

    /* one byte under the edge: a hit shrinks the cache to one entry */
    gql_cache_set_max_bytes(c, 2 * one - 1);
    gql_cached_doc_release(get(c, s, "query Q1 { a }"));
    assert_int_equal(gql_cache_bytes(c), one);

    /* an entry larger than the bound is returned but not kept */
    gql_cache_set_max_bytes(c, one - 1);
    gql_cached_doc *d = get(c, s, "query Q3 { a }");
    assert_non_null(d);
    assert_int_equal(d->nerrors, 0);
    assert_int_equal(d->refs, 1);
    gql_cached_doc_release(d);
    /* and a held entry that no longer fits leaves on its next hit */
    gql_cached_doc *q1 = get(c, s, "query Q1 { a }");
    assert_non_null(q1);
    assert_int_equal(q1->refs, 1);
    assert_int_equal(gql_cache_bytes(c), 0);
    gql_cached_doc_release(q1);
    gql_cache_free(c);
}

/* Validation errors stop at GQL_MAX_ERRORS, then one more says so (as
 * graphql-js's maxErrors). */
static void test_validation_error_cap(void **state)
{
    gql_schema *s = *state;
    for (uint32_t nf = GQL_MAX_ERRORS; nf <= GQL_MAX_ERRORS + 1; nf++) {
        cd_buf q;
        cd_buf_init(&q);
        cd_buf_puts(&q, "{");
        for (uint32_t i = 0; i < nf; i++)
            cd_buf_printf(&q, " f%u", i);
        cd_buf_puts(&q, " }");
        gql_cached_doc *d = gql_cache_get(NULL, s, q.data, q.len);
        assert_non_null(d);
        if (nf == GQL_MAX_ERRORS) {
            assert_int_equal(d->nerrors, GQL_MAX_ERRORS);
            assert_null(strstr(d->errors[nf - 1].message, "Too many"));
        } else {
            assert_int_equal(d->nerrors, GQL_MAX_ERRORS + 1);
            assert_string_equal(d->errors[GQL_MAX_ERRORS].message,
                                "Too many validation errors, error limit reached. Validation "
                                "aborted.");
        }
        gql_cached_doc_release(d);
        cd_buf_free(&q);
    }
}

static void test_lru_eviction_and_refcount(void **state)
{
    gql_schema *s = *state;
    gql_cache *c = gql_cache_new(s, 3);
    char q[32];
    gql_cached_doc *held = get(c, s, "{ a }"); /* kept across eviction */
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "{ a%*s}", i + 2, "");
        gql_cached_doc_release(get(c, s, q));
    }
    /* "{ a }" was least recently used and is gone from the table but alive */
    assert_int_equal(held->refs, 1);
    assert_string_equal(held->text, "{ a }");
    assert_non_null(held->doc);
    gql_cached_doc *fresh = get(c, s, "{ a }");
    assert_ptr_not_equal(fresh, held); /* a miss: rebuilt */
    gql_cached_doc_release(held);      /* freed here (ASan checks) */
    /* touching an entry protects it from eviction */
    snprintf(q, sizeof q, "{ a%*s}", 3, "");
    gql_cached_doc *t = get(c, s, q); /* hit: now most recent */
    gql_cached_doc_release(t);
    gql_cached_doc_release(get(c, s, "{ b }")); /* evicts the LRU one */
    uint64_t h0, m0, h1, m1;
    gql_cache_stats(c, &h0, &m0);
    gql_cached_doc_release(get(c, s, q));
    gql_cache_stats(c, &h1, &m1);
    assert_int_equal(h1, h0 + 1); /* still cached */
    gql_cached_doc_release(fresh);
    gql_cache_free(c);
}

static void test_uncached_and_limits(void **state)
{
    gql_schema *s = *state;
    gql_cached_doc *d = gql_cache_get(NULL, s, "{ a b }", 7);
    assert_non_null(d);
    assert_int_equal(d->refs, 1);
    assert_non_null(d->doc);
    gql_cached_doc_release(d);
    /* default size */
    gql_cache *c = gql_cache_new(s, 0);
    assert_non_null(c);
    char q[64];
    for (uint32_t i = 0; i < GQL_CACHE_DEFAULT_ENTRIES + 1; i++) {
        snprintf(q, sizeof q, "query Q%u { a }", i);
        gql_cached_doc_release(get(c, s, q));
    }
    uint64_t h, m;
    gql_cached_doc_release(get(c, s, "query Q0 { a }")); /* evicted: a miss */
    gql_cache_stats(c, &h, &m);
    assert_int_equal(h, 0);
    assert_int_equal(m, GQL_CACHE_DEFAULT_ENTRIES + 2);
    snprintf(q, sizeof q, "query Q%u { a }", GQL_CACHE_DEFAULT_ENTRIES);
    gql_cached_doc_release(get(c, s, q)); /* newest: a hit */
    gql_cache_stats(c, &h, &m);
    assert_int_equal(h, 1);
    gql_cache_free(c);
    gql_cache_stats(NULL, &h, &m);
    assert_int_equal(h, 0);
}

static void test_alloc_failures(void **state)
{
    gql_schema *s = *state;
    bool ok = false;
    for (long n = 1; n < 200 && !ok; n++) {
        cd_alloc_fail_after(n);
        gql_cache *c = gql_cache_new(s, 2);
        gql_cached_doc *d = c ? get(c, s, "query X { a b ... on Query { a } }") : NULL;
        gql_cached_doc *e = c ? get(c, s, "query X { a b ... on Query { a } }") : NULL;
        cd_alloc_fail_after(0);
        /* a valid document is never cached as bad because memory ran out */
        if (d) assert_int_equal(d->nerrors, 0);
        if (e) assert_int_equal(e->nerrors, 0);
        if (d && e) {
            assert_ptr_equal(d, e);
            assert_non_null(d->doc);
            ok = true;
        }
        if (d) gql_cached_doc_release(d);
        if (e) gql_cached_doc_release(e);
        gql_cache_free(c);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss),
        cmocka_unit_test(test_bad_document_not_cached),
        cmocka_unit_test(test_eviction_by_bytes),
        cmocka_unit_test(test_validation_error_cap),
        cmocka_unit_test(test_lru_eviction_and_refcount),
        cmocka_unit_test(test_uncached_and_limits),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
