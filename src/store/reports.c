/* reports.c - the run store: read-only reports over the run tables (see runs.h). */
#include <stdio.h>
#include <string.h>

#include "store/runs.h"
#include "store/store.h"

/* ---- reports --------------------------------------------------------------------------- */

enum dm_err dm_runs_report_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                      struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(
        db,
        "SELECT p.partition_id, p.min_price, p.max_price, p.estimated_records, p.next_offset, "
        "p.records, p.completed, p.failed, p.cancelled, p.attempts, p.pages, p.page_errors, "
        "p.last_error, p.updated_at, " PARTITION_STATUS_SQL " AS status, w.worker_id, "
        "w.status AS worker_status, w.records_processed, w.error_message, "
        "w.started_at AS worker_started_at, w.completed_at AS worker_completed_at "
        "FROM partition_progress p LEFT JOIN worker_runs w USING (run_id, partition_id) "
        "WHERE p.run_id = $1 ORDER BY p.min_price, p.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_workers(struct dm_db *db, const char *run_id, PGresult **out,
                                   struct dm_error *err)
{
    const char *p[1] = {run_id};
    /* The progress of a worker needs workItemPayload.totalRecords: our WORK_ITEM says
     * estimatedRecords, so the partition's estimate is added under the reference's name. */
    return dm_db_query(
        db,
        "SELECT w.id, w.run_id, w.partition_id, w.worker_id, CASE WHEN " PARTITION_FAILED_SQL
        " THEN 'failed' WHEN p.completed THEN 'completed' ELSE w.status END AS status, "
        "w.records_processed, w.error_message, COALESCE(w.work_item_payload, '{}'::jsonb) || "
        "jsonb_build_object('totalRecords', COALESCE(p.estimated_records, 0)) AS "
        "work_item_payload, w.started_at, w.completed_at FROM worker_runs w LEFT JOIN "
        "partition_progress p USING (run_id, partition_id) WHERE w.run_id = $1 "
        "ORDER BY w.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_events(struct dm_db *db, const char *run_id, PGresult **out,
                                  struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(db,
                       "SELECT id, partition_id, event, detail, created_at FROM "
                       "run_events WHERE run_id = $1 ORDER BY id LIMIT 2000",
                       1, p, out, err);
}

enum dm_err dm_runs_report_failed_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                             struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(
        db,
        "SELECT p.partition_id, w.worker_id, p.min_price, p.max_price, p.next_offset, "
        "COALESCE(w.records_processed, p.records) AS records_processed, p.records, p.attempts, "
        "p.cancelled, NOT p.cancelled AS has_payload, "
        "COALESCE(w.error_message, p.last_error) AS error_message, "
        "COALESCE(w.started_at, p.updated_at) AS started_at, w.completed_at, p.updated_at "
        "FROM partition_progress p LEFT JOIN worker_runs w USING (run_id, partition_id) "
        "WHERE p.run_id = $1 AND " PARTITION_FAILED_SQL " ORDER BY p.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_failed_workers(struct dm_db *db, const char *run_id, int limit,
                                          PGresult **out, struct dm_error *err)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[2] = {run_id, lim};
    return dm_db_query(
        db,
        "SELECT w.id, w.run_id, w.partition_id, w.worker_id, w.status, w.records_processed, "
        "w.error_message, w.started_at, w.completed_at, p.next_offset, p.attempts, "
        "p.min_price, p.max_price, r.run_type, r.started_at AS run_started_at "
        "FROM worker_runs w JOIN run_metadata r USING (run_id) "
        "LEFT JOIN partition_progress p USING (run_id, partition_id) "
        "WHERE w.status = 'failed' AND ($1::uuid IS NULL OR w.run_id = $1) "
        "ORDER BY w.completed_at DESC NULLS LAST, w.started_at DESC, w.run_id, w.partition_id "
        "LIMIT $2::int",
        2, p, out, err);
}

const char DM_RUNS_QUERY_RELATION[] =
    "(SELECT r.*, COALESCE(p.completed, 0)::int AS completed_workers, "
    "COALESCE(p.failed, 0)::int AS failed_workers FROM run_metadata r LEFT JOIN LATERAL "
    "(SELECT count(*) FILTER (WHERE completed) completed, "
    "count(*) FILTER (WHERE NOT completed AND (failed OR cancelled)) failed "
    "FROM partition_progress pp WHERE pp.run_id = r.run_id) p ON true) run_metadata";

enum dm_err dm_runs_figures(struct dm_db *db, struct dm_runs_figures *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "SELECT "
        "(SELECT COALESCE(sum(pages), 0) FROM partition_progress), "
        "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress), "
        "(SELECT COALESCE(sum(pages), 0) FROM partition_progress "
        "   WHERE updated_at > now() - interval '24 hours'), "
        "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress "
        "   WHERE updated_at > now() - interval '24 hours'), "
        "(SELECT count(*) FROM run_metadata WHERE consolidation_completed_at IS NOT NULL), "
        "(SELECT COALESCE(sum(consolidation_failures), 0) FROM run_metadata), "
        "(SELECT COALESCE(sum(consolidation_failures), 0) FROM run_metadata "
        "   WHERE consolidation_failed_at > now() - interval '24 hours'), "
        "(SELECT count(*) FROM run_metadata), "
        "(SELECT " MS(
            "max(updated_to)") " FROM run_metadata WHERE completed_at IS NOT NULL), "
                               "(SELECT COALESCE(sum(pages), 0) FROM partition_progress "
                               "   WHERE updated_at > now() - interval '24 hours' "
                               "   OR last_error_at > now() - interval '24 hours'), "
                               "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress "
                               "   WHERE updated_at > now() - interval '24 hours' "
                               "   OR last_error_at > now() - interval '24 hours'), "
                               "(SELECT COALESCE(sum(GREATEST(consolidation_failures, 1)), 0) FROM "
                               "run_metadata "
                               "   WHERE consolidation_failed_at > now() - interval '24 hours'), "
                               "(SELECT count(*) FROM run_metadata "
                               "   WHERE consolidation_failed_at > now() - interval '24 hours')",
        0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    out->pages = dm_db_row_i64(&rd, 0);
    out->page_errors = dm_db_row_i64(&rd, 1);
    out->pages_24h = dm_db_row_i64(&rd, 2);
    out->page_errors_24h = dm_db_row_i64(&rd, 3);
    out->runs_consolidated = dm_db_row_i64(&rd, 4);
    out->consolidation_failures = dm_db_row_i64(&rd, 5);
    out->consolidation_failures_24h = dm_db_row_i64(&rd, 6);
    out->runs = dm_db_row_i64(&rd, 7);
    out->last_completed_updated_to_ms = dm_db_row_i64_or(&rd, 8, 0);
    out->check_pages = dm_db_row_i64(&rd, 9);
    out->check_errors = dm_db_row_i64(&rd, 10);
    out->failure_weight_24h = dm_db_row_i64(&rd, 11);
    out->failed_runs_24h = dm_db_row_i64(&rd, 12);
    e = dm_db_row_check(&rd, "run figures", err);
    PQclear(r);
    return e;
}

enum dm_err dm_runs_report_durations(struct dm_db *db, PGresult **out, struct dm_error *err)
{
    return dm_db_query(db,
                       "SELECT run_type, "
                       "extract(epoch FROM (COALESCE(completed_at, consolidation_completed_at) - "
                       "started_at)), run_id::text FROM run_metadata "
                       "WHERE COALESCE(completed_at, consolidation_completed_at) IS NOT NULL "
                       "ORDER BY started_at DESC LIMIT 20",
                       0, NULL, out, err);
}

enum dm_err dm_runs_report_feed_completions(struct dm_db *db, PGresult **out, struct dm_error *err)
{
    return dm_db_query(db,
                       "SELECT feed, max(completed_at) AS last_run_completed_at FROM run_metadata "
                       "GROUP BY feed",
                       0, NULL, out, err);
}

enum dm_err dm_runs_report_feed_checks(struct dm_db *db, PGresult **out, struct dm_error *err)
{
    return dm_db_query(
        db,
        "SELECT f.feed, "
        "(SELECT COALESCE(sum(p.pages), 0) FROM partition_progress p JOIN run_metadata r "
        "  USING (run_id) WHERE r.feed = f.feed AND (p.updated_at > now() - interval '24 hours'"
        "  OR p.last_error_at > now() - interval '24 hours')), "
        "(SELECT COALESCE(sum(p.page_errors), 0) FROM partition_progress p JOIN run_metadata r "
        "  USING (run_id) WHERE r.feed = f.feed AND (p.updated_at > now() - interval '24 hours'"
        "  OR p.last_error_at > now() - interval '24 hours')), "
        "(SELECT COALESCE(sum(GREATEST(consolidation_failures, 1)), 0) FROM run_metadata r "
        "  WHERE r.feed = f.feed AND consolidation_failed_at > now() - interval '24 hours'), "
        "(SELECT count(*) FROM run_metadata r "
        "  WHERE r.feed = f.feed AND consolidation_failed_at > now() - interval '24 hours'), "
        "(SELECT " MS(
            "max(r.updated_to)") " FROM run_metadata r "
                                 "  WHERE r.feed = f.feed AND r.completed_at IS NOT NULL) "
                                 "FROM (SELECT DISTINCT feed FROM run_metadata) f ORDER BY f.feed",
        0, NULL, out, err);
}
