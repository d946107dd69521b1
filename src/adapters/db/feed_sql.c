/* feed_sql.c - a feed's tables in SQL (see feed_sql.h). */
#include "adapters/db/feed_sql.h"

#include <stdio.h>
#include <string.h>

enum dm_err dm_feed_raw_table(const char *id, char out[DM_FEED_TABLE_MAX], struct dm_error *err)
{
    if (!dm_feed_id_valid(id))
        return dm_error_set(err, DM_ERR_INVALID,
                            "feed id '%.40s' is not 1..%d lowercase letters, digits or '_'",
                            id ? id : "", DM_FEED_ID_MAX);
    snprintf(out, DM_FEED_TABLE_MAX, "raw_diamonds_%s", id);
    return DM_OK;
}

enum dm_err dm_feed_sql(const char *tmpl, const char *id, struct dm_buf *out, struct dm_error *err)
{
    char table[DM_FEED_TABLE_MAX];
    enum dm_err e = dm_feed_raw_table(id, table, err);
    if (e != DM_OK)
        return e;
    dm_buf_reset(out);
    for (const char *p = tmpl; e == DM_OK && *p;) {
        if (!strncmp(p, "{raw}", 5)) {
            e = dm_buf_append_str(out, table);
            p += 5;
        } else if (!strncmp(p, "{feed}", 6)) {
            e = dm_buf_appendf(out, "'%s'", id);
            p += 6;
        } else {
            const char *next = strchr(p + 1, '{');
            size_t n = next ? (size_t)(next - p) : strlen(p);
            e = dm_buf_append(out, p, n);
            p += n;
        }
    }
    if (e != DM_OK)
        return dm_error_set(err, e, "statement for feed %s does not fit", id);
    return DM_OK;
}

/* The statement tmpl for feed id, run on c, or (c NULL) on a connection of db's pool. */
static enum dm_err feed_run(struct dm_db *db, struct dm_db_conn *c, const char *tmpl,
                            const char *id, int n, const char *const *params, PGresult **res,
                            struct dm_error *err)
{
    struct dm_buf sql;
    dm_buf_init(&sql, (size_t)64 * 1024);
    enum dm_err e = dm_feed_sql(tmpl, id, &sql, err);
    if (e == DM_OK)
        e = c ? dm_db_exec(c, sql.data, n, params, res, err)
              : dm_db_query(db, sql.data, n, params, res, err);
    dm_buf_free(&sql);
    return e;
}

enum dm_err dm_feed_exec(struct dm_db_conn *c, const char *tmpl, const char *id, int n,
                         const char *const *params, PGresult **res, struct dm_error *err)
{
    return feed_run(NULL, c, tmpl, id, n, params, res, err);
}

enum dm_err dm_feed_query(struct dm_db *db, const char *tmpl, const char *id, int n,
                          const char *const *params, PGresult **res, struct dm_error *err)
{
    return feed_run(db, NULL, tmpl, id, n, params, res, err);
}
