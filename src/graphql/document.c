/*
 * document.c — questions a server asks about a document before running it
 * (graphql.h: gql_root_fields_all), answered from the document cache so the
 * server needs none of the engine's AST.
 */
#include <string.h>

#include "graphql/gql_internal.h"

/* Fragment nesting followed below the root selection; deeper counts as a
 * refusal (fragment cycles are validation errors anyway). */
#define GQL_ROOT_FRAGMENT_DEPTH 16u

static const gql_fragment *find_fragment(const gql_document *d, const char *name)
{
    for (uint32_t i = 0; i < d->ndefs; i++)
        if (d->defs[i].kind == GQL_DEF_FRAGMENT && strcmp(d->defs[i].u.frag->name, name) == 0)
            return d->defs[i].u.frag;
    return NULL;
}

static bool selection_all(const gql_document *d, const gql_selection_set *ss, unsigned depth,
                          gql_field_pred_fn pred, void *ud)
{
    if (!ss) return true;
    if (depth > GQL_ROOT_FRAGMENT_DEPTH) return false;
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_selection *s = &ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            if (!pred(s->name, ud)) return false;
        } else if (s->kind == GQL_SEL_INLINE_FRAGMENT) {
            if (!selection_all(d, s->sel, depth + 1, pred, ud)) return false;
        } else {
            const gql_fragment *f = find_fragment(d, s->name);
            if (!f || !selection_all(d, f->sel, depth + 1, pred, ud)) return false;
        }
    }
    return true;
}

static const gql_operation *find_operation(const gql_document *d, const char *operation_name)
{
    for (uint32_t i = 0; i < d->ndefs; i++) {
        if (d->defs[i].kind != GQL_DEF_OPERATION) continue;
        const gql_operation *o = d->defs[i].u.op;
        if (!operation_name || (o->name && strcmp(o->name, operation_name) == 0)) return o;
    }
    return NULL;
}

bool gql_root_fields_all(gql_cache *cache, gql_schema *schema, const char *query, size_t len,
                         const char *operation_name, gql_field_pred_fn pred, void *ud)
{
    gql_cached_doc *cd = gql_cache_get(cache, schema, query, len);
    if (!cd) return false;
    bool all = false;
    if (cd->doc) {
        const gql_operation *op = find_operation(cd->doc, operation_name);
        all = op && selection_all(cd->doc, op->sel, 0, pred, ud);
    }
    gql_cached_doc_release(cd);
    return all;
}
