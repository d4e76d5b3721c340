/* Unit tests for src/graphql/schema.c: building from SDL (built-ins,
 * extensions, roots, interfaces, deprecation, @owner, @specifiedBy), the
 * schema-validation errors with their locations, lookups and subtyping, and
 * the real chat schema (path from CHATD_SCHEMA, set by CTest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "graphql/gql_internal.h"

static gql_schema *build_ok(const char *sdl)
{
    gql_schema *s = NULL;
    char err[512];
    int rc = gql_schema_build(sdl, strlen(sdl), &s, err, sizeof err);
    if (rc != 0) fprintf(stderr, "unexpected schema error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

/* Builds `sdl`, expects CD_EBAD and an error starting with `prefix`. */
static void build_fails(const char *sdl, const char *prefix)
{
    gql_schema *s = NULL;
    char err[512];
    int rc = gql_schema_build(sdl, strlen(sdl), &s, err, sizeof err);
    if (rc == 0 || strncmp(err, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "sdl: %s\nwanted: %s\ngot (%d): %s\n", sdl, prefix, rc, err);
    assert_int_equal(rc, CD_EBAD);
    assert_null(s);
    assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
}

static char *type_str(const gql_tref *t)
{
    static char out[128];
    cd_buf b;
    cd_buf_init(&b);
    gql_print_tref(&b, t);
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    return out;
}

static void test_builtins_present(void **state)
{
    (void)state;
    gql_schema *s = build_ok("type Query { a: Int }");
    const char *names[] = {"Int",
                           "Float",
                           "String",
                           "Boolean",
                           "ID",
                           "__Schema",
                           "__Type",
                           "__Field",
                           "__InputValue",
                           "__EnumValue",
                           "__Directive",
                           "__TypeKind",
                           "__DirectiveLocation",
                           "Query"};
    for (size_t i = 0; i < CD_ARRAY_LEN(names); i++) {
        gql_type *t = gql_schema_type(s, names[i]);
        assert_non_null(t);
        assert_int_equal(t->builtin, strcmp(names[i], "Query") != 0);
        assert_ptr_equal(s->types[t->index], t);
    }
    assert_int_equal(s->ntypes, CD_ARRAY_LEN(names));
    for (uint32_t i = 1; i < s->ntypes; i++)
        assert_true(strcmp(s->types[i - 1]->name, s->types[i]->name) < 0);
    assert_ptr_equal(s->t_string, gql_schema_type(s, "String"));
    assert_ptr_equal(s->t_type, gql_schema_type(s, "__Type"));
    assert_non_null(gql_schema_directive(s, "skip"));
    assert_non_null(gql_schema_directive(s, "include"));
    assert_non_null(gql_schema_directive(s, "specifiedBy"));
    gql_directive_type *dep = gql_schema_directive(s, "deprecated");
    assert_non_null(dep);
    assert_true(dep->builtin);
    assert_int_equal(dep->locations,
                     (1u << GQL_DL_FIELD_DEFINITION) | (1u << GQL_DL_ARGUMENT_DEFINITION) |
                         (1u << GQL_DL_INPUT_FIELD_DEFINITION) | (1u << GQL_DL_ENUM_VALUE) |
                         (1u << GQL_DL_DIRECTIVE_DEFINITION));
    assert_int_equal(dep->args[0].default_value->kind, GQL_V_STRING);
    assert_string_equal(dep->args[0].default_value->u.s, "No longer supported");
    gql_directive_type *skip = gql_schema_directive(s, "skip");
    assert_string_equal(type_str(skip->args[0].type), "Boolean!");
    assert_int_equal(skip->locations, (1u << GQL_DL_FIELD) | (1u << GQL_DL_FRAGMENT_SPREAD) |
                                          (1u << GQL_DL_INLINE_FRAGMENT));
    /* introspection shape details */
    gql_type *ty = gql_schema_type(s, "__Type");
    assert_non_null(gql_type_field(ty, "specifiedByURL"));
    const gql_field *fields = gql_type_field(ty, "fields");
    const gql_input_value *inc = gql_field_arg(fields, "includeDeprecated");
    assert_non_null(inc);
    assert_int_equal(inc->default_value->kind, GQL_V_BOOL);
    assert_false(inc->default_value->u.b);
    assert_non_null(gql_field_arg(gql_type_field(ty, "inputFields"), "includeDeprecated"));
    assert_non_null(gql_field_arg(gql_type_field(ty, "enumValues"), "includeDeprecated"));
    assert_non_null(
        gql_field_arg(gql_type_field(gql_schema_type(s, "__Field"), "args"), "includeDeprecated"));
    assert_non_null(gql_type_field(gql_schema_type(s, "__Directive"), "isRepeatable"));
    assert_non_null(
        gql_type_enum_value(gql_schema_type(s, "__DirectiveLocation"), "VARIABLE_DEFINITION"));
    assert_ptr_equal(s->root[GQL_OP_QUERY], gql_schema_type(s, "Query"));
    assert_null(s->root[GQL_OP_MUTATION]);
    gql_schema_free(s);
}

static void test_meta_fields(void **state)
{
    (void)state;
    gql_schema *s = build_ok("type Query { a: Obj } type Obj { b: Int } union U = Obj "
                             "input In { x: Int }");
    gql_type *q = s->root[GQL_OP_QUERY], *o = gql_schema_type(s, "Obj");
    gql_field *f = gql_field_lookup(s, q, "__schema");
    assert_non_null(f);
    assert_string_equal(type_str(f->type), "__Schema!");
    f = gql_field_lookup(s, q, "__type");
    assert_non_null(f);
    assert_string_equal(type_str(f->type), "__Type");
    assert_string_equal(type_str(gql_field_arg(f, "name")->type), "String!");
    assert_null(gql_field_lookup(s, o, "__schema"));
    assert_string_equal(type_str(gql_field_lookup(s, o, "__typename")->type), "String!");
    assert_non_null(gql_field_lookup(s, gql_schema_type(s, "U"), "__typename"));
    assert_null(gql_field_lookup(s, gql_schema_type(s, "U"), "b"));
    assert_null(gql_field_lookup(s, gql_schema_type(s, "In"), "__typename"));
    assert_ptr_equal(gql_field_lookup(s, o, "b"), gql_type_field(o, "b"));
    assert_ptr_equal(gql_type_field(o, "b")->parent, o);
    gql_schema_free(s);
}

static void test_extensions_roots_interfaces(void **state)
{
    (void)state;
    gql_schema *s =
        build_ok("schema { query: Q }\n"
                 "type Q { node: Node }\n"
                 "interface Node { id: ID! }\n"
                 "interface Named implements Node { id: ID! name: String }\n"
                 "type A implements Node & Named { id: ID! name: String old: Int @deprecated }\n"
                 "type B implements Node { id: ID! }\n"
                 "extend type Q { more: Int @deprecated(reason: \"gone\") }\n"
                 "extend schema { mutation: M }\n"
                 "type M { x(a: Int = 1, b: String @deprecated): Int }\n"
                 "union U = A\n extend union U = B\n"
                 "enum E { X Y @deprecated } extend enum E { Z }\n"
                 "input I { a: Int } extend input I { b: [String!] = [\"x\"] }\n"
                 "scalar Url @specifiedBy(url: \"https://example.com\")\n");
    gql_type *q = gql_schema_type(s, "Q");
    assert_ptr_equal(s->root[GQL_OP_QUERY], q);
    assert_ptr_equal(s->root[GQL_OP_MUTATION], gql_schema_type(s, "M"));
    assert_null(s->root[GQL_OP_SUBSCRIPTION]);
    assert_int_equal(q->nfields, 2);
    assert_string_equal(gql_type_field(q, "more")->deprecation, "gone");
    gql_type *a = gql_schema_type(s, "A");
    assert_string_equal(gql_type_field(a, "old")->deprecation, "No longer supported");
    assert_null(gql_type_field(a, "id")->deprecation);
    assert_int_equal(a->ninterfaces, 2);
    gql_type *node = gql_schema_type(s, "Node"), *named = gql_schema_type(s, "Named");
    /* possible types of an interface are its implementing objects only */
    assert_int_equal(node->npossible, 2);
    assert_int_equal(named->npossible, 1);
    assert_true(gql_type_is_possible(node, a));
    assert_true(gql_type_is_possible(node, named));
    assert_false(gql_type_is_possible(named, gql_schema_type(s, "B")));
    gql_type *u = gql_schema_type(s, "U");
    assert_int_equal(u->npossible, 2);
    assert_true(gql_type_is_possible(u, gql_schema_type(s, "B")));
    gql_type *e = gql_schema_type(s, "E");
    assert_int_equal(e->nvalues, 3);
    assert_non_null(gql_type_enum_value(e, "Y")->deprecation);
    gql_type *in = gql_schema_type(s, "I");
    assert_int_equal(in->ninput_fields, 2);
    assert_string_equal(type_str(gql_type_input_field(in, "b")->type), "[String!]");
    assert_non_null(gql_type_input_field(in, "b")->default_value);
    gql_field *x = gql_type_field(gql_schema_type(s, "M"), "x");
    assert_int_equal(gql_field_arg(x, "a")->default_value->u.i, 1);
    assert_non_null(gql_field_arg(x, "b")->deprecation);
    assert_string_equal(gql_schema_type(s, "Url")->specified_by, "https://example.com");
    assert_true(gql_type_is_abstract(u) && gql_type_is_composite(u) && !gql_type_is_leaf(u));
    assert_true(gql_type_is_input(in) && !gql_type_is_output(in));
    gql_schema_free(s);
}

static void test_subtyping(void **state)
{
    (void)state;
    gql_schema *s = build_ok("type Query { a: Int } interface I { a: Int } type T implements I "
                             "{ a: Int } union U = T");
    cd_arena a;
    cd_arena_init(&a, 1024);
    struct {
        const char *sub, *super;
        bool want;
    } cases[] = {
        {"Int", "Int", true},       {"Int!", "Int", true},      {"Int", "Int!", false},
        {"[Int!]!", "[Int]", true}, {"[Int]", "[Int!]", false}, {"Int", "[Int]", false},
        {"[Int]", "Int", false},    {"T", "I", true},           {"T!", "U", true},
        {"I", "T", false},          {"[T]", "[I]", true},       {"String", "Int", false},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        gql_value v1, v2;
        (void)v1;
        (void)v2;
        char doc[128];
        snprintf(doc, sizeof doc, "query($a: %s, $b: %s) { a }", cases[i].sub, cases[i].super);
        gql_document *d;
        gql_syntax_error se;
        assert_int_equal(gql_parse(&a, doc, strlen(doc), &d, &se), 0);
        gql_tref *sub = gql_tref_from_ast(&a, s, d->defs[0].u.op->vars[0].type);
        gql_tref *sup = gql_tref_from_ast(&a, s, d->defs[0].u.op->vars[1].type);
        assert_non_null(sub);
        assert_non_null(sup);
        assert_string_equal(type_str(sub), cases[i].sub);
        if (gql_tref_is_subtype(s, sub, sup) != cases[i].want)
            fprintf(stderr, "case %s <: %s\n", cases[i].sub, cases[i].super);
        assert_int_equal(gql_tref_is_subtype(s, sub, sup), cases[i].want);
        assert_int_equal(gql_tref_equal(sub, sup), strcmp(cases[i].sub, cases[i].super) == 0);
    }
    gql_document *d;
    gql_syntax_error se;
    assert_int_equal(gql_parse(&a, "query($a: Nope) { a }", 21, &d, &se), 0);
    assert_null(gql_tref_from_ast(&a, s, d->defs[0].u.op->vars[0].type));
    cd_arena_free(&a);
    gql_schema_free(s);
}

static void resolver(gql_rinfo *ri)
{
    (void)ri;
}

static void test_bind_and_owner(void **state)
{
    (void)state;
    gql_schema *s = build_ok("directive @owner(role: String!) on FIELD_DEFINITION\n"
                             "type Query { a: Int @owner(role: \"user\") b: Int }");
    int ud = 0;
    assert_int_equal(gql_schema_bind(s, "Query.a", resolver, &ud), 0);
    assert_ptr_equal(gql_type_field(s->root[0], "a")->resolve, resolver);
    assert_ptr_equal(gql_type_field(s->root[0], "a")->resolve_ud, &ud);
    assert_int_equal(gql_schema_bind(s, "Query.zz", resolver, NULL), CD_ENOENT);
    assert_int_equal(gql_schema_bind(s, "Nope.a", resolver, NULL), CD_ENOENT);
    assert_int_equal(gql_schema_bind(s, "Query", resolver, NULL), CD_ENOENT);
    assert_int_equal(gql_schema_bind(s, "Query.", resolver, NULL), CD_ENOENT);
    assert_string_equal(gql_schema_owner(s, "Query.a"), "user");
    assert_null(gql_schema_owner(s, "Query.b"));
    assert_null(gql_schema_owner(s, "Query.c"));
    gql_schema_free(s);
}

static void test_build_errors(void **state)
{
    (void)state;
    build_fails("type Query { a: Nope }", "1:17: Unknown type \"Nope\".");
    build_fails("type Query { a: [Nope!] }", "1:18: Unknown type \"Nope\".");
    build_fails("type Query { a: Int }\ntype Query { b: Int }",
                "2:1: There can be only one type named \"Query\".");
    build_fails("type Query { a: Int\n a: String }",
                "2:2: Field \"Query.a\" can only be defined once.");
    build_fails("type Query { a(x: Int, x: Int): Int }",
                "1:24: Argument \"Query.a(x:)\" can only be defined once.");
    build_fails("type Query { a: In } input In { x: Int }",
                "1:17: The type of Query.a must be Output Type but got: In.");
    build_fails("type Query { a(x: Query): Int }",
                "1:19: The type of Query.a(x:) must be Input Type but got: Query.");
    build_fails("type Query { a: Int } input In { x: Query }",
                "1:37: The type of In.x must be Input Type but got: Query.");
    build_fails("type Mutation { a: Int }", "1:1: Query root type must be provided.");
    build_fails("type Query { a: Int } interface I { x: Int } type T implements I { y: Int }",
                "1:46: Interface field I.x expected but T does not provide it.");
    build_fails("type Query { a: Int } interface I { x: Int } type T implements I { x: String }",
                "1:46: Interface field I.x expects type Int but T.x is type String.");
    build_fails("type Query { a: Int } interface I { x(a: Int): Int } "
                "type T implements I { x: Int }",
                "1:54: Interface field argument I.x(a:) expected but T.x does not provide it.");
    build_fails("type Query { a: Int } interface I { x: Int } "
                "type T implements I { x(b: Int!): Int }",
                "1:46: Object field T.x includes required argument b that is missing from the "
                "Interface field I.x.");
    build_fails("type Query { a: Int } type T implements Query { a: Int }",
                "1:23: Type T must only implement Interface types, it cannot implement Query.");
    build_fails("type Query { a: Int } union U = Query | String",
                "1:23: Union type U can only include Object types, it cannot include String.");
    build_fails("type Query { a: Int @skip(if: true) }",
                "1:21: Directive \"@skip\" may not be used on FIELD_DEFINITION.");
    build_fails("type Query { a: Int @nope }", "1:21: Unknown directive \"@nope\".");
    build_fails("directive @owner(role: String!) on FIELD_DEFINITION\ntype Query { a: Int @owner }",
                "2:21: Directive \"@owner\" argument \"role\" of type \"String!\" is required");
    build_fails("type Query { a: Int } extend type Nope { b: Int }",
                "1:23: Cannot extend type \"Nope\" because it is not defined.");
    build_fails("type Query { a: Int } scalar S extend type S { b: Int }",
                "1:32: Cannot extend non-object type \"S\".");
    build_fails("type Query { a: Int } extend type Query { a: Int }",
                "1:43: Field \"Query.a\" can only be defined once.");
    build_fails("type Query { a: Int } type __Mine { a: Int }",
                "1:23: Name \"__Mine\" must not begin with \"__\"");
    build_fails("type Query { a: Int } enum E { A A }",
                "1:34: Enum value \"E.A\" can only be defined once.");
    build_fails("type Query { a: Int", "1:20: Syntax Error");
    build_fails("type Query { a: Int } type Empty", "1:23: Type Empty must define one or more");
    build_fails("schema { query: In } input In { a: Int }",
                "1:1: Query root type must be Object type, it cannot be In.");
    build_fails("type Query { a: Int } query { a }", "1:23: Executable definitions");
    build_fails("type Query { a(x: In): Int }\ninput In { b: In2! }\ninput In2 { c: [In!] d: In! }",
                "2:1: Cannot reference Input Object \"In\" within itself through a series of "
                "non-null fields: \"b.d\".");
    build_fails("type Query { a(x: Int! @deprecated): Int }",
                "1:16: Required argument Query.a(x:) cannot be deprecated.");
    build_fails("type Query { a: Int } input In { x: Int! @deprecated }",
                "1:34: Required input field In.x cannot be deprecated.");
    build_fails("directive @a on FIELD directive @a on FIELD type Query { a: Int }",
                "1:23: There can be only one directive named \"@a\".");
    /* a built-in directive may be redeclared: the SDL's replaces it */
    gql_schema *rd =
        build_ok("directive @deprecated(why: String) on FIELD_DEFINITION | ENUM_VALUE\n"
                 "type Query { a: Int @deprecated(why: \"x\") }");
    gql_directive_type *dep = gql_schema_directive(rd, "deprecated");
    assert_false(dep->builtin);
    assert_string_equal(dep->args[0].name, "why");
    uint32_t ndep = 0;
    for (uint32_t i = 0; i < rd->ndirectives; i++)
        ndep += !strcmp(rd->directives[i]->name, "deprecated");
    assert_int_equal(ndep, 1);
    gql_schema_free(rd);
    /* standard scalars may be re-declared (graphql-js allows it) */
    gql_schema *s = build_ok("scalar String type Query { a: String }");
    assert_true(gql_schema_type(s, "String")->builtin);
    gql_schema_free(s);
}

/* OneOf input objects (spec, September 2025): @oneOf marks the type; its
 * fields must be nullable and without defaults (graphql-js messages). */
static void test_oneof(void **state)
{
    (void)state;
    gql_schema *s = build_ok("type Query { a(x: In, y: Plain): Int }\n"
                             "input In @oneOf { s: String i: Int }\n"
                             "input Plain { s: String }\n"
                             "extend input In { n: In }");
    const gql_type *in = gql_schema_type(s, "In");
    assert_true(in->oneof);
    assert_int_equal(in->ninput_fields, 3);
    assert_false(gql_schema_type(s, "Plain")->oneof);
    const gql_directive_type *d = gql_schema_directive(s, "oneOf");
    assert_non_null(d);
    assert_true(d->builtin);
    assert_int_equal(d->locations, 1u << GQL_DL_INPUT_OBJECT);
    assert_int_equal(d->nargs, 0);
    gql_schema_free(s);
    /* @oneOf on an extension marks the type too */
    s = build_ok("type Query { a(x: In): Int } input In { s: String } extend input In @oneOf");
    assert_true(gql_schema_type(s, "In")->oneof);
    gql_schema_free(s);
    build_fails("type Query { a(x: In): Int }\ninput In @oneOf { s: String i: Int! }",
                "2:32: OneOf input field In.i must be nullable.");
    build_fails("type Query { a(x: In): Int }\ninput In @oneOf { s: String = \"x\" }",
                "2:19: OneOf input field In.s cannot have a default value.");
    build_fails("type Query @oneOf { a: Int }",
                "1:12: Directive \"@oneOf\" may not be used on OBJECT.");
    build_fails("type Query { a: Int } input In @oneOf(x: 1) { s: String }",
                "1:39: Unknown argument \"x\" on directive \"@oneOf\".");
    /* DIRECTIVE_DEFINITION is a location (graphql-js 16.15) */
    s = build_ok("directive @tag on DIRECTIVE_DEFINITION type Query { a: Int }");
    assert_int_equal(gql_schema_directive(s, "tag")->locations, 1u << GQL_DL_DIRECTIVE_DEFINITION);
    assert_true(gql_schema_directive(s, "deprecated")->locations &
                (1u << GQL_DL_DIRECTIVE_DEFINITION));
    gql_schema_free(s);
}

static void test_chat_schema(void **state)
{
    (void)state;
    const char *path = getenv("CHATD_SCHEMA");
    if (!path) path = "schema/chat.graphql";
    size_t len = 0;
    char *sdl = test_read_file(path, &len);
    assert_non_null(sdl);
    gql_schema *s = NULL;
    char err[512];
    int rc = gql_schema_build(sdl, len, &s, err, sizeof err);
    if (rc) fprintf(stderr, "chat schema: %s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(gql_schema_owner(s, "Mutation.createChat"), "sender");
    assert_string_equal(gql_schema_owner(s, "Query.users"), "user");
    assert_non_null(s->root[GQL_OP_MUTATION]);
    assert_non_null(s->root[GQL_OP_SUBSCRIPTION]);
    assert_non_null(gql_schema_type(s, "DateTime"));
    assert_non_null(gql_type_field(gql_schema_type(s, "Chat"), "participantIds"));
    gql_schema_free(s);
    free(sdl);
}

static void test_build_oom(void **state)
{
    (void)state;
    /* every allocation failure point ends in a clean error, never a crash
     * or a leak (ASan checks the latter) */
    const char *sdl = "type Query { a(x: Int = 1): [String!] } interface I { a: Int } "
                      "type T implements I { a: Int } union U = T enum E { A } input In { x: Int }";
    int ok = 0;
    for (long n = 1; n < 400 && !ok; n++) {
        cd_alloc_fail_after(n);
        gql_schema *s = NULL;
        char err[256];
        int rc = gql_schema_build(sdl, strlen(sdl), &s, err, sizeof err);
        cd_alloc_fail_after(0);
        if (rc == 0) {
            ok = 1;
            gql_schema_free(s);
        } else {
            if (rc != CD_ENOMEM) fprintf(stderr, "n=%ld: %s\n", n, err);
            assert_int_equal(rc, CD_ENOMEM);
            assert_null(s);
        }
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_present),
        cmocka_unit_test(test_meta_fields),
        cmocka_unit_test(test_extensions_roots_interfaces),
        cmocka_unit_test(test_subtyping),
        cmocka_unit_test(test_bind_and_owner),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_oneof),
        cmocka_unit_test(test_chat_schema),
        cmocka_unit_test(test_build_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
