/*
 * runops.h - run operations shared by the worker, the scheduler (planning, sweeper) and the
 * operator commands (retry, run cancel): opening the work queue, sending work items, the
 * completion check that sends CONSOLIDATE exactly once, run events, and loading a run's facts
 * for status derivation. All database access goes through db.h with parameters.
 */
#ifndef DM_SERVICES_RUNOPS_H
#define DM_SERVICES_RUNOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "core/buf.h"
#include "core/config.h"
#include "domain/messages.h"
#include "domain/run_status.h"

/* Open the queues as configured; with WORK_ITEMS_LOCK_MS set (tests) the pg backend uses that
 * peek-lock for work-items. */
enum dm_err dm_runops_queue_open(const struct dm_config *cfg, struct dm_db *db,
                                 struct dm_queue **out, struct dm_error *err) DM_MUST_CHECK;

/* Build the outgoing message for a work item: id (deterministic, plus `suffix` when not NULL,
 * e.g. ":s1764400000" for a sweeper re-send) and body (malloc'd, caller frees). */
void dm_runops_work_item_out(const struct dm_work_item *wi, const char *suffix, char *id,
                             size_t id_size, char **body);
/* Send one work item. */
enum dm_err dm_runops_send_work_item(struct dm_queue *q, const struct dm_work_item *wi,
                                     const char *suffix, struct dm_error *err) DM_MUST_CHECK;

/* Record a run event (run_events); failures are logged, never fatal. detail may be NULL
 * (borrowed). */
void dm_runops_event(struct dm_db *db, const char *run_id, const char *partition_id,
                     const char *event, const json_t *detail);

/*
 * After a partition became terminal: compute the run's counts from partition_progress flags.
 * All completed -> claim run_metadata.consolidate_sent_at (only one caller wins) and send
 * CONSOLIDATE {runId, traceId, force:false, updatedTo}; *consolidate_sent tells whether this
 * call sent it. All terminal with some failed (and the run not cancelled) -> alert "Run
 * finished with failed partitions". alert may be NULL (log only).
 */
enum dm_err dm_runops_completion_check(struct dm_db *db, struct dm_queue *q,
                                       struct dm_alert_sink *alert, const char *run_id,
                                       bool *consolidate_sent, struct dm_error *err) DM_MUST_CHECK;

/* Load the facts of one run (DM_ERR_NOT_FOUND when unknown). */
enum dm_err dm_runops_load_facts(struct dm_db *db, const char *run_id, struct dm_run_facts *f,
                                 struct dm_error *err) DM_MUST_CHECK;

/* Build a work item for a partition row of a run (offset = next_offset). */
enum dm_err dm_runops_partition_item(struct dm_db *db, const char *run_id, const char *partition_id,
                                     struct dm_work_item *wi, struct dm_error *err) DM_MUST_CHECK;

#endif
