/*
 * gqlbench — micro-benchmark of chatd's GraphQL engine on a realistic
 * chat-list query (bench/graphql/query.graphql: chats with their last message,
 * its sender and the participants; 42 fields, fragments, variables, @include)
 * over in-memory data (bench/graphql/data.json: a page of 10 chats with 3
 * participants each; data-1chat.json: one chat), default resolvers.
 *
 *   gqlbench --schema schema/chat.graphql --dir bench/graphql [--data data.json] [--ms 1000]
 *            [--only parse|validate|execute|uncached|cached]
 *
 * Stages, each timed over as many iterations as fit in --ms (after a warm-up),
 * printed as JSON lines {"stage": ..., "ns_per_op": ..., "iters": ...}:
 *   parse       gql_parse of the query text (arena reset per iteration)
 *   validate    gql_validate of the parsed document
 *   execute     run + JSON write of an already prepared exec (the same work as
 *               graphql-js execute() + JSON.stringify of a pre-parsed document)
 *   uncached    gql_exec_new without cache → prepare (parse + validate) →
 *               variables → run → JSON write → free: a request with no cache
 *   cached      the same with a warm gql_cache (hit) — chatd's normal path
 * The node counterpart is bench/graphql/bench.mjs; bench/graphql/run.sh runs both.
 *
 * Memory: schema, data and cache live for the whole run; each iteration's
 * exec and arena are freed before the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graphql/gql_internal.h"

#define GQLBENCH_MAX_FILE (4u * 1024u * 1024u)
#define GQLBENCH_WARMUP_MS 200

static char *gqlbench_read(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    if (dir)
        snprintf(path, sizeof path, "%s/%s", dir, name);
    else
        snprintf(path, sizeof path, "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gqlbench: cannot open %s\n", path);
        exit(1);
    }
    char *buf = cd_malloc(GQLBENCH_MAX_FILE + 1);
    if (!buf) exit(1);
    size_t n = fread(buf, 1, GQLBENCH_MAX_FILE, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static uint64_t gqlbench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct gqlbench_ctx {
    gql_schema *s;
    gql_cache *cache;
    const char *query;
    size_t qlen;
    gql_value data;
    gql_value vars;
    cd_arena scratch;
    gql_document *doc;
    gql_exec *prepared;
    cd_buf out;
    size_t out_len;
} gqlbench_ctx;

typedef void (*gqlbench_fn)(gqlbench_ctx *c);

static void gqlbench_done(gql_exec *ex, void *ud)
{
    (void)ex;
    *(bool *)ud = true;
}

static void gqlbench_fail(const char *what, gql_exec *ex)
{
    cd_buf b;
    cd_buf_init(&b);
    if (ex) gql_exec_write_result(ex, &b);
    fprintf(stderr, "gqlbench: %s failed %s\n", what, b.data ? b.data : "");
    cd_buf_free(&b);
    exit(1);
}

static void stage_parse(gqlbench_ctx *c)
{
    cd_arena_reset(&c->scratch);
    gql_syntax_error err;
    if (gql_parse(&c->scratch, c->query, c->qlen, &c->doc, &err) != 0) gqlbench_fail("parse", NULL);
}

static void stage_validate(gqlbench_ctx *c)
{
    cd_arena_reset(&c->scratch);
    gql_error_list errs;
    gql_errors_init(&errs, &c->scratch);
    if (gql_validate(c->s, c->doc, &errs) != 0) gqlbench_fail("validate", NULL);
}

static void gqlbench_run(gqlbench_ctx *c, gql_exec *ex)
{
    bool done = false;
    if (gql_exec_run(ex, &c->data, NULL, gqlbench_done, &done) != 0 || !done)
        gqlbench_fail("run", ex);
    cd_buf_reset(&c->out);
    gql_exec_write_result(ex, &c->out);
    c->out_len = c->out.len;
}

static void stage_execute(gqlbench_ctx *c)
{
    gqlbench_run(c, c->prepared);
}

static void gqlbench_request(gqlbench_ctx *c, gql_cache *cache)
{
    gql_exec *ex = gql_exec_new(c->s, cache);
    if (!ex) gqlbench_fail("exec_new", NULL);
    if (gql_exec_prepare(ex, c->query, c->qlen, NULL) != 0) gqlbench_fail("prepare", ex);
    if (gql_exec_set_variables(ex, &c->vars) != 0) gqlbench_fail("variables", ex);
    gqlbench_run(c, ex);
    gql_exec_free(ex);
}

static void stage_uncached(gqlbench_ctx *c)
{
    gqlbench_request(c, NULL);
}

static void stage_cached(gqlbench_ctx *c)
{
    gqlbench_request(c, c->cache);
}

static const char *gqlbench_only;

static void gqlbench_time(gqlbench_ctx *c, const char *name, gqlbench_fn fn, unsigned ms)
{
    if (gqlbench_only && strcmp(gqlbench_only, name) != 0) return;
    uint64_t end = gqlbench_now_ns() + (uint64_t)GQLBENCH_WARMUP_MS * 1000000u;
    while (gqlbench_now_ns() < end)
        fn(c);
    uint64_t iters = 0, batch = 64;
    uint64_t t0 = gqlbench_now_ns(), t1 = t0;
    end = t0 + (uint64_t)ms * 1000000u;
    while (t1 < end) {
        for (uint64_t i = 0; i < batch; i++)
            fn(c);
        iters += batch;
        t1 = gqlbench_now_ns();
    }
    printf("{\"stage\":\"%s\",\"ns_per_op\":%.1f,\"iters\":%llu}\n", name,
           (double)(t1 - t0) / (double)iters, (unsigned long long)iters);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *schema_path = "schema/chat.graphql", *dir = "bench/graphql";
    const char *data_name = "data.json";
    const char *only = NULL; /* --only <stage>: time one stage (for profiling) */
    unsigned ms = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc)
            schema_path = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data_name = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
            ms = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: gqlbench [--schema chat.graphql] [--dir bench/graphql] "
                            "[--data data.json] [--ms N] [--only stage]\n");
            return 2;
        }
    }
    gqlbench_only = only;
    gqlbench_ctx c;
    memset(&c, 0, sizeof c);
    size_t sdl_len, data_len;
    char *sdl = gqlbench_read(NULL, schema_path, &sdl_len);
    char *data_text = gqlbench_read(dir, data_name, &data_len);
    char *query = gqlbench_read(dir, "query.graphql", &c.qlen);
    c.query = query;
    char err[512];
    if (gql_schema_build(sdl, sdl_len, &c.s, err, sizeof err) != 0) {
        fprintf(stderr, "gqlbench: schema: %s\n", err);
        return 1;
    }
    cd_arena data_arena;
    cd_arena_init(&data_arena, 65536);
    static const char vars_json[] = "{\"userId\":\"0b8c5f3e-0000-4000-8000-000000000001\"}";
    if (gql_json_parse(&data_arena, data_text, data_len, &c.data, err, sizeof err) != 0 ||
        gql_json_parse(&data_arena, vars_json, sizeof vars_json - 1, &c.vars, err, sizeof err) !=
            0) {
        fprintf(stderr, "gqlbench: data: %s\n", err);
        return 1;
    }
    c.cache = gql_cache_new(c.s, GQL_CACHE_DEFAULT_ENTRIES);
    cd_arena_init(&c.scratch, 65536);
    cd_buf_init(&c.out);

    /* a prepared exec for the execute-only stage (prepare once, run many) */
    c.prepared = gql_exec_new(c.s, c.cache);
    if (!c.prepared || gql_exec_prepare(c.prepared, c.query, c.qlen, NULL) != 0 ||
        gql_exec_set_variables(c.prepared, &c.vars) != 0)
        gqlbench_fail("prepare", c.prepared);

    gqlbench_time(&c, "parse", stage_parse, ms);
    /* validate needs a parsed document that outlives the scratch resets */
    cd_arena doc_arena;
    cd_arena_init(&doc_arena, 65536);
    gql_syntax_error serr;
    if (gql_parse(&doc_arena, c.query, c.qlen, &c.doc, &serr) != 0) gqlbench_fail("parse", NULL);
    gqlbench_time(&c, "validate", stage_validate, ms);
    gqlbench_time(&c, "execute", stage_execute, ms);
    gqlbench_time(&c, "uncached", stage_uncached, ms);
    gqlbench_time(&c, "cached", stage_cached, ms);
    printf("{\"stage\":\"response_bytes\",\"bytes\":%zu}\n", c.out_len);

    gql_exec_free(c.prepared);
    cd_arena_free(&doc_arena);
    cd_buf_free(&c.out);
    cd_arena_free(&c.scratch);
    gql_cache_free(c.cache);
    cd_arena_free(&data_arena);
    gql_schema_free(c.s);
    cd_free(sdl);
    cd_free(data_text);
    cd_free(query);
    return 0;
}
