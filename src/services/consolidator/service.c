/*
 * service.c - the consolidator service (`diamond consolidator`): two queue consumers (consolidate,
 * work-done) and the sweeper, graceful SIGTERM (the batch in flight finishes, its message is
 * abandoned for redelivery), several replicas safe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/http/client.h"
#include "app/adapter_opts.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "domain/run_status.h"
#include "core/num.h"
#include "services/consolidator/consolidator.h"
#include "services/scheduler/scheduler.h"

/* ---- the two consumers: parse, then the typed handler -------------------------------- */

static enum dm_settle on_consolidate(void *arg, struct dm_delivery *d)
{
    struct dm_consolidator *cs = arg;
    struct dm_consolidate m;
    struct dm_error err = {0};
    if (dm_consolidate_parse(d->msg->body, strlen(d->msg->body), &m, &err) != DM_OK)
        return dm_delivery_dead_letter(d, "%s", err.message);
    struct dm_log_ctx ctx = {.run_id = m.run_id, .trace_id = m.trace_id};
    dm_delivery_set_ctx(d, &ctx);
    return dm_consolidator_handle(cs, &m, d->msg->delivery_count);
}

static enum dm_settle on_work_done(void *arg, struct dm_delivery *d)
{
    struct dm_consolidator *cs = arg;
    struct dm_work_done m;
    struct dm_error err = {0};
    if (dm_work_done_parse(d->msg->body, strlen(d->msg->body), &m, &err) != DM_OK)
        return dm_delivery_dead_letter(d, "%s", err.message);
    struct dm_log_ctx ctx = {
        .run_id = m.run_id, .partition_id = m.partition_id, .trace_id = m.trace_id};
    dm_delivery_set_ctx(d, &ctx);
    return dm_consolidator_work_done(cs, &m);
}

/* One handler thread per queue. A CONSOLIDATE holds its lock for minutes: renewed at half the
 * lock. A WORK_DONE is two short statements: never renewed, as before. */
static enum dm_err start_consumers(struct dm_consolidator *cs, struct dm_consumer **consolidate,
                                   struct dm_consumer **work_done, struct dm_error *err)
{
    struct dm_consumer_opts co = {.queue = cs->queue,
                                  .name = DM_Q_CONSOLIDATE,
                                  .handle = on_consolidate,
                                  .arg = cs,
                                  .concurrency = 1,
                                  .renew_ms = dm_consumer_renew_ms(cs->queue, DM_Q_CONSOLIDATE)};
    enum dm_err e = dm_consumer_start(&co, consolidate, err);
    if (e != DM_OK)
        return e;
    struct dm_consumer_opts wo = {.queue = cs->queue,
                                  .name = DM_Q_WORK_DONE,
                                  .handle = on_work_done,
                                  .arg = cs,
                                  .concurrency = 1};
    return dm_consumer_start(&wo, work_done, err);
}

struct sweep_args {
    struct dm_consolidator *cs;
    const struct dm_config *cfg;
    int64_t interval_ms, stall_ms;
};

/* The sweeper of pipeline.md §6 (shared with the resident scheduler): re-send lost
 * continuations, report stalled runs, send missing CONSOLIDATEs. */
static void *sweep_loop(void *arg)
{
    struct sweep_args *a = arg;
    struct dm_sched_env env = {
        .cfg = a->cfg, .db = a->cs->db, .queue = a->cs->queue, .alert = a->cs->alert};
    const struct dm_queue_settings *qs = dm_queue_handle_settings(a->cs->queue, DM_Q_WORK_ITEMS);
    int64_t stale_ms = qs->lock_ms * qs->max_delivery;
    struct dm_sweeper *sw = dm_sweeper_new();
    while (!dm_stop_requested()) {
        dm_sleep_ms(a->interval_ms, &dm_stop_flag);
        if (dm_stop_requested())
            break;
        struct dm_sweep_report rep;
        struct dm_error err = {0};
        if (dm_sweeper_pass(sw, &env, stale_ms, a->stall_ms, &rep, &err) != DM_OK)
            dm_warn(NULL, "sweeper: %s", err.message);
        else if (rep.continuations_resent || rep.stalled_reported || rep.consolidations_sent)
            dm_info(NULL,
                    "sweeper: %d continuation(s) re-sent, %d run(s) stalled, %d CONSOLIDATE sent",
                    rep.continuations_resent, rep.stalled_reported, rep.consolidations_sent);
    }
    dm_sweeper_free(sw);
    return NULL;
}

enum dm_err dm_consolidator_run(struct dm_app *app, const struct dm_consolidator_opts *o,
                                struct dm_error *err)
{
    dm_http_global_init();
    struct dm_consolidator cs = {.cfg = &app->cfg,
                                 .db = app->db,
                                 .batch_size = app->cfg.consolidator_batch_size,
                                 .concurrency = app->cfg.consolidator_concurrency};
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(cs.instance_id, sizeof(cs.instance_id), "%.40s-%d", host, (int)getpid());
    dm_listing_policy_from_config(&app->cfg, &cs.listing);
    struct dm_error e = {0};
    enum dm_err rc = DM_OK;
    if ((rc = dm_app_queue_open(&app->cfg, app->db, &cs.queue, &e)) != DM_OK) {
        dm_error(NULL, "queue: %s", e.message);
        dm_error_set(err, rc, "queue: %s", e.message);
        goto out;
    }
    if ((rc = dm_app_watermark_open(&app->cfg, &cs.wm, &e)) != DM_OK) {
        dm_error(NULL, "watermark: %s", e.message);
        dm_error_set(err, rc, "watermark: %s", e.message);
        goto out;
    }
    cs.alert = dm_app_alert_open(&app->cfg);
    dm_info(NULL, "consolidator %s started (queue %s, watermark %s, alerts %s, batch %d x %d)",
            cs.instance_id, dm_queue_backend_name(cs.queue), dm_watermark_backend_name(cs.wm),
            dm_alert_backend_name(cs.alert), cs.batch_size, cs.concurrency);
    struct dm_consumer *consolidate = NULL, *work_done = NULL;
    pthread_t sweeper;
    struct sweep_args sa = {
        .cs = &cs, .cfg = &app->cfg, .interval_ms = o->sweep_interval_ms, .stall_ms = o->stall_ms};
    bool started = start_consumers(&cs, &consolidate, &work_done, &e) == DM_OK;
    if (!started) {
        dm_error(NULL, "could not start the consumers: %s", e.message);
        dm_stop_flag = 1;
    }
    bool swept =
        started && o->sweep_interval_ms > 0 && pthread_create(&sweeper, NULL, sweep_loop, &sa) == 0;
    /* Until SIGTERM; then each consumer finishes the message it has in flight. */
    dm_consumer_join(consolidate);
    dm_consumer_join(work_done);
    if (swept)
        pthread_join(sweeper, NULL);
    dm_info(NULL, "consolidator stopped");
    if (!started)
        rc = dm_error_set(err, e.code ? e.code : DM_ERR_IO, "could not start the consumers: %s",
                          e.message);
out:
    dm_alert_free(cs.alert);
    dm_watermark_free(cs.wm);
    dm_queue_free(cs.queue);
    return rc;
}
