/*
 * dispatch.h - the messages that follow a run's state changes: work items (the scheduler's
 * plan, worker continuations, retries, sweeper re-sends) and the one automatic CONSOLIDATE.
 * The run store (store/runs.h) records the state; this module sends what the new state asks
 * for, so the store stays free of queues and alerts. Used by the scheduler, the worker, the
 * consolidator's backstop, the API's triggers and the operator commands.
 *
 * Thread-safety: reentrant (the queue and alert sink are thread-safe).
 */
#ifndef DM_SERVICES_DISPATCH_H
#define DM_SERVICES_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "domain/messages.h"

/* Send WORK_DONE for work item wi, as worker worker_id: records stored, success or the error.
 * A send that fails is logged (ctx) and left to the sweeper's backstop. */
void dm_dispatch_work_done(struct dm_queue *q, const struct dm_work_item *wi, const char *worker_id,
                           int64_t records, bool success, const char *error,
                           const struct dm_log_ctx *ctx);

/* The outgoing message for a work item: id (deterministic, plus `suffix` when not NULL, e.g.
 * ":s1764400000" for a sweeper re-send) and body (malloc'd, caller frees). */
void dm_dispatch_work_item_out(const struct dm_work_item *wi, const char *suffix, char *id,
                               size_t id_size, char **body);
/* Send one work item. */
enum dm_err dm_dispatch_work_item(struct dm_queue *q, const struct dm_work_item *wi,
                                  const char *suffix, struct dm_error *err) DM_MUST_CHECK;
/* Send CONSOLIDATE {run_id, trace_id, force, updated_to}; id_out (may be NULL) receives the
 * message id. */
enum dm_err dm_dispatch_consolidate(struct dm_queue *q, const char *run_id, const char *trace_id,
                                    int64_t updated_to_ms, bool force, char *id_out, size_t id_size,
                                    struct dm_error *err) DM_MUST_CHECK;

/*
 * After a partition became terminal, from the run's state (store/runs.h): every partition
 * completed -> claim consolidate_sent_at (one caller wins) and send CONSOLIDATE {force:false};
 * *consolidate_sent tells whether this call sent it (a failed send gives the claim back). All
 * partitions terminal with some failed (cancelled ones included) and the run not cancelled ->
 * alert "Run finished with failed partitions". alert may be NULL (log only).
 */
enum dm_err dm_dispatch_completion_check(struct dm_db *db, struct dm_queue *q,
                                         struct dm_alert_sink *alert, const char *run_id,
                                         bool *consolidate_sent,
                                         struct dm_error *err) DM_MUST_CHECK;

#endif
