/*
 * fuzz_graphql_json.c — libFuzzer driver for the JSON reader and writer.
 * Parses the input; on success writes it, re-parses the output (must
 * succeed), writes again (the text must be a fixpoint), checks the second
 * and third values are gql_value_equal and that the first and second agree
 * up to number representation (1.0 is written as 1, like JSON.stringify).
 * Any mismatch aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/value.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant violated: %s\n", what);
        abort();
    }
}

static int is_num(const gql_value *v)
{
    return v->kind == GQL_V_INT || v->kind == GQL_V_FLOAT;
}
static double num(const gql_value *v)
{
    return v->kind == GQL_V_INT ? (double)v->u.i : v->u.f;
}

/* Equality where numbers compare by value and non-finite floats match null. */
static int loose_equal(const gql_value *a, const gql_value *b)
{
    if (a->kind == GQL_V_FLOAT && !isfinite(a->u.f)) return b->kind == GQL_V_NULL;
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case GQL_V_LIST:
        if (a->len != b->len) return 0;
        for (uint32_t i = 0; i < a->len; i++)
            if (!loose_equal(&a->u.items[i], &b->u.items[i])) return 0;
        return 1;
    case GQL_V_OBJECT:
        if (a->len != b->len) return 0;
        for (uint32_t i = 0; i < a->len; i++) {
            const gql_value *w = gql_obj_get(b, a->u.fields[i].name);
            if (!w || !loose_equal(&a->u.fields[i].value, w)) return 0;
        }
        return 1;
    default:
        return gql_value_equal(a, b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v1, v2, v3;
    char err[256];
    int rc = gql_json_parse(&a, (const char *)data, size, &v1, err, sizeof err);
    if (rc != 0) {
        check(rc == CD_EBAD || rc == CD_ELIMIT || rc == CD_ENOMEM, "error code");
        check(strstr(err, "at byte offset") != NULL, "error message has an offset");
        check(v1.kind == GQL_V_NULL, "no value on error");
        cd_arena_free(&a);
        return 0;
    }
    cd_buf w1, w2;
    cd_buf_init(&w1);
    cd_buf_init(&w2);
    gql_json_write(&w1, &v1);
    check(!cd_buf_failed(&w1), "write");
    rc = gql_json_parse(&a, w1.data, w1.len, &v2, err, sizeof err);
    if (rc != 0) fprintf(stderr, "re-parse failed: %s\n%.*s\n", err, (int)w1.len, w1.data);
    check(rc == 0, "written JSON parses");
    gql_json_write(&w2, &v2);
    check(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0, "write is a fixpoint");
    check(gql_json_parse(&a, w2.data, w2.len, &v3, err, sizeof err) == 0, "re-parse 2");
    check(gql_value_equal(&v2, &v3), "gql_value_equal after round trip");
    check(loose_equal(&v1, &v2), "first round trip keeps the value");
    gql_value *c = gql_value_clone(&a, &v1);
    check(c != NULL && gql_value_equal(c, &v1), "clone equals");
    cd_buf_free(&w1);
    cd_buf_free(&w2);
    cd_arena_free(&a);
    return 0;
}
