/* test_stock_ids.c - the stock-id set of a snapshot read (domain/stock_ids.h): a repeat is
 * found with the line it was first seen on, however far apart the two rows are (the worker's
 * batches used to see only their own 1,000 rows), across the table's growth; lines clamp; ids
 * differ by their bytes only. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>

#include "domain/stock_ids.h"

static void test_repeat_far_apart(void **state)
{
    (void)state;
    struct dm_stock_ids *s = dm_stock_ids_new();
    char id[32];
    /* 500,000 distinct ids (the spec's largest file): the table doubles many times while the first
     * ones stay found. */
    for (unsigned i = 0; i < 500000; i++) {
        snprintf(id, sizeof(id), "ST-%07u", i);
        assert_int_equal(dm_stock_ids_seen(s, id, (uint64_t)i + 2), 0);
    }
    assert_int_equal(dm_stock_ids_count(s), 500000);
    assert_false(dm_stock_ids_full(s));
    /* Each seen again, far later: the line of its first row. */
    for (unsigned i = 0; i < 500000; i += 997) {
        snprintf(id, sizeof(id), "ST-%07u", i);
        assert_int_equal(dm_stock_ids_seen(s, id, 900000), (uint64_t)i + 2);
    }
    /* A repeat is not remembered again: its first line stays. */
    assert_int_equal(dm_stock_ids_seen(s, "ST-0000000", 5), 2);
    assert_int_equal(dm_stock_ids_count(s), 500000);
    /* The memory the header announces for 500,000 ids of 10 bytes: 4 MB of slots, 8 MB arena. */
    assert_true(dm_stock_ids_bytes(s) <= ((size_t)12 << 20));
    dm_stock_ids_free(s);
}

static void test_bytes_and_lines(void **state)
{
    (void)state;
    struct dm_stock_ids *s = dm_stock_ids_new();
    const struct {
        const char *id;
        uint64_t line, want;
    } cases[] = {
        {"A1", 2, 0},            /* new */
        {"a1", 3, 0},            /* case differs: another id */
        {"A1 ", 4, 0},           /* a trailing space too (values are trimmed before) */
        {"A1", 9, 2},            /* the repeat names line 2 */
        {"", 10, 0},             /* the empty id is a value like any other */
        {"", 11, 10},            /* */
        {"BIG", 0, 0},           /* line 0 is stored as 1 */
        {"BIG", 12, 1},          /* */
        {"HUGE", 1ULL << 40, 0}, /* clamped to 2^32 - 1 */
        {"HUGE", 13, 4294967295ULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = dm_stock_ids_seen(s, cases[i].id, cases[i].line);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): got %llu, want %llu", i, cases[i].id, (unsigned long long)got,
                     (unsigned long long)cases[i].want);
    }
    dm_stock_ids_free(s);
    dm_stock_ids_free(NULL);
}

/* Past DM_STOCK_IDS_MAX ids the set is full: a new id is not remembered (the worker then
 * refuses the file), the ids it holds are still found. */
static void test_full(void **state)
{
    (void)state;
    struct dm_stock_ids *s = dm_stock_ids_new();
    char id[32];
    for (unsigned i = 0; i < DM_STOCK_IDS_MAX; i++) {
        snprintf(id, sizeof(id), "%u", i);
        if (dm_stock_ids_seen(s, id, (uint64_t)i + 2) != 0)
            fail_msg("id %u reported as a repeat", i);
    }
    assert_false(dm_stock_ids_full(s));
    assert_int_equal(dm_stock_ids_seen(s, "one more", 9), 0);
    assert_true(dm_stock_ids_full(s));
    assert_int_equal(dm_stock_ids_seen(s, "one more", 10), 0); /* not remembered */
    assert_int_equal(dm_stock_ids_seen(s, "7", 11), 9);        /* held ids still found */
    assert_int_equal(dm_stock_ids_count(s), DM_STOCK_IDS_MAX);
    /* 2,000,000 ids of at most 7 digits: entries of at most 12 bytes fit a 32 MB arena, and
     * the slots take 16 MB (a bound the arena's cap alone would not check). */
    assert_true(dm_stock_ids_bytes(s) <= ((size_t)48 << 20));
    dm_stock_ids_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_far_apart),
        cmocka_unit_test(test_bytes_and_lines),
        cmocka_unit_test(test_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
