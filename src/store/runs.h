/*
 * runs.h - the run store: the one owner of the run tables (run_metadata, partition_progress,
 * and the worker_runs / run_events rows that mirror and narrate them). Every statement that
 * reads or writes them is here, as PostgreSQL keeps one file per catalog; services, commands
 * and the API call these functions and never name the tables. The store sits between the
 * services and the adapters: it uses core/, domain/ and adapters/db only (no queue, no
 * alerts, no printing); messages that follow a state change are the caller's to send.
 *
 * The code: runs.c (runs, planning, retry, cancel, consolidation, events), partitions.c
 * (partition rows, the worker's statements), reports.c (read-only reports); store.h is private.
 *
 * Run state. A run's status is never stored: the store reads one row of facts per run (one
 * statement, RUN_SELECT in runs.c, the only place partitions are counted) and derives the
 * status with dm_run_status_derive() (domain/run_status.h) at load time. Everything that asks
 * "what state is this run in?" - the API's runs, `diamond status`, the scheduler's "is a run
 * in progress", the worker's completion check, the consolidator's decision, the sweeper -
 * reads it through struct dm_run, so they cannot disagree.
 *
 * Partition state. A partition is exactly one of:
 *   completed   completed = true
 *   failed      not completed, and failed = true OR cancelled = true
 *   running     anything else
 * A cancelled partition is a failed one (pipeline.md §6: "unfinished partitions become
 * failed"; `diamond run cancel` sets both flags): it counts in dm_run_facts.failed, in the
 * API's failedWorkers, in `diamond status`'s FAIL column and in the consolidator's "failed
 * partitions and no force: skipped", even when a row says cancelled without failed (written
 * by hand or by another version). dm_run.cancelled_partitions says how many of the failed
 * were cancelled; the partition lists show such a partition as "cancelled".
 *
 * Errors: DM_ERR_NOT_FOUND for an unknown run or partition, the db adapter's codes otherwise
 * (err filled). A value in a row that does not read as its type is DM_ERR_DB
 * (dm_db_bad_value), never taken as 0.
 *
 * Thread-safety: reentrant; a struct dm_db_conn argument is the caller's (one thread).
 */
#ifndef DM_STORE_RUNS_H
#define DM_STORE_RUNS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "adapters/db/db.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/feed_id.h"
#include "domain/messages.h"
#include "domain/run_status.h"

/* ---- runs ---------------------------------------------------------------------------- */

/* One run as stored, with its partition counts and its derived status. Times are ms since the
 * epoch, 0 = not set. Owns last_error and raw_counts (dm_run_clear). */
struct dm_run {
    char run_id[DM_UUID_LEN];
    char run_type[16]; /* "full" | "incremental" */
    char trace_id[DM_UUID_LEN];
    char feed[DM_FEED_ID_LEN + 1];
    struct dm_run_facts facts;
    enum dm_run_status status;    /* dm_run_status_derive(&facts, time of the load) */
    int64_t cancelled_partitions; /* of facts.failed, those cancelled */
    int64_t records;              /* sum of the partitions' records */
    int64_t updated_from_ms, updated_to_ms;
    int64_t watermark_before_ms, watermark_after_ms;
    int64_t estimated_records;
    int64_t count_queries;
    bool capped;
    int64_t stats_processed, stats_new, stats_changed, stats_unchanged, stats_removed, stats_failed;
    int64_t consolidation_duration_ms; /* -1 = not recorded */
    int64_t consolidation_failures;
    char *last_error; /* NULL = none */
    char *raw_counts; /* JSON object text (DM_RUNS_RAW_COUNTS), else NULL */
};
void dm_run_clear(struct dm_run *run);

struct dm_run_list {
    struct dm_run *runs;
    int n;
};
void dm_run_list_free(struct dm_run_list *l);

/* Which runs dm_runs_list returns: every condition set is ANDed; newest started first (ties by
 * run id), or newest completed first with completed_only. */
struct dm_runs_filter {
    const char *run_type; /* NULL = any */
    const char *feed;     /* NULL = any */
    bool has_started_after, has_started_before;
    int64_t started_after_ms;  /* with has_started_after: started_at >= */
    int64_t started_before_ms; /* with has_started_before: started_at <= */
    int recent_days;           /* 0 = no bound; started within the last n days (server clock) */
    bool completed_only;       /* completed_at set, ordered by completed_at */
    bool unfinished_only;      /* completed_at, cancelled_at, skipped_at all unset */
    bool raw_counts;           /* also fill raw_counts (from the raw table of each run's feed) */
    int limit;                 /* 1..10000 */
};

/* The run run_id (DM_ERR_NOT_FOUND when unknown). raw_counts as in dm_runs_filter. */
enum dm_err dm_runs_get(struct dm_db *db, const char *run_id, bool raw_counts, struct dm_run *out,
                        struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_runs_list(struct dm_db *db, const struct dm_runs_filter *f, struct dm_run_list *out,
                         struct dm_error *err) DM_MUST_CHECK;

/* Runs of feed (NULL = any feed) that are in progress: not terminal (dm_run_status_terminal),
 * among the 100 newest unfinished ones. A run in progress is per feed: one feed's run never
 * blocks another's. With recent_days > 0 only runs started within that many days count, and a
 * stalled run does not (the API's trigger: an operator cancels a stalled run); with 0 every
 * such run counts, stalled ones too (the scheduler). *count receives how many; first (may be
 * NULL) the newest one. conn may be NULL (a pooled connection is used). */
enum dm_err dm_runs_in_progress(struct dm_db *db, struct dm_db_conn *conn, const char *feed,
                                int recent_days, int *count, struct dm_run *first,
                                struct dm_error *err) DM_MUST_CHECK;

/* ---- planning -------------------------------------------------------------------------- */

struct dm_runs_new {
    const char *run_id, *trace_id, *run_type;
    const char *feed; /* NULL = DM_FEED_DEFAULT */
    int64_t updated_from_ms, updated_to_ms;
    int64_t estimated_records;
    int count_queries;
    bool capped;
    int64_t watermark_ms;             /* 0 = none */
    const struct dm_work_item *items; /* one per partition, offset 0 */
    int n;
};

/* One transaction on conn (outside one): the run_metadata row, a partition_progress and a
 * worker_runs row (work_item_payload = the item's JSON) per item, and the run_planned event. */
enum dm_err dm_runs_create(struct dm_db_conn *conn, const struct dm_runs_new *run,
                           struct dm_error *err) DM_MUST_CHECK;

/* ---- partitions ------------------------------------------------------------------------ */

enum dm_partition_status {
    DM_PARTITION_RUNNING = 0,
    DM_PARTITION_COMPLETED,
    DM_PARTITION_FAILED,
    DM_PARTITION_CANCELLED /* a failed partition that was cancelled */
};
const char *dm_partition_status_name(enum dm_partition_status s);
/* The state of a partition from its flags (see the top of this file). */
enum dm_partition_status dm_partition_status_of(bool completed, bool failed, bool cancelled);

struct dm_run_partition {
    char run_id[DM_UUID_LEN];
    char partition_id[DM_PARTITION_ID_MAX];
    int64_t min_price, max_price, estimated_records, records, next_offset;
    int64_t attempts, pages, page_errors;
    int64_t updated_at_ms;
    enum dm_partition_status status;
    char *last_error; /* NULL = none */
};
struct dm_run_partition_list {
    struct dm_run_partition *parts;
    int n;
    char run_type[16];
};
void dm_run_partition_list_free(struct dm_run_partition_list *l);

/* The partitions of the run whose id starts with run_prefix (4+ characters; a whole id works),
 * by price then id. An unknown run gives an empty list. */
enum dm_err dm_runs_partitions(struct dm_db *db, const char *run_prefix,
                               struct dm_run_partition_list *out,
                               struct dm_error *err) DM_MUST_CHECK;

/* A work item for a partition of a run (offset = next_offset, attempt = attempts). */
enum dm_err dm_runs_partition_item(struct dm_db *db, const char *run_id, const char *partition_id,
                                   struct dm_work_item *wi, struct dm_error *err) DM_MUST_CHECK;

/* What a worker checks before fetching a page (a hot, prepared statement). */
struct dm_partition_guard {
    char feed[DM_FEED_ID_LEN + 1]; /* the run's feed: which feed to fetch from, which raw table */
    int64_t next_offset;
    int64_t estimated_records;
    bool terminal; /* partition completed, failed or cancelled, or run cancelled */
    bool capped;   /* the run's estimate cap applies */
};
enum dm_err dm_runs_partition_guard(struct dm_db *db, const char *run_id, const char *partition_id,
                                    struct dm_partition_guard *g,
                                    struct dm_error *err) DM_MUST_CHECK;

/* One page a worker commits. The raw rows travel as binary text[] arrays (the worker builds
 * them); the CAS, the raw upsert, worker_runs, the partition_completed and items_refused events
 * are one statement (pipeline.md §3.4), which is why it lives here with the raw upsert. */
struct dm_runs_page {
    const char *run_id, *partition_id, *worker_id;
    const char *feed; /* the run's feed (its raw table); NULL = DM_FEED_DEFAULT */
    int64_t offset;
    int64_t fetched; /* items in the page (the offset advance) */
    int unique;      /* rows in the arrays */
    bool capped;
    bool may_complete; /* durable commit: this page may complete the partition */
    const struct dm_buf *ids, *stone_ids, *offer_ids, *payloads, *hashes; /* binary text[] */
    const char *refused; /* JSON array text of refused items, NULL = none */
};
/* *committed false: the CAS lost (another delivery committed this offset; nothing written).
 * Otherwise *completed says whether this page completed the partition, *records its total. */
enum dm_err dm_runs_commit_page(struct dm_db *db, const struct dm_runs_page *pg, bool *committed,
                                bool *completed, int64_t *records,
                                struct dm_error *err) DM_MUST_CHECK;

/* Count a failed page attempt (page_errors, last_error). Logs, never fails. */
void dm_runs_page_error(struct dm_db *db, const char *run_id, const char *partition_id,
                        const char *message);
/* Mark a partition failed once, only while next_offset = offset and it is neither completed
 * nor failed; its worker_runs row too, and a partition_failed event. *marked tells whether this
 * call did it (then *records is the partition's records). */
enum dm_err dm_runs_fail_partition(struct dm_db *db, const char *run_id, const char *partition_id,
                                   int64_t offset, const char *worker_id, const char *message,
                                   bool *marked, int64_t *records,
                                   struct dm_error *err) DM_MUST_CHECK;

/* Partitions of runs not cancelled with no progress for stale_ms: (run_id, partition_id)
 * pairs, oldest first, at most 500. The caller frees the array. */
struct dm_partition_ref {
    char run_id[DM_UUID_LEN];
    char partition_id[DM_PARTITION_ID_MAX];
};
enum dm_err dm_runs_stale_partitions(struct dm_db *db, int64_t stale_ms,
                                     struct dm_partition_ref **out, int *n,
                                     struct dm_error *err) DM_MUST_CHECK;

/* Runs neither cancelled nor completed with running partitions and no partition progress for
 * stall_ms. The caller frees the array. */
struct dm_run_stall {
    char run_id[DM_UUID_LEN];
    int64_t unfinished;
    char last_progress[40]; /* as PostgreSQL prints it */
};
enum dm_err dm_runs_stalled(struct dm_db *db, int64_t stall_ms, struct dm_run_stall **out, int *n,
                            struct dm_error *err) DM_MUST_CHECK;

/* ---- retry and cancel ------------------------------------------------------------------ */

enum dm_runs_retry_state { DM_RUNS_RETRY_DONE = 0, DM_RUNS_RETRY_NO_RUN, DM_RUNS_RETRY_CANCELLED };
/* Reset the failed (not cancelled, not completed) partitions of a run, or only partition_id
 * when not NULL: failed cleared, attempts + 1, next_offset kept; their worker_runs rows back to
 * running; with clear_skipped, the run's skipped_at cleared when any was reset. *ids receives
 * the reset partitions' ids in order (caller frees), *n how many. */
enum dm_err dm_runs_retry_reset(struct dm_db *db, const char *run_id, const char *partition_id,
                                bool clear_skipped, enum dm_runs_retry_state *state,
                                struct dm_partition_ref **ids, int *n,
                                struct dm_error *err) DM_MUST_CHECK;

/* What dm_runs_cancel found (valid when it returns DM_OK). */
enum dm_runs_cancel_state {
    DM_RUNS_CANCEL_DONE = 0,          /* cancelled now; *cancelled partitions were cancelled */
    DM_RUNS_CANCEL_NO_RUN,            /* no run with this id: nothing changed */
    DM_RUNS_CANCEL_ALREADY_CANCELLED, /* cancelled before: nothing changed */
    DM_RUNS_CANCEL_ALREADY_COMPLETED  /* completed (consolidated) before: nothing changed */
};
/* Cancel a run in one transaction on conn (outside one; left outside one): lock its row; an
 * unknown, cancelled or completed run changes nothing. Otherwise set cancelled_at, mark the
 * unfinished partitions (not completed, not cancelled) failed + cancelled (last_error
 * 'cancelled' unless one is set), their worker_runs rows failed, record a run_cancelled event
 * {"partitionsCancelled": n}, commit. */
enum dm_err dm_runs_cancel(struct dm_db_conn *conn, const char *run_id,
                           enum dm_runs_cancel_state *state, int64_t *cancelled,
                           struct dm_error *err) DM_MUST_CHECK;

/* ---- consolidation --------------------------------------------------------------------- */

/* What a CONSOLIDATE message needs. */
struct dm_runs_consolidate_ref {
    char trace_id[DM_UUID_LEN];
    int64_t updated_to_ms;
    bool completed; /* the run was consolidated before */
};
/* Claim the one automatic CONSOLIDATE: set consolidate_sent_at only if it is unset, the run is
 * neither completed nor cancelled, it has partitions and all are completed. *claimed tells
 * whether this call won (then *ref is filled). */
enum dm_err dm_runs_claim_consolidate(struct dm_db *db, const char *run_id, bool *claimed,
                                      struct dm_runs_consolidate_ref *ref,
                                      struct dm_error *err) DM_MUST_CHECK;
/* Give the claim back (the send failed): the sweeper's backstop sends it later. */
enum dm_err dm_runs_unclaim_consolidate(struct dm_db *db, const char *run_id,
                                        struct dm_error *err) DM_MUST_CHECK;
/* A CONSOLIDATE asked by hand (CLI, API): set consolidate_sent_at unless already set; *ref
 * filled. DM_ERR_NOT_FOUND for an unknown run. */
enum dm_err dm_runs_note_consolidate_sent(struct dm_db *db, const char *run_id,
                                          struct dm_runs_consolidate_ref *ref,
                                          struct dm_error *err) DM_MUST_CHECK;
/* Run ids with every expected partition completed, no CONSOLIDATE sent, not cancelled nor
 * completed (the sweeper's backstop). The caller frees the array. */
enum dm_err dm_runs_awaiting_consolidate(struct dm_db *db, struct dm_partition_ref **ids, int *n,
                                         struct dm_error *err) DM_MUST_CHECK;

enum dm_err dm_runs_consolidation_started(struct dm_db *db, const char *run_id,
                                          struct dm_error *err) DM_MUST_CHECK;
/* consolidation_failures + 1, consolidation_failed_at, last_error. */
enum dm_err dm_runs_consolidation_failed(struct dm_db *db, const char *run_id, const char *error,
                                         struct dm_error *err) DM_MUST_CHECK;
enum dm_err dm_runs_mark_skipped(struct dm_db *db, const char *run_id,
                                 struct dm_error *err) DM_MUST_CHECK;
/* Inside the caller's transaction: lock the run row (serialises the final step of concurrent
 * deliveries); *already when the run is completed. */
enum dm_err dm_runs_lock_final(struct dm_db_conn *conn, const char *run_id, bool *already,
                               struct dm_error *err) DM_MUST_CHECK;
/* Inside the caller's transaction: add a batch's statistics. */
struct dm_runs_batch_stats {
    int64_t processed, inserted, changed, unchanged, failed;
};
enum dm_err dm_runs_add_batch_stats(struct dm_db_conn *conn, const char *run_id,
                                    const struct dm_runs_batch_stats *s,
                                    struct dm_error *err) DM_MUST_CHECK;
/* Inside the caller's transaction: add removals and reactivations. */
enum dm_err dm_runs_add_removal_stats(struct dm_db_conn *conn, const char *run_id, int64_t removed,
                                      int64_t reactivated, struct dm_error *err) DM_MUST_CHECK;
/* Mark the run consolidated and completed (only once: *done false when it already was); on
 * *done, stats[6] receives processed, new, changed, unchanged, removed, failed (an unreadable
 * counter is logged and read as 0: the run is completed all the same). */
enum dm_err dm_runs_consolidation_completed(struct dm_db *db, const char *run_id,
                                            int64_t duration_ms, int64_t watermark_ms, bool *done,
                                            int64_t stats[6], struct dm_error *err) DM_MUST_CHECK;

/* ---- events ---------------------------------------------------------------------------- */

/* Record a run event (run_events); partition_id and detail may be NULL (detail borrowed).
 * Failures are logged, never fatal. */
void dm_runs_event(struct dm_db *db, const char *run_id, const char *partition_id,
                   const char *event, const json_t *detail);
/* Record a partition's WORK_DONE event once per (run, partition, event): *known false when the
 * run does not exist (nothing recorded). */
enum dm_err dm_runs_event_once(struct dm_db *db, const char *run_id, const char *partition_id,
                               const char *event, const json_t *detail, bool *known,
                               struct dm_error *err) DM_MUST_CHECK;

/* ---- reports (read-only; rows for the API's generic renderer, named columns) ----------- */

/* Partitions of a run with their worker_runs row (the run page). */
enum dm_err dm_runs_report_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                      struct dm_error *err) DM_MUST_CHECK;
/* worker_runs of a run in the reference's WorkerRun shape. */
enum dm_err dm_runs_report_workers(struct dm_db *db, const char *run_id, PGresult **out,
                                   struct dm_error *err) DM_MUST_CHECK;
/* run_events of a run, oldest first, at most 2000. */
enum dm_err dm_runs_report_events(struct dm_db *db, const char *run_id, PGresult **out,
                                  struct dm_error *err) DM_MUST_CHECK;
/* Failed partitions of a run with their worker row (retry candidates). */
enum dm_err dm_runs_report_failed_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                             struct dm_error *err) DM_MUST_CHECK;
/* Failed worker_runs across runs (run_id NULL = all), newest first, at most limit. */
enum dm_err dm_runs_report_failed_workers(struct dm_db *db, const char *run_id, int limit,
                                          PGresult **out, struct dm_error *err) DM_MUST_CHECK;

/* run_metadata as the allowlisted query endpoint reads it: every column plus
 * completed_workers and failed_workers counted as above, named run_metadata (a FROM item). */
extern const char DM_RUNS_QUERY_RELATION[];

/* Run-table figures for /metrics and `diamond check`. */
struct dm_runs_figures {
    int64_t pages, page_errors;         /* all partitions */
    int64_t pages_24h, page_errors_24h; /* partitions updated in the last 24 h */
    int64_t check_pages, check_errors;  /* updated or failed a page in the last 24 h */
    int64_t runs_consolidated;          /* consolidation_completed_at set */
    int64_t consolidation_failures;     /* all runs */
    int64_t consolidation_failures_24h; /* runs whose last failure is within 24 h */
    int64_t failure_weight_24h;         /* sum of max(failures, 1) over those runs */
    int64_t failed_runs_24h;            /* those runs */
    int64_t runs;
    int64_t last_completed_updated_to_ms; /* 0 = none */
};
enum dm_err dm_runs_figures(struct dm_db *db, struct dm_runs_figures *out,
                            struct dm_error *err) DM_MUST_CHECK;
/* Per feed, the completion time of its last completed run: feed, last_run_completed_at. */
enum dm_err dm_runs_report_feed_completions(struct dm_db *db, PGresult **out,
                                            struct dm_error *err) DM_MUST_CHECK;
/* Per feed with runs, `diamond check`'s 24-hour figures (struct dm_runs_figures' check_pages,
 * check_errors, failure_weight_24h, failed_runs_24h, each of that feed's runs only) and its
 * last_completed_updated_to_ms (NULL: none): feed, check_pages, check_errors,
 * failure_weight_24h, failed_runs_24h, last_completed_updated_to_ms; ordered by feed. */
enum dm_err dm_runs_report_feed_checks(struct dm_db *db, PGresult **out,
                                       struct dm_error *err) DM_MUST_CHECK;
/* The 20 newest completed runs: run_type, duration in seconds (text), run_id. */
enum dm_err dm_runs_report_durations(struct dm_db *db, PGresult **out,
                                     struct dm_error *err) DM_MUST_CHECK;

#endif
