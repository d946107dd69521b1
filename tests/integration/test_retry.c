/* test_retry.c - dm_retry_failed (services/ops/retry.h), the retry behind `diamond retry` and
 * POST /api/v2/triggers/retry-workers, against a fresh database and the pg queue: unknown and
 * cancelled runs change nothing; failed partitions (not cancelled or completed ones) are reset
 * and re-sent from next_offset with attempt n and an ":r{n}" id; events carry "by" when given;
 * skipped_at is cleared only on request; a second call finds nothing. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "services/ops/retry.h"

#define RUN "0193a1b2-0000-7000-8000-000000000001"
#define CANCELLED_RUN "0193a1b2-0000-7000-8000-000000000002"
#define UNKNOWN_RUN "0193a1b2-0000-7000-8000-0000000000ff"

struct seen {
    int n;
    char ids[8][256];
    char pids[8][64];
};

static void collect(void *ctx, const struct dm_retry_partition *p)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    assert_null(p->err);
    assert_non_null(p->wi);
    snprintf(s->pids[s->n], sizeof(s->pids[0]), "%s", p->partition_id);
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", p->message_id);
    s->n++;
}

static void seed(struct dm_db *db)
{
    dm_test_exec(db, "INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, "
                     "expected_workers, skipped_at) VALUES ('" RUN "', 'full', '2026-01-01Z', "
                     "'2026-01-02Z', 4, now()), ('" CANCELLED_RUN "', 'full', '2026-01-01Z', "
                     "'2026-01-02Z', 1, NULL)");
    dm_test_exec(db,
                 "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = '" CANCELLED_RUN "'");
    /* p1, p2 failed; p3 failed but cancelled; p4 completed. */
    dm_test_exec(db, "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, "
                     "estimated_records, next_offset, completed, failed, cancelled, attempts, "
                     "last_error) VALUES "
                     "('" RUN "', 'p1', 0, 99, 500, 150, false, true, false, 0, 'boom'), "
                     "('" RUN "', 'p2', 100, 199, 500, 0, false, true, false, 2, 'boom'), "
                     "('" RUN "', 'p3', 200, 299, 500, 50, false, true, true, 0, 'cancelled'), "
                     "('" RUN "', 'p4', 300, 399, 500, 500, true, false, false, 0, NULL), "
                     "('" CANCELLED_RUN "', 'p1', 0, 99, 500, 0, false, true, false, 0, 'boom')");
    dm_test_exec(db, "INSERT INTO worker_runs (run_id, partition_id, status, error_message, "
                     "completed_at) VALUES ('" RUN "', 'p1', 'failed', 'boom', now()), "
                     "('" RUN "', 'p2', 'failed', 'boom', now())");
}

/* One dm_retry_failed call that must succeed with want; returns the partitions reset. */
static int retry(struct dm_db *db, struct dm_queue *q, const struct dm_retry_request *req,
                 struct seen *seen, enum dm_retry_state want)
{
    struct dm_error err = {0};
    enum dm_retry_state st = DM_RETRY_DONE;
    int n = -1;
    if (dm_retry_failed(db, q, req, collect, seen, &st, &n, &err) != DM_OK)
        fail_msg("dm_retry_failed: %s", err.message);
    assert_int_equal(st, want);
    return n;
}

static void test_retry_failed(void **state)
{
    (void)state;
    char *url = dm_test_new_db("retry");
    struct dm_error err = {0};
    struct dm_db *db = NULL;
    struct dm_queue *q = NULL;
    assert_int_equal(dm_db_open(url, 2, &db, &err), DM_OK);
    assert_int_equal(dm_queue_open_pg(db, NULL, NULL, &q, &err), DM_OK);
    seed(db);

    struct seen seen = {0};
    struct dm_retry_request req = {.run_id = UNKNOWN_RUN};
    assert_int_equal(retry(db, q, &req, &seen, DM_RETRY_NO_RUN), 0);
    req.run_id = CANCELLED_RUN;
    assert_int_equal(retry(db, q, &req, &seen, DM_RETRY_RUN_CANCELLED), 0);
    dm_test_check_scalar(db, "SELECT count(*) FROM partition_progress WHERE failed", "4");

    /* Only p2, without clearing skipped_at (as `diamond retry RUN p2`). */
    req = (struct dm_retry_request){.run_id = RUN, .partition_id = "p2"};
    assert_int_equal(retry(db, q, &req, &seen, DM_RETRY_DONE), 1);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.pids[0], "p2");
    assert_string_equal(seen.ids[0], RUN ":p2:0:r3");
    dm_test_check_scalar(
        db, "SELECT skipped_at IS NOT NULL FROM run_metadata WHERE run_id = '" RUN "'", "t");
    dm_test_check_scalar(db, "SELECT detail::text FROM run_events WHERE partition_id = 'p2'",
                         "{\"offset\": 0, \"attempt\": 3}");

    /* The rest, as the API does: "by" recorded, skipped_at cleared. */
    req = (struct dm_retry_request){.run_id = RUN, .by = "key:ops", .clear_skipped = true};
    assert_int_equal(retry(db, q, &req, &seen, DM_RETRY_DONE), 1);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.pids[1], "p1");
    assert_string_equal(seen.ids[1], RUN ":p1:150:r1");
    dm_test_check_scalar(db, "SELECT skipped_at IS NULL FROM run_metadata WHERE run_id = '" RUN "'",
                         "t");
    dm_test_check_scalar(db, "SELECT detail::text FROM run_events WHERE partition_id = 'p1'",
                         "{\"by\": \"key:ops\", \"offset\": 150, \"attempt\": 1}");
    dm_test_check_scalar(
        db,
        "SELECT string_agg(partition_id || ':' || failed || ':' || attempts || ':' || "
        "COALESCE(last_error, '-'), ',' ORDER BY partition_id) FROM partition_progress "
        "WHERE run_id = '" RUN "'",
        "p1:false:1:-,p2:false:3:-,p3:true:0:cancelled,p4:false:0:-");
    dm_test_check_scalar(
        db,
        "SELECT string_agg(status || ':' || COALESCE(error_message, '-') || ':' || "
        "(completed_at IS NULL), ',' ORDER BY partition_id) FROM worker_runs",
        "running:-:true,running:-:true");
    dm_test_check_scalar(
        db,
        "SELECT string_agg(message_id, ',' ORDER BY message_id) FROM queue_messages "
        "WHERE queue = 'work-items'",
        RUN ":p1:150:r1," RUN ":p2:0:r3");

    /* Nothing failed any more: nothing reset, nothing sent. */
    assert_int_equal(retry(db, q, &req, &seen, DM_RETRY_DONE), 0);
    assert_int_equal(seen.n, 2);
    dm_test_check_scalar(db, "SELECT count(*) FROM run_events WHERE event = 'partition_retried'",
                         "2");

    dm_queue_free(q);
    dm_db_free(db);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_retry_failed)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
