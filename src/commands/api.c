/* api.c - `diamond api`: start-up, then the REST API service (services/api/serve.h) until
 * SIGTERM. */
#include <stdio.h>

#include "commands/commands.h"
#include "services/api/serve.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond api\n\n"
                 "Serve the REST API (api.md) on PORT; SIGTERM finishes in-flight requests.\n");
    dm_config_print_help(DM_SVC_API, out);
}

int dm_cmd_api(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        usage(stdout);
        return DM_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "api: unexpected argument '%s'\n", argv[1]);
        usage(stderr);
        return DM_EXIT_CONFIG;
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_API, "api", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    enum dm_err e = dm_api_serve(&app, &err);
    if (e != DM_OK)
        fprintf(stderr, "api: %s\n", err.message);
    rc = e == DM_OK ? DM_EXIT_OK : e == DM_ERR_INVALID ? DM_EXIT_CONFIG : DM_EXIT_FAIL;
    dm_app_free(&app);
    return rc;
}
