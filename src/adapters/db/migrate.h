/*
 * migrate.h - schema migrations. The SQL files sql/migrations/NNN_name.sql are compiled into the
 * binary (cmake/embed_migrations.cmake), applied in name order, each in its own transaction,
 * and recorded in schema_migrations. A transaction-scoped advisory lock serialises concurrent
 * migrators.
 */
#ifndef DM_ADAPTERS_MIGRATE_H
#define DM_ADAPTERS_MIGRATE_H

#include <stdio.h>

#include "adapters/db/db.h"
#include "core/error.h"

struct dm_migration {
    const char *name; /* "001_core_schema" */
    const char *sql;
};

extern const struct dm_migration dm_migrations[];
extern const int dm_migrations_count;

/* Apply every pending migration. *applied (may be NULL) receives how many were applied. */
enum dm_err dm_migrate_apply(struct dm_db *db, int *applied, struct dm_error *err) DM_MUST_CHECK;
/* Print "applied|pending  NAME" lines for every known migration. */
enum dm_err dm_migrate_status(struct dm_db *db, FILE *out, struct dm_error *err) DM_MUST_CHECK;
/* DM_ERR_SCHEMA naming the first missing migration when the database is older than this
 * binary; services call it at start-up and exit with the message. */
enum dm_err dm_migrate_check(struct dm_db *db, struct dm_error *err) DM_MUST_CHECK;

/*
 * Feed raw tables. Feeds are configuration (FEEDS), so their raw tables are not migrations:
 * raw_diamonds_nivoda comes from 001 (with its later indexes and settings) and is the template
 * of every other feed's raw_diamonds_<id>: the same columns, defaults, checks, unique key and
 * indexes (CREATE TABLE .. (LIKE raw_diamonds_nivoda INCLUDING ALL)) and the same fillfactor.
 * A migration that changes raw_diamonds_nivoda must change every raw_diamonds_% table too.
 */

/* Create the raw table of each feed id (n of them) that does not exist yet, under the
 * migrators' advisory lock. *created (may be NULL) receives how many were created.
 * DM_ERR_INVALID for a malformed id; the database's error (a role without CREATE) otherwise,
 * with err naming the table. */
enum dm_err dm_migrate_feed_tables(struct dm_db *db, const char *const *ids, int n, int *created,
                                   struct dm_error *err) DM_MUST_CHECK;
/* Print "present|missing  raw_diamonds_<id>" for each feed id. */
enum dm_err dm_migrate_feed_tables_status(struct dm_db *db, const char *const *ids, int n,
                                          FILE *out, struct dm_error *err) DM_MUST_CHECK;

#endif
