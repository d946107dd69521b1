/* runops.c - run operations shared by worker, scheduler, sweeper and operator commands. */
#include "services/worker/runops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

enum dm_err dm_runops_queue_open(const struct dm_config *cfg, struct dm_db *db,
                                 struct dm_queue **out, struct dm_error *err)
{
    /* dm_queue_open applies WORK_ITEMS_LOCK_MS (tests) itself. */
    return dm_queue_open(cfg, db, out, err);
}

void dm_runops_work_item_out(const struct dm_work_item *wi, const char *suffix, char *id,
                             size_t id_size, char **body)
{
    char base[256];
    dm_work_item_id(wi, base, sizeof(base));
    snprintf(id, id_size, "%s%s", base, suffix ? suffix : "");
    *body = dm_work_item_to_json(wi);
}

enum dm_err dm_runops_send_work_item(struct dm_queue *q, const struct dm_work_item *wi,
                                     const char *suffix, struct dm_error *err)
{
    char id[256];
    char *body = NULL;
    dm_runops_work_item_out(wi, suffix, id, sizeof(id), &body);
    struct dm_queue_out m = {.id = id, .body = body};
    enum dm_err e = dm_queue_send(q, DM_Q_WORK_ITEMS, &m, err);
    free(body);
    return e;
}

void dm_runops_event(struct dm_db *db, const char *run_id, const char *partition_id,
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

enum dm_err dm_runops_completion_check(struct dm_db *db, struct dm_queue *q,
                                       struct dm_alert_sink *alert, const char *run_id,
                                       bool *consolidate_sent, struct dm_error *err)
{
    *consolidate_sent = false;
    struct dm_log_ctx ctx = {.run_id = run_id};
    PGresult *r = NULL;
    const char *p[1] = {run_id};
    enum dm_err e =
        dm_db_query(db,
                    "SELECT count(p.partition_id), count(*) FILTER (WHERE p.completed), "
                    "count(*) FILTER (WHERE p.failed AND NOT p.completed), r.expected_workers, "
                    "r.cancelled_at IS NOT NULL, r.trace_id "
                    "FROM run_metadata r LEFT JOIN partition_progress p USING (run_id) "
                    "WHERE r.run_id = $1 GROUP BY r.run_id",
                    1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_NOT_FOUND, "run %s not found", run_id);
    }
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    int64_t total = dm_db_row_i64(&rd, 0), completed = dm_db_row_i64(&rd, 1),
            failed = dm_db_row_i64(&rd, 2), expected = dm_db_row_i64(&rd, 3);
    bool cancelled = !strcmp(PQgetvalue(r, 0, 4), "t");
    char trace_id[DM_UUID_LEN];
    snprintf(trace_id, sizeof(trace_id), "%s", PQgetvalue(r, 0, 5));
    e = dm_db_row_check(&rd, "completion check", err);
    PQclear(r);
    if (e != DM_OK)
        return e;
    ctx.trace_id = trace_id;
    if (cancelled || total == 0 || total < expected)
        return DM_OK;
    if (completed == total) {
        /* Claim the send: only one caller flips consolidate_sent_at. */
        e = dm_db_query(db,
                        "UPDATE run_metadata SET consolidate_sent_at = now() "
                        "WHERE run_id = $1 AND consolidate_sent_at IS NULL "
                        "AND cancelled_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
                        "partition_progress WHERE run_id = $1 AND NOT completed) "
                        "RETURNING (extract(epoch FROM updated_to) * 1000)::bigint",
                        1, p, &r, err);
        if (e != DM_OK)
            return e;
        bool claimed = PQntuples(r) == 1;
        struct dm_consolidate c = {.force = false};
        if (claimed && dm_db_get_i64(r, 0, 0, &c.updated_to_ms) != DM_OK)
            e = dm_db_bad_value(r, 0, 0, "completion check", err);
        PQclear(r);
        if (e != DM_OK || !claimed)
            return e;
        snprintf(c.run_id, sizeof(c.run_id), "%s", run_id);
        snprintf(c.trace_id, sizeof(c.trace_id), "%s", trace_id);
        char id[256];
        dm_consolidate_id(&c, id, sizeof(id));
        char *body = dm_consolidate_to_json(&c);
        struct dm_queue_out m = {.id = id, .body = body};
        e = dm_queue_send(q, DM_Q_CONSOLIDATE, &m, err);
        free(body);
        if (e != DM_OK) {
            /* Un-claim so the sweeper's backstop (or a retry) sends it later. */
            if (dm_db_query(db,
                            "UPDATE run_metadata SET consolidate_sent_at = NULL WHERE run_id = $1",
                            1, p, NULL, NULL) != DM_OK)
                dm_warn(&ctx, "could not un-claim consolidate_sent_at");
            return e;
        }
        *consolidate_sent = true;
        dm_info(&ctx, "all %lld partitions completed: CONSOLIDATE sent", (long long)total);
        return DM_OK;
    }
    if (completed + failed == total && failed > 0) {
        char body[512];
        snprintf(body, sizeof(body),
                 "Run %s finished with %lld failed partition(s) of %lld (%lld completed). "
                 "Nothing was consolidated; the watermark was not advanced. "
                 "Retry with: diamond retry %s",
                 run_id, (long long)failed, (long long)total, (long long)completed, run_id);
        if (alert)
            (void)dm_alert_send(alert, &ctx, "Run finished with failed partitions", body);
        else
            dm_warn(&ctx, "Run finished with failed partitions: %s", body);
    }
    return DM_OK;
}

enum dm_err dm_runops_load_facts(struct dm_db *db, const char *run_id, struct dm_run_facts *f,
                                 struct dm_error *err)
{
    memset(f, 0, sizeof(*f));
    PGresult *r = NULL;
    const char *p[1] = {run_id};
#define MS(x) "COALESCE((extract(epoch FROM " x ") * 1000)::bigint, 0)"
    /* consolidation_failed_at comes with migration 004: read it through to_jsonb so this
     * works whether or not that migration is present. */
    // clang-format off
    static const char sql[] =
        "SELECT r.expected_workers, count(p.partition_id), "
        "count(*) FILTER (WHERE p.completed), count(*) FILTER (WHERE p.failed), "
        MS("r.started_at") ", "
        MS("max(p.updated_at)") ", "
        MS("r.consolidate_sent_at") ", "
        MS("r.consolidation_started_at") ", "
        MS("r.consolidation_completed_at") ", "
        MS("(to_jsonb(r) ->> 'consolidation_failed_at')::timestamptz") ", "
        MS("r.completed_at") ", "
        MS("r.cancelled_at") ", "
        MS("r.skipped_at") " "
        "FROM run_metadata r LEFT JOIN partition_progress p USING (run_id) "
        "WHERE r.run_id = $1 GROUP BY r.run_id";
    // clang-format on
#undef MS
    enum dm_err e = dm_db_query(db, sql, 1, p, &r, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dm_error_set(err, DM_ERR_NOT_FOUND, "run %s not found", run_id);
    }
    struct dm_db_row rd = DM_DB_ROW(r, 0);
    f->expected_partitions = dm_db_row_i64(&rd, 0);
    f->partitions = dm_db_row_i64(&rd, 1);
    f->completed = dm_db_row_i64(&rd, 2);
    f->failed = dm_db_row_i64(&rd, 3);
    f->started_at_ms = dm_db_row_i64(&rd, 4);
    f->last_progress_ms = dm_db_row_i64(&rd, 5);
    f->consolidate_sent_at_ms = dm_db_row_i64(&rd, 6);
    f->consolidation_started_at_ms = dm_db_row_i64(&rd, 7);
    f->consolidation_completed_at_ms = dm_db_row_i64(&rd, 8);
    f->consolidation_failed_at_ms = dm_db_row_i64(&rd, 9);
    f->completed_at_ms = dm_db_row_i64(&rd, 10);
    f->cancelled_at_ms = dm_db_row_i64(&rd, 11);
    f->skipped_at_ms = dm_db_row_i64(&rd, 12);
    e = dm_db_row_check(&rd, "run facts", err);
    PQclear(r);
    return e;
}

enum dm_err dm_runops_partition_item(struct dm_db *db, const char *run_id, const char *partition_id,
                                     struct dm_work_item *wi, struct dm_error *err)
{
    memset(wi, 0, sizeof(*wi));
    PGresult *r = NULL;
    const char *p[2] = {run_id, partition_id};
    enum dm_err e = dm_db_query(
        db,
        "SELECT r.trace_id, p.min_price, p.max_price, p.estimated_records, p.next_offset, "
        "(extract(epoch FROM r.updated_from) * 1000)::bigint, "
        "(extract(epoch FROM r.updated_to) * 1000)::bigint, p.attempts "
        "FROM partition_progress p JOIN run_metadata r USING (run_id) "
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
    snprintf(wi->trace_id, sizeof(wi->trace_id), "%s", PQgetvalue(r, 0, 0));
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
