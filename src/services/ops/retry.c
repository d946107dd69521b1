/* retry.c - retrying a run's failed partitions from next_offset (see retry.h). */
#include "services/ops/retry.h"

#include <string.h>

#include "core/json.h"
#include "services/worker/runops.h"

/* Reset the failed partitions (and their worker rows); returns partition_id, attempts,
 * next_offset of each, in partition id order. */
#define RESET_PARTITIONS                                                                           \
    "WITH u AS (UPDATE partition_progress SET failed = false, "                                    \
    " attempts = attempts + 1, last_error = NULL, updated_at = now() "                             \
    " WHERE run_id = $1 AND failed AND NOT cancelled AND NOT completed "                           \
    " AND ($2::text IS NULL OR partition_id = $2) "                                                \
    " RETURNING partition_id, attempts, next_offset), "                                            \
    "w AS (UPDATE worker_runs w SET status = 'running', error_message = NULL, "                    \
    " completed_at = NULL FROM u WHERE w.run_id = $1 "                                             \
    " AND w.partition_id = u.partition_id RETURNING 1)"
#define CLEAR_SKIPPED                                                                              \
    "m AS (UPDATE run_metadata SET skipped_at = NULL WHERE run_id = $1 "                           \
    " AND EXISTS (SELECT 1 FROM u) RETURNING 1)"
#define RESET_RESULT "SELECT partition_id, attempts, next_offset FROM u ORDER BY partition_id"

static const char SQL_RESET[] = RESET_PARTITIONS " " RESET_RESULT;
static const char SQL_RESET_CLEAR_SKIPPED[] = RESET_PARTITIONS ", " CLEAR_SKIPPED " " RESET_RESULT;

/* Send one reset partition's work item, report it, record its event. */
static void retry_one(struct dm_db *db, struct dm_queue *q, const struct dm_retry_request *req,
                      const char *pid, dm_retry_each_fn each, void *ctx)
{
    struct dm_work_item wi;
    struct dm_error serr = {0};
    struct dm_retry_partition p = {.partition_id = pid};
    if (dm_runops_partition_item(db, req->run_id, pid, &wi, &serr) != DM_OK ||
        dm_runops_send_work_item(q, &wi, NULL, &serr) != DM_OK) {
        p.err = &serr;
        if (each)
            each(ctx, &p);
        return;
    }
    char id[256];
    dm_work_item_id(&wi, id, sizeof(id));
    p.wi = &wi;
    p.message_id = id;
    if (each)
        each(ctx, &p);
    json_t *d = json_pack("{s:I,s:i}", "offset", (json_int_t)wi.offset, "attempt", wi.attempt);
    if (req->by)
        json_object_set_new(d, "by", json_string(req->by));
    dm_runops_event(db, req->run_id, pid, "partition_retried", d);
    json_decref(d);
}

enum dm_err dm_retry_failed(struct dm_db *db, struct dm_queue *q,
                            const struct dm_retry_request *req, dm_retry_each_fn each, void *ctx,
                            enum dm_retry_state *state, int *reset, struct dm_error *err)
{
    PGresult *r = NULL;
    *reset = 0;
    *state = DM_RETRY_DONE;
    const char *rp[1] = {req->run_id};
    enum dm_err e = dm_db_query(
        db, "SELECT cancelled_at IS NOT NULL FROM run_metadata WHERE run_id = $1", 1, rp, &r, err);
    if (e != DM_OK)
        goto out;
    if (PQntuples(r) == 0) {
        *state = DM_RETRY_NO_RUN;
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
        *state = DM_RETRY_RUN_CANCELLED;
        goto out;
    }
    PQclear(r);
    r = NULL;
    const char *p[2] = {req->run_id, req->partition_id};
    e = dm_db_query(db, req->clear_skipped ? SQL_RESET_CLEAR_SKIPPED : SQL_RESET, 2, p, &r, err);
    if (e != DM_OK)
        goto out;
    *reset = PQntuples(r);
    for (int i = 0; i < *reset; i++)
        retry_one(db, q, req, PQgetvalue(r, i, 0), each, ctx);
out:
    PQclear(r);
    return e;
}
