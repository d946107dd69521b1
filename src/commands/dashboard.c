/* dashboard.c - `diamond dashboard [--bind ADDR]`: start-up, then the dashboard service
 * (services/dashboard/dashboard.h) until SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/commands.h"
#include "services/dashboard/dashboard.h"

static void usage(void)
{
    printf("usage: diamond dashboard [--bind ADDR]\n\n"
           "Serves the operator dashboard (static files from DASHBOARD_DIR, here %s)\n"
           "on PORT (default %d for the dashboard) and reverse-proxies /api/, /health,\n"
           "/metrics and the API docs to API_URL. Holds no secrets: operators sign in with\n"
           "an API key (diamond apikey create) that stays in their browser.\n"
           "  --bind ADDR  IPv4 address to listen on (default 0.0.0.0)\n",
           dm_dashboard_default_dir(getenv("DASHBOARD_DIR")), DM_DASHBOARD_DEFAULT_PORT);
    dm_config_print_help(DM_SVC_DASHBOARD, stdout);
}

int dm_cmd_dashboard(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        usage();
        return DM_EXIT_OK;
    }
    const char *bind = "0.0.0.0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bind") && i + 1 < argc) {
            bind = argv[++i];
        } else {
            fprintf(stderr, "dashboard: unknown option '%s' (see --help)\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_DASHBOARD, "dashboard", 0);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    rc = dm_cmd_served("dashboard", dm_dashboard_serve(&app.cfg, bind, &err), &err);
    dm_app_free(&app);
    return rc;
}
