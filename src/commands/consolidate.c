/* consolidate.c - `diamond consolidate RUN [--force]`: send a CONSOLIDATE for a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/queue/queue.h"
#include "app/adapter_opts.h"
#include "commands/commands.h"
#include "core/crypto.h"
#include "core/log.h"
#include "domain/messages.h"
#include "services/dispatch/dispatch.h"
#include "store/runs.h"

static void help(FILE *out)
{
    fprintf(out, "usage: diamond consolidate RUN [--force]\n\n"
                 "Sends a CONSOLIDATE message for run RUN to the consolidate queue. Without\n"
                 "--force a run with failed partitions is skipped (alerted) and a run with\n"
                 "unfinished partitions is left alone; --force consolidates what was fetched.\n");
}

int dm_cmd_consolidate(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, help))
        return DM_EXIT_OK;
    const char *run = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            force = true;
        else if (run == NULL && argv[i][0] != '-')
            run = argv[i];
        else
            return dm_cmd_misuse(help, "consolidate: unexpected argument '%s'", argv[i]);
    }
    if (run == NULL || !dm_uuid_valid(run))
        return dm_cmd_misuse(help, "consolidate: RUN must be a run id (UUID)");
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "consolidate", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_queue *q = NULL;
    struct dm_error err = {0};
    rc = DM_EXIT_FAIL;
    struct dm_runs_consolidate_ref ref;
    enum dm_err e = dm_runs_note_consolidate_sent(app.db, run, &ref, &err);
    if (e == DM_ERR_NOT_FOUND) {
        fprintf(stderr, "consolidate: no run %s\n", run);
        goto out;
    }
    if (e != DM_OK) {
        fprintf(stderr, "consolidate: %s\n", err.message);
        goto out;
    }
    if (ref.completed)
        printf("note: run %s is already consolidated; the consolidator will ignore it\n", run);
    if (dm_app_queue_open(&app.cfg, app.db, &q, &err) != DM_OK) {
        fprintf(stderr, "consolidate: queue: %s\n", err.message);
        goto out;
    }
    if (dm_dispatch_consolidate(q, run, ref.trace_id, ref.updated_to_ms, force, NULL, 0, &err) !=
        DM_OK) {
        fprintf(stderr, "consolidate: send: %s\n", err.message);
        goto out;
    }
    printf("sent CONSOLIDATE for run %s%s\n", run, force ? " (forced)" : "");
    rc = DM_EXIT_OK;
out:
    dm_queue_free(q);
    dm_app_free(&app);
    return rc;
}
