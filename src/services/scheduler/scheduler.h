/*
 * scheduler.h - planning a run (pipeline.md §2) and the resident scheduler's duties: cron,
 * manual trigger requests (scheduler_requests rows), the sweeper (§6) and the hourly
 * monitoring check. `diamond scheduler` (commands/scheduler.c) parses the options, prints
 * the results and runs the resident loop; this header also lets other services (the
 * consolidator's sweeper) reuse the pieces. Nothing here prints.
 */
#ifndef DM_SERVICES_SCHEDULER_H
#define DM_SERVICES_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/feed/feed.h"
#include "adapters/queue/queue.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/timeutil.h"
#include "domain/partition.h"

enum dm_run_kind { DM_RUN_KIND_AUTO = 0, DM_RUN_KIND_FULL, DM_RUN_KIND_INCREMENTAL };

struct dm_sched_env {
    const struct dm_config *cfg;
    struct dm_db *db;
    struct dm_queue *queue;
    /* The opened feeds, parallel to cfg->feeds (feeds[i] serves cfg->feeds[i]); NULL for a
     * feed planning needs no client for (a snapshot feed) or that could not be opened. */
    struct dm_feed *feeds[DM_FEEDS_MAX];
    struct dm_alert_sink *alert; /* may be NULL */
};

/* Open the feeds planning talks to (every feed but snapshot ones) into env->feeds. On an
 * error, *failed names the feed (a cfg->feeds id) and the feeds opened so far stay open
 * (dm_sched_env_close_feeds releases them). */
enum dm_err dm_sched_env_open_feeds(struct dm_sched_env *env, const char **failed,
                                    struct dm_error *err) DM_MUST_CHECK;
void dm_sched_env_close_feeds(struct dm_sched_env *env);

struct dm_sched_opts {
    const char *feed;      /* the feed to plan (one of cfg->feeds); NULL: the first of FEEDS */
    enum dm_run_kind kind; /* AUTO: RUN_TYPE, else incremental when a watermark exists */
    bool dry_run;
    bool force; /* plan even while another run of the feed is in progress */
};

enum dm_sched_outcome {
    DM_SCHED_PLANNED, /* a run was created and its work items sent */
    DM_SCHED_DRY_RUN, /* plan returned in the result, nothing written */
    DM_SCHED_EMPTY,   /* the window holds no stone: no run */
    DM_SCHED_BUSY,    /* another run in progress, or another scheduler planning */
};

struct dm_sched_result {
    enum dm_sched_outcome outcome;
    char feed[DM_FEED_ID_LEN + 1]; /* the feed planned */
    char run_id[DM_UUID_LEN];      /* PLANNED */
    char message[512];             /* PLANNED: the summary line; EMPTY, BUSY: why no run */
    /* DM_SCHED_DRY_RUN only: the plan that would have been sent (partition i is
     * dm_partition_id(i)); release with dm_sched_result_free. */
    char type[16]; /* "full" or "incremental" */
    char from[DM_ISO_LEN], to[DM_ISO_LEN];
    char seconds[32]; /* planning time, "s.mmm" */
    struct dm_partition_plan plan;
};

/* Plan one run of a feed and send its work items; the outcome (and for a dry run the plan) in
 * res, which the caller releases with dm_sched_result_free. Runs are per feed: the feed's
 * watermark fixes the window, only a run of the same feed in progress makes it BUSY, the run
 * row records the feed. A snapshot feed (dm_feed_snapshot: a file) is always planned as a
 * full run of ONE partition holding the whole snapshot, with no count queries (the worker
 * streams the file in that one work item). Errors: DM_ERR_INVALID for a feed FEEDS does not
 * name, unreadable watermark, feed or database failures (no run created, or a run the sweeper
 * can repair if the failure came after the commit). */
enum dm_err dm_scheduler_plan(const struct dm_sched_env *env, const struct dm_sched_opts *o,
                              struct dm_sched_result *res, struct dm_error *err) DM_MUST_CHECK;
/* Release what a result holds (the dry-run plan). NULL and a second call are harmless. */
void dm_sched_result_free(struct dm_sched_result *res);

/* Execute one scheduler_requests row (by id), or the oldest pending one when id is NULL
 * (*found false when none): a run of the row's feed and run type. Marks it running, then done
 * (with run_id) or failed (message).
 * The planning outcome goes to *planned when not NULL (valid when *found and DM_OK). */
enum dm_err dm_scheduler_run_request(const struct dm_sched_env *env, const char *id, bool *found,
                                     struct dm_sched_result *planned,
                                     struct dm_error *err) DM_MUST_CHECK;

/* Sweeper state kept between passes (which runs were already reported stalled, which
 * partitions were recently re-sent). */
struct dm_sweeper;
struct dm_sweeper *dm_sweeper_new(void);
void dm_sweeper_free(struct dm_sweeper *s);

struct dm_sweep_report {
    int continuations_resent;
    int stalled_reported;
    int consolidations_sent;
};

/* One pass: partitions with no progress for longer than stale_ms (lock x max delivery) get
 * their continuation re-sent from next_offset; runs with no progress for stall_ms are reported
 * stalled (alert, once per run per process); runs whose partitions all completed but whose
 * CONSOLIDATE was never sent get it sent. */
enum dm_err dm_sweeper_pass(struct dm_sweeper *s, const struct dm_sched_env *env, int64_t stale_ms,
                            int64_t stall_ms, struct dm_sweep_report *rep,
                            struct dm_error *err) DM_MUST_CHECK;

#endif
