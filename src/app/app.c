/* app.c - shared start-up for services and commands (see app.h). */
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/migrate.h"
#include "core/log.h"
#include "core/signals.h"

int dm_app_init(struct dm_app *app, unsigned service, const char *name, unsigned flags)
{
    memset(app, 0, sizeof(*app));
    dm_signals_install();
    int rc = 0;
    if (dm_config_load(&app->cfg, service, dm_app_config_checks(), stderr) != DM_OK) {
        rc = DM_EXIT_CONFIG;
        goto out;
    }
    dm_log_init(name, app->cfg.log_level);
    if (flags & DM_APP_DB) {
        char *conninfo = dm_config_conninfo(&app->cfg);
        if (conninfo == NULL) {
            fprintf(stderr, "config: DATABASE_URL or DATABASE_HOST is required "
                            "(for the local database: export DATABASE_URL=$(diamond db url))\n");
            rc = DM_EXIT_CONFIG;
            goto out;
        }
        struct dm_error err = {0};
        enum dm_err e = dm_db_open(conninfo, app->cfg.database_pool_size, &app->db, &err);
        free(conninfo);
        if (e == DM_OK && (flags & DM_APP_SCHEMA))
            e = dm_migrate_check(app->db, &err);
        /* A pipeline service creates the raw table of a feed added to FEEDS since the last
         * `diamond migrate` (or says clearly that it could not). */
        if (e == DM_OK && (flags & DM_APP_SCHEMA) && (service & DM_SVC_PIPELINE) &&
            app->cfg.n_feeds > 0) {
            const char *ids[DM_FEEDS_MAX];
            for (int i = 0; i < app->cfg.n_feeds && i < DM_FEEDS_MAX; i++)
                ids[i] = app->cfg.feeds[i].id;
            e = dm_migrate_feed_tables(app->db, ids, app->cfg.n_feeds, NULL, &err);
            if (e != DM_OK) {
                struct dm_error cause = err;
                e = dm_error_set(&err, e, "%s (run `diamond migrate` with this FEEDS)",
                                 cause.message);
            }
        }
        if (e != DM_OK) {
            dm_error(NULL, "%s", err.message);
            fprintf(stderr, "%s: %s\n", name, err.message);
            rc = DM_EXIT_FAIL;
        }
    }
out:
    if (rc != 0)
        dm_app_free(app); /* the caller has nothing to release */
    return rc;
}

void dm_app_free(struct dm_app *app)
{
    dm_db_free(app->db);
    app->db = NULL;
    dm_config_free(&app->cfg);
}
