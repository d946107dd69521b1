/* snapshot.c - the worker's file-feed path: one WORK_ITEM streams a whole snapshot into the
 * feed's raw table (see snapshot.h). */
#include "services/worker/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/pgarray.h"
#include "core/signals.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "domain/snapshot.h"
#include "domain/stock_ids.h"
#include "services/dispatch/dispatch.h"
#include "store/runs.h"
#include "store/snapshots.h"

/* Not-carried rows kept as examples in the snapshot_read event. */
#define NOT_CARRIED_SAMPLE 20

/* The rows of one batch, as the batch statement's parameters. */
struct batch {
    struct dm_buf ids, sids, oids, payloads, hashes;
    int n;
    json_t *refused;                         /* row_refused event details of this batch, or NULL */
    uint8_t rnd[DM_SNAPSHOT_BATCH_ROWS][10]; /* random bits of the new rows' ids */
};

/* One read in progress. */
struct reader {
    const struct dm_snapshot_env *env;
    const char *feed_id;
    const struct dm_work_item *wi;
    struct batch *b;
    /* Every stock id of the read with its first line: a repeat anywhere in the file is a bad
     * row (the first one is kept), not a silent overwrite by a later batch. */
    struct dm_stock_ids *seen;
    int64_t rows_read; /* rows delivered (good, bad, not carried): the partition's next_offset */
    int64_t stored;    /* rows written to the raw table in this read */
    int64_t bad, not_carried, reported;
    json_t *nc_sample;
    int64_t last_flush_ms;
    bool over; /* the partition ended meanwhile (cancelled, completed by another delivery) */
    struct dm_error err;
};

static void batch_start(struct batch *b)
{
    dm_buf_reset(&b->ids);
    dm_buf_reset(&b->sids);
    dm_buf_reset(&b->oids);
    dm_buf_reset(&b->payloads);
    dm_buf_reset(&b->hashes);
    b->n = 0;
    json_decref(b->refused);
    b->refused = NULL;
    dm_random_bytes(b->rnd, sizeof(b->rnd));
    /* Bounded far above a batch of real rows; a batch that reaches a bound is written early. */
    enum dm_err e = dm_pgarray_bin_begin(&b->ids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&b->sids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&b->oids);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&b->payloads);
    if (e == DM_OK)
        e = dm_pgarray_bin_begin(&b->hashes);
    (void)e; /* 20 bytes into empty buffers bounded at megabytes: cannot fail */
}

static struct batch *batch_new(void)
{
    struct batch *b = dm_xcalloc(1, sizeof(*b));
    dm_buf_init(&b->ids, (size_t)1 << 20);
    dm_buf_init(&b->sids, (size_t)1 << 20);
    dm_buf_init(&b->oids, (size_t)1 << 20);
    dm_buf_init(&b->payloads, (size_t)64 << 20);
    dm_buf_init(&b->hashes, (size_t)1 << 20);
    batch_start(b);
    return b;
}

static void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    dm_buf_free(&b->ids);
    dm_buf_free(&b->sids);
    dm_buf_free(&b->oids);
    dm_buf_free(&b->payloads);
    dm_buf_free(&b->hashes);
    json_decref(b->refused);
    free(b);
}

/* ---- writing ------------------------------------------------------------------------------- */

static enum dm_err flush(struct reader *r)
{
    struct batch *b = r->b;
    dm_pgarray_bin_end(&b->ids, b->n);
    dm_pgarray_bin_end(&b->sids, b->n);
    dm_pgarray_bin_end(&b->oids, b->n);
    dm_pgarray_bin_end(&b->payloads, b->n);
    dm_pgarray_bin_end(&b->hashes, b->n);
    char *refused = b->refused ? dm_json_dumps(b->refused) : NULL;
    struct dm_snapshot_batch sb = {.feed = r->feed_id,
                                   .run_id = r->wi->run_id,
                                   .partition_id = r->wi->partition_id,
                                   .worker_id = r->env->worker_id,
                                   .read_to = r->rows_read,
                                   .stored = r->stored + b->n,
                                   .unique = b->n,
                                   .ids = &b->ids,
                                   .stone_ids = &b->sids,
                                   .offer_ids = &b->oids,
                                   .payloads = &b->payloads,
                                   .hashes = &b->hashes,
                                   .refused = refused};
    bool live = false, advanced = false;
    enum dm_err e = dm_snapshot_commit_batch(r->env->db, &sb, &live, &advanced, &r->err);
    free(refused);
    if (e != DM_OK)
        return e;
    if (!live) {
        r->over = true;
        return dm_error_set(&r->err, DM_ERR_CONFLICT, "the partition ended during the read");
    }
    r->stored += b->n;
    atomic_fetch_add(r->env->stones, b->n);
    r->last_flush_ms = dm_mono_ms();
    batch_start(b);
    return DM_OK;
}

/* text as a JSON string: a byte that is not part of well-formed UTF-8 (a message cut inside a
 * character) becomes '?', so the event always stores. */
static json_t *clean_string(const char *text)
{
    size_t n = strlen(text);
    char *copy = dm_xstrdup(text);
    for (size_t i = 0; i < n;) {
        size_t k = dm_text_utf8_len((const unsigned char *)copy + i, n - i);
        if (k == 0) {
            copy[i++] = '?';
            continue;
        }
        i += k;
    }
    json_t *j = json_string(copy);
    free(copy);
    return j ? j : json_string("?");
}

static void ascii_or_empty(char *s)
{
    for (const char *p = s; *p; p++)
        if (*p < 0x20 || *p > 0x7e) {
            s[0] = '\0';
            return;
        }
}

/* A bad row: counted; the run's first DM_SNAPSHOT_BAD_ROWS_REPORTED get their own event. */
static void note_bad(struct reader *r, const struct dm_feed_row *row, const char *why)
{
    if (row->not_carried) {
        r->not_carried++;
        if (json_array_size(r->nc_sample) < NOT_CARRIED_SAMPLE)
            json_array_append_new(r->nc_sample,
                                  json_pack("{s:I,s:o}", "line", (json_int_t)row->line, "stockId",
                                            clean_string(row->stone_id ? row->stone_id : "")));
        return;
    }
    r->bad++;
    if (r->reported >= DM_SNAPSHOT_BAD_ROWS_REPORTED)
        return;
    r->reported++;
    if (r->b->refused == NULL)
        r->b->refused = json_array();
    json_array_append_new(r->b->refused,
                          json_pack("{s:I,s:I,s:o,s:o}", "row", (json_int_t)r->rows_read, "line",
                                    (json_int_t)row->line, "stockId",
                                    clean_string(row->stone_id ? row->stone_id : ""), "reason",
                                    clean_string(why)));
}

static enum dm_err add_good(struct reader *r, const struct dm_feed_row *row)
{
    struct batch *b = r->b;
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(row->json, row->json_len, hash);
    char uuid[DM_UUID_LEN];
    dm_uuid_v7(dm_now_ms(), b->rnd[b->n], uuid);
    enum dm_err e = dm_pgarray_bin_add(&b->ids, uuid, DM_UUID_LEN - 1);
    if (e == DM_OK)
        e = dm_pgarray_bin_add(&b->sids, row->stone_id, strlen(row->stone_id));
    if (e == DM_OK)
        e = dm_pgarray_bin_add(&b->oids, row->offer_id, strlen(row->offer_id));
    if (e == DM_OK)
        e = dm_pgarray_bin_add(&b->payloads, row->json, row->json_len);
    if (e == DM_OK)
        e = dm_pgarray_bin_add(&b->hashes, hash, DM_SHA256_HEX_LEN - 1);
    if (e != DM_OK)
        return dm_error_set(&r->err, DM_ERR_TOO_LARGE, "batch could not be assembled");
    b->n++;
    return DM_OK;
}

static enum dm_err on_row(void *ctx, const struct dm_feed_row *row)
{
    struct reader *r = ctx;
    r->rows_read++;
    if (row->json == NULL || row->stone_id == NULL || row->stone_id[0] == '\0') {
        note_bad(r, row, row->refused ? row->refused : "no stock id");
    } else {
        uint64_t first = dm_stock_ids_seen(r->seen, row->stone_id, row->line);
        if (first == 0 && dm_stock_ids_full(r->seen))
            /* A repeat could no longer be told (and two rows of one stone in a batch fail its
             * statement): a file this large is over the worker's bound, refused. */
            return dm_error_set(&r->err, DM_ERR_TOO_LARGE,
                                "the file has more than %u distinct stock ids (or %zu MB of "
                                "them) by line %llu: over the worker's bound",
                                DM_STOCK_IDS_MAX, DM_STOCK_IDS_ARENA_MAX >> 20,
                                (unsigned long long)row->line);
        if (first != 0) {
            char why[96];
            snprintf(why, sizeof(why), "duplicate stock id, first seen on line %llu",
                     (unsigned long long)first);
            struct dm_feed_row dup = *row;
            dup.not_carried = false;
            note_bad(r, &dup, why);
        } else {
            enum dm_err e = add_good(r, row);
            if (e != DM_OK)
                return e;
        }
    }
    /* Big payloads fill the batch's byte bounds first: write before the next row could fail. */
    if (r->b->n >= DM_SNAPSHOT_BATCH_ROWS || r->b->payloads.len > ((size_t)48 << 20) ||
        r->b->sids.len > ((size_t)900 << 10) ||
        dm_mono_ms() - r->last_flush_ms >= DM_SNAPSHOT_BATCH_MS)
        return flush(r);
    return DM_OK;
}

static int should_abort(void)
{
    return dm_stop_requested();
}

/* ---- after the read ------------------------------------------------------------------------ */

static void send_work_done(const struct dm_snapshot_env *env, const struct dm_work_item *wi,
                           int64_t records, bool success, const char *error,
                           const struct dm_log_ctx *ctx)
{
    dm_dispatch_work_done(env->queue, wi, env->worker_id, records, success, error, ctx);
    struct dm_error err = {0};
    bool sent = false;
    if (dm_dispatch_completion_check(env->db, env->queue, env->alert, wi->run_id, &sent, &err) !=
        DM_OK)
        dm_warn(ctx, "completion check failed (the sweeper's backstop covers it): %s", err.message);
}

/* Fail the partition (once) with message; event/detail as dm_snapshot_fail; alert when
 * subject is set. */
static enum dm_settle fail(const struct dm_snapshot_env *env, const struct dm_work_item *wi,
                           const char *feed_id, const char *message, const char *event,
                           const json_t *detail, const char *subject, const struct dm_log_ctx *ctx)
{
    atomic_fetch_add(env->errors, 1);
    bool marked = false;
    int64_t records = 0, withheld = 0;
    struct dm_error err = {0};
    if (dm_snapshot_fail(env->db, feed_id, wi->run_id, wi->partition_id, env->worker_id, message,
                         event, detail, &marked, &records, &withheld, &err) != DM_OK) {
        dm_error(ctx, "could not mark the partition failed (will be redelivered): %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (!marked)
        return DM_SETTLE_COMPLETE; /* another delivery ended it */
    dm_error(ctx,
             "file feed %s: snapshot failed (%lld rows it wrote withheld from consolidation): %s",
             feed_id, (long long)withheld, message);
    if (subject != NULL) {
        char *body = dm_xasprintf("Feed %s, run %s: %s\nNothing was removed from the catalogue; "
                                  "the run fails and the next run reads the file again.",
                                  feed_id, wi->run_id, message);
        (void)dm_alert_send(env->alert, ctx, subject, body);
        free(body);
    }
    send_work_done(env, wi, records, false, message, ctx);
    return DM_SETTLE_COMPLETE;
}

/* A read that did not finish: retried by redelivery unless it cannot get better. */
static enum dm_settle read_failed(const struct dm_snapshot_env *env, const struct dm_work_item *wi,
                                  const struct dm_queue_msg *msg, const char *feed_id,
                                  enum dm_err code, bool truncated, const char *message,
                                  const struct dm_log_ctx *ctx)
{
    if (code == DM_ERR_SHUTDOWN) {
        dm_info(ctx, "stopping: snapshot read abandoned for redelivery");
        return DM_SETTLE_ABANDON;
    }
    dm_runs_page_error(env->db, wi->run_id, wi->partition_id, message);
    bool final = msg->delivery_count >= env->max_delivery || !dm_err_is_retryable(code);
    if (!final) {
        atomic_fetch_add(env->errors, 1);
        dm_warn(ctx, "snapshot read failed (delivery %d of %d), abandoning: %s",
                msg->delivery_count, env->max_delivery, message);
        return DM_SETTLE_ABANDON;
    }
    json_t *detail = json_pack("{s:s,s:b}", "error", message, "truncated", truncated);
    enum dm_settle how = fail(env, wi, feed_id, message, "snapshot_refused", detail,
                              truncated || code == DM_ERR_INVALID ? "File feed snapshot refused"
                                                                  : "File feed snapshot failed",
                              ctx);
    json_decref(detail);
    return how;
}

enum dm_settle dm_worker_snapshot(const struct dm_snapshot_env *env, struct dm_feed *feed,
                                  const char *feed_id, double max_shrink,
                                  const struct dm_work_item *wi, const struct dm_queue_msg *msg,
                                  const struct dm_log_ctx *ctx)
{
    struct dm_error err = {0};
    struct dm_partition_guard g;
    enum dm_err e = dm_runs_partition_guard(env->db, wi->run_id, wi->partition_id, &g, &err);
    if (e == DM_ERR_NOT_FOUND) {
        dm_warn(ctx, "unknown run or partition %s/%s: dropped", wi->run_id, wi->partition_id);
        return DM_SETTLE_COMPLETE;
    }
    if (e != DM_OK) {
        dm_warn(ctx, "could not load the partition: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    if (g.terminal)
        return DM_SETTLE_COMPLETE;
    struct dm_snapshot_record prev;
    e = dm_snapshot_load(env->db, feed_id, wi->run_id, &prev, &err);
    if (e != DM_OK) {
        dm_warn(ctx, "could not load the previous snapshot: %s", err.message);
        return DM_SETTLE_ABANDON;
    }
    bool conditional = prev.found && prev.validators_usable;
    struct dm_feed_snapshot_req req = {.etag = conditional ? prev.etag : NULL,
                                       .last_modified = conditional ? prev.last_modified : NULL,
                                       .should_abort = should_abort};
    struct reader r = {.env = env,
                       .feed_id = feed_id,
                       .wi = wi,
                       .b = batch_new(),
                       .seen = dm_stock_ids_new(),
                       .nc_sample = json_array(),
                       .last_flush_ms = dm_mono_ms()};
    struct dm_feed_snapshot snap;
    int64_t t0 = dm_mono_ms();
    dm_info(ctx, "file feed %s: reading the snapshot%s", feed_id,
            conditional ? " (conditional)" : "");
    e = dm_feed_read_snapshot(feed, &req, on_row, &r, &snap, &err);
    if (e == DM_OK && !snap.not_modified)
        e = flush(&r); /* the last rows */
    enum dm_settle how = DM_SETTLE_COMPLETE;
    if (r.over) {
        dm_info(ctx, "the partition ended during the read: stopped");
        goto out;
    }
    if (e != DM_OK) {
        /* The batch statement's error (kept in r.err; the read then only says it stopped), or
         * the read's own. */
        const char *why = r.err.code != DM_OK ? r.err.message : err.message;
        if (r.err.code != DM_OK)
            e = r.err.code;
        how = read_failed(env, wi, msg, feed_id, e, snap.truncated, why, ctx);
        goto out;
    }
    if (snap.not_modified && !conditional) {
        /* 304 without our validators cannot happen; never take it for the inventory. */
        how = read_failed(env, wi, msg, feed_id, DM_ERR_REMOTE, false,
                          "the file answered 304 to an unconditional request", ctx);
        goto out;
    }

    /* Validators are printable ASCII (RFC 9110); anything else is not kept (the next read is
     * then unconditional). */
    ascii_or_empty(snap.etag);
    ascii_or_empty(snap.last_modified);
    int64_t stones = prev.rows;
    if (!snap.not_modified) {
        e = dm_snapshot_count_seen(env->db, feed_id, wi->run_id, &stones, &err);
        if (e != DM_OK) {
            how = read_failed(env, wi, msg, feed_id, e, false, err.message, ctx);
            goto out;
        }
        int64_t baseline = prev.found ? prev.rows : prev.catalogue_active;
        int64_t least = 0;
        char upper[40]; /* FEED_<ID>_MAX_SHRINK names the id upper-cased */
        size_t k = 0;
        for (; feed_id[k] && k + 1 < sizeof(upper); k++)
            upper[k] = (char)(feed_id[k] >= 'a' && feed_id[k] <= 'z' ? feed_id[k] - 'a' + 'A'
                                                                     : feed_id[k]);
        upper[k] = '\0';
        if (dm_snapshot_shrink_refused(baseline, stones, max_shrink, &least)) {
            char message[400];
            snprintf(message, sizeof(message),
                     "snapshot refused by the shrink guard: %lld stones, fewer than %lld "
                     "(1 - FEED_%s_MAX_SHRINK = %.2f of the %lld of the %s)",
                     (long long)stones, (long long)least, upper, 1.0 - max_shrink,
                     (long long)baseline,
                     prev.found ? "previous good snapshot" : "active catalogue");
            json_t *detail =
                json_pack("{s:I,s:I,s:I,s:f,s:I,s:I,s:s?}", "stones", (json_int_t)stones, "least",
                          (json_int_t)least, "baseline", (json_int_t)baseline, "maxShrink",
                          max_shrink, "rowsRead", (json_int_t)r.rows_read, "badRows",
                          (json_int_t)r.bad, "previousRun", prev.found ? prev.run_id : NULL);
            how = fail(env, wi, feed_id, message, "snapshot_refused", detail,
                       "File feed snapshot refused", ctx);
            json_decref(detail);
            goto out;
        }
    }

    json_t *summary = json_pack(
        "{s:b,s:I,s:I,s:I,s:I,s:I,s:O,s:I,s:I,s:o,s:o,s:I}", "notModified", snap.not_modified,
        "stones", (json_int_t)stones, "rowsRead", (json_int_t)r.rows_read, "badRows",
        (json_int_t)r.bad, "badRowsReported", (json_int_t)r.reported, "notCarried",
        (json_int_t)r.not_carried, "notCarriedSample", r.nc_sample, "lines", (json_int_t)snap.lines,
        "bytes", (json_int_t)snap.bytes, "etag", clean_string(snap.etag), "lastModified",
        clean_string(snap.last_modified), "durationMs", (json_int_t)(dm_mono_ms() - t0));
    if (summary != NULL) /* the repeat check's memory */
        json_object_set_new(summary, "stockIdSetBytes",
                            json_integer((json_int_t)dm_stock_ids_bytes(r.seen)));
    struct dm_snapshot_done d = {.feed = feed_id,
                                 .run_id = wi->run_id,
                                 .partition_id = wi->partition_id,
                                 .worker_id = env->worker_id,
                                 .rows_read = r.rows_read,
                                 .stones = stones,
                                 .bad_rows = r.bad,
                                 .not_carried = r.not_carried,
                                 .lines = (int64_t)snap.lines,
                                 .bytes = (int64_t)snap.bytes,
                                 .etag = snap.etag,
                                 .last_modified = snap.last_modified,
                                 .not_modified = snap.not_modified,
                                 .touch_run_id = prev.found ? prev.run_id : NULL,
                                 .summary = summary};
    bool completed = false;
    e = dm_snapshot_complete(env->db, &d, &completed, &err);
    if (e == DM_OK && completed && summary != NULL)
        dm_log_fields(DM_LOG_INFO, ctx, "file feed snapshot read", summary);
    json_decref(summary);
    if (e != DM_OK) {
        dm_warn(ctx, "could not complete the partition (will be redelivered): %s", err.message);
        how = DM_SETTLE_ABANDON;
        goto out;
    }
    if (completed)
        send_work_done(env, wi, stones, true, NULL, ctx);
out:
    batch_free(r.b);
    dm_stock_ids_free(r.seen);
    json_decref(r.nc_sample);
    return how;
}
