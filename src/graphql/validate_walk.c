/*
 * validate_walk.c — the document walk of validation. One pre-order walk over
 * the document carries graphql-js's TypeInfo state (output type, parent type,
 * field definition, input type, parent input type, location default) down the
 * recursion; at each node it calls the rules that have a visitor for that
 * node kind (validate_rules.c), in specifiedRules order, and the "leave"
 * rules after the children. Where a graphql-js rule skips a subtree
 * (ValuesOfCorrectType after a type mismatch, KnownArgumentNames inside
 * directives), the walk carries that choice down.
 *
 * The same walk runs twice: in "collect" mode (w->collect) it only gathers
 * the variable usages of every operation and fragment, so that operations
 * can see the usages of fragments defined after them; then with the rules.
 *
 * Memory: everything lives in the validation's scratch arena.
 */
#include <string.h>

#include "graphql/validate_internal.h"

static const gql_tref *nullable(const gql_tref *t)
{
    return t && t->kind == GQL_TR_NON_NULL ? t->of : t;
}

static void walk_selection_set(v_walk *w, const gql_selection_set *ss, v_ti ti, bool inline_frag);
static void walk_directives(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where,
                            v_ti ti);

/* ------------------------------------------------------------- values */

/* A value literal: variable usages, ValuesOfCorrectType (when `vc`, i.e. the
 * rule is not skipping this subtree) and UniqueInputFieldNames. */
static void walk_value(v_walk *w, const gql_value *val, v_in in, bool vc)
{
    gql_vctx *v = w->v;
    if (v->aborted) return;
    switch (val->kind) {
    case GQL_V_VARIABLE:
        if (w->collect && !w->in_var_def) {
            v_usage u = {val, in.type, in.has_default, in.parent};
            gql_v_usages_push(v, w->usages, u);
        }
        return;
    case GQL_V_NULL:
        if (!w->collect && vc) gql_v_rule_null_value(w, val, in.type);
        return;
    case GQL_V_LIST: {
        const gql_tref *lt = nullable(in.type);
        const gql_tref *item = lt && lt->kind == GQL_TR_LIST ? lt->of : lt;
        v_in sub = {item, in.type, false};
        if (!w->collect && vc) vc = gql_v_rule_list_value(w, val, in.type, item);
        for (uint32_t i = 0; i < val->len && !v->aborted; i++)
            walk_value(w, &val->u.items[i], sub, vc);
        return;
    }
    case GQL_V_OBJECT: {
        const gql_type *ot = gql_tref_named(in.type);
        bool is_input = ot && ot->kind == GQL_T_INPUT_OBJECT;
        if (!w->collect && vc) vc = gql_v_rule_object_value(w, val, in.type);
        for (uint32_t i = 0; i < val->len && !v->aborted; i++) {
            const gql_kv *kv = &val->u.fields[i];
            const gql_input_value *fd = is_input ? gql_type_input_field(ot, kv->name) : NULL;
            v_in sub = {fd ? fd->type : NULL, in.type, fd && fd->default_value};
            if (!w->collect) gql_v_rule_object_field(w, val, i, is_input ? ot : NULL, fd, vc);
            walk_value(w, &kv->value, sub, vc);
        }
        return;
    }
    default:
        if (!w->collect && vc) gql_v_rule_leaf_value(w, val, in.type);
        return;
    }
}

/* Arguments of a field (defs = its definition's) or of a directive. */
static void walk_arguments(v_walk *w, const gql_argument *args, uint32_t n,
                           const gql_input_value *defs, uint32_t ndefs, bool in_directive, v_ti ti)
{
    gql_vctx *v = w->v;
    for (uint32_t i = 0; i < n && !v->aborted; i++) {
        const gql_argument *a = &args[i];
        const gql_input_value *def = NULL;
        if (!gql_v_work(v, ndefs + 1)) return;
        for (uint32_t k = 0; k < ndefs && !def; k++)
            if (strcmp(defs[k].name, a->name) == 0) def = &defs[k];
        /* KnownArgumentNames (field arguments only) */
        if (!w->collect && !in_directive && !def) gql_v_rule_known_argument(w, a, ti);
        v_in in = {def ? def->type : NULL, NULL, def && def->default_value};
        walk_value(w, &a->value, in, true);
    }
}

/* --------------------------------------------------------- directives */

static void walk_directive(v_walk *w, const gql_directive *d, gql_dir_loc where, v_ti ti)
{
    gql_vctx *v = w->v;
    v_dir info = {0};
    if (!w->collect) {
        info = gql_v_dir_info(v, d->name);
        gql_v_rule_directive_enter(w, d, where, &info);
        if (v->oom) return;
    }
    /* TypeInfo: arguments resolve against the schema's directive, else
     * (unknown directive) against the enclosing field. */
    const gql_directive_type *st = gql_schema_directive(v->s, d->name);
    if (st)
        walk_arguments(w, d->args, d->nargs, st->args, st->nargs, true, ti);
    else if (ti.field_def)
        walk_arguments(w, d->args, d->nargs, ti.field_def->args, ti.field_def->nargs, true, ti);
    else
        walk_arguments(w, d->args, d->nargs, NULL, 0, true, ti);
    if (!w->collect && !v->aborted) gql_v_rule_directive_leave(w, d, &info);
}

static void walk_directives(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where,
                            v_ti ti)
{
    for (uint32_t i = 0; i < n && !w->v->aborted; i++)
        walk_directive(w, &dirs[i], where, ti);
}

/* --------------------------------------------------------- selections */

static void walk_field(v_walk *w, const gql_selection *f, v_ti ti)
{
    gql_vctx *v = w->v;
    const gql_field *def = ti.parent ? gql_field_lookup(v->s, ti.parent, f->name) : NULL;
    v_ti sub = ti;
    sub.field_def = def;
    sub.type.ref = def ? def->type : NULL;
    sub.type.named = NULL;
    if (!w->collect) gql_v_rule_field_enter(w, f, ti, def);
    walk_arguments(w, f->args, f->nargs, def ? def->args : NULL, def ? def->nargs : 0, false, sub);
    walk_directives(w, f->dirs, f->ndirs, GQL_DL_FIELD, sub);
    if (f->sel) walk_selection_set(w, f->sel, sub, false);
    if (!w->collect && def && !v->aborted) gql_v_rule_field_leave(w, f, def);
}

static void walk_spread(v_walk *w, const gql_selection *s, v_ti ti)
{
    if (!w->collect) gql_v_rule_spread(w, s, ti);
    walk_directives(w, s->dirs, s->ndirs, GQL_DL_FRAGMENT_SPREAD, ti);
}

static void walk_inline(v_walk *w, const gql_selection *s, v_ti ti)
{
    gql_vctx *v = w->v;
    v_ti sub = ti;
    const gql_type *ct = s->type_cond ? gql_schema_type(v->s, s->type_cond) : NULL;
    sub.type.ref = NULL;
    sub.type.named = s->type_cond ? (gql_type_is_output(ct) ? ct : NULL) : vt_named(ti.type);
    if (!w->collect) gql_v_rule_inline_fragment(w, s, ti, ct, sub.type.named);
    walk_directives(w, s->dirs, s->ndirs, GQL_DL_INLINE_FRAGMENT, sub);
    if (s->sel) walk_selection_set(w, s->sel, sub, true);
}

static void walk_selection_set(v_walk *w, const gql_selection_set *ss, v_ti ti, bool inline_frag)
{
    gql_vctx *v = w->v;
    v_ti sub = ti;
    const gql_type *nt = vt_named(ti.type);
    sub.parent = gql_type_is_composite(nt) ? nt : NULL;
    /* OverlappingFieldsCanBeMerged: graphql-js 16.15 skips an inline
     * fragment's own set (its fields are compared at the enclosing level,
     * which reports each conflict once) */
    if (!w->collect && !v->aborted && !inline_frag) gql_v_overlap(v, sub.parent, ss);
    for (uint32_t i = 0; i < ss->n && !v->aborted; i++) {
        const gql_selection *s = &ss->items[i];
        switch (s->kind) {
        case GQL_SEL_FIELD:
            walk_field(w, s, sub);
            break;
        case GQL_SEL_FRAGMENT_SPREAD:
            walk_spread(w, s, sub);
            break;
        default:
            walk_inline(w, s, sub);
            break;
        }
    }
}

/* -------------------------------------------------------- definitions */

static void walk_fragment(v_walk *w, const gql_fragment *fd)
{
    gql_vctx *v = w->v;
    const gql_type *ct = gql_schema_type(v->s, fd->type_cond);
    v_ti ti = {0};
    ti.type.named = gql_type_is_output(ct) ? ct : NULL;
    if (!w->collect) gql_v_rule_fragment_enter(w, fd, ct);
    walk_directives(w, fd->dirs, fd->ndirs, GQL_DL_FRAGMENT_DEFINITION, ti);
    if (fd->sel) walk_selection_set(w, fd->sel, ti, false);
}

static void walk_var_def(v_walk *w, const gql_var_def *vd)
{
    gql_vctx *v = w->v;
    gql_tref *t = gql_tref_from_ast(&v->scratch, v->s, vd->type);
    if (!w->collect) gql_v_rule_var_def(w, vd, t);
    v_in in = {t && gql_type_is_input(gql_tref_named(t)) ? t : NULL, NULL, false};
    w->in_var_def = true;
    if (vd->default_value) walk_value(w, vd->default_value, in, true);
    v_ti ti = {0};
    walk_directives(w, vd->dirs, vd->ndirs, GQL_DL_VARIABLE_DEFINITION, ti);
    w->in_var_def = false;
}

static void walk_operation(v_walk *w, const gql_operation *op, uint32_t defidx)
{
    gql_vctx *v = w->v;
    v_ti ti = {0};
    const gql_type *root = v->s->root[op->op % 3];
    ti.type.named = root && root->kind == GQL_T_OBJECT ? root : NULL;
    if (!w->collect) {
        gql_v_rule_operation_enter(w, op);
        if (v->oom) return;
    }
    for (uint32_t i = 0; i < op->nvars && !v->aborted; i++)
        walk_var_def(w, &op->vars[i]);
    static const gql_dir_loc where[3] = {GQL_DL_QUERY, GQL_DL_MUTATION, GQL_DL_SUBSCRIPTION};
    walk_directives(w, op->dirs, op->ndirs, where[op->op % 3], ti);
    if (op->sel) walk_selection_set(w, op->sel, ti, false);
    if (!w->collect && !v->aborted) gql_v_rule_operation_leave(w, op, defidx);
}

/* Type-system definitions inside an executable document are reported by
 * ExecutableDefinitions; the rules that also visit their nodes in graphql-js
 * (KnownTypeNames, KnownDirectives, directive argument rules, unique
 * directives) run over them here. */
static void walk_sdl_type_ref(v_walk *w, const gql_type_ref *t)
{
    const gql_type_ref *n = gql_v_innermost(t);
    if (n) gql_v_rule_known_type(w, n->name, n->loc);
}

static void walk_sdl_dirs(v_walk *w, const gql_directive *dirs, uint32_t n, gql_dir_loc where)
{
    v_ti ti = {0};
    gql_v_rule_unique_directives(w, dirs, n);
    walk_directives(w, dirs, n, where, ti);
}

static void walk_sdl_input_values(v_walk *w, const gql_input_value_def *d, uint32_t n,
                                  gql_dir_loc where)
{
    for (uint32_t i = 0; i < n; i++) {
        walk_sdl_type_ref(w, d[i].type);
        if (d[i].default_value) {
            v_in in = {0};
            walk_value(w, d[i].default_value, in, true);
        }
        walk_sdl_dirs(w, d[i].dirs, d[i].ndirs, where);
    }
}

static void walk_sdl(v_walk *w, const gql_definition *def)
{
    static const gql_dir_loc kind_loc[] = {GQL_DL_SCALAR, GQL_DL_OBJECT, GQL_DL_INTERFACE,
                                           GQL_DL_UNION,  GQL_DL_ENUM,   GQL_DL_INPUT_OBJECT};
    if (def->kind == GQL_DEF_SCHEMA) {
        const gql_schema_def *sd = def->u.schema;
        walk_sdl_dirs(w, sd->dirs, sd->ndirs, GQL_DL_SCHEMA);
        for (int i = 0; i < 3; i++)
            if (sd->root[i]) gql_v_rule_known_type(w, sd->root[i], sd->loc);
    } else if (def->kind == GQL_DEF_DIRECTIVE) {
        walk_sdl_input_values(w, def->u.dir->args, def->u.dir->nargs, GQL_DL_ARGUMENT_DEFINITION);
    } else if (def->kind == GQL_DEF_TYPE) {
        const gql_type_def *td = def->u.type;
        walk_sdl_dirs(w, td->dirs, td->ndirs, kind_loc[td->kind % 6]);
        for (uint32_t i = 0; i < td->ninterfaces; i++)
            gql_v_rule_known_type(w, td->interfaces[i], td->loc);
        for (uint32_t i = 0; i < td->nfields; i++) {
            walk_sdl_input_values(w, td->fields[i].args, td->fields[i].nargs,
                                  GQL_DL_ARGUMENT_DEFINITION);
            walk_sdl_type_ref(w, td->fields[i].type);
            walk_sdl_dirs(w, td->fields[i].dirs, td->fields[i].ndirs, GQL_DL_FIELD_DEFINITION);
        }
        for (uint32_t i = 0; i < td->nmembers; i++)
            gql_v_rule_known_type(w, td->members[i], td->loc);
        for (uint32_t i = 0; i < td->nvalues; i++)
            walk_sdl_dirs(w, td->values[i].dirs, td->values[i].ndirs, GQL_DL_ENUM_VALUE);
        walk_sdl_input_values(w, td->input_fields, td->ninput_fields,
                              GQL_DL_INPUT_FIELD_DEFINITION);
    }
}

void gql_v_walk_document(v_walk *w)
{
    gql_vctx *v = w->v;
    const gql_document *doc = v->doc;
    if (!w->collect) gql_v_rule_document_enter(w);
    for (uint32_t i = 0; i < doc->ndefs && !v->aborted; i++) {
        const gql_definition *d = &doc->defs[i];
        w->usages = &w->def_usages[i];
        if (d->kind == GQL_DEF_OPERATION)
            walk_operation(w, d->u.op, i);
        else if (d->kind == GQL_DEF_FRAGMENT)
            walk_fragment(w, d->u.frag);
        else if (!w->collect)
            walk_sdl(w, d);
    }
    if (w->collect || v->aborted) return;
    gql_v_rule_document_leave(w);
}
