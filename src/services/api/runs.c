/* runs.c - the JSON form of a run (store/runs.h loads it and derives its status). */
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "services/api/runs.h"

static void set_time(json_t *o, const char *key, int64_t ms)
{
    if (ms <= 0)
        return;
    char iso[DM_ISO_LEN];
    dm_time_format(ms, iso);
    json_object_set_new(o, key, json_string(iso));
}

json_t *api_run_json(const struct dm_run *run)
{
    const struct dm_run_facts *fp = &run->facts;
    const struct dm_run_facts f = *fp;
    int64_t now = dm_now_ms();
    enum dm_run_status st = run->status;
    json_t *o = json_object();
    json_object_set_new(o, "runId", json_string(run->run_id));
    json_object_set_new(o, "runType", json_string(run->run_type));
    json_object_set_new(o, "traceId", json_string(run->trace_id));
    json_object_set_new(o, "feed", json_string(run->feed));
    json_object_set_new(o, "status", json_string(dm_run_status_name(st)));
    json_object_set_new(o, "expectedWorkers", json_integer(f.expected_partitions));
    json_object_set_new(o, "completedWorkers", json_integer(f.completed));
    json_object_set_new(o, "failedWorkers", json_integer(f.failed));
    json_object_set_new(o, "runningWorkers", json_integer(dm_run_facts_unfinished(&f)));
    json_object_set_new(o, "recordsProcessed", json_integer(run->records));
    /* The reference's name (RunWithStats) for the same sum. */
    json_object_set_new(o, "totalRecordsProcessed", json_integer(run->records));
    json_object_set_new(o, "estimatedRecords", json_integer(run->estimated_records));
    json_object_set_new(o, "capped", json_boolean(run->capped));
    json_object_set_new(o, "countQueries", json_integer(run->count_queries));
    set_time(o, "startedAt", f.started_at_ms);
    set_time(o, "lastProgressAt", f.last_progress_ms);
    set_time(o, "consolidateSentAt", f.consolidate_sent_at_ms);
    set_time(o, "consolidationStartedAt", f.consolidation_started_at_ms);
    set_time(o, "consolidationCompletedAt", f.consolidation_completed_at_ms);
    set_time(o, "consolidationFailedAt", f.consolidation_failed_at_ms);
    set_time(o, "completedAt", f.completed_at_ms);
    set_time(o, "cancelledAt", f.cancelled_at_ms);
    set_time(o, "skippedAt", f.skipped_at_ms);
    set_time(o, "updatedFrom", run->updated_from_ms);
    set_time(o, "updatedTo", run->updated_to_ms);
    set_time(o, "watermarkBefore", run->watermark_before_ms);
    set_time(o, "watermarkAfter", run->watermark_after_ms);
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
    json_object_set_new(
        o, "stats",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "processed", (json_int_t)run->stats_processed, "new",
                  (json_int_t)run->stats_new, "changed", (json_int_t)run->stats_changed,
                  "unchanged", (json_int_t)run->stats_unchanged, "removed",
                  (json_int_t)run->stats_removed, "failed", (json_int_t)run->stats_failed));
    if (run->consolidation_duration_ms >= 0)
        json_object_set_new(o, "consolidationDurationMs",
                            json_integer(run->consolidation_duration_ms));
    json_object_set_new(o, "consolidationFailures", json_integer(run->consolidation_failures));
    if (run->last_error)
        json_object_set_new(o, "lastError", json_string(run->last_error));
    return o;
}

bool api_run_get(struct api_call *c, const char *run_id, bool raw_counts, struct dm_run *run)
{
    struct dm_error err = {0};
    enum dm_err e = dm_runs_get(c->api->db, run_id, raw_counts, run, &err);
    if (e == DM_ERR_NOT_FOUND) {
        api_error(c, 404, "NOT_FOUND", "Run not found", NULL);
        return false;
    }
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return false;
    }
    return true;
}

enum dm_err api_runs_in_progress(struct api_call *c, struct dm_db_conn *conn, const char *feed,
                                 int *count, char *run_id, size_t run_id_size, struct dm_error *err)
{
    struct dm_run first;
    enum dm_err e = dm_runs_in_progress(c->api->db, conn, feed, 7, count, &first, err);
    if (e != DM_OK)
        return e;
    if (*count > 0 && run_id)
        snprintf(run_id, run_id_size, "%s", first.run_id);
    dm_run_clear(&first);
    return DM_OK;
}
