/*
 * snapshot.h - private to the worker: the work item of a file feed's run (issue 18). Its run
 * has one partition, the whole snapshot, and its one WORK_ITEM makes the worker stream the
 * whole file into raw_diamonds_<feed>:
 *
 *   guard     partition over (completed, failed, cancelled) -> complete the message
 *   read      the previous good snapshot (store/snapshots.h); its validators are sent when no
 *             other run of the feed wrote raw rows since, so an unchanged file answers 304
 *   stream    rows in batches of DM_SNAPSHOT_BATCH_ROWS (or every DM_SNAPSHOT_BATCH_MS), one
 *             statement each: content-hash upsert + progress (next_offset = rows read,
 *             records = stones stored) + a row_refused event per bad row (the run's first
 *             DM_SNAPSHOT_BAD_ROWS_REPORTED, with line, stock id and reason; the rest counted).
 *             Rows whose shape the catalogue does not carry are counted apart (notCarried).
 *             Memory: one batch (about 1 MB for 1,000 rows), whatever the file size.
 *   304       every stone of the previous snapshot is marked seen by this run in the
 *             completing statement: the run completes with 0 changes and removes nothing
 *   guard     the read's distinct stones against the shrink guard (domain/snapshot.h): a
 *             snapshot below (1 - FEED_<ID>_MAX_SHRINK) of the previous good one is refused:
 *             partition failed with the reason, snapshot_refused event, alert; the run then
 *             fails and nothing is consolidated or removed
 *   complete  one durable statement (partition, worker_runs, partition_completed and
 *             snapshot_read events, the feed's file_snapshots record), then WORK_DONE and the
 *             run's completion check (CONSOLIDATE), for the delivery that completed it only
 *   errors    a truncated or empty file, a bad header, a 4xx: partition failed at once with
 *             the reason and an alert; a transfer error: retried by redelivery (page_errors +
 *             1), failed on the last permitted delivery; SIGTERM: abandoned (re-read later)
 *
 * A redelivered item (worker killed mid-file) reads the file again from its start: batches up
 * to the committed progress re-upsert without effect and report nothing twice.
 */
#ifndef DM_SERVICES_WORKER_SNAPSHOT_H
#define DM_SERVICES_WORKER_SNAPSHOT_H

#include <stdatomic.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/feed/feed.h"
#include "adapters/queue/consumer.h"
#include "adapters/queue/queue.h"
#include "core/log.h"
#include "domain/messages.h"

/* What the snapshot path needs of its worker. */
struct dm_snapshot_env {
    struct dm_db *db;
    struct dm_queue *queue;
    struct dm_alert_sink *alert;
    const char *worker_id;
    int max_delivery;
    atomic_llong *stones; /* the worker's counters (stones stored, errors) */
    atomic_llong *errors;
};

/* Handle one WORK_ITEM of a snapshot feed's run: feed (opened, dm_feed_is_snapshot) with id
 * feed_id and shrink fraction max_shrink. Returns how to settle the message. */
enum dm_settle dm_worker_snapshot(const struct dm_snapshot_env *env, struct dm_feed *feed,
                                  const char *feed_id, double max_shrink,
                                  const struct dm_work_item *wi, const struct dm_queue_msg *msg,
                                  const struct dm_log_ctx *ctx);

#endif
