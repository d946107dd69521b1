/*
 * worker.h - the ingestion worker (pipeline.md §3): WORKER_CONCURRENCY threads each receive
 * WORK_ITEMs from the work-items queue and process exactly one page per message:
 *
 *   guards     partition completed/failed/cancelled -> complete; offset > next_offset ->
 *              complete (stale future); offset < next_offset -> re-send the continuation for
 *              next_offset (deterministic id) and complete (lost-continuation repair)
 *   fetch      one page: the partition's inclusive price band, the run's updated window,
 *              createdAt ASC, offset, limit min(message limit, DM_PAGE_LIMIT = 50) (and
 *              the cap's remainder)
 *   write      in-page de-duplication by diamond.id, then ONE statement: offset
 *              compare-and-swap (+records, +pages, completion when the page is empty or the
 *              cap is reached), raw upsert by payload hash with last_seen_run_id, worker_runs
 *              and the partition_completed event - all or nothing
 *   after      continuation (offset + page length) or, for the delivery whose CAS completed the
 *              partition only, WORK_DONE success and the run's completion check (CONSOLIDATE)
 *   errors     page_errors + 1 and abandon; on the final permitted delivery or a
 *              non-retryable error: partition failed (once), WORK_DONE failed, completion
 *              check (alert when the run finished with failed partitions)
 *
 * A file feed's run (a snapshot feed: one partition) takes another path: its one WORK_ITEM
 * streams the whole file in batches (services/worker/snapshot.h).
 *
 * The queue consumer (adapters/queue/consumer.h) runs the handlers, settles their messages and
 * renews the peek-lock of any message whose handler outlives half the lock.
 * SIGTERM: stop receiving, finish the in-flight messages, return.
 */
#ifndef DM_SERVICES_WORKER_H
#define DM_SERVICES_WORKER_H

#include "app/app.h"
#include "core/error.h"

/* Run the worker on app's configuration and pool until SIGTERM, then finish the in-flight
 * messages and return DM_OK. When the pool is smaller than WORKER_CONCURRENCY + 4 it is
 * replaced by a big enough one (app->db changes; app still owns it). Errors (nothing left
 * running): the pool or the queue could not be opened, no handler thread could start. */
enum dm_err dm_worker_run(struct dm_app *app, struct dm_error *err) DM_MUST_CHECK;

#endif
