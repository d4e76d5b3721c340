/*
 * fuzz_graphql_parser.c — libFuzzer driver for the GraphQL lexer/parser and
 * printer. Parses the input as a document; on success walks every value
 * literal and type reference, checks string invariants (NUL-terminated at
 * len), prints each value and checks printing is a fixpoint
 * (print(parse(print(v))) == print(v)). On failure checks the error is a
 * proper syntax/limit/OOM error. Any violated invariant aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/ast.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant violated: %s\n", what);
        abort();
    }
}

static void check_value(cd_arena *a, const gql_value *v, int depth);

static void walk_value(const gql_value *v)
{
    switch (v->kind) {
    case GQL_V_STRING:
    case GQL_V_ENUM:
    case GQL_V_VARIABLE:
        check(v->u.s != NULL && v->u.s[v->len] == '\0', "string NUL-terminated at len");
        break;
    case GQL_V_INT:
        if (v->flags & GQL_VF_BIG) check(v->u.s[v->len] == '\0', "big int text");
        break;
    case GQL_V_LIST:
        for (uint32_t i = 0; i < v->len; i++)
            walk_value(&v->u.items[i]);
        break;
    case GQL_V_OBJECT:
        for (uint32_t i = 0; i < v->len; i++) {
            check(v->u.fields[i].name != NULL, "object field name");
            walk_value(&v->u.fields[i].value);
        }
        break;
    default:
        break;
    }
}

static void check_value(cd_arena *a, const gql_value *v, int is_const)
{
    walk_value(v);
    check(v->loc.line >= 1 && v->loc.col >= 1, "value location");
    cd_buf b1, b2;
    cd_buf_init(&b1);
    cd_buf_init(&b2);
    gql_print_value(&b1, v);
    if (!cd_buf_failed(&b1)) {
        gql_value w;
        gql_syntax_error err;
        int rc = gql_parse_value(a, b1.data, b1.len, is_const, &w, &err);
        if (rc == 0) {
            gql_print_value(&b2, &w);
            check(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0,
                  "print(parse(print(v))) == print(v)");
        } else {
            /* printing may deepen nothing, so only limits/OOM may refuse */
            check(rc == CD_ENOMEM || rc == CD_ELIMIT, "printed value re-parses");
        }
    }
    cd_buf_free(&b1);
    cd_buf_free(&b2);
}

static void check_type(const gql_type_ref *t)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_print_type_ref(&b, t);
    check(b.len > 0, "type prints");
    cd_buf_free(&b);
}

static void check_args(cd_arena *a, const gql_argument *args, uint32_t n, int is_const)
{
    for (uint32_t i = 0; i < n; i++)
        check_value(a, &args[i].value, is_const);
}

static void check_dirs(cd_arena *a, const gql_directive *d, uint32_t n, int is_const)
{
    for (uint32_t i = 0; i < n; i++) {
        check(d[i].name != NULL, "directive name");
        check_args(a, d[i].args, d[i].nargs, is_const);
    }
}

static void check_selections(cd_arena *a, const gql_selection_set *set)
{
    if (!set) return;
    check(set->n > 0, "non-empty selection set");
    for (uint32_t i = 0; i < set->n; i++) {
        const gql_selection *s = &set->items[i];
        check_args(a, s->args, s->nargs, 0);
        check_dirs(a, s->dirs, s->ndirs, 0);
        check_selections(a, s->sel);
    }
}

static void check_input_values(cd_arena *a, const gql_input_value_def *iv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        check_type(iv[i].type);
        if (iv[i].default_value) check_value(a, iv[i].default_value, 1);
        check_dirs(a, iv[i].dirs, iv[i].ndirs, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *doc = NULL;
    gql_syntax_error err;
    int rc = gql_parse(&a, (const char *)data, size, &doc, &err);
    if (rc != 0) {
        check(doc == NULL, "no document on error");
        check(rc == CD_EBAD || rc == CD_ELIMIT || rc == CD_ENOMEM, "error code");
        check(strncmp(err.message, "Syntax Error: ", 14) == 0 || rc == CD_ENOMEM, "error message");
        check(err.loc.line >= 1 || rc != CD_EBAD, "error location");
        cd_arena_free(&a);
        return 0;
    }
    check(doc->ndefs > 0, "at least one definition");
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        const gql_definition *d = &doc->defs[i];
        switch (d->kind) {
        case GQL_DEF_OPERATION: {
            const gql_operation *op = d->u.op;
            for (uint32_t j = 0; j < op->nvars; j++) {
                check_type(op->vars[j].type);
                if (op->vars[j].default_value) check_value(&a, op->vars[j].default_value, 1);
                check_dirs(&a, op->vars[j].dirs, op->vars[j].ndirs, 1);
            }
            check_dirs(&a, op->dirs, op->ndirs, 0);
            check_selections(&a, op->sel);
            break;
        }
        case GQL_DEF_FRAGMENT:
            check_dirs(&a, d->u.frag->dirs, d->u.frag->ndirs, 0);
            check_selections(&a, d->u.frag->sel);
            break;
        case GQL_DEF_TYPE: {
            const gql_type_def *t = d->u.type;
            check_dirs(&a, t->dirs, t->ndirs, 1);
            for (uint32_t j = 0; j < t->nfields; j++) {
                check_type(t->fields[j].type);
                check_input_values(&a, t->fields[j].args, t->fields[j].nargs);
                check_dirs(&a, t->fields[j].dirs, t->fields[j].ndirs, 1);
            }
            check_input_values(&a, t->input_fields, t->ninput_fields);
            for (uint32_t j = 0; j < t->nvalues; j++)
                check_dirs(&a, t->values[j].dirs, t->values[j].ndirs, 1);
            break;
        }
        case GQL_DEF_DIRECTIVE:
            check(d->u.dir->locations != 0, "directive locations");
            check_input_values(&a, d->u.dir->args, d->u.dir->nargs);
            break;
        case GQL_DEF_SCHEMA:
            check_dirs(&a, d->u.schema->dirs, d->u.schema->ndirs, 1);
            break;
        default:
            check(0, "definition kind");
        }
    }
    cd_arena_free(&a);
    return 0;
}
