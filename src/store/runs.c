/* runs.c - the run store: runs, planning, retry, cancel, consolidation, events (see runs.h). */
#include "store/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "core/json.h"
#include "core/log.h"
#include "core/pgarray.h"
#include "core/timeutil.h"
#include "store/store.h"

/* Run sql on conn when given, else on a pooled connection. */
static enum dm_err run_sql(struct dm_db *db, struct dm_db_conn *conn, const char *sql, int n,
                           const char *const *p, PGresult **r, struct dm_error *err)
{
    if (conn)
        return dm_db_exec(conn, sql, n, p, r, err);
    return dm_db_query(db, sql, n, p, r, err);
}

/* ---- runs ------------------------------------------------------------------------------ */

/*
 * The one statement that counts a run's partitions (the partition states of runs.h). Column
 * numbers (read_run reads them by position) in the comments; kept out of clang-format, which
 * otherwise splits its literals around MS().
 */
/* clang-format off */
#define RUN_COLUMNS \
    "r.run_id::text, r.run_type, r.trace_id::text, r.feed, r.expected_workers, "        /* 0-4 */ \
    "COALESCE(p.n, 0), COALESCE(p.completed, 0), COALESCE(p.failed, 0), "              /* 5-7 */ \
    "COALESCE(p.cancelled, 0), COALESCE(p.records, 0), "                                /* 8-9 */ \
    MS("r.started_at") ", " MS("p.last") ", " MS("r.consolidate_sent_at") ", "          /* 10-12 */ \
    MS("r.consolidation_started_at") ", " MS("r.consolidation_completed_at") ", "       /* 13-14 */ \
    MS("r.consolidation_failed_at") ", " MS("r.completed_at") ", "                      /* 15-16 */ \
    MS("r.cancelled_at") ", " MS("r.skipped_at") ", "                                   /* 17-18 */ \
    MS("r.updated_from") ", " MS("r.updated_to") ", "                                   /* 19-20 */ \
    MS("r.watermark_before") ", " MS("r.watermark_after") ", "                          /* 21-22 */ \
    "r.estimated_records, r.count_queries, r.capped, "                                  /* 23-25 */ \
    "r.stats_processed, r.stats_new, r.stats_changed, r.stats_unchanged, "              /* 26-29 */ \
    "r.stats_removed, r.stats_failed, r.consolidation_duration_ms, "                    /* 30-32 */ \
    "r.consolidation_failures, r.last_error"                                            /* 33-34 */
#define RUN_FROM \
    " FROM run_metadata r LEFT JOIN LATERAL (SELECT count(*) n, " \
    "count(*) FILTER (WHERE completed) completed, " \
    "count(*) FILTER (WHERE NOT completed AND (failed OR cancelled)) failed, " \
    "count(*) FILTER (WHERE NOT completed AND cancelled) cancelled, " \
    "sum(records) records, max(updated_at) last " \
    "FROM partition_progress pp WHERE pp.run_id = r.run_id) p ON true"
/* The raw rows of each run of one feed by consolidation status (raw_counts_fill). */
#define RAW_COUNTS_SQL \
    "SELECT x.run_id::text, (SELECT json_build_object('pending', count(*) FILTER (WHERE " \
    "consolidation_status = 'pending'), 'processing', count(*) FILTER (WHERE " \
    "consolidation_status = 'processing'), 'done', count(*) FILTER (WHERE consolidation_status = " \
    "'done'), 'failed', count(*) FILTER (WHERE consolidation_status = 'failed'), 'total', " \
    "count(*), 'oldest_pending_ms', (extract(epoch FROM min(created_at) FILTER (WHERE " \
    "consolidation_status IN ('pending', 'processing'))) * 1000)::bigint) FROM {raw} r " \
    "WHERE r.run_id = x.run_id) FROM unnest($1::uuid[]) AS x(run_id)"
/* clang-format on */
#define RUN_SELECT "SELECT " RUN_COLUMNS RUN_FROM

#define RUN_WHERE_ID " WHERE r.run_id = $1"
#define RUN_WHERE_LIST                                                                             \
    " WHERE ($1::text IS NULL OR r.run_type = $1)"                                                 \
    " AND ($8::text IS NULL OR r.feed = $8)"                                                       \
    " AND ($2::timestamptz IS NULL OR r.started_at >= $2)"                                         \
    " AND ($3::timestamptz IS NULL OR r.started_at <= $3)"                                         \
    " AND ($4::int IS NULL OR r.started_at > now() - make_interval(days => $4::int))"              \
    " AND (NOT $5::boolean OR r.completed_at IS NOT NULL)"                                         \
    " AND (NOT $6::boolean OR (r.completed_at IS NULL AND r.cancelled_at IS NULL"                  \
    "  AND r.skipped_at IS NULL))"                                                                 \
    " ORDER BY CASE WHEN $5::boolean THEN r.completed_at END DESC NULLS LAST,"                     \
    " r.started_at DESC, r.run_id DESC LIMIT $7::int"

static const char SQL_RUN_ONE[] = RUN_SELECT RUN_WHERE_ID;
static const char SQL_RUN_LIST[] = RUN_SELECT RUN_WHERE_LIST;

void dm_run_clear(struct dm_run *run)
{
    if (run == NULL)
        return;
    free(run->last_error);
    free(run->raw_counts);
    run->last_error = run->raw_counts = NULL;
}

void dm_run_list_free(struct dm_run_list *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n; i++)
        dm_run_clear(&l->runs[i]);
    free(l->runs);
    l->runs = NULL;
    l->n = 0;
}

static enum dm_err read_run(const PGresult *r, int row, int64_t now, struct dm_run *run,
                            struct dm_error *err)
{
    memset(run, 0, sizeof(*run));
    dm_store_copy_text(run->run_id, sizeof(run->run_id), r, row, 0);
    dm_store_copy_text(run->run_type, sizeof(run->run_type), r, row, 1);
    dm_store_copy_text(run->trace_id, sizeof(run->trace_id), r, row, 2);
    dm_store_copy_text(run->feed, sizeof(run->feed), r, row, 3);
    struct dm_db_row rd = DM_DB_ROW(r, row);
    struct dm_run_facts *f = &run->facts;
    f->expected_partitions = dm_db_row_i64(&rd, 4);
    f->partitions = dm_db_row_i64(&rd, 5);
    f->completed = dm_db_row_i64(&rd, 6);
    f->failed = dm_db_row_i64(&rd, 7);
    run->cancelled_partitions = dm_db_row_i64(&rd, 8);
    run->records = dm_db_row_i64(&rd, 9);
    f->started_at_ms = dm_db_row_i64_or(&rd, 10, 0);
    f->last_progress_ms = dm_db_row_i64_or(&rd, 11, 0);
    f->consolidate_sent_at_ms = dm_db_row_i64_or(&rd, 12, 0);
    f->consolidation_started_at_ms = dm_db_row_i64_or(&rd, 13, 0);
    f->consolidation_completed_at_ms = dm_db_row_i64_or(&rd, 14, 0);
    f->consolidation_failed_at_ms = dm_db_row_i64_or(&rd, 15, 0);
    f->completed_at_ms = dm_db_row_i64_or(&rd, 16, 0);
    f->cancelled_at_ms = dm_db_row_i64_or(&rd, 17, 0);
    f->skipped_at_ms = dm_db_row_i64_or(&rd, 18, 0);
    run->updated_from_ms = dm_db_row_i64_or(&rd, 19, 0);
    run->updated_to_ms = dm_db_row_i64_or(&rd, 20, 0);
    run->watermark_before_ms = dm_db_row_i64_or(&rd, 21, 0);
    run->watermark_after_ms = dm_db_row_i64_or(&rd, 22, 0);
    run->estimated_records = dm_db_row_i64(&rd, 23);
    run->count_queries = dm_db_row_i64(&rd, 24);
    run->capped = dm_store_is_true(r, row, 25);
    run->stats_processed = dm_db_row_i64(&rd, 26);
    run->stats_new = dm_db_row_i64(&rd, 27);
    run->stats_changed = dm_db_row_i64(&rd, 28);
    run->stats_unchanged = dm_db_row_i64(&rd, 29);
    run->stats_removed = dm_db_row_i64(&rd, 30);
    run->stats_failed = dm_db_row_i64(&rd, 31);
    run->consolidation_duration_ms = dm_db_row_i64_or(&rd, 32, -1);
    run->consolidation_failures = dm_db_row_i64(&rd, 33);
    run->last_error = dm_store_dup_text(r, row, 34);
    run->status = dm_run_status_derive(f, now);
    enum dm_err e = dm_db_row_check(&rd, "run", err);
    if (e != DM_OK)
        dm_run_clear(run);
    return e;
}

/* raw_counts of runs[0..n) from each run's feed's raw table: one statement per feed among
 * them. A run whose feed has no raw table (a feed no longer configured, or never migrated)
 * keeps NULL. */
static enum dm_err raw_counts_fill(struct dm_db *db, struct dm_db_conn *conn, struct dm_run *runs,
                                   int n, struct dm_error *err)
{
    enum dm_err e = DM_OK;
    bool *done = dm_xcalloc((size_t)n + 1, sizeof(bool));
    struct dm_buf ids, sql;
    dm_buf_init(&ids, (size_t)1 << 20);
    dm_buf_init(&sql, (size_t)16 * 1024);
    for (int i = 0; i < n && e == DM_OK; i++) {
        if (done[i])
            continue;
        const char *feed = runs[i].feed;
        /* this feed's runs, as a uuid[] literal */
        dm_buf_reset(&ids);
        e = dm_buf_append_char(&ids, '{');
        for (int j = i; j < n && e == DM_OK; j++) {
            if (done[j] || strcmp(runs[j].feed, feed) != 0)
                continue;
            done[j] = true;
            e = dm_buf_appendf(&ids, "%s%s", ids.len > 1 ? "," : "", runs[j].run_id);
        }
        if (e == DM_OK)
            e = dm_buf_append_char(&ids, '}');
        if (e != DM_OK) {
            e = dm_error_set(err, DM_ERR_TOO_LARGE, "too many runs for raw counts");
            break;
        }
        char table[DM_FEED_TABLE_MAX];
        struct dm_error ierr = {0};
        if (dm_feed_raw_table(feed, table, &ierr) != DM_OK)
            continue; /* a run row naming no valid feed: no raw table to count */
        PGresult *r = NULL;
        const char *tp[] = {table};
        e = run_sql(db, conn, "SELECT to_regclass($1) IS NOT NULL", 1, tp, &r, err);
        bool exists = e == DM_OK && dm_store_is_true(r, 0, 0);
        PQclear(r);
        r = NULL;
        if (e != DM_OK || !exists)
            continue;
        e = dm_feed_sql(RAW_COUNTS_SQL, feed, &sql, err);
        const char *p[] = {ids.data};
        if (e == DM_OK)
            e = run_sql(db, conn, sql.data, 1, p, &r, err);
        for (int row = 0; e == DM_OK && row < PQntuples(r); row++) {
            const char *id = dm_db_get(r, row, 0);
            for (int j = 0; id && j < n; j++) {
                if (!strcmp(runs[j].run_id, id) && runs[j].raw_counts == NULL) {
                    runs[j].raw_counts = dm_store_dup_text(r, row, 1);
                    break;
                }
            }
        }
        PQclear(r);
    }
    dm_buf_free(&ids);
    dm_buf_free(&sql);
    free(done);
    return e;
}

enum dm_err dm_runs_get(struct dm_db *db, const char *run_id, bool raw_counts, struct dm_run *out,
                        struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    enum dm_err e = dm_db_query(db, SQL_RUN_ONE, 1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1)
        e = dm_error_set(err, DM_ERR_NOT_FOUND, "run %s not found", run_id);
    else
        e = read_run(r, 0, dm_now_ms(), out, err);
    PQclear(r);
    if (e == DM_OK && raw_counts) {
        e = raw_counts_fill(db, NULL, out, 1, err);
        if (e != DM_OK)
            dm_run_clear(out);
    }
    return e;
}

static enum dm_err list_runs(struct dm_db *db, struct dm_db_conn *conn,
                             const struct dm_runs_filter *f, struct dm_run_list *out,
                             struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    char after[DM_ISO_LEN], before[DM_ISO_LEN], days[16], limit[16];
    dm_time_format(f->started_after_ms, after);
    dm_time_format(f->started_before_ms, before);
    snprintf(days, sizeof(days), "%d", f->recent_days);
    snprintf(limit, sizeof(limit), "%d", f->limit > 0 ? f->limit : 1);
    const char *p[8] = {f->run_type,
                        f->has_started_after ? after : NULL,
                        f->has_started_before ? before : NULL,
                        f->recent_days > 0 ? days : NULL,
                        f->completed_only ? "true" : "false",
                        f->unfinished_only ? "true" : "false",
                        limit,
                        f->feed};
    PGresult *r = NULL;
    enum dm_err e = run_sql(db, conn, SQL_RUN_LIST, 8, p, &r, err);
    if (e != DM_OK)
        return e;
    int n = PQntuples(r);
    out->runs = dm_xcalloc((size_t)n + 1, sizeof(*out->runs));
    int64_t now = dm_now_ms();
    for (int i = 0; i < n && e == DM_OK; i++) {
        e = read_run(r, i, now, &out->runs[i], err);
        if (e == DM_OK)
            out->n++;
    }
    PQclear(r);
    if (e == DM_OK && f->raw_counts)
        e = raw_counts_fill(db, conn, out->runs, out->n, err);
    if (e != DM_OK)
        dm_run_list_free(out);
    return e;
}

enum dm_err dm_runs_list(struct dm_db *db, const struct dm_runs_filter *f, struct dm_run_list *out,
                         struct dm_error *err)
{
    return list_runs(db, NULL, f, out, err);
}

enum dm_err dm_runs_in_progress(struct dm_db *db, struct dm_db_conn *conn, const char *feed,
                                int recent_days, int *count, struct dm_run *first,
                                struct dm_error *err)
{
    *count = 0;
    if (first)
        memset(first, 0, sizeof(*first));
    struct dm_runs_filter f = {
        .feed = feed, .unfinished_only = true, .recent_days = recent_days, .limit = 100};
    struct dm_run_list l;
    enum dm_err e = list_runs(db, conn, &f, &l, err);
    if (e != DM_OK)
        return e;
    for (int i = 0; i < l.n; i++) {
        enum dm_run_status st = l.runs[i].status;
        /* With a recency bound (the API) a stalled run does not block a new one: operators
         * cancel it. */
        if (dm_run_status_terminal(st) || (recent_days > 0 && st == DM_RUN_STALLED))
            continue;
        if (*count == 0 && first) {
            *first = l.runs[i];
            l.runs[i].last_error = l.runs[i].raw_counts = NULL; /* moved */
        }
        (*count)++;
    }
    dm_run_list_free(&l);
    return DM_OK;
}

/* ---- planning -------------------------------------------------------------------------- */

enum dm_err dm_runs_create(struct dm_db_conn *c, const struct dm_runs_new *run,
                           struct dm_error *err)
{
    char from[DM_ISO_LEN], to[DM_ISO_LEN], wm[DM_ISO_LEN], nparts[16], est[32], queries[16];
    dm_time_format(run->updated_from_ms, from);
    dm_time_format(run->updated_to_ms, to);
    if (run->watermark_ms)
        dm_time_format(run->watermark_ms, wm);
    snprintf(nparts, sizeof(nparts), "%d", run->n);
    snprintf(est, sizeof(est), "%lld", (long long)run->estimated_records);
    snprintf(queries, sizeof(queries), "%d", run->count_queries);
    struct dm_buf ids, mins, maxs, ests, payloads;
    dm_buf_init(&ids, 1 << 20);
    dm_buf_init(&mins, 1 << 20);
    dm_buf_init(&maxs, 1 << 20);
    dm_buf_init(&ests, 1 << 20);
    dm_buf_init(&payloads, 8 << 20);
    char **bodies = dm_xcalloc((size_t)run->n + 1, sizeof(char *));
    const char **idp = dm_xcalloc((size_t)run->n + 1, sizeof(char *));
    char *detail_s = NULL;
    enum dm_err e = dm_buf_append_char(&mins, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&maxs, '{');
    if (e == DM_OK)
        e = dm_buf_append_char(&ests, '{');
    for (int i = 0; i < run->n && e == DM_OK; i++) {
        const struct dm_work_item *wi = &run->items[i];
        bodies[i] = dm_work_item_to_json(wi);
        idp[i] = wi->partition_id;
        e = dm_buf_appendf(&mins, "%s%lld", i ? "," : "", (long long)wi->min_price);
        if (e == DM_OK)
            e = dm_buf_appendf(&maxs, "%s%lld", i ? "," : "", (long long)wi->max_price);
        if (e == DM_OK)
            e = dm_buf_appendf(&ests, "%s%lld", i ? "," : "", (long long)wi->estimated_records);
    }
    if (e == DM_OK)
        e = dm_buf_append_char(&mins, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&maxs, '}');
    if (e == DM_OK)
        e = dm_buf_append_char(&ests, '}');
    if (e == DM_OK)
        e = dm_pgarray_encode(&ids, idp, (size_t)run->n);
    if (e == DM_OK)
        e = dm_pgarray_encode(&payloads, (const char *const *)bodies, (size_t)run->n);
    if (e != DM_OK) {
        e = dm_error_set(err, DM_ERR_TOO_LARGE, "plan too large to record");
        goto out;
    }
    json_t *detail =
        json_pack("{s:s,s:s,s:i,s:I,s:i,s:s,s:s,s:b}", "feed",
                  run->feed ? run->feed : DM_FEED_DEFAULT, "runType", run->run_type, "partitions",
                  run->n, "estimatedRecords", (json_int_t)run->estimated_records, "countQueries",
                  run->count_queries, "updatedFrom", from, "updatedTo", to, "capped", run->capped);
    detail_s = dm_json_dumps(detail);
    json_decref(detail);

    e = dm_db_begin(c, err);
    if (e == DM_OK) {
        const char *p[11] = {run->run_id,
                             run->run_type,
                             run->trace_id,
                             from,
                             to,
                             nparts,
                             est,
                             run->capped ? "true" : "false",
                             queries,
                             run->watermark_ms ? wm : NULL,
                             run->feed ? run->feed : DM_FEED_DEFAULT};
        e = dm_db_exec(c,
                       "INSERT INTO run_metadata (run_id, run_type, trace_id, updated_from, "
                       "updated_to, expected_workers, estimated_records, capped, count_queries, "
                       "watermark_before, feed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                       "$11)",
                       11, p, NULL, err);
    }
    if (e == DM_OK) {
        const char *p[5] = {run->run_id, ids.data, mins.data, maxs.data, ests.data};
        e = dm_db_exec(c,
                       "INSERT INTO partition_progress (run_id, partition_id, min_price, "
                       "max_price, estimated_records) SELECT $1, t.* FROM unnest($2::text[], "
                       "$3::bigint[], $4::bigint[], $5::bigint[]) AS t",
                       5, p, NULL, err);
    }
    if (e == DM_OK) {
        const char *p[3] = {run->run_id, ids.data, payloads.data};
        e = dm_db_exec(c,
                       "INSERT INTO worker_runs (run_id, partition_id, status, "
                       "work_item_payload) SELECT $1, t.pid, 'running', t.body::jsonb FROM "
                       "unnest($2::text[], $3::text[]) AS t(pid, body)",
                       3, p, NULL, err);
    }
    if (e == DM_OK) {
        const char *p[2] = {run->run_id, detail_s};
        e = dm_db_exec(c,
                       "INSERT INTO run_events (run_id, event, detail) "
                       "VALUES ($1, 'run_planned', $2::jsonb)",
                       2, p, NULL, err);
    }
    if (e == DM_OK)
        e = dm_db_commit(c, err);
    else if (dm_db_in_tx(c))
        dm_db_rollback(c);
out:
    free(detail_s);
    for (int i = 0; i < run->n; i++)
        free(bodies[i]);
    free(bodies);
    free(idp);
    dm_buf_free(&ids);
    dm_buf_free(&mins);
    dm_buf_free(&maxs);
    dm_buf_free(&ests);
    dm_buf_free(&payloads);
    return e;
}

/* ---- retry and cancel ------------------------------------------------------------------ */

/* Reset the failed partitions (and their worker rows); returns their ids in order. */
#define RESET_PARTITIONS                                                                           \
    "WITH u AS (UPDATE partition_progress SET failed = false, "                                    \
    " attempts = attempts + 1, last_error = NULL, updated_at = now() "                             \
    " WHERE run_id = $1 AND failed AND NOT cancelled AND NOT completed "                           \
    " AND ($2::text IS NULL OR partition_id = $2) "                                                \
    " RETURNING partition_id), "                                                                   \
    "w AS (UPDATE worker_runs w SET status = 'running', error_message = NULL, "                    \
    " completed_at = NULL FROM u WHERE w.run_id = $1 "                                             \
    " AND w.partition_id = u.partition_id RETURNING 1)"
#define CLEAR_SKIPPED                                                                              \
    "m AS (UPDATE run_metadata SET skipped_at = NULL WHERE run_id = $1 "                           \
    " AND EXISTS (SELECT 1 FROM u) RETURNING 1)"
#define RESET_RESULT "SELECT partition_id FROM u ORDER BY partition_id"

static const char SQL_RESET[] = RESET_PARTITIONS " " RESET_RESULT;
static const char SQL_RESET_CLEAR_SKIPPED[] = RESET_PARTITIONS ", " CLEAR_SKIPPED " " RESET_RESULT;

enum dm_err dm_runs_retry_reset(struct dm_db *db, const char *run_id, const char *partition_id,
                                bool clear_skipped, enum dm_runs_retry_state *state,
                                struct dm_partition_ref **ids, int *n, struct dm_error *err)
{
    *ids = NULL;
    *n = 0;
    *state = DM_RUNS_RETRY_DONE;
    PGresult *r = NULL;
    const char *rp[1] = {run_id};
    enum dm_err e = dm_db_query(
        db, "SELECT cancelled_at IS NOT NULL FROM run_metadata WHERE run_id = $1", 1, rp, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 0)
        *state = DM_RUNS_RETRY_NO_RUN;
    else if (dm_store_is_true(r, 0, 0))
        *state = DM_RUNS_RETRY_CANCELLED;
    PQclear(r);
    r = NULL;
    if (*state != DM_RUNS_RETRY_DONE)
        return DM_OK;
    const char *p[2] = {run_id, partition_id};
    e = dm_db_query(db, clear_skipped ? SQL_RESET_CLEAR_SKIPPED : SQL_RESET, 2, p, &r, err);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    *ids = dm_xcalloc((size_t)rows + 1, sizeof(**ids));
    for (int i = 0; i < rows; i++) {
        snprintf((*ids)[i].run_id, sizeof((*ids)[i].run_id), "%s", run_id);
        dm_store_copy_text((*ids)[i].partition_id, sizeof((*ids)[i].partition_id), r, i, 0);
    }
    *n = rows;
    PQclear(r);
    return DM_OK;
}

/* Mark the unfinished partitions and their worker rows, record the event; returns the count.
 * The event's INSERT is a data-modifying CTE: it runs although the SELECT does not read it. */
static const char SQL_CANCEL_PARTITIONS[] =
    "WITH u AS (UPDATE partition_progress SET failed = true, cancelled = true, "
    " last_error = COALESCE(last_error, 'cancelled'), updated_at = now() "
    " WHERE run_id = $1 AND NOT completed AND NOT cancelled "
    " RETURNING partition_id), "
    "w AS (UPDATE worker_runs w SET status = 'failed', "
    " error_message = 'cancelled', completed_at = now() FROM u "
    " WHERE w.run_id = $1 AND w.partition_id = u.partition_id RETURNING 1), "
    "ev AS (INSERT INTO run_events (run_id, event, detail) "
    " SELECT $1, 'run_cancelled', json_build_object('partitionsCancelled', "
    " (SELECT count(*) FROM u))::jsonb) "
    "SELECT count(*) FROM u";

enum dm_err dm_runs_cancel(struct dm_db_conn *conn, const char *run_id,
                           enum dm_runs_cancel_state *state, int64_t *cancelled,
                           struct dm_error *err)
{
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    *state = DM_RUNS_CANCEL_DONE;
    *cancelled = 0;
    enum dm_err e = dm_db_begin(conn, err);
    if (e != DM_OK)
        goto out;
    e = dm_db_exec(conn,
                   "SELECT cancelled_at IS NOT NULL, completed_at IS NOT NULL FROM run_metadata "
                   "WHERE run_id = $1 FOR UPDATE",
                   1, p, &r, err);
    if (e != DM_OK)
        goto out;
    if (PQntuples(r) == 0)
        *state = DM_RUNS_CANCEL_NO_RUN;
    else if (dm_store_is_true(r, 0, 0))
        *state = DM_RUNS_CANCEL_ALREADY_CANCELLED;
    else if (dm_store_is_true(r, 0, 1))
        *state = DM_RUNS_CANCEL_ALREADY_COMPLETED;
    if (*state != DM_RUNS_CANCEL_DONE)
        goto out;
    PQclear(r);
    r = NULL;
    e = dm_db_exec(conn, "UPDATE run_metadata SET cancelled_at = now() WHERE run_id = $1", 1, p,
                   NULL, err);
    if (e == DM_OK)
        e = dm_db_exec(conn, SQL_CANCEL_PARTITIONS, 1, p, &r, err);
    if (e == DM_OK && dm_db_get_i64(r, 0, 0, cancelled) != DM_OK)
        e = dm_db_bad_value(r, 0, 0, "cancel", err);
    if (e == DM_OK)
        e = dm_db_commit(conn, err);
out:
    PQclear(r);
    if (dm_db_in_tx(conn))
        dm_db_rollback(conn);
    return e;
}

/* ---- consolidation --------------------------------------------------------------------- */

static enum dm_err read_ref(PGresult *r, struct dm_runs_consolidate_ref *ref, const char *what,
                            struct dm_error *err)
{
    dm_store_copy_text(ref->trace_id, sizeof(ref->trace_id), r, 0, 0);
    if (dm_db_get_i64(r, 0, 1, &ref->updated_to_ms) != DM_OK)
        return dm_db_bad_value(r, 0, 1, what, err);
    ref->completed = PQnfields(r) > 2 && dm_store_is_true(r, 0, 2);
    return DM_OK;
}

enum dm_err dm_runs_claim_consolidate(struct dm_db *db, const char *run_id, bool *claimed,
                                      struct dm_runs_consolidate_ref *ref, struct dm_error *err)
{
    *claimed = false;
    memset(ref, 0, sizeof(*ref));
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    enum dm_err e = dm_db_query(db,
                                "UPDATE run_metadata r SET consolidate_sent_at = now() "
                                "WHERE r.run_id = $1 AND r.consolidate_sent_at IS NULL "
                                "AND r.completed_at IS NULL AND r.cancelled_at IS NULL "
                                "AND EXISTS (SELECT 1 FROM partition_progress p "
                                "WHERE p.run_id = r.run_id) "
                                "AND NOT EXISTS (SELECT 1 FROM partition_progress p "
                                "WHERE p.run_id = r.run_id AND NOT p.completed) "
                                "RETURNING r.trace_id, " MS("r.updated_to"),
                                1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        e = read_ref(r, ref, "consolidate claim", err);
        /* Claimed but unreadable: give the claim back so the backstop can try again. */
        if (e == DM_OK)
            *claimed = true;
        else if (dm_runs_unclaim_consolidate(db, run_id, NULL) != DM_OK)
            dm_warn(&(struct dm_log_ctx){.run_id = run_id}, "could not un-claim the consolidate");
    }
    PQclear(r);
    return e;
}

enum dm_err dm_runs_unclaim_consolidate(struct dm_db *db, const char *run_id, struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(db, "UPDATE run_metadata SET consolidate_sent_at = NULL WHERE run_id = $1",
                       1, p, NULL, err);
}

enum dm_err dm_runs_note_consolidate_sent(struct dm_db *db, const char *run_id,
                                          struct dm_runs_consolidate_ref *ref, struct dm_error *err)
{
    memset(ref, 0, sizeof(*ref));
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    enum dm_err e =
        dm_db_query(db,
                    "UPDATE run_metadata SET consolidate_sent_at = "
                    "COALESCE(consolidate_sent_at, now()) WHERE run_id = $1 "
                    "RETURNING trace_id, " MS("updated_to") ", completed_at IS NOT NULL",
                    1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1)
        e = dm_error_set(err, DM_ERR_NOT_FOUND, "no run %s", run_id);
    else
        e = read_ref(r, ref, "consolidate", err);
    PQclear(r);
    return e;
}

enum dm_err dm_runs_awaiting_consolidate(struct dm_db *db, struct dm_partition_ref **ids, int *n,
                                         struct dm_error *err)
{
    *ids = NULL;
    *n = 0;
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "SELECT r.run_id FROM run_metadata r WHERE r.consolidate_sent_at IS NULL AND "
        "r.cancelled_at IS NULL AND r.completed_at IS NULL AND r.expected_workers > 0 AND "
        "(SELECT count(*) FROM partition_progress p WHERE p.run_id = r.run_id AND p.completed) "
        "= r.expected_workers",
        0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    *ids = dm_xcalloc((size_t)rows + 1, sizeof(**ids));
    for (int i = 0; i < rows; i++)
        dm_store_copy_text((*ids)[i].run_id, sizeof((*ids)[i].run_id), r, i, 0);
    *n = rows;
    PQclear(r);
    return DM_OK;
}

enum dm_err dm_runs_consolidation_started(struct dm_db *db, const char *run_id,
                                          struct dm_error *err)
{
    const char *p[] = {run_id};
    return dm_db_query(db,
                       "UPDATE run_metadata SET consolidation_started_at = now() "
                       "WHERE run_id = $1",
                       1, p, NULL, err);
}

enum dm_err dm_runs_consolidation_failed(struct dm_db *db, const char *run_id, const char *error,
                                         struct dm_error *err)
{
    const char *p[] = {run_id, error};
    return dm_db_query(
        db,
        "UPDATE run_metadata SET consolidation_failures = consolidation_failures + 1, "
        "consolidation_failed_at = now(), last_error = $2 WHERE run_id = $1",
        2, p, NULL, err);
}

enum dm_err dm_runs_mark_skipped(struct dm_db *db, const char *run_id, struct dm_error *err)
{
    const char *p[] = {run_id};
    return dm_db_query(db, "UPDATE run_metadata SET skipped_at = now() WHERE run_id = $1", 1, p,
                       NULL, err);
}

enum dm_err dm_runs_lock_final(struct dm_db_conn *conn, const char *run_id, bool *already,
                               struct dm_error *err)
{
    *already = false;
    PGresult *r = NULL;
    const char *p[] = {run_id};
    enum dm_err e =
        dm_db_exec(conn,
                   "SELECT completed_at IS NOT NULL FROM run_metadata WHERE run_id = $1 "
                   "FOR UPDATE",
                   1, p, &r, err);
    if (e == DM_OK && PQntuples(r) == 1 && dm_store_is_true(r, 0, 0))
        *already = true;
    PQclear(r);
    return e;
}

enum dm_err dm_runs_add_batch_stats(struct dm_db_conn *conn, const char *run_id,
                                    const struct dm_runs_batch_stats *s, struct dm_error *err)
{
    char proc[24], ins[24], chg[24], unch[24], fail[24];
    snprintf(proc, sizeof(proc), "%lld", (long long)s->processed);
    snprintf(ins, sizeof(ins), "%lld", (long long)s->inserted);
    snprintf(chg, sizeof(chg), "%lld", (long long)s->changed);
    snprintf(unch, sizeof(unch), "%lld", (long long)s->unchanged);
    snprintf(fail, sizeof(fail), "%lld", (long long)s->failed);
    const char *p[] = {run_id, proc, ins, chg, unch, fail};
    return dm_db_exec(conn,
                      "UPDATE run_metadata SET stats_processed = stats_processed + $2, "
                      "stats_new = stats_new + $3, stats_changed = stats_changed + $4, "
                      "stats_unchanged = stats_unchanged + $5, stats_failed = stats_failed + $6 "
                      "WHERE run_id = $1",
                      6, p, NULL, err);
}

enum dm_err dm_runs_add_removal_stats(struct dm_db_conn *conn, const char *run_id, int64_t removed,
                                      int64_t reactivated, struct dm_error *err)
{
    char s_rem[24], s_re[24];
    snprintf(s_rem, sizeof(s_rem), "%lld", (long long)removed);
    snprintf(s_re, sizeof(s_re), "%lld", (long long)reactivated);
    const char *p[] = {run_id, s_rem, s_re};
    return dm_db_exec(conn,
                      "UPDATE run_metadata SET stats_removed = stats_removed + $2, "
                      "stats_reactivated = stats_reactivated + $3 WHERE run_id = $1",
                      3, p, NULL, err);
}

enum dm_err dm_runs_consolidation_completed(struct dm_db *db, const char *run_id,
                                            int64_t duration_ms, int64_t watermark_ms, bool *done,
                                            int64_t stats[6], struct dm_error *err)
{
    *done = false;
    char s_dur[24], s_wm[24];
    snprintf(s_dur, sizeof(s_dur), "%lld", (long long)duration_ms);
    snprintf(s_wm, sizeof(s_wm), "%lld", (long long)watermark_ms);
    const char *p[] = {run_id, s_dur, s_wm};
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(db,
                                "UPDATE run_metadata SET consolidation_completed_at = now(), "
                                "consolidation_duration_ms = $2, "
                                "watermark_after = to_timestamp($3::bigint / 1000.0), "
                                "last_error = NULL, completed_at = now() "
                                "WHERE run_id = $1 AND completed_at IS NULL "
                                "RETURNING stats_processed, stats_new, stats_changed, "
                                "stats_unchanged, stats_removed, stats_failed",
                                3, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        *done = true;
        struct dm_db_row rd = DM_DB_ROW(r, 0);
        for (int i = 0; i < 6; i++)
            stats[i] = dm_db_row_i64(&rd, i);
        /* The run is completed by now: unreadable counters are reported, not fatal. */
        struct dm_error serr = {0};
        if (dm_db_row_check(&rd, "consolidation statistics", &serr) != DM_OK) {
            struct dm_log_ctx ctx = {.run_id = run_id};
            dm_warn(&ctx, "%s", serr.message);
        }
    }
    PQclear(r);
    return DM_OK;
}

/* ---- events ---------------------------------------------------------------------------- */

void dm_runs_event(struct dm_db *db, const char *run_id, const char *partition_id,
                   const char *event, const json_t *detail)
{
    char *d = detail ? dm_json_dumps(detail) : NULL;
    const char *p[4] = {run_id, partition_id, event, d};
    struct dm_error err = {0};
    if (dm_db_query(db,
                    "INSERT INTO run_events (run_id, partition_id, event, detail) "
                    "VALUES ($1, $2, $3, $4::jsonb)",
                    4, p, NULL, &err) != DM_OK) {
        struct dm_log_ctx ctx = {.run_id = run_id, .partition_id = partition_id};
        dm_warn(&ctx, "could not record run event %s: %s", event, err.message);
    }
    free(d);
}

enum dm_err dm_runs_event_once(struct dm_db *db, const char *run_id, const char *partition_id,
                               const char *event, const json_t *detail, bool *known,
                               struct dm_error *err)
{
    *known = false;
    char *d = detail ? dm_json_dumps(detail) : NULL;
    const char *p[] = {run_id, partition_id, event, d};
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "WITH run AS (SELECT run_id FROM run_metadata WHERE run_id = $1::uuid), "
        "ins AS (INSERT INTO run_events (run_id, partition_id, event, detail) "
        "SELECT run_id, $2, $3, $4::jsonb FROM run WHERE NOT EXISTS (SELECT 1 FROM run_events "
        "WHERE run_id = $1::uuid AND partition_id = $2 AND event = $3) RETURNING 1) "
        "SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM ins)",
        4, p, &r, err);
    free(d);
    if (e != DM_OK)
        return e;
    const char *v = dm_db_get(r, 0, 0);
    *known = v != NULL && v[0] != '0';
    PQclear(r);
    return DM_OK;
}
