/*
 * Unit tests for src/graphql/introspect.c: the prebuilt __schema tree of a
 * schema (shape of __Type / __Field / __InputValue / __EnumValue /
 * __Directive objects, wrapper types, shared named-type nodes, printed
 * default values) and the cache in the schema. The end-to-end check against
 * graphql-js (getIntrospectionQuery → buildClientSchema → printSchema) is in
 * tests/graphql-diff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graphql/gql_internal.h"

static const char *const SDL =
    "\"\"\"Test schema\"\"\"\n"
    "schema { query: Q mutation: M }\n"
    "\"a date\" scalar Date @specifiedBy(url: \"https://example.com/date\")\n"
    "directive @tag(name: String = \"x\") repeatable on FIELD | QUERY\n"
    "enum Color { RED \"greenish\" GREEN BLUE @deprecated(reason: \"gone\") }\n"
    "interface Node { id: ID! }\n"
    "type Thing implements Node {\n"
    "  id: ID!\n"
    "  \"the name\" name(upper: Boolean = false, old: Int @deprecated): String\n"
    "  tags: [String!]!\n"
    "  legacy: Int @deprecated(reason: \"use tags\")\n"
    "}\n"
    "type Other implements Node { id: ID! }\n"
    "union U = Thing | Other\n"
    "input In { a: Int = 3 b: [Float] = 2 c: Color = GREEN s: String = \"q\\\"\" id: ID = 12\n"
    "  n: In2 = {y: 1.50} old: Int @deprecated }\n"
    "input In2 { x: Boolean = true y: Float }\n"
    "input Pick @oneOf { a: Int b: String }\n"
    "input Nums { a: Float = 1e21 b: Float = 0.0000001 c: Float = 123456789012345680000\n"
    "  d: Float = 0.000001 e: Float = -2.50 f: [ID] = [\"x\", \"-7\", \"07\"] g: String = "
    "\"\\u0001\\n\" }\n"
    "type Q { thing(in: In, list: [In2!] = [{y: 1e3}]): Thing u: U n: Node d: Date nums(n: Nums): "
    "Int pick(p: Pick): Int }\n"
    "type M { noop: Boolean }\n";

typedef struct fixture {
    gql_schema *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256] = "";
    int rc = gql_schema_build(SDL, strlen(SDL), &f->s, err, sizeof err);
    if (rc != 0) fprintf(stderr, "schema: %s\n", err);
    assert_int_equal(rc, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gql_schema_free(f->s);
    free(f);
    return 0;
}

static const gql_value *get(const gql_value *o, const char *name)
{
    assert_non_null(o);
    assert_int_equal(o->kind, GQL_V_OBJECT);
    const gql_value *v = gql_obj_get(o, name);
    if (!v) fail_msg("no property %s", name);
    return v;
}

static const char *str(const gql_value *v)
{
    if (v->kind == GQL_V_NULL) return NULL;
    assert_int_equal(v->kind, GQL_V_STRING);
    return v->u.s;
}

static const gql_value *find_named(const gql_value *list, const char *name)
{
    assert_int_equal(list->kind, GQL_V_LIST);
    for (uint32_t i = 0; i < list->len; i++) {
        const char *n = str(get(&list->u.items[i], "name"));
        if (n && strcmp(n, name) == 0) return &list->u.items[i];
    }
    return NULL;
}

static void test_schema_root(void **state)
{
    fixture *f = *state;
    const gql_value *sch = gql_introspection_schema(f->s);
    assert_non_null(sch);
    assert_string_equal(str(get(sch, "__typename")), "__Schema");
    assert_string_equal(str(get(sch, "description")), "Test schema");
    assert_string_equal(str(get(get(sch, "queryType"), "name")), "Q");
    assert_string_equal(str(get(get(sch, "mutationType"), "name")), "M");
    assert_int_equal(get(sch, "subscriptionType")->kind, GQL_V_NULL);
    /* every named type, built-ins and introspection types included */
    const gql_value *types = get(sch, "types");
    assert_int_equal(types->len, f->s->ntypes);
    assert_non_null(find_named(types, "String"));
    assert_non_null(find_named(types, "__Directive"));
    assert_non_null(find_named(types, "Thing"));
    /* built once: the second call returns the cached tree */
    assert_ptr_equal(gql_introspection_schema(f->s), sch);
    /* directives: built-ins plus @tag */
    const gql_value *tag = find_named(get(sch, "directives"), "tag");
    assert_non_null(tag);
    assert_string_equal(str(get(tag, "__typename")), "__Directive");
    assert_true(get(tag, "isRepeatable")->u.b);
    const gql_value *locs = get(tag, "locations");
    assert_int_equal(locs->len, 2);
    assert_string_equal(str(&locs->u.items[0]), "QUERY");
    assert_string_equal(str(&locs->u.items[1]), "FIELD");
    const gql_value *targ = find_named(get(tag, "args"), "name");
    assert_string_equal(str(get(targ, "defaultValue")), "\"x\"");
    const gql_value *skip = find_named(get(sch, "directives"), "skip");
    assert_non_null(skip);
    assert_false(get(skip, "isRepeatable")->u.b);
    /* graphql-js 16.15: directives carry isDeprecated / deprecationReason */
    assert_false(get(skip, "isDeprecated")->u.b);
    assert_int_equal(get(skip, "deprecationReason")->kind, GQL_V_NULL);
    const gql_value *oneof = find_named(get(sch, "directives"), "oneOf");
    assert_non_null(oneof);
    assert_int_equal(get(oneof, "locations")->len, 1);
    assert_string_equal(str(&get(oneof, "locations")->u.items[0]), "INPUT_OBJECT");
}

/* __Type.isOneOf: true / false on input objects, null on other kinds. */
static void test_is_oneof(void **state)
{
    fixture *f = *state;
    const gql_value *pick = gql_introspection_type(f->s, "Pick");
    assert_non_null(pick);
    assert_int_equal(get(pick, "isOneOf")->kind, GQL_V_BOOL);
    assert_true(get(pick, "isOneOf")->u.b);
    const gql_value *in = gql_introspection_type(f->s, "In");
    assert_int_equal(get(in, "isOneOf")->kind, GQL_V_BOOL);
    assert_false(get(in, "isOneOf")->u.b);
    assert_int_equal(get(gql_introspection_type(f->s, "Thing"), "isOneOf")->kind, GQL_V_NULL);
    assert_int_equal(get(gql_introspection_type(f->s, "Color"), "isOneOf")->kind, GQL_V_NULL);
    /* a wrapper type: [In2!] of Q.thing(list:) */
    const gql_value *thing = find_named(get(gql_introspection_type(f->s, "Q"), "fields"), "thing");
    const gql_value *list = get(find_named(get(thing, "args"), "list"), "type");
    assert_string_equal(str(get(list, "kind")), "LIST");
    assert_int_equal(get(list, "isOneOf")->kind, GQL_V_NULL);
}

static void test_object_type(void **state)
{
    fixture *f = *state;
    const gql_value *t = gql_introspection_type(f->s, "Thing");
    assert_non_null(t);
    assert_string_equal(str(get(t, "__typename")), "__Type");
    assert_string_equal(str(get(t, "kind")), "OBJECT");
    assert_int_equal(get(t, "enumValues")->kind, GQL_V_NULL);
    assert_int_equal(get(t, "inputFields")->kind, GQL_V_NULL);
    assert_int_equal(get(t, "possibleTypes")->kind, GQL_V_NULL);
    assert_int_equal(get(t, "ofType")->kind, GQL_V_NULL);
    const gql_value *ifs = get(t, "interfaces");
    assert_int_equal(ifs->len, 1);
    /* shared node: the interface entry is the Node type's own object */
    assert_ptr_equal(ifs->u.items[0].u.fields, gql_introspection_type(f->s, "Node")->u.fields);

    /* the full list, deprecated fields included, in declaration order */
    const gql_value *fields = get(t, "fields");
    assert_int_equal(fields->len, 4);
    assert_string_equal(str(get(&fields->u.items[0], "name")), "id");
    assert_string_equal(str(get(&fields->u.items[3], "name")), "legacy");
    assert_true(get(&fields->u.items[3], "isDeprecated")->u.b);
    assert_string_equal(str(get(&fields->u.items[3], "deprecationReason")), "use tags");

    /* tags: [String!]! as NON_NULL → LIST → NON_NULL → String */
    const gql_value *ty = get(find_named(fields, "tags"), "type");
    assert_string_equal(str(get(ty, "kind")), "NON_NULL");
    assert_null(str(get(ty, "name")));
    ty = get(ty, "ofType");
    assert_string_equal(str(get(ty, "kind")), "LIST");
    ty = get(ty, "ofType");
    assert_string_equal(str(get(ty, "kind")), "NON_NULL");
    ty = get(ty, "ofType");
    assert_string_equal(str(get(ty, "kind")), "SCALAR");
    assert_string_equal(str(get(ty, "name")), "String");

    const gql_value *name = find_named(fields, "name");
    assert_string_equal(str(get(name, "description")), "the name");
    assert_false(get(name, "isDeprecated")->u.b);
    const gql_value *nargs = get(name, "args");
    assert_int_equal(nargs->len, 2);
    assert_string_equal(str(get(&nargs->u.items[0], "defaultValue")), "false");
    assert_string_equal(str(get(&nargs->u.items[1], "deprecationReason")), "No longer supported");
}

static void test_abstract_enum_scalar(void **state)
{
    fixture *f = *state;
    const gql_value *u = gql_introspection_type(f->s, "U");
    assert_string_equal(str(get(u, "kind")), "UNION");
    assert_int_equal(get(u, "possibleTypes")->len, 2);
    assert_int_equal(get(u, "fields")->kind, GQL_V_NULL);
    const gql_value *n = gql_introspection_type(f->s, "Node");
    assert_string_equal(str(get(n, "kind")), "INTERFACE");
    assert_non_null(find_named(get(n, "possibleTypes"), "Other"));
    assert_int_equal(get(n, "interfaces")->len, 0);

    const gql_value *c = gql_introspection_type(f->s, "Color");
    assert_string_equal(str(get(c, "kind")), "ENUM");
    const gql_value *vals = get(c, "enumValues");
    assert_int_equal(vals->len, 3);
    assert_string_equal(str(get(&vals->u.items[0], "__typename")), "__EnumValue");
    assert_string_equal(str(get(&vals->u.items[1], "description")), "greenish");
    assert_string_equal(str(get(&vals->u.items[2], "deprecationReason")), "gone");

    const gql_value *d = gql_introspection_type(f->s, "Date");
    assert_string_equal(str(get(d, "kind")), "SCALAR");
    assert_string_equal(str(get(d, "description")), "a date");
    assert_string_equal(str(get(d, "specifiedByURL")), "https://example.com/date");
    assert_null(str(get(gql_introspection_type(f->s, "Int"), "specifiedByURL")));

    assert_null(gql_introspection_type(f->s, "Nope"));
}

/* defaultValue is printed like graphql-js: coerced to the type, then printed. */
static void test_default_values(void **state)
{
    fixture *f = *state;
    const gql_value *in = get(gql_introspection_type(f->s, "In"), "inputFields");
    assert_string_equal(str(get(find_named(in, "a"), "defaultValue")), "3");
    assert_string_equal(str(get(find_named(in, "b"), "defaultValue")), "[2]");
    assert_string_equal(str(get(find_named(in, "c"), "defaultValue")), "GREEN");
    assert_string_equal(str(get(find_named(in, "s"), "defaultValue")), "\"q\\\"\"");
    assert_string_equal(str(get(find_named(in, "id"), "defaultValue")), "12");
    assert_string_equal(str(get(find_named(in, "n"), "defaultValue")), "{x: true, y: 1.5}");
    assert_null(str(get(find_named(in, "old"), "defaultValue")));
    assert_true(get(find_named(in, "old"), "isDeprecated")->u.b);

    const gql_value *q = get(gql_introspection_type(f->s, "Q"), "fields");
    const gql_value *args = get(find_named(q, "thing"), "args");
    assert_string_equal(str(get(find_named(args, "list"), "defaultValue")), "[{x: true, y: 1000}]");
    assert_null(str(get(find_named(args, "in"), "defaultValue")));
}

/* Numbers print as JavaScript's Number#toString; IDs that look like integers
 * print bare; strings escape control characters like graphql-js's printString. */
static void test_default_value_formats(void **state)
{
    fixture *f = *state;
    const gql_value *in = get(gql_introspection_type(f->s, "Nums"), "inputFields");
    assert_string_equal(str(get(find_named(in, "a"), "defaultValue")), "1e+21");
    assert_string_equal(str(get(find_named(in, "b"), "defaultValue")), "1e-7");
    assert_string_equal(str(get(find_named(in, "c"), "defaultValue")), "123456789012345680000");
    assert_string_equal(str(get(find_named(in, "d"), "defaultValue")), "0.000001");
    assert_string_equal(str(get(find_named(in, "e"), "defaultValue")), "-2.5");
    assert_string_equal(str(get(find_named(in, "f"), "defaultValue")), "[\"x\", -7, \"07\"]");
    assert_string_equal(str(get(find_named(in, "g"), "defaultValue")), "\"\\u0001\\n\"");
}

/* Built-in scalars nothing refers to are not listed (like graphql-js). */
static void test_unreferenced_builtin_scalar(void **state)
{
    (void)state;
    static const char sdl[] = "type Query { a: String }";
    gql_schema *s = NULL;
    char err[128];
    assert_int_equal(gql_schema_build(sdl, sizeof sdl - 1, &s, err, sizeof err), 0);
    assert_null(gql_introspection_type(s, "Float"));
    assert_null(gql_introspection_type(s, "ID"));
    assert_non_null(gql_introspection_type(s, "String"));
    assert_non_null(gql_introspection_type(s, "Boolean")); /* used by __Field.isDeprecated */
    const gql_value *types = get(gql_introspection_schema(s), "types");
    assert_null(find_named(types, "Int"));
    assert_non_null(find_named(types, "Query"));
    gql_schema_free(s);
}

static void on_done(gql_exec *ex, void *ud)
{
    (void)ex;
    *(int *)ud += 1;
}

static void run_query(gql_schema *s, const char *q, cd_buf *out)
{
    int done = 0;
    gql_exec *ex = gql_exec_new(s, NULL);
    assert_non_null(ex);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, NULL), 0);
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
    assert_int_equal(done, 1);
    cd_buf_reset(out);
    gql_exec_write_result(ex, out);
    gql_exec_free(ex);
}

/* Through the executor: the bound resolvers drop deprecated entries unless
 * includeDeprecated is true; __typename comes from the prebuilt objects. */
static void test_include_deprecated_through_exec(void **state)
{
    fixture *f = *state;
    cd_buf b;
    cd_buf_init(&b);
    run_query(f->s,
              "{ __type(name: \"Thing\") { fields { name } all: fields(includeDeprecated: true)"
              " { name } } }",
              &b);
    assert_string_equal(b.data, "{\"data\":{\"__type\":{\"fields\":[{\"name\":\"id\"},"
                                "{\"name\":\"name\"},{\"name\":\"tags\"}],\"all\":["
                                "{\"name\":\"id\"},{\"name\":\"name\"},{\"name\":\"tags\"},"
                                "{\"name\":\"legacy\"}]}}}");
    run_query(f->s,
              "{ __type(name: \"Color\") { enumValues { name } } t: __type(name: \"Thing\") {"
              " fields(includeDeprecated: true) { name args { name } } } }",
              &b);
    assert_non_null(strstr(b.data, "\"enumValues\":[{\"name\":\"RED\"},{\"name\":\"GREEN\"}]"));
    assert_non_null(strstr(b.data, "\"args\":[{\"name\":\"upper\"}]"));
    run_query(f->s,
              "{ __type(name: \"In\") { inputFields { name } } __schema { queryType {"
              " __typename name } } }",
              &b);
    assert_null(strstr(b.data, "\"old\""));
    assert_non_null(strstr(b.data, "{\"__typename\":\"__Type\",\"name\":\"Q\"}"));
    cd_buf_free(&b);
}

/* Every allocation of the lazy build may fail: the call answers NULL, leaves
 * nothing half-built behind, and a later call succeeds. */
static void test_build_allocation_failures(void **state)
{
    (void)state;
    int succeeded_at = 0;
    for (long n = 1; n < 2000 && !succeeded_at; n++) {
        gql_schema *s = NULL;
        char err[256];
        assert_int_equal(gql_schema_build(SDL, strlen(SDL), &s, err, sizeof err), 0);
        cd_alloc_fail_after(n);
        const gql_value *v = gql_introspection_schema(s);
        cd_alloc_fail_after(0);
        if (v) {
            succeeded_at = (int)n;
        } else {
            assert_null(s->introspection);
            assert_null(s->introspection_types);
            assert_non_null(gql_introspection_schema(s)); /* retry works */
            assert_non_null(gql_introspection_type(s, "Thing"));
        }
        gql_schema_free(s);
    }
    assert_true(succeeded_at > 1);
}

/* The introspection types and their includeDeprecated arguments exist, so the
 * filtering resolvers got bound. */
static void test_include_deprecated_bound(void **state)
{
    fixture *f = *state;
    const char *coords[][2] = {{"__Type", "fields"},
                               {"__Type", "enumValues"},
                               {"__Type", "inputFields"},
                               {"__Field", "args"},
                               {"__Directive", "args"}};
    for (size_t i = 0; i < CD_ARRAY_LEN(coords); i++) {
        const gql_type *t = gql_schema_type(f->s, coords[i][0]);
        assert_non_null(t);
        const gql_field *fd = gql_type_field(t, coords[i][1]);
        assert_non_null(fd);
        assert_non_null(gql_field_arg(fd, "includeDeprecated"));
        assert_non_null(fd->resolve);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_oneof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abstract_enum_scalar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_deprecated_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_value_formats, setup, teardown),
        cmocka_unit_test(test_unreferenced_builtin_scalar),
        cmocka_unit_test_setup_teardown(test_include_deprecated_through_exec, setup, teardown),
        cmocka_unit_test(test_build_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
