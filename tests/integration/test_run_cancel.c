/* test_run_cancel.c - dm_runs_cancel (store/runs.h), the cancel behind `diamond run
 * cancel` and POST /api/v2/triggers/cancel-run, against a fresh database: unknown, completed and
 * already cancelled runs change nothing; a run is cancelled with exactly its unfinished
 * partitions (completed and previously cancelled ones untouched) and their worker rows, one
 * 'run_cancelled' event {"partitionsCancelled": n} (a number), and a second call finds it
 * cancelled; a run whose row is locked elsewhere fails without changing anything; the
 * connection is always left outside a transaction. */
#include "testlib.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "store/runs.h"

#define RUN "0193a1b2-0000-7000-8000-000000000001"
#define CANCELLED_RUN "0193a1b2-0000-7000-8000-000000000002"
#define COMPLETED_RUN "0193a1b2-0000-7000-8000-000000000003"
#define EMPTY_RUN "0193a1b2-0000-7000-8000-000000000004"
#define LOCKED_RUN "0193a1b2-0000-7000-8000-000000000005"
#define UNKNOWN_RUN "0193a1b2-0000-7000-8000-0000000000ff"

/* Every partition and worker row, to compare before/after (updated_at and completed_at too). */
#define PARTITIONS                                                                                 \
    "SELECT string_agg(run_id || '/' || partition_id || ':' || failed || ':' || cancelled || "     \
    "':' || completed || ':' || COALESCE(last_error, '-') || ':' || "                              \
    "(updated_at = '2026-01-01Z'), ',' ORDER BY run_id, partition_id) FROM partition_progress"
#define WORKERS                                                                                    \
    "SELECT string_agg(run_id || '/' || partition_id || ':' || status || ':' || "                  \
    "COALESCE(error_message, '-') || ':' || COALESCE((completed_at = '2026-01-01Z')::text, "       \
    "'null'), ',' ORDER BY run_id, partition_id) FROM worker_runs"
#define RUNS                                                                                       \
    "SELECT string_agg(right(run_id::text, 1) || ':' || (cancelled_at IS NOT NULL), ',' ORDER "    \
    "BY run_id) FROM run_metadata"
#define EVENTS                                                                                     \
    "SELECT COALESCE(string_agg(right(run_id::text, 1) || ':' || event || ':' || "                 \
    "COALESCE(partition_id, '-') || ':' || detail::text || ':' || "                                \
    "jsonb_typeof(detail->'partitionsCancelled'), ',' ORDER BY id), '') FROM run_events"

/* The state of every table dm_runs_cancel may touch, to show a call changed nothing. */
static char *snapshot(struct dm_db *db)
{
    char *p = dm_test_scalar(db, PARTITIONS), *w = dm_test_scalar(db, WORKERS),
         *r = dm_test_scalar(db, RUNS), *e = dm_test_scalar(db, EVENTS);
    char *s = dm_xasprintf("%s|%s|%s|%s", p, w, r, e);
    free(p);
    free(w);
    free(r);
    free(e);
    return s;
}

/* Fails unless the tables are as in before (a snapshot, freed). */
static void unchanged(struct dm_db *db, char *before)
{
    char *after = snapshot(db);
    assert_string_equal(after, before);
    free(after);
    free(before);
}

/* A pool of 3 on url (the lock test holds 2 connections and snapshots with a third), seeded. */
static struct dm_db *seeded(const char *url)
{
    struct dm_error err = {0};
    struct dm_db *db = NULL;
    if (dm_db_open(url, 3, &db, &err) != DM_OK)
        fail_msg("dm_db_open: %s", err.message);
    dm_test_exec(db, "INSERT INTO run_metadata (run_id, run_type, updated_from, updated_to, "
                     "expected_workers) VALUES "
                     "('" RUN "', 'full', '2026-01-01Z', '2026-01-02Z', 4), "
                     "('" CANCELLED_RUN "', 'full', '2026-01-01Z', '2026-01-02Z', 1), "
                     "('" COMPLETED_RUN "', 'full', '2026-01-01Z', '2026-01-02Z', 1), "
                     "('" EMPTY_RUN "', 'incremental', '2026-01-01Z', '2026-01-02Z', 0), "
                     "('" LOCKED_RUN "', 'full', '2026-01-01Z', '2026-01-02Z', 1)");
    dm_test_exec(db,
                 "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = '" CANCELLED_RUN "'");
    dm_test_exec(db,
                 "UPDATE run_metadata SET completed_at = now() WHERE run_id = '" COMPLETED_RUN "'");
    /* RUN: p1 running, p2 failed (not cancelled), p3 cancelled before, p4 completed. The other
     * runs each have one running partition, which must stay running. */
    dm_test_exec(db,
                 "INSERT INTO partition_progress (run_id, partition_id, min_price, max_price, "
                 "estimated_records, next_offset, completed, failed, cancelled, last_error, "
                 "updated_at) VALUES "
                 "('" RUN "', 'p1', 0, 99, 500, 150, false, false, false, NULL, '2026-01-01Z'), "
                 "('" RUN "', 'p2', 100, 199, 500, 0, false, true, false, 'boom', '2026-01-01Z'), "
                 "('" RUN "', 'p3', 200, 299, 500, 50, false, true, true, 'earlier', "
                 "'2026-01-01Z'), "
                 "('" RUN "', 'p4', 300, 399, 500, 500, true, false, false, NULL, '2026-01-01Z'), "
                 "('" CANCELLED_RUN "', 'p1', 0, 99, 500, 0, false, false, false, NULL, "
                 "'2026-01-01Z'), "
                 "('" COMPLETED_RUN "', 'p1', 0, 99, 500, 0, false, false, false, NULL, "
                 "'2026-01-01Z'), "
                 "('" LOCKED_RUN "', 'p1', 0, 99, 500, 0, false, false, false, NULL, "
                 "'2026-01-01Z')");
    dm_test_exec(db, "INSERT INTO worker_runs (run_id, partition_id, status, error_message, "
                     "completed_at) VALUES "
                     "('" RUN "', 'p1', 'running', NULL, NULL), "
                     "('" RUN "', 'p2', 'failed', 'boom', '2026-01-01Z'), "
                     "('" RUN "', 'p3', 'failed', 'earlier', '2026-01-01Z'), "
                     "('" RUN "', 'p4', 'completed', NULL, '2026-01-01Z'), "
                     "('" CANCELLED_RUN "', 'p1', 'running', NULL, NULL), "
                     "('" COMPLETED_RUN "', 'p1', 'running', NULL, NULL), "
                     "('" LOCKED_RUN "', 'p1', 'running', NULL, NULL)");
    return db;
}

/* One dm_runs_cancel call on a fresh connection that must succeed with want; returns the count
 * and checks the connection is back outside a transaction. */
static int64_t cancel(struct dm_db *db, const char *run_id, enum dm_runs_cancel_state want)
{
    struct dm_error err = {0};
    struct dm_db_conn *c = NULL;
    assert_int_equal(dm_db_acquire(db, 5000, &c, &err), DM_OK);
    enum dm_runs_cancel_state st = DM_RUNS_CANCEL_DONE;
    int64_t n = -1;
    if (dm_runs_cancel(c, run_id, &st, &n, &err) != DM_OK)
        fail_msg("dm_runs_cancel %s: %s", run_id, err.message);
    assert_int_equal(st, want);
    assert_false(dm_db_in_tx(c));
    assert_int_equal(PQtransactionStatus(dm_db_pg(c)), PQTRANS_IDLE);
    dm_db_release(c);
    return n;
}

static void test_run_cancel(void **state)
{
    (void)state;
    char *url = dm_test_new_db("run_cancel");
    struct dm_db *db = seeded(url);
    struct dm_error err = {0};

    /* Unknown, completed and already cancelled runs: nothing changes at all. */
    char *before = snapshot(db);
    assert_int_equal(cancel(db, UNKNOWN_RUN, DM_RUNS_CANCEL_NO_RUN), 0);
    assert_int_equal(cancel(db, COMPLETED_RUN, DM_RUNS_CANCEL_ALREADY_COMPLETED), 0);
    assert_int_equal(cancel(db, CANCELLED_RUN, DM_RUNS_CANCEL_ALREADY_CANCELLED), 0);
    unchanged(db, before);

    /* A row locked by another transaction: the lock is waited for (FOR UPDATE), here until
     * lock_timeout, and the failed call changes nothing and leaves no transaction open. */
    struct dm_db_conn *holder = NULL, *c = NULL;
    assert_int_equal(dm_db_acquire(db, 5000, &holder, &err), DM_OK);
    assert_int_equal(dm_db_acquire(db, 5000, &c, &err), DM_OK);
    assert_int_equal(dm_db_begin(holder, &err), DM_OK);
    assert_int_equal(
        dm_db_exec(holder, "SELECT 1 FROM run_metadata WHERE run_id = '" LOCKED_RUN "' FOR UPDATE",
                   0, NULL, NULL, &err),
        DM_OK);
    assert_int_equal(dm_db_exec(c, "SET lock_timeout = '200ms'", 0, NULL, NULL, &err), DM_OK);
    before = snapshot(db);
    enum dm_runs_cancel_state st = DM_RUNS_CANCEL_NO_RUN;
    int64_t n = -1;
    struct dm_error lerr = {0};
    assert_int_not_equal(dm_runs_cancel(c, LOCKED_RUN, &st, &n, &lerr), DM_OK);
    assert_string_equal(lerr.sqlstate, "55P03"); /* lock_not_available */
    assert_false(dm_db_in_tx(c));
    assert_int_equal(PQtransactionStatus(dm_db_pg(c)), PQTRANS_IDLE);
    assert_int_equal(dm_db_exec(c, "RESET lock_timeout", 0, NULL, NULL, &err), DM_OK);
    dm_db_release(c);
    dm_db_rollback(holder);
    dm_db_release(holder);
    unchanged(db, before);

    /* RUN: p1 and p2 are cancelled; p3 (cancelled before) and p4 (completed) are untouched. */
    assert_int_equal(cancel(db, RUN, DM_RUNS_CANCEL_DONE), 2);
    dm_test_check_scalar(db, RUNS, "1:true,2:true,3:false,4:false,5:false");
    dm_test_check_scalar(
        db, PARTITIONS,
        RUN "/p1:true:true:false:cancelled:false," RUN "/p2:true:true:false:boom:false," RUN
            "/p3:true:true:false:earlier:true," RUN "/p4:false:false:true:-:true," CANCELLED_RUN
            "/p1:false:false:false:-:true," COMPLETED_RUN "/p1:false:false:false:-:true," LOCKED_RUN
            "/p1:false:false:false:-:true");
    dm_test_check_scalar(db, WORKERS,
                         RUN "/p1:failed:cancelled:false," RUN "/p2:failed:cancelled:false," RUN
                             "/p3:failed:earlier:true," RUN "/p4:completed:-:true," CANCELLED_RUN
                             "/p1:running:-:null," COMPLETED_RUN "/p1:running:-:null," LOCKED_RUN
                             "/p1:running:-:null");
    dm_test_check_scalar(
        db,
        "SELECT count(*) FROM partition_progress p JOIN worker_runs w USING (run_id, "
        "partition_id) WHERE run_id = '" RUN "' AND partition_id IN ('p1', 'p2') AND "
        "p.updated_at > now() - interval '1 hour' AND w.completed_at > now() - "
        "interval '1 hour'",
        "2");
    dm_test_check_scalar(db, EVENTS, "1:run_cancelled:-:{\"partitionsCancelled\": 2}:number");

    /* A second cancel finds it cancelled and changes nothing. */
    before = snapshot(db);
    assert_int_equal(cancel(db, RUN, DM_RUNS_CANCEL_ALREADY_CANCELLED), 0);
    unchanged(db, before);

    /* A run without unfinished partitions is still cancelled, with a count of 0. */
    assert_int_equal(cancel(db, EMPTY_RUN, DM_RUNS_CANCEL_DONE), 0);
    dm_test_check_scalar(db, RUNS, "1:true,2:true,3:false,4:true,5:false");
    dm_test_check_scalar(db, EVENTS,
                         "1:run_cancelled:-:{\"partitionsCancelled\": 2}:number,"
                         "4:run_cancelled:-:{\"partitionsCancelled\": 0}:number");

    dm_db_free(db);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_cancel)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
