/* cancel.c - cancelling a run in one transaction (see cancel.h). */
#include "services/ops/cancel.h"

#include <stdlib.h>
#include <string.h>

/* Mark the unfinished partitions and their worker rows, record the event; returns the count.
 * The event's INSERT is a data-modifying CTE: it runs although the SELECT does not read it. */
static const char SQL_CANCEL_PARTITIONS[] =
    "WITH u AS (UPDATE partition_progress SET failed = true, cancelled = true, "
    " last_error = COALESCE(last_error, 'cancelled'), updated_at = now() "
    " WHERE run_id = $1 AND NOT completed AND NOT cancelled "
    " RETURNING partition_id), "
    "w AS (UPDATE worker_runs w SET status = 'failed', "
    " error_message = 'cancelled', completed_at = now() FROM u "
    " WHERE w.run_id = $1 AND w.partition_id = u.partition_id RETURNING 1), "
    "ev AS (INSERT INTO run_events (run_id, event, detail) "
    " SELECT $1, 'run_cancelled', json_build_object('partitionsCancelled', "
    " (SELECT count(*) FROM u))::jsonb) "
    "SELECT count(*) FROM u";

enum dm_err dm_cancel_run(struct dm_db_conn *conn, const char *run_id, enum dm_cancel_state *state,
                          int64_t *cancelled, struct dm_error *err)
{
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    *state = DM_CANCEL_DONE;
    *cancelled = 0;
    enum dm_err e = dm_db_begin(conn, err);
    if (e != DM_OK)
        goto out;
    e = dm_db_exec(conn,
                   "SELECT cancelled_at IS NOT NULL, completed_at IS NOT NULL FROM run_metadata "
                   "WHERE run_id = $1 FOR UPDATE",
                   1, p, &r, err);
    if (e != DM_OK)
        goto out;
    if (PQntuples(r) == 0)
        *state = DM_CANCEL_NO_RUN;
    else if (!strcmp(PQgetvalue(r, 0, 0), "t"))
        *state = DM_CANCEL_ALREADY_CANCELLED;
    else if (!strcmp(PQgetvalue(r, 0, 1), "t"))
        *state = DM_CANCEL_ALREADY_COMPLETED;
    if (*state != DM_CANCEL_DONE)
        goto out;
    PQclear(r);
    r = NULL;
    e = dm_db_exec(conn, "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = $1", 1, p,
                   NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(conn, SQL_CANCEL_PARTITIONS, 1, p, &r, err);
    if (e == DM_OK && dm_db_get_i64(r, 0, 0, cancelled) != DM_OK)
        e = dm_db_bad_value(r, 0, 0, "cancel", err);
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
out:
    PQclear(r);
    if (dm_db_in_tx(conn))
        dm_db_rollback(conn);
    return e;
}
