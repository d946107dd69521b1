/*
 * db.h - the only way to PostgreSQL: a bounded libpq connection pool, parameterised queries,
 * transactions, SQLSTATE mapped to dm_err (DM_ERR_DB_RETRY when a retry can help), and
 * transparent reconnection: a connection found broken is reset before the next statement,
 * and a statement that failed because the connection broke outside a transaction is retried
 * once on a fresh connection, so the first query after a server restart succeeds.
 *
 * Thread-safety: the pool is thread-safe; a struct dm_db_conn is used by one thread at a time.
 */
#ifndef DM_ADAPTERS_DB_H
#define DM_ADAPTERS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct dm_db;      /* pool (opaque) */
struct dm_db_conn; /* one checked-out connection (opaque) */

/* Create a pool of at most `size` connections for conninfo. Connects lazily, except that one
 * connection is opened (and verified) immediately: DM_ERR_DB_RETRY if the server is down. */
enum dm_err dm_db_open(const char *conninfo, int size, struct dm_db **out,
                       struct dm_error *err) DM_MUST_CHECK;
/* Create a pool without connecting now (the first acquire connects). */
struct dm_db *dm_db_new(const char *conninfo, int size);
void dm_db_free(struct dm_db *db);
/* The conninfo the pool connects with (owned by the pool; holds the password: never log it).
 * For a dedicated connection to the same database (the queue's LISTEN). */
const char *dm_db_conninfo(const struct dm_db *db);

/* Check out a connection, waiting up to timeout_ms for a free slot (DM_ERR_TIMEOUT). */
enum dm_err dm_db_acquire(struct dm_db *db, int timeout_ms, struct dm_db_conn **out,
                          struct dm_error *err) DM_MUST_CHECK;
/* Return a connection. A connection left inside a transaction is rolled back first. */
void dm_db_release(struct dm_db_conn *c);
/* The raw PGconn, for COPY and LISTEN (do not close it). */
PGconn *dm_db_pg(struct dm_db_conn *c);

/* Execute a parameterised statement (params are text, NULL = SQL NULL). On success *res (if
 * res != NULL) receives the result, which the caller frees with PQclear. */
enum dm_err dm_db_exec(struct dm_db_conn *c, const char *sql, int nparams,
                       const char *const *params, PGresult **res,
                       struct dm_error *err) DM_MUST_CHECK;
/* Same with explicit parameter lengths and formats (binary parameters). */
enum dm_err dm_db_execv(struct dm_db_conn *c, const char *sql, int nparams,
                        const char *const *params, const int *lengths, const int *formats,
                        PGresult **res, struct dm_error *err) DM_MUST_CHECK;

/* Run a hot statement as a named prepared statement on this connection (prepared on first use;
 * SQLSTATE 26000 means it is missing, e.g. after a reconnect). name NULL derives one from the
 * SQL's hash. Outside a transaction only; inside one, or when the connection is in trouble, or
 * when the pool has learnt that prepared statements do not persist (a transaction-mode
 * pooler), it falls back to dm_db_execv, which reconnects and plans every time. */
enum dm_err dm_db_exec_prepared(struct dm_db_conn *c, const char *name, const char *sql,
                                int nparams, const char *const *params, const int *lengths,
                                const int *formats, PGresult **res,
                                struct dm_error *err) DM_MUST_CHECK;

/* Convenience: acquire (waiting up to 10 s), dm_db_exec, release. */
enum dm_err dm_db_query(struct dm_db *db, const char *sql, int nparams, const char *const *params,
                        PGresult **res, struct dm_error *err) DM_MUST_CHECK;
/* The same for a hot statement with fixed SQL text: acquire (waiting up to 5 s),
 * dm_db_exec_prepared (name derived from the SQL), release. Never for SQL text built per call:
 * every distinct text becomes one more prepared statement on each connection. */
enum dm_err dm_db_query_prepared(struct dm_db *db, const char *sql, int nparams,
                                 const char *const *params, PGresult **res,
                                 struct dm_error *err) DM_MUST_CHECK;

enum dm_err dm_db_begin(struct dm_db_conn *c, struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_db_commit(struct dm_db_conn *c, struct dm_error *err) DM_MUST_CHECK;
void dm_db_rollback(struct dm_db_conn *c);
bool dm_db_in_tx(struct dm_db_conn *c);

/* Map a SQLSTATE to a code: 08xxx/57P0x/40001/40P01/53xxx → DM_ERR_DB_RETRY, 23505 →
 * DM_ERR_CONFLICT, 22xxx/23xxx → DM_ERR_INVALID, else DM_ERR_DB. */
enum dm_err dm_db_map_sqlstate(const char *sqlstate);

/* True when the pool can run `SELECT 1` now (for /health). */
bool dm_db_ping(struct dm_db *db);

/*
 * Reading results. A row written by another version of the program (or by hand) is external
 * input: a column read as a number is checked, never taken as 0 when it is not one.
 */
/* The text of a value, or NULL when it is SQL NULL or (row, col) is outside the result. */
const char *dm_db_get(const PGresult *r, int row, int col);
/* A decimal integer (int2/int4/int8, or any text of one) into *out. DM_ERR_INVALID, *out left
 * unchanged, when r is NULL, (row, col) is outside the result, the value is SQL NULL, or its
 * text is not a whole decimal integer in int64 range. */
enum dm_err dm_db_get_i64(const PGresult *r, int row, int col, int64_t *out) DM_MUST_CHECK;
/* The same for a nullable column: SQL NULL gives *out = if_null and DM_OK. */
enum dm_err dm_db_get_i64_or(const PGresult *r, int row, int col, int64_t if_null,
                             int64_t *out) DM_MUST_CHECK;
/* Fill err (may be NULL) with "<what>: column <name> of row <row> is not an integer" and return
 * DM_ERR_DB (the database holds a value this version cannot read; a retry will not help): how a
 * caller reports a dm_db_get_i64 failure. */
enum dm_err dm_db_bad_value(const PGresult *r, int row, int col, const char *what,
                            struct dm_error *err);

/* Many integer columns of one row, checked once: each dm_db_row_i64 returns the value, or 0
 * when it cannot be read and then remembers the first such column; dm_db_row_check says how
 * it went. For a struct filled from a row (run facts, a work item) without an if per column. */
struct dm_db_row {
    const PGresult *r;
    int row;
    int bad_col; /* first column that did not read; -1 while all did */
};
#define DM_DB_ROW(res, rownum) ((struct dm_db_row){.r = (res), .row = (rownum), .bad_col = -1})
/* dm_db_get_i64 of column col (SQL NULL is a failure). */
int64_t dm_db_row_i64(struct dm_db_row *rd, int col);
/* dm_db_get_i64_or of column col (SQL NULL reads as if_null). */
int64_t dm_db_row_i64_or(struct dm_db_row *rd, int col, int64_t if_null);
/* DM_OK when every column read so far did, else dm_db_bad_value for the first that did not. */
enum dm_err dm_db_row_check(const struct dm_db_row *rd, const char *what,
                            struct dm_error *err) DM_MUST_CHECK;

#endif
