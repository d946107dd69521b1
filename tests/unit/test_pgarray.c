/* test_pgarray.c - the one PostgreSQL array-literal encoder (core/pgarray.c): empty, one and
 * several elements; '"' and '\' escaped, other text (commas, braces, spaces, NULL, UTF-8) kept
 * inside quotes; dm_pgarray_add after a '{' the caller wrote, also behind other text in the
 * buffer; DM_ERR_TOO_LARGE at the buffer's maximum. */
#include "testlib.h"

#include <string.h>

#include "core/pgarray.h"

static void test_encode(void **state)
{
    (void)state;
    static const struct {
        const char *items[4];
        size_t n;
        const char *want;
    } cases[] = {
        {{NULL}, 0, "{}"},
        {{"a"}, 1, "{\"a\"}"},
        {{"a", "b", "c"}, 3, "{\"a\",\"b\",\"c\"}"},
        {{""}, 1, "{\"\"}"},
        {{"say \"hi\"", "back\\slash"}, 2, "{\"say \\\"hi\\\"\",\"back\\\\slash\"}"},
        {{"a,b", "{x}", "NULL", " sp "}, 4, "{\"a,b\",\"{x}\",\"NULL\",\" sp \"}"},
        {{"\xc3\xa9t\xc3\xa9"}, 1, "{\"\xc3\xa9t\xc3\xa9\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_buf b;
        dm_buf_init(&b, 1024);
        assert_int_equal(dm_pgarray_encode(&b, cases[i].items, cases[i].n), DM_OK);
        assert_string_equal(b.data, cases[i].want);
        dm_buf_free(&b);
    }
}

static void test_add(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 1024);
    assert_int_equal(dm_buf_append_str(&b, "x={"), DM_OK);
    assert_int_equal(dm_pgarray_add(&b, "1"), DM_OK);
    assert_int_equal(dm_pgarray_add(&b, "{"), DM_OK); /* an element that is a brace */
    assert_int_equal(dm_pgarray_add(&b, "2"), DM_OK);
    assert_int_equal(dm_buf_append_char(&b, '}'), DM_OK);
    assert_string_equal(b.data, "x={\"1\",\"{\",\"2\"}");
    dm_buf_free(&b);
}

static void test_too_large(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 8);
    const char *items[] = {"abc", "def"};
    assert_int_equal(dm_pgarray_encode(&b, items, 2), DM_ERR_TOO_LARGE);
    dm_buf_free(&b);
}

/* The binary text[] layout: header (ndim 1, no nulls, oid 25, size, lower bound 1), then
 * length-prefixed elements; no elements: zero dimensions. */
static void test_binary(void **state)
{
    (void)state;
    struct dm_buf b;
    dm_buf_init(&b, 1024);
    assert_int_equal(dm_pgarray_bin_begin(&b), DM_OK);
    assert_int_equal(dm_pgarray_bin_add(&b, "ab", 2), DM_OK);
    assert_int_equal(dm_pgarray_bin_add(&b, "", 0), DM_OK);
    dm_pgarray_bin_end(&b, 2);
    static const unsigned char want[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0,   0,   25, 0, 0, 0,
                                         2, 0, 0, 0, 1, 0, 0, 0, 2, 'a', 'b', 0,  0, 0, 0};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    dm_buf_reset(&b);
    assert_int_equal(dm_pgarray_bin_begin(&b), DM_OK);
    dm_pgarray_bin_end(&b, 0);
    static const unsigned char empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25};
    assert_int_equal(b.len, sizeof(empty));
    assert_memory_equal(b.data, empty, sizeof(empty));
    dm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
