/*
 * cmd_retry.c - `diamond retry RUN [PARTITION]`: clear the failed flag of a run's failed
 * partitions (not cancelled ones), keep next_offset, and send a WORK_ITEM from next_offset
 * with attempt n and the id suffix ":r{n}" so the duplicate-detection window cannot swallow
 * it (pipeline.md §3, pitfall: "a manual retry resent from offset 0 and silently dropped").
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/log.h"
#include "domain/messages.h"
#include "services/worker/runops.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond retry RUN_ID [PARTITION_ID]\n\n"
                 "Re-sends every failed partition of the run (or just PARTITION_ID) from its\n"
                 "next_offset. Cancelled partitions and cancelled runs are not retried.\n");
}

int dm_cmd_retry(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        usage(stdout);
        return DM_EXIT_OK;
    }
    if (argc < 2 || argc > 3 || !dm_uuid_valid(argv[1])) {
        usage(stderr);
        return DM_EXIT_CONFIG;
    }
    const char *run_id = argv[1], *only = argc == 3 ? argv[2] : NULL;
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "retry", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0) {
        dm_app_free(&app);
        return rc;
    }
    struct dm_error err = {0};
    struct dm_queue *q = NULL;
    PGresult *r = NULL;
    struct dm_log_ctx ctx = {.run_id = run_id};
    if (dm_runops_queue_open(&app.cfg, app.db, &q, &err) != DM_OK) {
        fprintf(stderr, "retry: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    const char *rp[1] = {run_id};
    if (dm_db_query(app.db, "SELECT cancelled_at IS NOT NULL FROM run_metadata WHERE run_id = $1",
                    1, rp, &r, &err) != DM_OK) {
        fprintf(stderr, "retry: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (PQntuples(r) != 1) {
        fprintf(stderr, "retry: run %s not found\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
        fprintf(stderr, "retry: run %s was cancelled; start a new run instead\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    PQclear(r);
    r = NULL;
    const char *p[2] = {run_id, only};
    if (dm_db_query(app.db,
                    "WITH u AS (UPDATE partition_progress SET failed = false, "
                    " attempts = attempts + 1, last_error = NULL, updated_at = now() "
                    " WHERE run_id = $1 AND failed AND NOT cancelled AND NOT completed "
                    " AND ($2::text IS NULL OR partition_id = $2) "
                    " RETURNING partition_id, attempts, next_offset), "
                    "w AS (UPDATE worker_runs w SET status = 'running', error_message = NULL, "
                    " completed_at = NULL FROM u WHERE w.run_id = $1 "
                    " AND w.partition_id = u.partition_id RETURNING 1) "
                    "SELECT partition_id, attempts, next_offset FROM u ORDER BY partition_id",
                    2, p, &r, &err) != DM_OK) {
        fprintf(stderr, "retry: %s\n", err.message);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    int n = PQntuples(r);
    if (n == 0) {
        printf("run %s: no failed partition%s%s to retry\n", run_id, only ? " " : "s",
               only ? only : "");
        goto out;
    }
    int sent = 0;
    for (int i = 0; i < n; i++) {
        const char *pid = PQgetvalue(r, i, 0);
        struct dm_work_item wi;
        if (dm_runops_partition_item(app.db, run_id, pid, &wi, &err) != DM_OK ||
            dm_runops_send_work_item(q, &wi, NULL, &err) != DM_OK) {
            fprintf(stderr, "retry: partition %s: %s (the sweeper will re-send it)\n", pid,
                    err.message);
            rc = DM_EXIT_FAIL;
            continue;
        }
        sent++;
        char id[256];
        dm_work_item_id(&wi, id, sizeof(id));
        printf("retrying partition %s of run %s from offset %lld (attempt %d, message %s)\n", pid,
               run_id, (long long)wi.offset, wi.attempt, id);
        ctx.partition_id = pid;
        dm_info(&ctx, "partition retried from offset %lld (attempt %d)", (long long)wi.offset,
                wi.attempt);
        json_t *d = json_pack("{s:I,s:i}", "offset", (json_int_t)wi.offset, "attempt", wi.attempt);
        dm_runops_event(app.db, run_id, pid, "partition_retried", d);
        json_decref(d);
    }
    printf("run %s: %d partition(s) retried\n", run_id, sent);
out:
    PQclear(r);
    dm_queue_free(q);
    dm_app_free(&app);
    return rc;
}
