/* runs.c - loading runs with their partition counts and deriving their status (run_status.h). */
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "services/api/runs.h"

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

/* Column numbers (api_run_facts, api_run_json read them by position) in the comments. The
 * statement is kept out of clang-format, which otherwise splits its literals around MS(). */
/* clang-format off */
const char API_RUN_SELECT[] =
    "SELECT r.run_id::text, r.run_type, r.trace_id::text, r.feed, r.expected_workers, " /* 0-4 */
    "COALESCE(p.n, 0), COALESCE(p.completed, 0), COALESCE(p.failed, 0), "              /* 5-7 */
    "COALESCE(p.records, 0), "                                                          /* 8 */
    MS("r.started_at") ", " MS("p.last") ", " MS("r.consolidate_sent_at") ", "          /* 9-11 */
    MS("r.consolidation_started_at") ", " MS("r.consolidation_completed_at") ", "       /* 12-13 */
    MS("r.consolidation_failed_at") ", " MS("r.completed_at") ", "                      /* 14-15 */
    MS("r.cancelled_at") ", " MS("r.skipped_at") ", "                                   /* 16-17 */
    MS("r.updated_from") ", " MS("r.updated_to") ", "                                   /* 18-19 */
    "r.stats_processed, r.stats_new, r.stats_changed, r.stats_unchanged, "              /* 20-23 */
    "r.stats_removed, r.stats_failed, r.consolidation_duration_ms, r.last_error, "      /* 24-27 */
    "r.estimated_records, r.capped, r.consolidation_failures, "                         /* 28-30 */
    MS("r.watermark_before") ", " MS("r.watermark_after") ", r.count_queries "          /* 31-33 */
    "FROM run_metadata r LEFT JOIN LATERAL (SELECT count(*) n, "
    "count(*) FILTER (WHERE completed) completed, count(*) FILTER (WHERE failed) failed, "
    "sum(records) records, max(updated_at) last "
    "FROM partition_progress pp WHERE pp.run_id = r.run_id) p ON true";
/* clang-format on */

static int64_t v(const PGresult *r, int row, int col)
{
    return api_i64(r, row, col);
}

void api_run_facts(const PGresult *r, int row, struct dm_run_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->expected_partitions = v(r, row, 4);
    f->partitions = v(r, row, 5);
    f->completed = v(r, row, 6);
    f->failed = v(r, row, 7);
    f->started_at_ms = v(r, row, 9);
    f->last_progress_ms = v(r, row, 10);
    f->consolidate_sent_at_ms = v(r, row, 11);
    f->consolidation_started_at_ms = v(r, row, 12);
    f->consolidation_completed_at_ms = v(r, row, 13);
    f->consolidation_failed_at_ms = v(r, row, 14);
    f->completed_at_ms = v(r, row, 15);
    f->cancelled_at_ms = v(r, row, 16);
    f->skipped_at_ms = v(r, row, 17);
}

enum dm_run_status api_run_status(const PGresult *r, int row)
{
    struct dm_run_facts f;
    api_run_facts(r, row, &f);
    return dm_run_status_derive(&f, dm_now_ms());
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
    if (ms <= 0)
        return;
    char iso[DM_ISO_LEN];
    dm_time_format(ms, iso);
    json_object_set_new(o, key, json_string(iso));
}

json_t *api_run_json(const PGresult *r, int row)
{
    struct dm_run_facts f;
    api_run_facts(r, row, &f);
    int64_t now = dm_now_ms();
    enum dm_run_status st = dm_run_status_derive(&f, now);
    json_t *o = json_object();
    json_object_set_new(o, "runId", json_string(PQgetvalue(r, row, 0)));
    json_object_set_new(o, "runType", json_string(PQgetvalue(r, row, 1)));
    json_object_set_new(o, "traceId", json_string(PQgetvalue(r, row, 2)));
    json_object_set_new(o, "feed", json_string(PQgetvalue(r, row, 3)));
    json_object_set_new(o, "status", json_string(dm_run_status_name(st)));
    json_object_set_new(o, "expectedWorkers", json_integer(f.expected_partitions));
    json_object_set_new(o, "completedWorkers", json_integer(f.completed));
    json_object_set_new(o, "failedWorkers", json_integer(f.failed));
    json_object_set_new(o, "runningWorkers", json_integer(dm_run_facts_unfinished(&f)));
    json_object_set_new(o, "recordsProcessed", json_integer(v(r, row, 8)));
    /* The reference's name (RunWithStats) for the same sum. */
    json_object_set_new(o, "totalRecordsProcessed", json_integer(v(r, row, 8)));
    json_object_set_new(o, "estimatedRecords", json_integer(v(r, row, 28)));
    json_object_set_new(o, "capped", json_boolean(PQgetvalue(r, row, 29)[0] == 't'));
    json_object_set_new(o, "countQueries", json_integer(v(r, row, 33)));
    set_time(o, "startedAt", f.started_at_ms);
    set_time(o, "lastProgressAt", f.last_progress_ms);
    set_time(o, "consolidateSentAt", f.consolidate_sent_at_ms);
    set_time(o, "consolidationStartedAt", f.consolidation_started_at_ms);
    set_time(o, "consolidationCompletedAt", f.consolidation_completed_at_ms);
    set_time(o, "consolidationFailedAt", f.consolidation_failed_at_ms);
    set_time(o, "completedAt", f.completed_at_ms);
    set_time(o, "cancelledAt", f.cancelled_at_ms);
    set_time(o, "skippedAt", f.skipped_at_ms);
    set_time(o, "updatedFrom", v(r, row, 18));
    set_time(o, "updatedTo", v(r, row, 19));
    set_time(o, "watermarkBefore", v(r, row, 31));
    set_time(o, "watermarkAfter", v(r, row, 32));
    int64_t end = f.completed_at_ms   ? f.completed_at_ms
                  : f.cancelled_at_ms ? f.cancelled_at_ms
                                      : (dm_run_status_terminal(st) ? f.last_progress_ms : now);
    /* As the reference's RunWithStats: null while the run is in progress (clients count from
     * startedAt); for a run that ended without completing (failed, cancelled, skipped) ours
     * is known and given where the reference's is null. */
    if (dm_run_status_terminal(st) && end >= f.started_at_ms && f.started_at_ms > 0)
        json_object_set_new(o, "durationMs", json_integer(end - f.started_at_ms));
    else
        json_object_set_new(o, "durationMs", json_null());
    json_object_set_new(o, "stats",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "processed",
                                  (json_int_t)v(r, row, 20), "new", (json_int_t)v(r, row, 21),
                                  "changed", (json_int_t)v(r, row, 22), "unchanged",
                                  (json_int_t)v(r, row, 23), "removed", (json_int_t)v(r, row, 24),
                                  "failed", (json_int_t)v(r, row, 25)));
    if (!PQgetisnull(r, row, 26))
        json_object_set_new(o, "consolidationDurationMs", json_integer(v(r, row, 26)));
    json_object_set_new(o, "consolidationFailures", json_integer(v(r, row, 30)));
    if (!PQgetisnull(r, row, 27))
        json_object_set_new(o, "lastError", json_string(PQgetvalue(r, row, 27)));
    return o;
}

bool api_run_get(struct api_call *c, const char *run_id, PGresult **r)
{
    char sql[4096];
    snprintf(sql, sizeof(sql), "%s WHERE r.run_id = $1", API_RUN_SELECT);
    const char *p[1] = {run_id};
    return api_query_row(c, sql, 1, p, r, "Run not found");
}

enum dm_err api_runs_in_progress(struct dm_db_conn *conn, int *count, char *run_id,
                                 size_t run_id_size, struct dm_error *err)
{
    PGresult *r = NULL;
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "%s WHERE r.completed_at IS NULL AND r.cancelled_at IS NULL AND r.skipped_at IS NULL "
             "AND r.started_at > now() - interval '7 days' ORDER BY r.started_at DESC LIMIT 100",
             API_RUN_SELECT);
    enum dm_err e = dm_db_exec(conn, sql, 0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    *count = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        enum dm_run_status st = api_run_status(r, i);
        /* A stalled run does not block new runs forever: operators cancel it. */
        if (!dm_run_status_terminal(st) && st != DM_RUN_STALLED) {
            if (*count == 0 && run_id)
                snprintf(run_id, run_id_size, "%s", PQgetvalue(r, i, 0));
            (*count)++;
        }
    }
    PQclear(r);
    return DM_OK;
}
