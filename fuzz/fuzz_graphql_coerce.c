/*
 * fuzz_graphql_coerce.c — libFuzzer driver for variable coercion and the
 * execution that follows: the input is parsed as a JSON variables object
 * (gql_json_parse), coerced against a fixed operation using many variable
 * types over a small fixed schema (gql_exec_set_variables), then run and
 * serialised. The schema and prepared operation are built once; every input
 * gets its own exec. Crashes, leaks and sanitizer reports are the findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_internal.h"

static const char *SDL =
    "scalar DateTime\nscalar JSON\n"
    "enum Color { RED GREEN BLUE }\n"
    "input Inner { x: Int!, y: [Float!] = [1.5] }\n"
    "input Filter { name: String!, limit: Int = 10, color: Color, inner: Inner, "
    "tags: [[String]], when: DateTime, meta: JSON, id: ID }\n"
    "type Out { i: Int f: Float s: String b: Boolean id: ID c: Color d: DateTime j: JSON "
    "l: [Int] ll: [[String!]] o: Out }\n"
    "type Query { echo(i: Int, f: Float, s: String, b: Boolean, id: ID, c: Color, d: DateTime, "
    "j: JSON, l: [Int], ll: [[String!]], filter: Filter, req: Int! = 1): Out }\n";

static const char *QUERY =
    "query Q($i: Int, $f: Float, $s: String = \"dflt\", $b: Boolean!, $id: ID, $c: Color, "
    "$d: DateTime, $j: JSON, $l: [Int], $ll: [[String!]], $filter: Filter, $req: Int! = 3, "
    "$skip: Boolean = false) {\n"
    "  echo(i: $i, f: $f, s: $s, b: $b, id: $id, c: $c, d: $d, j: $j, l: $l, ll: $ll, "
    "filter: $filter, req: $req) @skip(if: $skip) { i f s b id c d j l ll o { i } }\n"
    "  again: echo(i: 1, filter: {name: $s, inner: {x: $req}}) { i s }\n"
    "}\n";

static gql_schema *schema;
static gql_cache *cache;

/* Echo resolver: returns its arguments as the Out object (so result
 * coercion sees every coerced input shape). */
static void r_echo(gql_rinfo *ri)
{
    gql_ri_return(ri, *gql_ri_args(ri));
}

static int init(void)
{
    char err[256];
    if (gql_schema_build(SDL, strlen(SDL), &schema, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz schema: %s\n", err);
        abort();
    }
    if (gql_schema_bind(schema, "Query.echo", r_echo, NULL) != 0) abort();
    cache = gql_cache_new(schema, 4);
    if (!cache) abort();
    return 0;
}

static void on_done(gql_exec *ex, void *ud)
{
    (void)ex;
    (*(int *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) ready = init() == 0;
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_value vars;
    char err[128];
    if (gql_json_parse(&a, (const char *)data, size, &vars, err, sizeof err) != 0) {
        cd_arena_free(&a);
        return 0;
    }
    gql_exec *ex = gql_exec_new(schema, cache);
    if (!ex) abort();
    if (gql_exec_prepare(ex, QUERY, strlen(QUERY), NULL) != 0) {
        /* the operation is valid: only a broken engine gets here */
        cd_buf b;
        cd_buf_init(&b);
        gql_exec_write_result(ex, &b);
        fprintf(stderr, "prepare failed: %s\n", b.data ? b.data : "");
        abort();
    }
    int rc = gql_exec_set_variables(ex, &vars);
    int done = 0;
    if (rc == 0) {
        if (gql_exec_run(ex, NULL, NULL, on_done, &done) != 0 || done != 1) abort();
        if (!gql_exec_has_data(ex)) abort();
    } else if (rc == CD_EBAD) {
        uint32_t n;
        gql_exec_errors(ex, &n);
        if (n == 0 || gql_exec_has_data(ex)) abort();
    }
    cd_buf b;
    cd_buf_init(&b);
    gql_exec_write_result(ex, &b);
    if (getenv("CHATD_FUZZ_DEBUG")) fprintf(stderr, "%s\n", b.data ? b.data : "");
    if (!b.failed && (b.len < 2 || b.data[0] != '{' || b.data[b.len - 1] != '}')) abort();
    cd_buf_free(&b);
    gql_exec_free(ex);
    cd_arena_free(&a);
    return 0;
}
