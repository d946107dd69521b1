/* snapshots.c - the run store: a file feed's snapshot batches, completion, failure and the
 * file_snapshots record (see snapshots.h). */
#include "store/snapshots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/db/feed_sql.h"
#include "core/json.h"
#include "store/store.h"

enum dm_err dm_snapshot_load(struct dm_db *db, const char *feed, const char *run_id,
                             struct dm_snapshot_record *out, struct dm_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *p[2] = {feed, run_id};
    PGresult *r = NULL;
    /* A run of the feed started after the record's run, other than the one about to read,
     * may have written raw rows (a failed, refused or cancelled read): then the record's
     * run no longer names every stone of the snapshot, and the file is read whole. */
    enum dm_err e = dm_db_query(
        db,
        "SELECT s.run_id, s.etag, s.last_modified, s.rows, NOT EXISTS ("
        "  SELECT 1 FROM run_metadata r WHERE r.feed = s.feed AND r.run_id <> s.run_id"
        "  AND r.run_id::text <> $2 AND r.started_at >= coalesce((SELECT g.started_at"
        "  FROM run_metadata g WHERE g.run_id = s.run_id), s.read_at)),"
        " (SELECT count(*) FROM diamonds d WHERE d.feed = $1 AND d.status = 'active')"
        " FROM (SELECT $1::text AS feed) f LEFT JOIN file_snapshots s ON s.feed = f.feed",
        2, p, &r, err);
    if (e != DM_OK)
        return e;
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        out->found = true;
        dm_store_copy_text(out->run_id, sizeof(out->run_id), r, 0, 0);
        dm_store_copy_text(out->etag, sizeof(out->etag), r, 0, 1);
        dm_store_copy_text(out->last_modified, sizeof(out->last_modified), r, 0, 2);
        out->rows = dm_db_row_i64(&rd, 3);
        out->validators_usable = dm_store_is_true(r, 0, 4);
    }
    if (PQntuples(r) == 1)
        out->catalogue_active = dm_db_row_i64(&rd, 5);
    e = dm_db_row_check(&rd, "file snapshot", err);
    PQclear(r);
    return e;
}

/*
 * One batch: the partition row is locked first (old), progress moves only forward, the raw
 * upsert is the page path's (store/partitions.c PAGE_SQL: same columns, same content-hash
 * rule), and a bad row's event goes in only when its row lies beyond the committed progress
 * (a redelivery's batches need not end where the first delivery's did).
 */
static const char BATCH_SQL[] =
    "WITH sc AS (SELECT set_config('synchronous_commit', 'off', true)),"
    " old AS (SELECT next_offset FROM partition_progress"
    "  WHERE run_id = $1 AND partition_id = $2 AND NOT completed AND NOT failed"
    "  AND NOT cancelled FOR UPDATE),"
    " prog AS ("
    " UPDATE partition_progress p SET next_offset = greatest(old.next_offset, $3::bigint),"
    "  records = CASE WHEN old.next_offset < $3::bigint THEN $4::bigint ELSE p.records END,"
    "  pages = p.pages + CASE WHEN old.next_offset < $3::bigint THEN 1 ELSE 0 END,"
    "  updated_at = now()"
    " FROM old WHERE p.run_id = $1 AND p.partition_id = $2"
    " RETURNING old.next_offset < $3::bigint AS advanced),"
    " up AS ("
    " INSERT INTO {raw} AS r (id, supplier_stone_id, offer_id, payload,"
    "  payload_hash, run_id, last_seen_run_id)"
    " SELECT t.id::uuid, t.sid, t.oid, t.payload::json, t.hash, $1, $1"
    "  FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
    "  AS t(id, sid, oid, payload, hash)"
    "  WHERE EXISTS (SELECT 1 FROM old)" RAW_UPSERT_CONFLICT_SQL " RETURNING 1),"
    " ev AS ("
    " INSERT INTO run_events (run_id, partition_id, event, detail)"
    " SELECT $1, $2, 'row_refused', x.detail - 'row'"
    "  FROM old, jsonb_array_elements(coalesce($10::jsonb, '[]'::jsonb)) AS x(detail)"
    "  WHERE (x.detail->>'row')::bigint > old.next_offset RETURNING 1),"
    " wr AS ("
    " UPDATE worker_runs w SET records_processed = $4::bigint, worker_id = $11"
    "  FROM prog WHERE prog.advanced AND w.run_id = $1 AND w.partition_id = $2 RETURNING 1)"
    " SELECT (SELECT count(*) FROM old), coalesce((SELECT advanced FROM prog), false),"
    "  (SELECT count(*) FROM up) FROM sc";

enum dm_err dm_snapshot_commit_batch(struct dm_db *db, const struct dm_snapshot_batch *b,
                                     bool *live, bool *advanced, struct dm_error *err)
{
    *live = *advanced = false;
    char to[32], stored[32];
    snprintf(to, sizeof(to), "%lld", (long long)b->read_to);
    snprintf(stored, sizeof(stored), "%lld", (long long)b->stored);
    const char *p[11] = {b->run_id,
                         b->partition_id,
                         to,
                         stored,
                         b->ids->data,
                         b->stone_ids->data,
                         b->offer_ids->data,
                         b->payloads->data,
                         b->hashes->data,
                         b->refused,
                         b->worker_id};
    int lengths[11] = {0};
    int formats[11] = {0};
    const struct dm_buf *bins[5] = {b->ids, b->stone_ids, b->offer_ids, b->payloads, b->hashes};
    for (int i = 0; i < 5; i++) {
        lengths[4 + i] = (int)bins[i]->len;
        formats[4 + i] = 1; /* binary text[] */
    }
    struct dm_buf sql;
    dm_buf_init(&sql, (size_t)64 * 1024);
    PGresult *r = NULL;
    enum dm_err e = dm_feed_sql(BATCH_SQL, b->feed, &sql, err);
    if (e == DM_OK) {
        /* Prepared per feed: the statement names the feed's raw table. */
        char name[64];
        snprintf(name, sizeof(name), "dm_snapshot_batch_%s", b->feed);
        e = dm_store_run_hot(db, name, sql.data, 11, p, lengths, formats, &r, err);
    }
    dm_buf_free(&sql);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) == 1) {
        int64_t n = 0;
        *live = dm_db_get_i64(r, 0, 0, &n) == DM_OK && n > 0;
        *advanced = dm_store_is_true(r, 0, 1);
    }
    PQclear(r);
    return DM_OK;
}

enum dm_err dm_snapshot_count_seen(struct dm_db *db, const char *feed, const char *run_id,
                                   int64_t *n, struct dm_error *err)
{
    *n = 0;
    const char *p[1] = {run_id};
    PGresult *r = NULL;
    enum dm_err e = dm_feed_query(
        db, "SELECT count(*) FROM {raw} WHERE last_seen_run_id = $1::uuid", feed, 1, p, &r, err);
    if (e == DM_OK && dm_db_get_i64(r, 0, 0, n) != DM_OK)
        e = dm_db_bad_value(r, 0, 0, "stones seen", err);
    PQclear(r);
    return e;
}

/* Durable (the configured synchronous_commit): WORK_DONE and CONSOLIDATE follow it. */
static const char DONE_SQL[] =
    "WITH done AS ("
    " UPDATE partition_progress SET completed = true,"
    "  next_offset = greatest(next_offset, $3::bigint), records = $4::bigint,"
    "  pages = pages + 1, updated_at = now()"
    " WHERE run_id = $1 AND partition_id = $2 AND NOT completed AND NOT failed"
    "  AND NOT cancelled RETURNING records),"
    " touch AS ("
    " UPDATE {raw} SET last_seen_run_id = $1"
    "  WHERE $13::uuid IS NOT NULL AND last_seen_run_id = $13::uuid"
    "  AND EXISTS (SELECT 1 FROM done) RETURNING 1),"
    " snap AS ("
    " INSERT INTO file_snapshots AS s (feed, run_id, etag, last_modified, rows, bad_rows,"
    "  not_carried, lines, bytes, not_modified, read_at)"
    " SELECT {feed}, $1, $5, $6, $4::bigint, $7::bigint, $8::bigint, $9::bigint, $10::bigint,"
    "  $11::boolean, now() FROM done"
    " ON CONFLICT (feed) DO UPDATE SET run_id = EXCLUDED.run_id, etag = EXCLUDED.etag,"
    "  last_modified = EXCLUDED.last_modified, rows = EXCLUDED.rows,"
    "  bad_rows = CASE WHEN EXCLUDED.not_modified THEN s.bad_rows ELSE EXCLUDED.bad_rows END,"
    "  not_carried = CASE WHEN EXCLUDED.not_modified THEN s.not_carried"
    "   ELSE EXCLUDED.not_carried END,"
    "  lines = CASE WHEN EXCLUDED.not_modified THEN s.lines ELSE EXCLUDED.lines END,"
    "  bytes = CASE WHEN EXCLUDED.not_modified THEN s.bytes ELSE EXCLUDED.bytes END,"
    "  not_modified = EXCLUDED.not_modified, read_at = now() RETURNING 1),"
    " wr AS ("
    " UPDATE worker_runs w SET records_processed = done.records, worker_id = $12,"
    "  status = 'completed', completed_at = now(), error_message = NULL"
    " FROM done WHERE w.run_id = $1 AND w.partition_id = $2 RETURNING 1),"
    " ev AS ("
    " INSERT INTO run_events (run_id, partition_id, event, detail)"
    " SELECT $1::uuid, $2::text, 'partition_completed',"
    "  jsonb_build_object('records', done.records, 'workerId', $12::text) FROM done"
    " UNION ALL SELECT $1::uuid, $2::text, 'snapshot_read',"
    "  $14::jsonb || jsonb_build_object('touched', (SELECT count(*) FROM touch)) FROM done"
    " RETURNING 1)"
    " SELECT records FROM done";

enum dm_err dm_snapshot_complete(struct dm_db *db, const struct dm_snapshot_done *d,
                                 bool *completed, struct dm_error *err)
{
    *completed = false;
    char rows_read[32], stones[32], bad[32], nc[32], lines[32], bytes[32];
    snprintf(rows_read, sizeof(rows_read), "%lld", (long long)d->rows_read);
    snprintf(stones, sizeof(stones), "%lld", (long long)d->stones);
    snprintf(bad, sizeof(bad), "%lld", (long long)d->bad_rows);
    snprintf(nc, sizeof(nc), "%lld", (long long)d->not_carried);
    snprintf(lines, sizeof(lines), "%lld", (long long)d->lines);
    snprintf(bytes, sizeof(bytes), "%lld", (long long)d->bytes);
    char *summary = d->summary ? dm_json_dumps(d->summary) : dm_xstrdup("{}");
    const char *p[14] = {d->run_id,
                         d->partition_id,
                         rows_read,
                         stones,
                         d->etag ? d->etag : "",
                         d->last_modified ? d->last_modified : "",
                         bad,
                         nc,
                         lines,
                         bytes,
                         d->not_modified ? "true" : "false",
                         d->worker_id,
                         d->not_modified ? d->touch_run_id : NULL,
                         summary};
    PGresult *r = NULL;
    struct dm_db_conn *c = NULL;
    enum dm_err e = dm_db_acquire(db, 30000, &c, err);
    if (e == DM_OK) {
        e = dm_feed_exec(c, DONE_SQL, d->feed, 14, p, &r, err);
        dm_db_release(c);
    }
    free(summary);
    if (e != DM_OK)
        return e;
    *completed = PQntuples(r) == 1;
    PQclear(r);
    return DM_OK;
}

/* The rows this run wrote (new or changed: run_id is this run's, still pending) are withheld
 * from consolidation in the statement that fails the partition: marked failed, with a hash no
 * file row has, so the consolidator never claims them and the next snapshot's upsert replaces
 * each one whatever its content (a row of the same content would otherwise keep the mark). */
static const char FAIL_SQL[] =
    "WITH f AS (UPDATE partition_progress SET failed = true, last_error = $3,"
    " updated_at = now() WHERE run_id = $1 AND partition_id = $2"
    " AND NOT completed AND NOT failed AND NOT cancelled RETURNING records, next_offset),"
    " held AS (UPDATE {raw} r SET consolidation_status = 'failed',"
    "  payload_hash = " DM_SNAPSHOT_WITHHELD_HASH ", claim_token = NULL, claimed_at = NULL,"
    "  consolidation_error = 'not consolidated: the snapshot of run ' || $1 || ' was refused'"
    "  WHERE r.run_id = $1::uuid AND r.consolidation_status = 'pending'"
    "  AND EXISTS (SELECT 1 FROM f) RETURNING 1),"
    " wr AS (UPDATE worker_runs w SET status = 'failed', error_message = $3, worker_id = $4,"
    " completed_at = now(), records_processed = f.records FROM f"
    " WHERE w.run_id = $1 AND w.partition_id = $2 RETURNING 1),"
    " ev AS (INSERT INTO run_events (run_id, partition_id, event, detail)"
    " SELECT $1::uuid, $2::text, 'partition_failed', jsonb_build_object('error', $3::text,"
    " 'offset', f.next_offset, 'workerId', $4::text) FROM f"
    " UNION ALL SELECT $1::uuid, $2::text, $5::text, coalesce($6::jsonb, '{}'::jsonb)"
    " || jsonb_build_object('withheld', (SELECT count(*) FROM held))"
    " FROM f WHERE $5::text IS NOT NULL"
    " RETURNING 1)"
    " SELECT records, (SELECT count(*) FROM held) FROM f";

enum dm_err dm_snapshot_fail(struct dm_db *db, const char *feed, const char *run_id,
                             const char *partition_id, const char *worker_id, const char *message,
                             const char *event, const json_t *detail, bool *marked,
                             int64_t *records, int64_t *withheld, struct dm_error *err)
{
    *marked = false;
    *records = *withheld = 0;
    char *det = detail ? dm_json_dumps(detail) : NULL;
    const char *p[6] = {run_id, partition_id, message, worker_id, event, det};
    PGresult *r = NULL;
    enum dm_err e = dm_feed_query(db, FAIL_SQL, feed, 6, p, &r, err);
    free(det);
    if (e != DM_OK)
        return e;
    *marked = PQntuples(r) == 1;
    if (*marked && dm_db_get_i64(r, 0, 0, records) != DM_OK)
        *records = 0;
    if (*marked && dm_db_get_i64(r, 0, 1, withheld) != DM_OK)
        *withheld = 0;
    PQclear(r);
    return DM_OK;
}
