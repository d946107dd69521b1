/*
 * consolidator.h - stage two of a run (pipeline.md §4-§6): raw supplier JSON in the run's
 * feed's raw table (raw_diamonds_<feed>) becomes priced rows of `diamonds`, the watermark advances
 * only after a successful consolidation, and operators are alerted when it does not.
 *
 * A CONSOLIDATE is handled as:
 *   1. checks: unknown or cancelled run -> done (logged); already consolidated -> done;
 *      failed partitions without force -> "Consolidation skipped" alert, run skipped_at, done;
 *      unfinished partitions without force -> done (logged; the last worker sends it again).
 *   2. active pricing rules loaded once;
 *   3. batches (CONSOLIDATOR_BATCH_SIZE), each one transaction: claim pending raw rows (and
 *      `processing` rows of an older consolidator whose claim is older than 30 min) with
 *      SELECT .. FOR UPDATE SKIP LOCKED: the claim is the row lock, held by this transaction
 *      only (peers skip the rows; a crash or rollback frees them at once; a consolidator hung
 *      in its transaction loses them after 30 min, idle_in_transaction_session_timeout);
 *      map + price each; new stones COPY'd straight into diamonds, changed ones COPY'd into a
 *      per-connection TEMP staging table and one INSERT .. ON CONFLICT (feed,
 *      supplier_stone_id) DO UPDATE .. WHERE the content hash or a price differs or the stone
 *      was deleted; mark done only rows whose payload hash is the claimed one (a newer payload
 *      waits: a worker's rewrite blocks on the lock and, after this commit, makes the row
 *      pending again); failed rows get their reason; the run's stats grow in the same
 *      transaction (so a crash never double counts). Each raw row is rewritten once;
 *   4. when nothing is claimable and no row is pending or claimed elsewhere: removal (full,
 *      uncapped run without failed partitions) and reactivation of returning stones, the
 *      watermark advanced to the run's updated_to, the run completed last.
 * Any error: "Consolidation failed" alert, run_metadata.consolidation_failures + 1, the claim
 * in flight released, the message abandoned (the queue redelivers up to 3 times).
 * Both queues are consumed by the queue consumer (adapters/queue/consumer.h), which renews
 * the CONSOLIDATE message lock while it is handled.
 *
 * Several replicas may run at once: claims are disjoint, the final step is serialised per run.
 */
#ifndef DM_SERVICES_CONSOLIDATOR_H
#define DM_SERVICES_CONSOLIDATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/queue/consumer.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/app.h"
#include "core/error.h"
#include "domain/messages.h"
#include "domain/pricing.h"
#include "store/listings.h"

/* Claims older than this are considered abandoned (their consolidator died). */
#define DM_CLAIM_TIMEOUT_S 1800

struct dm_consolidator {
    const struct dm_config *cfg; /* the feeds (a run's feed maps its items) */
    struct dm_db *db;
    struct dm_queue *queue;
    struct dm_watermark_store *wm;
    struct dm_alert_sink *alert;
    int batch_size;
    int concurrency; /* batch loops (threads) per CONSOLIDATE, >= 1 */
    char instance_id[64];
    struct dm_listing_policy listing; /* OFFER_POLICY and feed priorities (store/listings.h) */
};

/* Options of the resident service. */
struct dm_consolidator_opts {
    int64_t sweep_interval_ms; /* sweeper period; 0 = no sweeper */
    int64_t stall_ms;          /* a run without progress this long is reported stalled */
};

/* Run the consolidator service on app's configuration and pool: the consolidate and work-done
 * receive loops and the sweeper, each on its own thread, until SIGTERM (the batch in flight
 * finishes, its message is abandoned for redelivery); then DM_OK. Errors (nothing left
 * running): the queue or the watermark store could not be opened ("queue: ...",
 * "watermark: ..."), a receive thread could not start. */
enum dm_err dm_consolidator_run(struct dm_app *app, const struct dm_consolidator_opts *o,
                                struct dm_error *err) DM_MUST_CHECK;

/* Handle one CONSOLIDATE (already parsed). Returns how to settle the message; failures have
 * been alerted and recorded. delivery_count is for logging only. */
enum dm_settle dm_consolidator_handle(struct dm_consolidator *cs, const struct dm_consolidate *m,
                                      int delivery_count);
/* Handle one WORK_DONE: timeline event and the CONSOLIDATE backstop. */
enum dm_settle dm_consolidator_work_done(struct dm_consolidator *cs, const struct dm_work_done *m);

/* Load the active pricing rules, sorted (priority, id). */
enum dm_err dm_consolidator_load_rules(struct dm_db_conn *c, struct dm_pricing_rule **rules,
                                       size_t *n, struct dm_error *err) DM_MUST_CHECK;

/* Totals of one or more batches. */
struct dm_consol_stats {
    int64_t processed, inserted, changed, unchanged, failed;
};

/* Claim and consolidate one batch for run_id of feed (the run's feed: its raw table, its
 * mapping). *claimed is 0 when nothing was claimable. */
enum dm_err dm_consolidator_batch(struct dm_consolidator *cs, const char *run_id, const char *feed,
                                  const struct dm_pricing_rule *rules, size_t nrules,
                                  struct dm_consol_stats *st, int *claimed,
                                  struct dm_error *err) DM_MUST_CHECK;

#endif
