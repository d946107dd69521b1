/* runs.c - the run store: every statement on the run tables (see runs.h). */
#include "store/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/pgarray.h"
#include "core/timeutil.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* Run sql on conn when given, else on a pooled connection. */
static enum dm_err run_sql(struct dm_db *db, struct dm_db_conn *conn, const char *sql, int n,
                           const char *const *p, PGresult **r, struct dm_error *err)
{
    if (conn)
        return dm_db_exec(conn, sql, n, p, r, err);
    return dm_db_query(db, sql, n, p, r, err);
}

/* A hot statement (once per page): named, prepared on each pooled connection, waiting up to
 * 30 s for one as the worker always did (dm_db_query_prepared waits 5 s). */
static enum dm_err run_hot(struct dm_db *db, const char *name, const char *sql, int n,
                           const char *const *p, const int *lengths, const int *formats,
                           PGresult **r, struct dm_error *err)
{
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    if (e != DM_OK)
        return e;
    e = dm_db_exec_prepared(c, name, sql, n, p, lengths, formats, r, err);
    dm_db_release(c);
    return e;
}

static bool is_true(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    return v && v[0] == 't';
}

static void copy_text(char *out, size_t size, const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    snprintf(out, size, "%s", v ? v : "");
}

static char *dup_text(const PGresult *r, int row, int col)
{
    const char *v = dm_db_get(r, row, col);
    return v ? dm_xstrdup(v) : NULL;
}

/* ---- runs ------------------------------------------------------------------------------ */

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

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
/* The raw rows of the run by consolidation status (column 35 when asked). */
#define RAW_COUNTS \
    ", (SELECT json_build_object('pending', count(*) FILTER (WHERE consolidation_status = " \
    "'pending'), 'processing', count(*) FILTER (WHERE consolidation_status = 'processing'), " \
    "'done', count(*) FILTER (WHERE consolidation_status = 'done'), 'failed', count(*) FILTER " \
    "(WHERE consolidation_status = 'failed'), 'total', count(*), 'oldest_pending_ms', " \
    "(extract(epoch FROM min(created_at) FILTER (WHERE consolidation_status IN ('pending', " \
    "'processing'))) * 1000)::bigint) FROM raw_diamonds_nivoda x WHERE x.run_id = r.run_id)"
/* clang-format on */
#define RUN_SELECT "SELECT " RUN_COLUMNS RUN_FROM
#define RUN_SELECT_RAW "SELECT " RUN_COLUMNS RAW_COUNTS RUN_FROM

#define RUN_WHERE_ID " WHERE r.run_id = $1"
#define RUN_WHERE_LIST                                                                             \
    " WHERE ($1::text IS NULL OR r.run_type = $1)"                                                 \
    " AND ($2::timestamptz IS NULL OR r.started_at >= $2)"                                         \
    " AND ($3::timestamptz IS NULL OR r.started_at <= $3)"                                         \
    " AND ($4::int IS NULL OR r.started_at > now() - make_interval(days => $4::int))"              \
    " AND (NOT $5::boolean OR r.completed_at IS NOT NULL)"                                         \
    " AND (NOT $6::boolean OR (r.completed_at IS NULL AND r.cancelled_at IS NULL"                  \
    "  AND r.skipped_at IS NULL))"                                                                 \
    " ORDER BY CASE WHEN $5::boolean THEN r.completed_at END DESC NULLS LAST,"                     \
    " r.started_at DESC, r.run_id DESC LIMIT $7::int"

static const char SQL_RUN_ONE[] = RUN_SELECT RUN_WHERE_ID;
static const char SQL_RUN_ONE_RAW[] = RUN_SELECT_RAW RUN_WHERE_ID;
static const char SQL_RUN_LIST[] = RUN_SELECT RUN_WHERE_LIST;
static const char SQL_RUN_LIST_RAW[] = RUN_SELECT_RAW RUN_WHERE_LIST;

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
    copy_text(run->run_id, sizeof(run->run_id), r, row, 0);
    copy_text(run->run_type, sizeof(run->run_type), r, row, 1);
    copy_text(run->trace_id, sizeof(run->trace_id), r, row, 2);
    copy_text(run->feed, sizeof(run->feed), r, row, 3);
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
    run->capped = is_true(r, row, 25);
    run->stats_processed = dm_db_row_i64(&rd, 26);
    run->stats_new = dm_db_row_i64(&rd, 27);
    run->stats_changed = dm_db_row_i64(&rd, 28);
    run->stats_unchanged = dm_db_row_i64(&rd, 29);
    run->stats_removed = dm_db_row_i64(&rd, 30);
    run->stats_failed = dm_db_row_i64(&rd, 31);
    run->consolidation_duration_ms = dm_db_row_i64_or(&rd, 32, -1);
    run->consolidation_failures = dm_db_row_i64(&rd, 33);
    run->last_error = dup_text(r, row, 34);
    if (PQnfields(r) > 35)
        run->raw_counts = dup_text(r, row, 35);
    run->status = dm_run_status_derive(f, now);
    enum dm_err e = dm_db_row_check(&rd, "run", err);
    if (e != DM_OK)
        dm_run_clear(run);
    return e;
}

enum dm_err dm_runs_get(struct dm_db *db, const char *run_id, bool raw_counts, struct dm_run *out,
                        struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    enum dm_err e = dm_db_query(db, raw_counts ? SQL_RUN_ONE_RAW : SQL_RUN_ONE, 1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1)
        e = dm_error_set(err, DM_ERR_NOT_FOUND, "run %s not found", run_id);
    else
        e = read_run(r, 0, dm_now_ms(), out, err);
    PQclear(r);
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
    const char *p[7] = {f->run_type,
                        f->started_after_ms ? after : NULL,
                        f->started_before_ms ? before : NULL,
                        f->recent_days > 0 ? days : NULL,
                        f->completed_only ? "true" : "false",
                        f->unfinished_only ? "true" : "false",
                        limit};
    PGresult *r = NULL;
    enum dm_err e =
        run_sql(db, conn, f->raw_counts ? SQL_RUN_LIST_RAW : SQL_RUN_LIST, 7, p, &r, err);
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
    if (e != DM_OK)
        dm_run_list_free(out);
    return e;
}

enum dm_err dm_runs_list(struct dm_db *db, const struct dm_runs_filter *f, struct dm_run_list *out,
                         struct dm_error *err)
{
    return list_runs(db, NULL, f, out, err);
}

enum dm_err dm_runs_in_progress(struct dm_db *db, struct dm_db_conn *conn, int recent_days,
                                int *count, struct dm_run *first, struct dm_error *err)
{
    *count = 0;
    if (first)
        memset(first, 0, sizeof(*first));
    struct dm_runs_filter f = {.unfinished_only = true, .recent_days = recent_days, .limit = 100};
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
        json_pack("{s:s,s:i,s:I,s:i,s:s,s:s,s:b}", "runType", run->run_type, "partitions", run->n,
                  "estimatedRecords", (json_int_t)run->estimated_records, "countQueries",
                  run->count_queries, "updatedFrom", from, "updatedTo", to, "capped", run->capped);
    detail_s = dm_json_dumps(detail);
    json_decref(detail);

    e = dm_db_begin(c, err);
    if (e == DM_OK) {
        const char *p[10] = {run->run_id,
                             run->run_type,
                             run->trace_id,
                             from,
                             to,
                             nparts,
                             est,
                             run->capped ? "true" : "false",
                             queries,
                             run->watermark_ms ? wm : NULL};
        e = dm_db_exec(c,
                       "INSERT INTO run_metadata (run_id, run_type, trace_id, updated_from, "
                       "updated_to, expected_workers, estimated_records, capped, count_queries, "
                       "watermark_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       10, p, NULL, err);
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

/* ---- partitions ------------------------------------------------------------------------ */

const char *dm_partition_status_name(enum dm_partition_status s)
{
    switch (s) {
    case DM_PARTITION_COMPLETED:
        return "completed";
    case DM_PARTITION_FAILED:
        return "failed";
    case DM_PARTITION_CANCELLED:
        return "cancelled";
    default:
        return "running";
    }
}

enum dm_partition_status dm_partition_status_of(bool completed, bool failed, bool cancelled)
{
    if (completed)
        return DM_PARTITION_COMPLETED;
    if (cancelled)
        return DM_PARTITION_CANCELLED;
    if (failed)
        return DM_PARTITION_FAILED;
    return DM_PARTITION_RUNNING;
}

/* The partition status of runs.h in SQL, for the reports (table alias p). */
#define PARTITION_STATUS_SQL                                                                       \
    "CASE WHEN p.completed THEN 'completed' WHEN p.cancelled THEN 'cancelled' "                    \
    "WHEN p.failed THEN 'failed' ELSE 'running' END"
/* Failed in the sense of runs.h (cancelled included), for WHERE clauses (alias p). */
#define PARTITION_FAILED_SQL "(NOT p.completed AND (p.failed OR p.cancelled))"

void dm_run_partition_list_free(struct dm_run_partition_list *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n; i++)
        free(l->parts[i].last_error);
    free(l->parts);
    l->parts = NULL;
    l->n = 0;
}

enum dm_err dm_runs_partitions(struct dm_db *db, const char *run_prefix,
                               struct dm_run_partition_list *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *p[1] = {run_prefix};
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "SELECT r.run_id, r.run_type, p.partition_id, p.min_price, p.max_price, "
        "p.estimated_records, p.records, p.next_offset, p.completed, p.failed, p.cancelled, "
        "p.attempts, p.pages, p.page_errors, " MS(
            "p.updated_at") ", p.last_error "
                            "FROM run_metadata r JOIN partition_progress p ON p.run_id = r.run_id "
                            "WHERE r.run_id::text LIKE $1 || '%' ORDER BY p.min_price, "
                            "p.partition_id",
        1, p, &r, err);
    if (e != DM_OK)
        return e;
    int n = PQntuples(r);
    out->parts = dm_xcalloc((size_t)n + 1, sizeof(*out->parts));
    if (n > 0)
        copy_text(out->run_type, sizeof(out->run_type), r, 0, 1);
    for (int i = 0; i < n; i++) {
        struct dm_run_partition *pt = &out->parts[i];
        struct dm_db_row rd = DM_DB_ROW(r, i);
        copy_text(pt->run_id, sizeof(pt->run_id), r, i, 0);
        copy_text(pt->partition_id, sizeof(pt->partition_id), r, i, 2);
        pt->min_price = dm_db_row_i64(&rd, 3);
        pt->max_price = dm_db_row_i64(&rd, 4);
        pt->estimated_records = dm_db_row_i64(&rd, 5);
        pt->records = dm_db_row_i64(&rd, 6);
        pt->next_offset = dm_db_row_i64(&rd, 7);
        pt->status = dm_partition_status_of(is_true(r, i, 8), is_true(r, i, 9), is_true(r, i, 10));
        pt->attempts = dm_db_row_i64(&rd, 11);
        pt->pages = dm_db_row_i64(&rd, 12);
        pt->page_errors = dm_db_row_i64(&rd, 13);
        pt->updated_at_ms = dm_db_row_i64(&rd, 14);
        pt->last_error = dup_text(r, i, 15);
        out->n++;
        e = dm_db_row_check(&rd, "partition", err);
        if (e != DM_OK)
            break;
    }
    PQclear(r);
    if (e != DM_OK)
        dm_run_partition_list_free(out);
    return e;
}

enum dm_err dm_runs_partition_item(struct dm_db *db, const char *run_id, const char *partition_id,
                                   struct dm_work_item *wi, struct dm_error *err)
{
    memset(wi, 0, sizeof(*wi));
    PGresult *r = NULL;
    const char *p[2] = {run_id, partition_id};
    enum dm_err e = dm_db_query(
        db,
        "SELECT r.trace_id, p.min_price, p.max_price, p.estimated_records, p.next_offset, " MS(
            "r.updated_from") ", " MS("r.updated_to") ", p.attempts "
                                                      "FROM partition_progress p JOIN run_metadata "
                                                      "r USING (run_id) "
                                                      "WHERE p.run_id = $1 AND p.partition_id = $2",
        2, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_NOT_FOUND, "partition %s of run %s not found", partition_id,
                            run_id);
    }
    snprintf(wi->run_id, sizeof(wi->run_id), "%s", run_id);
    copy_text(wi->trace_id, sizeof(wi->trace_id), r, 0, 0);
    snprintf(wi->partition_id, sizeof(wi->partition_id), "%s", partition_id);
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    wi->min_price = dm_db_row_i64(&rd, 1);
    wi->max_price = dm_db_row_i64(&rd, 2);
    wi->estimated_records = dm_db_row_i64(&rd, 3);
    wi->offset = dm_db_row_i64(&rd, 4);
    wi->updated_from_ms = dm_db_row_i64(&rd, 5);
    wi->updated_to_ms = dm_db_row_i64(&rd, 6);
    wi->attempt = (int)dm_db_row_i64(&rd, 7);
    wi->limit = DM_PAGE_LIMIT;
    e = dm_db_row_check(&rd, "partition", err);
    PQclear(r);
    return e;
}

static const char GUARD_SQL[] =
    "SELECT p.next_offset, p.completed OR p.failed OR p.cancelled OR r.cancelled_at IS NOT "
    "NULL, p.estimated_records, r.capped FROM partition_progress p JOIN run_metadata r "
    "USING (run_id) WHERE p.run_id = $1 AND p.partition_id = $2";

enum dm_err dm_runs_partition_guard(struct dm_db *db, const char *run_id, const char *partition_id,
                                    struct dm_partition_guard *g, struct dm_error *err)
{
    memset(g, 0, sizeof(*g));
    PGresult *r = NULL;
    const char *p[2] = {run_id, partition_id};
    enum dm_err e = run_hot(db, "dm_worker_guard", GUARD_SQL, 2, p, NULL, NULL, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_NOT_FOUND, "unknown run or partition %s/%s", run_id,
                            partition_id);
    }
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    g->next_offset = dm_db_row_i64(&rd, 0);
    g->terminal = is_true(r, 0, 1);
    g->estimated_records = dm_db_row_i64(&rd, 2);
    g->capped = is_true(r, 0, 3);
    e = dm_db_row_check(&rd, "partition guard", err);
    PQclear(r);
    return e;
}

/*
 * A page that continues its partition commits without waiting for its WAL flush
 * (synchronous_commit off for this transaction only, the `sc` CTE): a database crash can lose
 * the last few hundred milliseconds of committed pages, never corrupt anything, and loses them
 * as a suffix of the commit order. Nothing outside the database has taken such a page as done:
 * - PostgreSQL queue: the continuation is sent after the commit and its own (synchronous)
 *   commit flushes the WAL up to itself, the page's commit record included; so a lost page
 *   means a lost continuation and a lost completion, and the message is redelivered.
 * - Service Bus: a continuation for a lost page is a "stale future" the guard ignores, and
 *   the sweeper re-sends the partition's work item from its committed next_offset.
 * Either way the page is fetched and written again and counted once (the CAS).
 * A page that may complete its partition ($13, known before the statement) commits with
 * the configured durability: WORK_DONE and CONSOLIDATE follow it, and with Service Bus they
 * leave the database, so the completion they announce must survive a crash.
 */
static const char PAGE_SQL[] =
    "WITH sc AS (SELECT set_config('synchronous_commit', CASE WHEN $13::boolean"
    " THEN current_setting('synchronous_commit') ELSE 'off' END, true)),"
    " cas AS ("
    " UPDATE partition_progress SET next_offset = $3::bigint + $4::bigint,"
    "  records = records + $5::bigint, pages = pages + 1,"
    "  completed = ($4::bigint = 0 OR ($6::boolean AND $3::bigint + $4::bigint >= "
    "estimated_records)),"
    "  updated_at = now()"
    " WHERE run_id = $1 AND partition_id = $2 AND next_offset = $3::bigint"
    "  AND NOT completed AND NOT failed AND NOT cancelled"
    " RETURNING completed, records),"
    " up AS ("
    " INSERT INTO raw_diamonds_nivoda AS r (id, supplier_stone_id, offer_id, payload,"
    "  payload_hash, run_id, last_seen_run_id)"
    " SELECT t.id::uuid, t.sid, t.oid, t.payload::json, t.hash, $1, $1"
    "  FROM unnest($12::text[], $7::text[], $8::text[], $9::text[], $10::text[])"
    "  AS t(id, sid, oid, payload, hash)"
    "  WHERE EXISTS (SELECT 1 FROM cas)"
    " ON CONFLICT (supplier_stone_id) DO UPDATE SET"
    "  last_seen_run_id = EXCLUDED.last_seen_run_id,"
    "  offer_id = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.offer_id"
    "   ELSE EXCLUDED.offer_id END,"
    "  payload = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.payload"
    "   ELSE EXCLUDED.payload END,"
    "  run_id = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.run_id"
    "   ELSE EXCLUDED.run_id END,"
    "  consolidation_status = CASE WHEN r.payload_hash = EXCLUDED.payload_hash"
    "   THEN r.consolidation_status ELSE 'pending' END,"
    "  claim_token = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.claim_token"
    "   ELSE NULL END,"
    "  claimed_at = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.claimed_at"
    "   ELSE NULL END,"
    "  consolidation_error = CASE WHEN r.payload_hash = EXCLUDED.payload_hash"
    "   THEN r.consolidation_error ELSE NULL END,"
    "  updated_at = CASE WHEN r.payload_hash = EXCLUDED.payload_hash THEN r.updated_at"
    "   ELSE now() END,"
    "  payload_hash = EXCLUDED.payload_hash"
    " WHERE r.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash"
    "  OR r.last_seen_run_id IS DISTINCT FROM EXCLUDED.last_seen_run_id"
    " RETURNING 1),"
    " wr AS ("
    " UPDATE worker_runs w SET records_processed = cas.records, worker_id = $11,"
    "  status = CASE WHEN cas.completed THEN 'completed' ELSE 'running' END,"
    "  completed_at = CASE WHEN cas.completed THEN now() ELSE NULL END, error_message = NULL"
    " FROM cas WHERE w.run_id = $1 AND w.partition_id = $2 RETURNING 1),"
    " ev AS ("
    " INSERT INTO run_events (run_id, partition_id, event, detail)"
    " SELECT $1, $2, 'partition_completed',"
    "  jsonb_build_object('records', cas.records, 'workerId', $11::text)"
    " FROM cas WHERE cas.completed RETURNING 1),"
    " rf AS ("
    " INSERT INTO run_events (run_id, partition_id, event, detail)"
    " SELECT $1, $2, 'items_refused',"
    "  jsonb_build_object('offset', $3::bigint, 'count', jsonb_array_length($14::jsonb),"
    "  'items', $14::jsonb, 'workerId', $11::text)"
    " FROM cas WHERE $14::jsonb IS NOT NULL RETURNING 1)"
    " SELECT cas.completed, cas.records, (SELECT count(*) FROM up) FROM cas, sc";

enum dm_err dm_runs_commit_page(struct dm_db *db, const struct dm_runs_page *pg, bool *committed,
                                bool *completed, int64_t *records, struct dm_error *err)
{
    *committed = *completed = false;
    *records = 0;
    char off[32], cnt[32], uniq[32];
    snprintf(off, sizeof(off), "%lld", (long long)pg->offset);
    snprintf(cnt, sizeof(cnt), "%lld", (long long)pg->fetched);
    snprintf(uniq, sizeof(uniq), "%d", pg->unique);
    const char *p[14] = {pg->run_id,
                         pg->partition_id,
                         off,
                         cnt,
                         uniq,
                         pg->capped ? "true" : "false",
                         pg->stone_ids->data,
                         pg->offer_ids->data,
                         pg->payloads->data,
                         pg->hashes->data,
                         pg->worker_id,
                         pg->ids->data,
                         pg->may_complete ? "true" : "false",
                         pg->refused};
    int lengths[14] = {0};
    int formats[14] = {0};
    const struct dm_buf *bins[4] = {pg->stone_ids, pg->offer_ids, pg->payloads, pg->hashes};
    for (int i = 0; i < 4; i++) {
        lengths[6 + i] = (int)bins[i]->len;
        formats[6 + i] = 1; /* binary text[] */
    }
    lengths[11] = (int)pg->ids->len;
    formats[11] = 1;
    PGresult *r = NULL;
    enum dm_err e = run_hot(db, "dm_worker_page", PAGE_SQL, 14, p, lengths, formats, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        *committed = true;
        *completed = is_true(r, 0, 0);
        /* The page is committed: an unreadable count is reported as 0, not a failure. */
        if (dm_db_get_i64(r, 0, 1, records) != DM_OK)
            *records = 0;
    }
    PQclear(r);
    return DM_OK;
}

void dm_runs_page_error(struct dm_db *db, const char *run_id, const char *partition_id,
                        const char *message)
{
    const char *p[3] = {run_id, partition_id, message};
    struct dm_error err = {0};
    if (dm_db_query(db,
                    "UPDATE partition_progress SET page_errors = page_errors + 1, "
                    "last_error = $3, last_error_at = now() "
                    "WHERE run_id = $1 AND partition_id = $2",
                    3, p, NULL, &err) != DM_OK) {
        struct dm_log_ctx ctx = {.run_id = run_id, .partition_id = partition_id};
        dm_warn(&ctx, "could not count the page error: %s", err.message);
    }
}

enum dm_err dm_runs_fail_partition(struct dm_db *db, const char *run_id, const char *partition_id,
                                   int64_t offset, const char *worker_id, const char *message,
                                   bool *marked, int64_t *records, struct dm_error *err)
{
    *marked = false;
    *records = 0;
    char off[32];
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    PGresult *r = NULL;
    const char *p[5] = {run_id, partition_id, message, off, worker_id};
    enum dm_err e = dm_db_query(
        db,
        "WITH f AS (UPDATE partition_progress SET failed = true, last_error = $3, "
        " updated_at = now() WHERE run_id = $1 AND partition_id = $2 "
        " AND NOT completed AND NOT failed AND next_offset = $4::bigint RETURNING records), "
        "wr AS (UPDATE worker_runs w SET status = 'failed', error_message = $3, worker_id = $5, "
        " completed_at = now(), records_processed = f.records FROM f "
        " WHERE w.run_id = $1 AND w.partition_id = $2 RETURNING 1), "
        "ev AS (INSERT INTO run_events (run_id, partition_id, event, detail) "
        " SELECT $1, $2, 'partition_failed', jsonb_build_object('error', $3::text, 'offset', "
        " $4::bigint, 'workerId', $5::text) FROM f RETURNING 1) "
        "SELECT records FROM f",
        5, p, &r, err);
    if (e != DM_OK)
        return e;
    *marked = PQntuples(r) == 1;
    /* The partition is marked: an unreadable count is reported as 0, not a failure. */
    if (*marked && dm_db_get_i64(r, 0, 0, records) != DM_OK)
        *records = 0;
    PQclear(r);
    return DM_OK;
}

enum dm_err dm_runs_stale_partitions(struct dm_db *db, int64_t stale_ms,
                                     struct dm_partition_ref **out, int *n, struct dm_error *err)
{
    *out = NULL;
    *n = 0;
    char stale[32];
    snprintf(stale, sizeof(stale), "%lld", (long long)stale_ms);
    const char *p[1] = {stale};
    PGresult *r = NULL;
    enum dm_err e =
        dm_db_query(db,
                    "SELECT p.run_id, p.partition_id FROM partition_progress p JOIN run_metadata r "
                    "USING (run_id) WHERE NOT p.completed AND NOT p.failed AND NOT p.cancelled "
                    "AND r.cancelled_at IS NULL "
                    "AND p.updated_at < now() - make_interval(secs => $1::bigint / 1000.0) "
                    "ORDER BY p.updated_at LIMIT 500",
                    1, p, &r, err);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    *out = dm_xcalloc((size_t)rows + 1, sizeof(**out));
    for (int i = 0; i < rows; i++) {
        copy_text((*out)[i].run_id, sizeof((*out)[i].run_id), r, i, 0);
        copy_text((*out)[i].partition_id, sizeof((*out)[i].partition_id), r, i, 1);
    }
    *n = rows;
    PQclear(r);
    return DM_OK;
}

enum dm_err dm_runs_stalled(struct dm_db *db, int64_t stall_ms, struct dm_run_stall **out, int *n,
                            struct dm_error *err)
{
    *out = NULL;
    *n = 0;
    char stall[32];
    snprintf(stall, sizeof(stall), "%lld", (long long)stall_ms);
    const char *p[1] = {stall};
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "SELECT r.run_id, count(*) FILTER (WHERE NOT p.completed AND NOT p.failed "
        "AND NOT p.cancelled), max(p.updated_at) "
        "FROM run_metadata r JOIN partition_progress p USING (run_id) "
        "WHERE r.cancelled_at IS NULL AND r.completed_at IS NULL GROUP BY r.run_id "
        "HAVING count(*) FILTER (WHERE NOT p.completed AND NOT p.failed AND NOT p.cancelled) > 0 "
        "AND max(p.updated_at) < now() - make_interval(secs => $1::bigint / 1000.0)",
        1, p, &r, err);
    if (e != DM_OK)
        return e;
    int rows = PQntuples(r);
    *out = dm_xcalloc((size_t)rows + 1, sizeof(**out));
    for (int i = 0; i < rows && e == DM_OK; i++) {
        struct dm_run_stall *s = &(*out)[i];
        copy_text(s->run_id, sizeof(s->run_id), r, i, 0);
        if (dm_db_get_i64(r, i, 1, &s->unfinished) != DM_OK)
            e = dm_db_bad_value(r, i, 1, "stalled runs", err);
        copy_text(s->last_progress, sizeof(s->last_progress), r, i, 2);
    }
    PQclear(r);
    if (e != DM_OK) {
        free(*out);
        *out = NULL;
        return e;
    }
    *n = rows;
    return DM_OK;
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
    else if (is_true(r, 0, 0))
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
        copy_text((*ids)[i].partition_id, sizeof((*ids)[i].partition_id), r, i, 0);
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
    else if (is_true(r, 0, 0))
        *state = DM_RUNS_CANCEL_ALREADY_CANCELLED;
    else if (is_true(r, 0, 1))
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
    copy_text(ref->trace_id, sizeof(ref->trace_id), r, 0, 0);
    if (dm_db_get_i64(r, 0, 1, &ref->updated_to_ms) != DM_OK)
        return dm_db_bad_value(r, 0, 1, what, err);
    ref->completed = PQnfields(r) > 2 && is_true(r, 0, 2);
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
        copy_text((*ids)[i].run_id, sizeof((*ids)[i].run_id), r, i, 0);
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
    if (e == DM_OK && PQntuples(r) == 1 && is_true(r, 0, 0))
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

/* ---- reports --------------------------------------------------------------------------- */

enum dm_err dm_runs_report_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                      struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(
        db,
        "SELECT p.partition_id, p.min_price, p.max_price, p.estimated_records, p.next_offset, "
        "p.records, p.completed, p.failed, p.cancelled, p.attempts, p.pages, p.page_errors, "
        "p.last_error, p.updated_at, " PARTITION_STATUS_SQL " AS status, w.worker_id, "
        "w.status AS worker_status, w.records_processed, w.error_message, "
        "w.started_at AS worker_started_at, w.completed_at AS worker_completed_at "
        "FROM partition_progress p LEFT JOIN worker_runs w USING (run_id, partition_id) "
        "WHERE p.run_id = $1 ORDER BY p.min_price, p.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_workers(struct dm_db *db, const char *run_id, PGresult **out,
                                   struct dm_error *err)
{
    const char *p[1] = {run_id};
    /* The progress of a worker needs workItemPayload.totalRecords: our WORK_ITEM says
     * estimatedRecords, so the partition's estimate is added under the reference's name. */
    return dm_db_query(
        db,
        "SELECT w.id, w.run_id, w.partition_id, w.worker_id, CASE WHEN " PARTITION_FAILED_SQL
        " THEN 'failed' WHEN p.completed THEN 'completed' ELSE w.status END AS status, "
        "w.records_processed, w.error_message, COALESCE(w.work_item_payload, '{}'::jsonb) || "
        "jsonb_build_object('totalRecords', COALESCE(p.estimated_records, 0)) AS "
        "work_item_payload, w.started_at, w.completed_at FROM worker_runs w LEFT JOIN "
        "partition_progress p USING (run_id, partition_id) WHERE w.run_id = $1 "
        "ORDER BY w.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_events(struct dm_db *db, const char *run_id, PGresult **out,
                                  struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(db,
                       "SELECT id, partition_id, event, detail, created_at FROM "
                       "run_events WHERE run_id = $1 ORDER BY id LIMIT 2000",
                       1, p, out, err);
}

enum dm_err dm_runs_report_failed_partitions(struct dm_db *db, const char *run_id, PGresult **out,
                                             struct dm_error *err)
{
    const char *p[1] = {run_id};
    return dm_db_query(
        db,
        "SELECT p.partition_id, w.worker_id, p.min_price, p.max_price, p.next_offset, "
        "COALESCE(w.records_processed, p.records) AS records_processed, p.records, p.attempts, "
        "p.cancelled, NOT p.cancelled AS has_payload, "
        "COALESCE(w.error_message, p.last_error) AS error_message, "
        "COALESCE(w.started_at, p.updated_at) AS started_at, w.completed_at, p.updated_at "
        "FROM partition_progress p LEFT JOIN worker_runs w USING (run_id, partition_id) "
        "WHERE p.run_id = $1 AND " PARTITION_FAILED_SQL " ORDER BY p.partition_id",
        1, p, out, err);
}

enum dm_err dm_runs_report_failed_workers(struct dm_db *db, const char *run_id, int limit,
                                          PGresult **out, struct dm_error *err)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[2] = {run_id, lim};
    return dm_db_query(
        db,
        "SELECT w.id, w.run_id, w.partition_id, w.worker_id, w.status, w.records_processed, "
        "w.error_message, w.started_at, w.completed_at, p.next_offset, p.attempts, "
        "p.min_price, p.max_price, r.run_type, r.started_at AS run_started_at "
        "FROM worker_runs w JOIN run_metadata r USING (run_id) "
        "LEFT JOIN partition_progress p USING (run_id, partition_id) "
        "WHERE w.status = 'failed' AND ($1::uuid IS NULL OR w.run_id = $1) "
        "ORDER BY w.completed_at DESC NULLS LAST, w.started_at DESC, w.run_id, w.partition_id "
        "LIMIT $2::int",
        2, p, out, err);
}

const char DM_RUNS_QUERY_RELATION[] =
    "(SELECT r.*, COALESCE(p.completed, 0)::int AS completed_workers, "
    "COALESCE(p.failed, 0)::int AS failed_workers FROM run_metadata r LEFT JOIN LATERAL "
    "(SELECT count(*) FILTER (WHERE completed) completed, "
    "count(*) FILTER (WHERE NOT completed AND (failed OR cancelled)) failed "
    "FROM partition_progress pp WHERE pp.run_id = r.run_id) p ON true) run_metadata";

enum dm_err dm_runs_figures(struct dm_db *db, struct dm_runs_figures *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = NULL;
    enum dm_err e = dm_db_query(
        db,
        "SELECT "
        "(SELECT COALESCE(sum(pages), 0) FROM partition_progress), "
        "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress), "
        "(SELECT COALESCE(sum(pages), 0) FROM partition_progress "
        "   WHERE updated_at > now() - interval '24 hours'), "
        "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress "
        "   WHERE updated_at > now() - interval '24 hours'), "
        "(SELECT count(*) FROM run_metadata WHERE consolidation_completed_at IS NOT NULL), "
        "(SELECT COALESCE(sum(consolidation_failures), 0) FROM run_metadata), "
        "(SELECT COALESCE(sum(consolidation_failures), 0) FROM run_metadata "
        "   WHERE consolidation_failed_at > now() - interval '24 hours'), "
        "(SELECT count(*) FROM run_metadata), "
        "(SELECT " MS(
            "max(updated_to)") " FROM run_metadata WHERE completed_at IS NOT NULL), "
                               "(SELECT COALESCE(sum(pages), 0) FROM partition_progress "
                               "   WHERE updated_at > now() - interval '24 hours' "
                               "   OR last_error_at > now() - interval '24 hours'), "
                               "(SELECT COALESCE(sum(page_errors), 0) FROM partition_progress "
                               "   WHERE updated_at > now() - interval '24 hours' "
                               "   OR last_error_at > now() - interval '24 hours'), "
                               "(SELECT COALESCE(sum(GREATEST(consolidation_failures, 1)), 0) FROM "
                               "run_metadata "
                               "   WHERE consolidation_failed_at > now() - interval '24 hours'), "
                               "(SELECT count(*) FROM run_metadata "
                               "   WHERE consolidation_failed_at > now() - interval '24 hours')",
        0, NULL, &r, err);
    if (e != DM_OK)
        return e;
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    out->pages = dm_db_row_i64(&rd, 0);
    out->page_errors = dm_db_row_i64(&rd, 1);
    out->pages_24h = dm_db_row_i64(&rd, 2);
    out->page_errors_24h = dm_db_row_i64(&rd, 3);
    out->runs_consolidated = dm_db_row_i64(&rd, 4);
    out->consolidation_failures = dm_db_row_i64(&rd, 5);
    out->consolidation_failures_24h = dm_db_row_i64(&rd, 6);
    out->runs = dm_db_row_i64(&rd, 7);
    out->last_completed_updated_to_ms = dm_db_row_i64_or(&rd, 8, 0);
    out->check_pages = dm_db_row_i64(&rd, 9);
    out->check_errors = dm_db_row_i64(&rd, 10);
    out->failure_weight_24h = dm_db_row_i64(&rd, 11);
    out->failed_runs_24h = dm_db_row_i64(&rd, 12);
    e = dm_db_row_check(&rd, "run figures", err);
    PQclear(r);
    return e;
}

enum dm_err dm_runs_report_durations(struct dm_db *db, PGresult **out, struct dm_error *err)
{
    return dm_db_query(db,
                       "SELECT run_type, "
                       "extract(epoch FROM (COALESCE(completed_at, consolidation_completed_at) - "
                       "started_at)), run_id::text FROM run_metadata "
                       "WHERE COALESCE(completed_at, consolidation_completed_at) IS NOT NULL "
                       "ORDER BY started_at DESC LIMIT 20",
                       0, NULL, out, err);
}

enum dm_err dm_runs_report_feed_completions(struct dm_db *db, PGresult **out, struct dm_error *err)
{
    return dm_db_query(db,
                       "SELECT feed, max(completed_at) AS last_run_completed_at FROM run_metadata "
                       "GROUP BY feed",
                       0, NULL, out, err);
}
