/*
 * retry.h - retrying a run's failed partitions (pipeline.md §3), the one implementation behind
 * `diamond retry RUN [PARTITION]` and POST /api/v2/triggers/retry-workers.
 *
 * dm_retry_failed() checks the run (it must exist and not be cancelled), then in one statement
 * clears the failed flag of its failed partitions (never cancelled or completed ones), adds one
 * to their attempts, clears their last error and marks their worker_runs row running again,
 * keeping next_offset. For each such partition, in partition id order, it sends a WORK_ITEM
 * from next_offset with that attempt and the id suffix ":r{n}", so the queue's duplicate
 * detection window cannot swallow it (pitfall: "a manual retry resent from offset 0 and
 * silently dropped"), reports the outcome to the caller's callback, and then records a
 * 'partition_retried' run event {offset, attempt[, by]} for every partition it sent. A
 * partition whose message could not be built or sent keeps its cleared flag: the sweeper
 * re-sends it from next_offset.
 *
 * Thread-safety: reentrant; db and q are the caller's (both are thread-safe handles).
 */
#ifndef DM_SERVICES_OPS_RETRY_H
#define DM_SERVICES_OPS_RETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "domain/messages.h"

struct dm_retry_request {
    const char *run_id;       /* UUID text */
    const char *partition_id; /* only this partition; NULL = every failed partition */
    const char *by;           /* who asked, recorded as the event's "by"; NULL = omitted */
    bool clear_skipped;       /* also clear run_metadata.skipped_at when a partition was reset,
                               * so the run's derived status is no longer "skipped" while the
                               * retried partitions run (both `diamond retry` and the API do) */
};

/* The outcome for one reset partition, given to the callback (valid during the call only). */
struct dm_retry_partition {
    const char *partition_id;
    const struct dm_work_item *wi; /* the message sent (offset, attempt); NULL when not sent */
    const char *message_id;        /* its id ("run:partition:offset:r{n}"); NULL when not sent */
    const struct dm_error *err;    /* why it was not sent; NULL when sent */
};

/* What dm_retry_failed found (valid when it returns DM_OK). */
enum dm_retry_state {
    DM_RETRY_DONE = 0,     /* the run exists and is not cancelled; *reset partitions were reset */
    DM_RETRY_NO_RUN,       /* no run with this id: nothing changed */
    DM_RETRY_RUN_CANCELLED /* the run was cancelled: nothing changed */
};

typedef void (*dm_retry_each_fn)(void *ctx, const struct dm_retry_partition *p);

/* Retry the request's failed partitions as described above. each (may be NULL) is called once
 * per reset partition, sent or not, before its event is recorded. Returns DM_OK with *state
 * and *reset (partitions reset, 0 when none was failed) set, or the database error of the run
 * check or of the reset (then nothing was reset) with err filled. A partition that could not
 * be sent is not an error of the call: the callback sees it with p->err set. */
enum dm_err dm_retry_failed(struct dm_db *db, struct dm_queue *q,
                            const struct dm_retry_request *req, dm_retry_each_fn each, void *ctx,
                            enum dm_retry_state *state, int *reset,
                            struct dm_error *err) DM_MUST_CHECK;

#endif
