/* retry.c - retrying a run's failed partitions from next_offset (see retry.h). */
#include "services/ops/retry.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "services/dispatch/dispatch.h"
#include "store/runs.h"

/* Send one reset partition's work item, report it, record its event. */
static void retry_one(struct dm_db *db, struct dm_queue *q, const struct dm_retry_request *req,
                      const char *pid, dm_retry_each_fn each, void *ctx)
{
    struct dm_work_item wi;
    struct dm_error serr = {0};
    struct dm_retry_partition p = {.partition_id = pid};
    if (dm_runs_partition_item(db, req->run_id, pid, &wi, &serr) != DM_OK ||
        dm_dispatch_work_item(q, &wi, NULL, &serr) != DM_OK) {
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
    dm_runs_event(db, req->run_id, pid, "partition_retried", d);
    json_decref(d);
}

enum dm_err dm_retry_failed(struct dm_db *db, struct dm_queue *q,
                            const struct dm_retry_request *req, dm_retry_each_fn each, void *ctx,
                            enum dm_retry_state *state, int *reset, struct dm_error *err)
{
    *reset = 0;
    *state = DM_RETRY_DONE;
    enum dm_runs_retry_state st;
    struct dm_partition_ref *ids = NULL;
    int n = 0;
    enum dm_err e = dm_runs_retry_reset(db, req->run_id, req->partition_id, req->clear_skipped, &st,
                                        &ids, &n, err);
    if (e != DM_OK)
        return e;
    if (st == DM_RUNS_RETRY_NO_RUN)
        *state = DM_RETRY_NO_RUN;
    else if (st == DM_RUNS_RETRY_CANCELLED)
        *state = DM_RETRY_RUN_CANCELLED;
    *reset = n;
    for (int i = 0; i < n; i++)
        retry_one(db, q, req, ids[i].partition_id, each, ctx);
    free(ids);
    return DM_OK;
}
