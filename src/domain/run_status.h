/*
 * run_status.h - derivation of a run's status (pipeline.md §6) from its counts and timestamps.
 * Status is never stored: the run store (store/runs.h) fills a struct dm_run_facts from
 * run_metadata + partition_progress with its one statement and calls dm_run_status_derive();
 * every reader (API, dashboard, `diamond status`, the scheduler, the worker's completion
 * check, the consolidator) gets the status from there. Pure: no I/O, no clock (the caller
 * passes "now").
 *
 * Precedence (first match wins):
 *   cancelled     cancelled_at set
 *   completed     completed_at (or consolidation_completed_at) set
 *   skipped       skipped_at set (consolidation skipped: failed partitions and no force)
 *   failed        all partitions terminal and some failed; or every partition completed but the
 *                 latest consolidation attempt failed (consolidation_failed_at after its start)
 *                 and the consolidation has made no progress for the stall threshold
 *   stalled       not all terminal and no progress for DM_RUN_STALL_MS (30 min)
 *   partial       some partitions failed while others still run
 *   consolidating every partition completed and the consolidation was sent or started
 *   running       anything else (partitions still in progress, or all completed and
 *                 CONSOLIDATE not yet sent)
 */
#ifndef DM_DOMAIN_RUN_STATUS_H
#define DM_DOMAIN_RUN_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define DM_RUN_STALL_MS (30LL * 60 * 1000)

enum dm_run_status {
    DM_RUN_RUNNING = 0,
    DM_RUN_CONSOLIDATING,
    DM_RUN_COMPLETED,
    DM_RUN_FAILED,
    DM_RUN_PARTIAL,
    DM_RUN_STALLED,
    DM_RUN_CANCELLED,
    DM_RUN_SKIPPED,
    DM_RUN_STATUS_COUNT
};

/* What is known about one run. Times are ms since the epoch, 0 = not set. */
struct dm_run_facts {
    int64_t expected_partitions; /* run_metadata.expected_workers */
    int64_t partitions;          /* partition_progress rows present */
    int64_t completed;           /* partitions with completed = true */
    int64_t failed;              /* not completed, failed or cancelled (store/runs.h) */
    int64_t started_at_ms;
    int64_t last_progress_ms; /* max(partition_progress.updated_at); 0 = none */
    int64_t consolidate_sent_at_ms;
    int64_t consolidation_started_at_ms;
    int64_t consolidation_completed_at_ms;
    int64_t consolidation_failed_at_ms;
    int64_t completed_at_ms;
    int64_t cancelled_at_ms;
    int64_t skipped_at_ms;
};

/* Derive the status at time now_ms (see the precedence above). */
enum dm_run_status dm_run_status_derive(const struct dm_run_facts *f, int64_t now_ms);
/* True when no further progress is expected without an operator (completed, failed,
 * cancelled, skipped). A run that is not terminal is "in progress" (blocks a new run). */
bool dm_run_status_terminal(enum dm_run_status s);
/* "running", "consolidating", ... Never NULL ("unknown" for out-of-range values). */
const char *dm_run_status_name(enum dm_run_status s);
/* Parse a status name (exact, lower case). DM_ERR_INVALID otherwise. */
enum dm_err dm_run_status_parse(const char *s, enum dm_run_status *out) DM_MUST_CHECK;
/* Number of partitions that are neither completed nor failed. */
int64_t dm_run_facts_unfinished(const struct dm_run_facts *f);

#endif
