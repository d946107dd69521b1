/*
 * listen.h - a dedicated PostgreSQL connection that LISTENs on one channel and runs the
 * follower's statements (the search index's follower, services/api/index_follow.c). Outside
 * the pool on purpose: it is held for the life of the process and waits on its socket.
 *
 * Thread-safety: one thread uses a listener at a time.
 */
#ifndef DM_ADAPTERS_DB_LISTEN_H
#define DM_ADAPTERS_DB_LISTEN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "core/error.h"

struct dm_db_listener;

/* Connect to conninfo and LISTEN on channel (a plain identifier). DM_ERR_DB_RETRY when the
 * server cannot be reached. */
enum dm_err dm_db_listener_open(const char *conninfo, const char *channel,
                                struct dm_db_listener **out, struct dm_error *err) DM_MUST_CHECK;
void dm_db_listener_free(struct dm_db_listener *l);

/* Wait up to timeout_ms for a notification on the channel (all pending ones are consumed).
 * *notified tells whether one came. DM_ERR_DB_RETRY when the connection broke: free the
 * listener and open a new one. */
enum dm_err dm_db_listener_wait(struct dm_db_listener *l, int timeout_ms, bool *notified,
                                struct dm_error *err) DM_MUST_CHECK;

/* Run one statement with text parameters; *res (if res != NULL) receives a PGresult of
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK for the caller to PQclear, with values in binary format
 * when binary is set. Errors are mapped as in db.h; DM_ERR_DB_RETRY when the connection broke. */
enum dm_err dm_db_listener_exec(struct dm_db_listener *l, const char *sql, int nparams,
                                const char *const *params, bool binary, PGresult **res,
                                struct dm_error *err) DM_MUST_CHECK;

/* Pipelining: send one statement (no parameters) without waiting, then collect its result
 * with dm_db_listener_result, so the server works on it while the caller does other work. */
enum dm_err dm_db_listener_send(struct dm_db_listener *l, const char *sql, bool binary,
                                struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_db_listener_result(struct dm_db_listener *l, PGresult **res,
                                  struct dm_error *err) DM_MUST_CHECK;

#endif
