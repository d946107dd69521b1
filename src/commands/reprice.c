/* reprice.c - `diamond reprice`: re-apply the active pricing rules to every active diamond. */
#include <stdio.h>

#include "commands/commands.h"
#include "core/log.h"
#include "services/consolidator/reprice.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond reprice\n\nRe-applies the active pricing rules (priority order, "
                 "first match wins, default markup 1.15)\nto every active diamond in place and "
                 "reports how many prices changed.\n");
}

int dm_cmd_reprice(int argc, char **argv)
{
    int rc = dm_cmd_no_args(argc, argv, usage);
    if (rc >= 0)
        return rc;
    struct dm_app app;
    rc = dm_app_init(&app, DM_SVC_CLI, "reprice", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_reprice_result res;
    struct dm_error err = {0};
    struct dm_listing_policy policy;
    dm_listing_policy_from_config(&app.cfg, &policy);
    if (dm_reprice_all(app.db, &policy, &res, &err) != DM_OK) {
        fprintf(stderr, "reprice: %s\n", err.message);
        dm_app_free(&app);
        return DM_EXIT_FAIL;
    }
    printf("repriced %lld active diamonds: %lld prices changed, %lld rows updated, %lld ms\n",
           (long long)res.examined, (long long)res.prices_changed, (long long)res.updated,
           (long long)res.duration_ms);
    dm_app_free(&app);
    return DM_EXIT_OK;
}
