/* run_status.c - pure derivation of a run's status from its counts and timestamps. */
#include "domain/run_status.h"

#include <string.h>

static const char *const names[DM_RUN_STATUS_COUNT] = {
    [DM_RUN_RUNNING] = "running",     [DM_RUN_CONSOLIDATING] = "consolidating",
    [DM_RUN_COMPLETED] = "completed", [DM_RUN_FAILED] = "failed",
    [DM_RUN_PARTIAL] = "partial",     [DM_RUN_STALLED] = "stalled",
    [DM_RUN_CANCELLED] = "cancelled", [DM_RUN_SKIPPED] = "skipped",
};

const char *dm_run_status_name(enum dm_run_status s)
{
    if ((int)s < 0 || s >= DM_RUN_STATUS_COUNT)
        return "unknown";
    return names[s];
}

enum dm_err dm_run_status_parse(const char *s, enum dm_run_status *out)
{
    if (s == NULL)
        return DM_ERR_INVALID;
    for (int i = 0; i < DM_RUN_STATUS_COUNT; i++) {
        if (!strcmp(s, names[i])) {
            *out = (enum dm_run_status)i;
            return DM_OK;
        }
    }
    return DM_ERR_INVALID;
}

bool dm_run_status_terminal(enum dm_run_status s)
{
    return s == DM_RUN_COMPLETED || s == DM_RUN_FAILED || s == DM_RUN_CANCELLED ||
           s == DM_RUN_SKIPPED;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t dm_run_facts_unfinished(const struct dm_run_facts *f)
{
    /* Partitions the plan expects but that have no row yet count as unfinished too. */
    int64_t total = max64(f->expected_partitions, f->partitions);
    int64_t done = f->completed + f->failed;
    return done >= total ? 0 : total - done;
}

enum dm_run_status dm_run_status_derive(const struct dm_run_facts *f, int64_t now_ms)
{
    if (f->cancelled_at_ms > 0)
        return DM_RUN_CANCELLED;
    if (f->completed_at_ms > 0 || f->consolidation_completed_at_ms > 0)
        return DM_RUN_COMPLETED;
    if (f->skipped_at_ms > 0)
        return DM_RUN_SKIPPED;

    int64_t last = max64(f->started_at_ms, f->last_progress_ms);
    last = max64(last, f->consolidate_sent_at_ms);
    last = max64(last, f->consolidation_started_at_ms);
    last = max64(last, f->consolidation_failed_at_ms);
    bool quiet = last > 0 && now_ms - last > DM_RUN_STALL_MS;

    int64_t total = max64(f->expected_partitions, f->partitions);
    bool all_terminal = dm_run_facts_unfinished(f) == 0;
    bool all_completed = total > 0 && f->completed >= total && f->failed == 0;

    if (all_terminal && f->failed > 0)
        return DM_RUN_FAILED;
    if (all_completed) {
        /* The latest consolidation attempt failed and nothing happened since. */
        bool last_attempt_failed = f->consolidation_failed_at_ms > 0 &&
                                   f->consolidation_failed_at_ms >= f->consolidation_started_at_ms;
        if (last_attempt_failed && quiet)
            return DM_RUN_FAILED;
        if (quiet)
            return DM_RUN_STALLED;
        if (f->consolidate_sent_at_ms > 0 || f->consolidation_started_at_ms > 0)
            return DM_RUN_CONSOLIDATING;
        return DM_RUN_RUNNING;
    }
    if (quiet)
        return DM_RUN_STALLED;
    if (f->failed > 0)
        return DM_RUN_PARTIAL;
    return DM_RUN_RUNNING;
}
