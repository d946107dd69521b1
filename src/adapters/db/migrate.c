/* migrate.c - apply and check the embedded migrations. */
#include "adapters/db/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "core/log.h"

static const char *CREATE_TABLE =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";

/* A yes-or-no question of one parameter: *yes when sql returns a row whose first column is
 * true. */
static enum dm_err ask(struct dm_db_conn *c, const char *sql, const char *param, bool *yes,
                       struct dm_error *err)
{
    PGresult *r = NULL;
    enum dm_err e = dm_db_exec(c, sql, 1, &param, &r, err);
    if (e == DM_OK)
        *yes = PQntuples(r) > 0 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return e;
}

static enum dm_err is_applied(struct dm_db_conn *c, const char *name, bool *applied,
                              struct dm_error *err)
{
    return ask(c, "SELECT true FROM schema_migrations WHERE name = $1", name, applied, err);
}

static enum dm_err table_exists(struct dm_db_conn *c, const char *table, bool *exists,
                                struct dm_error *err)
{
    return ask(c, "SELECT to_regclass($1) IS NOT NULL", table, exists, err);
}

enum dm_err dm_migrate_apply(struct dm_db *db, int *applied, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    int count = 0;
    enum dm_err e = dm_db_acquire(db, 10000, &c, err);
    if (e != DM_OK)
        return e;
    /* Silence NOTICEs such as "relation already exists, skipping". */
    e = dm_db_exec(c, "SET client_min_messages = warning", 0, NULL, NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(c, CREATE_TABLE, 0, NULL, NULL, err);
    for (int i = 0; e == DM_OK && i < dm_migrations_count; i++) {
        const struct dm_migration *m = &dm_migrations[i];
        e = dm_db_begin(c, err);
        if (e != DM_OK)
            break;
        e = dm_db_exec(c, "SELECT pg_advisory_xact_lock(7213001)", 0, NULL, NULL, err);
        bool done = false;
        if (e == DM_OK)
            e = is_applied(c, m->name, &done, err);
        if (e == DM_OK && !done) {
            /* Simple-query protocol: a migration file holds many statements. */
            PGresult *r = PQexec(dm_db_pg(c), m->sql);
            if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
                e = dm_error_set(err, DM_ERR_DB, "migration %s failed: %s", m->name,
                                 PQresultErrorMessage(r));
            }
            PQclear(r);
            if (e == DM_OK) {
                const char *p[] = {m->name};
                e = dm_db_exec(c, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, p, NULL,
                               err);
            }
            if (e == DM_OK) {
                count++;
                dm_info(NULL, "applied migration %s", m->name);
            }
        }
        if (e == DM_OK)
            e = dm_db_commit(c, err);
        else
            dm_db_rollback(c);
    }
    dm_db_release(c);
    if (applied)
        *applied = count;
    return e;
}

/* Calls fn for each embedded migration, in order, with whether it is applied (none is when
 * schema_migrations is missing), until fn or the database answers an error. */
static enum dm_err each_migration(struct dm_db *db,
                                  enum dm_err (*fn)(const struct dm_migration *m, bool applied,
                                                    void *arg, struct dm_error *err),
                                  void *arg, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 10000, &c, err);
    if (e != DM_OK)
        return e;
    bool have_table = false;
    e = table_exists(c, "schema_migrations", &have_table, err);
    for (int i = 0; e == DM_OK && i < dm_migrations_count; i++) {
        bool done = false;
        if (have_table)
            e = is_applied(c, dm_migrations[i].name, &done, err);
        if (e == DM_OK)
            e = fn(&dm_migrations[i], done, arg, err);
    }
    dm_db_release(c);
    return e;
}

static enum dm_err print_status(const struct dm_migration *m, bool applied, void *out,
                                struct dm_error *err)
{
    (void)err;
    fprintf(out, "%-8s %s\n", applied ? "applied" : "pending", m->name);
    return DM_OK;
}

enum dm_err dm_migrate_status(struct dm_db *db, FILE *out, struct dm_error *err)
{
    return each_migration(db, print_status, out, err);
}

static enum dm_err require_applied(const struct dm_migration *m, bool applied, void *arg,
                                   struct dm_error *err)
{
    (void)arg;
    if (applied)
        return DM_OK;
    return dm_error_set(err, DM_ERR_SCHEMA,
                        "database schema is missing migration %s (run `diamond migrate`)", m->name);
}

enum dm_err dm_migrate_check(struct dm_db *db, struct dm_error *err)
{
    return each_migration(db, require_applied, NULL, err);
}

/* ---- feed raw tables ------------------------------------------------------------------- */

/* The template's storage setting (006) is not copied by LIKE. */
static const char FEED_TABLE_SQL[] =
    "CREATE TABLE IF NOT EXISTS {raw} (LIKE raw_diamonds_nivoda INCLUDING ALL) "
    "WITH (fillfactor = 50)";

enum dm_err dm_migrate_feed_tables(struct dm_db *db, const char *const *ids, int n, int *created,
                                   struct dm_error *err)
{
    int count = 0;
    struct dm_db_conn *c = NULL;
    enum dm_err e = DM_OK;
    for (int i = 0; i < n && e == DM_OK; i++) {
        char table[DM_FEED_TABLE_MAX];
        e = dm_feed_raw_table(ids[i], table, err);
        if (e != DM_OK)
            break;
        if (c == NULL)
            e = dm_db_acquire(db, 10000, &c, err);
        bool exists = false;
        if (e == DM_OK)
            e = table_exists(c, table, &exists, err);
        if (e != DM_OK || exists)
            continue;
        e = dm_db_begin(c, err);
        if (e == DM_OK)
            e = dm_db_exec(c, "SET LOCAL client_min_messages = warning", 0, NULL, NULL, err);
        if (e == DM_OK)
            e = dm_db_exec(c, "SELECT pg_advisory_xact_lock(7213001)", 0, NULL, NULL, err);
        if (e == DM_OK)
            e = table_exists(c, table, &exists, err); /* another migrator may have won */
        if (e == DM_OK && !exists)
            e = dm_feed_exec(c, FEED_TABLE_SQL, ids[i], 0, NULL, NULL, err);
        if (e == DM_OK)
            e = dm_db_commit(c, err);
        else
            dm_db_rollback(c);
        if (e != DM_OK && err) {
            struct dm_error cause = *err;
            e = dm_error_set(err, e, "could not create %s for feed %s: %s", table, ids[i],
                             cause.message);
            snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", cause.sqlstate);
        } else if (!exists) {
            count++;
            dm_info(NULL, "created %s for feed %s", table, ids[i]);
        }
    }
    dm_db_release(c);
    if (created)
        *created = count;
    return e;
}

enum dm_err dm_migrate_feed_tables_status(struct dm_db *db, const char *const *ids, int n,
                                          FILE *out, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 10000, &c, err);
    for (int i = 0; i < n && e == DM_OK; i++) {
        char table[DM_FEED_TABLE_MAX];
        bool exists = false;
        e = dm_feed_raw_table(ids[i], table, err);
        if (e == DM_OK)
            e = table_exists(c, table, &exists, err);
        if (e == DM_OK)
            fprintf(out, "%-8s %s (feed %s)\n", exists ? "present" : "missing", table, ids[i]);
    }
    dm_db_release(c);
    return e;
}
