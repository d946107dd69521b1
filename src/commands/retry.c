/*
 * retry.c - `diamond retry RUN [PARTITION]`: clear the failed flag of a run's failed
 * partitions (not cancelled ones), keep next_offset, and send a WORK_ITEM from next_offset
 * with attempt n and the id suffix ":r{n}" so the duplicate-detection window cannot swallow
 * it (pipeline.md §3, pitfall: "a manual retry resent from offset 0 and silently dropped").
 * The retry itself is services/ops/retry.h, shared with the API's retry-workers route.
 */
#include <stdio.h>

#include "app/adapter_opts.h"
#include "commands/commands.h"
#include "core/log.h"
#include "domain/messages.h"
#include "services/ops/retry.h"

/* Per-partition outcome of dm_retry_failed: print it, log the resent ones. */
struct retry_ctx {
    const char *run_id;
    int sent;
    int rc;
    struct dm_log_ctx log;
};

static void report(void *arg, const struct dm_retry_partition *p)
{
    struct retry_ctx *ctx = arg;
    if (p->err) {
        fprintf(stderr, "retry: partition %s: %s (the sweeper will re-send it)\n", p->partition_id,
                p->err->message);
        ctx->rc = DM_EXIT_FAIL;
        return;
    }
    ctx->sent++;
    printf("retrying partition %s of run %s from offset %lld (attempt %d, message %s)\n",
           p->partition_id, ctx->run_id, (long long)p->wi->offset, p->wi->attempt, p->message_id);
    ctx->log.partition_id = p->partition_id;
    dm_info(&ctx->log, "partition retried from offset %lld (attempt %d)", (long long)p->wi->offset,
            p->wi->attempt);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond retry RUN_ID [PARTITION_ID]\n\n"
                 "Re-sends every failed partition of the run (or just PARTITION_ID) from its\n"
                 "next_offset. Cancelled partitions and cancelled runs are not retried.\n");
}

int dm_cmd_retry(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    if (argc < 2 || argc > 3 || !dm_uuid_valid(argv[1])) {
        usage(stderr);
        return DM_EXIT_CONFIG;
    }
    const char *run_id = argv[1], *only = argc == 3 ? argv[2] : NULL;
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "retry", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    struct dm_queue *q = NULL;
    if (dm_app_queue_open(&app.cfg, app.db, &q, &err) != DM_OK) {
        fprintf(stderr, "retry: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    struct retry_ctx ctx = {.run_id = run_id, .rc = DM_EXIT_OK, .log = {.run_id = run_id}};
    struct dm_retry_request req = {.run_id = run_id, .partition_id = only, .clear_skipped = true};
    enum dm_retry_state state;
    int n = 0;
    if (dm_retry_failed(app.db, q, &req, report, &ctx, &state, &n, &err) != DM_OK) {
        fprintf(stderr, "retry: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (state == DM_RETRY_NO_RUN) {
        fprintf(stderr, "retry: run %s not found\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (state == DM_RETRY_RUN_CANCELLED) {
        fprintf(stderr, "retry: run %s was cancelled; start a new run instead\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (n == 0) {
        printf("run %s: no failed partition%s%s to retry\n", run_id, only ? " " : "s",
               only ? only : "");
        goto out;
    }
    rc = ctx.rc;
    printf("run %s: %d partition(s) retried\n", run_id, ctx.sent);
out:
    dm_queue_free(q);
    dm_app_free(&app);
    return rc;
}
