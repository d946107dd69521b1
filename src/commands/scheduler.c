/*
 * scheduler.c - `diamond scheduler [--feed ID] [--full|--incremental] [--dry-run] [--force]`,
 * one run of one feed planned per execution; `--request ID` executes one manual trigger
 * request; `--cron EXPR` stays resident: plans each feed on its schedule (FEED_<ID>_CRON, else
 * EXPR), executes pending trigger requests, runs the sweeper and, when `diamond check` is
 * linked, the monitoring check hourly (as a child process).
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/http/client.h"
#include "app/adapter_opts.h"
#include "commands/commands.h"
#include "core/log.h"
#include "core/num.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "domain/cron.h"
#include "domain/messages.h"
#include "domain/partition.h"
#include "domain/run_status.h"
#include "services/scheduler/scheduler.h"

extern char **environ;

#define CHECK_INTERVAL_MS (60LL * 60 * 1000)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diamond scheduler [--feed ID] [--full|--incremental] [--dry-run] [--force]\n"
            "       diamond scheduler --request ID\n"
            "       diamond scheduler --cron \"0 2 * * *\" [--sweep-interval-ms N] "
            "[--stall-ms N]\n\n"
            "Plans one run of a feed (--feed, default the first of FEEDS): reads the feed's\n"
            "watermark (absent -> full), fixes the window, partitions the price axis with count\n"
            "queries (a file feed: one partition, the whole snapshot), records the run and sends\n"
            "its work items. Exits 0 without a run when another run of the feed is in progress\n"
            "(unless --force) or the window is empty. --dry-run prints the plan only. With --cron\n"
            "it stays resident (UTC schedules: each feed's FEED_<ID>_CRON, else EXPR), executes\n"
            "manual trigger requests, sweeps stalled partitions and runs the monitoring check\n"
            "hourly.\n\n");
    dm_config_print_help(DM_SVC_SCHEDULER, out);
}

/* What the planner used to print itself: the summary line of a planned run. */
static void print_planned(const struct dm_sched_result *res)
{
    if (res->outcome == DM_SCHED_PLANNED)
        printf("%s\n", res->message);
}

static void print_dry_run(const struct dm_sched_result *res)
{
    const struct dm_partition_plan *plan = &res->plan;
    printf("dry run: feed %s, %s window %s..%s, %d partitions, %lld stones%s\n", res->feed,
           res->type, res->from, res->to, plan->n, (long long)plan->total,
           plan->capped ? " (capped)" : "");
    printf("  %-4s %12s %12s %10s\n", "id", "min_price", "max_price", "estimate");
    for (int i = 0; i < plan->n; i++) {
        char id[DM_PARTITION_ID_MAX];
        dm_partition_id(i, id, sizeof(id));
        printf("  %-4s %12lld %12lld %10lld\n", id, (long long)plan->parts[i].min_price,
               (long long)plan->parts[i].max_price, (long long)plan->parts[i].estimated);
    }
    printf("dry-run type=%s window=%s..%s partitions=%d estimated=%lld count_queries=%d "
           "largest=%lld smallest=%lld seconds=%s\n",
           res->type, res->from, res->to, plan->n, (long long)plan->total, plan->count_queries,
           (long long)plan->largest, (long long)plan->smallest, res->seconds);
}

static pid_t spawn_check(void)
{
    char *argv[] = {"diamond", "check", "--json", NULL}; /* one JSON line in our log stream */
    pid_t pid = -1;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

/* One feed's schedule in the resident scheduler. */
struct feed_cron {
    const char *feed;
    const char *expr;
    struct dm_cron cron;
    int64_t next;
};

static int resident(const struct dm_sched_env *env, const char *cron_expr,
                    int64_t sweep_interval_ms, int64_t stall_ms)
{
    /* Every feed on its FEED_<ID>_CRON, else on --cron (the seed's schedule). */
    struct feed_cron crons[DM_FEEDS_MAX];
    int ncrons = 0;
    struct dm_error err = {0};
    for (int i = 0; i < env->cfg->n_feeds && i < DM_FEEDS_MAX; i++) {
        struct feed_cron *fc = &crons[ncrons];
        fc->feed = env->cfg->feeds[i].id;
        fc->expr = env->cfg->feeds[i].cron ? env->cfg->feeds[i].cron : cron_expr;
        if (dm_cron_parse(fc->expr, &fc->cron, &err) != DM_OK) {
            fprintf(stderr, "scheduler: %s\n", err.message);
            return DM_EXIT_CONFIG;
        }
        if (dm_cron_next(&fc->cron, dm_now_ms(), &fc->next) != DM_OK) {
            fprintf(stderr, "scheduler: cron '%s' never fires\n", fc->expr);
            return DM_EXIT_CONFIG;
        }
        char next_iso[DM_ISO_LEN];
        dm_time_format(fc->next, next_iso);
        dm_info(NULL, "resident scheduler: feed %s on cron '%s' (UTC), next run %s", fc->feed,
                fc->expr, next_iso);
        ncrons++;
    }
    const struct dm_queue_settings *qs = dm_queue_handle_settings(env->queue, DM_Q_WORK_ITEMS);
    int64_t stale_ms = qs->lock_ms * qs->max_delivery;
    dm_info(NULL,
            "resident scheduler: default cron '%s' (UTC); sweeper every %lld ms (stale "
            "after %lld ms)",
            cron_expr, (long long)sweep_interval_ms, (long long)stale_ms);
    struct dm_sweeper *sw = dm_sweeper_new();
    int64_t last_sweep = 0, last_check = dm_now_ms();
    pid_t check_pid = -1;
    while (!dm_stop_requested()) {
        int64_t now = dm_now_ms();
        for (int i = 0; i < ncrons && !dm_stop_requested(); i++) {
            struct feed_cron *fc = &crons[i];
            if (now < fc->next)
                continue;
            struct dm_sched_opts o = {.feed = fc->feed, .kind = DM_RUN_KIND_AUTO};
            struct dm_sched_result res;
            if (dm_scheduler_plan(env, &o, &res, &err) != DM_OK)
                dm_error(NULL, "scheduled run of feed %s failed: %s", fc->feed, err.message);
            else if (res.outcome != DM_SCHED_PLANNED)
                dm_info(NULL, "scheduled run of feed %s: %s", fc->feed, res.message);
            else
                print_planned(&res);
            dm_sched_result_free(&res);
            if (dm_cron_next(&fc->cron, now, &fc->next) != DM_OK)
                fc->next = INT64_MAX;
        }
        for (int i = 0; i < 10 && !dm_stop_requested(); i++) {
            bool found = false;
            struct dm_sched_result res = {0};
            if (dm_scheduler_run_request(env, NULL, &found, &res, &err) != DM_OK)
                dm_error(NULL, "trigger request failed: %s", err.message);
            else if (found)
                print_planned(&res);
            dm_sched_result_free(&res);
            if (!found)
                break;
        }
        if (now - last_sweep >= sweep_interval_ms) {
            struct dm_sweep_report rep;
            if (dm_sweeper_pass(sw, env, stale_ms, stall_ms, &rep, &err) != DM_OK)
                dm_warn(NULL, "sweeper: %s", err.message);
            else if (rep.continuations_resent || rep.stalled_reported || rep.consolidations_sent)
                dm_info(NULL,
                        "sweeper: %d continuation(s) re-sent, %d run(s) stalled, %d "
                        "CONSOLIDATE sent",
                        rep.continuations_resent, rep.stalled_reported, rep.consolidations_sent);
            last_sweep = now;
        }
        if (check_pid < 0 && now - last_check >= CHECK_INTERVAL_MS) {
            check_pid = spawn_check();
            last_check = now;
        }
        if (check_pid > 0 && waitpid(check_pid, NULL, WNOHANG) == check_pid)
            check_pid = -1;
        for (int i = 0; i < 5 && !dm_stop_requested(); i++)
            dm_sleep_ms(100, NULL);
    }
    if (check_pid > 0) {
        kill(check_pid, SIGTERM);
        waitpid(check_pid, NULL, 0);
    }
    dm_sweeper_free(sw);
    dm_info(NULL, "resident scheduler stopped");
    return DM_EXIT_OK;
}

int dm_cmd_scheduler(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    struct dm_sched_opts o = {.kind = DM_RUN_KIND_AUTO};
    const char *cron_expr = NULL, *request = NULL;
    int64_t sweep_interval_ms = 30000, stall_ms = DM_RUN_STALL_MS;
    const char *a = "";
    for (int i = 1; i < argc; i++) {
        a = argv[i];
        if (!strcmp(a, "--full")) {
            o.kind = DM_RUN_KIND_FULL;
        } else if (!strcmp(a, "--incremental")) {
            o.kind = DM_RUN_KIND_INCREMENTAL;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = true;
        } else if (!strcmp(a, "--force")) {
            o.force = true;
        } else if (!strcmp(a, "--feed") && i + 1 < argc) {
            o.feed = argv[++i];
        } else if (!strcmp(a, "--cron") && i + 1 < argc) {
            cron_expr = argv[++i];
        } else if (!strcmp(a, "--request") && i + 1 < argc) {
            request = argv[++i];
        } else if (!strcmp(a, "--sweep-interval-ms") && i + 1 < argc) {
            if (dm_parse_i64(argv[++i], 100, 86400000, &sweep_interval_ms) != DM_OK)
                goto bad;
        } else if (!strcmp(a, "--stall-ms") && i + 1 < argc) {
            if (dm_parse_i64(argv[++i], 1000, 86400000LL * 7, &stall_ms) != DM_OK)
                goto bad;
        } else {
            goto bad;
        }
    }
    if (request && !dm_uuid_valid(request)) {
        fprintf(stderr, "scheduler: --request needs a request id (UUID)\n");
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_SCHEDULER, "scheduler", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    dm_http_global_init();
    struct dm_error err = {0};
    struct dm_sched_env env = {.cfg = &app.cfg, .db = app.db};
    env.alert = dm_app_alert_open(&app.cfg);
    /* An Azure job execution started by the API names its request in the environment. */
    if (request == NULL && cron_expr == NULL)
        request = app.cfg.scheduler_request_id;
    if (o.feed && dm_config_feed(&app.cfg, o.feed) == NULL) {
        fprintf(stderr, "scheduler: --feed %s is not one of FEEDS (%s)\n", o.feed,
                app.cfg.feeds_text ? app.cfg.feeds_text : "");
        rc = DM_EXIT_CONFIG;
        goto out;
    }
    const char *failed = NULL;
    if (dm_sched_env_open_feeds(&env, &failed, &err) != DM_OK) {
        fprintf(stderr, "scheduler: feed %s: %s\n", failed ? failed : "?", err.message);
        rc = DM_EXIT_CONFIG;
        goto out;
    }
    if (dm_app_queue_open(&app.cfg, app.db, &env.queue, &err) != DM_OK) {
        fprintf(stderr, "scheduler: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (cron_expr) {
        rc = resident(&env, cron_expr, sweep_interval_ms, stall_ms);
    } else if (request) {
        bool found = false;
        struct dm_sched_result res = {0};
        if (dm_scheduler_run_request(&env, request, &found, &res, &err) != DM_OK) {
            fprintf(stderr, "scheduler: request %s failed: %s\n", request, err.message);
            rc = DM_EXIT_FAIL;
        } else if (!found) {
            fprintf(stderr, "scheduler: request %s not found or not pending\n", request);
            rc = DM_EXIT_FAIL;
        } else {
            print_planned(&res);
        }
        dm_sched_result_free(&res);
    } else {
        struct dm_sched_result res;
        if (dm_scheduler_plan(&env, &o, &res, &err) != DM_OK) {
            fprintf(stderr, "scheduler: %s\n", err.message);
            rc = DM_EXIT_FAIL;
        } else if (res.outcome == DM_SCHED_BUSY || res.outcome == DM_SCHED_EMPTY) {
            dm_info(NULL, "%s", res.message);
            printf("%s\n", res.message);
        } else if (res.outcome == DM_SCHED_DRY_RUN) {
            print_dry_run(&res);
        } else {
            print_planned(&res);
        }
        dm_sched_result_free(&res);
    }
out:
    dm_queue_free(env.queue);
    dm_alert_free(env.alert);
    dm_sched_env_close_feeds(&env);
    dm_app_free(&app);
    return rc;
bad:
    return dm_cmd_misuse(usage, "scheduler: unknown or incomplete option '%s'", a);
}
