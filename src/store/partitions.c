/* partitions.c - the run store: partition_progress rows (see runs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "core/log.h"
#include "store/runs.h"
#include "store/store.h"

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
        dm_store_copy_text(out->run_type, sizeof(out->run_type), r, 0, 1);
    for (int i = 0; i < n; i++) {
        struct dm_run_partition *pt = &out->parts[i];
        struct dm_db_row rd = DM_DB_ROW(r, i);
        dm_store_copy_text(pt->run_id, sizeof(pt->run_id), r, i, 0);
        dm_store_copy_text(pt->partition_id, sizeof(pt->partition_id), r, i, 2);
        pt->min_price = dm_db_row_i64(&rd, 3);
        pt->max_price = dm_db_row_i64(&rd, 4);
        pt->estimated_records = dm_db_row_i64(&rd, 5);
        pt->records = dm_db_row_i64(&rd, 6);
        pt->next_offset = dm_db_row_i64(&rd, 7);
        pt->status = dm_partition_status_of(dm_store_is_true(r, i, 8), dm_store_is_true(r, i, 9),
                                            dm_store_is_true(r, i, 10));
        pt->attempts = dm_db_row_i64(&rd, 11);
        pt->pages = dm_db_row_i64(&rd, 12);
        pt->page_errors = dm_db_row_i64(&rd, 13);
        pt->updated_at_ms = dm_db_row_i64(&rd, 14);
        pt->last_error = dm_store_dup_text(r, i, 15);
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
    dm_store_copy_text(wi->trace_id, sizeof(wi->trace_id), r, 0, 0);
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
    "NULL, p.estimated_records, r.capped, r.feed FROM partition_progress p JOIN run_metadata r "
    "USING (run_id) WHERE p.run_id = $1 AND p.partition_id = $2";

enum dm_err dm_runs_partition_guard(struct dm_db *db, const char *run_id, const char *partition_id,
                                    struct dm_partition_guard *g, struct dm_error *err)
{
    memset(g, 0, sizeof(*g));
    PGresult *r = NULL;
    const char *p[2] = {run_id, partition_id};
    enum dm_err e = dm_store_run_hot(db, "dm_worker_guard", GUARD_SQL, 2, p, NULL, NULL, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_NOT_FOUND, "unknown run or partition %s/%s", run_id,
                            partition_id);
    }
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    g->next_offset = dm_db_row_i64(&rd, 0);
    g->terminal = dm_store_is_true(r, 0, 1);
    g->estimated_records = dm_db_row_i64(&rd, 2);
    g->capped = dm_store_is_true(r, 0, 3);
    dm_store_copy_text(g->feed, sizeof(g->feed), r, 0, 4);
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
 * A page that can complete the partition ($13: empty, or the capped estimate reached) keeps
 * the configured durability: WORK_DONE and CONSOLIDATE follow it, and with Service Bus they
 * leave the database, so the completion they announce must survive a crash. Everything else
 * the worker writes (failures, queue settlement) keeps the configured durability too.
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
    " INSERT INTO {raw} AS r (id, supplier_stone_id, offer_id, payload,"
    "  payload_hash, run_id, last_seen_run_id)"
    " SELECT t.id::uuid, t.sid, t.oid, t.payload::json, t.hash, $1, $1"
    "  FROM unnest($12::text[], $7::text[], $8::text[], $9::text[], $10::text[])"
    "  AS t(id, sid, oid, payload, hash)"
    "  WHERE EXISTS (SELECT 1 FROM cas)" RAW_UPSERT_CONFLICT_SQL " RETURNING 1),"
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
    struct dm_buf sql;
    dm_buf_init(&sql, (size_t)64 * 1024);
    const char *feed = pg->feed ? pg->feed : DM_FEED_DEFAULT;
    /* One prepared statement per feed (its raw table), named after the feed. */
    char name[64];
    snprintf(name, sizeof(name), "dm_worker_page_%s", feed);
    enum dm_err e = dm_feed_sql(PAGE_SQL, feed, &sql, err);
    if (e == DM_OK)
        e = dm_store_run_hot(db, name, sql.data, 14, p, lengths, formats, &r, err);
    dm_buf_free(&sql);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        *committed = true;
        *completed = dm_store_is_true(r, 0, 0);
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
        dm_store_copy_text((*out)[i].run_id, sizeof((*out)[i].run_id), r, i, 0);
        dm_store_copy_text((*out)[i].partition_id, sizeof((*out)[i].partition_id), r, i, 1);
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
        dm_store_copy_text(s->run_id, sizeof(s->run_id), r, i, 0);
        if (dm_db_get_i64(r, i, 1, &s->unfinished) != DM_OK)
            e = dm_db_bad_value(r, i, 1, "stalled runs", err);
        dm_store_copy_text(s->last_progress, sizeof(s->last_progress), r, i, 2);
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
