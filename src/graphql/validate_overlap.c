/*
 * validate_overlap.c — the OverlappingFieldsCanBeMerged rule, ported from
 * graphql-js 16.8 and kept in step with 16.15 (the version chatd's
 * differential tests pin) so that it reports the same conflicts, as often, at
 * the same locations.
 *
 * For every selection set (but an inline fragment's own, whose fields are
 * compared at the enclosing level, as in graphql-js 16.15) the rule collects the
 * fields by response name, through inline fragments, plus the names of spread
 * fragments, then compares: fields within the set, the set against each
 * fragment (and the fragments those spread), fragments against each other,
 * and recursively the sub-selections of every pair of same-named fields.
 * graphql-js 16.8 memoizes the collected fields per selection set and the
 * fragment pairs per (name, name, exclusivity); so does this port. Its
 * sub-selection comparisons are not memoized and can grow exponentially on
 * adversarial documents, so a work budget (GQL_V_OVERLAP_BUDGET comparisons)
 * ends validation of such a document with "Validation aborted." — the one
 * place where chatd deliberately differs.
 *
 * Pairs of the same argument-less leaf field (`{ a a a ... }`) never
 * conflict; graphql-js still visits every such pair (quadratic). Here runs of
 * such identical fields are stepped over in one move, so the loops cost the
 * pairs that are really compared (each charged to the budget) plus a unit
 * per run, all counted against GQL_V_WORK_BUDGET.
 *
 * Memory: all of it lives in the validation's scratch arena.
 */
#include <stdio.h>
#include <string.h>

#include "graphql/validate_internal.h"

/* ------------------------------------------------------------ hash maps */

typedef struct ov_ent {
    uintptr_t a, b, val;
    bool used;
} ov_ent;

typedef struct ov_map {
    ov_ent *e;
    uint32_t cap, n;
} ov_map;

static uint32_t ov_hash(uintptr_t a, uintptr_t b)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ull ^ ((uint64_t)b + 0x632BE59BD9B4E019ull);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static bool map_get(const ov_map *m, uintptr_t a, uintptr_t b, uintptr_t *val)
{
    if (!m->cap) return false;
    uint32_t i = ov_hash(a, b) & (m->cap - 1);
    while (m->e[i].used) {
        if (m->e[i].a == a && m->e[i].b == b) {
            *val = m->e[i].val;
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

static bool map_put(gql_vctx *v, ov_map *m, uintptr_t a, uintptr_t b, uintptr_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        uint32_t ncap = m->cap ? m->cap * 2 : 64;
        ov_ent *ne = gql_v_alloc(v, ncap * sizeof *ne);
        if (!ne) return false;
        for (uint32_t k = 0; k < m->cap; k++) {
            if (!m->e[k].used) continue;
            uint32_t i = ov_hash(m->e[k].a, m->e[k].b) & (ncap - 1);
            while (ne[i].used)
                i = (i + 1) & (ncap - 1);
            ne[i] = m->e[k];
        }
        m->e = ne;
        m->cap = ncap;
    }
    uint32_t i = ov_hash(a, b) & (m->cap - 1);
    while (m->e[i].used) {
        if (m->e[i].a == a && m->e[i].b == b) {
            m->e[i].val = val;
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->e[i] = (ov_ent){a, b, val, true};
    m->n++;
    return true;
}

/* --------------------------------------------------------------- state */

typedef struct ov_fd { /* [parentType, node, fieldDef] */
    const gql_type *parent;
    const gql_selection *node;
    const gql_field *def; /* NULL for unknown fields and meta-fields */
    const char *leaf;     /* interned field name when argument-less and
                             without selections, else NULL */
} ov_fd;

typedef struct ov_group {
    const char *name; /* interned response name */
    ov_fd *fields;
    uint32_t n, cap;
    uint32_t *run_end; /* by field: end of its run of identical leaves */
} ov_group;

typedef struct ov_cfr { /* [fieldMap, fragmentNames] of one selection set */
    ov_group *groups;
    uint32_t ngroups, capgroups;
    const char **frags; /* interned fragment names, first-seen order */
    uint32_t nfrags, capfrags;
} ov_cfr;

typedef struct ov_conflict {
    const char *name;
    const char *reason;
    const gql_selection **f1, **f2;
    uint32_t n1, n2;
} ov_conflict;

typedef struct ov_conflicts {
    ov_conflict *items;
    uint32_t n, cap;
} ov_conflicts;

struct gql_vov {
    ov_map strings;   /* (hash, k) -> interned string */
    ov_map cfr_cache; /* selection set -> cfr */
    ov_map group_of;  /* (cfr, name) -> group index + 1 */
    ov_map frag_of;   /* (cfr, fragment name) -> 1 when listed */
    ov_map pairs;     /* (smaller name, larger name) -> 1 non-exclusive, 2 exclusive */
};

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* One pointer per distinct string, so names compare by pointer. */
static const char *intern(gql_vctx *v, const char *s)
{
    gql_vov *o = v->ov;
    uint32_t h = str_hash(s);
    for (uintptr_t k = 0;; k++) {
        uintptr_t val;
        if (!map_get(&o->strings, h, k, &val)) {
            map_put(v, &o->strings, h, k, (uintptr_t)s);
            return s;
        }
        if (strcmp((const char *)val, s) == 0) return (const char *)val;
    }
}

#define OV_GROW(v, arr, n, cap, failret)                                                           \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            uint32_t ncap_ = (cap) ? (cap)*2 : 4;                                                  \
            void *na_ = gql_v_alloc((v), ncap_ * sizeof *(arr));                                   \
            if (!na_) return failret;                                                              \
            if (n) memcpy(na_, (arr), (n) * sizeof *(arr));                                        \
            (arr) = na_;                                                                           \
            (cap) = ncap_;                                                                         \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------ collecting fields */

static bool collect_impl(gql_vctx *v, ov_cfr *r, const gql_type *parent,
                         const gql_selection_set *ss)
{
    gql_vov *o = v->ov;
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            const gql_field *def = NULL;
            if (parent && (parent->kind == GQL_T_OBJECT || parent->kind == GQL_T_INTERFACE))
                def = gql_type_field(parent, s->name);
            const char *key = intern(v, s->alias ? s->alias : s->name);
            uintptr_t gi;
            ov_group *g;
            if (map_get(&o->group_of, (uintptr_t)r, (uintptr_t)key, &gi)) {
                g = &r->groups[gi - 1];
            } else {
                OV_GROW(v, r->groups, r->ngroups, r->capgroups, false);
                g = &r->groups[r->ngroups++];
                memset(g, 0, sizeof *g);
                g->name = key;
                if (!map_put(v, &o->group_of, (uintptr_t)r, (uintptr_t)key, r->ngroups))
                    return false;
            }
            OV_GROW(v, g->fields, g->n, g->cap, false);
            const char *leaf = s->nargs == 0 && !s->sel ? intern(v, s->name) : NULL;
            g->fields[g->n++] = (ov_fd){parent, s, def, leaf};
        } else if (s->kind == GQL_SEL_FRAGMENT_SPREAD) {
            const char *name = intern(v, s->name);
            uintptr_t dummy;
            if (map_get(&o->frag_of, (uintptr_t)r, (uintptr_t)name, &dummy)) continue;
            if (!map_put(v, &o->frag_of, (uintptr_t)r, (uintptr_t)name, 1)) return false;
            OV_GROW(v, r->frags, r->nfrags, r->capfrags, false);
            r->frags[r->nfrags++] = name;
        } else {
            const gql_type *t = s->type_cond ? gql_schema_type(v->s, s->type_cond) : parent;
            if (!collect_impl(v, r, t, s->sel)) return false;
        }
    }
    return true;
}

/* getFieldsAndFragmentNames: cached by selection set alone (the parent type
 * of the first computation wins, as in graphql-js). */
static ov_cfr *collect_fields(gql_vctx *v, const gql_type *parent, const gql_selection_set *ss)
{
    gql_vov *o = v->ov;
    uintptr_t cached;
    if (map_get(&o->cfr_cache, (uintptr_t)ss, 0, &cached)) return (ov_cfr *)cached;
    ov_cfr *r = gql_v_alloc(v, sizeof *r);
    if (!r) return NULL;
    if (!collect_impl(v, r, parent, ss)) return NULL;
    if (!map_put(v, &o->cfr_cache, (uintptr_t)ss, 0, (uintptr_t)r)) return NULL;
    return r;
}

static ov_cfr *collect_fragment_fields(gql_vctx *v, const gql_fragment *f)
{
    return collect_fields(v, gql_schema_type(v->s, f->type_cond), f->sel);
}

/* ---------------------------------------------------------- comparisons */

static bool conflicts_push(gql_vctx *v, ov_conflicts *c, ov_conflict x)
{
    OV_GROW(v, c->items, c->n, c->cap, false);
    c->items[c->n++] = x;
    return true;
}

static bool types_conflict(const gql_tref *t1, const gql_tref *t2)
{
    if (t1->kind == GQL_TR_LIST)
        return t2->kind == GQL_TR_LIST ? types_conflict(t1->of, t2->of) : true;
    if (t2->kind == GQL_TR_LIST) return true;
    if (t1->kind == GQL_TR_NON_NULL)
        return t2->kind == GQL_TR_NON_NULL ? types_conflict(t1->of, t2->of) : true;
    if (t2->kind == GQL_TR_NON_NULL) return true;
    if (gql_type_is_leaf(t1->named) || gql_type_is_leaf(t2->named)) return t1->named != t2->named;
    return false;
}

static int kv_name_cmp(const gql_kv *a, const gql_kv *b)
{
    return strcmp(a->name, b->name);
}

/* Equality of two argument values as graphql-js's stringifyValue sees them
 * (object fields compared in name order, block strings distinct). */
static bool values_equal(gql_vctx *v, const gql_value *a, const gql_value *b)
{
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case GQL_V_NULL:
        return true;
    case GQL_V_BOOL:
        return a->u.b == b->u.b;
    case GQL_V_INT:
        if ((a->flags & GQL_VF_BIG) != (b->flags & GQL_VF_BIG)) return false;
        if (a->flags & GQL_VF_BIG) /* the literal's text */
            return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
        return a->u.i == b->u.i;
    case GQL_V_FLOAT:
        return a->u.f == b->u.f;
    case GQL_V_STRING:
        return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0 &&
               (a->flags & GQL_VF_BLOCK) == (b->flags & GQL_VF_BLOCK);
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
        return strcmp(a->u.s, b->u.s) == 0;
    case GQL_V_LIST:
        if (a->len != b->len) return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!values_equal(v, &a->u.items[i], &b->u.items[i])) return false;
        return true;
    case GQL_V_OBJECT: {
        if (a->len != b->len) return false;
        /* stable insertion sort of field pointers by name, both sides */
        const gql_kv **sa = gql_v_alloc(v, (a->len ? a->len : 1) * sizeof *sa);
        const gql_kv **sb = gql_v_alloc(v, (b->len ? b->len : 1) * sizeof *sb);
        if (!sa || !sb) return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const gql_kv *ka = &a->u.fields[i], *kb = &b->u.fields[i];
            uint32_t j = i;
            while (j > 0 && kv_name_cmp(sa[j - 1], ka) > 0) {
                sa[j] = sa[j - 1];
                j--;
            }
            sa[j] = ka;
            j = i;
            while (j > 0 && kv_name_cmp(sb[j - 1], kb) > 0) {
                sb[j] = sb[j - 1];
                j--;
            }
            sb[j] = kb;
        }
        for (uint32_t i = 0; i < a->len; i++)
            if (strcmp(sa[i]->name, sb[i]->name) != 0 ||
                !values_equal(v, &sa[i]->value, &sb[i]->value))
                return false;
        return true;
    }
    default:
        return false;
    }
}

static bool same_arguments(gql_vctx *v, const gql_selection *n1, const gql_selection *n2)
{
    if (n1->nargs == 0) return n2->nargs == 0;
    if (n2->nargs == 0 || n1->nargs != n2->nargs) return false;
    for (uint32_t i = 0; i < n1->nargs; i++) {
        const gql_value *v2 = NULL;
        for (uint32_t k = 0; k < n2->nargs; k++) /* Map semantics: last one wins */
            if (strcmp(n2->args[k].name, n1->args[i].name) == 0) v2 = &n2->args[k].value;
        if (!v2 || !values_equal(v, &n1->args[i].value, v2)) return false;
    }
    return true;
}

/* graphql-js PairSet: unordered pair of names with an exclusivity flag; a
 * non-exclusive entry also answers exclusive queries. */
static bool pairs_has(gql_vov *o, const char *a, const char *b, bool excl)
{
    if (strcmp(a, b) > 0) {
        const char *t = a;
        a = b;
        b = t;
    }
    uintptr_t st;
    if (!map_get(&o->pairs, (uintptr_t)a, (uintptr_t)b, &st)) return false;
    return excl ? true : st == 1;
}

static void pairs_add(gql_vctx *v, const char *a, const char *b, bool excl)
{
    if (strcmp(a, b) > 0) {
        const char *t = a;
        a = b;
        b = t;
    }
    map_put(v, &v->ov->pairs, (uintptr_t)a, (uintptr_t)b, excl ? 2 : 1);
}

static bool find_conflict(gql_vctx *v, bool parents_exclusive, const char *name, const ov_fd *f1,
                          const ov_fd *f2, ov_conflict *out);

/* The same argument-less leaf field: find_conflict's first test, which
 * never finds a conflict. */
static bool same_leaf(const ov_fd *a, const ov_fd *b)
{
    return a->leaf && a->leaf == b->leaf && a->def == b->def;
}

/* run_end of a group (computed once: collected groups do not change). */
static const uint32_t *group_runs(gql_vctx *v, ov_group *g)
{
    if (g->run_end) return g->run_end;
    uint32_t *re = gql_v_alloc(v, (g->n ? g->n : 1) * sizeof *re);
    if (!re || !gql_v_work(v, g->n)) return NULL;
    for (uint32_t k = g->n; k-- > 0;)
        re[k] = k + 1 < g->n && same_leaf(&g->fields[k], &g->fields[k + 1]) ? re[k + 1] : k + 1;
    return g->run_end = re;
}

/* Compares f with g2's fields from index `from` on, in order, stepping over
 * the runs of fields identical to f. */
static void compare_with_group(gql_vctx *v, ov_conflicts *out, bool excl, const char *name,
                               const ov_fd *f, ov_group *g2, uint32_t from)
{
    const uint32_t *run_end = group_runs(v, g2);
    if (!run_end) return;
    for (uint32_t j = from; j < g2->n && gql_v_work(v, 1);) {
        if (same_leaf(f, &g2->fields[j])) {
            j = run_end[j];
            continue;
        }
        ov_conflict c;
        if (find_conflict(v, excl, name, f, &g2->fields[j], &c)) conflicts_push(v, out, c);
        j++;
    }
}

static void conflicts_within(gql_vctx *v, ov_conflicts *out, const ov_cfr *r)
{
    for (uint32_t g = 0; g < r->ngroups && !v->aborted; g++) {
        ov_group *grp = &r->groups[g];
        for (uint32_t i = 0; i < grp->n && !v->aborted; i++)
            compare_with_group(v, out, false, grp->name, &grp->fields[i], grp, i + 1);
    }
}

static void conflicts_between(gql_vctx *v, ov_conflicts *out, bool excl, const ov_cfr *r1,
                              const ov_cfr *r2)
{
    gql_vov *o = v->ov;
    for (uint32_t g = 0; g < r1->ngroups && !v->aborted; g++) {
        const ov_group *g1 = &r1->groups[g];
        uintptr_t gi;
        if (!map_get(&o->group_of, (uintptr_t)r2, (uintptr_t)g1->name, &gi)) continue;
        ov_group *g2 = &r2->groups[gi - 1];
        for (uint32_t i = 0; i < g1->n && !v->aborted; i++)
            compare_with_group(v, out, excl, g1->name, &g1->fields[i], g2, 0);
    }
}

/* Recursion guard: graphql-js 16.8 recurses without bound on some
 * self-referencing fragments (it overflows its stack); we stop instead. */
static bool ov_enter(gql_vctx *v)
{
    if (v->aborted) return false;
    if (v->ov_depth >= GQL_V_OVERLAP_MAX_DEPTH) {
        gql_v_error(v, NULL, 0, "Validation aborted.");
        v->aborted = true;
        return false;
    }
    v->ov_depth++;
    return true;
}

static void between_fields_and_fragment(gql_vctx *v, ov_conflicts *out, bool excl, const ov_cfr *r,
                                        const char *fname);

static void between_fields_and_fragment_in(gql_vctx *v, ov_conflicts *out, bool excl,
                                           const ov_cfr *r, const char *fname)
{
    const gql_fragment *frag = gql_v_fragment(v, fname);
    if (!frag || !gql_v_spend(v, 1)) return;
    const ov_cfr *r2 = collect_fragment_fields(v, frag);
    if (!r2 || r2 == r) return;
    conflicts_between(v, out, excl, r, r2);
    for (uint32_t i = 0; i < r2->nfrags && !v->aborted; i++) {
        const char *ref = r2->frags[i];
        if (pairs_has(v->ov, ref, fname, excl)) continue;
        pairs_add(v, ref, fname, excl);
        between_fields_and_fragment(v, out, excl, r, ref);
    }
}

static void between_fields_and_fragment(gql_vctx *v, ov_conflicts *out, bool excl, const ov_cfr *r,
                                        const char *fname)
{
    if (!ov_enter(v)) return;
    between_fields_and_fragment_in(v, out, excl, r, fname);
    v->ov_depth--;
}

static void between_fragments(gql_vctx *v, ov_conflicts *out, bool excl, const char *n1,
                              const char *n2);

static void between_fragments_in(gql_vctx *v, ov_conflicts *out, bool excl, const char *n1,
                                 const char *n2)
{
    if (n1 == n2 || !gql_v_spend(v, 1)) return;
    if (pairs_has(v->ov, n1, n2, excl)) return;
    pairs_add(v, n1, n2, excl);
    const gql_fragment *f1 = gql_v_fragment(v, n1), *f2 = gql_v_fragment(v, n2);
    if (!f1 || !f2) return;
    const ov_cfr *r1 = collect_fragment_fields(v, f1);
    const ov_cfr *r2 = collect_fragment_fields(v, f2);
    if (!r1 || !r2) return;
    conflicts_between(v, out, excl, r1, r2);
    for (uint32_t i = 0; i < r2->nfrags && !v->aborted; i++)
        between_fragments(v, out, excl, n1, r2->frags[i]);
    for (uint32_t i = 0; i < r1->nfrags && !v->aborted; i++)
        between_fragments(v, out, excl, r1->frags[i], n2);
}

static void between_fragments(gql_vctx *v, ov_conflicts *out, bool excl, const char *n1,
                              const char *n2)
{
    if (!ov_enter(v)) return;
    between_fragments_in(v, out, excl, n1, n2);
    v->ov_depth--;
}

static void between_sub_selection_sets(gql_vctx *v, ov_conflicts *out, bool excl,
                                       const gql_type *p1, const gql_selection_set *ss1,
                                       const gql_type *p2, const gql_selection_set *ss2)
{
    const ov_cfr *r1 = collect_fields(v, p1, ss1);
    const ov_cfr *r2 = collect_fields(v, p2, ss2);
    if (!r1 || !r2) return;
    conflicts_between(v, out, excl, r1, r2);
    for (uint32_t i = 0; i < r2->nfrags && !v->aborted; i++)
        between_fields_and_fragment(v, out, excl, r1, r2->frags[i]);
    for (uint32_t i = 0; i < r1->nfrags && !v->aborted; i++)
        between_fields_and_fragment(v, out, excl, r2, r1->frags[i]);
    for (uint32_t i = 0; i < r1->nfrags && !v->aborted; i++)
        for (uint32_t j = 0; j < r2->nfrags && !v->aborted; j++)
            between_fragments(v, out, excl, r1->frags[i], r2->frags[j]);
}

static bool one_node(gql_vctx *v, const gql_selection *s, const gql_selection ***out)
{
    *out = gql_v_alloc(v, sizeof **out);
    if (!*out) return false;
    (*out)[0] = s;
    return true;
}

static bool simple_conflict(gql_vctx *v, const char *name, const char *reason, const ov_fd *f1,
                            const ov_fd *f2, ov_conflict *out)
{
    out->name = name;
    out->reason = reason;
    out->n1 = out->n2 = 1;
    return one_node(v, f1->node, &out->f1) && one_node(v, f2->node, &out->f2);
}

/* [node, ...every sub-conflict's nodes on that side] */
static const gql_selection **conflict_nodes(gql_vctx *v, const gql_selection *node,
                                            const ov_conflicts *c, bool first, uint32_t *n)
{
    uint32_t total = 1;
    for (uint32_t i = 0; i < c->n; i++)
        total += first ? c->items[i].n1 : c->items[i].n2;
    const gql_selection **out = gql_v_alloc(v, total * sizeof *out);
    if (!out) return NULL;
    uint32_t k = 0;
    out[k++] = node;
    for (uint32_t i = 0; i < c->n; i++) {
        const gql_selection **src = first ? c->items[i].f1 : c->items[i].f2;
        uint32_t sn = first ? c->items[i].n1 : c->items[i].n2;
        memcpy(out + k, src, sn * sizeof *out);
        k += sn;
    }
    *n = k;
    return out;
}

static bool find_conflict(gql_vctx *v, bool parents_exclusive, const char *name, const ov_fd *f1,
                          const ov_fd *f2, ov_conflict *out)
{
    const gql_type *p1 = f1->parent, *p2 = f2->parent;
    bool excl = parents_exclusive ||
                (p1 != p2 && p1 && p2 && p1->kind == GQL_T_OBJECT && p2->kind == GQL_T_OBJECT);
    const gql_tref *t1 = f1->def ? f1->def->type : NULL, *t2 = f2->def ? f2->def->type : NULL;
    /* the same argument-less leaf field twice never conflicts: skip it
     * without spending budget (graphql-js reaches the same verdict) */
    if (f1->node->nargs == 0 && f2->node->nargs == 0 && !f1->node->sel && !f2->node->sel &&
        f1->def == f2->def && strcmp(f1->node->name, f2->node->name) == 0)
        return false;
    if (!gql_v_spend(v, 1)) return false;
    if (!excl) {
        const char *n1 = f1->node->name, *n2 = f2->node->name;
        if (strcmp(n1, n2) != 0) {
            const char *reason =
                cd_arena_sprintf(&v->scratch, "\"%s\" and \"%s\" are different fields", n1, n2);
            if (!reason) {
                v->oom = v->aborted = true;
                return false;
            }
            return simple_conflict(v, name, reason, f1, f2, out);
        }
        if (!same_arguments(v, f1->node, f2->node))
            return simple_conflict(v, name, "they have differing arguments", f1, f2, out);
    }
    if (t1 && t2 && types_conflict(t1, t2)) {
        const char *reason =
            cd_arena_sprintf(&v->scratch, "they return conflicting types \"%s\" and \"%s\"",
                             gql_v_tref_str(v, t1), gql_v_tref_str(v, t2));
        if (!reason) {
            v->oom = v->aborted = true;
            return false;
        }
        return simple_conflict(v, name, reason, f1, f2, out);
    }
    if (v->aborted) return false;
    const gql_selection_set *ss1 = f1->node->sel, *ss2 = f2->node->sel;
    if (!ss1 || !ss2) return false;
    ov_conflicts sub = {0};
    if (!ov_enter(v)) return false;
    between_sub_selection_sets(v, &sub, excl, gql_tref_named(t1), ss1, gql_tref_named(t2), ss2);
    v->ov_depth--;
    if (!sub.n || v->aborted) return false;
    cd_buf msg;
    cd_buf_init(&msg);
    for (uint32_t i = 0; i < sub.n; i++)
        cd_buf_printf(&msg, "%ssubfields \"%s\" conflict because %s", i ? " and " : "",
                      sub.items[i].name, sub.items[i].reason);
    const char *m = NULL;
    if (!msg.failed) m = cd_arena_strndup(&v->scratch, msg.data ? msg.data : "", msg.len);
    cd_buf_free(&msg);
    if (!m) {
        v->oom = v->aborted = true;
        return false;
    }
    out->name = name;
    out->reason = m;
    out->f1 = conflict_nodes(v, f1->node, &sub, true, &out->n1);
    out->f2 = conflict_nodes(v, f2->node, &sub, false, &out->n2);
    return out->f1 && out->f2;
}

void gql_v_overlap(gql_vctx *v, const gql_type *parent, const gql_selection_set *ss)
{
    if (!v->ov && !(v->ov = gql_v_alloc(v, sizeof *v->ov))) return;
    ov_conflicts out = {0};
    const ov_cfr *r = collect_fields(v, parent, ss);
    if (!r) return;
    conflicts_within(v, &out, r);
    for (uint32_t i = 0; i < r->nfrags && !v->aborted; i++) {
        between_fields_and_fragment(v, &out, false, r, r->frags[i]);
        for (uint32_t j = i + 1; j < r->nfrags && !v->aborted; j++)
            between_fragments(v, &out, false, r->frags[i], r->frags[j]);
    }
    for (uint32_t i = 0; i < out.n && !v->aborted; i++) {
        const ov_conflict *c = &out.items[i];
        uint32_t n = c->n1 + c->n2;
        gql_loc *locs = gql_v_alloc(v, n * sizeof *locs);
        if (!locs) return;
        for (uint32_t k = 0; k < c->n1; k++)
            locs[k] = c->f1[k]->loc;
        for (uint32_t k = 0; k < c->n2; k++)
            locs[c->n1 + k] = c->f2[k]->loc;
        gql_v_error(v, locs, n,
                    "Fields \"%s\" conflict because %s. Use different aliases on the fields to "
                    "fetch both if this was intentional.",
                    c->name, c->reason);
    }
}
