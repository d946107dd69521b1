/* dispatch.c - messages that follow a run's state changes (see dispatch.h). */
#include "services/dispatch/dispatch.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "store/runs.h"

void dm_dispatch_work_item_out(const struct dm_work_item *wi, const char *suffix, char *id,
                               size_t id_size, char **body)
{
    char base[256];
    dm_work_item_id(wi, base, sizeof(base));
    snprintf(id, id_size, "%s%s", base, suffix ? suffix : "");
    *body = dm_work_item_to_json(wi);
}

enum dm_err dm_dispatch_work_item(struct dm_queue *q, const struct dm_work_item *wi,
                                  const char *suffix, struct dm_error *err)
{
    char id[256];
    char *body = NULL;
    dm_dispatch_work_item_out(wi, suffix, id, sizeof(id), &body);
    struct dm_queue_out m = {.id = id, .body = body};
    enum dm_err e = dm_queue_send(q, DM_Q_WORK_ITEMS, &m, err);
    free(body);
    return e;
}

enum dm_err dm_dispatch_consolidate(struct dm_queue *q, const char *run_id, const char *trace_id,
                                    int64_t updated_to_ms, bool force, char *id_out, size_t id_size,
                                    struct dm_error *err)
{
    struct dm_consolidate c = {.force = force, .updated_to_ms = updated_to_ms};
    snprintf(c.run_id, sizeof(c.run_id), "%s", run_id);
    snprintf(c.trace_id, sizeof(c.trace_id), "%s", trace_id);
    char id[256];
    dm_consolidate_id(&c, id, sizeof(id));
    if (id_out)
        snprintf(id_out, id_size, "%s", id);
    char *body = dm_consolidate_to_json(&c);
    struct dm_queue_out m = {.id = id, .body = body};
    enum dm_err e = dm_queue_send(q, DM_Q_CONSOLIDATE, &m, err);
    free(body);
    return e;
}

enum dm_err dm_dispatch_completion_check(struct dm_db *db, struct dm_queue *q,
                                         struct dm_alert_sink *alert, const char *run_id,
                                         bool *consolidate_sent, struct dm_error *err)
{
    *consolidate_sent = false;
    struct dm_run run;
    enum dm_err e = dm_runs_get(db, run_id, false, &run, err);
    if (e != DM_OK)
        return e;
    struct dm_log_ctx ctx = {.run_id = run_id, .trace_id = run.trace_id};
    const struct dm_run_facts *f = &run.facts;
    int64_t total = f->partitions;
    bool cancelled = f->cancelled_at_ms > 0;
    dm_run_clear(&run);
    if (cancelled || total == 0 || total < f->expected_partitions)
        return DM_OK;
    if (f->completed == total) {
        bool claimed = false;
        struct dm_runs_consolidate_ref ref;
        e = dm_runs_claim_consolidate(db, run_id, &claimed, &ref, err);
        if (e != DM_OK || !claimed)
            return e;
        e = dm_dispatch_consolidate(q, run_id, ref.trace_id, ref.updated_to_ms, false, NULL, 0,
                                    err);
        if (e != DM_OK) {
            /* Un-claim so the sweeper's backstop (or a retry) sends it later. */
            if (dm_runs_unclaim_consolidate(db, run_id, NULL) != DM_OK)
                dm_warn(&ctx, "could not un-claim consolidate_sent_at");
            return e;
        }
        *consolidate_sent = true;
        dm_info(&ctx, "all %lld partitions completed: CONSOLIDATE sent", (long long)total);
        return DM_OK;
    }
    if (dm_run_facts_unfinished(f) == 0 && f->failed > 0) {
        char body[512];
        snprintf(body, sizeof(body),
                 "Run %s finished with %lld failed partition(s) of %lld (%lld completed). "
                 "Nothing was consolidated; the watermark was not advanced. "
                 "Retry with: diamond retry %s",
                 run_id, (long long)f->failed, (long long)total, (long long)f->completed, run_id);
        if (alert)
            (void)dm_alert_send(alert, &ctx, "Run finished with failed partitions", body);
        else
            dm_warn(&ctx, "Run finished with failed partitions: %s", body);
    }
    return DM_OK;
}

void dm_dispatch_work_done(struct dm_queue *q, const struct dm_work_item *wi, const char *worker_id,
                           int64_t records, bool success, const char *error,
                           const struct dm_log_ctx *ctx)
{
    struct dm_work_done d = {.records_processed = records,
                             .status = success ? DM_WORK_SUCCESS : DM_WORK_FAILED};
    snprintf(d.run_id, sizeof(d.run_id), "%s", wi->run_id);
    snprintf(d.trace_id, sizeof(d.trace_id), "%s", wi->trace_id);
    snprintf(d.worker_id, sizeof(d.worker_id), "%s", worker_id);
    snprintf(d.partition_id, sizeof(d.partition_id), "%s", wi->partition_id);
    if (error)
        snprintf(d.error, sizeof(d.error), "%s", error);
    char id[256];
    dm_work_done_id(&d, id, sizeof(id));
    char *body = dm_work_done_to_json(&d);
    struct dm_queue_out m = {.id = id, .body = body};
    struct dm_error err = {0};
    if (dm_queue_send(q, DM_Q_WORK_DONE, &m, &err) != DM_OK)
        dm_warn(ctx, "WORK_DONE not sent (the sweeper's backstop covers it): %s", err.message);
    free(body);
}
