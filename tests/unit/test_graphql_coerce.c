/* Unit tests for src/graphql/coerce.c: scalar input and result coercion at
 * their edges, enums, input objects, lists, GQL_MAX_VARIABLE_LIST, variable
 * and argument coercion, and graphql-js-style value printing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graphql/execute_internal.h"

static const char *SDL =
    "scalar DateTime\nscalar JSON\nscalar Opaque\n"
    "enum Color { RED GREEN }\n"
    "input Inner { x: Int! }\n"
    "input Filter { name: String!, limit: Int = 10, color: Color = RED, inner: Inner, "
    "tags: [String!] }\n"
    "input One @oneOf { s: String i: Int n: One }\n"
    "type Query { f(a: Int!, b: [Int] = [1], c: Filter, d: Color = GREEN, e: String, g: One): "
    "Int }\n";

typedef struct fx {
    gql_schema *s;
    cd_arena a;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char err[256];
    if (gql_schema_build(SDL, strlen(SDL), &f->s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    cd_arena_init(&f->a, 8192);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    gql_schema_free(f->s);
    cd_arena_free(&f->a);
    free(f);
    return 0;
}

static gql_value lit(cd_arena *a, const char *text)
{
    gql_value v;
    gql_syntax_error se;
    int rc = gql_parse_value(a, text, strlen(text), false, &v, &se);
    if (rc) fprintf(stderr, "%s: %s\n", text, se.message);
    assert_int_equal(rc, 0);
    return v;
}

static gql_tref *tref(fx *f, const char *type)
{
    char q[128];
    snprintf(q, sizeof q, "query($v: %s) { f(a: 1) }", type);
    gql_document *doc;
    gql_syntax_error se;
    assert_int_equal(gql_parse(&f->a, q, strlen(q), &doc, &se), 0);
    gql_tref *t = gql_tref_from_ast(&f->a, f->s, doc->defs[0].u.op->vars[0].type);
    assert_non_null(t);
    return t;
}

static char msg[512];

/* Coerces runtime value `in` (literal syntax) to `type`; returns rc. */
static int co(fx *f, const char *type, const char *in, gql_value *out)
{
    gql_value v = lit(&f->a, in);
    return gql_coerce_input(&f->a, tref(f, type), &v, out, msg, sizeof msg);
}

static const char *show(const gql_value *v)
{
    static char buf[512];
    cd_buf b;
    cd_buf_init(&b);
    gql_inspect(&b, v);
    snprintf(buf, sizeof buf, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    return buf;
}

static void test_int_edges(void **state)
{
    fx *f = *state;
    gql_value out;
    assert_int_equal(co(f, "Int", "2147483647", &out), 0);
    assert_int_equal(out.u.i, 2147483647);
    assert_int_equal(co(f, "Int", "-2147483648", &out), 0);
    assert_int_equal(out.u.i, -2147483648LL);
    assert_int_equal(co(f, "Int", "2147483648", &out), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non 32-bit signed integer value: 2147483648");
    assert_int_equal(co(f, "Int", "-2147483649", &out), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non 32-bit signed integer value: -2147483649");
    assert_int_equal(co(f, "Int", "1.0", &out), 0); /* JSON 1.0 is the number 1 */
    assert_int_equal(out.kind, GQL_V_INT);
    assert_int_equal(out.u.i, 1);
    assert_int_equal(co(f, "Int", "1.5", &out), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non-integer value: 1.5");
    assert_int_equal(co(f, "Int", "\"7\"", &out), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non-integer value: \"7\"");
    assert_int_equal(co(f, "Int", "true", &out), CD_EBAD);
    assert_int_equal(co(f, "Int", "3e10", &out), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non 32-bit signed integer value: 30000000000");
}

static void test_other_scalars(void **state)
{
    fx *f = *state;
    gql_value out;
    assert_int_equal(co(f, "Float", "3", &out), 0);
    assert_int_equal(out.kind, GQL_V_FLOAT);
    assert_true(out.u.f == 3.0);
    assert_int_equal(co(f, "Float", "\"3\"", &out), CD_EBAD);
    assert_string_equal(msg, "Float cannot represent non numeric value: \"3\"");
    assert_int_equal(co(f, "String", "\"s\"", &out), 0);
    assert_int_equal(co(f, "String", "1", &out), CD_EBAD);
    assert_string_equal(msg, "String cannot represent a non string value: 1");
    assert_int_equal(co(f, "Boolean", "false", &out), 0);
    assert_int_equal(co(f, "Boolean", "0", &out), CD_EBAD);
    assert_string_equal(msg, "Boolean cannot represent a non boolean value: 0");
    assert_int_equal(co(f, "ID", "12", &out), 0);
    assert_int_equal(out.kind, GQL_V_STRING);
    assert_string_equal(out.u.s, "12");
    assert_int_equal(co(f, "ID", "1.5", &out), CD_EBAD);
    assert_string_equal(msg, "ID cannot represent value: 1.5");
    assert_int_equal(co(f, "DateTime", "\"2026-11-26T16:05:08Z\"", &out), 0);
    assert_int_equal(co(f, "DateTime", "\"2026-11-26T16:05:08.123+01:00\"", &out), 0);
    assert_int_equal(co(f, "DateTime", "\"2026-11-26\"", &out), 0);
    assert_int_equal(co(f, "DateTime", "\"2026-13-26T00:00Z\"", &out), CD_EBAD);
    assert_int_equal(co(f, "DateTime", "\"yesterday\"", &out), CD_EBAD);
    assert_int_equal(co(f, "DateTime", "5", &out), CD_EBAD);
    assert_int_equal(co(f, "JSON", "{a: [1, {b: null}]}", &out), 0);
    assert_int_equal(out.kind, GQL_V_OBJECT);
    assert_int_equal(co(f, "Opaque", "[true]", &out), 0);
    assert_int_equal(out.kind, GQL_V_LIST);
}

static void test_enum_list_object(void **state)
{
    fx *f = *state;
    gql_value out;
    assert_int_equal(co(f, "Color", "\"RED\"", &out), 0);
    assert_string_equal(out.u.s, "RED");
    assert_int_equal(co(f, "Color", "\"red\"", &out), CD_EBAD);
    assert_string_equal(msg, "Value \"red\" does not exist in \"Color\" enum.");
    assert_int_equal(co(f, "Color", "1", &out), CD_EBAD);
    assert_string_equal(msg, "Enum \"Color\" cannot represent non-string value: 1.");
    /* list of one, nested lists, null items */
    assert_int_equal(co(f, "[Int]", "4", &out), 0);
    assert_string_equal(show(&out), "[4]");
    assert_int_equal(co(f, "[[Int]]", "[[1], 2, null]", &out), 0);
    assert_string_equal(show(&out), "[[1], [2], null]");
    assert_int_equal(co(f, "[Int!]", "[1, null]", &out), CD_EBAD);
    assert_string_equal(msg,
                        "at \"value[1]\": Expected non-nullable type \"Int!\" not to be null.");
    /* input objects: defaults in field order, unknown fields, required */
    assert_int_equal(co(f, "Filter", "{tags: \"t\", name: \"n\"}", &out), 0);
    assert_string_equal(show(&out), "{ name: \"n\", limit: 10, color: \"RED\", tags: [\"t\"] }");
    assert_int_equal(co(f, "Filter", "{name: \"n\", nope: 1}", &out), CD_EBAD);
    assert_string_equal(msg, "Field \"nope\" is not defined by type \"Filter\".");
    assert_int_equal(co(f, "Filter", "{limit: 1}", &out), CD_EBAD);
    assert_string_equal(msg, "Field \"name\" of required type \"String!\" was not provided.");
    assert_int_equal(co(f, "Filter", "{name: \"n\", inner: {x: 1.5}}", &out), CD_EBAD);
    assert_string_equal(msg, "at \"value.inner.x\": Int cannot represent non-integer value: 1.5");
    assert_int_equal(co(f, "Filter", "[1]", &out), CD_EBAD);
    assert_string_equal(msg, "Expected type \"Filter\" to be an object.");
    assert_int_equal(co(f, "Filter!", "null", &out), CD_EBAD);
    assert_int_equal(co(f, "Filter", "null", &out), 0);
    assert_int_equal(out.kind, GQL_V_NULL);
}

static void test_list_limit_edge(void **state)
{
    fx *f = *state;
    gql_tref *t = tref(f, "[Int]");
    gql_value out;
    gql_value *l = gql_list_new(&f->a, GQL_MAX_VARIABLE_LIST + 1);
    for (uint32_t i = 0; i <= GQL_MAX_VARIABLE_LIST; i++)
        l->u.items[i] = gql_int(i);
    l->len = GQL_MAX_VARIABLE_LIST;
    assert_int_equal(gql_coerce_input(&f->a, t, l, &out, msg, sizeof msg), 0);
    assert_int_equal(out.len, GQL_MAX_VARIABLE_LIST);
    l->len = GQL_MAX_VARIABLE_LIST + 1;
    assert_int_equal(gql_coerce_input(&f->a, t, l, &out, msg, sizeof msg), CD_EBAD);
    assert_string_equal(msg, "List has more than 10000 items.");
}

static const gql_operation *op_of(fx *f, const char *q)
{
    gql_document *doc;
    gql_syntax_error se;
    assert_int_equal(gql_parse(&f->a, q, strlen(q), &doc, &se), 0);
    return doc->defs[0].u.op;
}

static void test_variables(void **state)
{
    fx *f = *state;
    const gql_operation *op = op_of(
        f, "query($a: Int!, $b: Color = GREEN, $c: [Int], $d: Filter, $e: String) { f(a: $a) }");
    gql_error_list errs;
    gql_errors_init(&errs, &f->a);
    gql_value out;
    gql_value vars = lit(&f->a, "{a: 1, c: 2, e: null}");
    assert_int_equal(gql_coerce_variables(&f->a, f->s, op, &vars, &out, &errs), 0);
    /* provided or defaulted only: d absent, e explicitly null */
    assert_string_equal(show(&out), "{ a: 1, b: \"GREEN\", c: [2], e: null }");
    vars = lit(&f->a, "{a: \"x\", c: [1, \"y\"], d: {name: 1, bad: true}}");
    assert_int_equal(gql_coerce_variables(&f->a, f->s, op, &vars, &out, &errs), CD_EBAD);
    assert_int_equal(errs.n, 4); /* every problem is reported, as graphql-js does */
    assert_string_equal(errs.items[0].message, "Variable \"$a\" got invalid value \"x\"; Int "
                                               "cannot represent non-integer value: \"x\"");
    assert_int_equal(errs.items[0].locs[0].col, 7);
    assert_string_equal(errs.items[1].message,
                        "Variable \"$c\" got invalid value \"y\" at \"c[1]\"; Int cannot "
                        "represent non-integer value: \"y\"");
    assert_string_equal(errs.items[2].message,
                        "Variable \"$d\" got invalid value 1 at \"d.name\"; String cannot "
                        "represent a non string value: 1");
    assert_string_equal(errs.items[3].message,
                        "Variable \"$d\" got invalid value { name: 1, bad: true }; Field "
                        "\"bad\" is not defined by type \"Filter\".");
    assert_string_equal(errs.items[3].code, "BAD_USER_INPUT");
    assert_null(errs.items[3].path);
}

/* GQL_MAX_VARIABLE_ERRORS (50, as graphql-js) at its edge: 50 errors are
 * all reported; the 51st becomes one "error limit reached" error. */
static void test_variable_error_limit(void **state)
{
    fx *f = *state;
    for (uint32_t nv = 50; nv <= 52; nv++) {
        cd_buf q, v;
        cd_buf_init(&q);
        cd_buf_init(&v);
        cd_buf_puts(&q, "query(");
        cd_buf_putc(&v, '{');
        for (uint32_t i = 0; i < nv; i++) {
            cd_buf_printf(&q, "%s$v%u: Int", i ? ", " : "", i);
            cd_buf_printf(&v, "%sv%u: \"x\"", i ? ", " : "", i);
        }
        cd_buf_puts(&q, ") { f(a: 1) }");
        cd_buf_putc(&v, '}');
        const gql_operation *op = op_of(f, q.data);
        gql_value vars = lit(&f->a, v.data);
        gql_error_list errs;
        gql_errors_init(&errs, &f->a);
        gql_value out;
        assert_int_equal(gql_coerce_variables(&f->a, f->s, op, &vars, &out, &errs), CD_EBAD);
        if (nv == 50) {
            assert_int_equal(errs.n, 50);
            assert_null(strstr(errs.items[49].message, "Too many"));
        } else {
            assert_int_equal(errs.n, 51);
            assert_string_equal(errs.items[50].message, "Too many errors processing variables, "
                                                        "error limit reached. Execution aborted.");
            assert_int_equal(errs.items[50].nlocs, 0);
        }
        cd_buf_free(&q);
        cd_buf_free(&v);
    }
}

static void test_big_int_literals(void **state)
{
    fx *f = *state;
    const char *sdl = "type Query { f(id: ID, x: Float, j: JSON, i: Int): Int }\nscalar JSON\n";
    gql_schema *s;
    char err[128];
    assert_int_equal(gql_schema_build(sdl, strlen(sdl), &s, err, sizeof err), 0);
    gql_field *fd = gql_type_field(s->root[GQL_OP_QUERY], "f");
    const gql_operation *op =
        op_of(f, "{ f(id: 123456789012345678901234567890, x: 123456789012345678901234567890, "
                 "j: 123456789012345678901234567890) }");
    const gql_selection *sel = &op->sel->items[0];
    gql_error_list errs;
    gql_errors_init(&errs, &f->a);
    gql_value out;
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, NULL,
                                          &out, &errs, sel->loc),
                     0);
    assert_string_equal(show(&out), "{ id: \"123456789012345678901234567890\", x: "
                                    "1.2345678901234568e+29, j: 1.2345678901234568e+29 }");
    op = op_of(f, "{ f(i: 123456789012345678901234567890) }");
    sel = &op->sel->items[0];
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, NULL,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
    assert_string_equal(errs.items[0].message,
                        "Argument \"i\" has invalid value 123456789012345678901234567890.");
    gql_schema_free(s);
}

static void test_arguments(void **state)
{
    fx *f = *state;
    gql_type *q = f->s->root[GQL_OP_QUERY];
    gql_field *fd = gql_type_field(q, "f");
    const gql_operation *op = op_of(f, "query($x: Int, $y: Filter) { f(a: $x, c: $y, e: \"s\") }");
    const gql_selection *sel = &op->sel->items[0];
    gql_error_list errs;
    gql_errors_init(&errs, &f->a);
    gql_value out;
    gql_value vars = lit(&f->a, "{x: 3}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     0);
    assert_string_equal(show(&out), "{ a: 3, b: [1], d: \"GREEN\", e: \"s\" }");
    /* missing variable for a required argument */
    vars = lit(&f->a, "{}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
    assert_string_equal(errs.items[0].message,
                        "Argument \"a\" of required type \"Int!\" was provided the variable "
                        "\"$x\" which was not provided a runtime value.");
    /* literal object with a variable inside; unknown enum literal is invalid */
    op = op_of(f, "query($n: String) { f(a: 1, c: {name: $n, color: GREEN, tags: \"x\"}) }");
    sel = &op->sel->items[0];
    vars = lit(&f->a, "{n: \"nm\"}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     0);
    assert_string_equal(show(gql_obj_get(&out, "c")),
                        "{ name: \"nm\", limit: 10, color: \"GREEN\", tags: [\"x\"] }");
    gql_errors_init(&errs, &f->a);
    op = op_of(f, "{ f(a: 2147483648) }");
    sel = &op->sel->items[0];
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, NULL,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
    assert_string_equal(errs.items[0].message, "Argument \"a\" has invalid value 2147483648.");
    assert_int_equal(errs.items[0].locs[0].col, 8);
    gql_errors_init(&errs, &f->a);
    op = op_of(f, "{ f(b: 1) }");
    sel = &op->sel->items[0];
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, NULL,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
    assert_string_equal(errs.items[0].message,
                        "Argument \"a\" of required type \"Int!\" was not provided.");
    assert_int_equal(errs.items[0].locs[0].col, 3);
}

/* OneOf input objects: exactly one provided field, not null — for runtime
 * values (variables: every problem reported, graphql-js's messages) and for
 * literals with variables (invalid as a whole). */
static void test_oneof(void **state)
{
    fx *f = *state;
    gql_value out;
    assert_int_equal(co(f, "One", "{s: \"a\"}", &out), 0);
    assert_string_equal(show(&out), "{ s: \"a\" }");
    assert_int_equal(co(f, "One", "{n: {i: 1}}", &out), 0);
    assert_string_equal(show(&out), "{ n: { i: 1 } }");
    assert_int_not_equal(co(f, "One", "{s: \"a\", i: 1}", &out), 0);
    assert_string_equal(msg, "Exactly one key must be specified for OneOf type \"One\".");
    assert_int_not_equal(co(f, "One", "{}", &out), 0);
    assert_string_equal(msg, "Exactly one key must be specified for OneOf type \"One\".");
    assert_int_not_equal(co(f, "One", "{s: null}", &out), 0);
    assert_string_equal(msg, "at \"value.s\": Field \"s\" must be non-null.");
    assert_int_not_equal(co(f, "One", "{n: {}}", &out), 0);
    assert_string_equal(
        msg, "at \"value.n\": Exactly one key must be specified for OneOf type \"One\".");

    const gql_operation *op = op_of(f, "query($o: One) { f(a: 1, g: $o) }");
    gql_error_list errs;
    gql_errors_init(&errs, &f->a);
    gql_value vars = lit(&f->a, "{o: {s: null, i: 2}}");
    assert_int_equal(gql_coerce_variables(&f->a, f->s, op, &vars, &out, &errs), CD_EBAD);
    assert_int_equal(errs.n, 2);
    assert_string_equal(errs.items[0].message,
                        "Variable \"$o\" got invalid value { s: null, i: 2 }; Exactly one key "
                        "must be specified for OneOf type \"One\".");
    assert_string_equal(errs.items[1].message, "Variable \"$o\" got invalid value null at "
                                               "\"o.s\"; Field \"s\" must be non-null.");
    assert_string_equal(errs.items[1].code, "BAD_USER_INPUT");

    /* a literal whose only field reads a missing variable has no key left */
    gql_type *q = f->s->root[GQL_OP_QUERY];
    gql_field *fd = gql_type_field(q, "f");
    op = op_of(f, "query($x: String) { f(a: 1, g: {n: {s: $x}}) }");
    const gql_selection *sel = &op->sel->items[0];
    gql_errors_init(&errs, &f->a);
    vars = lit(&f->a, "{x: \"v\"}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     0);
    assert_string_equal(show(gql_obj_get(&out, "g")), "{ n: { s: \"v\" } }");
    vars = lit(&f->a, "{}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
    assert_non_null(strstr(errs.items[0].message, "Argument \"g\""));
    vars = lit(&f->a, "{x: null}");
    assert_int_equal(gql_coerce_arguments(&f->a, fd->args, fd->nargs, sel->args, sel->nargs, &vars,
                                          &out, &errs, sel->loc),
                     CD_EBAD);
}

static void test_serialize(void **state)
{
    fx *f = *state;
    gql_value out, in;
    gql_type *ti = f->s->t_int, *ts = f->s->t_string, *tf = f->s->t_float;
    in = gql_int(2147483648LL);
    assert_int_equal(gql_serialize_leaf(&f->a, ti, &in, &out, msg, sizeof msg), CD_EBAD);
    assert_string_equal(msg, "Int cannot represent non 32-bit signed integer value: 2147483648");
    in = gql_float(2.0);
    assert_int_equal(gql_serialize_leaf(&f->a, ti, &in, &out, msg, sizeof msg), 0);
    assert_int_equal(out.u.i, 2);
    in = gql_str_ref("12", 2);
    assert_int_equal(gql_serialize_leaf(&f->a, ti, &in, &out, msg, sizeof msg), 0);
    assert_int_equal(out.u.i, 12);
    in = gql_bool(true);
    assert_int_equal(gql_serialize_leaf(&f->a, ts, &in, &out, msg, sizeof msg), 0);
    assert_string_equal(out.u.s, "true");
    in = gql_float(0.1);
    assert_int_equal(gql_serialize_leaf(&f->a, ts, &in, &out, msg, sizeof msg), 0);
    assert_string_equal(out.u.s, "0.1");
    in = gql_float(NAN);
    assert_int_equal(gql_serialize_leaf(&f->a, tf, &in, &out, msg, sizeof msg), CD_EBAD);
    gql_type *color = gql_schema_type(f->s, "Color");
    in = gql_str_ref("GREEN", 5);
    assert_int_equal(gql_serialize_leaf(&f->a, color, &in, &out, msg, sizeof msg), 0);
    in = gql_str_ref("BLUE", 4);
    assert_int_equal(gql_serialize_leaf(&f->a, color, &in, &out, msg, sizeof msg), CD_EBAD);
    assert_string_equal(msg, "Enum \"Color\" cannot represent value: \"BLUE\"");
}

static void test_js_number_and_inspect(void **state)
{
    fx *f = *state;
    char b[40];
    gql_js_number(b, sizeof b, 1.0);
    assert_string_equal(b, "1");
    gql_js_number(b, sizeof b, 0.1);
    assert_string_equal(b, "0.1");
    gql_js_number(b, sizeof b, 1e21);
    assert_string_equal(b, "1e+21");
    gql_js_number(b, sizeof b, 123456789012345680000.0);
    assert_string_equal(b, "123456789012345680000");
    gql_js_number(b, sizeof b, 0.000001);
    assert_string_equal(b, "0.000001");
    gql_js_number(b, sizeof b, 1.5e-7);
    assert_string_equal(b, "1.5e-7");
    gql_js_number(b, sizeof b, -2.5);
    assert_string_equal(b, "-2.5");
    gql_value v = lit(&f->a, "{a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], b: {c: {d: 1}}, e: {}}");
    assert_string_equal(show(&v), "{ a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... 2 more items], "
                                  "b: { c: [Object] }, e: {} }");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_edges),
        cmocka_unit_test(test_other_scalars),
        cmocka_unit_test(test_enum_list_object),
        cmocka_unit_test(test_list_limit_edge),
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_variable_error_limit),
        cmocka_unit_test(test_big_int_literals),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_oneof),
        cmocka_unit_test(test_serialize),
        cmocka_unit_test(test_js_number_and_inspect),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
