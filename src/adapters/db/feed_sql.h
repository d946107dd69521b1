/*
 * feed_sql.h - a feed's tables in SQL. Statements on raw items are written once for every feed,
 * with "{raw}" for the feed's raw table (raw_diamonds_<id>) and "{feed}" for its id as a SQL
 * string literal; dm_feed_sql expands them for one feed. Feed ids are validated (lowercase
 * letters, digits and '_', at most DM_FEED_ID_MAX: core/feed_id.h, the rule of FEEDS), so both
 * can be spliced into statement text safely (the table name starts with "raw_", so an id
 * starting with a digit is still a plain identifier); values still travel as $n parameters.
 */
#ifndef DM_ADAPTERS_DB_FEED_SQL_H
#define DM_ADAPTERS_DB_FEED_SQL_H

#include <stdbool.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/feed_id.h"
#include "core/error.h"

/* DM_FEED_DEFAULT (core/feed_id.h) is the feed of every seed name. */
/* Longest feed id: lowercase letters, digits and '_' (core/feed_id.h). */
#define DM_FEED_ID_MAX DM_FEED_ID_LEN
/* Room for "raw_diamonds_" + a feed id + NUL. */
#define DM_FEED_TABLE_MAX 48

/* dm_feed_id_valid (core/feed_id.h) says whether an id is well-formed. */
/* The raw table of feed id: "raw_diamonds_<id>". DM_ERR_INVALID for a malformed id. */
enum dm_err dm_feed_raw_table(const char *id, char out[DM_FEED_TABLE_MAX],
                              struct dm_error *err) DM_MUST_CHECK;
/* tmpl with every "{raw}" replaced by feed id's raw table and every "{feed}" by 'id', into out
 * (reset first). DM_ERR_INVALID for a malformed id. */
enum dm_err dm_feed_sql(const char *tmpl, const char *id, struct dm_buf *out,
                        struct dm_error *err) DM_MUST_CHECK;

/* dm_db_exec / dm_db_query of tmpl expanded for feed id. */
enum dm_err dm_feed_exec(struct dm_db_conn *c, const char *tmpl, const char *id, int n,
                         const char *const *params, PGresult **res,
                         struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_feed_query(struct dm_db *db, const char *tmpl, const char *id, int n,
                          const char *const *params, PGresult **res,
                          struct dm_error *err) DM_MUST_CHECK;

#endif
