/*
 * partition.h - planning a run's partitions on the price axis (pipeline.md §2 step 4-5).
 * Pure: the only outside knowledge comes through a count callback (the feed's
 * diamonds_by_query_count over the run's fixed window), so the planner is unit-tested with an
 * in-memory inventory.
 *
 * Algorithm: recursive bisection. A price range holding c stones that must become k partitions
 * is split at the price where the left part holds about c*floor(k/2)/k stones; the split price
 * is found by a bracketed search on the cumulative count (interpolation in log-price space,
 * falling back to halving when interpolation stalls), accepting any split within a tolerance of
 * the target. Counts are additive over disjoint ranges, so the right part's count costs no
 * query. Each side then recurses with its share of k. Bounds are whole dollars, inclusive on
 * both ends; adjacent partitions are [a, p] and [p+1, b]: no overlap, no gap.
 *
 * Cap (MAX_SCHEDULER_RECORDS): the planner first finds the price below which about `cap`
 * stones lie, plans only that range, and trims the last partition's estimate so that the
 * estimates add up to exactly the cap.
 */
#ifndef DM_DOMAIN_PARTITION_H
#define DM_DOMAIN_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Highest price bound used for the top partition (whole dollars). */
#define DM_PARTITION_PRICE_MAX 999999999LL

/* Count stones with min_price <= price <= max_price (whole dollars, inclusive). */
typedef enum dm_err (*dm_partition_count_fn)(void *ctx, int64_t min_price, int64_t max_price,
                                             int64_t *count, struct dm_error *err);

struct dm_partition_opts {
    int max_partitions;        /* 30 for full, 10 for incremental */
    int64_t min_per_partition; /* about 1000 */
    int64_t cap;               /* MAX_SCHEDULER_RECORDS; 0 = uncapped */
    int64_t price_min;         /* lowest bound, default 0 */
    int64_t price_max;         /* highest bound, default DM_PARTITION_PRICE_MAX */
    double tolerance;          /* accepted relative deviation of a split, default 0.05 */
};

struct dm_partition {
    int64_t min_price; /* inclusive */
    int64_t max_price; /* inclusive */
    int64_t estimated; /* stones counted (trimmed for the last partition of a capped plan) */
};

struct dm_partition_plan {
    struct dm_partition *parts; /* ascending by price; malloc'd */
    int n;
    int64_t total;          /* sum of estimates */
    int64_t uncapped_total; /* stones in the whole window */
    int count_queries;
    int64_t largest, smallest; /* estimates; 0 when n == 0 */
    bool capped;               /* the cap trimmed the plan */
};

/* Defaults for a full (incremental = false) or incremental run. */
void dm_partition_opts_default(struct dm_partition_opts *o, bool incremental);

/* Plan. On success *plan holds n >= 0 partitions (n == 0 when the window holds no stone).
 * Errors from the count callback are returned unchanged. */
enum dm_err dm_partition_plan(const struct dm_partition_opts *o, dm_partition_count_fn count,
                              void *ctx, struct dm_partition_plan *plan,
                              struct dm_error *err) DM_MUST_CHECK;
void dm_partition_plan_free(struct dm_partition_plan *plan);

/* Stable partition id for index i (0-based): "p01", "p02", ... */
void dm_partition_id(int i, char *out, size_t size);

#endif
