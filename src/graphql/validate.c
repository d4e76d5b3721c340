/*
 * validate.c — validation of executable documents: every rule of the spec's
 * Validation section, implemented the way graphql-js 16.15's `specifiedRules`
 * are (the version chatd's differential tests pin), so the same document gets
 * the same errors at the same locations in the same order; then chatd's cost
 * limits (depth, field count, aliases).
 *
 * How it mirrors graphql-js: one pre-order walk over the document carries the
 * TypeInfo state (output type, parent type, field definition, input type,
 * parent input type, location default) down the recursion; at each node the
 * rules that have a visitor for that node kind run in specifiedRules order,
 * and "leave" rules run after the children. Rules that graphql-js skips below
 * a node (ValuesOfCorrectType after a type mismatch, KnownArgumentNames inside
 * directives) are skipped the same way.
 * Variable usages (graphql-js getVariableUsages) are gathered by a first walk
 * of the same code in "collect" mode, so operations can see the usages of
 * fragments defined after them.
 *
 * The limits run first, in time linear in the document: a document over one
 * of them is answered with that error alone and no spec rule runs (so the
 * quadratic ones never see it); a document within them gets exactly the spec
 * error list.
 *
 * This file holds the driver, the validation context (scratch memory, errors,
 * budget), the document indexes the rules share, and the cost limits; the
 * walk, the rules and the suggestions live in validate_walk.c,
 * validate_rules.c and validate_suggest.c (see validate_internal.h).
 *
 * Memory: scratch structures live in an arena private to one call; errors go
 * to the caller's list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/validate_internal.h"

/* ------------------------------------------------------------ context */

void *gql_v_alloc(gql_vctx *v, size_t n)
{
    void *p = cd_arena_calloc(&v->scratch, 1, n ? n : 1);
    if (!p) v->oom = v->aborted = true;
    return p;
}

void gql_v_error(gql_vctx *v, const gql_loc *locs, uint32_t nlocs, const char *fmt, ...)
{
    if (v->aborted) return;
    if (v->nerr >= GQL_MAX_ERRORS) {
        /* graphql-js (maxErrors 100) then adds this notice and aborts; the
         * list's own cap is bypassed for it so counts match */
        gql_error_list *l = v->errs;
        gql_error *ni = cd_arena_alloc(l->arena, (l->n + 1) * sizeof *ni);
        v->aborted = true;
        if (!ni) {
            v->oom = true;
            return;
        }
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        memset(&ni[l->n], 0, sizeof *ni);
        ni[l->n].message = "Too many validation errors, error limit reached. Validation aborted.";
        l->items = ni;
        l->cap = ++l->n;
        v->nerr++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = cd_arena_vsprintf(&v->scratch, fmt, ap);
    va_end(ap);
    if (!msg) {
        v->oom = v->aborted = true;
        return;
    }
    if (!gql_errors_add(v->errs, locs, nlocs, "%s", msg)) {
        v->oom = v->aborted = true;
        return;
    }
    v->nerr++;
}

bool gql_v_spend(gql_vctx *v, long cost)
{
    if (v->aborted) return false;
    v->budget -= cost;
    if (v->budget < 0) {
        gql_v_error(v, NULL, 0, "Validation aborted.");
        v->aborted = true;
        return false;
    }
    return true;
}

bool gql_v_work(gql_vctx *v, long units)
{
    if (v->aborted) return false;
    v->work += units;
    if (v->work > v->work_budget) {
        gql_v_error(v, NULL, 0, "Validation aborted.");
        v->aborted = true;
        return false;
    }
    return true;
}

int gql_v_frag_index(const gql_vctx *v, const char *name)
{
    uint32_t lo = 0, hi = v->nfrag;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, v->frag_name[mid]);
        if (c == 0) return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

const gql_fragment *gql_v_fragment(const gql_vctx *v, const char *name)
{
    int i = gql_v_frag_index(v, name);
    return i < 0 ? NULL : v->frag_def[i];
}

const char *gql_v_buf_str(gql_vctx *v, cd_buf *b)
{
    const char *out = NULL;
    if (!b->failed) out = cd_arena_strndup(&v->scratch, b->data ? b->data : "", b->len);
    cd_buf_free(b);
    if (!out) {
        v->oom = v->aborted = true;
        return "";
    }
    return out;
}

const char *gql_v_tref_str(gql_vctx *v, const gql_tref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_tref(&b, t);
    return gql_v_buf_str(v, &b);
}

const char *gql_v_value_str(gql_vctx *v, const gql_value *val)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_value(&b, val);
    return gql_v_buf_str(v, &b);
}

const char *gql_v_type_ref_str(gql_vctx *v, const gql_type_ref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_type_ref(&b, t);
    return gql_v_buf_str(v, &b);
}

/* ------------------------------------------------------ document indexes */

bool gql_v_sels_push(gql_vctx *v, v_sels *l, const gql_selection *s)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        const gql_selection **ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return false;
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = s;
    return true;
}

bool gql_v_usages_push(gql_vctx *v, v_usages *l, v_usage u)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap ? l->cap * 2 : 8;
        v_usage *ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return false;
        if (l->n) memcpy(ni, l->items, l->n * sizeof *ni);
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = u;
    return true;
}

/* graphql-js getFragmentSpreads: spreads of a selection set, nested sets
 * visited from a stack (so the order is not document order). */
void gql_v_collect_spreads(gql_vctx *v, const gql_selection_set *top, v_sels *out)
{
    uint32_t cap = 16, n = 0;
    const gql_selection_set **stack = gql_v_alloc(v, cap * sizeof *stack);
    if (!stack || !top) return;
    stack[n++] = top;
    while (n) {
        const gql_selection_set *set = stack[--n];
        for (uint32_t i = 0; i < set->n; i++) {
            const gql_selection *s = &set->items[i];
            if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
                if (!gql_v_sels_push(v, out, s)) return;
            } else if (s->sel) {
                if (n == cap) {
                    const gql_selection_set **ns = gql_v_alloc(v, cap * 2 * sizeof *ns);
                    if (!ns) return;
                    memcpy(ns, stack, n * sizeof *ns);
                    stack = ns;
                    cap *= 2;
                }
                stack[n++] = s->sel;
            }
        }
    }
}

static const v_sels *def_spreads(v_walk *w, uint32_t defidx)
{
    if (!w->def_spreads_done[defidx]) {
        const gql_definition *d = &w->v->doc->defs[defidx];
        const gql_selection_set *ss = d->kind == GQL_DEF_OPERATION  ? d->u.op->sel
                                      : d->kind == GQL_DEF_FRAGMENT ? d->u.frag->sel
                                                                    : NULL;
        gql_v_collect_spreads(w->v, ss, &w->def_spreads[defidx]);
        w->def_spreads_done[defidx] = true;
    }
    return &w->def_spreads[defidx];
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* graphql-js getRecursivelyReferencedFragments: the fragments (name indexes)
 * reachable from the operations, in breadth-first order of discovery. Cached
 * by the set of names the operations spread directly, so documents with many
 * operations over the same fragments stay linear. */
const v_refset *gql_v_referenced_fragments(v_walk *w, const uint32_t *ops, uint32_t nops)
{
    gql_vctx *v = w->v;
    uint32_t nnames = 0;
    for (uint32_t k = 0; k < nops; k++)
        nnames += def_spreads(w, ops[k])->n;
    const char **names = gql_v_alloc(v, (nnames ? nnames : 1) * sizeof *names);
    if (!names) return NULL;
    uint32_t nn = 0;
    for (uint32_t k = 0; k < nops; k++) {
        const v_sels *sp = def_spreads(w, ops[k]);
        for (uint32_t i = 0; i < sp->n; i++)
            names[nn++] = sp->items[i]->name;
    }
    if (!gql_v_work(v, (long)nn + w->nrefsets + v->nfrag)) return NULL;
    qsort(names, nn, sizeof *names, name_cmp);
    cd_buf kb;
    cd_buf_init(&kb);
    for (uint32_t i = 0; i < nn; i++) {
        if (i && !strcmp(names[i], names[i - 1])) continue;
        cd_buf_printf(&kb, "%s,", names[i]);
    }
    const char *key = gql_v_buf_str(v, &kb);
    for (uint32_t i = 0; i < w->nrefsets; i++)
        if (!strcmp(w->refsets[i]->key, key)) return w->refsets[i];
    v_refset *rs = gql_v_alloc(v, sizeof *rs);
    if (!rs) return NULL;
    rs->key = key;
    rs->frags = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *rs->frags);
    bool *seen = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *seen);
    if (!rs->frags || !seen) return NULL;
    uint32_t n = 0;
    for (uint32_t k = 0; k < nops; k++) {
        const v_sels *sp = def_spreads(w, ops[k]);
        for (uint32_t i = 0; i < sp->n; i++) {
            int fi = gql_v_frag_index(v, sp->items[i]->name);
            if (fi >= 0 && !seen[fi]) {
                seen[fi] = true;
                rs->frags[n++] = fi;
            }
        }
    }
    for (uint32_t q = 0; q < n; q++) {
        const v_sels *sp = def_spreads(w, (uint32_t)w->frag_def_index[rs->frags[q]]);
        for (uint32_t i = 0; i < sp->n; i++) {
            int fi = gql_v_frag_index(v, sp->items[i]->name);
            if (fi >= 0 && !seen[fi]) {
                seen[fi] = true;
                rs->frags[n++] = fi;
            }
        }
    }
    rs->nfrags = n;
    if (w->nrefsets == w->caprefsets) {
        uint32_t ncap = w->caprefsets ? w->caprefsets * 2 : 8;
        v_refset **ni = gql_v_alloc(v, ncap * sizeof *ni);
        if (!ni) return NULL;
        if (w->nrefsets) memcpy(ni, w->refsets, w->nrefsets * sizeof *ni);
        w->refsets = ni;
        w->caprefsets = ncap;
    }
    w->refsets[w->nrefsets++] = rs;
    return rs;
}

/* ------------------------------------------------------------- limits */

typedef struct v_cost {
    uint64_t depth, fields, aliases;
} v_cost;

#define GQL_V_COST_CAP (1ull << 40)

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s > GQL_V_COST_CAP ? GQL_V_COST_CAP : s;
}

typedef struct v_costs {
    v_cost *memo;
    uint8_t *state; /* 0 = not yet, 1 = in progress, 2 = done */
} v_costs;

static v_cost cost_set(gql_vctx *v, v_costs *c, const gql_selection_set *ss);

static v_cost cost_frag(gql_vctx *v, v_costs *c, const char *name)
{
    v_cost z = {0, 0, 0};
    int fi = gql_v_frag_index(v, name);
    if (fi < 0 || c->state[fi] == 1) return z; /* unknown or a cycle: the rules report those */
    if (c->state[fi] == 0) {
        c->state[fi] = 1;
        c->memo[fi] = cost_set(v, c, v->frag_def[fi]->sel);
        c->state[fi] = 2;
    }
    return c->memo[fi];
}

static v_cost cost_set(gql_vctx *v, v_costs *c, const gql_selection_set *ss)
{
    v_cost r = {0, 0, 0};
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        v_cost sub;
        if (s->kind == GQL_SEL_FIELD) {
            sub = cost_set(v, c, s->sel);
            sub.depth += 1;
            sub.fields = sat_add(sub.fields, 1);
            if (s->alias) sub.aliases = sat_add(sub.aliases, 1);
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            sub = cost_set(v, c, s->sel);
        } else {
            sub = cost_frag(v, c, s->name);
        }
        if (sub.depth > r.depth) r.depth = sub.depth;
        r.fields = sat_add(r.fields, sub.fields);
        r.aliases = sat_add(r.aliases, sub.aliases);
    }
    return r;
}

static void check_limits(gql_vctx *v)
{
    v_costs c;
    c.memo = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *c.memo);
    c.state = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1));
    if (!c.memo || !c.state) return;
    for (uint32_t i = 0; i < v->doc->ndefs && !v->aborted; i++) {
        if (v->doc->defs[i].kind != GQL_DEF_OPERATION) continue;
        const gql_operation *op = v->doc->defs[i].u.op;
        v_cost k = cost_set(v, &c, op->sel);
        uint32_t before = v->nerr;
        if (k.depth > GQL_MAX_DEPTH)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: selection depth %llu exceeds the limit of %u.",
                        (unsigned long long)k.depth, GQL_MAX_DEPTH);
        if (k.fields > GQL_MAX_FIELDS)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: %llu field selections after fragment expansion "
                        "exceed the limit of %u.",
                        (unsigned long long)k.fields, GQL_MAX_FIELDS);
        if (k.aliases > GQL_MAX_ALIASES)
            gql_v_error(v, &op->loc, 1,
                        "Query is too complex: %llu aliased fields exceed the limit of %u.",
                        (unsigned long long)k.aliases, GQL_MAX_ALIASES);
        for (uint32_t e = before; e < v->nerr; e++)
            v->errs->items[v->errs->n - (v->nerr - e)].code = "QUERY_TOO_COMPLEX";
    }
}

/* ------------------------------------------------------------- driver */

static int frag_sort_cmp(const void *a, const void *b)
{
    const gql_fragment *x = *(const gql_fragment *const *)a, *y = *(const gql_fragment *const *)b;
    return strcmp(x->name, y->name);
}

static bool index_fragments(gql_vctx *v, v_walk *w)
{
    const gql_document *doc = v->doc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        n += doc->defs[i].kind == GQL_DEF_FRAGMENT;
    const gql_fragment **all = gql_v_alloc(v, (n ? n : 1) * sizeof *all);
    v->frag_name = gql_v_alloc(v, (n ? n : 1) * sizeof *v->frag_name);
    v->frag_def = gql_v_alloc(v, (n ? n : 1) * sizeof *v->frag_def);
    w->frag_def_index = gql_v_alloc(v, (n ? n : 1) * sizeof *w->frag_def_index);
    if (!all || !v->frag_name || !v->frag_def || !w->frag_def_index) return false;
    n = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT) all[n++] = doc->defs[i].u.frag;
    qsort(all, n, sizeof *all, frag_sort_cmp);
    for (uint32_t i = 0; i < n; i++) {
        if (v->nfrag && !strcmp(v->frag_name[v->nfrag - 1], all[i]->name)) continue;
        v->frag_name[v->nfrag++] = all[i]->name;
    }
    /* the definition a name resolves to is the last one in the document */
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        if (doc->defs[i].kind != GQL_DEF_FRAGMENT) continue;
        int fi = gql_v_frag_index(v, doc->defs[i].u.frag->name);
        v->frag_def[fi] = doc->defs[i].u.frag;
        w->frag_def_index[fi] = (int)i;
    }
    return true;
}

uint32_t gql_validate(const gql_schema *s, const gql_document *doc, gql_error_list *errs)
{
    return gql_validate_ex(s, doc, errs, NULL);
}

uint32_t gql_validate_ex(const gql_schema *s, const gql_document *doc, gql_error_list *errs,
                         gql_vwork *work)
{
    gql_vctx v;
    memset(&v, 0, sizeof v);
    v.s = s;
    v.doc = doc;
    v.errs = errs;
    v.budget = work && work->overlap_budget ? work->overlap_budget : GQL_V_OVERLAP_BUDGET;
    v.budget_start = v.budget;
    v.work_budget = work && work->work_budget ? work->work_budget : GQL_V_WORK_BUDGET;
    cd_arena_init(&v.scratch, 32u * 1024u);

    v_walk w;
    memset(&w, 0, sizeof w);
    w.v = &v;
    uint32_t nd = doc->ndefs ? doc->ndefs : 1;
    w.def_usages = gql_v_alloc(&v, nd * sizeof *w.def_usages);
    w.def_spreads = gql_v_alloc(&v, nd * sizeof *w.def_spreads);
    w.def_spreads_done = gql_v_alloc(&v, nd * sizeof *w.def_spreads_done);
    w.op_names = gql_v_alloc(&v, nd * sizeof *w.op_names);
    w.frag_seen = gql_v_alloc(&v, nd * sizeof *w.frag_seen);
    if (!v.aborted && index_fragments(&v, &w)) {
        uint32_t nf = v.nfrag ? v.nfrag : 1;
        w.cyc_visited = gql_v_alloc(&v, nf * sizeof *w.cyc_visited);
        w.cyc_index = gql_v_alloc(&v, nf * sizeof *w.cyc_index);
        for (uint32_t i = 0; !v.aborted && i < nf; i++)
            w.cyc_index[i] = -1;
        for (uint32_t i = 0; i < doc->ndefs; i++)
            w.nops += doc->defs[i].kind == GQL_DEF_OPERATION;
        /* chatd's limits first: linear in the document, so an oversized one
         * is refused before any rule that compares pairs runs */
        if (!v.aborted && !(work && work->no_limits)) check_limits(&v);
        if (v.nerr) v.aborted = true;
        /* pass 1: variable usages of every operation and fragment */
        w.collect = true;
        if (!v.aborted) gql_v_walk_document(&w);
        /* pass 2: the rules */
        w.collect = false;
        if (!v.aborted) gql_v_walk_document(&w);
    }
    cd_arena_free(&v.scratch);
    if (work) {
        work->overlap_spent = v.budget_start - v.budget;
        work->work = v.work;
    }
    if (v.oom) {
        /* Never accept (or cache) a document we could not check: an "Out of
         * memory" error says so; if even that cannot be added, the count
         * returned exceeds errs->n, which callers treat as out of memory. */
        if (gql_errors_add(errs, NULL, 0, "Out of memory while validating the document."))
            return v.nerr + 1;
        return errs->n + 1;
    }
    return v.nerr;
}
