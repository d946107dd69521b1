/* consolidator.c - `diamond consolidator [--sweep-interval-ms N] [--stall-ms N]`: options,
 * start-up, then the consolidator service (services/consolidator/consolidator.h) until SIGTERM. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "commands/commands.h"
#include "core/num.h"
#include "domain/run_status.h"
#include "services/consolidator/consolidator.h"

static void help(FILE *out)
{
    fprintf(out, "usage: diamond consolidator [--sweep-interval-ms N (default 60000, 0 = off)] "
                 "[--stall-ms N]\n\n"
                 "Consumes the consolidate queue (raw rows -> priced diamonds, removals, the\n"
                 "watermark, run completion) and the work-done queue (run timeline, CONSOLIDATE\n"
                 "backstop), and runs the sweeper (lost continuations, stalled runs). Stops\n"
                 "gracefully on SIGTERM.\n\nenvironment:\n");
    dm_config_print_help(DM_SVC_CONSOLIDATOR, out);
}

int dm_cmd_consolidator(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, help))
        return DM_EXIT_OK;
    struct dm_consolidator_opts o = {.sweep_interval_ms = 60000, .stall_ms = DM_RUN_STALL_MS};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sweep-interval-ms") && i + 1 < argc) {
            if (dm_parse_i64(argv[++i], 0, 86400000, &o.sweep_interval_ms) != DM_OK) {
                fprintf(stderr, "consolidator: --sweep-interval-ms needs 0..86400000\n");
                return DM_EXIT_CONFIG;
            }
        } else if (!strcmp(argv[i], "--stall-ms") && i + 1 < argc) {
            if (dm_parse_i64(argv[++i], 1000, INT64_MAX / 2, &o.stall_ms) != DM_OK) {
                fprintf(stderr, "consolidator: --stall-ms needs a number of ms >= 1000\n");
                return DM_EXIT_CONFIG;
            }
        } else {
            fprintf(stderr, "consolidator: unexpected argument '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CONSOLIDATOR, "consolidator", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    rc = DM_EXIT_OK;
    if (dm_consolidator_run(&app, &o, &err) != DM_OK) {
        fprintf(stderr, "consolidator: %s\n", err.message);
        rc = DM_EXIT_FAIL;
    }
    dm_app_free(&app);
    return rc;
}
