/*
 * app.h - application start-up shared by every service and command: configuration (all
 * problems reported together, exit 2), logging, the database pool and the schema check, in
 * that order. Below the services: a service that needs the configuration or the pool takes a
 * `struct dm_app`; nothing here knows about commands or argv.
 */
#ifndef DM_APP_H
#define DM_APP_H

#include "adapters/db/db.h"
#include "core/config.h"

/* Process exit statuses (dm_app_init returns them; commands return them from main). */
#define DM_EXIT_OK 0
#define DM_EXIT_FAIL 1
#define DM_EXIT_CONFIG 2

struct dm_app {
    struct dm_config cfg;
    struct dm_db *db; /* NULL unless opened */
};

enum dm_app_flags {
    DM_APP_DB = 1 << 0,     /* open the database pool */
    DM_APP_SCHEMA = 1 << 1, /* refuse to run against an older schema */
};

/* Load configuration for `service`, init logging as `name`, open what flags ask for.
 * Returns 0 on success (release with dm_app_free), else the exit status to return (2 for
 * configuration problems, 1 for an unreachable database or old schema), having printed why
 * on stderr. On failure everything is released; dm_app_free is not needed, but calling it is
 * harmless. */
int dm_app_init(struct dm_app *app, unsigned service, const char *name, unsigned flags);
/* The configuration checks core cannot make itself (core/config.h): HMAC_SECRETS with the
 * API's parser, per-queue Service Bus strings with the queue adapter's. Static; never NULL. */
const struct dm_config_checks *dm_app_config_checks(void);

/* Release what dm_app_init acquired (the pool, the configuration strings). Safe on an app
 * whose dm_app_init failed, on a zeroed one and a second time. */
void dm_app_free(struct dm_app *app);

#endif
