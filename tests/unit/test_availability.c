/* test_availability.c - availability normalisation (feed.md §2), table-driven. */
#include "testlib.h"

#include <string.h>

#include "domain/availability.h"

static void test_normalise(void **state)
{
    struct {
        const char *raw;
        enum dm_availability want;
    } cases[] = {
        {"available", DM_AVAIL_AVAILABLE},
        {"AVAILABLE", DM_AVAIL_AVAILABLE},
        {"Available now", DM_AVAIL_AVAILABLE},
        {"Unavailable", DM_AVAIL_UNAVAILABLE},
        {"UNAVAILABLE", DM_AVAIL_UNAVAILABLE},
        {"NOT AVAILABLE", DM_AVAIL_UNAVAILABLE},
        {"not available", DM_AVAIL_UNAVAILABLE},
        {"Currently Not Available", DM_AVAIL_UNAVAILABLE},
        {"On Hold", DM_AVAIL_ON_HOLD},
        {"ON_HOLD", DM_AVAIL_ON_HOLD},
        {"hold", DM_AVAIL_ON_HOLD},
        {"Sold out", DM_AVAIL_SOLD},
        {"SOLD", DM_AVAIL_SOLD},
        {"memo", DM_AVAIL_UNAVAILABLE},
        {"", DM_AVAIL_UNAVAILABLE},
        {NULL, DM_AVAIL_UNAVAILABLE},
        {"availabl", DM_AVAIL_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum dm_availability got = dm_availability_normalise(cases[i].raw);
        if (got != cases[i].want)
            fail_msg("'%s': got %s, want %s", cases[i].raw ? cases[i].raw : "(null)",
                     dm_availability_name(got), dm_availability_name(cases[i].want));
    }
}

static void test_names(void **state)
{
    assert_string_equal(dm_availability_name(DM_AVAIL_AVAILABLE), "available");
    assert_string_equal(dm_availability_name(DM_AVAIL_ON_HOLD), "on_hold");
    assert_string_equal(dm_availability_name(DM_AVAIL_SOLD), "sold");
    assert_string_equal(dm_availability_name(DM_AVAIL_UNAVAILABLE), "unavailable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
