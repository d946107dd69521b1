/*
 * cli.h - subcommand entry points and the shared start-up of every service and command:
 * configuration (exit 2 on problems), logging, the database pool and the schema check.
 * Each subcommand is `int dm_cmd_<name>(int argc, char **argv)` returning the exit status;
 * argv[0] is the subcommand name. Every subcommand answers --help.
 */
#ifndef DM_CLI_H
#define DM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "adapters/db/db.h"
#include "core/config.h"

/* Exit statuses. */
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
 * configuration problems, 1 for an unreachable database or old schema), having printed why.
 * On failure everything is released; dm_app_free is not needed, but calling it is harmless. */
int dm_app_init(struct dm_app *app, unsigned service, const char *name, unsigned flags);
/* Release what dm_app_init acquired (the pool, the configuration strings). Safe on an app
 * whose dm_app_init failed, on a zeroed one and a second time. */
void dm_app_free(struct dm_app *app);

/* True when argv contains -h or --help. */
bool dm_wants_help(int argc, char **argv);

/* Subcommands (defined across src/cli and src/services). */
int dm_cmd_api(int argc, char **argv);
int dm_cmd_worker(int argc, char **argv);
int dm_cmd_consolidator(int argc, char **argv);
int dm_cmd_scheduler(int argc, char **argv);
int dm_cmd_dashboard(int argc, char **argv);
int dm_cmd_feed_sim(int argc, char **argv);
int dm_cmd_demo(int argc, char **argv);
int dm_cmd_migrate(int argc, char **argv);
int dm_cmd_db(int argc, char **argv);
int dm_cmd_apikey(int argc, char **argv);
int dm_cmd_queue(int argc, char **argv);
int dm_cmd_retry(int argc, char **argv);
int dm_cmd_run(int argc, char **argv);
int dm_cmd_consolidate(int argc, char **argv);
int dm_cmd_reprice(int argc, char **argv);
int dm_cmd_status(int argc, char **argv);
int dm_cmd_check(int argc, char **argv);

#endif
