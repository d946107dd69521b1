/*
 * run.c - `diamond run cancel RUN`: the run gets cancelled_at, its unfinished partitions
 * become failed + cancelled (workers then complete their messages without side effects), the
 * worker_runs rows of those partitions become failed, and nothing is consolidated
 * (store/runs.h, shared with POST /api/v2/triggers/cancel-run).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "commands/commands.h"
#include "core/crypto.h"
#include "core/log.h"
#include "store/runs.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond run cancel RUN_ID\n\n"
                 "Cancels a run: unfinished partitions become failed and cancelled, nothing is\n"
                 "consolidated, the watermark stays where it is.\n");
}

static int cancel(struct dm_app *app, const char *run_id)
{
    struct dm_error err = {0};
    struct dm_db_conn *c = NULL;
    enum dm_runs_cancel_state state;
    int64_t n = 0;
    int rc = DM_EXIT_OK;
    if (dm_db_acquire(app->db, 10000, &c, &err) != DM_OK ||
        dm_runs_cancel(c, run_id, &state, &n, &err) != DM_OK) {
        fprintf(stderr, "run: %s\n", err.message);
        rc = DM_EXIT_FAIL;
    } else if (state == DM_RUNS_CANCEL_NO_RUN) {
        fprintf(stderr, "run: run %s not found\n", run_id);
        rc = DM_EXIT_FAIL;
    } else if (state == DM_RUNS_CANCEL_ALREADY_CANCELLED) {
        printf("run %s is already cancelled\n", run_id);
    } else if (state == DM_RUNS_CANCEL_ALREADY_COMPLETED) {
        fprintf(stderr, "run: run %s already completed; nothing to cancel\n", run_id);
        rc = DM_EXIT_FAIL;
    } else {
        struct dm_log_ctx ctx = {.run_id = run_id};
        dm_info(&ctx, "run cancelled: %lld unfinished partition(s) cancelled", (long long)n);
        printf("run %s cancelled: %lld unfinished partition(s) marked failed and cancelled\n",
               run_id, (long long)n);
    }
    if (c)
        dm_db_release(c);
    return rc;
}

int dm_cmd_run(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, usage))
        return DM_EXIT_OK;
    if (argc != 3 || strcmp(argv[1], "cancel") || !dm_uuid_valid(argv[2])) {
        usage(stderr);
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "run", DM_APP_DB | DM_APP_SCHEMA);
    if (rc == 0)
        rc = cancel(&app, argv[2]);
    dm_app_free(&app);
    return rc;
}
