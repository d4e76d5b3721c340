/*
 * gqlrun — runs GraphQL requests through chatd's engine, one JSON line in, one
 * JSON line out; the C side of the differential tests against graphql-js
 * (tests/graphql-diff/run.mjs).
 *
 *   gqlrun --schema file.graphql --data data.json [--service role] [--no-cache] [--rerun]
 *   stdin:  {"query": "...", "variables": {...}, "operationName": "..."}  per line
 *   stdout: the exact response of gql_exec_write_result, per line
 *
 * Root value = the data JSON. Every field resolves with the default resolver
 * (the parent's property of the same name) except three test hooks, bound on
 * every object type that has such a field:
 *   boom   errors with message "boom"
 *   later  asynchronous: returns the parent's "laterValue" property, completed
 *          from a FIFO queue drained after gql_exec_run() returns (so results
 *          arrive after the run started, like resolvers finishing on the loop)
 *   echo   returns its coerced arguments object (to compare coercion)
 * The matching graphql-js resolvers are in run.mjs.
 *
 * --rerun runs every prepared request a second time on the same exec (as the
 * server does for each subscription event) and reports a difference between
 * the two responses as an error line.
 *
 * Memory: schema and data live for the whole run; each request has its own
 * arena for the request JSON and its own gql_exec, both freed after the line
 * is written. Documents go through a gql_cache unless --no-cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_internal.h"

#define GQLRUN_MAX_FILE (16u * 1024u * 1024u)

typedef struct gqlrun_queue {
    gql_rinfo **items;
    size_t head, n, cap;
} gqlrun_queue;

static gqlrun_queue gqlrun_later;

static char *gqlrun_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = cd_malloc(GQLRUN_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, GQLRUN_MAX_FILE, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void gqlrun_boom(gql_rinfo *ri)
{
    gql_ri_error(ri, NULL, "boom");
}

static void gqlrun_echo(gql_rinfo *ri)
{
    gql_ri_return(ri, *gql_ri_args(ri));
}

static void gqlrun_later_fn(gql_rinfo *ri)
{
    gqlrun_queue *q = &gqlrun_later;
    if (q->head + q->n == q->cap) {
        if (q->head > 0) {
            memmove(q->items, q->items + q->head, q->n * sizeof *q->items);
            q->head = 0;
        } else {
            size_t cap = q->cap ? q->cap * 2 : 64;
            gql_rinfo **items = cd_realloc(q->items, cap * sizeof *items);
            if (!items) {
                gql_ri_error(ri, NULL, "out of memory");
                return;
            }
            q->items = items;
            q->cap = cap;
        }
    }
    q->items[q->head + q->n++] = ri;
}

static void gqlrun_drain(void)
{
    gqlrun_queue *q = &gqlrun_later;
    while (q->n > 0) {
        gql_rinfo *ri = q->items[q->head++];
        q->n--;
        if (q->n == 0) q->head = 0;
        const gql_value *parent = gql_ri_parent(ri);
        const gql_value *v =
            parent && parent->kind == GQL_V_OBJECT ? gql_obj_get(parent, "laterValue") : NULL;
        gql_ri_return(ri, v ? *v : gql_null());
    }
}

static int gqlrun_bind_hooks(gql_schema *s)
{
    for (uint32_t i = 0; i < s->ntypes; i++) {
        const gql_type *t = s->types[i];
        if (t->kind != GQL_T_OBJECT || t->builtin) continue;
        for (uint32_t j = 0; j < t->nfields; j++) {
            const char *name = t->fields[j].name;
            gql_resolve_fn fn = NULL;
            if (strcmp(name, "boom") == 0)
                fn = gqlrun_boom;
            else if (strcmp(name, "later") == 0)
                fn = gqlrun_later_fn;
            else if (strcmp(name, "echo") == 0)
                fn = gqlrun_echo;
            if (!fn) continue;
            char coord[256];
            snprintf(coord, sizeof coord, "%s.%s", t->name, name);
            int rc = gql_schema_bind(s, coord, fn, NULL);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

static void gqlrun_done(gql_exec *ex, void *ud)
{
    (void)ex;
    *(bool *)ud = true;
}

static void gqlrun_fail_line(const char *msg)
{
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_puts(&b, "{\"errors\":[{\"message\":");
    cd_buf_json_str(&b, msg, strlen(msg));
    cd_buf_puts(&b, "}]}\n");
    fwrite(b.data, 1, b.len, stdout);
    cd_buf_free(&b);
}

/* Runs a prepared exec to completion (draining the `later` queue). */
static int gqlrun_run(gql_exec *ex, const gql_value *data, const gql_exec_opts *opts)
{
    bool done = false;
    int rc = gql_exec_run(ex, data, opts, gqlrun_done, &done);
    gqlrun_drain();
    if (rc != 0) {
        gqlrun_fail_line("gqlrun: gql_exec_run failed");
        return -1;
    }
    if (!done) {
        gqlrun_fail_line("gqlrun: run did not complete after the queue drained");
        return -1;
    }
    return 0;
}

/* Runs one request line; writes one response line. */
static void gqlrun_request(gql_schema *s, gql_cache *cache, const gql_value *data,
                           const gql_exec_opts *opts, bool rerun, const char *line, size_t len)
{
    cd_arena a;
    cd_arena_init(&a, 8192);
    gql_value req;
    char err[256];
    if (gql_json_parse(&a, line, len, &req, err, sizeof err) != 0 || req.kind != GQL_V_OBJECT) {
        gqlrun_fail_line("gqlrun: request line is not a JSON object");
        cd_arena_free(&a);
        return;
    }
    const gql_value *q = gql_obj_get(&req, "query");
    const gql_value *vars = gql_obj_get(&req, "variables");
    const gql_value *opn = gql_obj_get(&req, "operationName");
    if (!q || q->kind != GQL_V_STRING) {
        gqlrun_fail_line("gqlrun: request has no query string");
        cd_arena_free(&a);
        return;
    }
    if (vars && vars->kind == GQL_V_NULL) vars = NULL;
    const char *opname = opn && opn->kind == GQL_V_STRING ? opn->u.s : NULL;

    gql_exec *ex = gql_exec_new(s, cache);
    if (!ex) {
        gqlrun_fail_line("gqlrun: out of memory");
        cd_arena_free(&a);
        return;
    }
    bool prepared =
        gql_exec_prepare(ex, q->u.s, q->len, opname) == 0 && gql_exec_set_variables(ex, vars) == 0;
    if (prepared && gqlrun_run(ex, data, opts) != 0) {
        gql_exec_free(ex);
        cd_arena_free(&a);
        return;
    }
    cd_buf out;
    cd_buf_init(&out);
    gql_exec_write_result(ex, &out);
    if (prepared && rerun) {
        cd_buf again;
        cd_buf_init(&again);
        if (gqlrun_run(ex, data, opts) != 0) {
            cd_buf_free(&again);
            cd_buf_free(&out);
            gql_exec_free(ex);
            cd_arena_free(&a);
            return;
        }
        gql_exec_write_result(ex, &again);
        bool same =
            again.len == out.len && (out.len == 0 || memcmp(again.data, out.data, out.len) == 0);
        cd_buf_free(&again);
        if (!same) {
            gqlrun_fail_line("gqlrun: a second run of the same exec answered differently");
            cd_buf_free(&out);
            gql_exec_free(ex);
            cd_arena_free(&a);
            return;
        }
    }
    cd_buf_putc(&out, '\n');
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    cd_buf_free(&out);
    gql_exec_free(ex);
    cd_arena_free(&a);
}

static void gqlrun_usage(void)
{
    fprintf(stderr, "usage: gqlrun --schema file.graphql --data data.json [--service role] "
                    "[--no-cache] [--rerun]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *schema_path = NULL, *data_path = NULL;
    gql_exec_opts opts = {0};
    bool use_cache = true, rerun = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc)
            schema_path = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data_path = argv[++i];
        else if (strcmp(argv[i], "--service") == 0 && i + 1 < argc)
            opts.service = argv[++i];
        else if (strcmp(argv[i], "--no-cache") == 0)
            use_cache = false;
        else if (strcmp(argv[i], "--rerun") == 0)
            rerun = true;
        else
            gqlrun_usage();
    }
    if (!schema_path || !data_path) gqlrun_usage();

    size_t sdl_len = 0, data_len = 0;
    char *sdl = gqlrun_read_file(schema_path, &sdl_len);
    char *data_text = gqlrun_read_file(data_path, &data_len);
    if (!sdl || !data_text) {
        fprintf(stderr, "gqlrun: cannot read %s\n", !sdl ? schema_path : data_path);
        return 1;
    }
    gql_schema *s = NULL;
    char err[512];
    if (gql_schema_build(sdl, sdl_len, &s, err, sizeof err) != 0) {
        fprintf(stderr, "gqlrun: %s: %s\n", schema_path, err);
        return 1;
    }
    if (gqlrun_bind_hooks(s) != 0) {
        fprintf(stderr, "gqlrun: binding test resolvers failed\n");
        return 1;
    }
    cd_arena data_arena;
    cd_arena_init(&data_arena, 65536);
    gql_value data;
    if (gql_json_parse(&data_arena, data_text, data_len, &data, err, sizeof err) != 0) {
        fprintf(stderr, "gqlrun: %s: %s\n", data_path, err);
        return 1;
    }
    gql_cache *cache = use_cache ? gql_cache_new(s, GQL_CACHE_DEFAULT_ENTRIES) : NULL;

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0) continue;
        gqlrun_request(s, cache, &data, &opts, rerun, line, (size_t)n);
    }
    free(line);
    cd_free(gqlrun_later.items);
    if (cache) gql_cache_free(cache);
    cd_arena_free(&data_arena);
    gql_schema_free(s);
    cd_free(sdl);
    cd_free(data_text);
    return 0;
}
