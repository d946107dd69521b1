/*
 * snapshot.h - pure rules of a file feed's snapshot (issue 18): the shrink guard and the cap
 * on bad rows reported one by one. The worker applies them (services/worker/snapshot.c).
 */
#ifndef DM_DOMAIN_SNAPSHOT_H
#define DM_DOMAIN_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

/* Bad rows of one run reported as their own run event (with line number, stock id and
 * reason); every further one is only counted (the run's snapshot_read event has the total). */
#define DM_SNAPSHOT_BAD_ROWS_REPORTED 1000

/* Rows per raw-table statement while a snapshot is streamed, and the longest a batch waits
 * before it is written (progress stays visible for a slow file). */
#define DM_SNAPSHOT_BATCH_ROWS 1000
#define DM_SNAPSHOT_BATCH_MS 2000

/*
 * The shrink guard: true when a snapshot of `stones` stones must be refused because it is
 * below (1 - max_shrink) of `baseline` (the previous good snapshot's stones, or the feed's
 * active catalogue when there is none). max_shrink is a fraction in [0, 1] (FEED_<ID>_MAX_SHRINK,
 * default 0.5; out-of-range values are clamped); it is applied in millionths, exactly. A
 * baseline of 0 refuses nothing; max_shrink 1 refuses nothing; max_shrink 0 refuses any drop.
 * *min_stones (may be NULL) receives the smallest count accepted.
 */
bool dm_snapshot_shrink_refused(int64_t baseline, int64_t stones, double max_shrink,
                                int64_t *min_stones);

#endif
