/*
 * consolidate.c - handling one CONSOLIDATE (pipeline.md §4): run checks, the batch loop,
 * removal and reactivation, the watermark, completion, and the failure
 * path ("Consolidation failed" alert, failure count, abandon).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "app/feed_watermark.h"
#include "core/buf.h"
#include "core/failpoint.h"
#include "core/json.h"
#include "core/log.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "services/consolidator/consolidator.h"
#include "store/runs.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* Record a run event; detail is consumed. */
static void run_event(struct dm_db *db, const char *run_id, const char *event, json_t *detail)
{
    dm_runs_event(db, run_id, NULL, event, detail);
    json_decref(detail);
}

struct run_facts {
    bool found, full, capped, consolidated, cancelled;
    char feed[DM_FEED_ID_LEN + 1]; /* the run's feed: its raw table, mapping and watermark */
    int64_t updated_to_ms;
    int64_t partitions, completed, failed;
    char trace_id[DM_UUID_LEN];
};

/* The run's facts as the store derives them (store/runs.h: cancelled partitions are failed). */
static enum dm_err load_run(struct dm_db *db, const char *run_id, struct run_facts *f,
                            struct dm_error *err)
{
    memset(f, 0, sizeof(*f));
    struct dm_run run;
    enum dm_err e = dm_runs_get(db, run_id, false, &run, err);
    if (e == DM_ERR_NOT_FOUND)
        return DM_OK;
    if (e != DM_OK)
        return e;
    f->found = true;
    f->full = !strcmp(run.run_type, "full");
    f->capped = run.capped;
    f->updated_to_ms = run.updated_to_ms;
    f->consolidated = run.facts.completed_at_ms > 0;
    f->cancelled = run.facts.cancelled_at_ms > 0;
    snprintf(f->trace_id, sizeof(f->trace_id), "%s", run.trace_id);
    snprintf(f->feed, sizeof(f->feed), "%s", run.feed);
    f->partitions = run.facts.partitions;
    f->completed = run.facts.completed;
    f->failed = run.facts.failed;
    dm_run_clear(&run);
    return DM_OK;
}

/* Rows still to be settled once nothing was claimable: pending rows (locked by another
 * consolidator's batch in flight, or written by a worker just now: the next round claims
 * them) and live durable claims of an older consolidator version (until they expire). */
static enum dm_err claims_in_flight(struct dm_db *db, const char *feed, int64_t *n,
                                    struct dm_error *err)
{
    PGresult *r = NULL;
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", DM_CLAIM_TIMEOUT_S);
    const char *p[] = {timeout};
    enum dm_err e = dm_feed_query(db,
                                  "SELECT (SELECT count(*) FROM {raw} "
                                  "WHERE consolidation_status = 'pending') + "
                                  "(SELECT count(*) FROM {raw} "
                                  "WHERE consolidation_status = 'processing' "
                                  "AND claimed_at >= now() - make_interval(secs => $1))",
                                  feed, 1, p, &r, err);
    if (e == DM_OK && dm_db_get_i64(r, 0, 0, n) != DM_OK)
        e = dm_db_bad_value(r, 0, 0, "claims in flight", err);
    PQclear(r);
    return e;
}

/* Removal (full, uncapped, no failed partitions) and reactivation, serialised per run. */
/* r's columns 1 and 2: the identities and listing keys of the offers a removal or reactivation
 * changed; their listings are refreshed in the same transaction (takeover on removal). */
static enum dm_err refresh_listings(struct dm_db_conn *c, const struct dm_listing_policy *p,
                                    const PGresult *r, struct dm_error *err)
{
    if (!strcmp(dm_db_get(r, 0, 2), "{}"))
        return DM_OK;
    return dm_listings_refresh(c, p, dm_db_get(r, 0, 1), dm_db_get(r, 0, 2), NULL, err);
}

#define CHANGED_KEYS_SQL                                                                           \
    "coalesce(array_agg(identity_key) FILTER (WHERE identity_key IS NOT NULL), '{}')::text, "      \
    "coalesce(array_agg(listing_key), '{}')::text"

static enum dm_err finalise_catalogue(struct dm_db *db, const struct dm_listing_policy *lp,
                                      const char *run_id, const char *feed, bool removal,
                                      int64_t *removed, int64_t *reactivated, bool *already,
                                      struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    PGresult *r = NULL;
    *removed = *reactivated = 0;
    *already = false;
    const char *p[] = {run_id};
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    if (e != DM_OK)
        return e;
    e = dm_db_begin(c, err);
    /* Removals and reactivations choose listings again: the listings lock first, before the
     * run row (a batch holding the run row holds the listings lock already). */
    if (e == DM_OK)
        e = dm_listings_lock(c, err);
    /* The run row lock serialises the final step of concurrent deliveries for one run. */
    if (e == DM_OK)
        e = dm_runs_lock_final(c, run_id, already, err);
    /* Whole-table statements: JIT compilation costs more than it saves (~0.7 s a query). */
    if (e == DM_OK)
        e = dm_db_exec(c, "SET LOCAL jit = off", 0, NULL, NULL, err);
    if (e == DM_OK && !*already && removal) {
        dm_failpoint("consolidator.removal_pass");
        /* A whole-catalogue anti-join: never a nested loop, even before the tables were
         * analysed. Found by a read-only query, which PostgreSQL may run in parallel (an
         * UPDATE never is), then removed by key; in an unchanged run the list is empty. */
        e = dm_db_exec(c, "SET LOCAL enable_nestloop = off", 0, NULL, NULL, err);
        if (e == DM_OK)
            e = dm_feed_exec(c,
                             "SELECT coalesce(array_agg(d.id), '{}') FROM diamonds d "
                             "WHERE d.feed = {feed} AND d.status = 'active' AND NOT EXISTS ("
                             "SELECT 1 FROM {raw} r WHERE r.supplier_stone_id = "
                             "d.supplier_stone_id AND r.last_seen_run_id = $1)",
                             feed, 1, p, &r, err);
        /* The few stones found are re-checked by key (index lookups). */
        if (e == DM_OK)
            e = dm_db_exec(c, "RESET enable_nestloop", 0, NULL, NULL, err);
        if (e == DM_OK && strcmp(dm_db_get(r, 0, 0), "{}") != 0) {
            const char *gp[] = {dm_db_get(r, 0, 0), run_id};
            PGresult *g = NULL;
            e = dm_feed_exec(c,
                             "WITH gone AS (UPDATE diamonds d SET status = 'deleted', "
                             "deleted_at = now(), updated_at = now() "
                             "WHERE d.id = ANY ($1::uuid[]) AND d.status = 'active' "
                             "AND NOT EXISTS (SELECT 1 FROM {raw} r "
                             "WHERE r.supplier_stone_id = d.supplier_stone_id "
                             "AND r.last_seen_run_id = $2) "
                             "RETURNING d.identity_key, d.listing_key) "
                             "SELECT count(*), " CHANGED_KEYS_SQL " FROM gone",
                             feed, 2, gp, &g, err);
            if (e == DM_OK && dm_db_get_i64(g, 0, 0, removed) != DM_OK)
                e = dm_db_bad_value(g, 0, 0, "removals", err);
            if (e == DM_OK)
                e = refresh_listings(c, lp, g, err);
            PQclear(g);
        }
        PQclear(r);
        r = NULL;
    }
    /* A stone seen again whose raw payload did not change is not re-consolidated; bring it
     * back here (changed payloads are reactivated by the upsert). The deleted stones are few:
     * one lookup by the raw table's unique key each (a join could be planned as a nested loop
     * over all raw rows of the run, since the statistics know nothing of this run yet). */
    if (e == DM_OK && !*already) {
        e = dm_feed_exec(c,
                         "WITH back AS (UPDATE diamonds d SET status = 'active', "
                         "deleted_at = NULL, updated_at = now(), last_run_id = $1 "
                         "WHERE d.status = 'deleted' AND d.feed = {feed} AND ("
                         "SELECT r.last_seen_run_id = $1 AND r.consolidation_status = 'done' "
                         "FROM {raw} r WHERE r.supplier_stone_id = d.supplier_stone_id) "
                         "RETURNING d.identity_key, d.listing_key) "
                         "SELECT count(*), " CHANGED_KEYS_SQL " FROM back",
                         feed, 1, p, &r, err);
        if (e == DM_OK && dm_db_get_i64(r, 0, 0, reactivated) != DM_OK)
            e = dm_db_bad_value(r, 0, 0, "reactivations", err);
        if (e == DM_OK)
            e = refresh_listings(c, lp, r, err);
        PQclear(r);
        r = NULL;
    }
    if (e == DM_OK && !*already)
        e = dm_runs_add_removal_stats(c, run_id, *removed, *reactivated, err);
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    else
        dm_db_rollback(c);
    dm_db_release(c);
    return e;
}

static void record_failure(struct dm_consolidator *cs, const char *run_id,
                           const struct dm_log_ctx *ctx, const char *error)
{
    struct dm_error err = {0};
    if (dm_runs_consolidation_failed(cs->db, run_id, error, &err) != DM_OK)
        dm_error(ctx, "could not record the consolidation failure: %s", err.message);
    run_event(cs->db, run_id, "consolidation_failed", json_pack("{s:s}", "error", error));
    char *body = dm_xasprintf("Consolidation of run %s failed.\nError: %s\n"
                              "The watermark was not advanced; the message will be retried "
                              "(up to 3 deliveries).",
                              run_id, error);
    (void)dm_alert_send(cs->alert, ctx, "Consolidation failed", body);
    free(body);
}

/* ---- parallel batch loops --------------------------------------------------------------- */

struct loop_shared {
    struct dm_consolidator *cs;
    const char *run_id;
    const char *feed;
    const struct dm_pricing_rule *rules;
    size_t nrules;
    pthread_mutex_t mu;
    struct dm_consol_stats st;
    enum dm_err e;
    struct dm_error err;
};

/* Claim and consolidate batches until nothing is claimable or a peer loop failed. */
static void *batch_loop(void *arg)
{
    struct loop_shared *sh = arg;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        bool give_up = sh->e != DM_OK;
        pthread_mutex_unlock(&sh->mu);
        if (give_up)
            break;
        struct dm_consol_stats st = {0};
        struct dm_error err = {0};
        int claimed = 0;
        enum dm_err e = dm_stop_requested()
                            ? dm_error_set(&err, DM_ERR_SHUTDOWN, "stopping")
                            : dm_consolidator_batch(sh->cs, sh->run_id, sh->feed, sh->rules,
                                                    sh->nrules, &st, &claimed, &err);
        pthread_mutex_lock(&sh->mu);
        sh->st.processed += st.processed;
        sh->st.inserted += st.inserted;
        sh->st.changed += st.changed;
        sh->st.unchanged += st.unchanged;
        sh->st.failed += st.failed;
        if (e != DM_OK && sh->e == DM_OK) {
            sh->e = e;
            sh->err = err;
        }
        pthread_mutex_unlock(&sh->mu);
        if (e != DM_OK || claimed == 0)
            break;
    }
    return NULL;
}

static enum dm_err run_batches(struct dm_consolidator *cs, const char *run_id, const char *feed,
                               const struct dm_pricing_rule *rules, size_t nrules,
                               struct dm_consol_stats *st, struct dm_error *err)
{
    struct loop_shared sh = {
        .cs = cs, .run_id = run_id, .feed = feed, .rules = rules, .nrules = nrules};
    pthread_mutex_init(&sh.mu, NULL);
    int extra = cs->concurrency > 1 ? cs->concurrency - 1 : 0;
    if (extra > 15)
        extra = 15;
    pthread_t th[15];
    bool ok[15] = {false};
    for (int i = 0; i < extra; i++)
        ok[i] = pthread_create(&th[i], NULL, batch_loop, &sh) == 0;
    batch_loop(&sh);
    for (int i = 0; i < extra; i++)
        if (ok[i])
            pthread_join(th[i], NULL);
    pthread_mutex_destroy(&sh.mu);
    st->processed += sh.st.processed;
    st->inserted += sh.st.inserted;
    st->changed += sh.st.changed;
    st->unchanged += sh.st.unchanged;
    st->failed += sh.st.failed;
    if (sh.e != DM_OK && err)
        *err = sh.err;
    return sh.e;
}

/* ---- the handler ----------------------------------------------------------------------- */

static enum dm_err consolidate(struct dm_consolidator *cs, const struct dm_consolidate *m,
                               const struct run_facts *f, const struct dm_log_ctx *ctx,
                               struct dm_error *err)
{
    struct dm_pricing_rule *rules = NULL;
    size_t nrules = 0;
    struct dm_consol_stats st = {0};
    int64_t removed = 0, reactivated = 0;
    bool already = false;
    int64_t started = dm_mono_ms();
    enum dm_err e = dm_runs_consolidation_started(cs->db, m->run_id, err);
    if (e != DM_OK)
        return e;
    run_event(cs->db, m->run_id, "consolidation_started",
              json_pack("{s:b,s:s}", "force", m->force, "instance", cs->instance_id));
    {
        struct dm_db_conn *c = NULL;
        e = dm_db_acquire(cs->db, 30000, &c, err);
        if (e != DM_OK)
            return e;
        e = dm_consolidator_load_rules(c, &rules, &nrules, err);
        dm_db_release(c);
        if (e != DM_OK)
            return e;
    }
    dm_info(ctx, "consolidating with %zu active pricing rules, batches of %d x %d", nrules,
            cs->batch_size, cs->concurrency);
    /* Offers without a computed identity (written before migration 009, or by hand) get it
     * first, so the batches below meet every overlapping offer under its identity. */
    int64_t identified = 0;
    e = dm_listings_backfill(cs->db, &cs->listing, 5000, &identified, err);
    if (e != DM_OK)
        goto out;
    if (identified > 0)
        dm_info(ctx, "%lld offers given their stone identity (listings)", (long long)identified);

    /* Batches until nothing is claimable and no peer still holds a live claim. */
    for (;;) {
        e = run_batches(cs, m->run_id, f->feed, rules, nrules, &st, err);
        if (e != DM_OK)
            goto out;
        int64_t inflight = 0;
        e = claims_in_flight(cs->db, f->feed, &inflight, err);
        if (e != DM_OK)
            goto out;
        if (inflight == 0)
            break;
        dm_debug(ctx, "waiting for %lld rows pending or claimed by another consolidator",
                 (long long)inflight);
        dm_sleep_ms(250, &dm_stop_flag);
    }

    bool removal = f->full && !f->capped && f->failed == 0 && f->completed == f->partitions;
    e = finalise_catalogue(cs->db, &cs->listing, m->run_id, f->feed, removal, &removed,
                           &reactivated, &already, err);
    if (e != DM_OK || already)
        goto out; /* a peer finalised the run; this delivery's share is still logged below */

    struct dm_watermark wm = {.last_updated_at_ms = f->updated_to_ms,
                              .last_run_completed_at_ms = dm_now_ms()};
    snprintf(wm.last_run_id, sizeof(wm.last_run_id), "%s", m->run_id);
    dm_failpoint("consolidator.watermark_write");
    bool written = false;
    /* The run's feed's watermark: the default feed's store is open already. */
    if (!strcmp(f->feed, DM_FEED_DEFAULT)) {
        e = dm_watermark_advance(cs->wm, &wm, &written, err);
    } else {
        struct dm_watermark_store *wms = NULL;
        e = dm_app_feed_watermark_open(cs->cfg, f->feed, &wms, err);
        if (e == DM_OK)
            e = dm_watermark_advance(wms, &wm, &written, err);
        dm_watermark_free(wms);
    }
    if (e != DM_OK)
        goto out;

    int64_t duration = dm_mono_ms() - started;
    bool done = false;
    int64_t stat[6] = {0};
    e = dm_runs_consolidation_completed(cs->db, m->run_id, duration, f->updated_to_ms, &done, stat,
                                        err);
    if (e != DM_OK)
        goto out;
    if (done) {
        json_t *detail =
            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "processed", (json_int_t)stat[0],
                      "new", (json_int_t)stat[1], "changed", (json_int_t)stat[2], "unchanged",
                      (json_int_t)stat[3], "removed", (json_int_t)stat[4], "failed",
                      (json_int_t)stat[5], "reactivated", (json_int_t)reactivated, "durationMs",
                      (json_int_t)duration, "watermarkWritten", written);
        json_t *log_fields = json_deep_copy(detail);
        run_event(cs->db, m->run_id, "consolidation_completed", detail);
        dm_log_fields(DM_LOG_INFO, ctx, "consolidation completed", log_fields);
        json_decref(log_fields);
    }
out:
    if (e == DM_OK) {
        int64_t took = dm_mono_ms() - started;
        dm_info(ctx,
                "this delivery: %lld processed (%lld new, %lld changed, %lld unchanged, %lld "
                "failed), %lld removed, %lld reactivated in %lld ms (%.0f stones/s)%s",
                (long long)st.processed, (long long)st.inserted, (long long)st.changed,
                (long long)st.unchanged, (long long)st.failed, (long long)removed,
                (long long)reactivated, (long long)took,
                took > 0 ? (double)st.processed * 1000.0 / (double)took : 0.0,
                already ? "; the run was finalised by another consolidator" : "");
    }
    dm_pricing_rules_free(rules, nrules);
    return e;
}

/* Failed partitions and no force: alert, mark the run skipped, record why. */
static void skip_run(struct dm_consolidator *cs, const struct dm_consolidate *m,
                     const struct run_facts *f, const struct dm_log_ctx *ctx)
{
    struct dm_error err = {0};
    char *body =
        dm_xasprintf("Consolidation of run %s was skipped: %lld of %lld partitions failed, %lld "
                     "completed.\nThe watermark was not advanced. Retry the failed partitions "
                     "(diamond retry %s) or force it (diamond consolidate %s --force).",
                     m->run_id, (long long)f->failed, (long long)f->partitions,
                     (long long)f->completed, m->run_id, m->run_id);
    (void)dm_alert_send(cs->alert, ctx, "Consolidation skipped", body);
    free(body);
    if (dm_runs_mark_skipped(cs->db, m->run_id, &err) != DM_OK)
        dm_warn(ctx, "could not mark the run skipped: %s", err.message);
    run_event(cs->db, m->run_id, "consolidation_skipped",
              json_pack("{s:I,s:I,s:I}", "partitions", (json_int_t)f->partitions, "completed",
                        (json_int_t)f->completed, "failed", (json_int_t)f->failed));
}

/* The checks before any batch: false with *how set when this CONSOLIDATE has nothing to do
 * (unknown, consolidated or cancelled run; failed partitions without force: skipped;
 * unfinished partitions without force) or the run could not be read (failure recorded). */
static bool run_ready(struct dm_consolidator *cs, const struct dm_consolidate *m,
                      struct run_facts *f, const struct dm_log_ctx *ctx, enum dm_settle *how)
{
    struct dm_error err = {0};
    if (load_run(cs->db, m->run_id, f, &err) != DM_OK) {
        record_failure(cs, m->run_id, ctx, err.message);
        *how = DM_SETTLE_ABANDON;
        return false;
    }
    *how = DM_SETTLE_COMPLETE;
    if (!f->found) {
        dm_warn(ctx, "CONSOLIDATE for unknown run %s: ignored", m->run_id);
        return false;
    }
    if (f->consolidated) {
        dm_info(ctx, "run already consolidated: nothing to do");
        return false;
    }
    if (f->cancelled) {
        dm_warn(ctx, "run was cancelled: not consolidated");
        return false;
    }
    if (!m->force && f->failed > 0) {
        skip_run(cs, m, f, ctx);
        return false;
    }
    if (!m->force && f->completed < f->partitions) {
        dm_warn(ctx,
                "run has %lld of %lld partitions unfinished: not consolidated yet (the last "
                "worker sends CONSOLIDATE; use --force to consolidate anyway)",
                (long long)(f->partitions - f->completed), (long long)f->partitions);
        return false;
    }
    return true;
}

/* A consolidation that did not finish: abandoned for redelivery, at once when stopping, else
 * after recording the failure and a back-off. */
static enum dm_settle consolidation_failed(struct dm_consolidator *cs,
                                           const struct dm_consolidate *m, enum dm_err e,
                                           const struct dm_error *err, int delivery_count,
                                           const struct dm_log_ctx *ctx)
{
    if (e == DM_ERR_SHUTDOWN) {
        dm_info(ctx, "stopping: consolidation abandoned for redelivery");
        return DM_SETTLE_ABANDON;
    }
    dm_error(ctx, "consolidation failed: %s", err->message);
    record_failure(cs, m->run_id, ctx, err->message);
    /* Back off before the redelivery (the lock is still renewed): a transient cause gets time
     * to clear instead of burning the 3 deliveries within milliseconds. */
    int64_t backoff = 5000LL * (delivery_count > 0 ? delivery_count : 1);
    dm_sleep_ms(backoff < 30000 ? backoff : 30000, &dm_stop_flag);
    return DM_SETTLE_ABANDON;
}

enum dm_settle dm_consolidator_handle(struct dm_consolidator *cs, const struct dm_consolidate *m,
                                      int delivery_count)
{
    struct dm_log_ctx ctx = {.run_id = m->run_id, .trace_id = m->trace_id};
    struct run_facts f;
    enum dm_settle how;
    if (!run_ready(cs, m, &f, &ctx, &how))
        return how;
    dm_info(&ctx, "consolidating run (delivery %d%s)", delivery_count, m->force ? ", forced" : "");
    struct dm_error err = {0};
    enum dm_err e = consolidate(cs, m, &f, &ctx, &err);
    if (e != DM_OK)
        return consolidation_failed(cs, m, e, &err, delivery_count, &ctx);
    return DM_SETTLE_COMPLETE;
}
