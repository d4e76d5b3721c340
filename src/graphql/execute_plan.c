/*
 * execute_plan.c — field plans for the executor: CollectFields (spec
 * §6.3.2) with @skip/@include and fragments, grouping by response key, field
 * definitions resolved once, JSON-escaped keys, and coerced arguments.
 *
 * A plan (gql_pset) is built once per (selection, object type) and reused for
 * every list item and every run. It lives in the cached document's arena and
 * is shared by all execs of that document (doc->exec_plans), unless a
 * @skip/@include of the document reads a variable: then each exec builds its
 * own in its prep arena. Arguments without variables are coerced once into
 * the plan; arguments that read variables once per exec (gql_exec.vargs).
 * Scratch memory of a collection is heap (freed before return), never arena.
 */
#include <string.h>

#include "graphql/execute_internal.h"

#define GQL_PLAN_MAX_ROOTS 8u  /* operations per document with a shared root plan */
#define GQL_COLLECT_INLINE 64u /* fields collected without a heap allocation */

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
    return ex->shared == 1 ? &ex->doc->arena : &gql_exec_owner(ex)->prep;
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
                coll_item *ni =
                    grow_heap(c->items, c->items == c->inline_items, c->n, &c->cap, sizeof *ni);
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
        default:
            break;
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
    for (uint32_t i = 0; i < nnodes && !c->oom; i++)
        collect_set(c, nodes[i]->sel);
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

gql_pset *gql_plan_root(gql_exec *ex)
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

gql_pset *gql_plan_sub(gql_exec *ex, gql_pfield *pf, const gql_type *t)
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
    case GQL_V_VARIABLE:
        return true;
    case GQL_V_LIST:
        for (uint32_t i = 0; i < v->len; i++)
            if (value_uses_vars(&v->u.items[i])) return true;
        return false;
    case GQL_V_OBJECT:
        for (uint32_t i = 0; i < v->len; i++)
            if (value_uses_vars(&v->u.fields[i].value)) return true;
        return false;
    default:
        return false;
    }
}

/* Coerces a plan field's arguments: once per plan when they read no
 * variables (or the plan is this exec's own), else once per exec. Sets
 * *args (an OBJECT) and *err. 0, CD_EBAD (*err set) or CD_ENOMEM. */
int gql_plan_args(gql_exec *ex, gql_pfield *pf, const gql_value **args, const gql_error **err)
{
    *err = NULL;
    *args = &gql_empty_object;
    if (pf->def->nargs == 0) return 0;
    const gql_selection *n0 = pf->nodes[0];
    if (pf->args_mode == ARGS_UNKNOWN) {
        bool uses = false;
        for (uint32_t i = 0; i < n0->nargs && !uses; i++)
            uses = value_uses_vars(&n0->args[i].value);
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
    gql_exec *o = gql_exec_owner(ex); /* per-exec arguments live with the prepared state */
    for (uint32_t i = 0; i < o->nvargs; i++)
        if (o->vargs[i].pf == pf) {
            *args = &o->vargs[i].args;
            *err = o->vargs[i].err;
            return *err ? CD_EBAD : 0;
        }
    if (o->nvargs == o->capvargs) {
        /* a subscription's prepared state is kept (compacted to the bytes
         * it used): room for one entry at first, not four */
        gql_vargs *nv;
        if (o->capvargs) {
            nv = grow(&o->prep, o->vargs, o->nvargs, &o->capvargs, sizeof *nv);
        } else {
            uint32_t cap = o->op && o->op->op == GQL_OP_SUBSCRIPTION ? 1 : 4;
            nv = cd_arena_alloc(&o->prep, (size_t)cap * sizeof *nv);
            if (nv) o->capvargs = cap;
        }
        if (!nv) return CD_ENOMEM;
        o->vargs = nv;
    }
    gql_vargs *va = &o->vargs[o->nvargs];
    gql_error_list l;
    gql_errors_init(&l, &o->prep);
    int rc = gql_coerce_arguments(&o->prep, pf->def->args, pf->def->nargs, n0->args, n0->nargs,
                                  &o->vars, &va->args, &l, n0->loc);
    if (rc == CD_ENOMEM || (rc != 0 && !l.n)) return CD_ENOMEM;
    va->pf = pf;
    va->err = rc ? &l.items[0] : NULL;
    o->nvargs++;
    *args = &va->args;
    *err = va->err;
    return *err ? CD_EBAD : 0;
}
