/*
 * plan.c - one scheduler execution (pipeline.md §2): watermark, window fixed before any
 * count, one-run-at-a-time (advisory lock + in-progress check), partitioning by count
 * queries, the cap, run + partition + worker_runs rows in one transaction, then every work item
 * sent with dm_queue_send_many.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/watermark/watermark.h"
#include "app/adapter_opts.h"
#include "app/feed_watermark.h"
#include "core/failpoint.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "domain/messages.h"
#include "domain/partition.h"
#include "domain/run_status.h"
#include "services/dispatch/dispatch.h"
#include "services/scheduler/scheduler.h"
#include "store/runs.h"

/* Advisory lock shared by every scheduler planning one feed: ("diamond-scheduler", the feed
 * id's hash). The seed's single key serialised all planning; one feed no longer waits for
 * another. */
#define SCHED_LOCK_KEY "706162617"
#define FULL_FROM_MS 946684800000LL /* 2000-01-01T00:00:00Z */
#define INCREMENTAL_OVERLAP_MS (15LL * 60 * 1000)

struct count_ctx {
    struct dm_feed *feed;
    int64_t from_ms, to_ms;
};

static enum dm_err count_cb(void *ctx, int64_t lo, int64_t hi, int64_t *count, struct dm_error *err)
{
    struct count_ctx *c = ctx;
    struct dm_feed_query q = {
        .price_from = lo,
        .price_to = hi >= DM_PARTITION_PRICE_MAX ? -1 : hi,
        .updated_from_ms = c->from_ms,
        .updated_to_ms = c->to_ms,
    };
    return dm_feed_count(c->feed, &q, count, err);
}

/* True (and a message) when a run of feed that is not terminal exists (stalled ones
 * included). */
static enum dm_err find_in_progress(struct dm_db *db, const char *feed, char *msg, size_t size,
                                    bool *busy, struct dm_error *err)
{
    int count = 0;
    struct dm_run run;
    enum dm_err e = dm_runs_in_progress(db, NULL, feed, 0, &count, &run, err);
    if (e != DM_OK)
        return e;
    *busy = count > 0;
    if (*busy)
        snprintf(msg, size, "run %s of feed %s is still %s (%lld/%lld partitions completed)",
                 run.run_id, feed, dm_run_status_name(run.status), (long long)run.facts.completed,
                 (long long)run.facts.partitions);
    dm_run_clear(&run);
    return DM_OK;
}

static void fmt_seconds(int64_t ms, char *out, size_t size)
{
    snprintf(out, size, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static void build_item(const char *run_id, const char *trace_id, int i,
                       const struct dm_partition *p, int64_t from_ms, int64_t to_ms,
                       struct dm_work_item *wi)
{
    memset(wi, 0, sizeof(*wi));
    snprintf(wi->run_id, sizeof(wi->run_id), "%s", run_id);
    snprintf(wi->trace_id, sizeof(wi->trace_id), "%s", trace_id);
    dm_partition_id(i, wi->partition_id, sizeof(wi->partition_id));
    wi->min_price = p->min_price;
    wi->max_price = p->max_price;
    wi->estimated_records = p->estimated;
    wi->offset = 0;
    wi->limit = DM_PAGE_LIMIT;
    wi->updated_from_ms = from_ms;
    wi->updated_to_ms = to_ms;
    wi->attempt = 0;
}

static enum dm_err insert_run(struct dm_db_conn *c, const char *feed, const char *run_id,
                              const char *trace_id, const char *type, int64_t from_ms,
                              int64_t to_ms, const struct dm_partition_plan *plan,
                              int64_t watermark_ms, struct dm_work_item *items,
                              struct dm_error *err)
{
    struct dm_runs_new nr = {.run_id = run_id,
                             .feed = feed,
                             .trace_id = trace_id,
                             .run_type = type,
                             .updated_from_ms = from_ms,
                             .updated_to_ms = to_ms,
                             .estimated_records = plan->total,
                             .count_queries = plan->count_queries,
                             .capped = plan->capped,
                             .watermark_ms = watermark_ms,
                             .items = items,
                             .n = plan->n};
    return dm_runs_create(c, &nr, err);
}

static enum dm_err send_items(struct dm_queue *q, const struct dm_work_item *items, int n,
                              struct dm_error *err)
{
    if (n == 0)
        return DM_OK;
    struct dm_queue_out *msgs = dm_xcalloc((size_t)n, sizeof(*msgs));
    char **ids = dm_xcalloc((size_t)n, sizeof(char *));
    char **bodies = dm_xcalloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) {
        ids[i] = dm_xmalloc(256);
        dm_dispatch_work_item_out(&items[i], NULL, ids[i], 256, &bodies[i]);
        msgs[i].id = ids[i];
        msgs[i].body = bodies[i];
    }
    enum dm_err e = dm_queue_send_many(q, DM_Q_WORK_ITEMS, msgs, n, err);
    for (int i = 0; i < n; i++) {
        free(ids[i]);
        free(bodies[i]);
    }
    free(ids);
    free(bodies);
    free(msgs);
    return e;
}

/* A snapshot feed's plan: one partition over every price, no count query. */
static void snapshot_plan(struct dm_partition_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->parts = dm_xcalloc(1, sizeof(*plan->parts));
    plan->parts[0].min_price = 0;
    plan->parts[0].max_price = DM_PARTITION_PRICE_MAX;
    plan->n = 1;
}

/* The configured feed o asks for (its index in cfg->feeds in *index), or NULL with err set
 * (DM_ERR_INVALID) when FEEDS does not name it. */
static const struct dm_feed_conf *plan_feed(const struct dm_sched_env *env,
                                            const struct dm_sched_opts *o, int *index,
                                            struct dm_error *err)
{
    const struct dm_config *cfg = env->cfg;
    const char *id = o->feed ? o->feed : cfg->n_feeds > 0 ? cfg->feeds[0].id : DM_FEED_DEFAULT;
    for (int i = 0; i < cfg->n_feeds; i++) {
        if (!strcmp(cfg->feeds[i].id, id)) {
            *index = i;
            return &cfg->feeds[i];
        }
    }
    dm_error_set(err, DM_ERR_INVALID, "feed '%.40s' is not configured (FEEDS=%.200s)", id,
                 cfg->feeds_text ? cfg->feeds_text : "");
    return NULL;
}

enum dm_err dm_scheduler_plan(const struct dm_sched_env *env, const struct dm_sched_opts *o,
                              struct dm_sched_result *res, struct dm_error *err)
{
    memset(res, 0, sizeof(*res));
    int64_t t0 = dm_mono_ms();
    struct dm_watermark_store *wms = NULL;
    struct dm_db_conn *lock_conn = NULL;
    bool locked = false;
    struct dm_partition_plan plan = {0};
    struct dm_work_item *items = NULL;
    int fi = 0;
    const struct dm_feed_conf *conf = plan_feed(env, o, &fi, err);
    if (conf == NULL)
        return DM_ERR_INVALID;
    const char *feed = conf->id;
    bool snapshot = dm_feed_snapshot(conf);
    snprintf(res->feed, sizeof(res->feed), "%s", feed);
    if (!snapshot && env->feeds[fi] == NULL)
        return dm_error_set(err, DM_ERR_UNAVAILABLE, "feed %s is not open for planning", feed);

    /* 1. The feed's watermark: absent -> full; unreadable -> no run. */
    enum dm_err e = dm_app_feed_watermark_open(env->cfg, feed, &wms, err);
    if (e != DM_OK)
        goto out;
    struct dm_watermark wm = {0};
    bool have_wm = false;
    e = dm_watermark_read(wms, &wm, NULL, 0, err);
    if (e == DM_OK) {
        have_wm = true;
    } else if (e != DM_ERR_NOT_FOUND) {
        dm_error(NULL, "watermark of feed %s (%s) unreadable: %s; no run created", feed,
                 dm_watermark_backend_name(wms), err ? err->message : "");
        goto out;
    }
    enum dm_run_kind kind = o->kind;
    if (kind == DM_RUN_KIND_AUTO) {
        if (env->cfg->run_type)
            kind = !strcmp(env->cfg->run_type, "full") ? DM_RUN_KIND_FULL : DM_RUN_KIND_INCREMENTAL;
        else
            kind = have_wm ? DM_RUN_KIND_INCREMENTAL : DM_RUN_KIND_FULL;
    }
    if (kind == DM_RUN_KIND_INCREMENTAL && !have_wm) {
        dm_info(NULL, "incremental run of feed %s requested but no watermark exists: running full",
                feed);
        kind = DM_RUN_KIND_FULL;
    }
    if (kind == DM_RUN_KIND_INCREMENTAL && snapshot) {
        dm_info(NULL, "feed %s is a snapshot (the whole file every run): running full", feed);
        kind = DM_RUN_KIND_FULL;
    }
    bool incremental = kind == DM_RUN_KIND_INCREMENTAL;
    const char *type = incremental ? "incremental" : "full";

    /* 2. The window, fixed once before any count. */
    int64_t to_ms = dm_now_ms();
    int64_t from_ms = incremental ? wm.last_updated_at_ms - INCREMENTAL_OVERLAP_MS : FULL_FROM_MS;
    if (from_ms > to_ms)
        from_ms = to_ms;

    /* 3. One run of a feed at a time. */
    if (!o->dry_run) {
        e = dm_db_acquire(env->db, 10000, &lock_conn, err);
        if (e != DM_OK)
            goto out;
        PGresult *r = NULL;
        const char *lp[1] = {feed};
        e = dm_db_exec(lock_conn, "SELECT pg_try_advisory_lock(" SCHED_LOCK_KEY ", hashtext($1))",
                       1, lp, &r, err);
        if (e != DM_OK)
            goto out;
        locked = !strcmp(PQgetvalue(r, 0, 0), "t");
        PQclear(r);
        if (!locked) {
            res->outcome = DM_SCHED_BUSY;
            snprintf(res->message, sizeof(res->message),
                     "another scheduler is planning a run of feed %s right now; not starting",
                     feed);
            goto out;
        }
        if (!o->force) {
            bool busy = false;
            e = find_in_progress(env->db, feed, res->message, sizeof(res->message), &busy, err);
            if (e != DM_OK)
                goto out;
            if (busy) {
                res->outcome = DM_SCHED_BUSY;
                size_t l = strlen(res->message);
                snprintf(res->message + l, sizeof(res->message) - l,
                         "; not starting a new run (use --force to override)");
                goto out;
            }
        }
    }

    /* 4-5. Partition by count queries, cap; a snapshot is one partition. */
    if (snapshot) {
        snapshot_plan(&plan);
    } else {
        struct dm_partition_opts po;
        dm_partition_opts_default(&po, incremental);
        po.cap = env->cfg->max_scheduler_records;
        struct count_ctx cc = {.feed = env->feeds[fi], .from_ms = from_ms, .to_ms = to_ms};
        e = dm_partition_plan(&po, count_cb, &cc, &plan, err);
        if (e != DM_OK)
            goto out;
    }
    char from[DM_ISO_LEN], to[DM_ISO_LEN], secs[32];
    dm_time_format(from_ms, from);
    dm_time_format(to_ms, to);

    /* 6. Nothing to do (a snapshot is read whatever it holds). */
    if (!snapshot && plan.total == 0) {
        res->outcome = DM_SCHED_EMPTY;
        snprintf(res->message, sizeof(res->message),
                 "no stones of feed %s in the %s window %s..%s (%d count queries): no run created",
                 feed, type, from, to, plan.count_queries);
        goto out;
    }
    char run_id[DM_UUID_LEN], trace_id[DM_UUID_LEN];
    dm_uuid_v4(run_id);
    dm_uuid_v4(trace_id);
    items = dm_xcalloc((size_t)plan.n, sizeof(*items));
    for (int i = 0; i < plan.n; i++)
        build_item(run_id, trace_id, i, &plan.parts[i], from_ms, to_ms, &items[i]);

    if (o->dry_run) {
        /* The plan goes to the caller (the command prints it); nothing is written. */
        res->outcome = DM_SCHED_DRY_RUN;
        snprintf(res->type, sizeof(res->type), "%s", type);
        memcpy(res->from, from, sizeof(res->from));
        memcpy(res->to, to, sizeof(res->to));
        fmt_seconds(dm_mono_ms() - t0, res->seconds, sizeof(res->seconds));
        res->plan = plan;
        memset(&plan, 0, sizeof(plan));
        goto out;
    }

    /* 7. Rows in one transaction, then every work item. */
    e = insert_run(lock_conn, feed, run_id, trace_id, type, from_ms, to_ms, &plan,
                   have_wm ? wm.last_updated_at_ms : 0, items, err);
    if (e != DM_OK)
        goto out;
    snprintf(res->run_id, sizeof(res->run_id), "%s", run_id);
    dm_failpoint("scheduler.send_work_items");
    e = send_items(env->queue, items, plan.n, err);
    if (e != DM_OK) {
        struct dm_log_ctx ctx = {.run_id = run_id, .trace_id = trace_id};
        dm_error(&ctx,
                 "run created but sending its work items failed (the sweeper will "
                 "re-send them): %s",
                 err ? err->message : "");
        goto out;
    }
    res->outcome = DM_SCHED_PLANNED;
    fmt_seconds(dm_mono_ms() - t0, secs, sizeof(secs));
    /* The seed's line for the default feed; another feed's names it. */
    bool seed_feed = !strcmp(feed, DM_FEED_DEFAULT);
    snprintf(res->message, sizeof(res->message),
             "run %s %s%s%stype=%s window=%s..%s partitions=%d estimated=%lld%s count_queries=%d "
             "largest=%lld smallest=%lld seconds=%s",
             run_id, seed_feed ? "" : "feed=", seed_feed ? "" : feed, seed_feed ? "" : " ", type,
             from, to, plan.n, (long long)plan.total, plan.capped ? " capped" : "",
             plan.count_queries, (long long)plan.largest, (long long)plan.smallest, secs);
    struct dm_log_ctx ctx = {.run_id = run_id, .trace_id = trace_id};
    dm_info(&ctx, "%s", res->message);
out:
    if (lock_conn) {
        const char *lp[1] = {feed};
        if (locked &&
            dm_db_exec(lock_conn, "SELECT pg_advisory_unlock(" SCHED_LOCK_KEY ", hashtext($1))", 1,
                       lp, NULL, NULL) != DM_OK)
            dm_warn(NULL, "could not release the scheduler lock (released on disconnect)");
        dm_db_release(lock_conn);
    }
    free(items);
    dm_partition_plan_free(&plan);
    dm_watermark_free(wms);
    return e;
}

enum dm_err dm_sched_env_open_feeds(struct dm_sched_env *env, const char **failed,
                                    struct dm_error *err)
{
    *failed = NULL;
    for (int i = 0; i < env->cfg->n_feeds && i < DM_FEEDS_MAX; i++) {
        const struct dm_feed_conf *fc = &env->cfg->feeds[i];
        if (env->feeds[i] != NULL || dm_feed_snapshot(fc))
            continue;
        enum dm_err e = dm_feed_open(env->cfg, fc->id, 0, &env->feeds[i], err);
        if (e != DM_OK) {
            *failed = fc->id;
            return e;
        }
    }
    return DM_OK;
}

void dm_sched_env_close_feeds(struct dm_sched_env *env)
{
    for (int i = 0; i < DM_FEEDS_MAX; i++) {
        dm_feed_close(env->feeds[i]);
        env->feeds[i] = NULL;
    }
}

void dm_sched_result_free(struct dm_sched_result *res)
{
    if (res == NULL)
        return;
    dm_partition_plan_free(&res->plan);
    memset(&res->plan, 0, sizeof(res->plan));
}
