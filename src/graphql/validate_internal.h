/*
 * validate_internal.h — state shared by validate.c (the document walk and
 * most rules) and validate_overlap.c (OverlappingFieldsCanBeMerged).
 * Private to those two files.
 *
 * Memory: every temporary structure lives in `scratch`, an arena created and
 * freed by one gql_validate() call; error messages and locations go to the
 * caller's error list (its arena).
 */
#ifndef CHATD_GQL_VALIDATE_INTERNAL_H
#define CHATD_GQL_VALIDATE_INTERNAL_H

#include "graphql/gql_internal.h"

/* OverlappingFieldsCanBeMerged comparisons allowed per document; past it
 * validation ends with "Validation aborted." (graphql-js 16.8 has no bound
 * and can take exponential time on adversarial documents). */
#define GQL_V_OVERLAP_BUDGET 1000000L
/* Nesting of the rule's recursive comparisons (fragment chains, nested
 * same-named fields) before validation ends with "Validation aborted.". */
#define GQL_V_OVERLAP_MAX_DEPTH 4000u

typedef struct gql_vov gql_vov; /* validate_overlap.c */

typedef struct gql_vctx {
    const gql_schema *s;
    const gql_document *doc;
    gql_error_list *errs;
    cd_arena scratch;
    uint32_t nerr;
    bool aborted; /* stop walking: error cap, budget or OOM */
    bool oom;
    /* fragments by name: sorted unique names and the definition each name
     * resolves to (the last one, as graphql-js's getFragment) */
    uint32_t nfrag;
    const char **frag_name;
    const gql_fragment **frag_def;
    gql_vov *ov;
    long budget;       /* OverlappingFieldsCanBeMerged work left */
    uint32_t ov_depth; /* its current recursion depth */
} gql_vctx;

void *gql_v_alloc(gql_vctx *v, size_t n); /* zeroed scratch memory; NULL on OOM */
void gql_v_error(gql_vctx *v, const gql_loc *locs, uint32_t nlocs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Index of a fragment name in frag_name, or -1. */
int gql_v_frag_index(const gql_vctx *v, const char *name);
const gql_fragment *gql_v_fragment(const gql_vctx *v, const char *name);
/* "[Foo!]" of a resolved type, in scratch. */
const char *gql_v_tref_str(gql_vctx *v, const gql_tref *t);
/* Deducts overlap work; false (and aborted, with the "Validation aborted."
 * error) once the budget is exhausted. */
bool gql_v_spend(gql_vctx *v, long cost);

/* OverlappingFieldsCanBeMerged for one selection set (the rule's visitor). */
void gql_v_overlap(gql_vctx *v, const gql_type *parent, const gql_selection_set *ss);

#endif
