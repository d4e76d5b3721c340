/*
 * validate_rules.c — the rules of the spec's Validation section, as
 * graphql-js 16.15's specifiedRules implement them (the version chatd's
 * differential tests pin; OneOf input objects included): same errors, same
 * locations, same order. Each
 * function is what the rules do when the walk (validate_walk.c) enters or
 * leaves one kind of node; within a function the rules run in specifiedRules
 * order. OverlappingFieldsCanBeMerged is in validate_overlap.c.
 *
 * Memory: temporaries live in the validation's scratch arena; errors go to
 * the caller's list through gql_v_error.
 */
#include <string.h>

#include "graphql/validate_internal.h"

/* ------------------------------------------------------------- helpers */

/* Locations of name nodes. The parser records them; when it did not (0), the
 * usual single-space layout is assumed. */
static gql_loc loc_plus(gql_loc l, uint32_t n)
{
    l.col += n;
    return l;
}

static gql_loc op_name_loc(const gql_operation *op)
{
    static const uint32_t kw[] = {6, 9, 13}; /* "query ", "mutation ", "subscription " */
    return op->name_loc.line ? op->name_loc : loc_plus(op->loc, kw[op->op % 3]);
}

static gql_loc frag_name_loc(const gql_fragment *f)
{
    return f->name_loc.line ? f->name_loc : loc_plus(f->loc, 9);
}

static gql_loc spread_name_loc(const gql_selection *s)
{
    return s->name_loc.line ? s->name_loc : loc_plus(s->loc, 3);
}

static gql_loc var_name_loc(const gql_var_def *d)
{
    return d->name_loc.line ? d->name_loc : loc_plus(d->loc, 1);
}

/* graphql-js doTypesOverlap. */
static bool types_overlap(const gql_type *a, const gql_type *b)
{
    if (a == b) return true;
    if (gql_type_is_abstract(a)) {
        if (gql_type_is_abstract(b)) {
            for (uint32_t i = 0; i < a->npossible; i++)
                if (gql_type_is_possible(b, a->possible[i])) return true;
            return false;
        }
        return gql_type_is_possible(a, b);
    }
    if (gql_type_is_abstract(b)) return gql_type_is_possible(b, a);
    return false;
}

/* A directive definition inside the document overrides the schema's. */
v_dir gql_v_dir_info(gql_vctx *v, const char *name)
{
    v_dir d = {0};
    if (!gql_v_work(v, v->doc->ndefs)) return d;
    for (uint32_t i = v->doc->ndefs; i-- > 0;) {
        const gql_definition *def = &v->doc->defs[i];
        if (def->kind == GQL_DEF_DIRECTIVE && strcmp(def->u.dir->name, name) == 0) {
            d.known = true;
            d.dd = def->u.dir;
            d.locations = def->u.dir->locations;
            d.repeatable = def->u.dir->repeatable;
            return d;
        }
    }
    d.st = gql_schema_directive(v->s, name);
    if (d.st) {
        d.known = true;
        d.locations = d.st->locations;
        d.repeatable = d.st->repeatable;
    }
    return d;
}

static uint32_t dir_nargs(const v_dir *d)
{
    return d->dd ? d->dd->nargs : d->st ? d->st->nargs : 0;
}

static const char *dir_arg_name(const v_dir *d, uint32_t i)
{
    return d->dd ? d->dd->args[i].name : d->st->args[i].name;
}

/* ------------------------------------------- rules of several node kinds */

/* UniqueDirectivesPerLocation for one node's directive list. */
void gql_v_rule_unique_directives(v_walk *w, const gql_directive *dirs, uint32_t n)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 1; i < n && !v->aborted; i++) {
        v_dir d = gql_v_dir_info(v, dirs[i].name);
        if (!d.known || d.repeatable) continue;
        for (uint32_t j = 0; j < i && gql_v_work(v, 1); j++) {
            if (strcmp(dirs[j].name, dirs[i].name) != 0) continue;
            /* graphql-js keeps the first occurrence as the reference */
            gql_loc locs[2] = {dirs[j].loc, dirs[i].loc};
            gql_v_error(v, locs, 2, "The directive \"@%s\" can only be used once at this location.",
                        dirs[i].name);
            break;
        }
    }
}

/* UniqueArgumentNames: one error per repeated name listing every occurrence. */
static void rule_unique_args(v_walk *w, const gql_argument *args, uint32_t n)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 0; i < n && !v->aborted; i++) {
        bool first = true, dup = false;
        uint32_t j = 0;
        for (; j < i && first; j++)
            if (strcmp(args[j].name, args[i].name) == 0) first = false;
        if (!gql_v_work(v, j + 1) || !first || !gql_v_work(v, n - i)) continue;
        uint32_t cnt = 0;
        for (uint32_t j = i; j < n; j++)
            if (strcmp(args[j].name, args[i].name) == 0) cnt++;
        dup = cnt > 1;
        if (!dup) continue;
        gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
        if (!locs) return;
        uint32_t k = 0;
        for (uint32_t j = i; j < n; j++)
            if (strcmp(args[j].name, args[i].name) == 0) locs[k++] = args[j].loc;
        gql_v_error(v, locs, cnt, "There can be only one argument named \"%s\".", args[i].name);
    }
}

/* KnownTypeNames for a NamedType node; suggestions come from the schema's
 * types and the types the document defines. */
void gql_v_rule_known_type(v_walk *w, const char *name, gql_loc loc)
{
    gql_vctx *v = w->v;
    if (gql_schema_type(v->s, name)) return;
    if (!gql_v_work(v, v->doc->ndefs + v->s->ntypes)) return;
    uint32_t ndefined = 0;
    for (uint32_t i = 0; i < v->doc->ndefs; i++) {
        const gql_definition *d = &v->doc->defs[i];
        if (d->kind != GQL_DEF_TYPE || d->u.type->extension) continue;
        if (strcmp(d->u.type->name, name) == 0) return;
        ndefined++;
    }
    uint32_t n = v->s->ntypes + ndefined;
    const char **names = gql_v_alloc(v, (n ? n : 1) * sizeof *names);
    if (!names) return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < v->s->ntypes; i++)
        names[k++] = v->s->types[i]->name;
    for (uint32_t i = 0; i < v->doc->ndefs; i++) {
        const gql_definition *d = &v->doc->defs[i];
        if (d->kind == GQL_DEF_TYPE && !d->u.type->extension) names[k++] = d->u.type->name;
    }
    gql_v_error(v, &loc, 1, "Unknown type \"%s\".%s", name, gql_v_suggest(v, NULL, name, names, n));
}

/* ------------------------------------------------------------ document */

/* ExecutableDefinitions */
void gql_v_rule_document_enter(v_walk *w)
{
    gql_vctx *v = w->v;
    const gql_document *doc = v->doc;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        const gql_definition *d = &doc->defs[i];
        if (d->kind == GQL_DEF_OPERATION || d->kind == GQL_DEF_FRAGMENT) continue;
        if (d->kind == GQL_DEF_SCHEMA)
            gql_v_error(v, &d->u.schema->loc, 1, "The schema definition is not executable.");
        else if (d->kind == GQL_DEF_DIRECTIVE)
            gql_v_error(v, &d->u.dir->loc, 1, "The \"%s\" definition is not executable.",
                        d->u.dir->name);
        else
            gql_v_error(v, &d->u.type->loc, 1, "The \"%s\" definition is not executable.",
                        d->u.type->name);
    }
}

/* NoUnusedFragments */
void gql_v_rule_document_leave(v_walk *w)
{
    gql_vctx *v = w->v;
    const gql_document *doc = v->doc;
    uint32_t nops = 0;
    uint32_t *ops = gql_v_alloc(v, (doc->ndefs ? doc->ndefs : 1) * sizeof *ops);
    bool *is_used = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *is_used);
    if (!ops || !is_used) return;
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_OPERATION) ops[nops++] = i;
    const v_refset *rs = gql_v_referenced_fragments(w, ops, nops);
    if (!rs) return;
    for (uint32_t i = 0; i < rs->nfrags; i++)
        is_used[rs->frags[i]] = true;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        if (doc->defs[i].kind != GQL_DEF_FRAGMENT) continue;
        const gql_fragment *fd = doc->defs[i].u.frag;
        int fi = gql_v_frag_index(v, fd->name);
        if (fi >= 0 && is_used[fi]) continue;
        gql_v_error(v, &fd->loc, 1, "Fragment \"%s\" is never used.", fd->name);
    }
}

/* ---------------------------------------------------------- operations */

/* SingleFieldSubscriptions: graphql-js collectFields with no variables. */
typedef struct v_group {
    const char *key;
    const gql_selection **fields;
    uint32_t n, cap;
} v_group;

typedef struct v_groups {
    v_group *items;
    uint32_t n, cap;
} v_groups;

static bool sub_include(const gql_selection *s)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *dname = pass == 0 ? "skip" : "include";
        for (uint32_t i = 0; i < s->ndirs; i++) {
            if (strcmp(s->dirs[i].name, dname) != 0) continue;
            const gql_value *val = NULL;
            for (uint32_t k = 0; k < s->dirs[i].nargs; k++)
                if (strcmp(s->dirs[i].args[k].name, "if") == 0) val = &s->dirs[i].args[k].value;
            /* graphql-js throws for a missing / variable / non-boolean `if`;
             * such a document is invalid anyway: treat it as included */
            if (val && val->kind == GQL_V_BOOL && val->u.b == (pass == 0)) return false;
            break;
        }
    }
    return true;
}

static bool sub_condition_matches(gql_vctx *v, const char *cond, const gql_type *rt)
{
    if (!cond) return true;
    const gql_type *ct = gql_schema_type(v->s, cond);
    if (ct == rt) return true;
    if (gql_type_is_abstract(ct)) return gql_type_is_possible(ct, rt);
    return false;
}

static void sub_collect(gql_vctx *v, const gql_type *rt, const gql_selection_set *ss, v_groups *g,
                        bool *visited)
{
    for (uint32_t i = 0; ss && i < ss->n && !v->aborted; i++) {
        const gql_selection *s = &ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            if (!sub_include(s) || !gql_v_work(v, g->n + 1)) continue;
            const char *key = s->alias ? s->alias : s->name;
            v_group *grp = NULL;
            for (uint32_t k = 0; k < g->n && !grp; k++)
                if (strcmp(g->items[k].key, key) == 0) grp = &g->items[k];
            if (!grp) {
                if (g->n == g->cap) {
                    uint32_t ncap = g->cap ? g->cap * 2 : 4;
                    v_group *ni = gql_v_alloc(v, ncap * sizeof *ni);
                    if (!ni) return;
                    if (g->n) memcpy(ni, g->items, g->n * sizeof *ni);
                    g->items = ni;
                    g->cap = ncap;
                }
                grp = &g->items[g->n++];
                grp->key = key;
            }
            if (grp->n == grp->cap) {
                uint32_t ncap = grp->cap ? grp->cap * 2 : 4;
                const gql_selection **ni = gql_v_alloc(v, ncap * sizeof *ni);
                if (!ni) return;
                if (grp->n) memcpy(ni, grp->fields, grp->n * sizeof *ni);
                grp->fields = ni;
                grp->cap = ncap;
            }
            grp->fields[grp->n++] = s;
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (!sub_include(s) || !sub_condition_matches(v, s->type_cond, rt)) continue;
            sub_collect(v, rt, s->sel, g, visited);
        } else {
            int fi = gql_v_frag_index(v, s->name);
            if (fi >= 0 && visited[fi]) continue;
            if (!sub_include(s)) continue;
            if (fi < 0) continue;
            visited[fi] = true;
            const gql_fragment *fd = v->frag_def[fi];
            if (!sub_condition_matches(v, fd->type_cond, rt)) continue;
            sub_collect(v, rt, fd->sel, g, visited);
        }
    }
}

static void rule_single_field_subscription(v_walk *w, const gql_operation *op)
{
    gql_vctx *v = w->v;
    const gql_type *rt = v->s->root[GQL_OP_SUBSCRIPTION];
    if (op->op != GQL_OP_SUBSCRIPTION || !rt) return;
    bool *visited = gql_v_alloc(v, (v->nfrag ? v->nfrag : 1) * sizeof *visited);
    if (!visited) return;
    v_groups g = {0};
    sub_collect(v, rt, op->sel, &g, visited);
    if (v->aborted) return;
    if (g.n > 1) {
        uint32_t cnt = 0;
        for (uint32_t k = 1; k < g.n; k++)
            cnt += g.items[k].n;
        gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
        if (!locs) return;
        uint32_t j = 0;
        for (uint32_t k = 1; k < g.n; k++)
            for (uint32_t i = 0; i < g.items[k].n; i++)
                locs[j++] = g.items[k].fields[i]->loc;
        if (op->name)
            gql_v_error(v, locs, cnt, "Subscription \"%s\" must select only one top level field.",
                        op->name);
        else
            gql_v_error(v, locs, cnt,
                        "Anonymous Subscription must select only one top level field.");
    }
    for (uint32_t k = 0; k < g.n; k++) {
        if (strncmp(g.items[k].fields[0]->name, "__", 2) != 0) continue;
        gql_loc *locs = gql_v_alloc(v, g.items[k].n * sizeof *locs);
        if (!locs) return;
        for (uint32_t i = 0; i < g.items[k].n; i++)
            locs[i] = g.items[k].fields[i]->loc;
        if (op->name)
            gql_v_error(v, locs, g.items[k].n,
                        "Subscription \"%s\" must not select an introspection top level field.",
                        op->name);
        else
            gql_v_error(v, locs, g.items[k].n,
                        "Anonymous Subscription must not select an introspection top level field.");
    }
}

/* UniqueVariableNames: one error per repeated name listing every occurrence. */
static void rule_unique_variables(v_walk *w, const gql_operation *op)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 0; i < op->nvars && !v->aborted; i++) {
        bool first = true;
        uint32_t j = 0;
        for (; j < i && first; j++)
            first = strcmp(op->vars[j].name, op->vars[i].name) != 0;
        if (!gql_v_work(v, j + 1) || !first || !gql_v_work(v, op->nvars - i)) continue;
        uint32_t cnt = 0;
        for (uint32_t j = i; j < op->nvars; j++)
            cnt += !strcmp(op->vars[j].name, op->vars[i].name);
        if (cnt < 2) continue;
        gql_loc *locs = gql_v_alloc(v, cnt * sizeof *locs);
        if (!locs) return;
        uint32_t k = 0;
        for (uint32_t j = i; j < op->nvars; j++)
            if (!strcmp(op->vars[j].name, op->vars[i].name)) locs[k++] = var_name_loc(&op->vars[j]);
        gql_v_error(v, locs, cnt, "There can be only one variable named \"$%s\".",
                    op->vars[i].name);
    }
}

void gql_v_rule_operation_enter(v_walk *w, const gql_operation *op)
{
    gql_vctx *v = w->v;
    /* UniqueOperationNames */
    if (op->name && gql_v_work(v, w->nop_names + 1)) {
        const gql_operation *first = NULL;
        for (uint32_t i = 0; i < w->nop_names && !first; i++)
            if (!strcmp(w->op_names[i]->name, op->name)) first = w->op_names[i];
        if (first) {
            gql_loc locs[2] = {op_name_loc(first), op_name_loc(op)};
            gql_v_error(v, locs, 2, "There can be only one operation named \"%s\".", op->name);
        } else {
            w->op_names[w->nop_names++] = op;
        }
    }
    /* LoneAnonymousOperation */
    if (!op->name && w->nops > 1)
        gql_v_error(v, &op->loc, 1, "This anonymous operation must be the only defined operation.");
    rule_single_field_subscription(w, op);
    rule_unique_variables(w, op);
    if (v->oom) return;
    gql_v_rule_unique_directives(w, op->dirs, op->ndirs);
}

/* NoUndefinedVariables, NoUnusedVariables, VariablesInAllowedPosition. */
void gql_v_rule_operation_leave(v_walk *w, const gql_operation *op, uint32_t defidx)
{
    gql_vctx *v = w->v;
    const v_refset *rs = gql_v_referenced_fragments(w, &defidx, 1);
    if (!rs) return;
    /* usages: the operation's own, then each referenced fragment's */
    v_usages all = {0};
    const v_usages *own = &w->def_usages[defidx];
    for (uint32_t i = 0; i < own->n; i++)
        gql_v_usages_push(v, &all, own->items[i]);
    for (uint32_t k = 0; k < rs->nfrags; k++) {
        const v_usages *fu = &w->def_usages[w->frag_def_index[rs->frags[k]]];
        for (uint32_t i = 0; i < fu->n; i++)
            gql_v_usages_push(v, &all, fu->items[i]);
    }
    /* each of the three rules below compares every usage with every
     * variable definition */
    if (!gql_v_work(v, (long)all.n + 3 * (long)(all.n + 1) * (op->nvars + 1))) return;
    /* NoUndefinedVariables */
    for (uint32_t i = 0; i < all.n; i++) {
        const char *name = all.items[i].node->u.s;
        bool defined = false;
        for (uint32_t k = 0; k < op->nvars && !defined; k++)
            defined = !strcmp(op->vars[k].name, name);
        if (defined) continue;
        gql_loc locs[2] = {all.items[i].node->loc, op->loc};
        if (op->name)
            gql_v_error(v, locs, 2, "Variable \"$%s\" is not defined by operation \"%s\".", name,
                        op->name);
        else
            gql_v_error(v, locs, 2, "Variable \"$%s\" is not defined.", name);
    }
    /* NoUnusedVariables */
    for (uint32_t k = 0; k < op->nvars; k++) {
        bool used = false;
        for (uint32_t i = 0; i < all.n && !used; i++)
            used = !strcmp(all.items[i].node->u.s, op->vars[k].name);
        if (used) continue;
        if (op->name)
            gql_v_error(v, &op->vars[k].loc, 1,
                        "Variable \"$%s\" is never used in operation \"%s\".", op->vars[k].name,
                        op->name);
        else
            gql_v_error(v, &op->vars[k].loc, 1, "Variable \"$%s\" is never used.",
                        op->vars[k].name);
    }
    /* VariablesInAllowedPosition */
    for (uint32_t i = 0; i < all.n && !v->aborted; i++) {
        const v_usage *u = &all.items[i];
        const gql_var_def *vd = NULL;
        for (uint32_t k = 0; k < op->nvars; k++)
            if (!strcmp(op->vars[k].name, u->node->u.s)) vd = &op->vars[k]; /* last wins */
        if (!vd || !u->type) continue;
        const gql_tref *vt = gql_tref_from_ast(&v->scratch, v->s, vd->type);
        if (!vt) continue;
        /* graphql-js reads the parent input type as it is: a OneOf object in
         * a non-null position is not checked here (coercion refuses the
         * null later) */
        const gql_type *pt = u->parent && u->parent->kind == GQL_TR_NAMED ? u->parent->named : NULL;
        bool oneof_nullable =
            pt && pt->kind == GQL_T_INPUT_OBJECT && pt->oneof && vt->kind != GQL_TR_NON_NULL;
        bool ok;
        if (u->type->kind == GQL_TR_NON_NULL && vt->kind != GQL_TR_NON_NULL) {
            bool var_default = vd->default_value && vd->default_value->kind != GQL_V_NULL;
            ok = (var_default || u->has_default) && gql_tref_is_subtype(v->s, vt, u->type->of);
        } else {
            ok = gql_tref_is_subtype(v->s, vt, u->type);
        }
        gql_loc locs[2] = {vd->loc, u->node->loc};
        if (!ok)
            gql_v_error(v, locs, 2,
                        "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
                        vd->name, gql_v_tref_str(v, vt), gql_v_tref_str(v, u->type));
        if (oneof_nullable)
            gql_v_error(v, locs, 2,
                        "Variable \"$%s\" is of type \"%s\" but must be non-nullable to be used "
                        "for OneOf Input Object \"%s\".",
                        vd->name, gql_v_tref_str(v, vt), pt->name);
    }
}

void gql_v_rule_var_def(v_walk *w, const gql_var_def *vd, const gql_tref *t)
{
    gql_vctx *v = w->v;
    const gql_type_ref *nref = gql_v_innermost(vd->type);
    /* VariablesAreInputTypes */
    if (t && !gql_type_is_input(gql_tref_named(t)))
        gql_v_error(v, &vd->type->loc, 1, "Variable \"$%s\" cannot be non-input type \"%s\".",
                    vd->name, gql_v_type_ref_str(v, vd->type));
    gql_v_rule_unique_directives(w, vd->dirs, vd->ndirs);
    if (nref) gql_v_rule_known_type(w, nref->name, nref->loc);
}

/* ----------------------------------------------------------- fragments */

/* NoFragmentCycles' depth-first search. */
static void cycles_dfs(v_walk *w, const gql_fragment *frag)
{
    gql_vctx *v = w->v;
    int fi = gql_v_frag_index(v, frag->name);
    if (fi < 0 || w->cyc_visited[fi] || v->aborted) return;
    w->cyc_visited[fi] = true;
    /* getFragmentSpreads of this very definition node */
    v_sels spreads = {0};
    gql_v_collect_spreads(v, frag->sel, &spreads);
    if (!gql_v_work(v, spreads.n)) return;
    if (!spreads.n) return;
    w->cyc_index[fi] = (int)w->cyc_path.n;
    for (uint32_t i = 0; i < spreads.n && !v->aborted; i++) {
        const gql_selection *sp = spreads.items[i];
        int si = gql_v_frag_index(v, sp->name);
        int cycle = si >= 0 ? w->cyc_index[si] : -1;
        if (!gql_v_sels_push(v, &w->cyc_path, sp)) return;
        if (cycle < 0) {
            if (si >= 0) cycles_dfs(w, v->frag_def[si]);
        } else {
            uint32_t n = w->cyc_path.n - (uint32_t)cycle;
            gql_loc *locs = gql_v_alloc(v, n * sizeof *locs);
            cd_buf via;
            cd_buf_init(&via);
            for (uint32_t k = 0; k < n; k++) {
                const gql_selection *ps = w->cyc_path.items[(uint32_t)cycle + k];
                if (locs) locs[k] = ps->loc;
                if (k + 1 < n) cd_buf_printf(&via, "%s\"%s\"", k ? ", " : "", ps->name);
            }
            const char *vs = gql_v_buf_str(v, &via);
            if (!locs) return;
            if (*vs)
                gql_v_error(v, locs, n, "Cannot spread fragment \"%s\" within itself via %s.",
                            sp->name, vs);
            else
                gql_v_error(v, locs, n, "Cannot spread fragment \"%s\" within itself.", sp->name);
        }
        w->cyc_path.n--;
    }
    w->cyc_index[fi] = -1;
}

void gql_v_rule_fragment_enter(v_walk *w, const gql_fragment *fd, const gql_type *ct)
{
    gql_vctx *v = w->v;
    /* FragmentsOnCompositeTypes */
    if (ct && !gql_type_is_composite(ct))
        gql_v_error(v, &fd->type_cond_loc, 1,
                    "Fragment \"%s\" cannot condition on non composite type \"%s\".", fd->name,
                    ct->name);
    /* UniqueFragmentNames */
    const gql_fragment *first = NULL;
    if (!gql_v_work(v, w->nfrag_seen + 1)) return;
    for (uint32_t i = 0; i < w->nfrag_seen && !first; i++)
        if (strcmp(w->frag_seen[i]->name, fd->name) == 0) first = w->frag_seen[i];
    if (first) {
        gql_loc locs[2] = {frag_name_loc(first), frag_name_loc(fd)};
        gql_v_error(v, locs, 2, "There can be only one fragment named \"%s\".", fd->name);
    } else {
        w->frag_seen[w->nfrag_seen++] = fd;
    }
    /* NoFragmentCycles */
    cycles_dfs(w, fd);
    gql_v_rule_unique_directives(w, fd->dirs, fd->ndirs);
    gql_v_rule_known_type(w, fd->type_cond, fd->type_cond_loc);
}

void gql_v_rule_spread(v_walk *w, const gql_selection *s, v_ti ti)
{
    gql_vctx *v = w->v;
    const gql_fragment *fd = gql_v_fragment(v, s->name);
    /* KnownFragmentNames */
    if (!fd) {
        gql_loc l = spread_name_loc(s);
        gql_v_error(v, &l, 1, "Unknown fragment \"%s\".", s->name);
    }
    /* PossibleFragmentSpreads */
    const gql_type *ft = fd ? gql_schema_type(v->s, fd->type_cond) : NULL;
    if (ft && gql_type_is_composite(ft) && ti.parent && !types_overlap(ft, ti.parent))
        gql_v_error(v, &s->loc, 1,
                    "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can "
                    "never be of type \"%s\".",
                    s->name, ti.parent->name, ft->name);
    gql_v_rule_unique_directives(w, s->dirs, s->ndirs);
}

void gql_v_rule_inline_fragment(v_walk *w, const gql_selection *s, v_ti ti, const gql_type *ct,
                                const gql_type *ft)
{
    gql_vctx *v = w->v;
    /* FragmentsOnCompositeTypes */
    if (ct && !gql_type_is_composite(ct))
        gql_v_error(v, &s->type_cond_loc, 1,
                    "Fragment cannot condition on non composite type \"%s\".", ct->name);
    /* PossibleFragmentSpreads */
    if (gql_type_is_composite(ft) && gql_type_is_composite(ti.parent) &&
        !types_overlap(ft, ti.parent))
        gql_v_error(v, &s->loc, 1,
                    "Fragment cannot be spread here as objects of type \"%s\" can never be of "
                    "type \"%s\".",
                    ti.parent->name, ft->name);
    gql_v_rule_unique_directives(w, s->dirs, s->ndirs);
    if (s->type_cond) gql_v_rule_known_type(w, s->type_cond, s->type_cond_loc);
}

/* -------------------------------------------------------------- fields */

void gql_v_rule_field_enter(v_walk *w, const gql_selection *f, v_ti ti, const gql_field *def)
{
    gql_vctx *v = w->v;
    /* ScalarLeafs */
    if (def) {
        const gql_type *nt = gql_tref_named(def->type);
        if (gql_type_is_leaf(nt)) {
            if (f->sel)
                gql_v_error(v, &f->sel->loc, 1,
                            "Field \"%s\" must not have a selection since type \"%s\" has no "
                            "subfields.",
                            f->name, gql_v_tref_str(v, def->type));
        } else if (!f->sel) {
            gql_v_error(v, &f->loc, 1,
                        "Field \"%s\" of type \"%s\" must have a selection of subfields. Did "
                        "you mean \"%s { ... }\"?",
                        f->name, gql_v_tref_str(v, def->type), f->name);
        } else if (f->sel->n == 0) {
            gql_v_error(v, &f->loc, 1,
                        "Field \"%s\" of type \"%s\" must have at least one field selected.",
                        f->name, gql_v_tref_str(v, def->type));
        }
    }
    /* FieldsOnCorrectType */
    if (ti.parent && !def) {
        const char *hint = gql_v_suggest_types_for_field(v, ti.parent, f->name);
        if (!*hint && (ti.parent->kind == GQL_T_OBJECT || ti.parent->kind == GQL_T_INTERFACE))
            hint = gql_v_suggest_fields(v, f->name, ti.parent->fields, ti.parent->nfields);
        gql_v_error(v, &f->loc, 1, "Cannot query field \"%s\" on type \"%s\".%s", f->name,
                    ti.parent->name, hint);
    }
    gql_v_rule_unique_directives(w, f->dirs, f->ndirs);
    rule_unique_args(w, f->args, f->nargs);
}

/* ProvidedRequiredArguments */
void gql_v_rule_field_leave(v_walk *w, const gql_selection *f, const gql_field *def)
{
    gql_vctx *v = w->v;
    for (uint32_t k = 0; k < def->nargs && gql_v_work(v, f->nargs + 1); k++) {
        const gql_input_value *ad = &def->args[k];
        if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
        bool given = false;
        for (uint32_t i = 0; i < f->nargs && !given; i++)
            given = strcmp(f->args[i].name, ad->name) == 0;
        if (!given)
            gql_v_error(v, &f->loc, 1,
                        "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was "
                        "not provided.",
                        def->name, ad->name, gql_v_tref_str(v, ad->type));
    }
}

/* KnownArgumentNames: an argument the field does not define. */
void gql_v_rule_known_argument(v_walk *w, const gql_argument *a, v_ti ti)
{
    gql_vctx *v = w->v;
    if (!ti.field_def || !ti.parent) return;
    gql_v_error(
        v, &a->loc, 1, "Unknown argument \"%s\" on field \"%s.%s\".%s", a->name, ti.parent->name,
        ti.field_def->name,
        gql_v_suggest_input_values(v, NULL, a->name, ti.field_def->args, ti.field_def->nargs));
}

/* ---------------------------------------------------------- directives */

void gql_v_rule_directive_enter(v_walk *w, const gql_directive *d, gql_dir_loc where,
                                const v_dir *info)
{
    gql_vctx *v = w->v;
    /* KnownDirectives */
    if (!info->known) {
        gql_v_error(v, &d->loc, 1, "Unknown directive \"@%s\".", d->name);
    } else if (!(info->locations & (1u << where))) {
        gql_v_error(v, &d->loc, 1, "Directive \"@%s\" may not be used on %s.", d->name,
                    gql_dir_loc_names[where]);
    }
    /* KnownArgumentNamesOnDirectives */
    if (info->known) {
        for (uint32_t i = 0; i < d->nargs && gql_v_work(v, dir_nargs(info) + 1); i++) {
            bool known = false;
            for (uint32_t k = 0; k < dir_nargs(info) && !known; k++)
                known = strcmp(dir_arg_name(info, k), d->args[i].name) == 0;
            if (known) continue;
            uint32_t na = dir_nargs(info);
            const char **names = gql_v_alloc(v, (na ? na : 1) * sizeof *names);
            if (!names) return;
            for (uint32_t k = 0; k < na; k++)
                names[k] = dir_arg_name(info, k);
            gql_v_error(v, &d->args[i].loc, 1, "Unknown argument \"%s\" on directive \"@%s\".%s",
                        d->args[i].name, d->name,
                        gql_v_suggest(v, NULL, d->args[i].name, names, na));
        }
    }
    rule_unique_args(w, d->args, d->nargs);
}

/* ProvidedRequiredArgumentsOnDirectives */
void gql_v_rule_directive_leave(v_walk *w, const gql_directive *d, const v_dir *info)
{
    gql_vctx *v = w->v;
    if (!info->known) return;
    for (uint32_t k = 0; k < dir_nargs(info) && gql_v_work(v, d->nargs + 1); k++) {
        const char *an = dir_arg_name(info, k);
        const char *ts = NULL;
        if (info->dd) {
            const gql_input_value_def *ad = &info->dd->args[k];
            if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
        } else {
            const gql_input_value *ad = &info->st->args[k];
            if (ad->type->kind != GQL_TR_NON_NULL || ad->default_value) continue;
        }
        bool given = false;
        for (uint32_t i = 0; i < d->nargs && !given; i++)
            given = strcmp(d->args[i].name, an) == 0;
        if (given) continue;
        ts = info->dd ? gql_v_type_ref_str(v, info->dd->args[k].type)
                      : gql_v_tref_str(v, info->st->args[k].type);
        gql_v_error(v, &d->loc, 1,
                    "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was "
                    "not provided.",
                    d->name, an, ts);
    }
}

/* -------------------------------------------------------------- values */

static bool is_builtin_scalar(const gql_schema *s, const gql_type *t)
{
    return t == s->t_int || t == s->t_float || t == s->t_string || t == s->t_boolean ||
           t == s->t_id;
}

/* ValuesOfCorrectType isValidValueNode: a literal against a location type. */
void gql_v_rule_leaf_value(v_walk *w, const gql_value *val, const gql_tref *loctype)
{
    gql_vctx *v = w->v;
    if (!loctype) return;
    const gql_type *t = gql_tref_named(loctype);
    if (!gql_type_is_leaf(t)) {
        gql_v_error(v, &val->loc, 1, "Expected value of type \"%s\", found %s.",
                    gql_v_tref_str(v, loctype), gql_v_value_str(v, val));
        return;
    }
    const gql_schema *s = v->s;
    if (t->kind == GQL_T_ENUM) {
        if (val->kind != GQL_V_ENUM) {
            const char *vs = gql_v_value_str(v, val);
            gql_v_error(v, &val->loc, 1, "Enum \"%s\" cannot represent non-enum value: %s.%s",
                        t->name, vs, gql_v_suggest_enum(v, t, vs));
        } else if (!gql_type_enum_value(t, val->u.s)) {
            gql_v_error(v, &val->loc, 1, "Value \"%s\" does not exist in \"%s\" enum.%s", val->u.s,
                        t->name, gql_v_suggest_enum(v, t, val->u.s));
        }
        return;
    }
    if (!is_builtin_scalar(s, t)) return; /* custom scalars accept any literal */
    if (t == s->t_int) {
        if (val->kind != GQL_V_INT)
            gql_v_error(v, &val->loc, 1, "Int cannot represent non-integer value: %s",
                        gql_v_value_str(v, val));
        else if ((val->flags & GQL_VF_BIG) || val->u.i > INT32_MAX || val->u.i < INT32_MIN)
            gql_v_error(v, &val->loc, 1, "Int cannot represent non 32-bit signed integer value: %s",
                        gql_v_value_str(v, val));
    } else if (t == s->t_float) {
        if (val->kind != GQL_V_INT && val->kind != GQL_V_FLOAT)
            gql_v_error(v, &val->loc, 1, "Float cannot represent non numeric value: %s",
                        gql_v_value_str(v, val));
    } else if (t == s->t_string) {
        if (val->kind != GQL_V_STRING)
            gql_v_error(v, &val->loc, 1, "String cannot represent a non string value: %s",
                        gql_v_value_str(v, val));
    } else if (t == s->t_boolean) {
        if (val->kind != GQL_V_BOOL)
            gql_v_error(v, &val->loc, 1, "Boolean cannot represent a non boolean value: %s",
                        gql_v_value_str(v, val));
    } else if (t == s->t_id) {
        if (val->kind != GQL_V_STRING && val->kind != GQL_V_INT)
            gql_v_error(v, &val->loc, 1,
                        "ID cannot represent a non-string and non-integer value: %s",
                        gql_v_value_str(v, val));
    }
}

void gql_v_rule_null_value(v_walk *w, const gql_value *val, const gql_tref *type)
{
    gql_vctx *v = w->v;
    if (type && type->kind == GQL_TR_NON_NULL)
        gql_v_error(v, &val->loc, 1, "Expected value of type \"%s\", found null.",
                    gql_v_tref_str(v, type));
}

bool gql_v_rule_list_value(v_walk *w, const gql_value *val, const gql_tref *type,
                           const gql_tref *item)
{
    /* the rule reads the list position type (now the parent) */
    const gql_tref *pt = type && type->kind == GQL_TR_NON_NULL ? type->of : type;
    if (pt && pt->kind == GQL_TR_LIST) return true;
    gql_v_rule_leaf_value(w, val, item);
    return false;
}

bool gql_v_rule_object_value(v_walk *w, const gql_value *val, const gql_tref *type)
{
    gql_vctx *v = w->v;
    const gql_type *ot = gql_tref_named(type);
    if (!ot || ot->kind != GQL_T_INPUT_OBJECT) {
        gql_v_rule_leaf_value(w, val, type);
        return false;
    }
    for (uint32_t i = 0; i < ot->ninput_fields && gql_v_work(v, val->len + 1); i++) {
        const gql_input_value *fd = &ot->input_fields[i];
        if (fd->type->kind != GQL_TR_NON_NULL || fd->default_value) continue;
        bool given = false;
        for (uint32_t j = 0; j < val->len && !given; j++)
            given = strcmp(val->u.fields[j].name, fd->name) == 0;
        if (!given)
            gql_v_error(v, &val->loc, 1,
                        "Field \"%s.%s\" of required type \"%s\" was not provided.", ot->name,
                        fd->name, gql_v_tref_str(v, fd->type));
    }
    if (ot->oneof) {
        /* exactly one distinct field name, i.e. every field named like the
         * first (duplicates are UniqueInputFieldNames' job); its value (the
         * last one given, as graphql-js's keyMap keeps) not the null literal */
        bool one = val->len > 0;
        if (!gql_v_work(v, (long)val->len + 1)) return true;
        for (uint32_t i = 1; i < val->len && one; i++)
            one = strcmp(val->u.fields[i].name, val->u.fields[0].name) == 0;
        const gql_value *last = one ? &val->u.fields[val->len - 1].value : NULL;
        if (!one)
            gql_v_error(v, &val->loc, 1, "OneOf Input Object \"%s\" must specify exactly one key.",
                        ot->name);
        else if (last->kind == GQL_V_NULL)
            gql_v_error(v, &val->loc, 1, "Field \"%s.%s\" must be non-null.", ot->name,
                        val->u.fields[0].name);
    }
    return true;
}

void gql_v_rule_object_field(v_walk *w, const gql_value *obj, uint32_t i, const gql_type *ot,
                             const gql_input_value *fd, bool vc)
{
    gql_vctx *v = w->v;
    const gql_kv *kv = &obj->u.fields[i];
    if (!gql_v_work(v, i + 1)) return;
    if (vc && !fd && ot)
        gql_v_error(
            v, &kv->loc, 1, "Field \"%s\" is not defined by type \"%s\".%s", kv->name, ot->name,
            gql_v_suggest_input_values(v, NULL, kv->name, ot->input_fields, ot->ninput_fields));
    /* UniqueInputFieldNames */
    for (uint32_t j = 0; j < i; j++) {
        if (strcmp(obj->u.fields[j].name, kv->name) != 0) continue;
        gql_loc locs[2] = {obj->u.fields[j].loc, kv->loc};
        gql_v_error(v, locs, 2, "There can be only one input field named \"%s\".", kv->name);
        break;
    }
}
