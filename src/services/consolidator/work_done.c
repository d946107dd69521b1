/*
 * work_done.c - the consolidator's run tracking (pipeline.md §6): each WORK_DONE becomes a
 * timeline event (once per partition and outcome), and as a backstop a run whose partitions
 * are all completed but for which no CONSOLIDATE was sent gets one.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/consolidator/consolidator.h"
#include "services/dispatch/dispatch.h"
#include "store/runs.h"

enum dm_settle dm_consolidator_work_done(struct dm_consolidator *cs, const struct dm_work_done *m)
{
    struct dm_log_ctx ctx = {
        .run_id = m->run_id, .partition_id = m->partition_id, .trace_id = m->trace_id};
    struct dm_error err = {0};
    const char *event = m->status == DM_WORK_SUCCESS ? "partition_completed" : "partition_failed";
    json_t *detail = json_pack("{s:s,s:I}", "workerId", m->worker_id, "recordsProcessed",
                               (json_int_t)m->records_processed);
    if (m->error[0])
        json_object_set_new(detail, "error", json_string(m->error));
    bool known = false;
    enum dm_err e =
        dm_runs_event_once(cs->db, m->run_id, m->partition_id, event, detail, &known, &err);
    json_decref(detail);
    if (e != DM_OK) {
        dm_warn(&ctx, "WORK_DONE not recorded: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (!known) {
        dm_warn(&ctx, "WORK_DONE for unknown run: ignored");
        return DM_SETTLE_COMPLETE;
    }
    if (m->status != DM_WORK_SUCCESS)
        return DM_SETTLE_COMPLETE;

    /* Backstop: claim the right to send CONSOLIDATE with a conditional update. */
    bool claimed = false;
    struct dm_runs_consolidate_ref ref;
    e = dm_runs_claim_consolidate(cs->db, m->run_id, &claimed, &ref, &err);
    if (e != DM_OK) {
        dm_warn(&ctx, "backstop check failed: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (claimed) {
        e = dm_dispatch_consolidate(cs->queue, m->run_id, ref.trace_id, ref.updated_to_ms, false,
                                    NULL, 0, &err);
        if (e != DM_OK) {
            dm_warn(&ctx, "backstop CONSOLIDATE not sent: %s", err.message);
            struct dm_error e2 = {0};
            if (dm_runs_unclaim_consolidate(cs->db, m->run_id, &e2) != DM_OK)
                dm_warn(&ctx, "could not reset consolidate_sent_at: %s", e2.message);
            return DM_SETTLE_ABANDON;
        }
        dm_info(&ctx, "all partitions completed and no CONSOLIDATE recorded: sent one");
    }
    return DM_SETTLE_COMPLETE;
}
