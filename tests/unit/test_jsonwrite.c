/* test_jsonwrite.c - the fast serialiser: same text as jansson's compact dump for structure,
 * strings and integers; reals in shortest exact form that reads back to the same double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonwrite.h"
#include "testlib.h"

static char *write_str(const json_t *j)
{
    struct dm_buf b;
    dm_buf_init(&b, 1 << 20);
    assert_int_equal(dm_json_write(&b, j), DM_OK);
    return b.data ? dm_buf_steal(&b) : dm_xstrdup("");
}

static void test_same_as_jansson_without_reals(void **state)
{
    (void)state;
    static const char *docs[] = {
        "{}",
        "[]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\\\"y\\\\z\\n\\t\\u0001\\u001f/é\"}",
        "{\"id\":\"6084b850\",\"price\":5682536,\"neg\":-42,\"big\":9007199254740993,"
        "\"nested\":{\"k\":[1,[2,[3,{\"deep\":\"v\"}]]]},\"empty\":\"\"}",
        "[-9223372036854775807,0,9223372036854775807]",
        NULL};
    for (int i = 0; docs[i]; i++) {
        json_error_t je;
        json_t *j = json_loads(docs[i], 0, &je);
        assert_non_null(j);
        char *mine = write_str(j);
        char *theirs = json_dumps(j, JSON_COMPACT);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
        json_decref(j);
    }
}

struct real_case {
    double v;
    const char *want; /* NULL: only check it reads back equal */
};

static void test_reals(void **state)
{
    (void)state;
    static const struct real_case cases[] = {
        {1.01, "1.01"},
        {62.5, "62.5"},
        {-36.7, "-36.7"},
        {0.0, "0.0"},
        {100.0, "100.0"},
        {0.000000001, "0.000000001"},
        {123456.789, "123456.789"},
        {0.1, "0.1"},
        {1e20, NULL},
        {3.141592653589793, NULL},
        {1e-12, NULL},
        {-2.5e-7, "-0.00000025"},
        {999999999.5, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_real(cases[i].v);
        char *s = write_str(j);
        print_message("%.17g -> %s\n", cases[i].v, s);
        if (cases[i].want)
            assert_string_equal(s, cases[i].want);
        json_error_t je;
        json_t *back = json_loads(s, JSON_DECODE_ANY, &je);
        assert_non_null(back);
        assert_true(json_is_real(back));
        assert_true(json_real_value(back) == cases[i].v);
        json_decref(back);
        json_decref(j);
        free(s);
    }
    json_t *inf = json_real(1.0);
    assert_int_equal(json_real_set(inf, INFINITY), -1); /* jansson refuses it already */
    json_decref(inf);
}

static void test_limits(void **state)
{
    (void)state;
    json_t *j = json_string("0123456789");
    struct dm_buf b;
    dm_buf_init(&b, 5);
    assert_int_equal(dm_json_write(&b, j), DM_ERR_TOO_LARGE);
    dm_buf_free(&b);
    json_decref(j);
    /* nesting deeper than 64 is refused */
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 80; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    dm_buf_init(&b, 1 << 20);
    assert_int_equal(dm_json_write(&b, root), DM_ERR_INVALID);
    dm_buf_free(&b);
    json_decref(root);
    dm_buf_init(&b, 16);
    assert_int_equal(dm_json_write(&b, NULL), DM_ERR_INVALID);
    dm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_jansson_without_reals),
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
