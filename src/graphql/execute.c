/*
 * execute.c — the executor (spec §6): operation selection, CollectFields,
 * ExecuteSelectionSet with asynchronous resolvers, value completion, null
 * propagation, and the response writer. Implements gql_exec_* and gql_ri_*
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
 * started. The writer serialises the tree straight to JSON.
 *
 * Plans. The collected fields for (selection, object type) — response keys,
 * field definitions, merged nodes, JSON-escaped keys — are built once and
 * reused for every list item, every event of a subscription and every exec
 * of the same cached document: they live in the document's arena
 * (doc->exec_plans) unless a @skip/@include of the document reads a
 * variable, in which case each exec builds its own in its prep arena.
 * Arguments without variables are coerced once into the plan; arguments
 * that read variables are coerced once per exec (gql_exec.vargs).
 *
 * Ownership: the exec owns its prep arena (variables, per-exec plans and
 * arguments), its run arena (results, errors, rinfos; reset per run) and one
 * reference to the cached document. gql_exec_free during a run only marks it cancelled; the last
 * resolver completion frees it and the done callback is not called.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "execute_internal.h"

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

enum { R_PENDING = 0, R_NULL, R_LEAF, R_OBJ, R_LIST };
/* ARGS_STATIC: coerced once and kept in the plan; ARGS_PER_EXEC: the field's
 * arguments read variables and its plan is shared, so each exec coerces them
 * (kept in gql_exec.vargs). */
enum { ARGS_UNKNOWN = 0, ARGS_STATIC, ARGS_PER_EXEC };
#define GQL_PLAN_MAX_ROOTS 8u  /* operations per document with a shared root plan */
#define GQL_COLLECT_INLINE 64u /* fields collected without a heap allocation */
enum { M_NONE = 0, M_TYPENAME, M_SCHEMA, M_TYPE };

typedef struct gql_pset gql_pset;
typedef struct gql_pfield gql_pfield;
typedef struct gql_rval gql_rval;

typedef struct gql_psub {
    const gql_type *type;
    gql_pset *ps;
} gql_psub;

struct gql_pfield {
    const char *key;    /* response key */
    char *jkey;         /* "key": (JSON, with quotes and colon) */
    uint32_t jkeylen;
    gql_field *def;
    uint8_t meta;
    bool nonnull;       /* def->type is NON_NULL */
    uint8_t args_mode;  /* ARGS_*: how this field's arguments are coerced */
    uint32_t hint; /* index where the parent object last held this property */
    const gql_selection **nodes;
    uint32_t nnodes;
    gql_loc *locs;
    gql_value args;             /* ARGS_STATIC: coerced arguments (OBJECT) */
    const gql_error *args_err;  /* ARGS_STATIC: coercion failure, raised per instance */
    gql_psub *subs;
    uint32_t nsubs, capsubs;
};

struct gql_pset {
    const gql_type *type;
    gql_pfield *f;
    uint32_t n;
};

struct gql_rval {
    uint8_t kind;
    bool nulled;       /* null by propagation or error */
    bool nonnull;      /* this position's type is non-null */
    bool in_loop;      /* OBJ: its fields are being started */
    bool loop_promise; /* OBJ in loop: an earlier field is still pending */
    bool deferred;     /* OBJ: a non-null failure waits for its pending fields */
    uint32_t n;        /* LIST length */
    uint32_t pending;  /* resolvers in flight in this subtree */
    gql_rval *up;      /* container (OBJ or LIST), NULL for data */
    union {
        gql_value leaf;
        struct {
            const gql_pset *ps;
            gql_rval *vals;
            gql_error *derr; /* deferred: the error to report when it settles */
        } obj;
        gql_rval *items;
    } u;
};

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

/* Field plans shared by every exec of a cached document (doc->exec_plans),
 * used when no @skip/@include of the document reads a variable. */
typedef struct gql_doc_plans {
    bool shareable;
    struct {
        const gql_operation *op;
        gql_pset *ps;
    } roots[GQL_PLAN_MAX_ROOTS];
    uint32_t nroots;
} gql_doc_plans;

/* Per-exec arguments of a shared plan field that reads variables. */
typedef struct gql_vargs {
    const gql_pfield *pf;
    gql_value args;
    const gql_error *err;
} gql_vargs;

struct gql_exec {
    gql_schema *schema;
    gql_cache *cache;
    cd_arena prep;
    cd_arena run;
    gql_cached_doc *doc;
    const gql_operation *op;
    gql_type *root_type;
    gql_value vars;
    bool vars_ready, vars_failed;
    bool running, cancelled, has_data, oom;
    /* request errors (prepare / variables) */
    const gql_error *req_errs;
    uint32_t nreq_errs;
    gql_error_list errs; /* run errors, in the run arena */
    gql_pset *root_plan;
    int8_t shared;      /* plans live in the document: 1, in prep: 0, unknown: -1 */
    gql_vargs *vargs;   /* prep arena */
    uint32_t nvargs, capvargs;
    gql_exec_opts opts;
    gql_exec_done_fn done;
    void *done_ud;
    const gql_value *root_value;
    gql_rval *data;
    uint32_t pending;
    uint32_t next_root; /* mutations: next root field to start */
};

static const gql_value gql_null_value = {.kind = GQL_V_NULL};
static const gql_value gql_empty_object = {.kind = GQL_V_OBJECT};

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
    return ex;
}

static void exec_destroy(gql_exec *ex)
{
    if (ex->doc) gql_cached_doc_release(ex->doc);
    cd_arena_free(&ex->prep);
    cd_arena_free(&ex->run);
    cd_free(ex);
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

static void set_request_error(gql_exec *ex, const char *code, const gql_loc *loc,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_request_error(gql_exec *ex, const char *code, const gql_loc *loc,
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
}

int gql_exec_prepare(gql_exec *ex, const char *query, size_t len, const char *operation_name)
{
    if (ex->running) return CD_ESTATE;
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
            if (ex->doc->errors[i].code && strcmp(ex->doc->errors[i].code, "QUERY_TOO_COMPLEX") == 0)
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
        cd_arena_free(&ex->prep);
        cd_arena_init(&ex->prep, GQL_EXEC_SUB_PREP_BLOCK);
        cd_arena_free(&ex->run);
        cd_arena_init(&ex->run, GQL_EXEC_SUB_RUN_BLOCK);
        gql_errors_init(&ex->errs, &ex->run);
        ex->data = NULL;
    }
    return 0;
}

int gql_exec_set_variables(gql_exec *ex, const gql_value *vars)
{
    if (!ex->op || ex->running) return CD_ESTATE;
    gql_error_list l;
    gql_errors_init(&l, &ex->prep);
    ex->root_plan = NULL; /* per-exec plans and arguments depend on variables */
    ex->shared = -1;
    ex->vargs = NULL;
    ex->nvargs = ex->capvargs = 0;
    ex->vars_ready = false;
    int rc = gql_coerce_variables(&ex->prep, ex->schema, ex->op, vars, &ex->vars, &l);
    if (rc == 0) {
        ex->vars_ready = true;
        ex->vars_failed = false;
        return 0;
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

/* ---- CollectFields ---- */

typedef struct coll_item {
    const char *key;
    const gql_selection *sel;
} coll_item;

/* CollectFields scratch: items inline up to GQL_COLLECT_INLINE, then heap. */
typedef struct collector {
    gql_exec *ex;
    const gql_type *type;
    coll_item *items;
    uint32_t n, cap;
    const char *visited[32];
    const char **vis;
    uint32_t nvisited, capvisited;
    bool oom;
    coll_item inline_items[GQL_COLLECT_INLINE];
} collector;

static cd_arena *plan_arena(gql_exec *ex)
{
    return ex->shared == 1 ? &ex->doc->arena : &ex->prep;
}

static bool directives_include(gql_exec *ex, const gql_directive *dirs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const gql_directive *d = &dirs[i];
        bool skip = strcmp(d->name, "skip") == 0;
        if (!skip && strcmp(d->name, "include") != 0) continue;
        const gql_value *v = NULL;
        for (uint32_t j = 0; j < d->nargs; j++)
            if (strcmp(d->args[j].name, "if") == 0) v = &d->args[j].value;
        if (v && v->kind == GQL_V_VARIABLE)
            v = ex->vars.kind == GQL_V_OBJECT ? gql_obj_get(&ex->vars, v->u.s) : NULL;
        bool b = v && v->kind == GQL_V_BOOL && v->u.b;
        if (skip && b) return false;
        if (!skip && !b) return false;
    }
    return true;
}

static const gql_fragment *find_fragment(const gql_document *doc, const char *name)
{
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT && strcmp(doc->defs[i].u.frag->name, name) == 0)
            return doc->defs[i].u.frag;
    return NULL;
}

static bool fragment_applies(gql_exec *ex, const gql_type *obj, const char *cond)
{
    if (!cond) return true;
    if (strcmp(cond, obj->name) == 0) return true;
    const gql_type *t = gql_schema_type(ex->schema, cond);
    if (!t) return false;
    if (t == obj) return true;
    return gql_type_is_abstract(t) && gql_type_is_possible(t, obj);
}

static void *grow(cd_arena *a, void *old, uint32_t n, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : 4;
    void *p = cd_arena_alloc(a, (size_t)ncap * elem);
    if (!p) return NULL;
    if (n) memcpy(p, old, (size_t)n * elem);
    *cap = ncap;
    return p;
}

/* Heap growth for collector scratch (freed at the end of collect). */
static void *grow_heap(void *old, bool old_inline, uint32_t n, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap * 2;
    void *p = cd_malloc((size_t)ncap * elem);
    if (!p) return NULL;
    memcpy(p, old, (size_t)n * elem);
    if (!old_inline) cd_free(old);
    *cap = ncap;
    return p;
}

static void collect_set(collector *c, const gql_selection_set *set)
{
    if (!set) return;
    for (uint32_t i = 0; i < set->n && !c->oom; i++) {
        const gql_selection *s = &set->items[i];
        if (s->ndirs && !directives_include(c->ex, s->dirs, s->ndirs)) continue;
        switch (s->kind) {
        case GQL_SEL_FIELD:
            if (c->n == c->cap) {
                coll_item *ni = grow_heap(c->items, c->items == c->inline_items, c->n, &c->cap,
                                          sizeof *ni);
                if (!ni) {
                    c->oom = true;
                    return;
                }
                c->items = ni;
            }
            c->items[c->n].key = s->alias ? s->alias : s->name;
            c->items[c->n].sel = s;
            c->n++;
            break;
        case GQL_SEL_FRAGMENT_SPREAD: {
            bool seen = false;
            for (uint32_t j = 0; j < c->nvisited && !seen; j++)
                seen = strcmp(c->vis[j], s->name) == 0;
            if (seen) break;
            if (c->nvisited == c->capvisited) {
                const char **nv = grow_heap(c->vis, c->vis == c->visited, c->nvisited,
                                            &c->capvisited, sizeof *nv);
                if (!nv) {
                    c->oom = true;
                    return;
                }
                c->vis = nv;
            }
            c->vis[c->nvisited++] = s->name;
            const gql_fragment *f = find_fragment(c->ex->doc->doc, s->name);
            if (!f || !fragment_applies(c->ex, c->type, f->type_cond)) break;
            collect_set(c, f->sel);
            break;
        }
        case GQL_SEL_INLINE_FRAGMENT:
            if (!fragment_applies(c->ex, c->type, s->type_cond)) break;
            collect_set(c, s->sel);
            break;
        default: break;
        }
    }
}

static char *json_key(cd_arena *a, const char *key, uint32_t *len)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_json_str(&b, key, strlen(key));
    cd_buf_putc(&b, ':');
    char *r = NULL;
    if (!b.failed && b.data) {
        r = cd_arena_strndup(a, b.data, b.len);
        *len = (uint32_t)b.len;
    }
    cd_buf_free(&b);
    return r;
}

/* Builds the plan for `type` over the given selection sets (one per merged
 * field node) in plan_arena(ex). NULL on OOM. */
static gql_pset *collect_plan(gql_exec *ex, collector *c, const gql_type *type,
                              const gql_selection **nodes, uint32_t nnodes,
                              const gql_selection_set *root_set)
{
    cd_arena *a = plan_arena(ex);
    if (root_set) collect_set(c, root_set);
    for (uint32_t i = 0; i < nnodes && !c->oom; i++) collect_set(c, nodes[i]->sel);
    if (c->oom) return NULL;
    gql_pset *ps = cd_arena_calloc(a, 1, sizeof *ps);
    if (!ps) return NULL;
    ps->type = type;
    if (c->n == 0) return ps;
    ps->f = cd_arena_calloc(a, c->n, sizeof *ps->f);
    uint32_t *group = cd_malloc(c->n * sizeof *group); /* item → field index */
    if (!ps->f || !group) {
        cd_free(group);
        return NULL;
    }
    uint32_t nf = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const char *k = c->items[i].key;
        uint32_t g = nf;
        for (uint32_t j = 0; j < nf; j++)
            if (ps->f[j].key[0] == k[0] && strcmp(ps->f[j].key, k) == 0) {
                g = j;
                break;
            }
        if (g == nf) {
            ps->f[nf].key = k;
            nf++;
        }
        ps->f[g].nnodes++;
        group[i] = g;
    }
    for (uint32_t j = 0; j < nf; j++) {
        gql_pfield *pf = &ps->f[j];
        pf->nodes = cd_arena_alloc(a, pf->nnodes * sizeof *pf->nodes);
        pf->locs = cd_arena_alloc(a, pf->nnodes * sizeof *pf->locs);
        if (!pf->nodes || !pf->locs) {
            cd_free(group);
            return NULL;
        }
        pf->nnodes = 0;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        gql_pfield *pf = &ps->f[group[i]];
        pf->locs[pf->nnodes] = c->items[i].sel->loc;
        pf->nodes[pf->nnodes++] = c->items[i].sel;
    }
    cd_free(group);
    /* resolve definitions; drop fields the type does not define */
    uint32_t out = 0;
    for (uint32_t j = 0; j < nf; j++) {
        gql_pfield *pf = &ps->f[j];
        gql_field *def = gql_field_lookup(ex->schema, type, pf->nodes[0]->name);
        if (!def) continue;
        pf->def = def;
        pf->nonnull = def->type->kind == GQL_TR_NON_NULL;
        if (ex->schema->meta_fields && def >= ex->schema->meta_fields &&
            def < ex->schema->meta_fields + 3)
            pf->meta = (uint8_t)(M_TYPENAME + (def - ex->schema->meta_fields));
        pf->jkey = json_key(a, pf->key, &pf->jkeylen);
        if (!pf->jkey) return NULL;
        if (out != j) ps->f[out] = *pf;
        out++;
    }
    ps->n = out;
    return ps;
}

static gql_pset *collect(gql_exec *ex, const gql_type *type, const gql_selection **nodes,
                         uint32_t nnodes, const gql_selection_set *root_set)
{
    collector *c = cd_malloc(sizeof *c);
    if (!c) return NULL;
    c->ex = ex;
    c->type = type;
    c->items = c->inline_items;
    c->n = 0;
    c->cap = GQL_COLLECT_INLINE;
    c->vis = c->visited;
    c->nvisited = 0;
    c->capvisited = CD_ARRAY_LEN(c->visited);
    c->oom = false;
    gql_pset *ps = collect_plan(ex, c, type, nodes, nnodes, root_set);
    if (c->items != c->inline_items) cd_free(c->items);
    if (c->vis != c->visited) cd_free(c->vis);
    cd_free(c);
    return ps;
}

/* True when a @skip/@include anywhere in the selection set reads a variable
 * (then the collected fields differ between execs). */
static bool set_dirs_use_vars(const gql_selection_set *set)
{
    if (!set) return false;
    for (uint32_t i = 0; i < set->n; i++) {
        const gql_selection *s = &set->items[i];
        for (uint32_t d = 0; d < s->ndirs; d++)
            for (uint32_t k = 0; k < s->dirs[d].nargs; k++)
                if (s->dirs[d].args[k].value.kind == GQL_V_VARIABLE) return true;
        if (set_dirs_use_vars(s->sel)) return true;
    }
    return false;
}

static gql_doc_plans *doc_plans(gql_exec *ex)
{
    gql_cached_doc *d = ex->doc;
    if (d->exec_plans) return d->exec_plans;
    gql_doc_plans *dp = cd_arena_calloc(&d->arena, 1, sizeof *dp);
    if (!dp) return NULL;
    dp->shareable = true;
    for (uint32_t i = 0; i < d->doc->ndefs && dp->shareable; i++) {
        const gql_definition *def = &d->doc->defs[i];
        if (def->kind == GQL_DEF_OPERATION)
            dp->shareable = !set_dirs_use_vars(def->u.op->sel);
        else if (def->kind == GQL_DEF_FRAGMENT)
            dp->shareable = !set_dirs_use_vars(def->u.frag->sel);
    }
    d->exec_plans = dp;
    return dp;
}

static gql_pset *root_plan(gql_exec *ex)
{
    if (ex->root_plan) return ex->root_plan;
    gql_doc_plans *dp = NULL;
    if (ex->shared != 0) {
        dp = doc_plans(ex);
        ex->shared = dp && dp->shareable ? 1 : 0;
    }
    if (ex->shared == 1) {
        for (uint32_t i = 0; i < dp->nroots; i++)
            if (dp->roots[i].op == ex->op) return ex->root_plan = dp->roots[i].ps;
        if (dp->nroots == GQL_PLAN_MAX_ROOTS) ex->shared = 0;
    }
    gql_pset *ps = collect(ex, ex->root_type, NULL, 0, ex->op->sel);
    if (ps && ex->shared == 1) {
        dp->roots[dp->nroots].op = ex->op;
        dp->roots[dp->nroots].ps = ps;
        dp->nroots++;
    }
    return ex->root_plan = ps;
}

static gql_pset *sub_plan(gql_exec *ex, gql_pfield *pf, const gql_type *t)
{
    for (uint32_t i = 0; i < pf->nsubs; i++)
        if (pf->subs[i].type == t) return pf->subs[i].ps;
    gql_pset *ps = collect(ex, t, pf->nodes, pf->nnodes, NULL);
    if (!ps) return NULL;
    if (pf->nsubs == pf->capsubs) {
        gql_psub *ns = grow(plan_arena(ex), pf->subs, pf->nsubs, &pf->capsubs, sizeof *ns);
        if (!ns) return NULL;
        pf->subs = ns;
    }
    pf->subs[pf->nsubs].type = t;
    pf->subs[pf->nsubs].ps = ps;
    pf->nsubs++;
    return ps;
}

static bool value_uses_vars(const gql_value *v)
{
    switch (v->kind) {
    case GQL_V_VARIABLE: return true;
    case GQL_V_LIST:
        for (uint32_t i = 0; i < v->len; i++)
            if (value_uses_vars(&v->u.items[i])) return true;
        return false;
    case GQL_V_OBJECT:
        for (uint32_t i = 0; i < v->len; i++)
            if (value_uses_vars(&v->u.fields[i].value)) return true;
        return false;
    default: return false;
    }
}

/* Coerces a plan field's arguments: once per plan when they read no
 * variables (or the plan is this exec's own), else once per exec. Sets
 * *args (an OBJECT) and *err. 0, CD_EBAD (*err set) or CD_ENOMEM. */
static int field_args(gql_exec *ex, gql_pfield *pf, const gql_value **args,
                      const gql_error **err)
{
    *err = NULL;
    *args = &gql_empty_object;
    if (pf->def->nargs == 0) return 0;
    const gql_selection *n0 = pf->nodes[0];
    if (pf->args_mode == ARGS_UNKNOWN) {
        bool uses = false;
        for (uint32_t i = 0; i < n0->nargs && !uses; i++) uses = value_uses_vars(&n0->args[i].value);
        if (uses && ex->shared == 1) {
            pf->args_mode = ARGS_PER_EXEC;
        } else {
            cd_arena *a = plan_arena(ex);
            gql_error_list l;
            gql_errors_init(&l, a);
            int rc = gql_coerce_arguments(a, pf->def->args, pf->def->nargs, n0->args, n0->nargs,
                                          &ex->vars, &pf->args, &l, n0->loc);
            if (rc == CD_ENOMEM || (rc != 0 && !l.n)) return CD_ENOMEM;
            pf->args_err = rc ? &l.items[0] : NULL;
            pf->args_mode = ARGS_STATIC;
        }
    }
    if (pf->args_mode == ARGS_STATIC) {
        *args = &pf->args;
        *err = pf->args_err;
        return *err ? CD_EBAD : 0;
    }
    for (uint32_t i = 0; i < ex->nvargs; i++)
        if (ex->vargs[i].pf == pf) {
            *args = &ex->vargs[i].args;
            *err = ex->vargs[i].err;
            return *err ? CD_EBAD : 0;
        }
    if (ex->nvargs == ex->capvargs) {
        gql_vargs *nv = grow(&ex->prep, ex->vargs, ex->nvargs, &ex->capvargs, sizeof *nv);
        if (!nv) return CD_ENOMEM;
        ex->vargs = nv;
    }
    gql_vargs *va = &ex->vargs[ex->nvargs];
    gql_error_list l;
    gql_errors_init(&l, &ex->prep);
    int rc = gql_coerce_arguments(&ex->prep, pf->def->args, pf->def->nargs, n0->args, n0->nargs,
                                  &ex->vars, &va->args, &l, n0->loc);
    if (rc == CD_ENOMEM || (rc != 0 && !l.n)) return CD_ENOMEM;
    va->pf = pf;
    va->err = rc ? &l.items[0] : NULL;
    ex->nvargs++;
    *args = &va->args;
    *err = va->err;
    return *err ? CD_EBAD : 0;
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
 *  - errors from a subtree already replaced by null are dropped (graphql-js
 *    has answered by then; we wait for those resolvers, since they own
 *    memory in the run arena, but report nothing).
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
    for (const gql_rval *r = slot; r->up; r = r->up) depth++;
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

static void wrong_service(gql_exec *ex, const gql_pfield *pf, gql_rval *slot,
                          const gql_value *ext, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void wrong_service(gql_exec *ex, const gql_pfield *pf, gql_rval *slot,
                          const gql_value *ext, const char *fmt, ...)
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
    for (; r; r = r->up) r->pending++;
}

static void pending_down(gql_exec *ex, gql_rval *r)
{
    for (; r; r = r->up)
        if (--r->pending == 0 && r->deferred) {
            r->deferred = false;
            fail(ex, r, r->u.obj.derr);
        }
}

/* ---- execution ---- */

static void exec_field(gql_exec *ex, const gql_type *ptype, gql_pfield *pf,
                       const gql_value *parent, gql_rval *slot, bool root);
static void complete_value(gql_exec *ex, const gql_type *ptype, gql_pfield *pf,
                           const gql_tref *t, const gql_value *v, gql_rval *slot);

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
    if (!start) return;
    slot->in_loop = true;
    for (uint32_t i = 0; i < ps->n; i++) {
        exec_field(ex, ps->type, &ps->f[i], v, &vals[i], root);
        if (slot->nulled || slot->deferred || ex->cancelled) break;
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

static void complete_value(gql_exec *ex, const gql_type *ptype, gql_pfield *pf,
                           const gql_tref *t, const gql_value *v, gql_rval *slot)
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
        return;
    }
    if (t->kind == GQL_TR_LIST) {
        if (v->kind != GQL_V_LIST) {
            field_fail(ex, pf, slot, NULL,
                        "Expected Iterable, but did not find one for field \"%s.%s\".",
                        ptype->name, pf->def->name);
            return;
        }
        slot->kind = R_LIST;
        slot->n = v->len;
        slot->u.items = NULL;
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
            if (slot->nulled || ex->cancelled) break;
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
            return;
        }
        if (nt == ex->schema->t_id && v->kind == GQL_V_STRING) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            return;
        }
        if (nt == ex->schema->t_boolean && v->kind == GQL_V_BOOL) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
            return;
        }
        if (nt == ex->schema->t_int && v->kind == GQL_V_INT && v->u.i >= -2147483648LL &&
            v->u.i <= 2147483647LL) {
            slot->kind = R_LEAF;
            slot->u.leaf = *v;
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
        return;
    }
    case GQL_T_OBJECT: {
        gql_pset *ps = sub_plan(ex, pf, nt);
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
                        "Abstract type \"%s\" was resolved to a non-object type \"%s\".",
                        nt->name, tn);
            return;
        }
        if (!gql_type_is_possible(nt, rt)) {
            field_fail(ex, pf, slot, NULL, "Runtime Object type \"%s\" is not a possible type for \"%s\".",
                        rt->name, nt->name);
            return;
        }
        gql_pset *ps = sub_plan(ex, pf, rt);
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

static void exec_field(gql_exec *ex, const gql_type *ptype, gql_pfield *pf,
                       const gql_value *parent, gql_rval *slot, bool root)
{
    if (ex->cancelled) {
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
        if (ext) gql_obj_set(ext, 0, "service", gql_str_ref(def->owner, strlen(def->owner)));
        else ex->oom = true;
        wrong_service(ex, pf, slot, ext, "Field \"%s\" is served by the %s service", def->name,
                      def->owner);
        return;
    }
    const gql_value *args;
    const gql_error *ae;
    int rc = field_args(ex, pf, &args, &ae);
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
            const gql_value *name = gql_obj_get(args, "name");
            iv = name && name->kind == GQL_V_STRING
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

static void exec_finish(gql_exec *ex)
{
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
        if (ex->op->op != GQL_OP_MUTATION || d->nulled || d->kind != R_OBJ ||
            ex->next_root >= d->u.obj.ps->n)
            break;
        uint32_t i = ex->next_root++;
        ex->pending = 1;
        exec_field(ex, ex->root_type, &d->u.obj.ps->f[i], ex->root_value, &d->u.obj.vals[i],
                   true);
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
    gql_pset *ps = root_plan(ex);
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
    if (!ex->vars_ready && (ex->vars_failed || gql_exec_set_variables(ex, NULL) != 0))
        return NULL;
    gql_pset *ps = root_plan(ex);
    if (!ps) return NULL;
    for (uint32_t i = 0; i < ps->n; i++) {
        gql_pfield *pf = &ps->f[i];
        if (pf->meta != M_NONE) continue;
        const gql_value *a;
        const gql_error *e;
        if (args && field_args(ex, pf, &a, &e) == 0) *args = a;
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

void gql_ri_error_ext(gql_rinfo *ri, const char *code, const gql_value *ext, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    ri_error_v(ri, code, ext, fmt, ap);
    va_end(ap);
}

/* ---- response writer ----
 * Output goes through a small chunk buffer (gql_jw) flushed into the cd_buf
 * in large appends: a result is thousands of tiny pieces (keys, commas,
 * short strings) and per-piece cd_buf calls would dominate. */

#define GQL_JW_CHUNK 4096u

typedef struct gql_jw {
    cd_buf *out;
    size_t n;
    char buf[GQL_JW_CHUNK];
} gql_jw;

static void jw_flush(gql_jw *w)
{
    if (w->n) cd_buf_append(w->out, w->buf, w->n);
    w->n = 0;
}

static inline void jw_put(gql_jw *w, const char *p, size_t n)
{
    if (n > GQL_JW_CHUNK - w->n) {
        jw_flush(w);
        if (n > GQL_JW_CHUNK) {
            cd_buf_append(w->out, p, n);
            return;
        }
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}

static inline void jw_c(gql_jw *w, char c)
{
    if (w->n == GQL_JW_CHUNK) jw_flush(w);
    w->buf[w->n++] = c;
}

static void jw_str(gql_jw *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
            jw_flush(w); /* rare: escapes are cd_buf_json_str's job */
            cd_buf_json_str(w->out, s, n);
            return;
        }
    }
    jw_c(w, '"');
    jw_put(w, s, n);
    jw_c(w, '"');
}

static void jw_i64(gql_jw *w, int64_t i)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) *--p = '-';
    jw_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static void jw_leaf(gql_jw *w, const gql_value *v)
{
    char num[40];
    switch (v->kind) {
    case GQL_V_STRING:
    case GQL_V_ENUM: jw_str(w, v->u.s, v->len); break;
    case GQL_V_INT: jw_i64(w, v->u.i); break;
    case GQL_V_BOOL:
        if (v->u.b)
            jw_put(w, "true", 4);
        else
            jw_put(w, "false", 5);
        break;
    case GQL_V_NULL: jw_put(w, "null", 4); break;
    case GQL_V_FLOAT:
        if (v->u.f != v->u.f || v->u.f - v->u.f != 0) {
            jw_put(w, "null", 4);
        } else {
            gql_js_number(num, sizeof num, v->u.f);
            jw_put(w, num, strlen(num));
        }
        break;
    default: /* JSON-scalar values: lists, objects, raw JSON */
        jw_flush(w);
        gql_json_write(w->out, v);
        break;
    }
}

static void jw_rval(gql_jw *w, const gql_rval *r)
{
    if (r->nulled) {
        jw_put(w, "null", 4);
        return;
    }
    switch (r->kind) {
    case R_LEAF: jw_leaf(w, &r->u.leaf); break;
    case R_OBJ: {
        const gql_pset *ps = r->u.obj.ps;
        jw_c(w, '{');
        for (uint32_t i = 0; i < ps->n; i++) {
            if (i) jw_c(w, ',');
            jw_put(w, ps->f[i].jkey, ps->f[i].jkeylen);
            jw_rval(w, &r->u.obj.vals[i]);
        }
        jw_c(w, '}');
        break;
    }
    case R_LIST:
        jw_c(w, '[');
        for (uint32_t i = 0; i < r->n; i++) {
            if (i) jw_c(w, ',');
            jw_rval(w, &r->u.items[i]);
        }
        jw_c(w, ']');
        break;
    default: jw_put(w, "null", 4); break;
    }
}

static void write_data(cd_buf *out, const gql_rval *data)
{
    gql_jw w; /* GQL_JW_CHUNK bytes of stack */
    w.out = out;
    w.n = 0;
    jw_rval(&w, data);
    jw_flush(&w);
}

static const gql_error gql_oom_error = {
    .message = "Internal server error: out of memory",
    .code = "INTERNAL_SERVER_ERROR",
};

void gql_exec_write_result(const gql_exec *ex, cd_buf *out)
{
    if (ex->oom) {
        cd_buf_puts(out, ex->has_data ? "{\"data\":null,\"errors\":" : "{\"errors\":");
        gql_errors_write_json(out, &gql_oom_error, 1);
        cd_buf_putc(out, '}');
        return;
    }
    uint32_t n;
    const gql_error *errs = gql_exec_errors(ex, &n);
    if (ex->has_data) {
        cd_buf_puts(out, "{\"data\":");
        if (ex->data)
            write_data(out, ex->data);
        else
            cd_buf_puts(out, "null");
        if (n) {
            cd_buf_puts(out, ",\"errors\":");
            gql_errors_write_json(out, errs, n);
        }
        cd_buf_putc(out, '}');
        return;
    }
    cd_buf_puts(out, "{\"errors\":");
    gql_errors_write_json(out, errs, n);
    cd_buf_putc(out, '}');
}
