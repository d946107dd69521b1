/*
 * service.c - `diamond consolidator`: two receive loops (consolidate, work-done) on their own
 * threads, graceful SIGTERM (the batch in flight finishes, its message is abandoned for
 * redelivery), several replicas safe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/http/client.h"
#include "cli/cli.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/consolidator/consolidator.h"

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

static void help(FILE *out)
{
    fprintf(out, "usage: diamond consolidator\n\n"
                 "Consumes the consolidate queue (raw rows -> priced diamonds, removals, the\n"
                 "watermark, run completion) and the work-done queue (run timeline, CONSOLIDATE\n"
                 "backstop). Stops gracefully on SIGTERM.\n\nenvironment:\n");
    dm_config_print_help(DM_SVC_CONSOLIDATOR, out);
}

int dm_cmd_consolidator(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        help(stdout);
        return DM_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "consolidator: unexpected argument '%s'\n", argv[1]);
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CONSOLIDATOR, "consolidator", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0) {
        dm_app_free(&app);
        return rc;
    }
    dm_http_global_init();
    struct dm_consolidator cs = {.db = app.db,
                                 .batch_size = app.cfg.consolidator_batch_size,
                                 .concurrency = app.cfg.consolidator_concurrency};
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(cs.instance_id, sizeof(cs.instance_id), "%.40s-%d", host, (int)getpid());
    struct dm_error err = {0};
    rc = DM_EXIT_FAIL;
    if (dm_queue_open(&app.cfg, app.db, &cs.queue, &err) != DM_OK) {
        dm_error(NULL, "queue: %s", err.message);
        fprintf(stderr, "consolidator: queue: %s\n", err.message);
        goto out;
    }
    if (dm_watermark_open(&app.cfg, &cs.wm, &err) != DM_OK) {
        dm_error(NULL, "watermark: %s", err.message);
        fprintf(stderr, "consolidator: watermark: %s\n", err.message);
        goto out;
    }
    cs.alert = dm_alert_open(&app.cfg);
    dm_info(NULL, "consolidator %s started (queue %s, watermark %s, alerts %s, batch %d x %d)",
            cs.instance_id, dm_queue_backend_name(cs.queue), dm_watermark_backend_name(cs.wm),
            dm_alert_backend_name(cs.alert), cs.batch_size, cs.concurrency);
    pthread_t t1, t2;
    bool t1ok = pthread_create(&t1, NULL, consolidate_loop, &cs) == 0;
    bool t2ok = pthread_create(&t2, NULL, work_done_loop, &cs) == 0;
    if (!t1ok || !t2ok) {
        dm_error(NULL, "could not start threads");
        dm_stop_flag = 1;
    }
    if (t1ok)
        pthread_join(t1, NULL);
    if (t2ok)
        pthread_join(t2, NULL);
    dm_info(NULL, "consolidator stopped");
    rc = t1ok && t2ok ? DM_EXIT_OK : DM_EXIT_FAIL;
out:
    dm_alert_free(cs.alert);
    dm_watermark_free(cs.wm);
    dm_queue_free(cs.queue);
    dm_app_free(&app);
    return rc;
}
