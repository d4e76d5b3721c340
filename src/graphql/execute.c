/*
 * execute.c — the executor (spec §6): operation selection, variables,
 * ExecuteSelectionSet with asynchronous resolvers, value completion and null
 * propagation. Implements gql_exec_* (but gql_exec_write_result) and gql_ri_*
 * of graphql.h.
 *
 * Shape of a run. Every output position is a gql_rval "slot" in a result
 * tree held in the run arena; each slot knows its container (`up`), so a
 * path for an error is read off the tree and no per-field path nodes exist.
 * A field with a bound resolver gets a gql_rinfo and bumps `pending`; when it
 * completes (now or later from the loop) its value is completed into the
 * slot, which may start more resolvers. The run holds one pending unit of its
 * own while it starts work, so completion is signalled exactly once: when
 * `pending` drops to zero. Mutation root fields run one after another: the
 * next starts only when the previous field's whole subtree is idle.
 *
 * Null propagation is eager: a null (or error) in a non-null slot marks the
 * nearest nullable ancestor `nulled`. Like graphql-js's synchronous path,
 * fields and list items after one that nulled their container are not
 * started (see "field errors and null propagation" below for the graphql-js
 * rules kept so error lists match it).
 *
 * Field plans (which fields an object of a type gets, their coerced
 * arguments) come from execute_plan.c; the JSON response is written by
 * execute_write.c; the types they share are in execute_internal.h.
 *
 * Ownership: the exec owns its prep arena (variables, per-exec plans and
 * arguments), its run arena (results, errors, rinfos; reset per run) and one
 * reference to the cached document. gql_exec_free during a run only marks it
 * cancelled; the last resolver completion frees it and the done callback is
 * not called.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graphql/execute_internal.h"

/* Arena block sizes. The prep arena holds only variables and per-exec
 * arguments (plans live in the cached document): small. Query and mutation
 * results live for one request: large run blocks, few mallocs. A
 * subscription's exec lives as long as the subscription, mostly idle: small
 * blocks (and gql_exec_trim between events) keep an idle one under a kilobyte
 * (840 B measured for a chat subscription). */
#define GQL_EXEC_PREP_BLOCK 1024u
#define GQL_EXEC_RUN_BLOCK 16384u
#define GQL_EXEC_SUB_PREP_BLOCK 512u
#define GQL_EXEC_SUB_RUN_BLOCK 2048u
#define GQL_EXEC_MSG_LEN 512u
_Static_assert(GQL_MAX_ERRORS == 100u, "update the 'Too many errors' message");

struct gql_rinfo {
    gql_exec *ex;
    gql_pfield *pf;
    const gql_type *ptype;
    const gql_value *parent;
    gql_rval *slot;
    const gql_value *args;
    gql_value result;
    bool done;
};

const gql_value gql_null_value = {.kind = GQL_V_NULL};
const gql_value gql_empty_object = {.kind = GQL_V_OBJECT};

/* ---- lifecycle ---- */

gql_exec *gql_exec_new(gql_schema *s, gql_cache *cache)
{
    gql_exec *ex = cd_calloc(1, sizeof *ex);
    if (!ex) return NULL;
    ex->schema = s;
    ex->cache = cache;
    cd_arena_init(&ex->prep, GQL_EXEC_PREP_BLOCK);
    cd_arena_init(&ex->run, GQL_EXEC_RUN_BLOCK);
    gql_errors_init(&ex->errs, &ex->run);
    gql_exec_set_limits(ex, NULL);
    return ex;
}

void gql_exec_set_limits(gql_exec *ex, const gql_exec_limits *limits)
{
    ex->limits.max_cost = limits && limits->max_cost ? limits->max_cost : GQL_DEFAULT_MAX_COST;
    ex->limits.max_response_bytes = limits && limits->max_response_bytes
                                        ? limits->max_response_bytes
                                        : GQL_DEFAULT_MAX_RESPONSE_BYTES;
}

uint64_t gql_exec_cost(const gql_exec *ex)
{
    return ex->cost;
}

static void exec_destroy(gql_exec *ex)
{
    if (ex->borrowers) { /* the borrowers' runs still read its state */
        ex->orphan = true;
        return;
    }
    gql_exec *base = ex->base;
    if (!base && ex->doc) gql_cached_doc_release(ex->doc); /* a borrower holds none */
    cd_arena_free(&ex->prep);
    cd_arena_free(&ex->run);
    cd_free(ex);
    if (base && --base->borrowers == 0 && base->orphan) exec_destroy(base);
}

void gql_exec_free(gql_exec *ex)
{
    if (!ex) return;
    if (ex->running) {
        ex->cancelled = true;
        return;
    }
    exec_destroy(ex);
}

gql_exec *gql_exec_borrow(gql_exec *base)
{
    if (!base || base->base || base->orphan || base->running || !base->op ||
        base->op->op != GQL_OP_SUBSCRIPTION || !base->vars_ready || base->borrowers == UINT32_MAX)
        return NULL;
    if (!gql_plan_root(base)) return NULL; /* settles root_plan and shared */
    gql_exec *ex = cd_calloc(1, sizeof *ex);
    if (!ex) return NULL;
    ex->schema = base->schema;
    ex->cache = base->cache;
    ex->base = base;
    ex->doc = base->doc;
    ex->op = base->op;
    ex->root_type = base->root_type;
    ex->vars = base->vars;
    ex->vars_ready = true;
    ex->root_plan = base->root_plan;
    ex->shared = base->shared;
    ex->limits = base->limits;
    ex->cost = base->cost;
    cd_arena_init(&ex->prep, GQL_EXEC_SUB_PREP_BLOCK / 2); /* unused: state is the base's */
    cd_arena_init(&ex->run, GQL_EXEC_SUB_RUN_BLOCK);
    gql_errors_init(&ex->errs, &ex->run);
    base->borrowers++;
    return ex;
}

void gql_exec_trim(gql_exec *ex)
{
    if (!ex || ex->running) return;
    size_t bs = ex->run.block_size;
    cd_arena_free(&ex->run);
    cd_arena_init(&ex->run, bs);
    gql_errors_init(&ex->errs, &ex->run);
    ex->data = NULL;
    if (ex->has_data) ex->has_data = false; /* nothing left to write */
}

static gql_error *set_request_error(gql_exec *ex, const char *code, const gql_loc *loc,
                                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static gql_error *set_request_error(gql_exec *ex, const char *code, const gql_loc *loc,
                                    const char *fmt, ...)
{
    char msg[GQL_EXEC_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gql_error_list l;
    gql_errors_init(&l, &ex->prep);
    gql_error *e = gql_errors_add(&l, loc, loc ? 1 : 0, "%s", msg);
    if (e) e->code = code;
    ex->req_errs = l.items;
    ex->nreq_errs = l.n;
    if (!e) ex->oom = true;
    return e;
}

int gql_exec_prepare(gql_exec *ex, const char *query, size_t len, const char *operation_name)
{
    if (ex->running || ex->base || ex->borrowers) return CD_ESTATE;
    if (ex->doc) {
        gql_cached_doc_release(ex->doc);
        ex->doc = NULL;
    }
    cd_arena_free(&ex->prep);
    cd_arena_init(&ex->prep, GQL_EXEC_PREP_BLOCK);
    ex->op = NULL;
    ex->root_plan = NULL;
    ex->shared = -1;
    ex->vargs = NULL;
    ex->nvargs = ex->capvargs = 0;
    ex->vars_ready = ex->vars_failed = ex->has_data = ex->oom = false;
    ex->req_errs = NULL;
    ex->nreq_errs = 0;
    ex->doc = gql_cache_get(ex->cache, ex->schema, query, len);
    if (!ex->doc) {
        ex->oom = true;
        return CD_ENOMEM;
    }
    if (ex->doc->nerrors || !ex->doc->doc) {
        ex->req_errs = ex->doc->errors;
        ex->nreq_errs = ex->doc->nerrors;
        for (uint32_t i = 0; i < ex->doc->nerrors; i++)
            if (ex->doc->errors[i].code &&
                strcmp(ex->doc->errors[i].code, "QUERY_TOO_COMPLEX") == 0)
                return CD_ELIMIT;
        return CD_EBAD;
    }
    const gql_document *doc = ex->doc->doc;
    const gql_operation *op = NULL;
    uint32_t nops = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        if (doc->defs[i].kind != GQL_DEF_OPERATION) continue;
        const gql_operation *o = doc->defs[i].u.op;
        nops++;
        if (operation_name) {
            if (o->name && strcmp(o->name, operation_name) == 0) op = o;
        } else if (!op) {
            op = o;
        }
    }
    if (operation_name && !op) {
        set_request_error(ex, "OPERATION_RESOLUTION_FAILURE", NULL,
                          "Unknown operation named \"%s\".", operation_name);
        return CD_EBAD;
    }
    if (!operation_name && nops > 1) {
        set_request_error(ex, "OPERATION_RESOLUTION_FAILURE", NULL,
                          "Must provide operation name if query contains multiple operations.");
        return CD_EBAD;
    }
    if (!op) {
        set_request_error(ex, "OPERATION_RESOLUTION_FAILURE", NULL, "Must provide an operation.");
        return CD_EBAD;
    }
    gql_type *rt = op->op <= GQL_OP_SUBSCRIPTION ? ex->schema->root[op->op] : NULL;
    if (!rt) {
        static const char *const names[] = {"query", "mutation", "subscription"};
        set_request_error(ex, "OPERATION_RESOLUTION_FAILURE", &op->loc,
                          "Schema is not configured to execute %s operation.",
                          names[op->op <= 2 ? op->op : 0]);
        return CD_EBAD;
    }
    ex->op = op;
    ex->root_type = rt;
    if (op->op == GQL_OP_SUBSCRIPTION) {
        /* nothing is allocated in either arena yet */
        /* compacted (gql_exec_compact): one exact block; what runs add later
         * (arguments of nested fields) goes to small blocks */
        cd_arena_free(&ex->prep);
        cd_arena_init(&ex->prep,
                      ex->prep_exact ? GQL_EXEC_SUB_PREP_BLOCK / 2 : GQL_EXEC_SUB_PREP_BLOCK);
        if (ex->prep_exact && cd_arena_prealloc(&ex->prep, ex->prep_exact) != 0) {
            ex->oom = true;
            return CD_ENOMEM;
        }
        cd_arena_free(&ex->run);
        cd_arena_init(&ex->run, GQL_EXEC_SUB_RUN_BLOCK);
        gql_errors_init(&ex->errs, &ex->run);
        ex->data = NULL;
    }
    return 0;
}

/* The cost budget, checked once the variables are known: over it the exec
 * holds the QUERY_TOO_COSTLY request error. 0, CD_ELIMIT or CD_ENOMEM. */
static int check_cost(gql_exec *ex)
{
    int rc = gql_cost_operation(ex->schema, ex->doc->doc, ex->op, &ex->vars, &ex->cost);
    if (rc != 0) return rc;
    if (ex->cost <= ex->limits.max_cost) return 0;
    gql_error *e = set_request_error(
        ex, "QUERY_TOO_COSTLY", &ex->op->loc,
        "Query is too costly: its estimated cost %llu exceeds the limit of %llu (each field "
        "counts 1, list fields multiply their selection by their first/limit argument).",
        (unsigned long long)ex->cost, (unsigned long long)ex->limits.max_cost);
    gql_value *ext = e ? gql_obj_new(&ex->prep, 2) : NULL;
    if (ext) {
        gql_obj_set(ext, 0, "cost", gql_int((int64_t)ex->cost));
        gql_obj_set(ext, 1, "limit", gql_int((int64_t)ex->limits.max_cost));
        e->ext = ext;
    } else {
        ex->oom = true;
    }
    return CD_ELIMIT;
}

int gql_exec_compact(gql_exec *ex, const char *query, size_t len, const char *operation_name,
                     const gql_value *vars)
{
    if (!ex->op || ex->op->op != GQL_OP_SUBSCRIPTION || !ex->vars_ready || ex->running ||
        ex->prep_exact || ex->base || ex->borrowers)
        return 0;
    /* what a started subscription holds: its variables, root plan and root
     * arguments (the source reads them through gql_exec_root_field) */
    gql_exec_root_field(ex, NULL);
    const gql_value *args;
    gql_exec_root_field(ex, &args);
    size_t used = ex->prep.used_total;
    if (used + 64 >= cd_arena_capacity(&ex->prep)) return 0; /* nothing worth it */
    ex->prep_exact = used ? used : 16;
    int rc = gql_exec_prepare(ex, query, len, operation_name);
    if (rc == 0) rc = gql_exec_set_variables(ex, vars);
    if (rc == 0) gql_exec_root_field(ex, &args);
    return rc;
}

/* True when coerced values could point into v: it holds text (strings,
 * enums, big ints, raw JSON) or a nested object (a custom scalar may keep
 * one with its keys). The top level's keys are never kept (coerced
 * variables are named by the operation's definitions). */
static bool vars_hold_pointers(const gql_value *v, bool top)
{
    switch (v->kind) {
    case GQL_V_INT:
        return (v->flags & GQL_VF_BIG) != 0;
    case GQL_V_STRING:
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
    case GQL_V_RAW_JSON:
        return true;
    case GQL_V_LIST:
        for (uint32_t i = 0; i < v->len; i++)
            if (vars_hold_pointers(&v->u.items[i], false)) return true;
        return false;
    case GQL_V_OBJECT:
        if (!top) return v->len > 0;
        for (uint32_t i = 0; i < v->len; i++)
            if (vars_hold_pointers(&v->u.fields[i].value, false)) return true;
        return false;
    default:
        return false;
    }
}

/* Coerces vars aside and copies the result into ex->vars (prep arena):
 * 0, CD_EBAD (not valid: nothing kept) or CD_ENOMEM. */
static int coerce_kept(gql_exec *ex, const gql_value *vars)
{
    cd_arena tmp;
    cd_arena_init(&tmp, 512);
    gql_error_list l;
    gql_errors_init(&l, &tmp);
    gql_value cv;
    int rc = gql_coerce_variables(&tmp, ex->schema, ex->op, vars, &cv, &l);
    if (rc == CD_ENOMEM || (rc != 0 && l.n == 0)) rc = CD_ENOMEM;
    if (rc == 0) {
        ex->vars = cv;
        if (cv.kind == GQL_V_OBJECT && cv.len) {
            ex->vars.u.fields = cd_arena_alloc(&ex->prep, sizeof(gql_kv) * cv.len);
            if (!ex->vars.u.fields) rc = CD_ENOMEM;
            for (uint32_t i = 0; rc == 0 && i < cv.len; i++) {
                gql_kv *d = &ex->vars.u.fields[i];
                d->name = cv.u.fields[i].name; /* the operation's variable name */
                d->loc = cv.u.fields[i].loc;
                if (gql_value_clone_to(&ex->prep, &d->value, &cv.u.fields[i].value) != 0)
                    rc = CD_ENOMEM;
            }
        } else if (gql_value_clone_to(&ex->prep, &ex->vars, &cv) != 0) {
            rc = CD_ENOMEM;
        }
        if (rc != 0) ex->vars = (gql_value){.kind = GQL_V_NULL};
    }
    cd_arena_free(&tmp);
    return rc;
}

int gql_exec_set_variables(gql_exec *ex, const gql_value *vars)
{
    if (!ex->op || ex->running || ex->base || ex->borrowers) return CD_ESTATE;
    gql_error_list l;
    gql_errors_init(&l, &ex->prep);
    ex->root_plan = NULL; /* per-exec plans and arguments depend on variables */
    ex->shared = -1;
    ex->vargs = NULL;
    ex->nvargs = ex->capvargs = 0;
    ex->vars_ready = false;
    ex->cost = 0;
    /* a subscription outlives the message its variables came in (and may be
     * borrowed by others): its coerced values must not point into it. They
     * are coerced aside and only the result is copied (its top-level names
     * are the operation's); a failure coerces a copy again, for the errors. */
    if (vars && ex->op->op == GQL_OP_SUBSCRIPTION && vars_hold_pointers(vars, true)) {
        int crc = coerce_kept(ex, vars);
        if (crc == 0) crc = check_cost(ex);
        if (crc == 0) {
            ex->vars_ready = true;
            ex->vars_failed = false;
            return 0;
        }
        if (crc == CD_ENOMEM || crc == CD_ELIMIT) {
            ex->vars_failed = true;
            ex->has_data = false;
            if (crc == CD_ENOMEM) ex->oom = true;
            return crc;
        }
        vars = gql_value_clone(&ex->prep, vars);
        if (!vars) {
            ex->vars_failed = true;
            ex->has_data = false;
            ex->oom = true;
            return CD_ENOMEM;
        }
    }
    int rc = gql_coerce_variables(&ex->prep, ex->schema, ex->op, vars, &ex->vars, &l);
    if (rc == 0) rc = check_cost(ex);
    if (rc == 0) {
        ex->vars_ready = true;
        ex->vars_failed = false;
        return 0;
    }
    if (rc == CD_ELIMIT) {
        ex->vars_failed = true;
        ex->has_data = false;
        return rc;
    }
    ex->vars_failed = true;
    ex->has_data = false;
    ex->req_errs = l.items;
    ex->nreq_errs = l.n;
    if (rc == CD_ENOMEM || l.n == 0) ex->oom = true;
    return rc;
}

gql_op_kind gql_exec_op(const gql_exec *ex)
{
    return ex->op ? (gql_op_kind)ex->op->op : GQL_QUERY;
}

bool gql_exec_has_data(const gql_exec *ex)
{
    return ex->has_data;
}

const gql_error *gql_exec_errors(const gql_exec *ex, uint32_t *n)
{
    if (ex->has_data) {
        *n = ex->errs.n;
        return ex->errs.items;
    }
    *n = ex->nreq_errs;
    return ex->req_errs;
}

/* ---- field errors and null propagation ----
 *
 * A failing field nulls its slot; in a non-null position the null moves to
 * the container, up to the nearest nullable position, and the error is
 * reported once. Two graphql-js behaviours are kept so error lists match it:
 *  - an object whose fields are still being started, with an earlier field
 *    pending, does not fail at once (executeFields waits for the pending
 *    promises first): it is marked `deferred` and its remaining fields are
 *    not started, while its container goes on; it fails, reporting the
 *    error, when its pending work is done — or at once, reporting its own
 *    error instead of the new one, when a later failure reaches it;
 *  - errors from a subtree already replaced by null are dropped: nothing is
 *    reported at or below a position that is already null (graphql-js
 *    16.15's CollectedErrors rule; older 16.x mostly answered before such
 *    errors arrived). We still wait for those resolvers, since they own
 *    memory in the run arena, but report nothing.
 */

static bool subtree_discarded(const gql_rval *r)
{
    for (; r; r = r->up)
        if (r->nulled) return true;
    return false;
}

/* A detached error (run arena) with the path of `slot`; NULL on OOM. */
static gql_error *build_error_v(gql_exec *ex, const gql_rval *slot, const gql_loc *locs,
                                uint32_t nlocs, const char *fmt, va_list ap)
{
    gql_error *e = cd_arena_calloc(&ex->run, 1, sizeof *e);
    char *msg = e ? cd_arena_vsprintf(&ex->run, fmt, ap) : NULL; /* any length */
    uint32_t depth = 0;
    for (const gql_rval *r = slot; r->up; r = r->up)
        depth++;
    gql_path_seg *path = cd_arena_alloc(&ex->run, (depth ? depth : 1) * sizeof *path);
    if (!e || !msg || !path) {
        ex->oom = true;
        return NULL;
    }
    uint32_t i = depth;
    for (const gql_rval *r = slot; r->up; r = r->up) {
        const gql_rval *c = r->up;
        i--;
        if (c->kind == R_OBJ) {
            path[i].key = c->u.obj.ps->f[r - c->u.obj.vals].key;
            path[i].index = 0;
        } else {
            path[i].key = NULL;
            path[i].index = r - c->u.items;
        }
    }
    e->message = msg;
    e->locs = (gql_loc *)locs;
    e->nlocs = nlocs;
    e->path = path;
    e->npath = depth;
    return e;
}

static void record_error(gql_exec *ex, const gql_error *src)
{
    if (ex->errs.n >= GQL_MAX_ERRORS) {
        ex->errs.truncated = true;
        return;
    }
    gql_error *e = gql_errors_add(&ex->errs, src->locs, src->nlocs, "%s", src->message);
    if (!e) {
        if (!ex->errs.truncated) ex->oom = true;
        return;
    }
    e->path = src->path;
    e->npath = src->npath;
    e->code = src->code;
    e->ext = src->ext;
}

/* The field at `slot` failed with `err` (NULL: report nothing, e.g. OOM). */
static void fail(gql_exec *ex, gql_rval *slot, gql_error *err)
{
    if (subtree_discarded(slot)) {
        slot->nulled = true;
        return;
    }
    gql_rval *r = slot;
    r->nulled = true;
    while (r->nonnull && r->up) {
        gql_rval *c = r->up;
        if (c->kind == R_OBJ && c->deferred) {
            c->deferred = false; /* its wait ends now, with its own error */
            err = c->u.obj.derr;
        } else if (c->kind == R_OBJ && c->in_loop && c->loop_promise) {
            c->deferred = true;
            c->u.obj.derr = err;
            return;
        }
        c->nulled = true;
        r = c;
    }
    if (err) record_error(ex, err);
}

static void fail_v(gql_exec *ex, const gql_pfield *pf, gql_rval *slot, const char *code,
                   const gql_value *ext, const char *fmt, va_list ap)
{
    gql_error *e = build_error_v(ex, slot, pf->locs, pf->nnodes, fmt, ap);
    if (e) {
        e->code = code;
        e->ext = ext;
    }
    fail(ex, slot, e);
}

static void field_fail(gql_exec *ex, const gql_pfield *pf, gql_rval *slot, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void field_fail(gql_exec *ex, const gql_pfield *pf, gql_rval *slot, const char *code,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(ex, pf, slot, code, NULL, fmt, ap);
    va_end(ap);
}

static gql_error *build_error(gql_exec *ex, const gql_rval *slot, const gql_loc *locs,
                              uint32_t nlocs, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static gql_error *build_error(gql_exec *ex, const gql_rval *slot, const gql_loc *locs,
                              uint32_t nlocs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gql_error *e = build_error_v(ex, slot, locs, nlocs, fmt, ap);
    va_end(ap);
    return e;
}

static void wrong_service(gql_exec *ex, const gql_pfield *pf, gql_rval *slot, const gql_value *ext,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void wrong_service(gql_exec *ex, const gql_pfield *pf, gql_rval *slot, const gql_value *ext,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(ex, pf, slot, "WRONG_SERVICE", ext, fmt, ap);
    va_end(ap);
}

/* Resolver bookkeeping: every slot on the way up counts the resolvers in
 * flight below it; a deferred object fails once its count drops to zero. */
static void pending_up(gql_rval *r)
{
    for (; r; r = r->up)
        r->pending++;
}

static void pending_down(gql_exec *ex, gql_rval *r)
{
    for (; r; r = r->up)
        if (--r->pending == 0 && r->deferred) {
            r->deferred = false;
            fail(ex, r, r->u.obj.derr);
        }
}

/* ---- the response byte budget during a run ----
 * Every completed value adds the bytes its JSON takes at least (a string its
 * length and quotes, an object its braces, keys and commas, ...), so
 * est_bytes never exceeds the response gql_exec_write_result would write
 * (unless null propagation later drops a subtree). Once it passes the budget
 * no more fields, items or mutation root fields start; resolvers in flight
 * complete; the run answers RESPONSE_TOO_LARGE (exec_finish). */
static void est_add(gql_exec *ex, size_t n)
{
    ex->est_bytes += n;
    if (ex->est_bytes > ex->limits.max_response_bytes) ex->too_large = true;
}

static size_t est_leaf(const gql_value *v)
{
    switch (v->kind) {
    case GQL_V_STRING:
    case GQL_V_ENUM:
        return (size_t)v->len + 2;
    case GQL_V_BOOL:
    case GQL_V_NULL:
        return 4;
    default:
        return 1;
    }
}

/* ---- execution ---- */

static void exec_field(gql_exec *ex, const gql_type *ptype, gql_pfield *pf, const gql_value *parent,
                       gql_rval *slot, bool root);
static void complete_value(gql_exec *ex, const gql_type *ptype, gql_pfield *pf, const gql_tref *t,
                           const gql_value *v, gql_rval *slot);

static void exec_oom(gql_exec *ex, gql_rval *slot)
{
    ex->oom = true;
    fail(ex, slot, NULL);
}

static void exec_object(gql_exec *ex, const gql_pset *ps, const gql_value *v, gql_rval *slot,
                        bool root, bool start)
{
    slot->kind = R_OBJ;
    slot->u.obj.ps = ps;
    slot->u.obj.vals = NULL;
    if (ps->n == 0) return;
    gql_rval *vals = cd_arena_alloc(&ex->run, ps->n * sizeof *vals);
    if (!vals) {
        exec_oom(ex, slot);
        return;
    }
    memset(vals, 0, ps->n * sizeof *vals);
    for (uint32_t i = 0; i < ps->n; i++) {
        vals[i].nonnull = ps->f[i].nonnull;
        vals[i].up = slot;
    }
    slot->u.obj.vals = vals;
    size_t keys = 2 + ps->n - 1; /* braces and commas */
    for (uint32_t i = 0; i < ps->n; i++)
        keys += ps->f[i].jkeylen;
    est_add(ex, keys);
    if (!start) return;
    slot->in_loop = true;
    for (uint32_t i = 0; i < ps->n; i++) {
        exec_field(ex, ps->type, &ps->f[i], v, &vals[i], root);
        if (slot->nulled || slot->deferred || ex->cancelled || ex->too_large) break;
        if (vals[i].pending) slot->loop_promise = true;
    }
    slot->in_loop = false;
}

static const char *type_name_of(const gql_value *v)
{
    if (v->kind != GQL_V_OBJECT) return NULL;
    const gql_value *tn = gql_obj_get(v, "__typename");
    return tn && tn->kind == GQL_V_STRING ? tn->u.s : NULL;
}

static void complete_value(gql_exec *ex, const gql_type *ptype, gql_pfield *pf, const gql_tref *t,
                           const gql_value *v, gql_rval *slot)
{
    if (t->kind == GQL_TR_NON_NULL) {
        if (v->kind == GQL_V_NULL) {
            field_fail(ex, pf, slot, NULL, "Cannot return null for non-nullable field %s.%s.",
                       ptype->name, pf->def->name);
            return;
        }
        t = t->of;
    }
    if (v->kind == GQL_V_NULL) {
        slot->kind = R_NULL;
        est_add(ex, 4);
        return;
    }
    if (t->kind == GQL_TR_LIST) {
        if (v->kind != GQL_V_LIST) {
            field_fail(ex, pf, slot, NULL,
                       "Expected Iterable, but did not find one for field \"%s.%s\".", ptype->name,
                       pf->def->name);
            return;
        }
        slot->kind = R_LIST;
        slot->n = v->len;
        slot->u.items = NULL;
        est_add(ex, v->len ? 2 + (size_t)v->len - 1 : 2);
        if (v->len == 0) return;
        gql_rval *items = cd_arena_alloc(&ex->run, v->len * sizeof *items);
        if (!items) {
            exec_oom(ex, slot);
            return;
        }
        bool nn = t->of->kind == GQL_TR_NON_NULL;
        memset(items, 0, v->len * sizeof *items);
        for (uint32_t i = 0; i < v->len; i++) {
            items[i].nonnull = nn;
            items[i].up = slot;
        }
        slot->u.items = items;
        for (uint32_t i = 0; i < v->len; i++) {
            complete_value(ex, ptype, pf, t->of, &v->u.items[i], &items[i]);
            if (slot->nulled || ex->cancelled || ex->too_large) break;
        }
        return;
    }
    const gql_type *nt = t->named;
    switch (nt->kind) {
    case GQL_T_SCALAR:
    case GQL_T_ENUM: {
        /* fast paths for the common built-ins */
        if (nt == ex->schema->t_string && v->kind == GQL_V_STRING) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            est_add(ex, est_leaf(v));
            return;
        }
        if (nt == ex->schema->t_id && v->kind == GQL_V_STRING) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            est_add(ex, est_leaf(v));
            return;
        }
        if (nt == ex->schema->t_boolean && v->kind == GQL_V_BOOL) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            est_add(ex, est_leaf(v));
            return;
        }
        if (nt == ex->schema->t_int && v->kind == GQL_V_INT && v->u.i >= -2147483648LL &&
            v->u.i <= 2147483647LL) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            est_add(ex, est_leaf(v));
            return;
        }
        char msg[GQL_EXEC_MSG_LEN];
        msg[0] = '\0';
        gql_value out;
        int rc = gql_serialize_leaf(&ex->run, nt, v, &out, msg, sizeof msg);
        if (rc == CD_ENOMEM) {
            exec_oom(ex, slot);
            return;
        }
        if (rc != 0) {
            field_fail(ex, pf, slot, NULL, "%s", msg[0] ? msg : "Invalid value");
            return;
        }
        slot->kind = R_LEAF;
        slot->u.leaf = out;
        est_add(ex, est_leaf(&out));
        return;
    }
    case GQL_T_OBJECT: {
        gql_pset *ps = gql_plan_sub(ex, pf, nt);
        if (!ps) {
            exec_oom(ex, slot);
            return;
        }
        exec_object(ex, ps, v, slot, false, true);
        return;
    }
    case GQL_T_INTERFACE:
    case GQL_T_UNION: {
        const char *tn = type_name_of(v);
        if (!tn) {
            field_fail(ex, pf, slot, NULL,
                       "Abstract type \"%s\" must resolve to an Object type at runtime for "
                       "field \"%s.%s\". Either the \"%s\" type should provide a "
                       "\"resolveType\" function or each possible type should provide an "
                       "\"isTypeOf\" function.",
                       nt->name, ptype->name, pf->def->name, nt->name);
            return;
        }
        const gql_type *rt = gql_schema_type(ex->schema, tn);
        if (!rt) {
            field_fail(ex, pf, slot, NULL,
                       "Abstract type \"%s\" was resolved to a type \"%s\" that does not exist "
                       "inside the schema.",
                       nt->name, tn);
            return;
        }
        if (rt->kind != GQL_T_OBJECT) {
            field_fail(ex, pf, slot, NULL,
                       "Abstract type \"%s\" was resolved to a non-object type \"%s\".", nt->name,
                       tn);
            return;
        }
        if (!gql_type_is_possible(nt, rt)) {
            field_fail(ex, pf, slot, NULL,
                       "Runtime Object type \"%s\" is not a possible type for \"%s\".", rt->name,
                       nt->name);
            return;
        }
        gql_pset *ps = gql_plan_sub(ex, pf, rt);
        if (!ps) {
            exec_oom(ex, slot);
            return;
        }
        exec_object(ex, ps, v, slot, false, true);
        return;
    }
    default:
        field_fail(ex, pf, slot, NULL, "Field \"%s\" has a non-output type.", pf->def->name);
        return;
    }
}

static void pending_dec(gql_exec *ex);

static void exec_field(gql_exec *ex, const gql_type *ptype, gql_pfield *pf, const gql_value *parent,
                       gql_rval *slot, bool root)
{
    if (ex->cancelled || ex->too_large) {
        slot->kind = R_NULL;
        return;
    }
    if (pf->meta == M_TYPENAME) {
        gql_value tn = gql_str_ref(ptype->name, strlen(ptype->name));
        complete_value(ex, ptype, pf, pf->def->type, &tn, slot);
        return;
    }
    gql_field *def = pf->def;
    if (root && ex->opts.service && def->owner && strcmp(def->owner, ex->opts.service) != 0) {
        gql_value *ext = gql_obj_new(&ex->run, 1);
        if (ext)
            gql_obj_set(ext, 0, "service", gql_str_ref(def->owner, strlen(def->owner)));
        else
            ex->oom = true;
        wrong_service(ex, pf, slot, ext, "Field \"%s\" is served by the %s service", def->name,
                      def->owner);
        return;
    }
    const gql_value *args;
    const gql_error *ae;
    int rc = gql_plan_args(ex, pf, &args, &ae);
    if (rc == CD_ENOMEM) {
        exec_oom(ex, slot);
        return;
    }
    if (rc != 0) {
        gql_error *e = build_error(ex, slot, ae->nlocs ? ae->locs : pf->locs,
                                   ae->nlocs ? ae->nlocs : pf->nnodes, "%s", ae->message);
        if (e) e->code = ae->code;
        fail(ex, slot, e);
        return;
    }
    if (pf->meta == M_SCHEMA || pf->meta == M_TYPE) {
        if (ex->opts.no_introspection) {
            field_fail(ex, pf, slot, "INTROSPECTION_DISABLED",
                       "GraphQL introspection has been disabled, but the requested query "
                       "contained the field \"%s\".",
                       def->name);
            return;
        }
        const gql_value *iv;
        if (pf->meta == M_SCHEMA) {
            iv = gql_introspection_schema(ex->schema);
            if (!iv) {
                exec_oom(ex, slot);
                return;
            }
        } else {
            /* strings carry their length: "Query\u0000" names no type
             * (graphql-js answers null too) */
            const gql_value *name = gql_obj_get(args, "name");
            iv = name && name->kind == GQL_V_STRING && strlen(name->u.s) == name->len
                     ? gql_introspection_type(ex->schema, name->u.s)
                     : NULL;
        }
        complete_value(ex, ptype, pf, def->type, iv ? iv : &gql_null_value, slot);
        return;
    }
    if (def->resolve) {
        gql_rinfo *ri = cd_arena_alloc(&ex->run, sizeof *ri);
        if (!ri) {
            exec_oom(ex, slot);
            return;
        }
        ri->ex = ex;
        ri->pf = pf;
        ri->ptype = ptype;
        ri->parent = parent;
        ri->slot = slot;
        ri->args = args;
        ri->result = gql_null_value;
        ri->done = false;
        ex->pending++;
        pending_up(slot);
        def->resolve(ri);
        return;
    }
    const gql_value *v = NULL;
    if (parent->kind == GQL_V_OBJECT) {
        /* objects of one type usually share a key order: try the last index */
        const char *name = def->name;
        const gql_kv *fs = parent->u.fields;
        uint32_t h = pf->hint;
        if (h < parent->len && fs[h].name && strcmp(fs[h].name, name) == 0) {
            v = &fs[h].value;
        } else {
            for (uint32_t i = 0; i < parent->len; i++)
                if (fs[i].name && fs[i].name[0] == name[0] && strcmp(fs[i].name, name) == 0) {
                    v = &fs[i].value; /* first match, as gql_obj_get */
                    pf->hint = i;
                    break;
                }
        }
    }
    complete_value(ex, ptype, pf, def->type, v ? v : &gql_null_value, slot);
}

/* The run's results passed the response byte budget: the answer is
 * {"data":null} with the one RESPONSE_TOO_LARGE error. */
static void exec_too_large(gql_exec *ex)
{
    gql_errors_init(&ex->errs, &ex->run);
    gql_error *e = gql_errors_add(&ex->errs, NULL, 0,
                                  "Response too large: the result exceeds the limit of %zu bytes; "
                                  "select fewer fields or smaller pages.",
                                  ex->limits.max_response_bytes);
    gql_value *ext = e ? gql_obj_new(&ex->run, 1) : NULL;
    if (!ext) {
        ex->oom = true;
        return;
    }
    gql_obj_set(ext, 0, "limit", gql_int((int64_t)ex->limits.max_response_bytes));
    e->code = "RESPONSE_TOO_LARGE";
    e->ext = ext;
    ex->data->nulled = true;
}

static void exec_finish(gql_exec *ex)
{
    if (ex->too_large) exec_too_large(ex);
    if (ex->errs.truncated) {
        /* past GQL_MAX_ERRORS: one more error says the list was cut */
        gql_error_list *l = &ex->errs;
        gql_error *ni = cd_arena_alloc(&ex->run, (l->n + 1) * sizeof *ni);
        if (ni) {
            memcpy(ni, l->items, l->n * sizeof *ni);
            memset(&ni[l->n], 0, sizeof *ni);
            ni[l->n].message = "Too many errors: only the first 100 are reported.";
            ni[l->n].code = "TOO_MANY_ERRORS";
            l->items = ni;
            l->cap = ++l->n;
        }
        l->truncated = false;
    }
    ex->running = false;
    ex->has_data = true;
    gql_exec_done_fn done = ex->done;
    void *ud = ex->done_ud;
    ex->done = NULL;
    if (done) done(ex, ud); /* may free ex */
}

/* Runs when nothing is pending: starts the next mutation root field, or
 * finishes the run (or frees a cancelled exec). */
static void exec_idle(gql_exec *ex)
{
    for (;;) {
        if (ex->cancelled) {
            exec_destroy(ex);
            return;
        }
        gql_rval *d = ex->data;
        if (ex->op->op != GQL_OP_MUTATION || d->nulled || d->kind != R_OBJ || ex->too_large ||
            ex->next_root >= d->u.obj.ps->n)
            break;
        uint32_t i = ex->next_root++;
        ex->pending = 1;
        exec_field(ex, ex->root_type, &d->u.obj.ps->f[i], ex->root_value, &d->u.obj.vals[i], true);
        if (--ex->pending != 0) return;
    }
    exec_finish(ex);
}

static void pending_dec(gql_exec *ex)
{
    if (--ex->pending == 0) exec_idle(ex);
}

int gql_exec_run(gql_exec *ex, const gql_value *root, const gql_exec_opts *opts,
                 gql_exec_done_fn done, void *ud)
{
    if (!ex->op || ex->running || ex->cancelled) return CD_ESTATE;
    ex->done = done;
    ex->done_ud = ud;
    ex->has_data = false;
    if (ex->vars_failed) {
        if (done) done(ex, ud);
        return 0;
    }
    if (!ex->vars_ready) {
        int rc = gql_exec_set_variables(ex, NULL);
        if (rc != 0) {
            if (done) done(ex, ud);
            return 0;
        }
    }
    if (opts)
        ex->opts = *opts;
    else
        memset(&ex->opts, 0, sizeof ex->opts);
    cd_arena_reset(&ex->run);
    gql_errors_init(&ex->errs, &ex->run);
    ex->oom = false;
    ex->est_bytes = 0;
    ex->too_large = false;
    ex->root_value = root ? root : &gql_empty_object;
    ex->data = cd_arena_calloc(&ex->run, 1, sizeof *ex->data);
    if (!ex->data) {
        /* nothing can run: the result reports the OOM */
        ex->oom = true;
        ex->has_data = true;
        ex->done = NULL;
        if (done) done(ex, ud);
        return 0;
    }
    gql_pset *ps = gql_plan_root(ex);
    ex->running = true;
    ex->pending = 1;
    ex->next_root = 0;
    if (!ps) {
        ex->oom = true;
        ex->data->nulled = true;
    } else {
        bool serial = ex->op->op == GQL_OP_MUTATION;
        exec_object(ex, ps, ex->root_value, ex->data, true, !serial);
    }
    pending_dec(ex);
    return 0;
}

const char *gql_exec_root_field(gql_exec *ex, const gql_value **args)
{
    if (args) *args = &gql_empty_object;
    if (!ex->op) return NULL;
    if (!ex->vars_ready && (ex->vars_failed || gql_exec_set_variables(ex, NULL) != 0)) return NULL;
    gql_pset *ps = gql_plan_root(ex);
    if (!ps) return NULL;
    for (uint32_t i = 0; i < ps->n; i++) {
        gql_pfield *pf = &ps->f[i];
        if (pf->meta != M_NONE) continue;
        const gql_value *a;
        const gql_error *e;
        if (args && gql_plan_args(ex, pf, &a, &e) == 0) *args = a;
        return pf->def->name;
    }
    return NULL;
}

/* ---- resolvers ---- */

const gql_value *gql_ri_parent(const gql_rinfo *ri)
{
    return ri->parent;
}

const gql_value *gql_ri_args(const gql_rinfo *ri)
{
    return ri->args;
}

const gql_value *gql_ri_arg(const gql_rinfo *ri, const char *name)
{
    return gql_obj_get(ri->args, name);
}

void *gql_ri_context(const gql_rinfo *ri)
{
    return ri->ex->opts.context;
}

void *gql_ri_userdata(const gql_rinfo *ri)
{
    return ri->pf->def->resolve_ud;
}

cd_arena *gql_ri_arena(gql_rinfo *ri)
{
    return &ri->ex->run;
}

const char *gql_ri_field_name(const gql_rinfo *ri)
{
    return ri->pf->def->name;
}

const char *gql_ri_parent_type(const gql_rinfo *ri)
{
    return ri->ptype->name;
}

void gql_ri_return(gql_rinfo *ri, gql_value v)
{
    if (ri->done) return;
    ri->done = true;
    gql_exec *ex = ri->ex;
    if (!ex->cancelled) {
        ri->result = v;
        complete_value(ex, ri->ptype, ri->pf, ri->pf->def->type, &ri->result, ri->slot);
        pending_down(ex, ri->slot);
    }
    pending_dec(ex);
}

static void ri_error_v(gql_rinfo *ri, const char *code, const gql_value *ext, const char *fmt,
                       va_list ap)
{
    if (ri->done) return;
    ri->done = true;
    gql_exec *ex = ri->ex;
    if (!ex->cancelled) {
        gql_error *e = build_error_v(ex, ri->slot, ri->pf->locs, ri->pf->nnodes, fmt, ap);
        if (e) {
            if (code) {
                e->code = cd_arena_strdup(&ex->run, code);
                if (!e->code) ex->oom = true;
            }
            if (ext && ext->kind == GQL_V_OBJECT) {
                e->ext = gql_value_clone(&ex->run, ext);
                if (!e->ext) ex->oom = true;
            }
        }
        fail(ex, ri->slot, e);
        pending_down(ex, ri->slot);
    }
    pending_dec(ex);
}

void gql_ri_error(gql_rinfo *ri, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ri_error_v(ri, code, NULL, fmt, ap);
    va_end(ap);
}

void gql_ri_error_ext(gql_rinfo *ri, const char *code, const gql_value *ext, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ri_error_v(ri, code, ext, fmt, ap);
    va_end(ap);
}
