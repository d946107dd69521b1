/* consolidate.c - `diamond consolidate RUN [--force]`: send a CONSOLIDATE for a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/queue/queue.h"
#include "commands/commands.h"
#include "core/crypto.h"
#include "core/log.h"
#include "domain/messages.h"

static void help(FILE *out)
{
    fprintf(out, "usage: diamond consolidate RUN [--force]\n\n"
                 "Sends a CONSOLIDATE message for run RUN to the consolidate queue. Without\n"
                 "--force a run with failed partitions is skipped (alerted) and a run with\n"
                 "unfinished partitions is left alone; --force consolidates what was fetched.\n");
}

int dm_cmd_consolidate(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        help(stdout);
        return DM_EXIT_OK;
    }
    const char *run = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            force = true;
        else if (run == NULL && argv[i][0] != '-')
            run = argv[i];
        else {
            fprintf(stderr, "consolidate: unexpected argument '%s'\n", argv[i]);
            help(stderr);
            return DM_EXIT_CONFIG;
        }
    }
    if (run == NULL || !dm_uuid_valid(run)) {
        fprintf(stderr, "consolidate: RUN must be a run id (UUID)\n");
        help(stderr);
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "consolidate", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    PGresult *r = NULL;
    rc = DM_EXIT_FAIL;
    const char *p[] = {run};
    if (dm_db_query(
            app.db,
            "UPDATE run_metadata SET consolidate_sent_at = coalesce(consolidate_sent_at, "
            "now()) WHERE run_id = $1 RETURNING trace_id, "
            "floor(extract(epoch FROM updated_to) * 1000)::bigint, completed_at IS NOT NULL",
            1, p, &r, &err) != DM_OK) {
        fprintf(stderr, "consolidate: %s\n", err.message);
        goto out;
    }
    if (PQntuples(r) != 1) {
        fprintf(stderr, "consolidate: no run %s\n", run);
        goto out;
    }
    struct dm_consolidate m = {.force = force};
    snprintf(m.run_id, sizeof(m.run_id), "%s", run);
    snprintf(m.trace_id, sizeof(m.trace_id), "%s", dm_db_get(r, 0, 0));
    if (dm_db_get_i64(r, 0, 1, &m.updated_to_ms) != DM_OK) {
        dm_db_bad_value(r, 0, 1, "run", &err);
        fprintf(stderr, "consolidate: %s\n", err.message);
        goto out;
    }
    if (dm_db_get(r, 0, 2)[0] == 't')
        printf("note: run %s is already consolidated; the consolidator will ignore it\n", run);
    if (dm_queue_open(&app.cfg, app.db, &q, &err) != DM_OK) {
        fprintf(stderr, "consolidate: queue: %s\n", err.message);
        goto out;
    }
    char id[192];
    dm_consolidate_id(&m, id, sizeof(id));
    char *body = dm_consolidate_to_json(&m);
    struct dm_queue_out out = {.id = id, .body = body};
    enum dm_err e = dm_queue_send(q, DM_Q_CONSOLIDATE, &out, &err);
    free(body);
    if (e != DM_OK) {
        fprintf(stderr, "consolidate: send: %s\n", err.message);
        goto out;
    }
    printf("sent CONSOLIDATE for run %s%s\n", run, force ? " (forced)" : "");
    rc = DM_EXIT_OK;
out:
    PQclear(r);
    dm_queue_free(q);
    dm_app_free(&app);
    return rc;
}
