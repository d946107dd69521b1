/* test_run_status.c - table-driven tests of the run status derivation (pipeline.md §6). */
#include "testlib.h"

#include <string.h>

#include "domain/run_status.h"

#define MIN (60LL * 1000)
#define T0 1700000000000LL

struct tcase {
    const char *what;
    struct dm_run_facts f;
    int64_t now;
    enum dm_run_status want;
};

static void test_table(void **state)
{
    (void)state;
    const struct tcase cases[] = {
        {"fresh run",
         {.expected_partitions = 3, .partitions = 3, .started_at_ms = T0},
         T0 + MIN,
         DM_RUN_RUNNING},
        {"some completed",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 2,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_RUNNING},
        {"all completed, consolidate not yet sent",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 3,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_RUNNING},
        {"all completed, consolidate sent",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 3,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN,
          .consolidate_sent_at_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_CONSOLIDATING},
        {"consolidation started",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 3,
          .started_at_ms = T0,
          .consolidation_started_at_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_CONSOLIDATING},
        {"completed",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 3,
          .started_at_ms = T0,
          .consolidation_started_at_ms = T0 + MIN,
          .completed_at_ms = T0 + 2 * MIN},
         T0 + 100 * MIN,
         DM_RUN_COMPLETED},
        {"consolidation completed without completed_at",
         {.expected_partitions = 1,
          .partitions = 1,
          .completed = 1,
          .started_at_ms = T0,
          .consolidation_completed_at_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_COMPLETED},
        {"failed: all terminal, one failed",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 2,
          .failed = 1,
          .started_at_ms = T0},
         T0 + MIN,
         DM_RUN_FAILED},
        {"partial: one failed, others running",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 1,
          .failed = 1,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_PARTIAL},
        {"stalled: no progress for 31 min",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 1,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN},
         T0 + 32 * MIN,
         DM_RUN_STALLED},
        {"not stalled at 29 min",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 1,
          .started_at_ms = T0,
          .last_progress_ms = T0 + MIN},
         T0 + 30 * MIN,
         DM_RUN_RUNNING},
        {"partial that stalls is stalled",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 1,
          .failed = 1,
          .started_at_ms = T0},
         T0 + 40 * MIN,
         DM_RUN_STALLED},
        {"cancelled wins over everything",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 1,
          .failed = 2,
          .started_at_ms = T0,
          .cancelled_at_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_CANCELLED},
        {"skipped",
         {.expected_partitions = 3,
          .partitions = 3,
          .completed = 2,
          .failed = 1,
          .started_at_ms = T0,
          .skipped_at_ms = T0 + MIN},
         T0 + 2 * MIN,
         DM_RUN_SKIPPED},
        {"missing partition rows count as unfinished",
         {.expected_partitions = 5, .partitions = 3, .completed = 3, .started_at_ms = T0},
         T0 + MIN,
         DM_RUN_RUNNING},
        {"consolidation failed, recently: still consolidating (retry pending)",
         {.expected_partitions = 2,
          .partitions = 2,
          .completed = 2,
          .started_at_ms = T0,
          .consolidation_started_at_ms = T0 + MIN,
          .consolidation_failed_at_ms = T0 + 2 * MIN},
         T0 + 3 * MIN,
         DM_RUN_CONSOLIDATING},
        {"consolidation failed long ago: failed",
         {.expected_partitions = 2,
          .partitions = 2,
          .completed = 2,
          .started_at_ms = T0,
          .consolidation_started_at_ms = T0 + MIN,
          .consolidation_failed_at_ms = T0 + 2 * MIN},
         T0 + 60 * MIN,
         DM_RUN_FAILED},
        {"consolidation in progress for long: stalled",
         {.expected_partitions = 2,
          .partitions = 2,
          .completed = 2,
          .started_at_ms = T0,
          .consolidation_started_at_ms = T0 + MIN},
         T0 + 60 * MIN,
         DM_RUN_STALLED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum dm_run_status got = dm_run_status_derive(&cases[i].f, cases[i].now);
        if (got != cases[i].want)
            print_error("case '%s': got %s want %s\n", cases[i].what, dm_run_status_name(got),
                        dm_run_status_name(cases[i].want));
        assert_int_equal(got, cases[i].want);
    }
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < DM_RUN_STATUS_COUNT; i++) {
        enum dm_run_status s;
        assert_int_equal(dm_run_status_parse(dm_run_status_name((enum dm_run_status)i), &s), DM_OK);
        assert_int_equal(s, i);
    }
    enum dm_run_status s;
    assert_int_equal(dm_run_status_parse("Running", &s), DM_ERR_INVALID);
    assert_int_equal(dm_run_status_parse(NULL, &s), DM_ERR_INVALID);
    assert_string_equal(dm_run_status_name((enum dm_run_status)99), "unknown");
    assert_true(dm_run_status_terminal(DM_RUN_COMPLETED));
    assert_true(dm_run_status_terminal(DM_RUN_FAILED));
    assert_true(dm_run_status_terminal(DM_RUN_CANCELLED));
    assert_true(dm_run_status_terminal(DM_RUN_SKIPPED));
    assert_false(dm_run_status_terminal(DM_RUN_RUNNING));
    assert_false(dm_run_status_terminal(DM_RUN_PARTIAL));
    assert_false(dm_run_status_terminal(DM_RUN_STALLED));
    assert_false(dm_run_status_terminal(DM_RUN_CONSOLIDATING));
}

static void test_unfinished(void **state)
{
    (void)state;
    struct dm_run_facts f = {
        .expected_partitions = 5, .partitions = 4, .completed = 2, .failed = 1};
    assert_int_equal(dm_run_facts_unfinished(&f), 2);
    f.completed = 4;
    assert_int_equal(dm_run_facts_unfinished(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_unfinished),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
