/*
 * Unit tests for src/graphql/parser.c and print.c: an executable
 * "kitchen sink" and an SDL kitchen sink checked node by node (kinds, names,
 * values, locations), value literals, printing, every syntax error (table
 * whose expected texts and locations come from graphql-js 16 on the same
 * inputs), the three limits at their edges, and allocation failure at every
 * allocation of a mid-size document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "graphql/ast.h"

#define LOC(l, line_, col_)                                                                        \
    do {                                                                                           \
        assert_int_equal((l).line, line_);                                                         \
        assert_int_equal((l).col, col_);                                                           \
    } while (0)

static char *print_val(const gql_value *v)
{
    static char out[1024];
    cd_buf b;
    cd_buf_init(&b);
    gql_print_value(&b, v);
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    return out;
}

static char *print_type(const gql_type_ref *t)
{
    static char out[256];
    cd_buf b;
    cd_buf_init(&b);
    gql_print_type_ref(&b, t);
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    return out;
}

static const char kitchen_sink[] =
    "query Q1($foo: Cplx, $site: Site = MOBILE, $list: [Int!]! = [1, -2] @var) @onQuery {\n"
    "  who: node(id: [123, 4.5e1]) {\n"
    "    id ,\n"
    "    ... on User @onInline {\n"
    "      f2 {\n"
    "        a: f1(first: 10, after: $foo,) @include(if: $foo) {\n"
    "          ...frag @onSpread\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "    ... @skip(unless: $foo) { id }\n"
    "    ... { id }\n"
    "  }\n"
    "}\n"
    "\n"
    "mutation M @onMutation {\n"
    "  like(story: 123) @onField { story { id @onField } }\n"
    "}\n"
    "\n"
    "subscription S($in: In @onVar) @onSub {\n"
    "  sub(input: $in) { c }\n"
    "}\n"
    "\n"
    "fragment frag on Friend @onFrag {\n"
    "  foo(size: $size, obj: {key: \"value\", block: \"\"\"\n"
    "      block \\\"\"\" x\n"
    "  \"\"\"}, e: ENUM_V)\n"
    "}\n"
    "\n"
    "{ unnamed(t: true, f: false, n: null), query }\n";

static void test_kitchen_sink(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    gql_syntax_error err;
    int rc = gql_parse(&a, kitchen_sink, sizeof kitchen_sink - 1, &d, &err);
    if (rc) print_error("%s at %u:%u\n", err.message, err.loc.line, err.loc.col);
    assert_int_equal(rc, 0);
    assert_int_equal(d->ndefs, 5);
    assert_true(d->ntokens > 150);

    /* query Q1(...) */
    assert_int_equal(d->defs[0].kind, GQL_DEF_OPERATION);
    const gql_operation *op = d->defs[0].u.op;
    assert_int_equal(op->op, GQL_OP_QUERY);
    assert_string_equal(op->name, "Q1");
    LOC(op->loc, 1, 1);
    assert_int_equal(op->nvars, 3);
    assert_string_equal(op->vars[0].name, "foo");
    LOC(op->vars[0].loc, 1, 10);
    LOC(op->vars[0].type->loc, 1, 16);
    assert_null(op->vars[0].default_value);
    assert_string_equal(print_type(op->vars[1].type), "Site");
    assert_int_equal(op->vars[1].default_value->kind, GQL_V_ENUM);
    assert_string_equal(op->vars[1].default_value->u.s, "MOBILE");
    LOC(op->vars[1].default_value->loc, 1, 36);
    assert_string_equal(print_type(op->vars[2].type), "[Int!]!");
    assert_int_equal(op->vars[2].type->kind, GQL_TR_NON_NULL);
    assert_int_equal(op->vars[2].type->of->kind, GQL_TR_LIST);
    LOC(op->vars[2].type->loc, 1, 51);
    assert_string_equal(print_val(op->vars[2].default_value), "[1, -2]");
    LOC(op->vars[2].default_value->loc, 1, 61);
    assert_int_equal(op->vars[2].ndirs, 1);
    assert_string_equal(op->vars[2].dirs[0].name, "var");
    assert_int_equal(op->ndirs, 1);
    assert_string_equal(op->dirs[0].name, "onQuery");

    /* who: node(id: [123, 4.5e1]) { ... } */
    LOC(op->sel->loc, 1, 84);
    assert_int_equal(op->sel->n, 1);
    const gql_selection *who = &op->sel->items[0];
    assert_int_equal(who->kind, GQL_SEL_FIELD);
    assert_string_equal(who->alias, "who");
    assert_string_equal(who->name, "node");
    LOC(who->loc, 2, 3);
    assert_int_equal(who->nargs, 1);
    assert_string_equal(who->args[0].name, "id");
    LOC(who->args[0].loc, 2, 13);
    const gql_value *ids = &who->args[0].value;
    assert_int_equal(ids->kind, GQL_V_LIST);
    LOC(ids->loc, 2, 17);
    assert_int_equal(ids->len, 2);
    assert_int_equal(ids->u.items[0].kind, GQL_V_INT);
    assert_int_equal(ids->u.items[0].u.i, 123);
    assert_int_equal(ids->u.items[1].kind, GQL_V_FLOAT);
    assert_true(ids->u.items[1].u.f == 45.0);
    LOC(ids->u.items[1].loc, 2, 23);
    assert_int_equal(who->sel->n, 4);
    assert_null(who->sel->items[0].alias);
    assert_string_equal(who->sel->items[0].name, "id");
    assert_null(who->sel->items[0].sel);

    const gql_selection *inl = &who->sel->items[1];
    assert_int_equal(inl->kind, GQL_SEL_INLINE_FRAGMENT);
    LOC(inl->loc, 4, 5);
    assert_string_equal(inl->type_cond, "User");
    LOC(inl->type_cond_loc, 4, 12);
    assert_int_equal(inl->ndirs, 1);
    LOC(inl->dirs[0].loc, 4, 17);
    const gql_selection *al = &inl->sel->items[0].sel->items[0];
    assert_string_equal(al->alias, "a");
    assert_string_equal(al->name, "f1");
    LOC(al->loc, 6, 9);
    assert_int_equal(al->nargs, 2);
    LOC(al->args[0].loc, 6, 15);
    LOC(al->args[1].loc, 6, 26);
    assert_int_equal(al->args[1].value.kind, GQL_V_VARIABLE);
    assert_string_equal(al->args[1].value.u.s, "foo");
    assert_int_equal(al->args[1].value.len, 3);
    assert_string_equal(al->dirs[0].name, "include");
    LOC(al->dirs[0].loc, 6, 40);
    assert_int_equal(al->dirs[0].nargs, 1);
    const gql_selection *spread = &al->sel->items[0];
    assert_int_equal(spread->kind, GQL_SEL_FRAGMENT_SPREAD);
    assert_string_equal(spread->name, "frag");
    LOC(spread->loc, 7, 11);
    assert_string_equal(spread->dirs[0].name, "onSpread");

    const gql_selection *skip = &who->sel->items[2];
    assert_int_equal(skip->kind, GQL_SEL_INLINE_FRAGMENT);
    assert_null(skip->type_cond);
    assert_string_equal(skip->dirs[0].name, "skip");
    const gql_selection *bare = &who->sel->items[3];
    assert_int_equal(bare->kind, GQL_SEL_INLINE_FRAGMENT);
    assert_null(bare->type_cond);
    assert_int_equal(bare->ndirs, 0);
    assert_int_equal(bare->sel->n, 1);

    /* mutation and subscription */
    const gql_operation *m = d->defs[1].u.op;
    assert_int_equal(m->op, GQL_OP_MUTATION);
    assert_string_equal(m->name, "M");
    assert_int_equal(m->nvars, 0);
    assert_null(m->vars);
    const gql_operation *s = d->defs[2].u.op;
    assert_int_equal(s->op, GQL_OP_SUBSCRIPTION);
    assert_string_equal(s->vars[0].dirs[0].name, "onVar");

    /* fragment frag on Friend */
    assert_int_equal(d->defs[3].kind, GQL_DEF_FRAGMENT);
    const gql_fragment *fr = d->defs[3].u.frag;
    assert_string_equal(fr->name, "frag");
    assert_string_equal(fr->type_cond, "Friend");
    LOC(fr->loc, 24, 1);
    LOC(fr->type_cond_loc, 24, 18);
    const gql_selection *foo = &fr->sel->items[0];
    const gql_value *obj = &foo->args[1].value;
    assert_int_equal(obj->kind, GQL_V_OBJECT);
    LOC(obj->loc, 25, 25);
    assert_int_equal(obj->len, 2);
    assert_string_equal(obj->u.fields[0].name, "key");
    LOC(obj->u.fields[0].loc, 25, 26);
    LOC(obj->u.fields[0].value.loc, 25, 31);
    assert_string_equal(obj->u.fields[1].value.u.s, "block \"\"\" x");
    assert_true(obj->u.fields[1].value.flags & GQL_VF_BLOCK);
    LOC(obj->u.fields[1].value.loc, 25, 47);
    assert_int_equal(foo->args[2].value.kind, GQL_V_ENUM);

    /* shorthand query */
    const gql_operation *sh = d->defs[4].u.op;
    assert_int_equal(sh->op, GQL_OP_QUERY);
    assert_null(sh->name);
    LOC(sh->loc, 30, 1);
    const gql_selection *un = &sh->sel->items[0];
    assert_int_equal(un->args[0].value.kind, GQL_V_BOOL);
    assert_true(un->args[0].value.u.b);
    assert_false(un->args[1].value.u.b);
    assert_int_equal(un->args[2].value.kind, GQL_V_NULL);
    assert_string_equal(sh->sel->items[1].name, "query");
    LOC(sh->sel->items[1].loc, 30, 40);
    cd_arena_free(&a);
}

static const char sdl_kitchen_sink[] =
    "\"\"\"\n"
    "The schema.\n"
    "\"\"\"\n"
    "schema @onSchema { query: QueryType mutation: MutationType }\n"
    "\n"
    "\"Scalar desc\" scalar Date @specifiedBy(url: \"https://x\")\n"
    "\n"
    "type Foo implements & Bar & Baz @onObject {\n"
    "  \"field desc\" one: Type\n"
    "  two(argument: InputType!): Type\n"
    "  three(argument: InputType, other: String = \"x\" @onArg): Int @deprecated(reason: \"no\")\n"
    "  four(argument: [String] = [\"a\", \"b\"]): [[Int!]]!\n"
    "}\n"
    "\n"
    "interface Bar implements Baz { one: Type }\n"
    "union Feed = | Story | Article\n"
    "union Empty @onUnion\n"
    "enum Site { \"d\" DESKTOP MOBILE @onEnumValue }\n"
    "input In @onInput { a: Int = 1, b: [In!] = [{a: 2}] }\n"
    "directive @rep(arg: Int = 0) repeatable on | FIELD | QUERY | INPUT_FIELD_DEFINITION\n"
    "directive @once on SCHEMA\n"
    "\n"
    "extend schema @ext { subscription: Sub }\n"
    "extend scalar Date @ext\n"
    "extend type Foo implements Qux\n"
    "extend interface Bar @ext\n"
    "extend union Feed = Photo\n"
    "extend enum Site { TABLET }\n"
    "extend input In { c: String }\n";

static void test_sdl_kitchen_sink(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    gql_syntax_error err;
    int rc = gql_parse(&a, sdl_kitchen_sink, sizeof sdl_kitchen_sink - 1, &d, &err);
    if (rc) print_error("%s at %u:%u\n", err.message, err.loc.line, err.loc.col);
    assert_int_equal(rc, 0);
    assert_int_equal(d->ndefs, 17);

    const gql_schema_def *sd = d->defs[0].u.schema;
    assert_int_equal(d->defs[0].kind, GQL_DEF_SCHEMA);
    assert_false(sd->extension);
    assert_string_equal(sd->desc, "The schema.");
    LOC(sd->loc, 1, 1);
    assert_string_equal(sd->root[GQL_OP_QUERY], "QueryType");
    assert_string_equal(sd->root[GQL_OP_MUTATION], "MutationType");
    assert_null(sd->root[GQL_OP_SUBSCRIPTION]);
    assert_string_equal(sd->dirs[0].name, "onSchema");

    const gql_type_def *date = d->defs[1].u.type;
    assert_int_equal(date->kind, GQL_T_SCALAR);
    assert_string_equal(date->desc, "Scalar desc");
    assert_string_equal(date->name, "Date");
    LOC(date->loc, 6, 1);
    assert_string_equal(date->dirs[0].args[0].value.u.s, "https://x");

    const gql_type_def *foo = d->defs[2].u.type;
    assert_int_equal(foo->kind, GQL_T_OBJECT);
    assert_null(foo->desc);
    assert_int_equal(foo->ninterfaces, 2);
    assert_string_equal(foo->interfaces[0], "Bar");
    assert_string_equal(foo->interfaces[1], "Baz");
    assert_int_equal(foo->nfields, 4);
    assert_string_equal(foo->fields[0].desc, "field desc");
    LOC(foo->fields[0].loc, 9, 3);
    LOC(foo->fields[1].loc, 10, 3);
    assert_string_equal(print_type(foo->fields[1].args[0].type), "InputType!");
    const gql_field_def *three = &foo->fields[2];
    assert_int_equal(three->nargs, 2);
    LOC(three->args[0].loc, 11, 9);
    LOC(three->args[1].loc, 11, 30);
    assert_string_equal(print_val(three->args[1].default_value), "\"x\"");
    assert_string_equal(three->args[1].dirs[0].name, "onArg");
    assert_string_equal(three->dirs[0].name, "deprecated");
    assert_string_equal(print_type(foo->fields[3].type), "[[Int!]]!");
    assert_string_equal(print_val(foo->fields[3].args[0].default_value), "[\"a\", \"b\"]");

    const gql_type_def *bar = d->defs[3].u.type;
    assert_int_equal(bar->kind, GQL_T_INTERFACE);
    assert_int_equal(bar->ninterfaces, 1);
    const gql_type_def *feed = d->defs[4].u.type;
    assert_int_equal(feed->kind, GQL_T_UNION);
    assert_int_equal(feed->nmembers, 2);
    assert_string_equal(feed->members[1], "Article");
    const gql_type_def *empty = d->defs[5].u.type;
    assert_int_equal(empty->nmembers, 0);
    assert_int_equal(empty->ndirs, 1);
    const gql_type_def *site = d->defs[6].u.type;
    assert_int_equal(site->kind, GQL_T_ENUM);
    assert_int_equal(site->nvalues, 2);
    assert_string_equal(site->values[0].desc, "d");
    assert_string_equal(site->values[0].name, "DESKTOP");
    assert_string_equal(site->values[1].dirs[0].name, "onEnumValue");
    const gql_type_def *in = d->defs[7].u.type;
    assert_int_equal(in->kind, GQL_T_INPUT_OBJECT);
    assert_int_equal(in->ninput_fields, 2);
    assert_string_equal(print_val(in->input_fields[1].default_value), "[{a: 2}]");

    assert_int_equal(d->defs[8].kind, GQL_DEF_DIRECTIVE);
    const gql_directive_def *rep = d->defs[8].u.dir;
    assert_string_equal(rep->name, "rep");
    assert_true(rep->repeatable);
    assert_int_equal(rep->locations, (1u << GQL_DL_FIELD) | (1u << GQL_DL_QUERY) |
                                         (1u << GQL_DL_INPUT_FIELD_DEFINITION));
    assert_int_equal(rep->nargs, 1);
    assert_int_equal(rep->args[0].default_value->u.i, 0);
    const gql_directive_def *once = d->defs[9].u.dir;
    assert_false(once->repeatable);
    assert_int_equal(once->locations, 1u << GQL_DL_SCHEMA);

    const gql_schema_def *xs = d->defs[10].u.schema;
    assert_true(xs->extension);
    LOC(xs->loc, 23, 1);
    assert_string_equal(xs->root[GQL_OP_SUBSCRIPTION], "Sub");
    static const uint8_t kinds[] = {GQL_T_SCALAR, GQL_T_OBJECT, GQL_T_INTERFACE,
                                    GQL_T_UNION,  GQL_T_ENUM,   GQL_T_INPUT_OBJECT};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(d->defs[11 + i].kind, GQL_DEF_TYPE);
        assert_true(d->defs[11 + i].u.type->extension);
        assert_int_equal(d->defs[11 + i].u.type->kind, kinds[i]);
        LOC(d->defs[11 + i].u.type->loc, (uint32_t)(24 + i), 1);
    }
    assert_string_equal(d->defs[12].u.type->interfaces[0], "Qux");
    assert_string_equal(d->defs[14].u.type->members[0], "Photo");
    assert_string_equal(d->defs[15].u.type->values[0].name, "TABLET");
    assert_string_equal(d->defs[16].u.type->input_fields[0].name, "c");
    for (int i = 0; i < GQL_DL_COUNT; i++)
        assert_non_null(gql_dir_loc_names[i]);
    assert_string_equal(gql_dir_loc_names[GQL_DL_INPUT_FIELD_DEFINITION], "INPUT_FIELD_DEFINITION");
    cd_arena_free(&a);
}

static void test_chat_schema_parses(void **state)
{
    (void)state;
    const char *path = getenv("CHATD_SCHEMA");
    if (!path) skip();
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[GQL_MAX_DOCUMENT_BYTES];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    gql_syntax_error err;
    int rc = gql_parse(&a, buf, n, &d, &err);
    if (rc) print_error("%s at %u:%u\n", err.message, err.loc.line, err.loc.col);
    assert_int_equal(rc, 0);
    assert_true(d->ndefs > 5);
    cd_arena_free(&a);
}

/* ---- values ---- */

static int parse_value(cd_arena *a, const char *src, bool is_const, gql_value *v,
                       gql_syntax_error *err)
{
    return gql_parse_value(a, src, strlen(src), is_const, v, err);
}

static void test_value_literals(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    gql_syntax_error err;

    assert_int_equal(parse_value(&a, "9223372036854775807", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_INT);
    assert_int_equal(v.flags, 0);
    assert_true(v.u.i == INT64_MAX);
    assert_int_equal(parse_value(&a, "-9223372036854775808", true, &v, &err), 0);
    assert_true(v.u.i == INT64_MIN);
    assert_int_equal(v.flags, 0);
    assert_int_equal(parse_value(&a, "9223372036854775808", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_INT);
    assert_int_equal(v.flags, GQL_VF_BIG);
    assert_string_equal(v.u.s, "9223372036854775808");
    assert_int_equal(v.len, 19);
    assert_string_equal(print_val(&v), "9223372036854775808");
    assert_int_equal(parse_value(&a, "-9223372036854775809", true, &v, &err), 0);
    assert_int_equal(v.flags, GQL_VF_BIG);
    assert_int_equal(parse_value(&a, "-0", true, &v, &err), 0);
    assert_int_equal(v.u.i, 0);

    assert_int_equal(parse_value(&a, "1.25e2", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_FLOAT);
    assert_true(v.u.f == 125.0);
    /* a very long float literal goes through the arena copy */
    char longf[200];
    memset(longf, '1', sizeof longf);
    longf[1] = '.';
    longf[sizeof longf - 1] = '\0';
    assert_int_equal(parse_value(&a, longf, true, &v, &err), 0);
    assert_true(v.u.f > 1.11 && v.u.f < 1.12);

    assert_int_equal(parse_value(&a, "\"a\\u0000b\\u{1F600}\"", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_STRING);
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.u.s, "a\0b\xF0\x9F\x98\x80", 8); /* NUL-terminated too */

    assert_int_equal(parse_value(&a, "  [ ]  ", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_LIST);
    assert_int_equal(v.len, 0);
    LOC(v.loc, 1, 3);
    assert_int_equal(parse_value(&a, "{}", true, &v, &err), 0);
    assert_int_equal(v.kind, GQL_V_OBJECT);
    assert_int_equal(v.len, 0);

    assert_int_equal(parse_value(&a, "{a: [$x, {b: $y}]}", false, &v, &err), 0);
    assert_string_equal(print_val(&v), "{a: [$x, {b: $y}]}");
    assert_int_equal(parse_value(&a, "{a: [$x]}", true, &v, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Unexpected variable \"$x\" in constant value.");
    LOC(err.loc, 1, 6);
    assert_int_equal(parse_value(&a, "1 2", true, &v, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Expected <EOF>, found Int \"2\".");
    assert_int_equal(parse_value(&a, "", true, &v, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Unexpected <EOF>.");
    assert_int_equal(parse_value(&a, "}", false, &v, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Unexpected \"}\".");
    assert_int_equal(parse_value(&a, "\"x\" \"y\"", false, &v, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Expected <EOF>, found String \"y\".");
    cd_arena_free(&a);
}

static void test_print(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    gql_syntax_error err;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"null", "null"},
        {"true", "true"},
        {"false", "false"},
        {"-17", "-17"},
        {"1.5", "1.5"},
        {"2.0", "2"},
        {"1e25", "1e+25"},
        {"ENUM_V", "ENUM_V"},
        {"\"q\\\"b\\\\s\\n\\t\\b\\f\\r\\u0001\\u007F\\u0085é\"",
         "\"q\\\"b\\\\s\\n\\t\\b\\f\\r\\u0001\\u007F\\u0085é\""},
        {"[1, [2, {a: \"x\"}], []]", "[1, [2, {a: \"x\"}], []]"},
        {"{a: 1, b: {c: null}}", "{a: 1, b: {c: null}}"},
        {"\"\"\"block\"\"\"", "\"\"\"block\"\"\""},
        {"\"\"\"  lead\"\"\"", "\"\"\"  lead\"\"\""},
        {"\"\"\"a\n b\"\"\"", "\"\"\"\na\nb\n\"\"\""},
        {"\"\"\"a\n  b\n c\"\"\"", "\"\"\"\na\n b\nc\n\"\"\""},
        {"\"\"\"x\n\n  y\"\"\"", "\"\"\"\nx\n\ny\n\"\"\""},
        {"\"\"\"  lead\n x\"\"\"", "\"\"\"\n  lead\nx\n\"\"\""},
        {"\"\"\"has \\\"\"\" quotes\"\"\"", "\"\"\"has \\\"\"\" quotes\"\"\""},
        {"\"\"\"a \\\"\"\"\"\"\"", "\"\"\"\na \\\"\"\"\n\"\"\""},
        {"\"\"\"x \"\n\"\"\"", "\"\"\"\nx \"\n\"\"\""},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        int rc = parse_value(&a, cases[i].in, false, &v, &err);
        if (rc) print_error("case %zu: %s\n", i, err.message);
        assert_int_equal(rc, 0);
        const char *got = print_val(&v);
        if (strcmp(got, cases[i].out) != 0) {
            print_error("case %zu: got %s expected %s\n", i, got, cases[i].out);
            fail();
        }
    }
    gql_value raw = gql_str_ref("{\"x\":1}", 7);
    raw.kind = GQL_V_RAW_JSON;
    assert_string_equal(print_val(&raw), "{\"x\":1}");

    gql_document *d;
    const char *q = "query($a: [[String]!], $b: Int!, $c: X) { a }";
    assert_int_equal(gql_parse(&a, q, strlen(q), &d, &err), 0);
    assert_string_equal(print_type(d->defs[0].u.op->vars[0].type), "[[String]!]");
    assert_string_equal(print_type(d->defs[0].u.op->vars[1].type), "Int!");
    assert_string_equal(print_type(d->defs[0].u.op->vars[2].type), "X");
    cd_arena_free(&a);
}

/* ---- errors: expected texts and locations from graphql-js 16 ---- */

typedef struct parse_case {
    const char *src;
    size_t len;
    const char *expect; /* "ok <ndefs>" or "<message> @line:col" */
} parse_case;

static const parse_case reference_cases[] = {
    {"{ a }", 5, "ok 1"},
    {"", 0, "Syntax Error: Unexpected <EOF>. @1:1"},
    {"   ", 3, "Syntax Error: Unexpected <EOF>. @1:4"},
    {"{", 1, "Syntax Error: Expected Name, found <EOF>. @1:2"},
    {"{ a", 3, "Syntax Error: Expected Name, found <EOF>. @1:4"},
    {"{}", 2, "Syntax Error: Expected Name, found \042}\042. @1:2"},
    {"{ a b c }", 9, "ok 1"},
    {"query", 5, "Syntax Error: Expected \042{\042, found <EOF>. @1:6"},
    {"query Foo", 9, "Syntax Error: Expected \042{\042, found <EOF>. @1:10"},
    {"query Foo {", 11, "Syntax Error: Expected Name, found <EOF>. @1:12"},
    {"query Foo($a: Int = 1 @d) { a }", 31, "ok 1"},
    {"query ($a: Int = $b) { a }", 26,
     "Syntax Error: Unexpected variable \042$b\042 in constant value. @1:18"},
    {"query ($a: [Int!]! = [1,2]) { a(x: $a) }", 40, "ok 1"},
    {"{ a(x: 1, y: 1.5, z: \042s\042, w: true, v: null, u: ENUM, t: [1, [2]], s: {a: {b: 1}}) }",
     83, "ok 1"},
    {"{ ...Frag ...on T { a } ... { b } ... @skip(if: true) { c } }", 61, "ok 1"},
    {"fragment on on T { a }", 22, "Syntax Error: Unexpected Name \042on\042. @1:10"},
    {"fragment F on T { a }", 21, "ok 1"},
    {"fragment F T { a }", 18, "Syntax Error: Expected \042on\042, found Name \042T\042. @1:12"},
    {"{ a(x: ) }", 10, "Syntax Error: Unexpected \042)\042. @1:8"},
    {"{ a(: 1) }", 10, "Syntax Error: Expected Name, found \042:\042. @1:5"},
    {"{ a: }", 6, "Syntax Error: Expected Name, found \042}\042. @1:6"},
    {"{ a: b: c }", 11, "Syntax Error: Expected Name, found \042:\042. @1:7"},
    {"mutation { a }", 14, "ok 1"},
    {"subscription S { a }", 20, "ok 1"},
    {"notakeyword { a }", 17, "Syntax Error: Unexpected Name \042notakeyword\042. @1:1"},
    {"\042desc\042 { a }", 12,
     "Syntax Error: Unexpected description, descriptions are not supported on shorthand queries. "
     "@1:1"},
    {"\042desc\042 query { a }", 18, "ok 1"},
    {"\042desc\042 extend type A { a: Int }", 31,
     "Syntax Error: Unexpected description, only GraphQL definitions support descriptions. @1:1"},
    {"\042desc\042 type A { a: Int }", 24, "ok 1"},
    {"type A implements & B & C @d { a(x: Int = 1 @e): [String!]! @f }", 64, "ok 1"},
    {"type A implements B C { a: Int }", 32, "Syntax Error: Unexpected Name \042C\042. @1:21"},
    {"interface I implements J { a: Int }", 35, "ok 1"},
    {"union U = | A | B", 17, "ok 1"},
    {"union U @d", 10, "ok 1"},
    {"union U =", 9, "Syntax Error: Expected Name, found <EOF>. @1:10"},
    {"enum E { A B }", 14, "ok 1"},
    {"enum E { true }", 15,
     "Syntax Error: Name \042true\042 is reserved and cannot be used for an enum value. @1:10"},
    {"enum E { null }", 15,
     "Syntax Error: Name \042null\042 is reserved and cannot be used for an enum value. @1:10"},
    {"enum E { A B C } ", 17, "ok 1"},
    {"input I { a: Int = 1, b: [I!] = [{a: 1}] }", 42, "ok 1"},
    {"input I { a: Int = $x }", 23,
     "Syntax Error: Unexpected variable \042$x\042 in constant value. @1:20"},
    {"scalar S @d(a: 1)", 17, "ok 1"},
    {"scalar S", 8, "ok 1"},
    {"directive @d(a: Int) repeatable on FIELD | QUERY", 48, "ok 1"},
    {"directive @d on | FIELD", 23, "ok 1"},
    {"directive @d on FOO", 19, "Syntax Error: Unexpected Name \042FOO\042. @1:17"},
    {"directive @d FIELD", 18,
     "Syntax Error: Expected \042on\042, found Name \042FIELD\042. @1:14"},
    {"directive d on FIELD", 20, "Syntax Error: Expected \042@\042, found Name \042d\042. @1:11"},
    {"schema { query: Q mutation: M }", 31, "ok 1"},
    {"schema { }", 10, "Syntax Error: Expected Name, found \042}\042. @1:10"},
    {"schema @d", 9, "Syntax Error: Expected \042{\042, found <EOF>. @1:10"},
    {"extend schema @d", 16, "ok 1"},
    {"extend schema { subscription: S }", 33, "ok 1"},
    {"extend schema", 13, "Syntax Error: Unexpected <EOF>. @1:14"},
    {"extend scalar S", 15, "Syntax Error: Unexpected <EOF>. @1:16"},
    {"extend scalar S @d", 18, "ok 1"},
    {"extend type A", 13, "Syntax Error: Unexpected <EOF>. @1:14"},
    {"extend type A implements B", 26, "ok 1"},
    {"extend type A @d", 16, "ok 1"},
    {"extend type A { a: Int }", 24, "ok 1"},
    {"extend interface I", 18, "Syntax Error: Unexpected <EOF>. @1:19"},
    {"extend union U", 14, "Syntax Error: Unexpected <EOF>. @1:15"},
    {"extend union U = A", 18, "ok 1"},
    {"extend enum E", 13, "Syntax Error: Unexpected <EOF>. @1:14"},
    {"extend enum E { A }", 19, "ok 1"},
    {"extend input I", 14, "Syntax Error: Unexpected <EOF>. @1:15"},
    {"extend input I { a: Int }", 25, "ok 1"},
    {"extend foo", 10, "Syntax Error: Unexpected Name \042foo\042. @1:8"},
    {"extend", 6, "Syntax Error: Unexpected <EOF>. @1:7"},
    {"extend directive @d on FIELD", 28, "Syntax Error: Unexpected Name \042directive\042. @1:8"},
    {"{ a(x: 01) }", 12, "Syntax Error: Invalid number, unexpected digit after 0: \0421\042. @1:9"},
    {"{ a(x: 1.) }", 12, "Syntax Error: Invalid number, expected digit but got: \042)\042. @1:10"},
    {"{ a(x: 1e) }", 12, "Syntax Error: Invalid number, expected digit but got: \042)\042. @1:10"},
    {"{ a(x: 1.e1) }", 14,
     "Syntax Error: Invalid number, expected digit but got: \042e\042. @1:10"},
    {"{ a(x: 1a) }", 12, "Syntax Error: Invalid number, expected digit but got: \042a\042. @1:9"},
    {"{ a(x: 1.5a) }", 14,
     "Syntax Error: Invalid number, expected digit but got: \042a\042. @1:11"},
    {"{ a(x: -) }", 11, "Syntax Error: Invalid number, expected digit but got: \042)\042. @1:9"},
    {"{ a(x: -a) }", 12, "Syntax Error: Invalid number, expected digit but got: \042a\042. @1:9"},
    {"{ a(x: 1_) }", 12, "Syntax Error: Invalid number, expected digit but got: \042_\042. @1:9"},
    {"{ a(x: 00) }", 12, "Syntax Error: Invalid number, unexpected digit after 0: \0420\042. @1:9"},
    {"{ a(x: -0) }", 12, "ok 1"},
    {"{ a(x: 0.0e+10) }", 17, "ok 1"},
    {"{ a(x: 1E-5) }", 14, "ok 1"},
    {"{ a(x: .5) }", 12, "Syntax Error: Unexpected character: \042.\042. @1:8"},
    {"{ a(x: 1..) }", 13, "Syntax Error: Invalid number, expected digit but got: \042.\042. @1:10"},
    {"{ a(x: 1.5.5) }", 15,
     "Syntax Error: Invalid number, expected digit but got: \042.\042. @1:11"},
    {"{ a(x: \042unterminated) }", 23, "Syntax Error: Unterminated string. @1:24"},
    {"{ a(x: \042a\012b\042) }", 15, "Syntax Error: Unterminated string. @1:10"},
    {"{ a(x: \042\134x\042) }", 14,
     "Syntax Error: Invalid character escape sequence: \042\134x\042. @1:9"},
    {"{ a(x: \042\134u12\042) }", 16,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u12\042)\042. @1:9"},
    {"{ a(x: \042\134u{}\042) }", 16,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{}\042. @1:9"},
    {"{ a(x: \042\134u{110000}\042) }", 22,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{110000}\042. @1:9"},
    {"{ a(x: \042\134u{FFFFFFFFF}\042) }", 25,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{FFFFFFFF\042. @1:9"},
    {"{ a(x: \042\134uD800\042) }", 18,
     "Syntax Error: Invalid Unicode escape sequence: \042\134uD800\042. @1:9"},
    {"{ a(x: \042\134uD800\134u0041\042) }", 24,
     "Syntax Error: Invalid Unicode escape sequence: \042\134uD800\042. @1:9"},
    {"{ a(x: \042\134uD83D\134uDE00\042) }", 24, "ok 1"},
    {"{ a(x: \042\134uDE00\042) }", 18,
     "Syntax Error: Invalid Unicode escape sequence: \042\134uDE00\042. @1:9"},
    {"{ a(x: \042\134u{1F600}\042) }", 21, "ok 1"},
    {"{ a(x: \042\134u{D800}\042) }", 20,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{D800}\042. @1:9"},
    {"{ a(x: \042\134u{0}\042) }", 17, "ok 1"},
    {"{ a(x: \042\134u{00000041}\042) }", 24, "ok 1"},
    {"{ a(x: \042\134u{000000041}\042) }", 25,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{000000041\042. @1:9"},
    {"{ a(x: \042\134u{7FFFFFFF}\042) }", 24,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{7FFFFFFF}\042. @1:9"},
    {"{ a(x: \042\134", 9, "Syntax Error: Invalid character escape sequence: \042\134\042. @1:9"},
    {"{ a(x: \042\134u", 10, "Syntax Error: Invalid Unicode escape sequence: \042\134u\042. @1:9"},
    {"{ a(x: \042\134u{", 11,
     "Syntax Error: Invalid Unicode escape sequence: \042\134u{\042. @1:9"},
    {"{ a(x: \042\042\042abc) }", 16, "Syntax Error: Unterminated string. @1:17"},
    {"{ a(x: \042\042\042a\134\042\042\042b\042\042\042) }", 22, "ok 1"},
    {"{ a(x: 'x') }", 13,
     "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote "
     "(\042)\077 @1:8"},
    {"{ a \077 }", 7, "Syntax Error: Unexpected character: \042\077\042. @1:5"},
    {"{ a . }", 7, "Syntax Error: Unexpected character: \042.\042. @1:5"},
    {"{ a .. }", 8, "Syntax Error: Unexpected character: \042.\042. @1:5"},
    {"{ a(x: \042\303\251\042) }", 14, "ok 1"},
    {"# comment \303\251\012{ a \303\251 }", 21,
     "Syntax Error: Unexpected character: U+00E9. @2:5"},
    {"{ a \302\240 }", 8, "Syntax Error: Unexpected character: U+00A0. @1:5"},
    {"{ a\015\012 b \015 c # x\015\012 ! }", 21,
     "Syntax Error: Expected Name, found \042!\042. @4:2"},
    {"\357\273\277{ a }", 8, "ok 1"},
    {"{ \357\273\277 a ! }", 11, "Syntax Error: Expected Name, found \042!\042. @1:7"},
    {"{ a\007 }", 6, "Syntax Error: Unexpected character: U+0007. @1:4"},
    {"{ \042\042\042\012  block\012  \303\251\012\042\042\042 ! }", 26,
     "Syntax Error: Expected Name, found BlockString \042block\012\303\251\042. @1:3"},
    {"{ a(x: \042\042\042\012 x \042\042\042 ) ! }", 23,
     "Syntax Error: Expected Name, found \042!\042. @2:10"},
    {"query Q($a: Int) @dir { a }", 27, "ok 1"},
    {"query Q($a Int) { a }", 21,
     "Syntax Error: Expected \042:\042, found Name \042Int\042. @1:12"},
    {"query Q(a: Int) { a }", 21, "Syntax Error: Expected \042$\042, found Name \042a\042. @1:9"},
    {"query Q() { a }", 15, "Syntax Error: Expected \042$\042, found \042)\042. @1:9"},
    {"{ a @ }", 7, "Syntax Error: Expected Name, found \042}\042. @1:7"},
    {"{ a @d( }", 9, "Syntax Error: Expected Name, found \042}\042. @1:9"},
    {"{ ... }", 7, "Syntax Error: Expected \042{\042, found \042}\042. @1:7"},
    {"{ ... on }", 10, "Syntax Error: Expected Name, found \042}\042. @1:10"},
    {"{ ...on{ a } }", 14, "Syntax Error: Expected Name, found \042{\042. @1:8"},
    {"query { a(x: [1, $v, {a: $w}]) }", 32, "ok 1"},
    {"query($a: [[Int]!]) { a }", 25, "ok 1"},
    {"query($a: [Int) { a }", 21, "Syntax Error: Expected \042]\042, found \042)\042. @1:15"},
    {"query($a: Int!!) { a }", 22, "Syntax Error: Expected \042$\042, found \042!\042. @1:15"},
    {"{ a } { b }", 11, "ok 2"},
    {"{ a } }", 7, "Syntax Error: Unexpected \042}\042. @1:7"},
    {"fragment F on T @d(a: $x) { a }", 31, "ok 1"},
    {"type T { a(x: Int = $v): Int }", 30,
     "Syntax Error: Unexpected variable \042$v\042 in constant value. @1:21"},
    {"type T { a: Int @d(x: $v) }", 27,
     "Syntax Error: Unexpected variable \042$v\042 in constant value. @1:23"},
    {"{ a(x: $) }", 11, "Syntax Error: Expected Name, found \042)\042. @1:9"},
    {"query($a: Int = $ ) {a}", 23, "Syntax Error: Unexpected \042$\042. @1:17"},
    {"query($a: Int = [$b]) {a}", 25,
     "Syntax Error: Unexpected variable \042$b\042 in constant value. @1:18"},
    {"query($a: Int = {a: $b}) {a}", 28,
     "Syntax Error: Unexpected variable \042$b\042 in constant value. @1:21"},
    {"query($a: Int @d(x: $y)) {a}", 28,
     "Syntax Error: Unexpected variable \042$y\042 in constant value. @1:21"},
    {"type T", 6, "ok 1"},
    {"type T {}", 9, "Syntax Error: Expected Name, found \042}\042. @1:9"},
    {"type T { }", 10, "Syntax Error: Expected Name, found \042}\042. @1:10"},
    {"interface I", 11, "ok 1"},
    {"input I {}", 10, "Syntax Error: Expected Name, found \042}\042. @1:10"},
    {"enum E {}", 9, "Syntax Error: Expected Name, found \042}\042. @1:9"},
    {"\042\042\042 doc \042\042\042 schema { query: Q }", 31, "ok 1"},
    {"schema { query: Q query: R }", 28, "ok 1"},
    {"schema { foo: Q }", 17, "Syntax Error: Unexpected Name \042foo\042. @1:10"},
    {"{ a(x: 123456789012345678901234567890) }", 40, "ok 1"},
    {"{ a(x: -9223372036854775808) }", 30, "ok 1"},
    {"{ a(x: 9223372036854775808) }", 29, "ok 1"},
    {"{ a(x: 1e400) }", 15, "ok 1"},
    {"\042a\042 \042b\042 type T", 14, "Syntax Error: Unexpected String \042b\042. @1:5"},
    {"type T { \042d\042 a: Int \042\042\042e\042\042\042 b(\042c\042 x: Int): Int }", 48, "ok 1"},
    {"query ($x: Int, \042d\042 $y: Int) { a }", 34, "ok 1"},
    {"\042d\042 fragment F on T { a }", 25, "ok 1"},
    {"{ a(x: \042\134u00e9\134n\134t\134\042\134\134\134/\134b\134f\134r\042) }", 34, "ok 1"},
    {"{ f(x: \042\342\200\250\042) ! }", 17, "Syntax Error: Expected Name, found \042!\042. @1:13"},
    {"{ a(x:\042\042\042\042\042\042\042) }", 16, "Syntax Error: Unterminated string. @1:17"},
    {"query(\042desc\042 $a: Int) { a }", 27, "ok 1"},
};

static void test_reference_cases(void **state)
{
    (void)state;
    char got[512];
    for (size_t i = 0; i < CD_ARRAY_LEN(reference_cases); i++) {
        const parse_case *c = &reference_cases[i];
        cd_arena a;
        cd_arena_init(&a, 0);
        gql_document *d;
        gql_syntax_error err;
        int rc = gql_parse(&a, c->src, c->len, &d, &err);
        if (rc == 0)
            snprintf(got, sizeof got, "ok %u", d->ndefs);
        else
            snprintf(got, sizeof got, "%s @%u:%u", err.message, err.loc.line, err.loc.col);
        if (rc != 0) {
            assert_int_equal(rc, CD_EBAD);
            assert_null(d);
        }
        cd_arena_free(&a);
        if (strcmp(got, c->expect) != 0) {
            print_error("case %zu: %s\n  got:    %s\n  expect: %s\n", i, c->src, got, c->expect);
            fail();
        }
    }
}

/* Messages are C strings: NUL bytes from the source show as U+FFFD, and
 * long token texts are cut on a character boundary. */
static void test_messages_without_nul(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    gql_syntax_error err;
    static const char q1[] = "{ \"a\\u0000b\" }";
    assert_int_equal(gql_parse(&a, q1, sizeof q1 - 1, &d, &err), CD_EBAD);
    assert_string_equal(err.message, "Syntax Error: Expected Name, found String \"a\xEF\xBF\xBD"
                                     "b\".");
    static const char q2[] = "{ a(x: \"\\u{0\0\") }";
    assert_int_equal(gql_parse(&a, q2, sizeof q2 - 1, &d, &err), CD_EBAD);
    assert_string_equal(err.message,
                        "Syntax Error: Invalid Unicode escape sequence: \"\\u{0\xEF\xBF\xBD\".");
    /* a 300-byte string of 2-byte characters: cut before 200 bytes, whole chars */
    char q3[400];
    size_t o = (size_t)snprintf(q3, sizeof q3, "{ \"");
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(q3 + o, sizeof q3 - o, "\xC3\xA9");
    o += (size_t)snprintf(q3 + o, sizeof q3 - o, "\" }");
    assert_int_equal(gql_parse(&a, q3, o, &d, &err), CD_EBAD);
    const char *open = strchr(err.message, '"');
    assert_non_null(open);
    size_t n = strlen(open + 1) - 2; /* minus closing quote and period */
    assert_int_equal(n % 2, 0);
    assert_true(n >= 196 && n < 200);
    cd_arena_free(&a);
}

/* ---- limits ---- */

static int parse_str(const char *s, size_t n, gql_syntax_error *err)
{
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    int rc = gql_parse(&a, s, n, &d, err);
    cd_arena_free(&a);
    return rc;
}

/* "{a" x n "}" x n: n nested selection sets */
static char *nested_selections(unsigned n, size_t *len)
{
    char *s = malloc(3 * n + 1);
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        s[o++] = '{';
        s[o++] = 'a';
    }
    for (unsigned i = 0; i < n; i++)
        s[o++] = '}';
    s[o] = '\0';
    *len = o;
    return s;
}

static void test_limit_depth(void **state)
{
    (void)state;
    gql_syntax_error err;
    size_t len;
    char *s = nested_selections(GQL_MAX_PARSE_DEPTH, &len);
    assert_int_equal(parse_str(s, len, &err), 0);
    free(s);
    s = nested_selections(GQL_MAX_PARSE_DEPTH + 1, &len);
    assert_int_equal(parse_str(s, len, &err), CD_ELIMIT);
    assert_string_equal(
        err.message, "Syntax Error: Document nesting is deeper than 64 levels. Parsing aborted.");
    LOC(err.loc, 1, 2 * GQL_MAX_PARSE_DEPTH + 1);
    free(s);

    /* list values: one selection set + (MAX - 1) lists is the edge */
    char buf[1024];
    for (unsigned extra = 0; extra < 2; extra++) {
        unsigned n = GQL_MAX_PARSE_DEPTH - 1 + extra;
        size_t o = (size_t)snprintf(buf, sizeof buf, "{ f(x: ");
        for (unsigned i = 0; i < n; i++)
            buf[o++] = '[';
        for (unsigned i = 0; i < n; i++)
            buf[o++] = ']';
        o += (size_t)snprintf(buf + o, sizeof buf - o, ") }");
        assert_int_equal(parse_str(buf, o, &err), extra ? CD_ELIMIT : 0);
    }
    /* object values */
    for (unsigned extra = 0; extra < 2; extra++) {
        unsigned n = GQL_MAX_PARSE_DEPTH - 1 + extra;
        size_t o = (size_t)snprintf(buf, sizeof buf, "{ f(x: ");
        for (unsigned i = 0; i < n; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "{a:");
        o += (size_t)snprintf(buf + o, sizeof buf - o, "1");
        for (unsigned i = 0; i < n; i++)
            buf[o++] = '}';
        o += (size_t)snprintf(buf + o, sizeof buf - o, ") }");
        assert_int_equal(parse_str(buf, o, &err), extra ? CD_ELIMIT : 0);
    }
    /* list types in a variable definition (outside any selection set) */
    for (unsigned extra = 0; extra < 2; extra++) {
        unsigned n = GQL_MAX_PARSE_DEPTH + extra;
        size_t o = (size_t)snprintf(buf, sizeof buf, "query($v: ");
        for (unsigned i = 0; i < n; i++)
            buf[o++] = '[';
        o += (size_t)snprintf(buf + o, sizeof buf - o, "Int");
        for (unsigned i = 0; i < n; i++)
            buf[o++] = ']';
        o += (size_t)snprintf(buf + o, sizeof buf - o, ") { a }");
        assert_int_equal(parse_str(buf, o, &err), extra ? CD_ELIMIT : 0);
    }
    /* gql_parse_value shares the limit */
    for (unsigned extra = 0; extra < 2; extra++) {
        unsigned n = GQL_MAX_PARSE_DEPTH + extra;
        size_t o = 0;
        for (unsigned i = 0; i < n; i++)
            buf[o++] = '[';
        for (unsigned i = 0; i < n; i++)
            buf[o++] = ']';
        cd_arena a;
        cd_arena_init(&a, 0);
        gql_value v;
        assert_int_equal(gql_parse_value(&a, buf, o, true, &v, &err), extra ? CD_ELIMIT : 0);
        cd_arena_free(&a);
    }
}

static void test_limit_tokens(void **state)
{
    (void)state;
    gql_syntax_error err;
    /* "{" + n names + "}" = n + 2 tokens */
    size_t n = GQL_MAX_TOKENS - 2;
    char *s = malloc(2 * n + 8);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        s[o++] = ' ';
        s[o++] = 'a';
    }
    s[o++] = '}';
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_document *d;
    assert_int_equal(gql_parse(&a, s, o, &d, &err), 0);
    assert_int_equal(d->ntokens, GQL_MAX_TOKENS);
    assert_int_equal(d->defs[0].u.op->sel->n, n);
    cd_arena_free(&a);
    /* one more name */
    o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < n + 1; i++) {
        s[o++] = ' ';
        s[o++] = 'a';
    }
    s[o++] = '}';
    assert_int_equal(parse_str(s, o, &err), CD_ELIMIT);
    assert_string_equal(err.message,
                        "Syntax Error: Document contains more than 20000 tokens. Parsing aborted.");
    LOC(err.loc, 1, (uint32_t)o);
    free(s);
}

static void test_limit_bytes(void **state)
{
    (void)state;
    gql_syntax_error err;
    size_t n = GQL_MAX_DOCUMENT_BYTES;
    char *s = malloc(n + 1);
    memset(s, ' ', n + 1);
    memcpy(s, "{ a }", 5);
    assert_int_equal(parse_str(s, n, &err), 0);
    assert_int_equal(parse_str(s, n + 1, &err), CD_ELIMIT);
    assert_string_equal(err.message,
                        "Syntax Error: Document is larger than 262144 bytes. Parsing aborted.");
    assert_int_equal(err.loc.line, 0);
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    assert_int_equal(gql_parse_value(&a, s, n + 1, true, &v, &err), CD_ELIMIT);
    cd_arena_free(&a);
    free(s);
}

/* ---- allocation failure ---- */

static void test_oom_every_allocation(void **state)
{
    (void)state;
    /* the kitchen sinks plus a selection list long enough to leave the
     * parser's inline scratch space for the heap */
    size_t cap = sizeof kitchen_sink + sizeof sdl_kitchen_sink + 8192;
    char *doc = malloc(cap);
    size_t o = (size_t)snprintf(doc, cap, "%s%s{", kitchen_sink, sdl_kitchen_sink);
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(doc + o, cap - o, " f%d", i);
    o += (size_t)snprintf(doc + o, cap - o, " }");
    long n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        cd_arena a;
        cd_arena_init(&a, 512); /* small blocks: many allocations */
        gql_document *d = NULL;
        gql_syntax_error err;
        cd_alloc_fail_after(n);
        int rc = gql_parse(&a, doc, o, &d, &err);
        cd_alloc_fail_after(0);
        cd_arena_free(&a);
        if (rc == 0) {
            assert_non_null(d);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_null(d);
        assert_string_equal(err.message, "Out of memory while parsing.");
        failures++;
    }
    assert_true(failures > 20);
    assert_true(n < 100000);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kitchen_sink),
        cmocka_unit_test(test_sdl_kitchen_sink),
        cmocka_unit_test(test_chat_schema_parses),
        cmocka_unit_test(test_value_literals),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_reference_cases),
        cmocka_unit_test(test_messages_without_nul),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_tokens),
        cmocka_unit_test(test_limit_bytes),
        cmocka_unit_test(test_oom_every_allocation),
    };
    return cmocka_run_group_tests_name("graphql_parser", tests, NULL, NULL);
}
