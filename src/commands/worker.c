/* worker.c - `diamond worker`: start-up, then the ingestion worker (services/worker/worker.h)
 * until SIGTERM. */
#include <stdio.h>

#include "commands/commands.h"
#include "services/worker/worker.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond worker\n\n"
                 "Processes WORK_ITEMs from the work-items queue, one feed page per message,\n"
                 "WORKER_CONCURRENCY at once, into raw_diamonds_nivoda. Runs until SIGTERM.\n\n");
    dm_config_print_help(DM_SVC_WORKER, out);
}

int dm_cmd_worker(int argc, char **argv)
{
    int rc = dm_cmd_no_args(argc, argv, usage);
    if (rc >= 0)
        return rc;
    struct dm_app app;
    rc = dm_app_init(&app, DM_SVC_WORKER, "worker", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    rc = DM_EXIT_OK;
    if (dm_worker_run(&app, &err) != DM_OK) {
        fprintf(stderr, "worker: %s\n", err.message);
        rc = DM_EXIT_FAIL;
    }
    dm_app_free(&app);
    return rc;
}
