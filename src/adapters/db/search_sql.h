/*
 * search_sql.h - the SQL of a diamond search (struct dm_search_query, domain/search_query.h):
 * parameterised statements for a page, its ids, its count and its filters. Values only ever
 * travel as $n parameters; column names and sort expressions come from fixed tables (the
 * filter table's column and cast, and the sort expressions here).
 */
#ifndef DM_ADAPTERS_DB_SEARCH_SQL_H
#define DM_ADAPTERS_DB_SEARCH_SQL_H

#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "domain/search_query.h"

/* A SQL statement with its text parameters. */
#define DM_SQL_MAX_PARAMS 32
struct dm_sql {
    struct dm_buf text;
    int n;
    char *params[DM_SQL_MAX_PARAMS];
};
void dm_sql_init(struct dm_sql *s);
void dm_sql_free(struct dm_sql *s);
/* Append "$k" for a new parameter with the given value (copied; NULL = SQL NULL). */
enum dm_err dm_sql_param(struct dm_sql *s, const char *value) DM_MUST_CHECK;
/* Append literal SQL text (never user input). */
enum dm_err dm_sql_text(struct dm_sql *s, const char *text) DM_MUST_CHECK;
/* PostgreSQL array literal {"a","b"} of a list (quotes and backslashes escaped). */
enum dm_err dm_sql_array_literal(const struct dm_sq_list *l, struct dm_buf *out) DM_MUST_CHECK;

/* The JSON object of one diamond row as a SQL expression (camelCase keys, numbers as JSON
 * numbers, null columns omitted, feedPrice repeated as priceModelPrice). Its "id" is the
 * row's listing id (one listing per stone, store/listings.h): searches see only chosen active
 * offers, and a listing keeps its id when another offer takes over. */
extern const char DM_DIAMOND_JSON_SQL[];

/* Page query: columns (0) diamond JSON text, (1) sort key text, (2) id; at most limit + 1
 * rows (the extra row tells whether a next page exists). */
enum dm_err dm_search_build_page_sql(const struct dm_search_query *q,
                                     struct dm_sql *out) DM_MUST_CHECK;
/* The page's ids alone: columns (0) id text, (1) sort key text, in page order, at most
 * limit + 1 rows. Cheap to plan; the rows' JSON then comes from a fixed statement
 * "SELECT id::text, DM_DIAMOND_JSON_SQL FROM diamonds WHERE id = ANY($1::uuid[])". */
enum dm_err dm_search_build_ids_sql(const struct dm_search_query *q,
                                    struct dm_sql *out) DM_MUST_CHECK;

/* Count query over the same filters (cursor ignored), counting at most cap + 1 rows. With
 * cap <= 0 the count is exact. */
enum dm_err dm_search_build_count_sql(const struct dm_search_query *q, int64_t cap,
                                      struct dm_sql *out) DM_MUST_CHECK;
/* Only the WHERE clause filters (no keyset), for EXPLAIN-based estimates:
 * "SELECT 1 FROM diamonds WHERE ...". */
enum dm_err dm_search_build_filter_sql(const struct dm_search_query *q,
                                       struct dm_sql *out) DM_MUST_CHECK;

#endif
