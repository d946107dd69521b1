/* store.c - helpers shared by the run store's files (see store.h). */
#include "store/store.h"

#include <stdio.h>

#include "core/buf.h"

/*
 * The worker's guard and page statements run once per page, and planning the page statement
 * (four CTEs) cost more server CPU than executing it for 50 stones: both run as named prepared
 * statements on each pooled connection, prepared on first use (dm_db_exec_prepared falls back
 * to planning every time behind a transaction-mode pooler). A connection is waited for up to
 * 30 s, as the worker always did (dm_db_query_prepared waits 5 s).
 */
enum dm_err dm_store_run_hot(struct dm_db *db, const char *name, const char *sql, int n,
                             const char *const *p, const int *lengths, const int *formats,
                             PGresult **r, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    if (e != DM_OK)
        return e;
    e = dm_db_exec_prepared(c, name, sql, n, p, lengths, formats, r, err);
    dm_db_release(c);
    return e;
}

bool dm_store_is_true(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    return v && v[0] == 't';
}

void dm_store_copy_text(char *out, size_t size, const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    snprintf(out, size, "%s", v ? v : "");
}

char *dm_store_dup_text(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    return v ? dm_xstrdup(v) : NULL;
}
