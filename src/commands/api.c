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
    int rc = dm_cmd_no_args(argc, argv, usage);
    if (rc >= 0)
        return rc;
    struct dm_app app;
    rc = dm_app_init(&app, DM_SVC_API, "api", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    rc = dm_cmd_served("api", dm_api_serve(&app, &err), &err);
    dm_app_free(&app);
    return rc;
}
