/* migrate.c - `diamond migrate [--status]`. */
#include <stdio.h>
#include <string.h>

#include "adapters/db/migrate.h"
#include "commands/commands.h"
#include "core/log.h"

int dm_cmd_migrate(int argc, char **argv)
{
    if (dm_wants_help(argc, argv)) {
        printf("usage: diamond migrate [--status]\n\nApplies pending migrations (each in a "
               "transaction) and records them in schema_migrations, then creates the raw table\n"
               "raw_diamonds_<id> of each feed of FEEDS that has none (like raw_diamonds_nivoda)."
               "\n  --status  list applied and pending migrations and the feeds' raw tables\n");
        dm_config_print_help(DM_SVC_CLI, stdout);
        return DM_EXIT_OK;
    }
    bool status = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--status")) {
            status = true;
        } else {
            fprintf(stderr, "migrate: unknown option '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "migrate", DM_APP_DB);
    if (rc != 0)
        return rc;
    struct dm_error err = {0};
    enum dm_err e;
    const char *ids[DM_FEEDS_MAX];
    int n = 0;
    for (; n < app.cfg.n_feeds && n < DM_FEEDS_MAX; n++)
        ids[n] = app.cfg.feeds[n].id;
    if (status) {
        e = dm_migrate_status(app.db, stdout, &err);
        if (e == DM_OK)
            e = dm_migrate_feed_tables_status(app.db, ids, n, stdout, &err);
    } else {
        int applied = 0, created = 0;
        e = dm_migrate_apply(app.db, &applied, &err);
        /* Each configured feed's raw table (FEEDS), after the migrations that shape the
         * template raw_diamonds_nivoda. */
        if (e == DM_OK)
            e = dm_migrate_feed_tables(app.db, ids, n, &created, &err);
        if (e == DM_OK)
            printf("migrate: %d migration%s applied, %d feed table%s created, schema up to "
                   "date\n",
                   applied, applied == 1 ? "" : "s", created, created == 1 ? "" : "s");
    }
    if (e != DM_OK)
        fprintf(stderr, "migrate: %s\n", err.message);
    dm_app_free(&app);
    return e == DM_OK ? DM_EXIT_OK : DM_EXIT_FAIL;
}
