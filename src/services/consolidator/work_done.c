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

enum dm_settle dm_consolidator_work_done(struct dm_consolidator *cs, const struct dm_work_done *m)
{
    struct dm_log_ctx ctx = {
        .run_id = m->run_id, .partition_id = m->partition_id, .trace_id = m->trace_id};
    struct dm_error err = {0};
    PGresult *r = NULL;
    const char *event = m->status == DM_WORK_SUCCESS ? "partition_completed" : "partition_failed";
    json_t *detail = json_pack("{s:s,s:I}", "workerId", m->worker_id, "recordsProcessed",
                               (json_int_t)m->records_processed);
    if (m->error[0])
        json_object_set_new(detail, "error", json_string(m->error));
    char *d = dm_json_dumps(detail);
    json_decref(detail);
    const char *p[] = {m->run_id, m->partition_id, event, d};
    enum dm_err e = dm_db_query(
        cs->db,
        "WITH run AS (SELECT run_id FROM run_metadata WHERE run_id = $1::uuid), "
        "ins AS (INSERT INTO run_events (run_id, partition_id, event, detail) "
        "SELECT run_id, $2, $3, $4::jsonb FROM run WHERE NOT EXISTS (SELECT 1 FROM run_events "
        "WHERE run_id = $1::uuid AND partition_id = $2 AND event = $3) RETURNING 1) "
        "SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM ins)",
        4, p, &r, &err);
    free(d);
    if (e != DM_OK) {
        dm_warn(&ctx, "WORK_DONE not recorded: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    bool known = dm_db_get(r, 0, 0)[0] != '0';
    PQclear(r);
    r = NULL;
    if (!known) {
        dm_warn(&ctx, "WORK_DONE for unknown run: ignored");
        return DM_SETTLE_COMPLETE;
    }
    if (m->status != DM_WORK_SUCCESS)
        return DM_SETTLE_COMPLETE;

    /* Backstop: claim the right to send CONSOLIDATE with a conditional update. */
    const char *bp[] = {m->run_id};
    e = dm_db_query(cs->db,
                    "UPDATE run_metadata r SET consolidate_sent_at = now() "
                    "WHERE r.run_id = $1 AND r.consolidate_sent_at IS NULL "
                    "AND r.completed_at IS NULL AND r.cancelled_at IS NULL "
                    "AND EXISTS (SELECT 1 FROM partition_progress p WHERE p.run_id = r.run_id) "
                    "AND NOT EXISTS (SELECT 1 FROM partition_progress p "
                    "WHERE p.run_id = r.run_id AND NOT p.completed) "
                    "RETURNING r.trace_id, floor(extract(epoch FROM r.updated_to) * 1000)::bigint",
                    1, bp, &r, &err);
    if (e != DM_OK) {
        dm_warn(&ctx, "backstop check failed: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (PQntuples(r) == 1) {
        struct dm_consolidate c = {.force = false};
        snprintf(c.run_id, sizeof(c.run_id), "%s", m->run_id);
        snprintf(c.trace_id, sizeof(c.trace_id), "%s", dm_db_get(r, 0, 0));
        if (dm_db_get_i64(r, 0, 1, &c.updated_to_ms) != DM_OK) {
            dm_db_bad_value(r, 0, 1, "backstop", &err);
            dm_warn(&ctx, "backstop CONSOLIDATE not sent: %s", err.message);
            PQclear(r);
            return DM_SETTLE_ABANDON;
        }
        char id[192];
        dm_consolidate_id(&c, id, sizeof(id));
        char *body = dm_consolidate_to_json(&c);
        struct dm_queue_out out = {.id = id, .body = body};
        e = dm_queue_send(cs->queue, DM_Q_CONSOLIDATE, &out, &err);
        free(body);
        if (e != DM_OK) {
            dm_warn(&ctx, "backstop CONSOLIDATE not sent: %s", err.message);
            struct dm_error e2 = {0};
            if (dm_db_query(cs->db,
                            "UPDATE run_metadata SET consolidate_sent_at = NULL WHERE run_id = $1",
                            1, bp, NULL, &e2) != DM_OK)
                dm_warn(&ctx, "could not reset consolidate_sent_at: %s", e2.message);
            PQclear(r);
            return DM_SETTLE_ABANDON;
        }
        dm_info(&ctx, "all partitions completed and no CONSOLIDATE recorded: sent one");
    }
    PQclear(r);
    return DM_SETTLE_COMPLETE;
}
