/*
 * gql_internal.h — functions shared between the engine's own files; not for
 * use outside src/graphql/.
 *
 *   lexer.c parser.c print.c  → ast.h (gql_parse, gql_print_value, ...)
 *   value.c json.c            → value.h
 *   schema.c                  → schema.h (build, lookup, built-ins)
 *   validate.c                → gql_validate
 *   coerce.c                  → variable / argument / input coercion
 *   execute.c                 → gql_exec_* and gql_ri_* (graphql.h)
 *   cost.c                    → the cost estimate of an operation
 *   introspect.c              → __schema / __type / __typename values
 *   cache.c                   → gql_cache_*
 */
#ifndef CHATD_GQL_INTERNAL_H
#define CHATD_GQL_INTERNAL_H

#include "graphql/ast.h"
#include "graphql/graphql.h"
#include "graphql/schema.h"

/* A growable list of errors allocated in an arena. */
typedef struct gql_error_list {
    cd_arena *arena;
    gql_error *items;
    uint32_t n, cap;
    bool truncated; /* more than GQL_MAX_ERRORS were produced */
} gql_error_list;

void gql_errors_init(gql_error_list *l, cd_arena *a);
/* Adds an error with up to `nlocs` locations (copied). Returns the error (so
 * the caller may set path/code) or NULL on OOM / when full. */
gql_error *gql_errors_add(gql_error_list *l, const gql_loc *locs, uint32_t nlocs, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
/* Writes [ {message, locations, path, extensions}, ... ] */
void gql_errors_write_json(cd_buf *b, const gql_error *errs, uint32_t n);

/* validate.c: runs every rule of the spec's Validation section (plus the
 * depth / field-count / alias limits) on an executable document. Returns the
 * number of errors added to `errs` (0 = valid). A document containing
 * type-system definitions is invalid (ExecutableDefinitions). */
uint32_t gql_validate(const gql_schema *s, const gql_document *doc, gql_error_list *errs);
/* Validation work allowed per document, over every rule and the walk: a unit
 * is about one comparison of two names or nodes (each rule charges its
 * loops through gql_v_work). Past it validation ends with "Validation
 * aborted.", so no document costs more than a few tens of milliseconds
 * whatever its shape (20,000 tokens can otherwise ask for 10^8 comparisons). */
#define GQL_V_WORK_BUDGET 8000000L
/* OverlappingFieldsCanBeMerged comparisons allowed per document; past it
 * validation ends with "Validation aborted." (graphql-js 16.8 has no bound
 * and can take exponential time on adversarial documents). */
#define GQL_V_OVERLAP_BUDGET 1000000L
/* The work one validation did, against its budgets; a budget of 0 in
 * gql_validate_ex's `w` means the default. */
typedef struct gql_vwork {
    long overlap_budget, work_budget; /* in */
    bool no_limits;                   /* in: skip chatd's limits (tests measure the rules) */
    long overlap_spent, work;         /* out */
} gql_vwork;
uint32_t gql_validate_ex(const gql_schema *s, const gql_document *doc, gql_error_list *errs,
                         gql_vwork *w);

/* coerce.c */
/* Coerces a JSON variables object against the operation's definitions into
 * `*out` (OBJECT holding only provided-or-defaulted variables). Errors are
 * request errors ("Variable \"$x\" got invalid value ..."). Returns 0/CD_EBAD. */
int gql_coerce_variables(cd_arena *a, const gql_schema *s, const gql_operation *op,
                         const gql_value *vars, gql_value *out, gql_error_list *errs);
/* Coerces a field's / directive's AST arguments with variables into an OBJECT.
 * Returns 0 or CD_EBAD with one error (located at the argument) in errs. */
int gql_coerce_arguments(cd_arena *a, const gql_input_value *defs, uint32_t ndefs,
                         const gql_argument *args, uint32_t nargs, const gql_value *vars,
                         gql_value *out, gql_error_list *errs, gql_loc at);
/* Input coercion of a runtime (JSON) value to an input type; used for variables
 * and for JSON-scalar/custom values. msg receives a reason on failure. */
int gql_coerce_input(cd_arena *a, const gql_tref *type, const gql_value *in, gql_value *out,
                     char *msg, size_t msglen);

/* cost.c: the estimated cost of `op` (see graphql.h) with its coerced
 * variables (OBJECT or NULL). 0 or CD_ENOMEM. */
int gql_cost_operation(const gql_schema *s, const gql_document *doc, const gql_operation *op,
                       const gql_value *vars, uint64_t *cost);

/* coerce.c: attaches serialize/parse hooks to the scalars the engine knows by
 * name (built-ins; DateTime: ISO-8601 string; JSON: any value). Called by
 * gql_schema_build() after all types exist. */
void gql_scalars_install(gql_schema *s);

/* introspect.c: the value tree of __schema for `s`, built once and cached in
 * the schema (all in schema->arena); __type(name) looks up by name. The
 * introspection objects are plain OBJECT values with "__typename", so the
 * executor's default resolver serves them; fields with includeDeprecated
 * arguments have resolvers bound by gql_introspection_bind(). */
const gql_value *gql_introspection_schema(gql_schema *s);
const gql_value *gql_introspection_type(gql_schema *s, const char *name);
int gql_introspection_bind(gql_schema *s); /* called by gql_schema_build() last */

/* cache.c: a prepared (parsed + validated) document, reference-counted. */
typedef struct gql_cached_doc {
    cd_arena arena;    /* owns doc and errors */
    gql_document *doc; /* NULL when parsing failed */
    gql_error *errors; /* parse or validation errors (request errors) */
    uint32_t nerrors;
    uint32_t refs;
    uint64_t hash;
    size_t len;
    char *text;       /* copy of the query text (for collision checks) */
    void *exec_plans; /* execute.c: field plans shared by every exec of
                         this document (in arena); NULL until first run */
} gql_cached_doc;

/* Returns a referenced document for query text (parsing and validating on a
 * miss). c may be NULL: then a fresh uncached document is returned; so is a
 * document with errors (never cached). NULL only on OOM. */
gql_cached_doc *gql_cache_get(gql_cache *c, gql_schema *s, const char *query, size_t len);
void gql_cached_doc_release(gql_cached_doc *d);
/* The bound on the memory of the cached entries (GQL_CACHE_MAX_BYTES unless
 * set; tests set a small one) and the memory they hold now. */
void gql_cache_set_max_bytes(gql_cache *c, size_t max_bytes);
size_t gql_cache_bytes(const gql_cache *c);

#endif
