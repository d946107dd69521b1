/* test_duration.c - dm_duration_format (core/duration.h): each range's form, the boundaries
 * between them, negative durations and a short buffer. */
#include "testlib.h"

#include <string.h>

#include "core/duration.h"

static void test_forms(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {-5000, "0.0s"},      {0, "0.0s"},
        {99, "0.0s"},         {4250, "4.2s"},
        {59999, "59.9s"},     {60000, "1m00s"},
        {187000, "3m07s"},    {3599999, "59m59s"},
        {3600000, "1h00m"},   {7500000, "2h05m"},
        {86399999, "23h59m"}, {86400000, "1d00h"},
        {97200000, "1d03h"},  {8640000000, "100d00h"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16];
        dm_duration_format(cases[i].ms, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_short_buffer(void **state)
{
    (void)state;
    char out[4] = "xxx";
    dm_duration_format(187000, out, sizeof(out));
    assert_string_equal(out, "3m0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forms),
                                       cmocka_unit_test(test_short_buffer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
