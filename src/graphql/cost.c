/*
 * cost.c — the estimated cost of an operation, computed after parsing,
 * validation and variable coercion and before anything executes, so a
 * request that would fan out into too much work is refused before its first
 * resolver runs (gql_exec_set_variables answers QUERY_TOO_COSTLY).
 *
 * The model: every field costs 1; a field whose type is a list multiplies the
 * cost of its selection by its `first` or `limit` argument (a literal, a
 * variable, or the argument's default), or by the field's list-size hint
 * (`@listSize(assumedSize:)` in the SDL: what the field returns without a
 * limit) or else GQL_COST_DEFAULT_LIST_SIZE when it has none; a list of lists multiplies once more
 * per level (by the default size); lists nested under lists multiply again. Fragments count where
 * they are spread (inline fragments of every type condition add up); @skip and
 * @include are not evaluated, so the estimate never undercounts them. Fields of
 * the introspection types (below __schema / __type) count 1 each without
 * multiplication: their lists are the schema's, built once and bounded by
 * it (a pathological nesting of them is still bounded by the depth limit and
 * the response byte budget).
 *
 * The walk memoizes each fragment's cost (fragments were checked for cycles
 * and unknown names by validation; both count 0 here), so its work is linear
 * in the document. Costs saturate at GQL_COST_CAP.
 *
 * Memory: a small heap array per call, freed before returning.
 */
#include <string.h>

#include "graphql/gql_internal.h"

#define GQL_COST_CAP (UINT64_C(1) << 62)

typedef struct cost_ctx {
    const gql_schema *s;
    const gql_document *doc;
    const gql_value *vars;
    uint64_t *memo;   /* by definition index × 2 (in introspection or not) */
    uint8_t *state;   /* 0 = not yet, 1 = in progress, 2 = done */
    uint32_t nesting; /* fragment recursion guard */
} cost_ctx;

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a >= GQL_COST_CAP - b ? GQL_COST_CAP : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0) return 0;
    return a > GQL_COST_CAP / b ? GQL_COST_CAP : a * b;
}

/* An Int value as a list size: negative sizes count as 0. */
static bool size_of(const gql_value *v, uint64_t *out)
{
    if (!v || v->kind != GQL_V_INT) return false;
    *out = v->u.i < 0 ? 0 : (uint64_t)v->u.i;
    return true;
}

/* The size a list field's `first` / `limit` argument asks for. */
static uint64_t list_size(cost_ctx *c, const gql_field *def, const gql_selection *sel)
{
    static const char *const names[] = {"first", "limit"};
    uint64_t n;
    for (size_t k = 0; k < CD_ARRAY_LEN(names); k++) {
        for (uint32_t i = 0; i < sel->nargs; i++) {
            const gql_argument *a = &sel->args[i];
            if (strcmp(a->name, names[k]) != 0) continue;
            const gql_value *v = &a->value;
            if (v->kind == GQL_V_VARIABLE) v = c->vars ? gql_obj_get(c->vars, v->u.s) : NULL;
            if (size_of(v, &n)) return n;
        }
        const gql_input_value *iv = gql_field_arg(def, names[k]);
        if (iv && size_of(iv->default_value, &n)) return n;
    }
    return def->list_size ? def->list_size : GQL_COST_DEFAULT_LIST_SIZE;
}

static uint64_t cost_set(cost_ctx *c, const gql_type *parent, const gql_selection_set *ss,
                         bool intro);

static uint64_t cost_spread(cost_ctx *c, const char *name, bool intro)
{
    const gql_document *d = c->doc;
    int idx = -1;
    for (uint32_t i = 0; i < d->ndefs; i++) /* the last one, as validation resolves it */
        if (d->defs[i].kind == GQL_DEF_FRAGMENT && strcmp(d->defs[i].u.frag->name, name) == 0)
            idx = (int)i;
    if (idx < 0) return 0;
    size_t k = (size_t)idx * 2 + intro;
    if (c->state[k] == 1 || c->nesting >= GQL_MAX_DEPTH * 4) return 0;
    if (c->state[k] == 0) {
        const gql_fragment *fr = d->defs[idx].u.frag;
        c->state[k] = 1;
        c->nesting++;
        c->memo[k] = cost_set(c, gql_schema_type(c->s, fr->type_cond), fr->sel, intro);
        c->nesting--;
        c->state[k] = 2;
    }
    return c->memo[k];
}

static uint64_t cost_field(cost_ctx *c, const gql_type *parent, const gql_selection *sel,
                           bool intro)
{
    const gql_field *def = parent ? gql_field_lookup(c->s, parent, sel->name) : NULL;
    if (!def) return 1;
    bool in_intro = intro || (parent->name[0] == '_' && parent->name[1] == '_') ||
                    (def->name[0] == '_' && def->name[1] == '_');
    uint64_t sub = sel->sel ? cost_set(c, gql_tref_named(def->type), sel->sel, in_intro) : 0;
    if (!in_intro) {
        bool first = true;
        for (const gql_tref *t = def->type; t && t->kind != GQL_TR_NAMED; t = t->of) {
            if (t->kind != GQL_TR_LIST) continue;
            sub = sat_mul(sub, first ? list_size(c, def, sel) : GQL_COST_DEFAULT_LIST_SIZE);
            first = false;
        }
    }
    return sat_add(1, sub);
}

static uint64_t cost_set(cost_ctx *c, const gql_type *parent, const gql_selection_set *ss,
                         bool intro)
{
    uint64_t total = 0;
    for (uint32_t i = 0; ss && i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        uint64_t k;
        if (s->kind == GQL_SEL_FIELD)
            k = cost_field(c, parent, s, intro);
        else if (s->kind == GQL_SEL_INLINE_FRAGMENT)
            k = cost_set(c, s->type_cond ? gql_schema_type(c->s, s->type_cond) : parent, s->sel,
                         intro);
        else
            k = cost_spread(c, s->name, intro);
        total = sat_add(total, k);
    }
    return total;
}

int gql_cost_operation(const gql_schema *s, const gql_document *doc, const gql_operation *op,
                       const gql_value *vars, uint64_t *cost)
{
    cost_ctx c = {.s = s, .doc = doc, .vars = vars};
    size_t n = (size_t)(doc->ndefs ? doc->ndefs : 1) * 2;
    c.memo = cd_calloc(n, sizeof *c.memo);
    c.state = cd_calloc(n, sizeof *c.state);
    if (!c.memo || !c.state) {
        cd_free(c.memo);
        cd_free(c.state);
        return CD_ENOMEM;
    }
    const gql_type *root = op->op <= GQL_OP_SUBSCRIPTION ? s->root[op->op] : NULL;
    *cost = cost_set(&c, root, op->sel, false);
    cd_free(c.memo);
    cd_free(c.state);
    return 0;
}
