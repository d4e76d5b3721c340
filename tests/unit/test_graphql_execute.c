/* Unit tests for src/graphql/execute.c: default and async resolvers, serial
 * mutations, null propagation, error paths/locations, directives, fragments
 * on abstract types, ownership, operation selection, free-while-pending,
 * allocation failure over a whole execution, and the chat schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "graphql/execute_internal.h"
#include "graphql/gql_internal.h"

static const char *SDL =
    "directive @owner(role: String!) on FIELD_DEFINITION\n"
    "scalar DateTime\n"
    "scalar JSON\n"
    "enum Color { RED GREEN BLUE }\n"
    "interface Node { id: ID! }\n"
    "type User implements Node { id: ID! name: String! email: String friends: [User!] age: Int "
    "color: Color }\n"
    "type Bot implements Node { id: ID! model: String }\n"
    "union Actor = User | Bot\n"
    "input Filter { name: String!, limit: Int = 10, colors: [Color!] }\n"
    "type Obj { a: String! b: String list: [Int!] inner: Obj }\n"
    "type Pair { x: Int! y: Int! z: String w: String! inner: Pair }\n"
    "type Query {\n"
    "  user: User\n  users: [User!]!\n  nodes: [Node]\n  actors: [Actor!]\n"
    "  obj: Obj\n  objs: [Obj]\n  nn: String!\n  big: Int\n  frac: Float\n  color: Color\n"
    "  echoInt(v: Int): Int\n  echoFloat(v: Float): Float\n  echoId(v: ID): ID\n"
    "  echoColor(v: Color): Color\n  echoList(v: [Int]): [Int]\n  echoFilter(f: Filter): String\n"
    "  echoDate(v: DateTime): DateTime\n  echoJson(v: JSON): JSON\n  echoStr(v: String! = \"d\"): "
    "String\n"
    "  slow(n: Int): Int\n  slowObj(n: Int): Obj\n  pair: Pair\n  fail: String\n  failNN: String!\n"
    "  owned: String @owner(role: \"user\")\n  sent: String @owner(role: \"sender\")\n"
    "}\n"
    "type Mutation { step(n: Int!): Int  stepNN(n: Int!): Int! }\n"
    "type Subscription { tick(n: Int, tag: String): Int }\n";

static const char *ROOT =
    "{user: {__typename: \"User\", id: \"u1\", name: \"Ann\", email: null, age: 30, color: \"RED\","
    " friends: [{id: \"u2\", name: \"Bob\"}, {id: \"u3\", name: \"Cy\"}]},"
    " users: [{id: 1, name: \"A\"}, {id: \"2\", name: \"B\"}],"
    " nodes: [{__typename: \"User\", id: \"u1\", name: \"Ann\"}, {__typename: \"Bot\", id: \"b1\","
    " model: \"T800\"}, null],"
    " actors: [{__typename: \"Bot\", id: \"b2\", model: \"R2\"}, {__typename: \"User\", id: \"u9\","
    " name: \"Zed\"}],"
    " obj: {a: \"x\", b: \"y\", list: [1, 2, 3], inner: {a: null, b: \"q\"}},"
    " objs: [{a: \"1\"}, {a: null}, {a: \"3\"}],"
    " nn: null, big: 2147483648, frac: 1.5, color: \"PURPLE\", pair: {inner: {}}}";

typedef struct fixture {
    gql_schema *s;
    cd_arena a;
    gql_value root;
} fixture;

/* ---- resolvers ---- */

static gql_rinfo *queue[64];
static int nqueue;
static int start_log[16];
static int nstart;

static void r_echo(gql_rinfo *ri)
{
    const gql_value *v = gql_ri_arg(ri, "v");
    gql_ri_return(ri, v ? *v : gql_null());
}

static void r_echo_filter(gql_rinfo *ri)
{
    const gql_value *f = gql_ri_arg(ri, "f");
    cd_buf b;
    cd_buf_init(&b);
    if (f) gql_print_value(&b, f);
    gql_value s = gql_str_dup(gql_ri_arena(ri), b.data ? b.data : "", b.len);
    cd_buf_free(&b);
    gql_ri_return(ri, f ? s : gql_null());
}

static void r_queue(gql_rinfo *ri)
{
    const gql_value *n = gql_ri_arg(ri, "n");
    if (nstart < 16) start_log[nstart++] = n && n->kind == GQL_V_INT ? (int)n->u.i : -1;
    queue[nqueue++] = ri;
}

static void r_fail(gql_rinfo *ri)
{
    gql_ri_error(ri, "BOOM", "failed %s", gql_ri_field_name(ri));
}

static void r_fail_ext(gql_rinfo *ri)
{
    gql_value *ext = gql_obj_new(gql_ri_arena(ri), 1);
    gql_obj_set(ext, 0, "retry", gql_bool(true));
    gql_ri_error_ext(ri, "NOPE", ext, "nope");
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256];
    int rc = gql_schema_build(SDL, strlen(SDL), &f->s, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "schema: %s\n", err);
        return -1;
    }
    const char *echo[] = {"Query.echoInt",  "Query.echoFloat", "Query.echoId",   "Query.echoColor",
                          "Query.echoList", "Query.echoDate",  "Query.echoJson", "Query.echoStr"};
    for (size_t i = 0; i < sizeof echo / sizeof *echo; i++)
        assert_int_equal(gql_schema_bind(f->s, echo[i], r_echo, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Query.echoFilter", r_echo_filter, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Query.slow", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Query.slowObj", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Mutation.step", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Pair.x", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Pair.y", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Pair.z", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Mutation.stepNN", r_queue, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Query.fail", r_fail, NULL), 0);
    assert_int_equal(gql_schema_bind(f->s, "Query.failNN", r_fail_ext, NULL), 0);
    cd_arena_init(&f->a, 4096);
    gql_syntax_error se;
    rc = gql_parse_value(&f->a, ROOT, strlen(ROOT), true, &f->root, &se);
    if (rc != 0) {
        fprintf(stderr, "root: %s\n", se.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gql_schema_free(f->s);
    cd_arena_free(&f->a);
    free(f);
    return 0;
}

static void on_done(gql_exec *ex, void *ud)
{
    (void)ex;
    (*(int *)ud)++;
}

/* Parses a GraphQL-literal value (quoted strings) for variables: the
 * executor treats them like JSON values. */
static gql_value lit(cd_arena *a, const char *text)
{
    gql_value v;
    gql_syntax_error se;
    int rc = gql_parse_value(a, text, strlen(text), true, &v, &se);
    if (rc != 0) fprintf(stderr, "lit %s: %s\n", text, se.message);
    assert_int_equal(rc, 0);
    return v;
}

static char result[16384];

/* prepare + variables + run (synchronously) + write; returns the JSON. */
static const char *run_full(fixture *f, const char *q, const char *op, const char *vars,
                            const char *service, bool no_introspection)
{
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_non_null(ex);
    cd_arena va;
    cd_arena_init(&va, 1024);
    int rc = gql_exec_prepare(ex, q, strlen(q), op);
    if (rc == 0 && vars) {
        gql_value v = lit(&va, vars);
        rc = gql_exec_set_variables(ex, &v);
    }
    if (rc == 0) {
        int done = 0;
        gql_exec_opts o = {.service = service, .no_introspection = no_introspection};
        assert_int_equal(gql_exec_run(ex, &f->root, &o, on_done, &done), 0);
        assert_int_equal(done, 1);
        assert_true(gql_exec_has_data(ex));
    } else {
        assert_false(gql_exec_has_data(ex));
    }
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    snprintf(result, sizeof result, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    gql_exec_free(ex);
    cd_arena_free(&va);
    return result;
}

static const char *run_q(fixture *f, const char *q)
{
    return run_full(f, q, NULL, NULL, NULL, false);
}

static const char *run_v(fixture *f, const char *q, const char *vars)
{
    return run_full(f, q, NULL, vars, NULL, false);
}

/* ---- tests ---- */

static void test_default_resolvers(void **state)
{
    fixture *f = *state;
    assert_string_equal(
        run_q(f, "{ user { id name email age color friends { name } } }"),
        "{\"data\":{\"user\":{\"id\":\"u1\",\"name\":\"Ann\",\"email\":null,\"age\":30,"
        "\"color\":\"RED\",\"friends\":[{\"name\":\"Bob\"},{\"name\":\"Cy\"}]}}}");
    /* aliases, merged fields, __typename, ID from int, list order */
    assert_string_equal(
        run_q(f, "{ a: user { n: name } user { id } a: user { id __typename } users { id } }"),
        "{\"data\":{\"a\":{\"n\":\"Ann\",\"id\":\"u1\",\"__typename\":\"User\"},"
        "\"user\":{\"id\":\"u1\"},\"users\":[{\"id\":\"1\"},{\"id\":\"2\"}]}}");
    /* missing property → null; __typename on the root */
    assert_string_equal(
        run_q(f, "{ __typename obj { inner { inner { a } } } }"),
        "{\"data\":{\"__typename\":\"Query\",\"obj\":{\"inner\":{\"inner\":null}}}}");
}

static void test_leaf_result_coercion(void **state)
{
    fixture *f = *state;
    assert_string_equal(run_q(f, "{ big }"),
                        "{\"data\":{\"big\":null},\"errors\":[{\"message\":\"Int cannot represent "
                        "non 32-bit signed integer value: 2147483648\",\"locations\":[{\"line\":1,"
                        "\"column\":3}],\"path\":[\"big\"]}]}");
    assert_string_equal(run_q(f, "{ frac color }"),
                        "{\"data\":{\"frac\":1.5,\"color\":null},\"errors\":[{\"message\":\"Enum "
                        "\\\"Color\\\" cannot represent value: \\\"PURPLE\\\"\",\"locations\":[{"
                        "\"line\":1,\"column\":8}],\"path\":[\"color\"]}]}");
}

static void test_null_propagation(void **state)
{
    fixture *f = *state;
    /* non-null root field null → data null */
    assert_string_equal(run_q(f, "{ user { id } nn }"),
                        "{\"data\":null,\"errors\":[{\"message\":\"Cannot return null for "
                        "non-nullable field Query.nn.\",\"locations\":[{\"line\":1,\"column\":"
                        "15}],\"path\":[\"nn\"]}]}");
    /* non-null field inside a nullable object: the object becomes null */
    assert_string_equal(run_q(f, "{ obj { inner { a b } b } }"),
                        "{\"data\":{\"obj\":{\"inner\":null,\"b\":\"y\"}},\"errors\":[{\"message\":"
                        "\"Cannot return null for non-nullable field Obj.a.\",\"locations\":[{"
                        "\"line\":1,\"column\":17}],\"path\":[\"obj\",\"inner\",\"a\"]}]}");
    /* list of nullable objects: only the item becomes null; index in path */
    assert_string_equal(
        run_q(f, "{ objs { a } }"),
        "{\"data\":{\"objs\":[{\"a\":\"1\"},null,{\"a\":\"3\"}]},\"errors\":[{"
        "\"message\":\"Cannot return null for non-nullable field Obj.a.\","
        "\"locations\":[{\"line\":1,\"column\":10}],\"path\":[\"objs\",1,\"a\"]}]}");
    /* non-null list item null → the whole list null */
    assert_string_equal(run_v(f, "query($l: [Int]) { echoList(v: $l) }", "{l: [1, null]}"),
                        "{\"data\":{\"echoList\":[1,null]}}");
    /* resolver error with code and ext on a non-null root field → data null */
    assert_string_equal(
        run_q(f, "{ fail failNN }"),
        "{\"data\":null,\"errors\":[{\"message\":\"failed fail\",\"locations\":[{"
        "\"line\":1,\"column\":3}],\"path\":[\"fail\"],\"extensions\":{\"code\":"
        "\"BOOM\"}},{\"message\":\"nope\",\"locations\":[{\"line\":1,\"column\":8}],"
        "\"path\":[\"failNN\"],\"extensions\":{\"code\":\"NOPE\",\"retry\":true}}]}");
    /* like graphql-js, fields after a synchronous non-null failure are not run */
    assert_string_equal(run_q(f, "{ failNN fail }"),
                        "{\"data\":null,\"errors\":[{\"message\":\"nope\",\"locations\":[{"
                        "\"line\":1,\"column\":3}],\"path\":[\"failNN\"],\"extensions\":{\"code\":"
                        "\"NOPE\",\"retry\":true}}]}");
}

static void test_directives(void **state)
{
    fixture *f = *state;
    const char *q = "query($s: Boolean!, $i: Boolean = true) { user { id @skip(if: $s) "
                    "name @include(if: $i) ... @include(if: false) { age } } }";
    assert_string_equal(run_v(f, q, "{s: true}"), "{\"data\":{\"user\":{\"name\":\"Ann\"}}}");
    assert_string_equal(run_v(f, q, "{s: false, i: false}"),
                        "{\"data\":{\"user\":{\"id\":\"u1\"}}}");
    assert_string_equal(run_q(f, "{ user { id @skip(if: true) @include(if: true) name } }"),
                        "{\"data\":{\"user\":{\"name\":\"Ann\"}}}");
}

static void test_fragments_abstract(void **state)
{
    fixture *f = *state;
    assert_string_equal(
        run_q(f, "{ nodes { __typename id ...U ... on Bot { model } } } "
                 "fragment U on User { name }"),
        "{\"data\":{\"nodes\":[{\"__typename\":\"User\",\"id\":\"u1\",\"name\":\"Ann\"},"
        "{\"__typename\":\"Bot\",\"id\":\"b1\",\"model\":\"T800\"},null]}}");
    assert_string_equal(
        run_q(f, "{ actors { ... on Node { id } ... on User { name } ...B } } "
                 "fragment B on Bot { model ... on Node { id } }"),
        "{\"data\":{\"actors\":[{\"id\":\"b2\",\"model\":\"R2\"},{\"id\":\"u9\",\"name\":"
        "\"Zed\"}]}}");
    /* an abstract value without __typename is a field error */
    fixture g = *f;
    cd_arena a;
    cd_arena_init(&a, 1024);
    g.root = lit(&a, "{nodes: [{id: \"x\"}]}");
    const char *r = run_q(&g, "{ nodes { id } }");
    assert_non_null(strstr(r, "{\"data\":{\"nodes\":[null]},\"errors\":[{\"message\":\"Abstract "
                              "type \\\"Node\\\" must resolve to an Object type at runtime"));
    assert_non_null(strstr(r, "\"path\":[\"nodes\",0]"));
    g.root = lit(&a, "{nodes: [{__typename: \"Obj\"}], actors: [{__typename: \"Nope\"}]}");
    r = run_q(&g, "{ nodes { id } actors { __typename } }");
    assert_non_null(strstr(r, "Runtime Object type \\\"Obj\\\" is not a possible type for "
                              "\\\"Node\\\""));
    assert_non_null(strstr(r, "\"data\":{\"nodes\":[null],\"actors\":null}"));
    cd_arena_free(&a);
}

static void test_variable_coercion_edges(void **state)
{
    fixture *f = *state;
    const char *qi = "query($v: Int) { echoInt(v: $v) }";
    assert_string_equal(run_v(f, qi, "{v: 2147483647}"), "{\"data\":{\"echoInt\":2147483647}}");
    assert_string_equal(run_v(f, qi, "{v: -2147483648}"), "{\"data\":{\"echoInt\":-2147483648}}");
    assert_string_equal(run_v(f, qi, "{v: 1.0}"), "{\"data\":{\"echoInt\":1}}");
    assert_string_equal(run_v(f, qi, "{v: 2147483648}"),
                        "{\"errors\":[{\"message\":\"Variable \\\"$v\\\" got invalid value "
                        "2147483648; Int cannot represent non 32-bit signed integer value: "
                        "2147483648\",\"locations\":[{\"line\":1,\"column\":7}],\"extensions\":{"
                        "\"code\":\"BAD_USER_INPUT\"}}]}");
    assert_non_null(strstr(run_v(f, qi, "{v: -2147483649}"), "non 32-bit signed integer value: "
                                                             "-2147483649"));
    assert_non_null(strstr(run_v(f, qi, "{v: 1.5}"),
                           "got invalid value 1.5; Int cannot represent non-integer value: 1.5"));
    assert_non_null(strstr(run_v(f, qi, "{v: \"abc\"}"),
                           "Variable \\\"$v\\\" got invalid value \\\"abc\\\"; Int cannot "
                           "represent non-integer value: \\\"abc\\\""));
    assert_string_equal(run_v(f, "query($v: Float) { echoFloat(v: $v) }", "{v: 3}"),
                        "{\"data\":{\"echoFloat\":3}}");
    assert_string_equal(run_v(f, "query($v: ID) { echoId(v: $v) }", "{v: 42}"),
                        "{\"data\":{\"echoId\":\"42\"}}");
    assert_non_null(strstr(run_v(f, "query($v: ID) { echoId(v: $v) }", "{v: true}"),
                           "ID cannot represent value: true"));
    assert_string_equal(run_v(f, "query($v: Color) { echoColor(v: $v) }", "{v: \"BLUE\"}"),
                        "{\"data\":{\"echoColor\":\"BLUE\"}}");
    assert_non_null(strstr(run_v(f, "query($v: Color) { echoColor(v: $v) }", "{v: \"PINK\"}"),
                           "Value \\\"PINK\\\" does not exist in \\\"Color\\\" enum."));
    /* null / missing for non-null */
    assert_non_null(strstr(run_v(f, "query($v: Int!) { echoInt(v: $v) }", "{v: null}"),
                           "Variable \\\"$v\\\" of non-null type \\\"Int!\\\" must not be null."));
    assert_non_null(strstr(run_v(f, "query($v: Int!) { echoInt(v: $v) }", "{}"),
                           "Variable \\\"$v\\\" of required type \\\"Int!\\\" was not provided."));
    /* list of one */
    assert_string_equal(run_v(f, "query($l: [Int]) { echoList(v: $l) }", "{l: 7}"),
                        "{\"data\":{\"echoList\":[7]}}");
    /* input objects: default, required, unknown field, nested path */
    const char *qf = "query($f: Filter) { echoFilter(f: $f) }";
    assert_string_equal(run_v(f, qf, "{f: {name: \"n\", colors: \"RED\"}}"),
                        "{\"data\":{\"echoFilter\":\"{name: \\\"n\\\", limit: 10, colors: "
                        "[\\\"RED\\\"]}\"}}");
    const char *r = run_v(f, qf, "{f: {limit: 1, bogus: 2}}");
    assert_non_null(strstr(r, "Field \\\"name\\\" of required type \\\"String!\\\" was not "
                              "provided."));
    assert_non_null(strstr(r, "Field \\\"bogus\\\" is not defined by type \\\"Filter\\\"."));
    uint32_t n = 0;
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, qf, strlen(qf), NULL), 0);
    cd_arena a;
    cd_arena_init(&a, 1024);
    gql_value v = lit(&a, "{f: {name: \"n\", colors: [\"RED\", \"TEAL\"]}}");
    assert_int_equal(gql_exec_set_variables(ex, &v), CD_EBAD);
    const gql_error *e = gql_exec_errors(ex, &n);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].message,
                        "Variable \"$f\" got invalid value \"TEAL\" at \"f.colors[1]\"; Value "
                        "\"TEAL\" does not exist in \"Color\" enum.");
    gql_exec_free(ex);
    /* DateTime: ISO-8601 only; JSON: anything */
    assert_string_equal(
        run_v(f, "query($d: DateTime) { echoDate(v: $d) }", "{d: \"2026-11-26T16:05:08.123Z\"}"),
        "{\"data\":{\"echoDate\":\"2026-11-26T16:05:08.123Z\"}}");
    assert_non_null(strstr(run_v(f, "query($d: DateTime) { echoDate(v: $d) }", "{d: \"soon\"}"),
                           "got invalid value \\\"soon\\\""));
    assert_string_equal(run_v(f, "query($j: JSON) { echoJson(v: $j) }", "{j: 5}"),
                        "{\"data\":{\"echoJson\":5}}");
    cd_arena_free(&a);
}

static void test_variable_list_limit(void **state)
{
    fixture *f = *state;
    const char *q = "query($l: [Int]) { echoList(v: $l) }";
    cd_arena a;
    cd_arena_init(&a, 65536);
    for (uint32_t extra = 0; extra <= 1; extra++) {
        uint32_t len = GQL_MAX_VARIABLE_LIST + extra;
        gql_value *l = gql_list_new(&a, len);
        for (uint32_t i = 0; i < len; i++)
            l->u.items[i] = gql_int(i);
        gql_value *vars = gql_obj_new(&a, 1);
        gql_obj_set(vars, 0, "l", *l);
        gql_exec *ex = gql_exec_new(f->s, NULL);
        assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
        int rc = gql_exec_set_variables(ex, vars);
        if (extra == 0) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, CD_EBAD);
            uint32_t n;
            const gql_error *e = gql_exec_errors(ex, &n);
            assert_int_equal(n, 1);
            assert_string_equal(e[0].code, "BAD_USER_INPUT");
            assert_non_null(strstr(e[0].message, "List has more than 10000 items."));
        }
        gql_exec_free(ex);
    }
    cd_arena_free(&a);
}

static void test_argument_literals(void **state)
{
    fixture *f = *state;
    assert_string_equal(run_q(f, "{ echoInt(v: 5) echoColor(v: GREEN) echoStr echoList(v: 3) }"),
                        "{\"data\":{\"echoInt\":5,\"echoColor\":\"GREEN\",\"echoStr\":\"d\","
                        "\"echoList\":[3]}}");
    /* missing variable: argument default applies; otherwise absent */
    assert_string_equal(run_q(f, "query($x: String, $y: Int) { echoStr(v: $x) echoInt(v: $y) }"),
                        "{\"data\":{\"echoStr\":\"d\",\"echoInt\":null}}");
    assert_string_equal(run_q(f, "{ echoFilter(f: {name: \"z\", colors: [BLUE]}) }"),
                        "{\"data\":{\"echoFilter\":\"{name: \\\"z\\\", limit: 10, colors: "
                        "[\\\"BLUE\\\"]}\"}}");
    /* a null variable for a non-null argument is a field error at the value */
    const char *r = run_v(f, "query($x: String) { echoStr(v: $x) }", "{x: null}");
    assert_string_equal(r, "{\"data\":{\"echoStr\":null},\"errors\":[{\"message\":\"Argument "
                           "\\\"v\\\" of non-null type \\\"String!\\\" must not be null.\","
                           "\"locations\":[{\"line\":1,\"column\":32}],\"path\":[\"echoStr\"],"
                           "\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");
}

static void test_wrong_service(void **state)
{
    fixture *f = *state;
    assert_string_equal(
        run_full(f, "{ owned sent nn: owned }", NULL, NULL, "user", false),
        "{\"data\":{\"owned\":null,\"sent\":null,\"nn\":null},\"errors\":[{\"message\":\"Field "
        "\\\"sent\\\" is served by the sender service\",\"locations\":[{\"line\":1,\"column\":9}],"
        "\"path\":[\"sent\"],\"extensions\":{\"code\":\"WRONG_SERVICE\",\"service\":\"sender\"}}]"
        "}");
    /* no service: everything served */
    assert_string_equal(run_q(f, "{ owned sent }"), "{\"data\":{\"owned\":null,\"sent\":null}}");
}

static void test_operation_selection(void **state)
{
    fixture *f = *state;
    const char *two = "query A { nn: user { id } } query B { user { name } }";
    assert_string_equal(run_full(f, two, "B", NULL, NULL, false),
                        "{\"data\":{\"user\":{\"name\":\"Ann\"}}}");
    assert_string_equal(run_full(f, two, NULL, NULL, NULL, false),
                        "{\"errors\":[{\"message\":\"Must provide operation name if query "
                        "contains multiple operations.\",\"extensions\":{\"code\":"
                        "\"OPERATION_RESOLUTION_FAILURE\"}}]}");
    assert_string_equal(run_full(f, two, "C", NULL, NULL, false),
                        "{\"errors\":[{\"message\":\"Unknown operation named \\\"C\\\".\","
                        "\"extensions\":{\"code\":\"OPERATION_RESOLUTION_FAILURE\"}}]}");
    assert_string_equal(
        run_full(f, "fragment F on Query { nn }", NULL, NULL, NULL, false) != NULL ? "ok" : "",
        "ok");
    /* syntax errors are request errors */
    const char *r = run_q(f, "{ user { ");
    assert_non_null(strstr(r, "{\"errors\":[{\"message\":\"Syntax Error"));
    assert_non_null(strstr(r, "GRAPHQL_PARSE_FAILED"));
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, "{ user { ", 9, NULL), CD_EBAD);
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, NULL), CD_ESTATE);
    gql_exec_free(ex);
}

static void test_async_parallel(void **state)
{
    fixture *f = *state;
    nqueue = nstart = 0;
    const char *q =
        "{ a: slow(n: 1) b: slow(n: 2) c: slowObj(n: 3) { a b } d: nn @skip(if: true) }";
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    int done = 0;
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(nqueue, 3); /* all started at once */
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), CD_ESTATE);
    /* complete in reverse order */
    cd_arena *a = gql_ri_arena(queue[2]);
    gql_value *o = gql_obj_new(a, 2);
    gql_obj_set(o, 0, "a", gql_str_ref("A", 1));
    gql_obj_set(o, 1, "b", gql_null());
    assert_string_equal(gql_ri_parent_type(queue[2]), "Query");
    assert_string_equal(gql_ri_field_name(queue[2]), "slowObj");
    gql_ri_return(queue[2], *o);
    gql_ri_return(queue[1], gql_int(20));
    assert_int_equal(done, 0);
    gql_ri_return(queue[0], gql_int(10));
    gql_ri_return(queue[0], gql_int(99)); /* a second completion is ignored */
    assert_int_equal(done, 1);
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data, "{\"data\":{\"a\":10,\"b\":20,\"c\":{\"a\":\"A\",\"b\":null}}}");
    cd_buf_free(&b);
    gql_exec_free(ex);
}

/* Asynchronous failures under a nullable position: once it is null, errors
 * from its abandoned subtree are dropped (graphql-js has answered by then);
 * errors that came before are kept. */
static void test_async_null_propagation(void **state)
{
    fixture *f = *state;
    const char *q = "{ pair { x y z } }";
    static const char *want[2] = {
        "{\"data\":{\"pair\":null},\"errors\":[{\"message\":\"Cannot return null for "
        "non-nullable field Pair.y.\",\"locations\":[{\"line\":1,\"column\":12}],\"path\":"
        "[\"pair\",\"y\"]}]}",
        "{\"data\":{\"pair\":null},\"errors\":[{\"message\":\"z failed\",\"locations\":[{"
        "\"line\":1,\"column\":14}],\"path\":[\"pair\",\"z\"],\"extensions\":{\"code\":"
        "\"Z\"}},{\"message\":\"Cannot return null for non-nullable field Pair.y.\","
        "\"locations\":[{\"line\":1,\"column\":12}],\"path\":[\"pair\",\"y\"]}]}"};
    for (int order = 0; order < 2; order++) {
        nqueue = nstart = 0;
        gql_exec *ex = gql_exec_new(f->s, NULL);
        assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
        int done = 0;
        assert_int_equal(gql_exec_run(ex, &f->root, NULL, on_done, &done), 0);
        assert_int_equal(nqueue, 3);
        if (order == 0) {
            gql_ri_return(queue[1], gql_null());      /* y: non-null → pair null */
            gql_ri_error(queue[0], NULL, "x failed"); /* abandoned: dropped */
            gql_ri_error(queue[2], "Z", "z failed");  /* abandoned: dropped */
        } else {
            gql_ri_error(queue[2], "Z", "z failed"); /* before the null: kept */
            gql_ri_return(queue[1], gql_null());
            gql_ri_error(queue[0], NULL, "x failed");
        }
        assert_int_equal(done, 1);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        assert_string_equal(b.data, want[order]);
        cd_buf_free(&b);
        gql_exec_free(ex);
    }
}

/* graphql-js's executeFields: an object whose non-null field fails while an
 * earlier field is still pending waits for it before failing, and its
 * container goes on meanwhile (so "fail" runs first and is reported first);
 * without a pending field it fails at once and the rest is not started. */
/* graphql-js 16.15 (CollectedErrors): nothing is reported at or below a
 * position already null, whatever else is still running — here inner.y
 * fails inside the nulled pair while "slow" is still pending. */
static void test_errors_below_null_dropped(void **state)
{
    fixture *f = *state;
    const char *q = "{ pair { x inner { y } } slow(n: 1) }";
    for (int order = 0; order < 2; order++) {
        nqueue = nstart = 0;
        gql_exec *ex = gql_exec_new(f->s, NULL);
        assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
        int done = 0;
        assert_int_equal(gql_exec_run(ex, &f->root, NULL, on_done, &done), 0);
        assert_int_equal(nqueue, 3);         /* x, inner.y, slow */
        gql_ri_return(queue[0], gql_null()); /* x: non-null → pair null */
        if (order == 0) {
            gql_ri_return(queue[1], gql_null());
            gql_ri_return(queue[2], gql_int(5));
        } else {
            gql_ri_return(queue[2], gql_int(5));
            gql_ri_return(queue[1], gql_null());
        }
        assert_int_equal(done, 1);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        assert_string_equal(b.data, "{\"data\":{\"pair\":null,\"slow\":5},\"errors\":[{"
                                    "\"message\":\"Cannot return null for non-nullable field "
                                    "Pair.x.\",\"locations\":[{\"line\":1,\"column\":10}],"
                                    "\"path\":[\"pair\",\"x\"]}]}");
        cd_buf_free(&b);
        gql_exec_free(ex);
    }
}

static void test_deferred_object_failure(void **state)
{
    fixture *f = *state;
    static const char *q[2] = {"{ pair { z w } fail }", "{ pair { w z } fail }"};
    static const char *want[2] = {
        "{\"data\":{\"pair\":null,\"fail\":null},\"errors\":[{\"message\":\"failed fail\","
        "\"locations\":[{\"line\":1,\"column\":16}],\"path\":[\"fail\"],\"extensions\":{"
        "\"code\":\"BOOM\"}},{\"message\":\"Cannot return null for non-nullable field "
        "Pair.w.\",\"locations\":[{\"line\":1,\"column\":12}],\"path\":[\"pair\",\"w\"]}]}",
        "{\"data\":{\"pair\":null,\"fail\":null},\"errors\":[{\"message\":\"Cannot return "
        "null for non-nullable field Pair.w.\",\"locations\":[{\"line\":1,\"column\":10}],"
        "\"path\":[\"pair\",\"w\"]},{\"message\":\"failed fail\",\"locations\":[{\"line\":"
        "1,\"column\":16}],\"path\":[\"fail\"],\"extensions\":{\"code\":\"BOOM\"}}]}"};
    for (int i = 0; i < 2; i++) {
        nqueue = nstart = 0;
        gql_exec *ex = gql_exec_new(f->s, NULL);
        assert_int_equal(gql_exec_prepare(ex, q[i], strlen(q[i]), NULL), 0);
        int done = 0;
        assert_int_equal(gql_exec_run(ex, &f->root, NULL, on_done, &done), 0);
        assert_int_equal(nqueue, i == 0 ? 1 : 0); /* z starts only before w */
        if (i == 0) {
            assert_int_equal(done, 0);
            gql_ri_return(queue[0], gql_str_ref("zz", 2));
        }
        assert_int_equal(done, 1);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        assert_string_equal(b.data, want[i]);
        cd_buf_free(&b);
        gql_exec_free(ex);
    }
}

static void test_serial_mutations(void **state)
{
    fixture *f = *state;
    nqueue = nstart = 0;
    const char *q = "mutation { a: step(n: 1) b: step(n: 2) c: step(n: 3) }";
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    assert_int_equal(gql_exec_op(ex), GQL_MUTATION);
    int done = 0;
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
    /* one at a time: the next starts only after the previous completed */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nqueue, i + 1);
        assert_int_equal(start_log[i], i + 1);
        assert_int_equal(done, 0);
        gql_ri_return(queue[i], gql_int(100 + i));
    }
    assert_int_equal(nqueue, 3);
    assert_int_equal(done, 1);
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data, "{\"data\":{\"a\":100,\"b\":101,\"c\":102}}");
    cd_buf_free(&b);
    gql_exec_free(ex);

    /* a non-null mutation field failing stops the rest; data null */
    nqueue = nstart = 0;
    q = "mutation { a: stepNN(n: 1) b: step(n: 2) }";
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    done = 0;
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
    assert_int_equal(nqueue, 1);
    gql_ri_error(queue[0], NULL, "no");
    assert_int_equal(nqueue, 1);
    assert_int_equal(done, 1);
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data, "{\"data\":null,\"errors\":[{\"message\":\"no\",\"locations\":"
                                "[{\"line\":1,\"column\":12}],\"path\":[\"a\"]}]}");
    cd_buf_free(&b);
    gql_exec_free(ex);
}

static void test_free_while_pending(void **state)
{
    fixture *f = *state;
    nqueue = nstart = 0;
    const char *q = "{ a: slow(n: 1) b: slowObj(n: 2) { a } }";
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    int done = 0;
    assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
    assert_int_equal(nqueue, 2);
    gql_exec_free(ex); /* in flight: memory stays until the last completion */
    gql_ri_return(queue[0], gql_int(1));
    cd_arena *a = gql_ri_arena(queue[1]);
    gql_value *o = gql_obj_new(a, 1);
    gql_obj_set(o, 0, "a", gql_str_ref("x", 1));
    gql_ri_error(queue[1], "X", "late");
    assert_int_equal(done, 0); /* never called after free; ASan checks the rest */
}

/* Execs of one cached document share its field plans; arguments that read
 * variables and @skip/@include on variables stay per exec, also while two
 * execs of the document are in flight at once. */
static void test_shared_plans(void **state)
{
    fixture *f = *state;
    gql_cache *c = gql_cache_new(f->s, 8);
    const char *q = "query($v: Int, $w: Int) { echoInt(v: $v) k: echoInt(v: 7) slow(n: $w) "
                    "user { name } }";
    cd_arena a;
    cd_arena_init(&a, 1024);
    gql_exec *ex[2];
    int done[2] = {0, 0};
    nqueue = nstart = 0;
    for (int i = 0; i < 2; i++) {
        ex[i] = gql_exec_new(f->s, c);
        assert_int_equal(gql_exec_prepare(ex[i], q, strlen(q), NULL), 0);
        gql_value v = lit(&a, i == 0 ? "{v: 1, w: 10}" : "{v: 2, w: 20}");
        assert_int_equal(gql_exec_set_variables(ex[i], &v), 0);
        assert_int_equal(gql_exec_run(ex[i], &f->root, NULL, on_done, &done[i]), 0);
    }
    assert_int_equal(nqueue, 2);
    assert_int_equal(start_log[0], 10);
    assert_int_equal(start_log[1], 20);
    gql_ri_return(queue[1], gql_int(200));
    gql_ri_return(queue[0], gql_int(100));
    const char *want[2] = {
        "{\"data\":{\"echoInt\":1,\"k\":7,\"slow\":100,\"user\":{\"name\":\"Ann\"}}}",
        "{\"data\":{\"echoInt\":2,\"k\":7,\"slow\":200,\"user\":{\"name\":\"Ann\"}}}"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(done[i], 1);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex[i], &b);
        assert_string_equal(b.data, want[i]);
        cd_buf_free(&b);
        gql_exec_free(ex[i]);
    }
    /* a @skip reading a variable: the document's plans are per exec */
    q = "query($s: Boolean!) { user { id @skip(if: $s) name } }";
    for (int i = 0; i < 4; i++) {
        gql_exec *e = gql_exec_new(f->s, c);
        assert_int_equal(gql_exec_prepare(e, q, strlen(q), NULL), 0);
        gql_value v = lit(&a, i & 1 ? "{s: true}" : "{s: false}");
        assert_int_equal(gql_exec_set_variables(e, &v), 0);
        int d = 0;
        assert_int_equal(gql_exec_run(e, &f->root, NULL, on_done, &d), 0);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(e, &b);
        assert_string_equal(b.data, i & 1 ? "{\"data\":{\"user\":{\"name\":\"Ann\"}}}"
                                          : "{\"data\":{\"user\":{\"id\":\"u1\",\"name\":"
                                            "\"Ann\"}}}");
        cd_buf_free(&b);
        gql_exec_free(e);
    }
    /* argument errors of a shared plan are raised for every exec */
    q = "query($x: String) { echoStr(v: $x) }";
    for (int i = 0; i < 2; i++) {
        gql_exec *e = gql_exec_new(f->s, c);
        assert_int_equal(gql_exec_prepare(e, q, strlen(q), NULL), 0);
        gql_value v = lit(&a, i ? "{x: null}" : "{x: \"ok\"}");
        assert_int_equal(gql_exec_set_variables(e, &v), 0);
        int d = 0;
        assert_int_equal(gql_exec_run(e, &f->root, NULL, on_done, &d), 0);
        uint32_t n;
        gql_exec_errors(e, &n);
        assert_int_equal(n, i ? 1 : 0);
        gql_exec_free(e);
    }
    gql_cache_free(c);
    cd_arena_free(&a);
}

/* gql_exec_compact: a prepared subscription holds a prep block of exactly
 * the bytes it used (not the 512-byte default) and runs as before; a query
 * is left alone. */
static void test_subscription_compact(void **state)
{
    fixture *f = *state;
    const char *q = "subscription S($n: Int = 4) { tick(n: $n) }";
    cd_arena va;
    cd_arena_init(&va, 256);
    gql_value *vars = gql_obj_new(&va, 1);
    gql_obj_set(vars, 0, "n", gql_int(7));
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), "S"), 0);
    assert_int_equal(gql_exec_set_variables(ex, vars), 0);
    const gql_value *args = NULL;
    gql_exec_root_field(ex, &args); /* a started subscription's plan and arguments */
    size_t used = ex->prep.used_total;
    size_t before = cd_arena_capacity(&ex->prep);
    assert_true(used > 0 && used < before);
    assert_int_equal(gql_exec_compact(ex, q, strlen(q), "S", vars), 0);
    assert_int_equal(cd_arena_capacity(&ex->prep), used);
    assert_int_equal(ex->prep.used_total, used);
    assert_int_equal(gql_exec_compact(ex, q, strlen(q), "S", vars), 0); /* once only */
    assert_string_equal(gql_exec_root_field(ex, &args), "tick");
    assert_int_equal(gql_obj_get(args, "n")->u.i, 7);
    assert_int_equal(cd_arena_capacity(&ex->prep), used); /* plan and arguments kept */
    gql_value *ev = gql_obj_new(&va, 1);
    gql_obj_set(ev, 0, "tick", gql_int(3));
    int done = 0;
    assert_int_equal(gql_exec_run(ex, ev, NULL, on_done, &done), 0);
    assert_int_equal(done, 1);
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data, "{\"data\":{\"tick\":3}}");
    cd_buf_free(&b);
    gql_exec_free(ex);
    /* variables whose copy spills the prep arena past its first block are
     * compacted too (one exact block, not two) */
    const char *qt = "subscription T($t: String) { tick(tag: $t) }";
    char tag[320];
    memset(tag, 'x', sizeof tag - 1);
    tag[sizeof tag - 1] = 0;
    gql_value *tvars = gql_obj_new(&va, 1);
    gql_obj_set(tvars, 0, "t", gql_str_ref(tag, strlen(tag)));
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, qt, strlen(qt), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, tvars), 0);
    gql_exec_root_field(ex, &args);
    used = ex->prep.used_total;
    assert_true(cd_arena_capacity(&ex->prep) > used + 64);
    assert_int_equal(gql_exec_compact(ex, qt, strlen(qt), NULL, tvars), 0);
    assert_int_equal(cd_arena_capacity(&ex->prep), used);
    assert_string_equal(gql_exec_root_field(ex, &args), "tick");
    assert_int_equal(gql_obj_get(args, "tag")->len, strlen(tag));
    assert_int_equal(cd_arena_capacity(&ex->prep), used);
    gql_exec_free(ex);
    /* a UUID-sized text variable: only the coerced value is kept (not a copy
     * of the message's variables besides it) and one per-exec argument entry
     * (not four) — 528 bytes before, 256 now; neither points into the message */
    char uuid[37];
    memcpy(uuid, "0b8e3c1a-4d2f-4e6a-9c7b-1f2e3d4c5b6a", sizeof uuid);
    gql_value *uvars = gql_obj_new(&va, 1);
    gql_obj_set(uvars, 0, "t", gql_str_ref(uuid, strlen(uuid)));
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, qt, strlen(qt), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, uvars), 0);
    assert_int_equal(gql_exec_compact(ex, qt, strlen(qt), NULL, uvars), 0);
    assert_true(cd_arena_capacity(&ex->prep) <= 288);
    memset(uuid, 'z', sizeof uuid - 1); /* the message is gone */
    assert_string_equal(gql_exec_root_field(ex, &args), "tick");
    assert_memory_equal(gql_obj_get(args, "tag")->u.s, "0b8e3c1a-4d2f-4e6a-9c7b-1f2e3d4c5b6a", 36);
    ev = gql_obj_new(&va, 1);
    gql_obj_set(ev, 0, "tick", gql_int(5));
    done = 0;
    assert_int_equal(gql_exec_run(ex, ev, NULL, on_done, &done), 0);
    assert_int_equal(done, 1);
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data, "{\"data\":{\"tick\":5}}");
    cd_buf_free(&b);
    gql_exec_free(ex);
    /* text variables that do not coerce still answer their request error */
    gql_value *bad = gql_obj_new(&va, 1);
    gql_value *lst = gql_list_new(&va, 1);
    lst->u.items[0] = gql_str_ref("a", 1);
    gql_obj_set(bad, 0, "t", *lst);
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, qt, strlen(qt), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, bad), CD_EBAD);
    uint32_t nerr = 0;
    const gql_error *errs = gql_exec_errors(ex, &nerr);
    assert_int_equal(nerr, 1);
    assert_non_null(strstr(errs[0].message, "$t"));
    gql_exec_free(ex);
    /* a query: nothing to do */
    const char *qq = "{ __typename }";
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, qq, strlen(qq), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, NULL), 0);
    before = cd_arena_capacity(&ex->prep);
    assert_int_equal(gql_exec_compact(ex, qq, strlen(qq), NULL, NULL), 0);
    assert_int_equal(cd_arena_capacity(&ex->prep), before);
    gql_exec_free(ex);
    cd_arena_free(&va);
}

static void test_subscription_runs(void **state)
{
    fixture *f = *state;
    const char *q = "subscription S($n: Int = 4) { tick(n: $n) }";
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), "S"), 0);
    assert_int_equal(gql_exec_set_variables(ex, NULL), 0);
    assert_int_equal(gql_exec_op(ex), GQL_SUBSCRIPTION);
    const gql_value *args = NULL;
    assert_string_equal(gql_exec_root_field(ex, &args), "tick");
    assert_non_null(args);
    const gql_value *n = gql_obj_get(args, "n");
    assert_non_null(n);
    assert_int_equal(n->u.i, 4);
    cd_arena a;
    cd_arena_init(&a, 1024);
    for (int i = 0; i < 3; i++) {
        gql_value *ev = gql_obj_new(&a, 1);
        gql_obj_set(ev, 0, "tick", gql_int(i));
        int done = 0;
        assert_int_equal(gql_exec_run(ex, ev, NULL, on_done, &done), 0);
        assert_int_equal(done, 1);
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        char want[64];
        snprintf(want, sizeof want, "{\"data\":{\"tick\":%d}}", i);
        assert_string_equal(b.data, want);
        cd_buf_free(&b);
        gql_exec_trim(ex); /* idle between events: the result memory goes */
        assert_false(gql_exec_has_data(ex));
    }
    gql_exec_free(ex);
    cd_arena_free(&a);
}

/* Runs one event through ex and checks its result. */
static void run_tick(gql_exec *ex, int i)
{
    cd_arena a;
    cd_arena_init(&a, 256);
    gql_value *ev = gql_obj_new(&a, 1);
    gql_obj_set(ev, 0, "tick", gql_int(i));
    int done = 0;
    assert_int_equal(gql_exec_run(ex, ev, NULL, on_done, &done), 0);
    assert_int_equal(done, 1);
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    char want[64];
    snprintf(want, sizeof want, "{\"data\":{\"tick\":%d}}", i);
    assert_string_equal(b.data, want);
    cd_buf_free(&b);
    cd_arena_free(&a);
}

static gql_exec *prepared_tick(fixture *f, const char *q, const char *vars_src, cd_arena *va)
{
    gql_exec *ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    gql_value v;
    if (vars_src) v = lit(va, vars_src);
    assert_int_equal(gql_exec_set_variables(ex, vars_src ? &v : NULL), 0);
    return ex;
}

/* gql_exec_borrow: borrowers share the base's variables, plans and root
 * arguments (same pointers), another base with other variables does not,
 * and freeing the base (or one borrower) keeps the others running. */
static void test_subscription_borrow(void **state)
{
    fixture *f = *state;
    const char *q = "subscription S($n: Int) { tick(n: $n) }";
    cd_arena va;
    cd_arena_init(&va, 1024);
    /* the variables' own memory goes right after: the exec keeps a copy */
    const char *qt = "subscription T($t: String) { tick(tag: $t) }";
    cd_arena tmp;
    cd_arena_init(&tmp, 256);
    gql_exec *tagged = prepared_tick(f, qt, "{ t: \"chat-1\" }", &tmp);
    cd_arena_free(&tmp);
    const gql_value *targs;
    gql_exec *tb = gql_exec_borrow(tagged);
    assert_non_null(tb);
    assert_string_equal(gql_exec_root_field(tb, &targs), "tick");
    assert_string_equal(gql_obj_get(targs, "tag")->u.s, "chat-1");
    gql_exec_free(tagged);
    gql_exec_free(tb);
    gql_exec *base7 = prepared_tick(f, q, "{ n: 7 }", &va);
    gql_exec *base9 = prepared_tick(f, q, "{ n: 9 }", &va);
    const gql_value *a7, *a9, *b1args, *b2args;
    assert_string_equal(gql_exec_root_field(base7, &a7), "tick");
    assert_string_equal(gql_exec_root_field(base9, &a9), "tick");
    assert_int_equal(gql_obj_get(a7, "n")->u.i, 7);
    assert_int_equal(gql_obj_get(a9, "n")->u.i, 9);
    gql_exec *b1 = gql_exec_borrow(base7);
    gql_exec *b2 = gql_exec_borrow(base7);
    gql_exec *c1 = gql_exec_borrow(base9);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_non_null(c1);
    assert_ptr_equal(b1->base, base7);
    assert_int_equal(base7->borrowers, 2);
    assert_int_equal(base9->borrowers, 1);
    /* shared: the very same root arguments, no copy */
    assert_string_equal(gql_exec_root_field(b1, &b1args), "tick");
    assert_string_equal(gql_exec_root_field(b2, &b2args), "tick");
    assert_ptr_equal(b1args, a7);
    assert_ptr_equal(b2args, a7);
    assert_ptr_equal(b1->root_plan, base7->root_plan);
    /* not shared: other variables */
    const gql_value *c1args;
    gql_exec_root_field(c1, &c1args);
    assert_ptr_equal(c1args, a9);
    assert_int_equal(gql_obj_get(c1args, "n")->u.i, 9);
    /* nothing to borrow from a borrower; a borrowed base is not re-prepared */
    assert_null(gql_exec_borrow(b1));
    assert_int_equal(gql_exec_prepare(base7, q, strlen(q), NULL), CD_ESTATE);
    assert_int_equal(gql_exec_set_variables(base7, NULL), CD_ESTATE);
    run_tick(b1, 1);
    run_tick(c1, 2);
    /* the base's owner lets go: the borrowers keep its state */
    gql_exec_free(base7);
    run_tick(b2, 3);
    gql_exec_free(b1);
    run_tick(b2, 4);
    gql_exec_root_field(b2, &b2args);
    assert_int_equal(gql_obj_get(b2args, "n")->u.i, 7);
    gql_exec_free(b2); /* the last borrower frees the base (ASan: no leak) */
    gql_exec_free(c1);
    run_tick(base9, 5); /* a base may still run itself */
    gql_exec_free(base9);
    /* only prepared subscriptions can be borrowed */
    const char *qq = "{ __typename }";
    gql_exec *qe = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(qe, qq, strlen(qq), NULL), 0);
    assert_int_equal(gql_exec_set_variables(qe, NULL), 0);
    assert_null(gql_exec_borrow(qe));
    gql_exec_free(qe);
    gql_exec *unset = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(unset, q, strlen(q), NULL), 0);
    assert_null(gql_exec_borrow(unset)); /* variables not set */
    gql_exec_free(unset);
    cd_arena_free(&va);
}

static void test_introspection_gate(void **state)
{
    fixture *f = *state;
    const char *r =
        run_full(f, "{ __type(name: \"Color\") { name kind } }", NULL, NULL, NULL, false);
    assert_string_equal(r, "{\"data\":{\"__type\":{\"name\":\"Color\",\"kind\":\"ENUM\"}}}");
    /* a NUL escape is part of the name, not its end (issue 15) */
    r = run_full(f, "{ __type(name: \"Color\\u0000\") { name } }", NULL, NULL, NULL, false);
    assert_string_equal(r, "{\"data\":{\"__type\":null}}");
    r = run_full(f, "query Q($n: String!) { __type(name: $n) { name } }", NULL,
                 "{ n: \"Color\\u0000\" }", NULL, false);
    assert_string_equal(r, "{\"data\":{\"__type\":null}}");
    r = run_full(f, "{ __schema { queryType { name } } }", NULL, NULL, NULL, false);
    assert_string_equal(r, "{\"data\":{\"__schema\":{\"queryType\":{\"name\":\"Query\"}}}}");
    r = run_full(f, "{ __schema { queryType { name } } }", NULL, NULL, NULL, true);
    assert_non_null(strstr(r, "{\"data\":null,\"errors\":[{\"message\":\"GraphQL introspection "
                              "has been disabled"));
    assert_non_null(strstr(r, "INTROSPECTION_DISABLED"));
}

static void test_error_cap(void **state)
{
    fixture *f = *state;
    cd_arena a;
    cd_arena_init(&a, 65536);
    gql_value *l = gql_list_new(&a, GQL_MAX_ERRORS + 5);
    for (uint32_t i = 0; i < GQL_MAX_ERRORS + 5; i++) {
        gql_value *o = gql_obj_new(&a, 1);
        gql_obj_set(o, 0, "a", gql_null());
        l->u.items[i] = *o;
    }
    gql_value *root = gql_obj_new(&a, 1);
    gql_obj_set(root, 0, "objs", *l);
    gql_exec *ex = gql_exec_new(f->s, NULL);
    const char *q = "{ objs { a } }";
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    int done = 0;
    assert_int_equal(gql_exec_run(ex, root, NULL, on_done, &done), 0);
    uint32_t n;
    const gql_error *e = gql_exec_errors(ex, &n);
    assert_int_equal(n, GQL_MAX_ERRORS + 1);
    assert_string_equal(e[GQL_MAX_ERRORS - 1].message,
                        "Cannot return null for non-nullable field Obj.a.");
    assert_string_equal(e[GQL_MAX_ERRORS].message,
                        "Too many errors: only the first 100 are reported.");
    assert_string_equal(e[GQL_MAX_ERRORS].code, "TOO_MANY_ERRORS");
    assert_null(e[GQL_MAX_ERRORS].path);
    gql_exec_free(ex);
    /* exactly GQL_MAX_ERRORS errors: no notice */
    l->len = GQL_MAX_ERRORS;
    gql_obj_set(root, 0, "objs", *l);
    ex = gql_exec_new(f->s, NULL);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    done = 0;
    assert_int_equal(gql_exec_run(ex, root, NULL, on_done, &done), 0);
    gql_exec_errors(ex, &n);
    assert_int_equal(n, GQL_MAX_ERRORS);
    gql_exec_free(ex);
    cd_arena_free(&a);
}

/* Fails the Nth allocation over a whole prepare+run+write for N = 1.. until
 * a run needs no failure; nothing may crash or leak (ASan). */
static void test_alloc_failures(void **state)
{
    fixture *f = *state;
    const char *q = "query($f: Filter, $s: Boolean = false) { user { id name friends { name } } "
                    "nodes { __typename ... on Bot { model } } echoFilter(f: $f) "
                    "objs @skip(if: $s) { a } slow(n: 1) }";
    gql_cache *c = gql_cache_new(f->s, 4);
    static char ref[4096];
    ref[0] = '\0';
    bool clean = false;
    for (long n = 0; n < 2000 && !clean; n++) {
        nqueue = nstart = 0;
        cd_arena va;
        cd_arena_init(&va, 1024);
        gql_value vars = lit(&va, "{f: {name: \"q\", colors: [\"RED\", \"GREEN\"]}}");
        cd_alloc_fail_after(n);
        gql_exec *ex = gql_exec_new(f->s, (n & 1) ? c : NULL);
        if (ex) {
            int rc = gql_exec_prepare(ex, q, strlen(q), NULL);
            if (rc == 0) rc = gql_exec_set_variables(ex, &vars);
            int done = 0;
            if (rc == 0) {
                assert_int_equal(gql_exec_run(ex, &f->root, NULL, on_done, &done), 0);
                for (int i = 0; i < nqueue; i++)
                    gql_ri_return(queue[i], gql_int(i));
                assert_int_equal(done, 1);
            } else {
                if (rc != CD_ENOMEM) {
                    cd_buf eb;
                    cd_buf_init(&eb);
                    cd_alloc_fail_after(0);
                    gql_exec_write_result(ex, &eb);
                    fprintf(stderr, "n=%ld rc=%d: %s\n", n, rc, eb.data);
                    cd_buf_free(&eb);
                }
                assert_int_equal(rc, CD_ENOMEM);
            }
            cd_buf b;
            cd_buf_init(&b);
            gql_exec_write_result(ex, &b);
            cd_alloc_fail_after(0);
            if (n == 0) {
                assert_int_equal(rc, 0);
                snprintf(ref, sizeof ref, "%s", b.data);
            } else if (rc == 0 && !b.failed) {
                /* either the full answer or the out-of-memory error */
                if (strcmp(b.data, ref) == 0)
                    clean = true;
                else
                    assert_non_null(strstr(b.data, "out of memory"));
            }
            cd_buf_free(&b);
            gql_exec_free(ex);
        }
        cd_alloc_fail_after(0);
        cd_arena_free(&va);
    }
    assert_true(clean);
    gql_cache_free(c);
}

/* The chat schema: a chat-list query against fixed data, ownership, and a
 * timing check of cached execution. */
static void test_chat_schema(void **state)
{
    (void)state;
    const char *path = getenv("CHATD_SCHEMA");
    if (!path) path = "schema/chat.graphql";
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        skip();
        return;
    }
    static char sdl[65536];
    size_t len = fread(sdl, 1, sizeof sdl - 1, fp);
    fclose(fp);
    sdl[len] = '\0';
    gql_schema *s;
    char err[256];
    assert_int_equal(gql_schema_build(sdl, len, &s, err, sizeof err), 0);
    cd_arena a;
    cd_arena_init(&a, 65536);
    /* 20 chats with a last message and participants */
    gql_value *chats = gql_list_new(&a, 20);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        gql_value t =
            lit(&a, "{id: \"c\", name: \"Chat\", description: null, chatType: \"group\","
                    " participantIds: [\"u1\", \"u2\"], isActive: true, createdAt: "
                    "\"2026-11-26T16:05:08.123Z\", updatedAt: \"2026-11-26T16:05:08.123Z\","
                    " lastSeq: 41, unreadCount: 3, lastMessage: {id: \"m\", content: "
                    "\"hello\", senderId: \"u1\", chatId: \"c\", isEdited: false, "
                    "createdAt: \"2026-11-26T16:05:08.123Z\", seq: 41, type: \"text\", "
                    "metadata: null, sender: {id: \"u1\", username: \"ann\", displayName:"
                    " \"Ann\", isActive: true, createdAt: \"2026-11-26T16:05:08.123Z\", "
                    "updatedAt: \"2026-11-26T16:05:08.123Z\"}}}");
        t.u.fields[0].value = gql_str_dup(&a, id, strlen(id));
        chats->u.items[i] = t;
    }
    gql_value *root = gql_obj_new(&a, 1);
    gql_obj_set(root, 0, "chatsByParticipant", *chats);
    gql_value *chats1 = gql_list_new(&a, 1);
    chats1->u.items[0] = chats->u.items[0];
    gql_value *root1 = gql_obj_new(&a, 1);
    gql_obj_set(root1, 0, "chatsByParticipant", *chats1);
    const char *q =
        "query GetChatsByParticipant($userId: String!) { chatsByParticipant(userId: $userId) { "
        "id name description chatType participantIds isActive createdAt updatedAt lastSeq "
        "unreadCount lastMessage { id content senderId chatId isEdited createdAt seq type "
        "metadata sender { id username displayName isActive createdAt updatedAt } } } }";
    gql_value vars = lit(&a, "{userId: \"u1\"}");
    gql_cache *c = gql_cache_new(s, 16);
    gql_exec_opts o = {.service = "receiver"};
    cd_buf b;
    cd_buf_init(&b);
    int iters = 2000;
    struct timespec t0, t1;
    /* one chat: the ~30-field shape of a chat-list row */
    for (int it = 0; it < iters + 1; it++) {
        if (it == 1) clock_gettime(CLOCK_MONOTONIC, &t0);
        gql_exec *ex = gql_exec_new(s, c);
        assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
        assert_int_equal(gql_exec_set_variables(ex, &vars), 0);
        int done = 0;
        assert_int_equal(gql_exec_run(ex, root1, &o, on_done, &done), 0);
        cd_buf_reset(&b);
        gql_exec_write_result(ex, &b);
        gql_exec_free(ex);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "chat list (1 chat, %u bytes): %.2f us per cached execution\n", (unsigned)b.len,
            ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / iters);
    for (int it = 0; it < iters + 1; it++) {
        if (it == 1) clock_gettime(CLOCK_MONOTONIC, &t0);
        gql_exec *ex = gql_exec_new(s, c);
        assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
        assert_int_equal(gql_exec_set_variables(ex, &vars), 0);
        int done = 0;
        assert_int_equal(gql_exec_run(ex, root, &o, on_done, &done), 0);
        assert_int_equal(done, 1);
        cd_buf_reset(&b);
        gql_exec_write_result(ex, &b);
        gql_exec_free(ex);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / iters;
    fprintf(stderr, "chat list (20 chats, ~%u bytes): %.1f us per cached execution\n",
            (unsigned)b.len, us);
    assert_non_null(strstr(b.data, "{\"data\":{\"chatsByParticipant\":[{\"id\":\"c0\",\"name\":"
                                   "\"Chat\",\"description\":null,\"chatType\":\"group\","
                                   "\"participantIds\":[\"u1\",\"u2\"],\"isActive\":true,"));
    assert_null(strstr(b.data, "errors"));
    cd_buf_free(&b);
    /* the user service refuses receiver fields */
    gql_exec *ex = gql_exec_new(s, c);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, &vars), 0);
    o.service = "user";
    int done = 0;
    assert_int_equal(gql_exec_run(ex, root, &o, on_done, &done), 0);
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    assert_string_equal(b.data,
                        "{\"data\":null,\"errors\":[{\"message\":\"Field \\\"chatsByParticipant\\\""
                        " is served by the receiver service\",\"locations\":[{\"line\":1,\"column\""
                        ":49}],\"path\":[\"chatsByParticipant\"],\"extensions\":{\"code\":"
                        "\"WRONG_SERVICE\",\"service\":\"receiver\"}}]}");
    cd_buf_free(&b);
    gql_exec_free(ex);
    uint64_t hits, misses;
    gql_cache_stats(c, &hits, &misses);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, 2 * iters + 2);
    gql_cache_free(c);
    cd_arena_free(&a);
    gql_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_resolvers),
        cmocka_unit_test(test_leaf_result_coercion),
        cmocka_unit_test(test_null_propagation),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_fragments_abstract),
        cmocka_unit_test(test_variable_coercion_edges),
        cmocka_unit_test(test_variable_list_limit),
        cmocka_unit_test(test_argument_literals),
        cmocka_unit_test(test_wrong_service),
        cmocka_unit_test(test_operation_selection),
        cmocka_unit_test(test_async_parallel),
        cmocka_unit_test(test_async_null_propagation),
        cmocka_unit_test(test_errors_below_null_dropped),
        cmocka_unit_test(test_deferred_object_failure),
        cmocka_unit_test(test_serial_mutations),
        cmocka_unit_test(test_free_while_pending),
        cmocka_unit_test(test_shared_plans),
        cmocka_unit_test(test_subscription_runs),
        cmocka_unit_test(test_subscription_borrow),
        cmocka_unit_test(test_subscription_compact),
        cmocka_unit_test(test_introspection_gate),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_chat_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
