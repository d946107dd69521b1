/* test_text.c - core/text.h: hex digits, UTF-8 sequence validation (table-driven invalid forms
 * and an exhaustive count of the well-formed 2- and 3-byte sequences) and UTF-8 encoding. */
#include "testlib.h"

#include <string.h>

#include "core/text.h"

static void test_hex(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        int want = -1;
        if (c >= '0' && c <= '9')
            want = c - '0';
        else if (c >= 'a' && c <= 'f')
            want = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            want = c - 'A' + 10;
        assert_int_equal(dm_text_hex_digit((unsigned char)c), want);
    }
    struct {
        const char *s;
        int v;
    } cases[] = {
        {"0000", 0},
        {"00e9", 0xE9},
        {"D83D", 0xD83D},
        {"ffff", 0xFFFF},
        {"FfFf", 0xFFFF},
        {"12g4", -1},
        {"-123", -1},
        {"+123", -1},
        {" 123", -1},
        {"12\0"
         "3",
         -1},
        {"\xc3\xa9"
         "00",
         -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dm_text_hex4(cases[i].s) != cases[i].v)
            fail_msg("case %zu: %d, want %d", i, dm_text_hex4(cases[i].s), cases[i].v);
}

static void test_utf8_len(void **state)
{
    (void)state;
    struct {
        const char *s;
        size_t n; /* readable bytes */
        size_t want;
    } cases[] = {
        {"a", 1, 1},
        {"\x01", 1, 1},
        {"\x7f", 1, 1},
        {"\xc2\x80", 2, 2},         /* U+0080 */
        {"\xdf\xbf", 2, 2},         /* U+07FF */
        {"\xe0\xa0\x80", 3, 3},     /* U+0800 */
        {"\xed\x9f\xbf", 3, 3},     /* U+D7FF */
        {"\xee\x80\x80", 3, 3},     /* U+E000 */
        {"\xef\xbf\xbf", 3, 3},     /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 4}, /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
        {"\xc3\xa9xyz", 5, 2},      /* only the sequence itself */
        {"\x80", 1, 0},             /* stray continuation */
        {"\xbf", 1, 0},
        {"\xc0\x80", 2, 0},         /* overlong NUL */
        {"\xc1\xbf", 2, 0},         /* overlong U+007F */
        {"\xe0\x80\x80", 3, 0},     /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3, 0},     /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4, 0}, /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, 0},     /* U+D800 */
        {"\xed\xbf\xbf", 3, 0},     /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0}, /* lead above 0xF4 */
        {"\xf8\x88\x80\x80\x80", 5, 0},
        {"\xfe", 1, 0},
        {"\xff", 1, 0},
        {"\xc3", 1, 0}, /* truncated by the end */
        {"\xe2\x82", 2, 0},
        {"\xf0\x9f\x98", 3, 0},
        {"\xe2\x82\xac", 2, 0}, /* readable length counts, not the bytes after */
        {"\xc3\x28", 2, 0},     /* bad continuation */
        {"\xe2\x28\xa1", 3, 0},
        {"\xe2\x82\x28", 3, 0},
        {"\xf0\x28\x8c\xbc", 4, 0},
        {"\xf0\x90\x28\xbc", 4, 0},
        {"\xf0\x90\x8c\x28", 4, 0},
        {"\xc3\xc3", 2, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = dm_text_utf8_len((const unsigned char *)cases[i].s, cases[i].n);
        if (got != cases[i].want)
            fail_msg("case %zu: %zu, want %zu", i, got, cases[i].want);
    }
    /* Exhaustive: exactly the scalar values of each length are accepted. */
    size_t two = 0, three = 0;
    unsigned char b[3];
    for (unsigned a = 0x80; a < 0x100; a++) {
        b[0] = (unsigned char)a;
        for (unsigned c = 0; c < 0x100; c++) {
            b[1] = (unsigned char)c;
            two += dm_text_utf8_len(b, 2) == 2;
            for (unsigned d = 0; d < 0x100; d++) {
                b[2] = (unsigned char)d;
                three += dm_text_utf8_len(b, 3) == 3;
            }
        }
    }
    assert_int_equal(two, 0x800 - 0x80);
    assert_int_equal(three, 0x10000 - 0x800 - 0x800);
}

static void test_utf8_encode(void **state)
{
    (void)state;
    struct {
        uint32_t cp;
        const char *want;
    } cases[] = {
        {0x41, "A"},
        {0x7F, "\x7f"},
        {0x80, "\xc2\x80"},
        {0xE9, "\xc3\xa9"},
        {0x7FF, "\xdf\xbf"},
        {0x800, "\xe0\xa0\x80"},
        {0x20AC, "\xe2\x82\xac"},
        {0xFFFF, "\xef\xbf\xbf"},
        {0x10000, "\xf0\x90\x80\x80"},
        {0x1F600, "\xf0\x9f\x98\x80"},
        {0x10FFFF, "\xf4\x8f\xbf\xbf"},
    };
    char out[4];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = dm_text_utf8_encode(cases[i].cp, out);
        assert_int_equal(n, strlen(cases[i].want));
        assert_memory_equal(out, cases[i].want, n);
    }
    /* Every scalar value round-trips through the validator at its own length. */
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        size_t n = dm_text_utf8_encode(cp, out);
        if (dm_text_utf8_len((const unsigned char *)out, n) != n)
            fail_msg("U+%04X does not validate", (unsigned)cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_utf8_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
