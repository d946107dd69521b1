/*
 * cmd_run.c - `diamond run cancel RUN`: the run gets cancelled_at, its unfinished partitions
 * become failed + cancelled (workers then complete their messages without side effects), the
 * worker_runs rows of those partitions become failed, and nothing is consolidated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/log.h"
#include "core/crypto.h"
#include "services/worker/runops.h"

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
    PGresult *r = NULL;
    int rc = DM_EXIT_OK;
    const char *p[1] = {run_id};
    if (dm_db_acquire(app->db, 10000, &c, &err) != DM_OK)
        goto fail;
    if (dm_db_begin(c, &err) != DM_OK)
        goto fail;
    if (dm_db_exec(c,
                   "SELECT cancelled_at IS NOT NULL, completed_at IS NOT NULL FROM run_metadata "
                   "WHERE run_id = $1 FOR UPDATE",
                   1, p, &r, &err) != DM_OK)
        goto fail;
    if (PQntuples(r) != 1) {
        fprintf(stderr, "run: run %s not found\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
        printf("run %s is already cancelled\n", run_id);
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 1), "t")) {
        fprintf(stderr, "run: run %s already completed; nothing to cancel\n", run_id);
        rc = DM_EXIT_FAIL;
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (dm_db_exec(c, "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = $1", 1, p, NULL,
                   &err) != DM_OK)
        goto fail;
    if (dm_db_exec(c,
                   "WITH u AS (UPDATE partition_progress SET failed = true, cancelled = true, "
                   " last_error = COALESCE(last_error, 'cancelled'), updated_at = now() "
                   " WHERE run_id = $1 AND NOT completed AND NOT cancelled "
                   " RETURNING partition_id), "
                   "w AS (UPDATE worker_runs w SET status = 'failed', "
                   " error_message = 'cancelled', completed_at = now() FROM u "
                   " WHERE w.run_id = $1 AND w.partition_id = u.partition_id RETURNING 1) "
                   "SELECT count(*) FROM u",
                   1, p, &r, &err) != DM_OK)
        goto fail;
    char count[32];
    snprintf(count, sizeof(count), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    json_t *d = json_pack("{s:s}", "partitionsCancelled", count);
    char *ds = dm_json_dumps(d);
    json_decref(d);
    const char *ep[2] = {run_id, ds};
    enum dm_err e = dm_db_exec(c,
                               "INSERT INTO run_events (run_id, event, detail) "
                               "VALUES ($1, 'run_cancelled', $2::jsonb)",
                               2, ep, NULL, &err);
    free(ds);
    if (e != DM_OK || dm_db_commit(c, &err) != DM_OK)
        goto fail;
    struct dm_log_ctx ctx = {.run_id = run_id};
    dm_info(&ctx, "run cancelled: %s unfinished partition(s) cancelled", count);
    printf("run %s cancelled: %s unfinished partition(s) marked failed and cancelled\n", run_id,
           count);
    goto out;
fail:
    fprintf(stderr, "run: %s\n", err.message);
    rc = DM_EXIT_FAIL;
out:
    PQclear(r);
    if (c)
        dm_db_release(c); /* rolls back an open transaction */
    return rc;
}

int dm_cmd_run(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        usage(stdout);
        return DM_EXIT_OK;
    }
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
