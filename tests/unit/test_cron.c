/* test_cron.c - cron parsing (valid and invalid expressions) and next-fire times in UTC. */
#include <string.h>

#include "core/timeutil.h"
#include "domain/cron.h"
#include "testlib.h"

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(dm_time_parse(s, &ms), DM_OK);
    return ms;
}

struct next_case {
    const char *expr;
    const char *after;
    const char *want;
};

static const struct next_case next_cases[] = {
    {"0 2 * * *", "2026-11-29T09:10:00Z", "2026-11-30T02:00:00Z"},
    {"0 2 * * *", "2026-11-29T01:59:59Z", "2026-11-29T02:00:00Z"},
    {"0 2 * * *", "2026-11-29T02:00:00Z", "2026-11-30T02:00:00Z"}, /* strictly after */
    {"* * * * *", "2026-11-29T09:10:30Z", "2026-11-29T09:11:00Z"},
    {"*/15 * * * *", "2026-11-29T09:10:00Z", "2026-11-29T09:15:00Z"},
    {"5/20 * * * *", "2026-11-29T09:26:00Z", "2026-11-29T09:45:00Z"},
    {"0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
    {"30 4 * * MON", "2026-11-29T09:00:00Z", "2026-11-30T04:30:00Z"}, /* 29th is a Sunday */
    {"0 0 * * 7", "2026-11-29T09:00:00Z", "2026-12-06T00:00:00Z"},
    {"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
    {"0 12 1-7 * 1-5", "2026-11-29T13:00:00Z", "2026-11-30T12:00:00Z"},
    {"0 9-17/4 * JAN,dec *", "2026-11-29T09:00:00Z", "2026-12-01T09:00:00Z"},
    {"59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
    {"0 0 13 * FRI", "2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z"}, /* either matches */
};

static void test_next(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        const struct next_case *tc = &next_cases[i];
        struct dm_cron c;
        struct dm_error err = {0};
        print_message("%s after %s\n", tc->expr, tc->after);
        assert_int_equal(dm_cron_parse(tc->expr, &c, &err), DM_OK);
        int64_t next = 0;
        assert_int_equal(dm_cron_next(&c, iso(tc->after), &next), DM_OK);
        char got[DM_ISO_LEN];
        dm_time_format(next, got);
        assert_int_equal(next, iso(tc->want));
        assert_true(dm_cron_matches(&c, next));
    }
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",          "* * * *",      "* * * * * *", "60 * * * *",  "* 24 * * *",
        "* * 0 * *", "* * * 13 *",   "* * * * 8",   "*/0 * * * *", "5-1 * * * *",
        "a * * * *", "1,,2 * * * *", "* * * FOO *", "1- * * * *",  NULL};
    for (int i = 0; bad[i]; i++) {
        struct dm_cron c;
        struct dm_error err = {0};
        assert_int_equal(dm_cron_parse(bad[i], &c, &err), DM_ERR_INVALID);
        assert_true(strlen(err.message) > 0);
    }
    struct dm_cron c;
    assert_int_equal(dm_cron_parse(NULL, &c, NULL), DM_ERR_INVALID);
}

static void test_never(void **state)
{
    (void)state;
    struct dm_cron c;
    assert_int_equal(dm_cron_parse("0 0 30 2 *", &c, NULL), DM_OK);
    int64_t next = 0;
    assert_int_equal(dm_cron_next(&c, iso("2026-01-01T00:00:00Z"), &next), DM_ERR_NOT_FOUND);
}

static void test_matches(void **state)
{
    (void)state;
    struct dm_cron c;
    assert_int_equal(dm_cron_parse("0 2 * * *", &c, NULL), DM_OK);
    assert_true(dm_cron_matches(&c, iso("2026-11-29T02:00:45Z")));
    assert_false(dm_cron_matches(&c, iso("2026-11-29T02:01:00Z")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_never),
        cmocka_unit_test(test_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
