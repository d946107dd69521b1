/* test_run_status.c - table-driven tests of the run status derivation (pipeline.md §6). */
#include "testlib.h"

#include <string.h>

#include "domain/run_status.h"

#define MIN (60LL * 1000)
#define T0 1700000000000LL

/* The events of a run, each at a time in minutes after the run's start T0 (0 = not set). */
enum { PROGRESS, SENT, CONS_STARTED, CONS_DONE, CONS_FAILED, DONE, CANCELLED, SKIPPED, EVENTS };

/* One case: partition counts, the events, "now" in minutes after T0 and the status wanted. */
struct tcase {
    const char *what;
    int64_t expected, partitions, completed, failed;
    int at[EVENTS];
    int now;
    enum dm_run_status want;
};

/* clang-format off: one case a line */
static const struct tcase cases[] = {
    /* what, expected, partitions, completed, failed, {events}, now, want */
    {"fresh run", 3, 3, 0, 0, {0}, 1, DM_RUN_RUNNING},
    {"some completed", 3, 3, 2, 0, {[PROGRESS] = 1}, 2, DM_RUN_RUNNING},
    {"all completed, consolidate not yet sent", 3, 3, 3, 0, {[PROGRESS] = 1}, 2, DM_RUN_RUNNING},
    {"all completed, consolidate sent",
     3,
     3,
     3,
     0,
     {[PROGRESS] = 1, [SENT] = 1},
     2,
     DM_RUN_CONSOLIDATING},
    {"consolidation started", 3, 3, 3, 0, {[CONS_STARTED] = 1}, 2, DM_RUN_CONSOLIDATING},
    {"completed", 3, 3, 3, 0, {[CONS_STARTED] = 1, [DONE] = 2}, 100, DM_RUN_COMPLETED},
    {"consolidation completed without completed_at",
     1,
     1,
     1,
     0,
     {[CONS_DONE] = 1},
     2,
     DM_RUN_COMPLETED},
    {"failed: all terminal, one failed", 3, 3, 2, 1, {0}, 1, DM_RUN_FAILED},
    {"partial: one failed, others running", 3, 3, 1, 1, {[PROGRESS] = 1}, 2, DM_RUN_PARTIAL},
    {"stalled: no progress for 31 min", 3, 3, 1, 0, {[PROGRESS] = 1}, 32, DM_RUN_STALLED},
    {"not stalled at 29 min", 3, 3, 1, 0, {[PROGRESS] = 1}, 30, DM_RUN_RUNNING},
    {"partial that stalls is stalled", 3, 3, 1, 1, {0}, 40, DM_RUN_STALLED},
    {"cancelled wins over everything", 3, 3, 1, 2, {[CANCELLED] = 1}, 2, DM_RUN_CANCELLED},
    {"skipped", 3, 3, 2, 1, {[SKIPPED] = 1}, 2, DM_RUN_SKIPPED},
    {"missing partition rows count as unfinished", 5, 3, 3, 0, {0}, 1, DM_RUN_RUNNING},
    {"consolidation failed recently: consolidating (retry pending)",
     2,
     2,
     2,
     0,
     {[CONS_STARTED] = 1, [CONS_FAILED] = 2},
     3,
     DM_RUN_CONSOLIDATING},
    {"consolidation failed long ago: failed",
     2,
     2,
     2,
     0,
     {[CONS_STARTED] = 1, [CONS_FAILED] = 2},
     60,
     DM_RUN_FAILED},
    {"consolidation in progress for long: stalled",
     2,
     2,
     2,
     0,
     {[CONS_STARTED] = 1},
     60,
     DM_RUN_STALLED},
};
/* clang-format on */

static int64_t at_ms(int minutes)
{
    return minutes ? T0 + minutes * MIN : 0;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tcase *c = &cases[i];
        const struct dm_run_facts f = {.expected_partitions = c->expected,
                                       .partitions = c->partitions,
                                       .completed = c->completed,
                                       .failed = c->failed,
                                       .started_at_ms = T0,
                                       .last_progress_ms = at_ms(c->at[PROGRESS]),
                                       .consolidate_sent_at_ms = at_ms(c->at[SENT]),
                                       .consolidation_started_at_ms = at_ms(c->at[CONS_STARTED]),
                                       .consolidation_completed_at_ms = at_ms(c->at[CONS_DONE]),
                                       .consolidation_failed_at_ms = at_ms(c->at[CONS_FAILED]),
                                       .completed_at_ms = at_ms(c->at[DONE]),
                                       .cancelled_at_ms = at_ms(c->at[CANCELLED]),
                                       .skipped_at_ms = at_ms(c->at[SKIPPED])};
        enum dm_run_status got = dm_run_status_derive(&f, T0 + c->now * MIN);
        if (got != c->want)
            print_error("case '%s': got %s want %s\n", c->what, dm_run_status_name(got),
                        dm_run_status_name(c->want));
        assert_int_equal(got, c->want);
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
