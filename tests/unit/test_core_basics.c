/* Unit tests for src/core: arena, buf, error text, allocation fault hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/core.h"
#include "core/pool.h"
#include "core/text.h"

static void test_arena_alloc_align_and_big(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 256);
    char *p = cd_arena_alloc(&a, 3);
    char *q = cd_arena_alloc(&a, 5);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(((uintptr_t)q) % 16, 0);
    assert_true(q != p);
    char *big = cd_arena_alloc(&a, 10000); /* larger than a block */
    assert_non_null(big);
    memset(big, 'x', 10000);
    char *after = cd_arena_alloc(&a, 8); /* head block still usable */
    assert_non_null(after);
    assert_string_equal(cd_arena_sprintf(&a, "%d-%s", 42, "x"), "42-x");
    char *d = cd_arena_strndup(&a, "hello", 3);
    assert_string_equal(d, "hel");
    cd_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    assert_non_null(cd_arena_alloc(&a, 16));
    cd_arena_free(&a);
}

static void test_arena_fault_injection(void **state)
{
    (void)state;
    cd_arena a;
    cd_arena_init(&a, 128);
    cd_alloc_fail_after(1);
    assert_null(cd_arena_alloc(&a, 8));
    cd_alloc_fail_after(0);
    assert_non_null(cd_arena_alloc(&a, 8));
    cd_arena_free(&a);
}

static void test_buf_json_escape(void **state)
{
    (void)state;
    cd_buf b;
    cd_buf_init(&b);
    cd_buf_json_str(&b, "a\"b\\\n\x01", 6);
    assert_string_equal(b.data, "\"a\\\"b\\\\\\n\\u0001\"");
    cd_buf_reset(&b);
    cd_buf_printf(&b, "%d", 7);
    cd_buf_puts(&b, "x");
    assert_string_equal(b.data, "7x");
    cd_alloc_fail_after(1);
    cd_buf_free(&b);
    cd_buf_puts(&b, "abc");
    assert_true(cd_buf_failed(&b));
    cd_alloc_fail_after(0);
    cd_buf_free(&b);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(cd_strerror(CD_OK), "ok");
    assert_string_equal(cd_strerror(CD_ELIMIT), "limit exceeded");
    assert_string_equal(cd_strerror(-999), "unknown error");
}

static void test_text_is_clean(void **state)
{
    (void)state;
    assert_true(cd_text_is_clean("hello", 5, false));
    assert_true(cd_text_is_clean("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12, false));
    assert_false(cd_text_is_clean("a\nb", 3, false));
    assert_true(cd_text_is_clean("a\nb\tc\r", 6, true));
    assert_false(cd_text_is_clean("a\x01", 2, true));
    assert_false(cd_text_is_clean("\x7f", 1, true));
    assert_false(cd_text_is_clean("\xc0\xaf", 2, false));         /* overlong 2-byte */
    assert_false(cd_text_is_clean("\xe0\x80\xaf", 3, false));     /* overlong 3-byte */
    assert_false(cd_text_is_clean("\xed\xa0\x80", 3, false));     /* surrogate */
    assert_true(cd_text_is_clean("\xed\x9f\xbf", 3, false));      /* U+D7FF */
    assert_false(cd_text_is_clean("\xf0\x80\x80\xaf", 4, false)); /* overlong 4-byte */
    assert_true(cd_text_is_clean("\xf4\x8f\xbf\xbf", 4, false));  /* U+10FFFF */
    assert_false(cd_text_is_clean("\xf4\x90\x80\x80", 4, false)); /* above U+10FFFF */
    assert_false(cd_text_is_clean("\xe2\x82", 2, false));         /* truncated */
}

/* Pool: zeroed objects of every class, packed into slabs found from the
 * object's address; a slab emptied goes back (one spare per class kept);
 * sizes out of range and the fault hook give NULL. */
static void test_uuid(void **state)
{
    (void)state;
    const char *lo = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const char *up = "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D";
    uint8_t a[CD_UUID_BIN], b[CD_UUID_BIN];
    char out[CD_UUID_LEN + 1];
    assert_int_equal(cd_uuid_parse(lo, CD_UUID_LEN, a), CD_UUID_LOWER);
    assert_int_equal(a[0], 0x0a);
    assert_int_equal(a[15], 0x4d);
    assert_int_equal(cd_uuid_parse(up, CD_UUID_LEN, b), CD_UUID_UPPER);
    assert_memory_equal(a, b, CD_UUID_BIN);
    assert_string_equal(cd_uuid_format(a, false, out), lo);
    assert_string_equal(cd_uuid_format(a, true, out), up);
    assert_int_equal(cd_uuid_parse("0a1b2c3d-4E5F-4a6b-8c7d-9e0f1a2b3c4d", CD_UUID_LEN, a),
                     CD_UUID_MIXED);
    assert_int_equal(cd_uuid_parse("01234567-8901-2345-6789-012345678901", CD_UUID_LEN, NULL),
                     CD_UUID_LOWER); /* no letters */
    /* the edges: one character short or over, a dash moved, a non-hex digit, NULL */
    assert_int_equal(cd_uuid_parse(lo, CD_UUID_LEN - 1, NULL), CD_UUID_INVALID);
    char over[CD_UUID_LEN + 2];
    snprintf(over, sizeof over, "%s0", lo);
    assert_int_equal(cd_uuid_parse(over, CD_UUID_LEN + 1, NULL), CD_UUID_INVALID);
    assert_int_equal(cd_uuid_parse("0a1b2c3d4-e5f-4a6b-8c7d-9e0f1a2b3c4d", CD_UUID_LEN, NULL),
                     CD_UUID_INVALID);
    assert_int_equal(cd_uuid_parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g", CD_UUID_LEN, NULL),
                     CD_UUID_INVALID);
    assert_int_equal(cd_uuid_parse(NULL, CD_UUID_LEN, NULL), CD_UUID_INVALID);
}

static void test_pool(void **state)
{
    (void)state;
    size_t base = cd_pool_slabs();
    assert_null(cd_pool_calloc(0));
    assert_null(cd_pool_calloc(CD_POOL_MAX + 1));
    unsigned char *one = cd_pool_calloc(CD_POOL_MAX);
    assert_non_null(one);
    assert_int_equal((uintptr_t)one % 16, 0);
    for (size_t i = 0; i < CD_POOL_MAX; i++)
        assert_int_equal(one[i], 0);
    memset(one, 0xab, CD_POOL_MAX);
    cd_pool_free(one);
    one = cd_pool_calloc(CD_POOL_MAX - 15); /* same class: the freed slot, zeroed again */
    for (size_t i = 0; i < CD_POOL_MAX - 15; i++)
        assert_int_equal(one[i], 0);
    cd_pool_free(one);
    /* enough 376-byte objects for several slabs; all distinct */
    enum { N = 3 * (CD_POOL_SLAB / 384) + 7 };
    static unsigned char *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = cd_pool_calloc(376);
        assert_non_null(objs[i]);
        memset(objs[i], i & 0xff, 376);
    }
    assert_true(cd_pool_slabs() >= base + 4);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 376; k += 75)
            assert_int_equal(objs[i][k], i & 0xff);
    for (int i = 0; i < N; i += 2) /* every other one: slabs stay */
        cd_pool_free(objs[i]);
    for (int i = 1; i < N; i += 2)
        cd_pool_free(objs[i]);
    /* everything freed: at most one spare slab per class used here */
    assert_true(cd_pool_slabs() <= base + 2);
    cd_pool_free(NULL);
    cd_alloc_fail_after(1);
    assert_null(cd_pool_calloc(32));
    cd_alloc_fail_after(0);
    void *p = cd_pool_calloc(32);
    assert_non_null(p);
    cd_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_align_and_big),
        cmocka_unit_test(test_arena_fault_injection),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_buf_json_escape),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_text_is_clean),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
