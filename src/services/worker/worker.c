/* worker.c - the ingestion worker: the per-message algorithm of pipeline.md §3 (see worker.h). */
#include "services/worker/worker.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/alert/alert.h"
#include "adapters/feed/feed.h"
#include "adapters/http/client.h"
#include "adapters/queue/consumer.h"
#include "adapters/queue/queue.h"
#include "app/adapter_opts.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/num.h"
#include "core/pgarray.h"
#include "core/signals.h"
#include "core/timeutil.h"
#include "domain/messages.h"
#include "domain/partition.h"
#include "services/dispatch/dispatch.h"
#include "services/worker/snapshot.h"
#include "store/runs.h"

struct worker {
    const struct dm_config *cfg;
    struct dm_db *db;
    struct dm_queue *queue;
    struct dm_feed *feeds[DM_FEEDS_MAX]; /* parallel to cfg->feeds; NULL: type not built in */
    struct dm_alert_sink *alert;
    char id[120];
    int concurrency;
    int max_delivery;
    int64_t lock_ms;
    atomic_llong pages, stones, errors;
};

/* ---- hot statements ------------------------------------------------------------------------ */

/* ---- the page's rows (the write itself is store/runs.h dm_runs_commit_page) -------- */

struct page_rows {
    struct dm_buf ids, sids, oids, payloads, hashes;
    int unique;
    int skipped;     /* items refused by the scanner or without diamond.id */
    json_t *refused; /* [{offerId, stoneId, reason}] of those, for the items_refused event */
};

static void page_rows_init(struct page_rows *pr)
{
    memset(pr, 0, sizeof(*pr));
    dm_buf_init(&pr->ids, 1 << 20);
    dm_buf_init(&pr->sids, 1 << 20);
    dm_buf_init(&pr->oids, 1 << 20);
    dm_buf_init(&pr->payloads, 64 << 20);
    dm_buf_init(&pr->hashes, 1 << 20);
}

static void page_rows_free(struct page_rows *pr)
{
    json_decref(pr->refused);
    dm_buf_free(&pr->ids);
    dm_buf_free(&pr->sids);
    dm_buf_free(&pr->oids);
    dm_buf_free(&pr->payloads);
    dm_buf_free(&pr->hashes);
}

/* An id as a JSON string, or null (ids are validated UTF-8; a long one is cut). */
static json_t *id_json(const char *id, size_t len)
{
    if (id == NULL)
        return json_null();
    json_t *j = json_stringn(id, len < 200 ? len : 200);
    return j ? j : json_null();
}

/* A stone the page does not store (refused by the scanner, or without diamond.id): kept for
 * the run's items_refused event, named by its ids (stoneId is diamond.id, offerId item.id). */
static void note_refused(struct page_rows *pr, const struct dm_feed_raw_item *it,
                         const char *reason)
{
    pr->skipped++;
    if (pr->refused == NULL)
        pr->refused = json_array();
    json_t *o = json_object();
    json_object_set_new(o, "stoneId", id_json(it->stone_id, it->stone_id_len));
    json_object_set_new(o, "offerId", id_json(it->offer_id, it->offer_id_len));
    json_t *r = json_string(reason);
    json_object_set_new(o, "reason", r ? r : json_string("unreadable item"));
    json_array_append_new(pr->refused, o);
}

/* Equal ids? */
static bool same_id(const struct dm_feed_raw_item *a, const struct dm_feed_raw_item *b)
{
    return a->stone_id_len == b->stone_id_len &&
           memcmp(a->stone_id, b->stone_id, a->stone_id_len) == 0;
}

/*
 * De-duplicate by diamond.id (the first occurrence wins) and build the upsert's array
 * parameters (PostgreSQL's binary text[], core/pgarray.h; new rows get time-ordered ids,
 * dm_uuid_v7, so they land at the right edge of the primary-key index). The payload is the item's
 * JSON text as the feed sent it (compacted), and the hash is the SHA-256 of exactly those bytes:
 * json keeps its input text, so payload::text hashes back to payload_hash.
 */
static enum dm_err build_rows(const struct dm_feed_raw_page *page, struct page_rows *pr,
                              struct dm_error *err)
{
    size_t n = page->n;
    /* An array of pointers: clang-tidy 14 misreads sizeof(*p) here (15 adds an option). */
    /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    const struct dm_feed_raw_item **seen = dm_xcalloc(n + 1, sizeof(*seen));
    uint8_t(*rnd)[10] = dm_xcalloc(n + 1, sizeof(*rnd));
    dm_random_bytes(rnd, (n + 1) * sizeof(*rnd));
    int64_t now_ms = dm_now_ms();
    enum dm_err e = dm_pgarray_bin_begin(&pr->ids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&pr->sids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&pr->oids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&pr->payloads);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&pr->hashes);
    for (size_t i = 0; i < n && e == DM_OK; i++) {
        const struct dm_feed_raw_item *it = &page->items[i];
        if (it->refused != NULL || it->stone_id == NULL) {
            note_refused(pr, it, it->refused ? it->refused : "missing diamond.id");
            continue;
        }
        bool dup = false;
        for (int k = 0; k < pr->unique && !dup; k++)
            dup = same_id(seen[k], it);
        if (dup)
            continue;
        seen[pr->unique++] = it;
        char hash[DM_SHA256_HEX_LEN];
        dm_sha256_hex(it->json, it->json_len, hash);
        char uuid[DM_UUID_LEN];
        dm_uuid_v7(now_ms, rnd[i], uuid);
        e = dm_pgarray_bin_add(&pr->ids, uuid, DM_UUID_LEN - 1);
        if (e == DM_OK)
            e = dm_pgarray_bin_add(&pr->sids, it->stone_id, it->stone_id_len);
        if (e == DM_OK && it->offer_id != NULL)
            e = dm_pgarray_bin_add(&pr->oids, it->offer_id, it->offer_id_len);
        else if (e == DM_OK)
            e = dm_pgarray_bin_add(&pr->oids, it->stone_id, it->stone_id_len);
        if (e == DM_OK)
            e = dm_pgarray_bin_add(&pr->payloads, it->json, it->json_len);
        if (e == DM_OK)
            e = dm_pgarray_bin_add(&pr->hashes, hash, DM_SHA256_HEX_LEN - 1);
    }
    if (e == DM_OK) {
        dm_pgarray_bin_end(&pr->ids, pr->unique);
        dm_pgarray_bin_end(&pr->sids, pr->unique);
        dm_pgarray_bin_end(&pr->oids, pr->unique);
        dm_pgarray_bin_end(&pr->payloads, pr->unique);
        dm_pgarray_bin_end(&pr->hashes, pr->unique);
    }
    free(rnd);
    free(seen);
    if (e != DM_OK)
        return dm_error_set(err, DM_ERR_TOO_LARGE, "page could not be assembled");
    return DM_OK;
}

/* ---- messages after commit ------------------------------------------------------------- */

static void completion_check(struct worker *w, const char *run_id, const struct dm_log_ctx *ctx)
{
    bool sent = false;
    struct dm_error err = {0};
    if (dm_dispatch_completion_check(w->db, w->queue, w->alert, run_id, &sent, &err) != DM_OK)
        dm_warn(ctx, "completion check failed (the sweeper's backstop covers it): %s", err.message);
}

/* ---- error path --------------------------------------------------------------------------- */

static enum dm_settle on_error(struct worker *w, const struct dm_work_item *wi,
                               const struct dm_queue_msg *m, enum dm_err code, const char *message,
                               const struct dm_log_ctx *ctx)
{
    atomic_fetch_add(&w->errors, 1);
    dm_runs_page_error(w->db, wi->run_id, wi->partition_id, message);
    bool final = m->delivery_count >= w->max_delivery || !dm_err_is_retryable(code);
    if (!final) {
        dm_warn(ctx, "page at offset %lld failed (delivery %d of %d), abandoning: %s",
                (long long)wi->offset, m->delivery_count, w->max_delivery, message);
        return DM_SETTLE_ABANDON;
    }
    /* Final delivery or non-retryable: mark failed once (only if this message is still the
     * partition's current one). */
    bool marked = false;
    int64_t records = 0;
    struct dm_error err = {0};
    if (dm_runs_fail_partition(w->db, wi->run_id, wi->partition_id, wi->offset, w->id, message,
                               &marked, &records, &err) != DM_OK) {
        dm_error(ctx, "could not mark the partition failed (will be redelivered): %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (marked) {
        dm_error(ctx, "partition failed at offset %lld after %d deliveries: %s",
                 (long long)wi->offset, m->delivery_count, message);
        dm_dispatch_work_done(w->queue, wi, w->id, records, false, message, ctx);
        completion_check(w, wi->run_id, ctx);
    }
    return DM_SETTLE_COMPLETE;
}

/* ---- one message, step by step ------------------------------------------------------------- */

/* One WORK_ITEM in hand: the message, its parsed body and, once loaded, its partition. */
struct job {
    struct worker *w;
    const struct dm_queue_msg *msg;
    struct dm_work_item wi;
    struct dm_log_ctx ctx;
    char feed_id[DM_FEED_ID_LEN + 1]; /* the run's feed (from the guard) */
    struct dm_feed *feed;             /* and this worker's client for it */
    int64_t next_offset;              /* the partition's committed offset */
    int64_t estimated;                /* its estimated records (the cap when capped) */
    bool capped;
};

/* What the page statement committed. */
struct page_commit {
    bool won;        /* this delivery's CAS committed the page (else another one did) */
    bool completed;  /* and it completed the partition */
    int64_t records; /* the partition's records after it */
};

/*
 * 1. Guards: load the partition and decide whether this message still needs its page. False
 * with *how set when it does not: the partition is over, the offset is a stale future, or the
 * page was committed already (its continuation is re-sent, the lost-continuation repair).
 */
static bool guard_passes(struct job *j, struct dm_delivery *d, enum dm_settle *how)
{
    struct worker *w = j->w;
    const struct dm_work_item *wi = &j->wi;
    struct dm_error err = {0};
    struct dm_partition_guard g;
    enum dm_err e = dm_runs_partition_guard(w->db, wi->run_id, wi->partition_id, &g, &err);
    if (e == DM_ERR_NOT_FOUND) {
        *how = dm_delivery_dead_letter(d, "unknown run or partition %s/%s", wi->run_id,
                                       wi->partition_id);
        return false;
    }
    if (e != DM_OK) {
        dm_warn(&j->ctx, "could not load the partition: %s", err.message);
        *how = DM_SETTLE_ABANDON;
        return false;
    }
    j->next_offset = g.next_offset;
    j->estimated = g.estimated_records;
    j->capped = g.capped;
    snprintf(j->feed_id, sizeof(j->feed_id), "%s", g.feed);
    bool terminal = g.terminal;
    *how = DM_SETTLE_COMPLETE;
    if (terminal)
        return false;
    /* A snapshot's one work item has no offsets to check (services/worker/snapshot.h). */
    if (dm_feed_snapshot(dm_config_feed(w->cfg, j->feed_id)))
        return true;
    if (wi->offset > j->next_offset) {
        dm_debug(&j->ctx, "stale future offset %lld (next %lld): ignored", (long long)wi->offset,
                 (long long)j->next_offset);
        return false;
    }
    if (wi->offset < j->next_offset) {
        /* The page was committed but its continuation may be lost: re-send it. */
        struct dm_work_item cont = *wi;
        cont.offset = j->next_offset;
        if (dm_dispatch_work_item(w->queue, &cont, NULL, &err) != DM_OK) {
            dm_warn(&j->ctx, "continuation repair failed: %s", err.message);
            *how = DM_SETTLE_ABANDON;
            return false;
        }
        dm_info(&j->ctx, "offset %lld already committed: continuation for %lld re-sent",
                (long long)wi->offset, (long long)j->next_offset);
        json_t *ev = json_pack("{s:I,s:s}", "offset", (json_int_t)j->next_offset, "by", "worker");
        dm_runs_event(w->db, wi->run_id, wi->partition_id, "continuation_repaired", ev);
        json_decref(ev);
        return false;
    }
    return true;
}

/* 1b. The run's feed: this worker's client for it. False with *how set (the error path, so
 * the partition fails visibly after the last delivery) when this worker cannot serve it. */
static bool pick_feed(struct job *j, enum dm_settle *how)
{
    const struct dm_config *cfg = j->w->cfg;
    for (int i = 0; i < cfg->n_feeds && i < DM_FEEDS_MAX; i++) {
        if (strcmp(cfg->feeds[i].id, j->feed_id) != 0)
            continue;
        j->feed = j->w->feeds[i];
        if (j->feed != NULL)
            return true;
        break;
    }
    char message[200];
    snprintf(message, sizeof(message), "feed %s is not %s by this worker (FEEDS=%.80s)", j->feed_id,
             dm_config_feed(cfg, j->feed_id) ? "served" : "configured",
             cfg->feeds_text ? cfg->feeds_text : "");
    *how = on_error(j->w, &j->wi, j->msg, DM_ERR_UNAVAILABLE, message, &j->ctx);
    return false;
}

/* 1c. A snapshot feed's run: the whole file in this one work item. */
static enum dm_settle read_snapshot(struct job *j)
{
    struct worker *w = j->w;
    struct dm_snapshot_env env = {.db = w->db,
                                  .queue = w->queue,
                                  .alert = w->alert,
                                  .worker_id = w->id,
                                  .max_delivery = w->max_delivery,
                                  .stones = &w->stones,
                                  .errors = &w->errors};
    const struct dm_feed_conf *conf = dm_feed_conf(j->feed);
    return dm_worker_snapshot(&env, j->feed, conf->id, conf->max_shrink, &j->wi, j->msg, &j->ctx);
}

/* 2. Fetch exactly one page: the message's limit, at most DM_PAGE_LIMIT, and no further than
 * the cap. False with *how set (the error path) when the feed failed. */
static bool fetch_page(struct job *j, struct dm_feed_raw_page *page, enum dm_settle *how)
{
    const struct dm_work_item *wi = &j->wi;
    int limit = wi->limit < DM_PAGE_LIMIT ? wi->limit : DM_PAGE_LIMIT;
    if (j->capped && j->estimated - wi->offset < limit)
        limit = j->estimated - wi->offset > 0 ? (int)(j->estimated - wi->offset) : 1;
    struct dm_feed_query q = {
        .price_from = wi->min_price,
        .price_to = wi->max_price >= DM_PARTITION_PRICE_MAX ? -1 : wi->max_price,
        .updated_from_ms = wi->updated_from_ms,
        .updated_to_ms = wi->updated_to_ms,
    };
    struct dm_error err = {0};
    enum dm_err e = dm_feed_fetch_page(j->feed, &q, wi->offset, limit, page, &err);
    if (e != DM_OK) {
        *how = on_error(j->w, wi, j->msg, e, err.message, &j->ctx);
        return false;
    }
    if (page->n > (size_t)limit) {
        /* The client refuses such a page already; the offset arithmetic relies on it. */
        char message[128];
        snprintf(message, sizeof(message), "feed page of %zu items for a limit of %d", page->n,
                 limit);
        dm_feed_raw_page_free(page);
        *how = on_error(j->w, wi, j->msg, DM_ERR_REMOTE, message, &j->ctx);
        return false;
    }
    return true;
}

/*
 * 3. Write the page: in-page de-duplication and the array parameters, then one statement
 * (store/runs.h dm_runs_commit_page: CAS + upsert + worker_runs + event). Consumes page (freed
 * before the statement runs: the rows hold their own copies). False with *how set (the error path)
 * when it failed.
 */
static bool write_page(struct job *j, struct dm_feed_raw_page *page, struct page_commit *pc,
                       enum dm_settle *how)
{
    struct worker *w = j->w;
    size_t n = page->n;
    struct dm_error err = {0};
    struct page_rows pr;
    page_rows_init(&pr);
    enum dm_err e = build_rows(page, &pr, &err);
    dm_feed_raw_page_free(page);
    if (e != DM_OK) {
        page_rows_free(&pr);
        *how = on_error(w, &j->wi, j->msg, DM_ERR_INVALID, err.message, &j->ctx);
        return false;
    }
    char *refused = NULL;
    if (pr.skipped) {
        refused = dm_json_dumps(pr.refused);
        dm_warn(&j->ctx, "%d item(s) refused at offset %lld (stored: %d): %.600s", pr.skipped,
                (long long)j->wi.offset, pr.unique, refused);
    }
    /* The CAS's completion rule, known before the statement: such a commit waits for its WAL. */
    bool may_complete = n == 0 || (j->capped && j->wi.offset + (int64_t)n >= j->estimated);
    struct dm_runs_page pg = {.run_id = j->wi.run_id,
                              .partition_id = j->wi.partition_id,
                              .feed = j->feed_id,
                              .worker_id = w->id,
                              .offset = j->wi.offset,
                              .fetched = (int64_t)n,
                              .unique = pr.unique,
                              .capped = j->capped,
                              .may_complete = may_complete,
                              .ids = &pr.ids,
                              .stone_ids = &pr.sids,
                              .offer_ids = &pr.oids,
                              .payloads = &pr.payloads,
                              .hashes = &pr.hashes,
                              .refused = refused};
    *pc = (struct page_commit){0};
    e = dm_runs_commit_page(w->db, &pg, &pc->won, &pc->completed, &pc->records, &err);
    int stored = pr.unique;
    page_rows_free(&pr);
    free(refused);
    if (e != DM_OK) {
        *how = on_error(w, &j->wi, j->msg, e, err.message, &j->ctx);
        return false;
    }
    if (pc->won) {
        atomic_fetch_add(&w->pages, 1);
        atomic_fetch_add(&w->stones, stored);
    }
    return true;
}

/* 4. After commit: the continuation (offset + page length) or, for the delivery whose CAS
 * completed the partition, WORK_DONE and the run's completion check. */
static enum dm_settle after_commit(struct job *j, size_t n, const struct page_commit *pc)
{
    struct worker *w = j->w;
    if (!pc->won) {
        /* CAS lost: another delivery committed this offset first. No side effects. */
        dm_debug(&j->ctx, "offset %lld committed by another delivery", (long long)j->wi.offset);
        return DM_SETTLE_COMPLETE;
    }
    if (!pc->completed) {
        struct dm_work_item cont = j->wi;
        cont.offset = j->wi.offset + (int64_t)n;
        struct dm_error err = {0};
        if (dm_dispatch_work_item(w->queue, &cont, NULL, &err) != DM_OK) {
            /* The redelivery of this message repairs it (offset < next_offset guard). */
            dm_warn(&j->ctx, "continuation send failed, abandoning for repair: %s", err.message);
            return DM_SETTLE_ABANDON;
        }
        return DM_SETTLE_COMPLETE;
    }
    dm_info(&j->ctx, "partition completed: %lld records", (long long)pc->records);
    dm_dispatch_work_done(w->queue, &j->wi, w->id, pc->records, true, NULL, &j->ctx);
    completion_check(w, j->wi.run_id, &j->ctx);
    return DM_SETTLE_COMPLETE;
}

/* The consumer's handler: parse, then guards, fetch, write, after-commit. */
static enum dm_settle handle_work_item(void *arg, struct dm_delivery *d)
{
    struct job j = {.w = arg, .msg = d->msg};
    struct dm_error err = {0};
    if (dm_work_item_parse(d->msg->body, strlen(d->msg->body), &j.wi, &err) != DM_OK)
        return dm_delivery_dead_letter(d, "invalid WORK_ITEM: %s", err.message);
    j.ctx = (struct dm_log_ctx){
        .run_id = j.wi.run_id, .partition_id = j.wi.partition_id, .trace_id = j.wi.trace_id};
    dm_delivery_set_ctx(d, &j.ctx);
    enum dm_settle how;
    if (!guard_passes(&j, d, &how))
        return how;
    if (!pick_feed(&j, &how))
        return how;
    if (dm_feed_snapshot(dm_feed_conf(j.feed)))
        return read_snapshot(&j);
    struct dm_feed_raw_page page = {0};
    if (!fetch_page(&j, &page, &how))
        return how;
    size_t n = page.n;
    struct page_commit pc;
    if (!write_page(&j, &page, &pc, &how))
        return how;
    return after_commit(&j, n, &pc);
}

enum dm_err dm_worker_run(struct dm_app *app, struct dm_error *err)
{
    dm_http_global_init();
    struct worker w = {.cfg = &app->cfg, .concurrency = app->cfg.worker_concurrency};
    enum dm_err rc = DM_OK;
    struct dm_consumer *consumer = NULL;
    /* Every handler needs a connection, plus the queue's and the renewer's. */
    if (app->cfg.database_pool_size < w.concurrency + 4) {
        char *conninfo = dm_config_conninfo(&app->cfg);
        struct dm_db *bigger = NULL;
        rc = dm_db_open(conninfo, w.concurrency + 4, &bigger, err);
        free(conninfo);
        if (rc != DM_OK)
            goto out;
        dm_db_free(app->db);
        app->db = bigger;
    }
    w.db = app->db;
    rc = dm_app_queue_open(&app->cfg, app->db, &w.queue, err);
    if (rc != DM_OK)
        goto out;
    const struct dm_queue_settings *qs = dm_queue_handle_settings(w.queue, DM_Q_WORK_ITEMS);
    w.max_delivery = qs->max_delivery;
    w.lock_ms = qs->lock_ms;
    /* Every configured feed; one whose type this build lacks is refused per work item. */
    for (int i = 0; i < app->cfg.n_feeds && i < DM_FEEDS_MAX; i++) {
        rc = dm_feed_open(&app->cfg, app->cfg.feeds[i].id, 0, &w.feeds[i], err);
        if (rc == DM_ERR_UNAVAILABLE) {
            dm_warn(NULL, "%s: its work items fail", err->message);
            rc = DM_OK;
        }
        if (rc != DM_OK)
            goto out;
    }
    w.alert = dm_app_alert_open(&app->cfg);
    char host[64] = "";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "worker");
    host[sizeof(host) - 1] = '\0';
    snprintf(w.id, sizeof(w.id), "%s:%ld", host, (long)getpid());
    /* Receive, settle and renew the lock of a page slower than half of it: the consumer. */
    struct dm_consumer_opts co = {.queue = w.queue,
                                  .name = DM_Q_WORK_ITEMS,
                                  .handle = handle_work_item,
                                  .arg = &w,
                                  .concurrency = w.concurrency,
                                  .renew_ms = dm_consumer_renew_ms(w.queue, DM_Q_WORK_ITEMS),
                                  .receive_retry_ms = 500};
    rc = dm_consumer_start(&co, &consumer, err);
    if (rc != DM_OK)
        goto out;
    int started = dm_consumer_threads(consumer);
    dm_info(NULL, "worker %s started: %d handler(s), lock %lld ms, max delivery %d", w.id, started,
            (long long)w.lock_ms, w.max_delivery);
    int64_t t0 = dm_mono_ms(), last_log = t0;
    long long last_stones = 0;
    while (!dm_stop_requested()) {
        dm_sleep_ms(200, NULL);
        int64_t now = dm_mono_ms();
        if (now - last_log >= 10000) {
            long long stones = atomic_load(&w.stones);
            dm_info(NULL, "progress: %lld pages, %lld stones (%.0f stones/s), %lld errors",
                    (long long)atomic_load(&w.pages), stones,
                    (double)(stones - last_stones) * 1000.0 / (double)(now - last_log),
                    (long long)atomic_load(&w.errors));
            last_log = now;
            last_stones = stones;
        }
    }
    dm_info(NULL, "stopping: finishing in-flight messages");
    dm_consumer_join(consumer);
    dm_info(NULL, "worker stopped: %lld pages, %lld stones, %lld errors",
            (long long)atomic_load(&w.pages), (long long)atomic_load(&w.stones),
            (long long)atomic_load(&w.errors));
out:
    dm_queue_free(w.queue);
    for (int i = 0; i < DM_FEEDS_MAX; i++)
        dm_feed_close(w.feeds[i]);
    dm_alert_free(w.alert);
    return rc;
}
