/*
 * cancel.h - cancelling a run (pipeline.md §6), the one implementation behind
 * `diamond run cancel RUN` and POST /api/v2/triggers/cancel-run.
 *
 * dm_cancel_run() runs one transaction on the caller's connection: it locks the run's
 * run_metadata row (FOR UPDATE); a run that is unknown, already cancelled or already completed
 * changes nothing. Otherwise it sets cancelled_at, marks the run's unfinished partitions (not
 * completed, not yet cancelled) failed + cancelled (last_error 'cancelled' unless one is set),
 * marks their worker_runs rows failed ('cancelled', completed now), records a 'run_cancelled'
 * run event {"partitionsCancelled": n} (n a JSON number) and commits. Workers then complete the
 * run's messages without side effects and nothing is consolidated. Completed partitions and
 * partitions cancelled before are left as they are.
 *
 * The callers keep their own answers (CLI text and exit codes, HTTP statuses), their own
 * connection acquisition (timeout, how a failure to get one is reported) and their own logs:
 * this module prints and logs nothing.
 *
 * Thread-safety: reentrant; conn is the caller's and is used by one thread at a time.
 */
#ifndef DM_SERVICES_OPS_CANCEL_H
#define DM_SERVICES_OPS_CANCEL_H

#include <stdint.h>

#include "adapters/db/db.h"

/* What dm_cancel_run found (valid when it returns DM_OK). */
enum dm_cancel_state {
    DM_CANCEL_DONE = 0, /* the run was cancelled now; *cancelled partitions were cancelled */
    DM_CANCEL_NO_RUN,   /* no run with this id: nothing changed */
    DM_CANCEL_ALREADY_CANCELLED, /* cancelled before: nothing changed */
    DM_CANCEL_ALREADY_COMPLETED  /* completed (consolidated) before: nothing changed */
};

/* Cancel run_id (UUID text) as described above, on conn, which must not be inside a
 * transaction. Returns DM_OK with *state and *cancelled (partitions cancelled now; 0 unless
 * DM_CANCEL_DONE) set, or the database error of the begin, the row lock, the updates or the
 * commit with err filled (then nothing changed). Whatever the outcome, conn is left outside a
 * transaction (rolled back unless committed). */
enum dm_err dm_cancel_run(struct dm_db_conn *conn, const char *run_id, enum dm_cancel_state *state,
                          int64_t *cancelled, struct dm_error *err) DM_MUST_CHECK;

#endif
