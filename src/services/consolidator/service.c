/*
 * service.c - the consolidator service (`diamond consolidator`): two receive loops (consolidate,
 * work-done) on their own threads, graceful SIGTERM (the batch in flight finishes, its message is
 * abandoned for redelivery), several replicas safe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/http/client.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "domain/run_status.h"
#include "core/num.h"
#include "services/consolidator/consolidator.h"
#include "services/scheduler/scheduler.h"

static void settle(struct dm_queue *q, struct dm_queue_msg *msg, enum dm_settle s,
                   const char *reason)
{
    struct dm_error err = {0};
    enum dm_err e = DM_OK;
    switch (s) {
    case DM_SETTLE_COMPLETE:
        e = dm_queue_complete(q, msg, &err);
        break;
    case DM_SETTLE_ABANDON:
        e = dm_queue_abandon(q, msg, &err);
        break;
    case DM_SETTLE_DEAD_LETTER:
        e = dm_queue_dead_letter(q, msg, reason ? reason : "invalid message", &err);
        break;
    }
    if (e == DM_ERR_LOCK_LOST)
        dm_warn(NULL, "message %s: lock lost before settling (it may be processed again)", msg->id);
    else if (e != DM_OK)
        dm_warn(NULL, "message %s: settle failed: %s", msg->id, err.message);
}

static void *consolidate_loop(void *arg)
{
    struct dm_consolidator *cs = arg;
    while (!dm_stop_requested()) {
        struct dm_queue_msg *msg = NULL;
        struct dm_error err = {0};
        if (dm_queue_receive(cs->queue, DM_Q_CONSOLIDATE, 1000, &msg, &err) != DM_OK) {
            dm_warn(NULL, "receive from consolidate failed: %s", err.message);
            dm_sleep_ms(1000, &dm_stop_flag);
            continue;
        }
        if (msg == NULL)
            continue;
        struct dm_consolidate m;
        if (dm_consolidate_parse(msg->body, strlen(msg->body), &m, &err) != DM_OK) {
            dm_warn(NULL, "dead-lettering invalid CONSOLIDATE %s: %s", msg->id, err.message);
            settle(cs->queue, msg, DM_SETTLE_DEAD_LETTER, err.message);
        } else {
            settle(cs->queue, msg, dm_consolidator_handle_msg(cs, msg, &m), NULL);
        }
        dm_queue_msg_free(msg);
    }
    return NULL;
}

static void *work_done_loop(void *arg)
{
    struct dm_consolidator *cs = arg;
    while (!dm_stop_requested()) {
        struct dm_queue_msg *msg = NULL;
        struct dm_error err = {0};
        if (dm_queue_receive(cs->queue, DM_Q_WORK_DONE, 1000, &msg, &err) != DM_OK) {
            dm_warn(NULL, "receive from work-done failed: %s", err.message);
            dm_sleep_ms(1000, &dm_stop_flag);
            continue;
        }
        if (msg == NULL)
            continue;
        struct dm_work_done m;
        if (dm_work_done_parse(msg->body, strlen(msg->body), &m, &err) != DM_OK) {
            dm_warn(NULL, "dead-lettering invalid WORK_DONE %s: %s", msg->id, err.message);
            settle(cs->queue, msg, DM_SETTLE_DEAD_LETTER, err.message);
        } else {
            settle(cs->queue, msg, dm_consolidator_work_done(cs, &m), NULL);
        }
        dm_queue_msg_free(msg);
    }
    return NULL;
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
    struct dm_consolidator cs = {.db = app->db,
                                 .batch_size = app->cfg.consolidator_batch_size,
                                 .concurrency = app->cfg.consolidator_concurrency};
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(cs.instance_id, sizeof(cs.instance_id), "%.40s-%d", host, (int)getpid());
    struct dm_error e = {0};
    enum dm_err rc = DM_OK;
    if ((rc = dm_queue_open(&app->cfg, app->db, &cs.queue, &e)) != DM_OK) {
        dm_error(NULL, "queue: %s", e.message);
        dm_error_set(err, rc, "queue: %s", e.message);
        goto out;
    }
    if ((rc = dm_watermark_open(&app->cfg, &cs.wm, &e)) != DM_OK) {
        dm_error(NULL, "watermark: %s", e.message);
        dm_error_set(err, rc, "watermark: %s", e.message);
        goto out;
    }
    cs.alert = dm_alert_open(&app->cfg);
    dm_info(NULL, "consolidator %s started (queue %s, watermark %s, alerts %s, batch %d x %d)",
            cs.instance_id, dm_queue_backend_name(cs.queue), dm_watermark_backend_name(cs.wm),
            dm_alert_backend_name(cs.alert), cs.batch_size, cs.concurrency);
    pthread_t t1, t2, t3;
    struct sweep_args sa = {
        .cs = &cs, .cfg = &app->cfg, .interval_ms = o->sweep_interval_ms, .stall_ms = o->stall_ms};
    bool t1ok = pthread_create(&t1, NULL, consolidate_loop, &cs) == 0;
    bool t2ok = pthread_create(&t2, NULL, work_done_loop, &cs) == 0;
    bool t3ok = o->sweep_interval_ms > 0 && pthread_create(&t3, NULL, sweep_loop, &sa) == 0;
    if (!t1ok || !t2ok) {
        dm_error(NULL, "could not start threads");
        dm_stop_flag = 1;
    }
    if (t1ok)
        pthread_join(t1, NULL);
    if (t2ok)
        pthread_join(t2, NULL);
    if (t3ok)
        pthread_join(t3, NULL);
    dm_info(NULL, "consolidator stopped");
    if (!t1ok || !t2ok)
        rc = dm_error_set(err, DM_ERR_INTERNAL, "could not start threads");
out:
    dm_alert_free(cs.alert);
    dm_watermark_free(cs.wm);
    dm_queue_free(cs.queue);
    return rc;
}
