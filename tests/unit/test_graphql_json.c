/*
 * Unit tests for src/graphql/json.c (group graphql_json) and value.c (group
 * graphql_value): round trips, every rejection with its offset, the depth
 * limit at its edge, duplicate keys, number classification and formatting
 * (expected texts from node's JSON.stringify), string escaping of U+2028/2029
 * and invalid UTF-8, value helpers, and allocation failure at every
 * allocation.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "graphql/value.h"

static char out_text[8192];

/* Writes v compactly into out_text. */
static const char *write_json(const gql_value *v)
{
    cd_buf b;
    cd_buf_init(&b);
    gql_json_write(&b, v);
    assert_false(cd_buf_failed(&b));
    snprintf(out_text, sizeof out_text, "%s", b.data ? b.data : "");
    cd_buf_free(&b);
    return out_text;
}

static int parse(cd_arena *a, const char *s, gql_value *v, char *err, size_t errlen)
{
    return gql_json_parse(a, s, strlen(s), v, err, errlen);
}

/* ---- reader/writer ---- */

static void test_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"null", "null"},
        {" true ", "true"},
        {"\tfalse\r\n", "false"},
        {"0", "0"},
        {"-0", "0"},
        {"42", "42"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775807", "9223372036854775807"},
        {"9223372036854775808", "9223372036854776000"},
        {"1.0", "1"},
        {"1.5", "1.5"},
        {"-1.5e3", "-1500"},
        {"1E400", "null"},
        {"\"\"", "\"\""},
        {"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\""},
        {"\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\\u007f\""},
        {"\"\\u2028\\u2029\"", "\"\\u2028\\u2029\""},
        {"\"raw \xe2\x80\xa8 sep\"", "\"raw \\u2028 sep\""},
        {"[]", "[]"},
        {"{}", "{}"},
        {"[1, [2, [3]], {\"a\": []}]", "[1,[2,[3]],{\"a\":[]}]"},
        {"{ \"a\" : 1 , \"b\" : { \"c\" : null } }", "{\"a\":1,\"b\":{\"c\":null}}"},
        {"{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}"},
        {"{\"k\\u0041\":\"v\"}", "{\"kA\":\"v\"}"},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        cd_arena a;
        cd_arena_init(&a, 0);
        gql_value v;
        char err[128];
        int rc = parse(&a, cases[i].in, &v, err, sizeof err);
        if (rc) print_error("case %zu: %s\n", i, err);
        assert_int_equal(rc, 0);
        const char *got = write_json(&v);
        if (strcmp(got, cases[i].out) != 0) {
            print_error("case %zu: got %s expected %s\n", i, got, cases[i].out);
            fail();
        }
        /* the output parses back to an equal value */
        gql_value w;
        assert_int_equal(parse(&a, got, &w, err, sizeof err), 0);
        char again[8192];
        snprintf(again, sizeof again, "%s", got);
        assert_string_equal(write_json(&w), again);
        cd_arena_free(&a);
    }
}

static void test_rejections(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"", "Unexpected end of JSON input (expected a value) at byte offset 0"},
        {"   ", "Unexpected end of JSON input (expected a value) at byte offset 3"},
        {"[1,]", "Unexpected character ']' (expected a value) at byte offset 3"},
        {"{\"a\":1,}", "Unexpected character '}' (expected string key) at byte offset 7"},
        {"[1 2]", "Unexpected character '2' (expected ',' or ']') at byte offset 3"},
        {"{\"a\" 1}", "Unexpected character '1' (expected ':') at byte offset 5"},
        {"{\"a\":1 \"b\":2}", "Unexpected character '\"' (expected ',' or '}') at byte offset 7"},
        {"{a:1}", "Unexpected character 'a' (expected string key) at byte offset 1"},
        {"01", "Leading zero in number at byte offset 1"},
        {"-01", "Leading zero in number at byte offset 2"},
        {"1.", "Unexpected end of JSON input (expected digit after '.') at byte offset 2"},
        {".5", "Unexpected character '.' (expected a value) at byte offset 0"},
        {"1e", "Unexpected end of JSON input (expected digit in exponent) at byte offset 2"},
        {"1e+", "Unexpected end of JSON input (expected digit in exponent) at byte offset 3"},
        {"-", "Unexpected end of JSON input (expected digit) at byte offset 1"},
        {"+1", "Unexpected character '+' (expected a value) at byte offset 0"},
        {"0x10",
         "Unexpected character 'x' (unexpected data after the JSON value) at byte offset 1"},
        {"NaN", "Unexpected character 'N' (expected a value) at byte offset 0"},
        {"tru", "Unexpected character 't' (expected a value) at byte offset 0"},
        {"nulls",
         "Unexpected character 's' (unexpected data after the JSON value) at byte offset 4"},
        {"\"abc", "Unterminated string at byte offset 4"},
        {"\"a\nb\"", "Control character in string at byte offset 2"},
        {"\"a\tb\"", "Control character in string at byte offset 2"},
        {"\"\\x\"", "Invalid escape in string at byte offset 1"},
        {"\"\\u12\"", "Invalid \\u escape in string at byte offset 1"},
        {"\"\\u12G4\"", "Invalid \\u escape in string at byte offset 1"},
        {"\"\\ud800\"", "Lone surrogate in string at byte offset 1"},
        {"\"\\ud800\\u0041\"", "Lone surrogate in string at byte offset 1"},
        {"\"\\udc00\"", "Lone surrogate in string at byte offset 1"},
        {"\"\xff\"", "Invalid UTF-8 in string at byte offset 1"},
        {"\"\xed\xa0\x80\"", "Invalid UTF-8 in string at byte offset 1"},
        {"\"\xc3\"", "Invalid UTF-8 in string at byte offset 1"},
        {"[1] x",
         "Unexpected character 'x' (unexpected data after the JSON value) at byte offset 4"},
        {"{} {}",
         "Unexpected character '{' (unexpected data after the JSON value) at byte offset 3"},
        {"\xef\xbb\xbf{}", "Unexpected byte 0xEF (expected a value) at byte offset 0"},
        {"[\x01]", "Unexpected byte 0x01 (expected a value) at byte offset 1"},
        {"{\"a\":1,\"k\\u0000x\":2}", "NUL character in object key at byte offset 7"},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        cd_arena a;
        cd_arena_init(&a, 0);
        gql_value v = gql_bool(true);
        char err[160];
        int rc = parse(&a, cases[i].in, &v, err, sizeof err);
        if (rc != CD_EBAD || strcmp(err, cases[i].msg) != 0) {
            print_error("case %zu: rc %d err \"%s\" expected \"%s\"\n", i, rc, err, cases[i].msg);
            fail();
        }
        assert_int_equal(v.kind, GQL_V_NULL); /* never half a value */
        cd_arena_free(&a);
    }
    /* err may be NULL */
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    assert_int_equal(gql_json_parse(&a, "[", 1, &v, NULL, 0), CD_EBAD);
    /* a NUL byte inside the given length is data, not a terminator */
    assert_int_equal(gql_json_parse(&a, "1\0", 2, &v, NULL, 0), CD_EBAD);
    cd_arena_free(&a);
}

static char *nested(unsigned n, char open, char close)
{
    char *s = malloc(2 * n + 2);
    for (unsigned i = 0; i < n; i++)
        s[i] = open;
    s[n] = '1';
    for (unsigned i = 0; i < n; i++)
        s[n + 1 + i] = close;
    s[2 * n + 1] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    char err[160];
    char *s = nested(GQL_JSON_MAX_DEPTH, '[', ']');
    assert_int_equal(parse(&a, s, &v, err, sizeof err), 0);
    free(s);
    s = nested(GQL_JSON_MAX_DEPTH + 1, '[', ']');
    assert_int_equal(parse(&a, s, &v, err, sizeof err), CD_ELIMIT);
    assert_string_equal(err, "JSON nested deeper than 128 levels at byte offset 128");
    free(s);
    /* objects count the same */
    char buf[2048];
    for (unsigned extra = 0; extra < 2; extra++) {
        size_t o = 0;
        for (unsigned i = 0; i < GQL_JSON_MAX_DEPTH + extra; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"a\":");
        buf[o++] = '1';
        for (unsigned i = 0; i < GQL_JSON_MAX_DEPTH + extra; i++)
            buf[o++] = '}';
        buf[o] = '\0';
        assert_int_equal(parse(&a, buf, &v, err, sizeof err), extra ? CD_ELIMIT : 0);
    }
    /* siblings do not add up */
    size_t o = 0;
    buf[o++] = '[';
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s[]", i ? "," : "");
    buf[o++] = ']';
    buf[o] = '\0';
    assert_int_equal(parse(&a, buf, &v, err, sizeof err), 0);
    assert_int_equal(v.len, 300);
    cd_arena_free(&a);
}

static void test_numbers_and_strings(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    char err[160];
    assert_int_equal(parse(&a, "9223372036854775807", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_INT);
    assert_true(v.u.i == INT64_MAX);
    assert_int_equal(parse(&a, "-9223372036854775808", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_INT);
    assert_true(v.u.i == INT64_MIN);
    assert_int_equal(parse(&a, "9223372036854775808", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_FLOAT);
    assert_true(v.u.f == 9223372036854775808.0);
    assert_int_equal(parse(&a, "1.0", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_FLOAT);
    assert_int_equal(parse(&a, "1e2", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_FLOAT);
    assert_true(v.u.f == 100.0);
    /* long number text (arena copy path) */
    char longnum[120];
    memset(longnum, '9', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    assert_int_equal(parse(&a, longnum, &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_FLOAT);
    assert_true(v.u.f > 9.9e118);

    assert_int_equal(parse(&a, "\"a\\u0000b\"", &v, err, sizeof err), 0);
    assert_int_equal(v.kind, GQL_V_STRING);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.u.s, "a\0b", 4);
    assert_string_equal(write_json(&v), "\"a\\u0000b\"");
    cd_arena_free(&a);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value v;
    char err[160];
    /* more keys than the linear-scan threshold: hashed dedup */
    char buf[1024];
    size_t o = (size_t)snprintf(buf, sizeof buf, "{");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"k%d\":%d", i ? "," : "", i % 20, i);
    snprintf(buf + o, sizeof buf - o, "}");
    assert_int_equal(parse(&a, buf, &v, err, sizeof err), 0);
    assert_int_equal(v.len, 20);
    for (int i = 0; i < 20; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_string_equal(v.u.fields[i].name, k);        /* first position */
        assert_int_equal(v.u.fields[i].value.u.i, i + 20); /* last value */
    }
    assert_int_equal(parse(&a, "{\"x\":1,\"x\":[2],\"y\":3,\"x\":4}", &v, err, sizeof err), 0);
    assert_string_equal(write_json(&v), "{\"x\":4,\"y\":3}");
    cd_arena_free(&a);
}

static void test_writer(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *s;
    } nums[] = {
        {0.1, "0.1"},
        {1.0 / 3.0, "0.3333333333333333"},
        {1e21, "1e+21"},
        {1e-7, "1e-7"},
        {123456789012345680000.0, "123456789012345680000"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-1.5, "-1.5"},
        {100.0, "100"},
        {1e20, "100000000000000000000"},
        {0.000001, "0.000001"},
        {1.2345678901234567, "1.2345678901234567"},
        {2.5e-7, "2.5e-7"},
        {-0.0, "0"},
        {4.35, "4.35"},
        {0.3 - 0.2, "0.09999999999999998"},
        {9007199254740994.0, "9007199254740994"},
        {-1e-300, "-1e-300"},
        {123.456e5, "12345600"},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(nums); i++) {
        gql_value v = gql_float(nums[i].d);
        if (strcmp(write_json(&v), nums[i].s) != 0) {
            print_error("num %zu: got %s expected %s\n", i, out_text, nums[i].s);
            fail();
        }
    }
    gql_value v = gql_float(NAN);
    assert_string_equal(write_json(&v), "null");
    v = gql_float(-INFINITY);
    assert_string_equal(write_json(&v), "null");
    v = gql_int(INT64_MIN);
    assert_string_equal(write_json(&v), "-9223372036854775808");

    /* invalid UTF-8 becomes U+FFFD; separators are escaped */
    v = gql_str_ref("a\xff"
                    "b\xe2\x80\xa9"
                    "c\xc3",
                    8);
    assert_string_equal(write_json(&v), "\"a\\ufffdb\\u2029c\\ufffd\"");
    v = gql_str_ref("\xff\xc3\xa9x\xe2\x80\xa8\xc3\xa9", 9); /* valid text after a bad byte */
    assert_string_equal(write_json(&v), "\"\\ufffd\xc3\xa9x\\u2028\xc3\xa9\"");
    v = gql_str_ref("q\"\x01\xe2\x80\xa8", 6);
    assert_string_equal(write_json(&v), "\"q\\\"\\u0001\\u2028\"");
    v = gql_str_ref("", 0);
    assert_string_equal(write_json(&v), "\"\"");

    v = gql_str_ref("ENUM_V", 6);
    v.kind = GQL_V_ENUM;
    assert_string_equal(write_json(&v), "\"ENUM_V\"");
    v.kind = GQL_V_VARIABLE;
    assert_string_equal(write_json(&v), "\"ENUM_V\"");
    v = gql_str_ref("{\"pre\":[1]}", 11);
    v.kind = GQL_V_RAW_JSON;
    assert_string_equal(write_json(&v), "{\"pre\":[1]}");
    v = gql_str_ref("123456789012345678901234", 24);
    v.kind = GQL_V_INT;
    v.flags = GQL_VF_BIG;
    assert_string_equal(write_json(&v), "123456789012345678901234");

    /* object keys are escaped like strings */
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value *o = gql_obj_new(&a, 2);
    gql_obj_set(o, 0, "k\"\n", gql_bool(true));
    gql_obj_set(o, 1, "sep\xe2\x80\xa8", gql_null());
    assert_string_equal(write_json(o), "{\"k\\\"\\n\":true,\"sep\\u2028\":null}");
    cd_arena_free(&a);
}

static void test_json_oom(void **state)
{
    (void)state;
    /* big enough to grow the scratch stack and the dedup table */
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof buf, "{\"list\":[");
    for (int i = 0; i < 400; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"s%d\"", i ? "," : "", i);
    o += (size_t)snprintf(buf + o, sizeof buf - o, "]");
    for (int i = 0; i < 30; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, ",\"k%d\":{\"x\\n\":%d.5}", i % 15, i);
    o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
    long n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        cd_arena a;
        cd_arena_init(&a, 256);
        gql_value v;
        char err[160];
        cd_alloc_fail_after(n);
        int rc = gql_json_parse(&a, buf, o, &v, err, sizeof err);
        cd_alloc_fail_after(0);
        if (rc == 0) {
            assert_int_equal(v.len, 16);
            cd_arena_free(&a);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_non_null(strstr(err, "Out of memory"));
        failures++;
        cd_arena_free(&a);
    }
    assert_true(failures > 10);
    assert_true(n < 100000);
}

/* ---- value helpers ---- */

static void test_constructors(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    assert_int_equal(gql_null().kind, GQL_V_NULL);
    assert_int_equal(gql_null().loc.line, 0);
    assert_true(gql_bool(true).u.b);
    assert_int_equal(gql_int(-5).u.i, -5);
    assert_true(gql_float(2.5).u.f == 2.5);
    const char *lit = "hello";
    gql_value r = gql_str_ref(lit, 5);
    assert_ptr_equal(r.u.s, lit);
    gql_value d = gql_str_dup(&a, "he\0llo", 6);
    assert_int_equal(d.kind, GQL_V_STRING);
    assert_int_equal(d.len, 6);
    assert_memory_equal(d.u.s, "he\0llo\0", 7);
    gql_value *l = gql_list_new(&a, 3);
    assert_int_equal(l->kind, GQL_V_LIST);
    assert_int_equal(l->len, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(l->u.items[i].kind, GQL_V_NULL);
    gql_value *e = gql_list_new(&a, 0);
    assert_int_equal(e->len, 0);
    gql_value *o = gql_obj_new(&a, 2);
    assert_int_equal(o->kind, GQL_V_OBJECT);
    assert_null(o->u.fields[1].name);
    gql_obj_set(o, 0, "a", gql_int(1));
    gql_obj_set(o, 1, "b", gql_str_ref("x", 1));
    assert_int_equal(gql_obj_get(o, "a")->u.i, 1);
    assert_string_equal(gql_obj_get(o, "b")->u.s, "x");
    assert_null(gql_obj_get(o, "c"));
    assert_null(gql_obj_get(l, "a"));
    assert_null(gql_obj_get(NULL, "a"));
    /* OOM */
    cd_arena b;
    cd_arena_init(&b, 0);
    cd_alloc_fail_after(1);
    assert_null(gql_list_new(&b, 2));
    assert_int_equal(gql_str_dup(&b, "x", 1).kind, GQL_V_NULL);
    assert_null(gql_obj_new(&b, 1));
    cd_alloc_fail_after(0);
    cd_arena_free(&b);
    cd_arena_free(&a);
}

static void test_equal_and_clone(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 0);
    gql_value x, y;
    char err[160];
    const char *doc = "{\"a\":[1,2.5,\"s\",null,true,{\"b\":\"c\"}],\"d\":{}}";
    assert_int_equal(parse(&a, doc, &x, err, sizeof err), 0);
    /* same members, other order: equal */
    assert_int_equal(
        parse(&a, "{\"d\":{},\"a\":[1,2.5,\"s\",null,true,{\"b\":\"c\"}]}", &y, err, sizeof err),
        0);
    assert_true(gql_value_equal(&x, &y));
    static const char *const differ[] = {
        "{\"a\":[1,2.5,\"s\",null,true,{\"b\":\"C\"}],\"d\":{}}",
        "{\"a\":[1,2.5,\"s\",null,false,{\"b\":\"c\"}],\"d\":{}}",
        "{\"a\":[1,2.5,\"s\",null,true],\"d\":{}}",
        "{\"a\":[1.0,2.5,\"s\",null,true,{\"b\":\"c\"}],\"d\":{}}", /* INT vs FLOAT */
        "{\"a\":[1,2.5,\"s\",null,true,{\"b\":\"c\"}],\"e\":{}}",
        "{\"a\":[1,2.5,\"s\",null,true,{\"b\":\"c\"}],\"d\":{},\"f\":1}",
        "{\"a\":[1,2.5,\"s\",0,true,{\"b\":\"c\"}],\"d\":{}}",
        "{\"a\":[1,2.5,\"st\",null,true,{\"b\":\"c\"}],\"d\":{}}",
        "{\"a\":[1,2.25,\"s\",null,true,{\"b\":\"c\"}],\"d\":{}}",
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(differ); i++) {
        assert_int_equal(parse(&a, differ[i], &y, err, sizeof err), 0);
        if (gql_value_equal(&x, &y)) {
            print_error("differ %zu compared equal\n", i);
            fail();
        }
    }
    gql_value en = gql_str_ref("A", 1), st = gql_str_ref("A", 1);
    en.kind = GQL_V_ENUM;
    assert_false(gql_value_equal(&en, &st));
    gql_value big1 = gql_str_ref("99999999999999999999", 20), big2 = big1;
    big1.kind = big2.kind = GQL_V_INT;
    big1.flags = big2.flags = GQL_VF_BIG;
    assert_true(gql_value_equal(&big1, &big2));
    gql_value small = gql_int(5);
    assert_false(gql_value_equal(&big1, &small));

    /* clone is deep: survives the source arena and equals the source */
    cd_arena src;
    cd_arena_init(&src, 0);
    gql_value v;
    assert_int_equal(parse(&src, doc, &v, err, sizeof err), 0);
    gql_value *c = gql_value_clone(&a, &v);
    assert_non_null(c);
    assert_true(gql_value_equal(c, &x));
    gql_value *cb = gql_value_clone(&a, &big1);
    assert_true(gql_value_equal(cb, &big1));
    assert_true(cb->u.s != big1.u.s);
    cd_arena_free(&src); /* ASan would flag any pointer into it */
    assert_string_equal(write_json(c), "{\"a\":[1,2.5,\"s\",null,true,{\"b\":\"c\"}],\"d\":{}}");

    /* clone under allocation failure: NULL at every failing step, never a crash */
    long n;
    for (n = 1; n < 1000; n++) {
        cd_arena t;
        cd_arena_init(&t, 64);
        cd_alloc_fail_after(n);
        gql_value *cc = gql_value_clone(&t, &x);
        cd_alloc_fail_after(0);
        cd_arena_free(&t);
        if (cc) break;
    }
    assert_true(n > 3 && n < 1000);
    cd_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest json_tests[] = {
        cmocka_unit_test(test_round_trips),    cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_depth_limit),    cmocka_unit_test(test_numbers_and_strings),
        cmocka_unit_test(test_duplicate_keys), cmocka_unit_test(test_writer),
        cmocka_unit_test(test_json_oom),
    };
    const struct CMUnitTest value_tests[] = {
        cmocka_unit_test(test_constructors),
        cmocka_unit_test(test_equal_and_clone),
    };
    int failed = cmocka_run_group_tests_name("graphql_json", json_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("graphql_value", value_tests, NULL, NULL);
    return failed;
}
