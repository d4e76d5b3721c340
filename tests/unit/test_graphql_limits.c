/* Unit tests for the per-request budgets of src/graphql (cost.c, execute.c,
 * execute_write.c): the estimated cost of an operation (fields, list
 * multipliers from literals, variables, defaults; nested lists; fragments;
 * introspection) and its budget at the edge (exactly the budget runs, one
 * over is refused before any resolver); the response byte budget at the edge
 * (a response of exactly the budget is written whole, one byte less answers
 * RESPONSE_TOO_LARGE), both when the writer decides and when the run stops
 * starting work early. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graphql/gql_internal.h"

static const char *SDL =
    "directive @listSize(assumedSize: Int!) on FIELD_DEFINITION\n"
    "type Item { a: String b: String tags: [String] kids(first: Int): [Item] grid: [[Item]] }\n"
    "type Query {\n"
    "  items(first: Int): [Item]\n"
    "  page(limit: Int = 7): [Item!]!\n"
    "  all: [Item]\n"
    "  hinted(limit: Int): [Item] @listSize(assumedSize: 500)\n"
    "  one: Item\n"
    "  text(n: Int!): String\n"
    "}\n";

static gql_schema *g_s;
static int g_calls; /* resolver calls of the current run */

/* items / page / all: `first` (or limit, or 3) items {a, b: "x"}. */
static void r_items(gql_rinfo *ri)
{
    g_calls++;
    const gql_value *n = gql_ri_arg(ri, "first");
    if (!n || n->kind != GQL_V_INT) n = gql_ri_arg(ri, "limit");
    int64_t k = n && n->kind == GQL_V_INT ? n->u.i : 3;
    gql_value *l = gql_list_new(gql_ri_arena(ri), (uint32_t)k);
    for (int64_t i = 0; i < k; i++) {
        gql_value *o = gql_obj_new(gql_ri_arena(ri), 2);
        gql_obj_set(o, 0, "a", gql_str_ref("a", 1));
        gql_obj_set(o, 1, "b", gql_str_ref("x", 1));
        l->u.items[i] = *o;
    }
    gql_ri_return(ri, *l);
}

/* text(n): a string of n bytes ("y"...). */
static void r_text(gql_rinfo *ri)
{
    g_calls++;
    int64_t n = gql_ri_arg(ri, "n")->u.i;
    char *p = cd_arena_alloc(gql_ri_arena(ri), (size_t)n + 1);
    memset(p, 'y', (size_t)n);
    p[n] = '\0';
    gql_ri_return(ri, gql_str_ref(p, (size_t)n));
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    int rc = gql_schema_build(SDL, strlen(SDL), &g_s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    assert_int_equal(gql_schema_bind(g_s, "Query.items", r_items, NULL), 0);
    assert_int_equal(gql_schema_bind(g_s, "Query.page", r_items, NULL), 0);
    assert_int_equal(gql_schema_bind(g_s, "Query.all", r_items, NULL), 0);
    assert_int_equal(gql_schema_bind(g_s, "Query.hinted", r_items, NULL), 0);
    assert_int_equal(gql_schema_bind(g_s, "Query.text", r_text, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gql_schema_free(g_s);
    return 0;
}

static gql_value vars_of(cd_arena *a, const char *json)
{
    gql_value v = {0};
    if (json) assert_int_equal(gql_json_parse(a, json, strlen(json), &v, NULL, 0), 0);
    return v;
}

/* The estimated cost of `q` (which must validate) with `vars` JSON. */
static uint64_t cost_of(const char *q, const char *vars)
{
    cd_arena a;
    cd_arena_init(&a, 1024);
    gql_value v = vars_of(&a, vars);
    gql_exec *ex = gql_exec_new(g_s, NULL);
    gql_exec_limits unbounded = {.max_cost = UINT64_MAX};
    gql_exec_set_limits(ex, &unbounded);
    assert_int_equal(gql_exec_prepare(ex, q, strlen(q), NULL), 0);
    assert_int_equal(gql_exec_set_variables(ex, vars ? &v : NULL), 0);
    uint64_t c = gql_exec_cost(ex);
    gql_exec_free(ex);
    cd_arena_free(&a);
    return c;
}

static void test_cost_model(void **state)
{
    (void)state;
    assert_int_equal(cost_of("{ one { a b } }", NULL), 3);
    /* a list field multiplies its selection: 1 + 5 * 2 */
    assert_int_equal(cost_of("{ items(first: 5) { a b } }", NULL), 11);
    /* from a variable; a missing or null one falls back to the default size */
    assert_int_equal(cost_of("query($n: Int) { items(first: $n) { a b } }", "{\"n\": 40}"), 81);
    assert_int_equal(cost_of("query($n: Int) { items(first: $n) { a b } }", "{}"),
                     1 + GQL_COST_DEFAULT_LIST_SIZE * 2);
    assert_int_equal(cost_of("query($n: Int) { items(first: $n) { a b } }", "{\"n\": null}"),
                     1 + GQL_COST_DEFAULT_LIST_SIZE * 2);
    /* the argument's default (limit: Int = 7); no argument at all */
    assert_int_equal(cost_of("{ page { a } }", NULL), 8);
    assert_int_equal(cost_of("{ page(limit: 2) { a } }", NULL), 3);
    assert_int_equal(cost_of("{ all { a } }", NULL), 1 + GQL_COST_DEFAULT_LIST_SIZE);
    /* @listSize(assumedSize:): the size without a limit; a limit still wins */
    assert_int_equal(cost_of("{ hinted { a b } }", NULL), 1 + 500 * 2);
    assert_int_equal(cost_of("{ hinted(limit: 4) { a b } }", NULL), 1 + 4 * 2);
    assert_int_equal(cost_of("query($n: Int) { hinted(limit: $n) { a } }", "{}"), 1 + 500);
    /* a list of leaves costs 1; nested lists multiply */
    assert_int_equal(cost_of("{ one { tags } }", NULL), 2);
    assert_int_equal(cost_of("{ items(first: 3) { kids(first: 4) { a } } }", NULL),
                     1 + 3 * (1 + 4 * 1));
    /* [[Item]]: the inner level counts the default size */
    assert_int_equal(cost_of("{ one { grid { a } } }", NULL),
                     1 + 1 + GQL_COST_DEFAULT_LIST_SIZE * GQL_COST_DEFAULT_LIST_SIZE);
    /* fragments count where they are spread; negative sizes count 0 */
    assert_int_equal(cost_of("{ items(first: 2) { ...F ...F } } fragment F on Item { a b }", NULL),
                     1 + 2 * 4);
    assert_int_equal(cost_of("{ items(first: -5) { a } }", NULL), 1);
    /* introspection: every field 1, no multiplication */
    assert_int_equal(cost_of("{ __schema { types { fields { name } } } }", NULL), 4);
    /* saturates instead of wrapping */
    assert_true(cost_of("{ items(first: 2147483647) { kids(first: 2147483647) { kids(first: "
                        "2147483647) { a } } } }",
                        NULL) > (uint64_t)1 << 60);
}

typedef struct run_res {
    int prep_rc, vars_rc;
    bool ran;
    char *json;
    int write_rc;
} run_res;

static void on_done(gql_exec *ex, void *ud)
{
    (void)ex;
    *(bool *)ud = true;
}

/* Runs q with the budgets; the response JSON in r->json (free it). */
static void run(const char *q, uint64_t max_cost, size_t max_bytes, run_res *r)
{
    memset(r, 0, sizeof *r);
    g_calls = 0;
    gql_exec *ex = gql_exec_new(g_s, NULL);
    gql_exec_limits lim = {.max_cost = max_cost, .max_response_bytes = max_bytes};
    gql_exec_set_limits(ex, &lim);
    r->prep_rc = gql_exec_prepare(ex, q, strlen(q), NULL);
    r->vars_rc = r->prep_rc ? 0 : gql_exec_set_variables(ex, NULL);
    bool done = false;
    if (!r->prep_rc && !r->vars_rc) {
        assert_int_equal(gql_exec_run(ex, NULL, NULL, on_done, &done), 0);
        assert_true(done);
        r->ran = true;
    }
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "<"); /* what the caller held before is kept */
    r->write_rc = gql_exec_write_result(ex, &b);
    assert_false(cd_buf_failed(&b));
    assert_int_equal(b.data[0], '<');
    r->json = strdup(b.data + 1);
    cd_buf_free(&b);
    gql_exec_free(ex);
}

static void test_cost_budget_edge(void **state)
{
    (void)state;
    const char *q = "{ items(first: 50) { a b } }"; /* 1 + 50 * 2 */
    run_res r;
    run(q, 101, 0, &r);
    assert_int_equal(r.vars_rc, 0);
    assert_true(r.ran);
    assert_int_equal(g_calls, 1);
    assert_non_null(strstr(r.json, "\"data\":{\"items\":[{\"a\":\"a\""));
    free(r.json);
    run(q, 100, 0, &r);
    assert_int_equal(r.vars_rc, CD_ELIMIT);
    assert_false(r.ran);
    assert_int_equal(g_calls, 0); /* refused before any resolver */
    assert_string_equal(r.json, "{\"errors\":[{\"message\":\"Query is too costly: its estimated "
                                "cost 101 exceeds the limit of 100 (each field counts 1, list "
                                "fields multiply their selection by their first/limit "
                                "argument).\",\"locations\":[{\"line\":1,\"column\":1}],"
                                "\"extensions\":{\"code\":\"QUERY_TOO_COSTLY\",\"cost\":101,"
                                "\"limit\":100}}]}");
    free(r.json);
    /* the default budget: the 20 aliases of a 1000-item page */
    char big[2048];
    size_t len = (size_t)snprintf(big, sizeof big, "{");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, " m%d: items(first: 1000) { a b }", i);
    snprintf(big + len, sizeof big - len, " }");
    run(big, 0, 0, &r);
    assert_int_equal(r.vars_rc, CD_ELIMIT);
    assert_int_equal(g_calls, 0);
    assert_non_null(strstr(r.json, "\"cost\":40020,\"limit\":25000"));
    free(r.json);
    /* the default budget takes a full page of one alias */
    run("{ items(first: 1000) { a b } }", 0, 0, &r);
    assert_true(r.ran);
    free(r.json);
}

static void test_response_budget_edge(void **state)
{
    (void)state;
    /* the writer decides: the run's lower bound leaves out the response's
     * {"data":...} wrapper, so one byte over is seen only by the exact count */
    const char *q = "{ items(first: 3) { a b } t: text(n: 100) }";
    run_res r;
    run(q, 0, 0, &r);
    assert_int_equal(r.write_rc, 0);
    size_t full = strlen(r.json);
    char *want = r.json;
    run(q, 0, full, &r);
    assert_int_equal(r.write_rc, 0);
    assert_string_equal(r.json, want);
    free(r.json);
    run(q, 0, full - 1, &r);
    assert_int_equal(r.write_rc, CD_ELIMIT);
    char expect[512];
    snprintf(expect, sizeof expect,
             "{\"data\":null,\"errors\":[{\"message\":\"Response too large: the result exceeds "
             "the limit of %zu bytes; select fewer fields or smaller pages.\",\"extensions\":"
             "{\"code\":\"RESPONSE_TOO_LARGE\",\"limit\":%zu}}]}",
             full - 1, full - 1);
    assert_string_equal(r.json, expect);
    free(r.json);
    free(want);

    /* the run stops early: 20 text fields of 1000 bytes under a 5000-byte
     * budget — the fields after the budget is passed never start */
    char big[1024];
    size_t len = (size_t)snprintf(big, sizeof big, "{");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, " t%d: text(n: 1000)", i);
    snprintf(big + len, sizeof big - len, " }");
    run(big, 0, 5000, &r);
    assert_true(r.ran);
    assert_true(g_calls <= 6);
    assert_non_null(strstr(r.json, "\"data\":null"));
    assert_non_null(strstr(r.json, "\"code\":\"RESPONSE_TOO_LARGE\",\"limit\":5000"));
    free(r.json);
    run(big, 0, 0, &r); /* within the default budget: all of it */
    assert_int_equal(g_calls, 20);
    assert_int_equal(r.write_rc, 0);
    assert_true(strlen(r.json) > 20000);
    free(r.json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_model),
        cmocka_unit_test(test_cost_budget_edge),
        cmocka_unit_test(test_response_budget_edge),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
