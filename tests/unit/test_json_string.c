/* test_json_string.c - core/json_string.h: one JSON string body validated, table-driven:
 * every escape, UTF-8 (overlongs, surrogates, truncated sequences, above U+10FFFF), control
 * characters, \u escapes (short, bad hex, \u0000 on request, lone and reversed surrogates),
 * where each error is reported, and that nothing past the end is read. */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "core/json_string.h"

#define OK DM_JSON_STRING_OK

static void test_scan(void **state)
{
    (void)state;
    struct {
        const char *body; /* after the opening quote */
        bool refuse_nul;
        enum dm_json_string_err want;
        size_t stop; /* offset of the closing quote, or where the error is reported */
        bool escaped;
    } cases[] = {
        {"\"", false, OK, 0, false},
        {"abc\" tail", false, OK, 3, false},
        {"a\x7f\"", false, OK, 2, false},
        {"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", false, OK, 16, true},
        {"\\u00e9\\uFFFF\\u0041\"", false, OK, 18, true},
        {"\\ud83d\\ude00\"", false, OK, 12, true},
        {"\\uDBFF\\uDFFF\"", false, OK, 12, true},
        {"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", false, OK,
         18, false},
        {"\\u0000\"", false, OK, 6, true},
        {"\\u0000\"", true, DM_JSON_STRING_U_NUL, 0, true},
        {"x\\u0000\"", true, DM_JSON_STRING_U_NUL, 1, true},
        {"", false, DM_JSON_STRING_UNTERMINATED, 0, false},
        {"abc", false, DM_JSON_STRING_UNTERMINATED, 3, false},
        {"\\n", false, DM_JSON_STRING_UNTERMINATED, 2, true},
        {"a\x01\"", false, DM_JSON_STRING_CONTROL, 1, false},
        {"\x1f\"", false, DM_JSON_STRING_CONTROL, 0, false},
        {"\t\"", false, DM_JSON_STRING_CONTROL, 0, false},
        {"\n\"", false, DM_JSON_STRING_CONTROL, 0, false},
        {"\\", false, DM_JSON_STRING_ESC_END, 0, true},
        {"ab\\", false, DM_JSON_STRING_ESC_END, 2, true},
        {"\\x\"", false, DM_JSON_STRING_ESC_BAD, 0, true},
        {"\\U0041\"", false, DM_JSON_STRING_ESC_BAD, 0, true},
        {"\\'\"", false, DM_JSON_STRING_ESC_BAD, 0, true},
        {"\\u12\"", false, DM_JSON_STRING_U_SHORT, 0, true},
        {"\\u123", false, DM_JSON_STRING_U_SHORT, 0, true},
        {"\\u12g4\"", false, DM_JSON_STRING_U_BAD, 0, true},
        {"\\u-123\"", false, DM_JSON_STRING_U_BAD, 0, true},
        {"\\u 123\"", false, DM_JSON_STRING_U_BAD, 0, true},
        {"\\udc00\"", false, DM_JSON_STRING_LONE_LOW, 6, true},
        {"\\ude00\\ud83d\"", false, DM_JSON_STRING_LONE_LOW, 6, true},
        {"\\ud800\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800x\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\u0041\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\udbff\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\ue000\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\udcg0\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\udc0", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"\\ud800\\n\"", false, DM_JSON_STRING_LONE_HIGH, 6, true},
        {"ab\xc3\"", false, DM_JSON_STRING_BAD_UTF8, 2, false},
        {"\xc0\xaf\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xc1\xbf\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xe0\x80\xaf\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xf0\x80\x80\xaf\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xed\xa0\x80\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xed\xbf\xbf\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xf4\x90\x80\x80\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xf5\x80\x80\x80\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xff\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\x80\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xe2\x82", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\xe2\x82\"", false, DM_JSON_STRING_BAD_UTF8, 0, false},
        {"\\n\xe2\x28\xa1\"", false, DM_JSON_STRING_BAD_UTF8, 2, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* a private copy of exactly the body: ASan sees any read past the end */
        size_t n = strlen(cases[i].body);
        unsigned char *p = malloc(n ? n : 1);
        memcpy(p, cases[i].body, n);
        const unsigned char *stop = NULL;
        bool esc = !cases[i].escaped;
        enum dm_json_string_err e = dm_json_string_scan(p, p + n, cases[i].refuse_nul, &stop, &esc);
        if (e != cases[i].want || stop != p + cases[i].stop || esc != cases[i].escaped)
            fail_msg("case %zu: err %d at %td escaped %d, want %d at %zu escaped %d", i, e,
                     stop ? stop - p : -1, esc, cases[i].want, cases[i].stop, cases[i].escaped);
        free(p);
    }
}

/* The fast path's table: exactly the bytes other than '"', '\\', controls and non-ASCII. */
static void test_plain_table(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++)
        assert_int_equal(dm_json_string_plain[c], c >= 0x20 && c < 0x80 && c != '"' && c != '\\');
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(dm_json_string_strerror(DM_JSON_STRING_BAD_UTF8), "invalid UTF-8");
    assert_string_equal(dm_json_string_strerror(DM_JSON_STRING_U_NUL), "\\u0000 is not allowed");
    for (int e = DM_JSON_STRING_UNTERMINATED; e <= DM_JSON_STRING_LONE_HIGH; e++)
        assert_string_not_equal(dm_json_string_strerror((enum dm_json_string_err)e),
                                "invalid string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_plain_table),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
