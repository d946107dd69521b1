/*
 * sweeper.c - repairs that no single message can do (pipeline.md §6): partitions without
 * progress for longer than lock x max delivery get their continuation re-sent from
 * next_offset (the worker's guards make extra copies harmless); runs without progress for
 * 30 min are reported stalled once; runs whose partitions all completed but whose CONSOLIDATE
 * was never sent (a worker died right after its final commit) get it sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "services/scheduler/scheduler.h"
#include "services/dispatch/dispatch.h"
#include "store/runs.h"

#define SWEEP_MEMORY 1024

struct resent {
    char key[DM_UUID_LEN + DM_PARTITION_ID_MAX + 24]; /* run:partition:offset */
    int64_t at_ms;
};

struct dm_sweeper {
    struct resent resent[SWEEP_MEMORY];
    int nresent;
    char stalled[SWEEP_MEMORY][DM_UUID_LEN];
    int nstalled;
};

struct dm_sweeper *dm_sweeper_new(void)
{
    return dm_xcalloc(1, sizeof(struct dm_sweeper));
}

void dm_sweeper_free(struct dm_sweeper *s)
{
    free(s);
}

/* True when key was re-sent less than min_ms ago; records it otherwise. */
static bool recently_resent(struct dm_sweeper *s, const char *key, int64_t now, int64_t min_ms)
{
    int oldest = 0;
    for (int i = 0; i < s->nresent; i++) {
        if (!strcmp(s->resent[i].key, key)) {
            if (now - s->resent[i].at_ms < min_ms)
                return true;
            s->resent[i].at_ms = now;
            return false;
        }
        if (s->resent[i].at_ms < s->resent[oldest].at_ms)
            oldest = i;
    }
    int slot = s->nresent < SWEEP_MEMORY ? s->nresent++ : oldest;
    snprintf(s->resent[slot].key, sizeof(s->resent[slot].key), "%s", key);
    s->resent[slot].at_ms = now;
    return false;
}

static bool stalled_known(struct dm_sweeper *s, const char *run_id)
{
    for (int i = 0; i < s->nstalled; i++)
        if (!strcmp(s->stalled[i], run_id))
            return true;
    if (s->nstalled < SWEEP_MEMORY)
        snprintf(s->stalled[s->nstalled++], DM_UUID_LEN, "%s", run_id);
    return false;
}

static enum dm_err resend_stale(struct dm_sweeper *s, const struct dm_sched_env *env,
                                int64_t stale_ms, struct dm_sweep_report *rep, struct dm_error *err)
{
    struct dm_partition_ref *refs = NULL;
    int n = 0;
    enum dm_err e = dm_runs_stale_partitions(env->db, stale_ms, &refs, &n, err);
    if (e != DM_OK)
        return e;
    int64_t now = dm_now_ms();
    for (int i = 0; i < n; i++) {
        const char *run_id = refs[i].run_id, *pid = refs[i].partition_id;
        struct dm_work_item wi;
        struct dm_error e2 = {0};
        if (dm_runs_partition_item(env->db, run_id, pid, &wi, &e2) != DM_OK)
            continue;
        char key[sizeof(s->resent[0].key)];
        snprintf(key, sizeof(key), "%s:%s:%lld", run_id, pid, (long long)wi.offset);
        if (recently_resent(s, key, now, stale_ms))
            continue;
        /* A distinct id so the duplicate-detection window cannot swallow the re-send. */
        char suffix[32];
        snprintf(suffix, sizeof(suffix), ":s%lld", (long long)(now / 1000));
        struct dm_log_ctx ctx = {.run_id = run_id, .partition_id = pid, .trace_id = wi.trace_id};
        if (dm_dispatch_work_item(env->queue, &wi, suffix, &e2) != DM_OK) {
            dm_warn(&ctx, "sweeper: re-send failed: %s", e2.message);
            continue;
        }
        rep->continuations_resent++;
        dm_warn(&ctx, "sweeper: no progress for %lld ms: continuation re-sent from offset %lld",
                (long long)stale_ms, (long long)wi.offset);
        json_t *d = json_pack("{s:I,s:s}", "offset", (json_int_t)wi.offset, "by", "sweeper");
        dm_runs_event(env->db, run_id, pid, "continuation_repaired", d);
        json_decref(d);
    }
    free(refs);
    return DM_OK;
}

static enum dm_err report_stalled(struct dm_sweeper *s, const struct dm_sched_env *env,
                                  int64_t stall_ms, struct dm_sweep_report *rep,
                                  struct dm_error *err)
{
    struct dm_run_stall *runs = NULL;
    int n = 0;
    enum dm_err e = dm_runs_stalled(env->db, stall_ms, &runs, &n, err);
    if (e != DM_OK)
        return e;
    for (int i = 0; i < n; i++) {
        const char *run_id = runs[i].run_id;
        if (stalled_known(s, run_id))
            continue;
        char body[512];
        snprintf(body, sizeof(body),
                 "Run %s has made no progress since %s; %lld partition(s) unfinished. "
                 "Check the workers, then `diamond retry %s` or `diamond run cancel %s`.",
                 run_id, runs[i].last_progress, (long long)runs[i].unfinished, run_id, run_id);
        struct dm_log_ctx ctx = {.run_id = run_id};
        if (env->alert)
            (void)dm_alert_send(env->alert, &ctx, "Run stalled", body);
        else
            dm_warn(&ctx, "Run stalled: %s", body);
        rep->stalled_reported++;
    }
    free(runs);
    return DM_OK;
}

static enum dm_err consolidate_backstop(const struct dm_sched_env *env, struct dm_sweep_report *rep,
                                        struct dm_error *err)
{
    struct dm_partition_ref *runs = NULL;
    int n = 0;
    enum dm_err e = dm_runs_awaiting_consolidate(env->db, &runs, &n, err);
    if (e != DM_OK)
        return e;
    for (int i = 0; i < n; i++) {
        bool sent = false;
        struct dm_error e2 = {0};
        if (dm_dispatch_completion_check(env->db, env->queue, env->alert, runs[i].run_id, &sent,
                                         &e2) != DM_OK) {
            struct dm_log_ctx ctx = {.run_id = runs[i].run_id};
            dm_warn(&ctx, "sweeper: CONSOLIDATE backstop failed: %s", e2.message);
        }
        if (sent)
            rep->consolidations_sent++;
    }
    free(runs);
    return DM_OK;
}

enum dm_err dm_sweeper_pass(struct dm_sweeper *s, const struct dm_sched_env *env, int64_t stale_ms,
                            int64_t stall_ms, struct dm_sweep_report *rep, struct dm_error *err)
{
    memset(rep, 0, sizeof(*rep));
    enum dm_err e = resend_stale(s, env, stale_ms, rep, err);
    if (e == DM_OK)
        e = report_stalled(s, env, stall_ms, rep, err);
    if (e == DM_OK)
        e = consolidate_backstop(env, rep, err);
    return e;
}
