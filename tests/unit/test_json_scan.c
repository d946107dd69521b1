/* test_json_scan.c - the flat JSON tokenizer: RFC 8259 grammar, UTF-8 and escape validation,
 * key lookup (last duplicate wins), decoding and raw slices. Table-driven. */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"

static void test_validity(void **state)
{
    struct {
        const char *text;
        bool ok;
    } cases[] = {
        {"{}", true},
        {" [1, -2.5e+3, 0, \"x\", true, false, null, {\"a\": []}] ", true},
        {"\"\\u00e9\\ud83d\\ude00\\n\\/\"", true},
        {"\"caf\xc3\xa9\"", true},
        {"-0.0E-0", true},
        {"", false},
        {"{", false},
        {"{\"a\" 1}", false},
        {"{\"a\":1,}", false},
        {"[1,]", false},
        {"01", false},
        {"1.", false},
        {".5", false},
        {"-", false},
        {"1e", false},
        {"tru", false},
        {"nul", false},
        {"\"a", false},
        {"\"\\x\"", false},
        {"\"\\u12\"", false},
        {"\"\\u0000\"", false},
        {"\"\\ud800\"", false},
        {"\"\\udc00\"", false},
        {"\"\\ud800\\u0041\"", false},
        {"\"a\tb\"", false},
        {"\"\xc3\"", false},
        {"\"\xc0\xaf\"", false},
        {"\"\xed\xa0\x80\"", false},
        {"\"\xf4\x90\x80\x80\"", false},
        {"{} {}", false},
        {"{\"a\":1}x", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_jscan js;
        struct dm_error err = {0};
        enum dm_err e = dm_jscan_parse(&js, cases[i].text, strlen(cases[i].text), &err);
        if ((e == DM_OK) != cases[i].ok)
            fail_msg("case %zu '%s': e=%d (%s)", i, cases[i].text, e, err.message);
        if (e == DM_OK)
            dm_jscan_free(&js);
        else
            assert_non_null(strstr(err.message, "malformed JSON"));
    }
}

/* String errors: the exact reason and the offset it is reported at (surrogate errors after the
 * first escape, everything else at the offending byte or escape). */
static void test_string_errors(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *msg; /* NULL: accepted */
    } cases[] = {
        {"\"\\ud83d\\ude00\\u00e9\\\"\\\\\\/"
         "\\b\\f\\n\\r\\t\x7f\xc2\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"",
         NULL},
        {"\"a", "malformed JSON at offset 2: unterminated string"},
        {"\"a\x01\"", "malformed JSON at offset 2: control character in string"},
        {"\"\x1f\"", "malformed JSON at offset 1: control character in string"},
        {"\"a\\", "malformed JSON at offset 2: unterminated escape"},
        {"\"\\x\"", "malformed JSON at offset 1: bad escape"},
        {"\"\\U0041\"", "malformed JSON at offset 1: bad escape"},
        {"\"\\u12\"", "malformed JSON at offset 1: short \\u escape"},
        {"\"\\u12g4\"", "malformed JSON at offset 1: bad \\u escape"},
        {"\"x\\u0000\"", "malformed JSON at offset 2: \\u0000 is not allowed"},
        {"\"\\udc00\"", "malformed JSON at offset 7: lone low surrogate"},
        {"\"\\ud800\"", "malformed JSON at offset 7: lone high surrogate"},
        {"\"\\ud800\\u0041\"", "malformed JSON at offset 7: lone high surrogate"},
        {"\"\\ud800\\udbff\"", "malformed JSON at offset 7: lone high surrogate"},
        {"\"\\ud800\\ud\"", "malformed JSON at offset 7: lone high surrogate"},
        {"\"\\ud800\\n\"", "malformed JSON at offset 7: lone high surrogate"},
        {"\"ab\xc3\"", "malformed JSON at offset 3: invalid UTF-8"},
        {"\"\xc0\xaf\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xe0\x80\xaf\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xf0\x80\x80\xaf\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xed\xa0\x80\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xf4\x90\x80\x80\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xf5\x80\x80\x80\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\x80\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xe2\x82", "malformed JSON at offset 1: invalid UTF-8"},
        {"\"\xe2\x82\"", "malformed JSON at offset 1: invalid UTF-8"},
        {"{\"a\x01\":1}", "malformed JSON at offset 3: control character in string"},
        {"[\"ok\",\"\\q\"]", "malformed JSON at offset 7: bad escape"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dm_jscan js;
        struct dm_error err = {0};
        enum dm_err e = dm_jscan_parse(&js, cases[i].text, strlen(cases[i].text), &err);
        if (cases[i].msg == NULL) {
            if (e != DM_OK)
                fail_msg("case %zu refused: %s", i, err.message);
            dm_jscan_free(&js);
            continue;
        }
        if (e != DM_ERR_INVALID || strcmp(err.message, cases[i].msg) != 0)
            fail_msg("case %zu: e=%d '%s', want '%s'", i, e, err.message, cases[i].msg);
    }
}

static void test_depth(void **state)
{
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    struct dm_jscan js;
    struct dm_error err = {0};
    assert_int_equal(dm_jscan_parse(&js, deep, 200, &err), DM_ERR_INVALID);
    assert_non_null(strstr(err.message, "nested too deeply"));
    assert_int_equal(
        dm_jscan_parse(&js, deep + 100 - DM_JSCAN_MAX_DEPTH, 2 * DM_JSCAN_MAX_DEPTH, &err), DM_OK);
    dm_jscan_free(&js);
}

static void test_lookup(void **state)
{
    const char *text = "{\"a\":{\"x\":[1,{\"y\":2}],\"b\":\"in\"},\"b\":\"first\",\"c\":3.50,"
                       "\"b\":\"l\\u00e4st\",\"d\":null,\"e\\u0041\":true}";
    struct dm_jscan js;
    struct dm_error err = {0};
    assert_int_equal(dm_jscan_parse(&js, text, strlen(text), &err), DM_OK);
    int b = dm_jscan_get(&js, 0, "b");
    assert_int_equal(dm_jscan_type(&js, b), DM_JSTR);
    size_t n = 0;
    char *s = dm_jscan_strdup(&js, b, &n);
    assert_string_equal(s, "l\xc3\xa4st"); /* last duplicate wins, escape decoded */
    assert_int_equal(n, 5);
    free(s);
    const char *raw = dm_jscan_raw(&js, b, &n);
    assert_int_equal(n, strlen("\"l\\u00e4st\""));
    assert_memory_equal(raw, "\"l\\u00e4st\"", n);
    int c = dm_jscan_get(&js, 0, "c");
    raw = dm_jscan_raw(&js, c, &n);
    assert_memory_equal(raw, "3.50", 4); /* numbers as written */
    assert_int_equal(dm_jscan_type(&js, dm_jscan_get(&js, 0, "d")), DM_JNULL);
    assert_int_equal(dm_jscan_type(&js, dm_jscan_get(&js, 0, "eA")), DM_JTRUE);
    assert_int_equal(dm_jscan_get(&js, 0, "x"), -1); /* nested keys are not top-level */
    int a = dm_jscan_get(&js, 0, "a");
    assert_int_equal(dm_jscan_type(&js, dm_jscan_get(&js, a, "x")), DM_JARR);
    s = dm_jscan_strdup(&js, dm_jscan_get(&js, a, "b"), NULL);
    assert_string_equal(s, "in");
    free(s);
    assert_int_equal(dm_jscan_get(&js, b, "x"), -1); /* not an object */
    assert_int_equal(dm_jscan_get(&js, -1, "x"), -1);
    assert_int_equal(dm_jscan_type(&js, -1), -1);
    dm_jscan_free(&js);
    dm_jscan_free(&js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_string_errors),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
