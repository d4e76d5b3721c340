/*
 * graphql.h — public contract of chatd's GraphQL engine (src/graphql/).
 *
 * The engine has no network code. A server:
 *   1. builds a schema from SDL once (gql_schema_build) and binds resolvers by
 *      "Type.field" (gql_schema_bind);
 *   2. per request: gql_exec_new → gql_exec_prepare (parse + validate, cached
 *      by document hash in a gql_cache) → gql_exec_set_variables →
 *      gql_exec_run (resolvers may complete later from the event loop) →
 *      done callback → gql_exec_write_result → gql_exec_free;
 *   3. for a subscription: prepare once, read the root field and its coerced
 *      arguments (gql_exec_root_field) to route it, then call gql_exec_run once
 *      per event with the event payload as root value.
 *
 * Memory: a gql_exec owns two arenas: one for the prepared state (variables,
 * coerced arguments) and one for a run's results, reset at the start of each
 * run. Resolver results must live in gql_ri_arena() (or be static). A cached
 * document is reference-counted and outlives cache eviction while in use.
 * Errors: functions return 0 or a negative CD_* code (core.h).
 */
#ifndef CHATD_GRAPHQL_H
#define CHATD_GRAPHQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/core.h"
#include "graphql/value.h"

/* ---- limits (each has a test at its edge) ---- */
#define GQL_MAX_DEPTH 24u            /* selection nesting, through fragments */
#define GQL_MAX_FIELDS 2000u         /* field selections after fragment expansion (cost) */
#define GQL_MAX_ALIASES 200u         /* aliased fields per operation */
#define GQL_MAX_VARIABLE_LIST 10000u /* items in one list in variables */
#define GQL_MAX_ERRORS 100u          /* errors reported per response */
#define GQL_CACHE_DEFAULT_ENTRIES 512u
#define GQL_CACHE_MAX_BYTES (64u * 1024u * 1024u) /* memory of the cached documents */
/* Per-request budgets (gql_exec_set_limits; the server's settings
 * CHATD_MAX_QUERY_COST / CHATD_MAX_RESPONSE_BYTES default to these):
 *  - cost: estimated before execution (each field 1; a list field multiplies
 *    its selection by its `first` / `limit` argument, else by
 *    GQL_COST_DEFAULT_LIST_SIZE; see cost.c). Above the budget
 *    gql_exec_set_variables fails with one request error, code
 *    QUERY_TOO_COSTLY, extensions {cost, limit}. The web client's heaviest
 *    operation costs about 600; a full 1000-message page of every Message
 *    field about 12,000; 20 aliases of messages(limit: 1000) 40,020.
 *  - response bytes: the JSON the run writes (gql_exec_write_result, data and
 *    errors). A run whose results pass it stops starting work; a response
 *    that would pass it is answered {"data":null,"errors":[...]} with one
 *    error, code RESPONSE_TOO_LARGE, extensions {limit}; a response of
 *    exactly the budget is written whole. */
#define GQL_DEFAULT_MAX_COST 25000u
#define GQL_COST_DEFAULT_LIST_SIZE 10u
#define GQL_DEFAULT_MAX_RESPONSE_BYTES (32u * 1024u * 1024u)

typedef struct gql_schema gql_schema;
typedef struct gql_cache gql_cache;
typedef struct gql_exec gql_exec;
typedef struct gql_rinfo gql_rinfo;

/* ---- errors ---- */

typedef struct gql_path_seg {
    const char *key; /* field response key, or NULL for a list index */
    int64_t index;
} gql_path_seg;

typedef struct gql_error {
    const char *message;
    gql_loc *locs;
    uint32_t nlocs;
    gql_path_seg *path; /* NULL for request errors */
    uint32_t npath;
    const char *code;     /* extensions.code, or NULL */
    const gql_value *ext; /* further extensions fields (OBJECT) or NULL */
} gql_error;

/* ---- schema ---- */

typedef void (*gql_resolve_fn)(gql_rinfo *ri);

/* Builds a schema from SDL text (type definitions, extensions, directives,
 * schema definition; built-ins are implicit). Root fields may carry
 * `@owner(role: "sender")` (declared in the SDL as
 * `directive @owner(role: String!) on FIELD_DEFINITION`) naming the role that
 * serves them. Returns 0 or CD_EBAD with "line:col: message" in err. */
int gql_schema_build(const char *sdl, size_t len, gql_schema **out, char *err, size_t errlen);
void gql_schema_free(gql_schema *s);
/* Binds a resolver to "Type.field". CD_ENOENT when no such field. */
int gql_schema_bind(gql_schema *s, const char *coord, gql_resolve_fn fn, void *ud);
/* The role owning a root field ("Mutation.createChat"), or NULL. */
const char *gql_schema_owner(const gql_schema *s, const char *coord);

/* ---- document cache ---- */

gql_cache *gql_cache_new(gql_schema *s, uint32_t max_entries);
void gql_cache_free(gql_cache *c);
/* Number of hits/misses so far (metrics). */
void gql_cache_stats(const gql_cache *c, uint64_t *hits, uint64_t *misses);

/* ---- documents (document.c) ---- */

typedef bool (*gql_field_pred_fn)(const char *name, void *ud);
/* True when pred(name, ud) holds for every field the selected operation of
 * `query` (operation_name; NULL = the first) selects at its root, through
 * fragment spreads and inline fragments; stops at the first refusal. False
 * too when the document does not parse, has no such operation, spreads an
 * unknown fragment or nests fragments deeper than the engine follows. The
 * document comes from `cache` (a lookup after gql_exec_prepare; parsed and
 * validated on a miss; cache may be NULL). */
bool gql_root_fields_all(gql_cache *cache, gql_schema *schema, const char *query, size_t len,
                         const char *operation_name, gql_field_pred_fn pred, void *ud);

/* ---- execution ---- */

typedef enum gql_op_kind { GQL_QUERY = 0, GQL_MUTATION = 1, GQL_SUBSCRIPTION = 2 } gql_op_kind;

typedef struct gql_exec_opts {
    const char *service;   /* role of this process ("user", ...); NULL = all roles */
    void *context;         /* handed to resolvers (caller identity etc.) */
    bool no_introspection; /* refuse __schema / __type (CHATD_INTROSPECTION=off) */
} gql_exec_opts;

typedef void (*gql_exec_done_fn)(gql_exec *ex, void *ud);

typedef struct gql_exec_limits {
    uint64_t max_cost;         /* 0 = GQL_DEFAULT_MAX_COST */
    size_t max_response_bytes; /* 0 = GQL_DEFAULT_MAX_RESPONSE_BYTES */
} gql_exec_limits;

/* cache may be NULL (parse every time). NULL on OOM. */
gql_exec *gql_exec_new(gql_schema *s, gql_cache *cache);
/* Parses (or takes from the cache) and validates `query`, then selects the
 * operation by name (NULL = the only one). On failure returns CD_EBAD (or
 * CD_ELIMIT) and the exec holds request errors (no "data"). */
int gql_exec_prepare(gql_exec *ex, const char *query, size_t len, const char *operation_name);
/* The request's budgets (copied; NULL = the defaults), before
 * gql_exec_set_variables; they hold until the exec is freed. */
void gql_exec_set_limits(gql_exec *ex, const gql_exec_limits *limits);
/* Coerces variables (an OBJECT value, or NULL for none) against the selected
 * operation's definitions, then estimates the operation's cost. CD_EBAD with
 * request errors on failure; CD_ELIMIT with the QUERY_TOO_COSTLY request
 * error when the cost is over the budget (nothing runs). */
int gql_exec_set_variables(gql_exec *ex, const gql_value *vars);
/* (For a subscription, vars are copied into the exec first: its coerced
 * variables and arguments never point into the caller's value.) */
/* The estimated cost of the selected operation (after set_variables; 0
 * before). */
uint64_t gql_exec_cost(const gql_exec *ex);
gql_op_kind gql_exec_op(const gql_exec *ex);
/* After set_variables: the root field *name* of the
 * operation's first root selection and its coerced arguments (OBJECT). Used to
 * route subscriptions. NULL if there is no field (only __typename etc.). */
const char *gql_exec_root_field(gql_exec *ex, const gql_value **args);
/* Executes the prepared operation with `root` as root value (NULL = empty
 * object). `done` runs exactly once, possibly before this returns. Returns 0
 * or CD_ESTATE when not prepared or already running. */
int gql_exec_run(gql_exec *ex, const gql_value *root, const gql_exec_opts *opts,
                 gql_exec_done_fn done, void *ud);
/* True when the last prepare/run produced a "data" entry (false for request
 * errors: parse, validation, variable coercion). */
bool gql_exec_has_data(const gql_exec *ex);
const gql_error *gql_exec_errors(const gql_exec *ex, uint32_t *n);
/* Appends the response object {"errors":[...]} or {"data":...,"errors":[...]}
 * in spec order. Returns 0, or CD_ELIMIT when the response would pass the
 * response byte budget: then only {"data":null,"errors":[RESPONSE_TOO_LARGE]}
 * was appended (whatever `out` held before is kept). */
int gql_exec_write_result(const gql_exec *ex, cd_buf *out);
/* For a prepared subscription (variables set): prepares it again, with the
 * same arguments as before, into a prep block of exactly the size the first
 * preparation used, so an idle subscription holds no unused prep space
 * (later argument coercion during runs still allocates as needed). 0 (also
 * when there is nothing to gain), or the error of gql_exec_prepare /
 * gql_exec_set_variables (the exec then holds that request error). */
int gql_exec_compact(gql_exec *ex, const char *query, size_t len, const char *operation_name,
                     const gql_value *vars);
/* A new exec that runs `base`'s prepared subscription (prepared, variables
 * set) without preparing it again: it shares base's document, variables,
 * plans and root arguments, and what its runs add to them (nested plans and
 * arguments, computed once for every borrower). Subscriptions with the same
 * document and variables keep one prepared exec and borrow it for a run.
 * base is freed (gql_exec_free) whenever its owner is done with it; the
 * memory goes with the last borrower. base can no longer be prepared again
 * (CD_ESTATE) while borrowed and never runs itself in that time (nothing
 * stops it; its owner must not). NULL on OOM, or when base is not a
 * prepared subscription, is a borrower itself, or is freed or running. */
gql_exec *gql_exec_borrow(gql_exec *base);
/* Releases the memory of the last run's result (its arena) while no run is
 * in flight, so an idle subscription holds only its prepared state. The
 * last result can no longer be written afterwards. No-op while running. */
void gql_exec_trim(gql_exec *ex);
/* Frees the exec. If a run is in flight, resolvers still complete (they must
 * call gql_ri_return/gql_ri_error), their results are dropped, the done
 * callback is not called, and memory is released after the last one. */
void gql_exec_free(gql_exec *ex);

/* ---- resolvers ---- */

const gql_value *gql_ri_parent(const gql_rinfo *ri);
const gql_value *gql_ri_args(const gql_rinfo *ri); /* OBJECT of coerced arguments */
const gql_value *gql_ri_arg(const gql_rinfo *ri, const char *name); /* NULL if absent */
void *gql_ri_context(const gql_rinfo *ri);
void *gql_ri_userdata(const gql_rinfo *ri);
cd_arena *gql_ri_arena(gql_rinfo *ri);
const char *gql_ri_field_name(const gql_rinfo *ri);
const char *gql_ri_parent_type(const gql_rinfo *ri);
/* Completes the field (exactly one of these, once; now or later from the
 * loop). The value is copied shallowly: its children must live in
 * gql_ri_arena() or be static. For an abstract return type the value must be
 * an OBJECT with a "__typename" string naming its concrete type. */
void gql_ri_return(gql_rinfo *ri, gql_value v);
void gql_ri_error(gql_rinfo *ri, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As gql_ri_error with extra extensions fields (an OBJECT, copied). */
void gql_ri_error_ext(gql_rinfo *ri, const char *code, const gql_value *ext, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
