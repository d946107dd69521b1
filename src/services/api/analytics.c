/*
 * analytics.c - the dashboard's read routes: summary, runs (filters, paging, derived status),
 * one run with partitions/workers/events, failed workers, feeds, consolidation progress, and
 * the allowlisted query endpoint (tables diamonds, run_metadata, worker_runs; operators eq,
 * neq, gt, gte, lt, lte, like, ilike, in, is; columns only from the allowlists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/search_query.h"
#include "services/api/runs.h"

static bool int_arg(struct api_call *c, const char *name, int min, int max, int def, int *out)
{
    const char *v = dm_http_req_arg(c->req, name);
    *out = def;
    if (v == NULL)
        return true;
    if (dm_parse_int(v, min, max, out) != DM_OK) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be an integer between %d and %d", min, max);
        api_validation(c, name, msg);
        return false;
    }
    return true;
}

void api_analytics_summary(struct api_call *c)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_query(
        c->api->db,
        "SELECT count(*) FILTER (WHERE status = 'active') AS total_active, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'available') AS available, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'on_hold') AS on_hold, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'sold') AS sold, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'unavailable') "
        "  AS unavailable, "
        "count(*) FILTER (WHERE status = 'active' AND lab_grown) AS lab_grown, "
        "count(*) FILTER (WHERE status = 'active' AND NOT lab_grown) AS natural, "
        "count(*) FILTER (WHERE status = 'deleted') AS deleted, "
        "round(avg(retail_price) FILTER (WHERE status = 'active'), 2) AS avg_retail_price, "
        "min(retail_price) FILTER (WHERE status = 'active') AS min_retail_price, "
        "max(retail_price) FILTER (WHERE status = 'active') AS max_retail_price, "
        "max(updated_at) AS last_updated_at FROM diamonds",
        0, NULL, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return;
    }
    json_t *d = api_row_json(r, 0);
    PQclear(r);
    r = NULL;
    char sql[4096];
    snprintf(sql, sizeof(sql), "%s ORDER BY r.started_at DESC LIMIT 50", API_RUN_SELECT);
    e = dm_db_query(c->api->db, sql, 0, NULL, &r, &err);
    if (e != DM_OK) {
        json_decref(d);
        api_fail(c, e, &err);
        return;
    }
    json_t *by = json_object();
    for (int i = 0; i < DM_RUN_STATUS_COUNT; i++)
        json_object_set_new(by, dm_run_status_name((enum dm_run_status)i), json_integer(0));
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = dm_run_status_name(api_run_status(r, i));
        json_object_set_new(by, name,
                            json_integer(json_integer_value(json_object_get(by, name)) + 1));
    }
    json_object_set_new(d, "recentRunsByStatus", by);
    if (PQntuples(r) > 0)
        json_object_set_new(d, "lastRun", api_run_json(r, 0));
    PQclear(r);
    api_data(c, 200, d);
}

void api_analytics_runs(struct api_call *c)
{
    int page, limit;
    if (!int_arg(c, "page", 1, 100000, 1, &page) || !int_arg(c, "limit", 1, 100, 20, &limit))
        return;
    const char *type = dm_http_req_arg(c->req, "run_type");
    const char *status = dm_http_req_arg(c->req, "status");
    const char *after = dm_http_req_arg(c->req, "started_after");
    const char *before = dm_http_req_arg(c->req, "started_before");
    if (type && strcmp(type, "full") && strcmp(type, "incremental")) {
        api_validation(c, "run_type", "must be full or incremental");
        return;
    }
    enum dm_run_status want = DM_RUN_RUNNING;
    if (status && dm_run_status_parse(status, &want) != DM_OK) {
        api_validation(c, "status",
                       "must be one of running, consolidating, completed, failed, partial, "
                       "stalled, cancelled, skipped");
        return;
    }
    int64_t ams = 0, bms = 0;
    if (after && dm_time_parse(after, &ams) != DM_OK) {
        api_validation(c, "started_after", "must be an ISO-8601 time");
        return;
    }
    if (before && dm_time_parse(before, &bms) != DM_OK) {
        api_validation(c, "started_before", "must be an ISO-8601 time");
        return;
    }
    char a_iso[DM_ISO_LEN], b_iso[DM_ISO_LEN];
    dm_time_format(ams, a_iso);
    dm_time_format(bms, b_iso);
    const char *p[3] = {type, after ? a_iso : NULL, before ? b_iso : NULL};
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "%s WHERE ($1::text IS NULL OR r.run_type = $1) "
             "AND ($2::timestamptz IS NULL OR r.started_at >= $2) "
             "AND ($3::timestamptz IS NULL OR r.started_at < $3) "
             "ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1000",
             API_RUN_SELECT);
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_query(c->api->db, sql, 3, p, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return;
    }
    /* Status is derived, so it is filtered here (over at most 1000 matching runs). */
    json_t *rows = json_array();
    int total = 0;
    int from = (page - 1) * limit;
    for (int i = 0; i < PQntuples(r); i++) {
        if (status && api_run_status(r, i) != want)
            continue;
        if (total >= from && total < from + limit)
            json_array_append_new(rows, api_run_json(r, i));
        total++;
    }
    PQclear(r);
    json_t *body = json_object();
    json_object_set_new(body, "data", rows);
    json_object_set_new(body, "pagination",
                        json_pack("{s:i,s:i,s:i,s:i}", "total", total, "page", page, "limit", limit,
                                  "totalPages", (total + limit - 1) / limit));
    api_json(c->resp, 200, body);
}

void api_analytics_run(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "runId", &id))
        return;
    PGresult *r = NULL;
    if (!api_run_get(c, id, &r))
        return;
    const char *p[1] = {id};
    json_t *run = api_run_json(r, 0);
    PQclear(r);
    bool ok;
    json_t *parts = api_query_rows(
        c,
        "SELECT p.partition_id, p.min_price, p.max_price, p.estimated_records, p.next_offset, "
        "p.records, p.completed, p.failed, p.cancelled, p.attempts, p.pages, p.page_errors, "
        "p.last_error, p.updated_at, CASE WHEN p.cancelled THEN 'cancelled' WHEN p.failed THEN "
        "'failed' WHEN p.completed THEN 'completed' ELSE 'running' END AS status, w.worker_id, "
        "w.status AS worker_status, w.records_processed, w.error_message, "
        "w.started_at AS worker_started_at, w.completed_at AS worker_completed_at "
        "FROM partition_progress p LEFT JOIN worker_runs w USING (run_id, partition_id) "
        "WHERE p.run_id = $1 ORDER BY p.min_price, p.partition_id",
        1, p, &ok);
    if (!ok) {
        json_decref(run);
        return;
    }
    json_t *events = api_query_rows(c,
                                    "SELECT id, partition_id, event, detail, created_at FROM "
                                    "run_events WHERE run_id = $1 ORDER BY id LIMIT 2000",
                                    1, p, &ok);
    if (!ok) {
        json_decref(run);
        json_decref(parts);
        return;
    }
    json_object_set_new(run, "partitions", parts);
    json_object_set_new(run, "events", events);
    api_data(c, 200, run);
}

void api_analytics_failed_workers(struct api_call *c)
{
    int limit;
    if (!int_arg(c, "limit", 1, 1000, 100, &limit))
        return;
    const char *run = dm_http_req_arg(c->req, "run_id");
    if (run && !dm_uuid_valid(run)) {
        api_validation(c, "run_id", "must be a UUID");
        return;
    }
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[2] = {run, lim};
    api_rows_answer(
        c,
        "SELECT w.run_id, w.partition_id, w.worker_id, w.status, w.records_processed, "
        "w.error_message, w.started_at, w.completed_at, p.next_offset, p.attempts, "
        "p.min_price, p.max_price, r.run_type "
        "FROM worker_runs w JOIN run_metadata r USING (run_id) "
        "LEFT JOIN partition_progress p USING (run_id, partition_id) "
        "WHERE w.status = 'failed' AND ($1::uuid IS NULL OR w.run_id = $1) "
        "ORDER BY w.completed_at DESC NULLS LAST, w.run_id, w.partition_id LIMIT $2::int",
        2, p);
}

void api_analytics_feeds(struct api_call *c)
{
    bool ok;
    json_t *rows = api_query_rows(
        c,
        "SELECT feed, count(*) FILTER (WHERE status = 'active') AS active, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'available') AS available, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'on_hold') AS on_hold, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'sold') AS sold, "
        "count(*) FILTER (WHERE status = 'deleted') AS deleted, "
        "min(feed_price) FILTER (WHERE status = 'active') AS min_feed_price, "
        "max(feed_price) FILTER (WHERE status = 'active') AS max_feed_price, "
        "round(avg(retail_price) FILTER (WHERE status = 'active'), 2) AS avg_retail_price, "
        "max(updated_at) AS last_updated_at, "
        "(SELECT max(completed_at) FROM run_metadata m WHERE m.feed = d.feed) AS "
        "last_run_completed_at "
        "FROM diamonds d GROUP BY feed ORDER BY feed",
        0, NULL, &ok);
    if (!ok)
        return;
    json_t *raw =
        api_query_rows(c,
                       "SELECT count(*) AS total, "
                       "count(*) FILTER (WHERE consolidation_status = 'pending') AS pending, "
                       "count(*) FILTER (WHERE consolidation_status = 'failed') AS failed "
                       "FROM raw_diamonds_nivoda",
                       0, NULL, &ok);
    if (!ok) {
        json_decref(rows);
        return;
    }
    size_t i;
    json_t *f;
    json_array_foreach(rows, i, f)
    {
        const char *name = dm_json_str(f, "feed");
        if (name && !strcmp(name, "nivoda"))
            json_object_set(f, "raw", json_array_get(raw, 0));
    }
    json_decref(raw);
    api_data(c, 200, rows);
}

#define RAW_COUNTS                                                                                 \
    "(SELECT json_build_object('pending', count(*) FILTER (WHERE consolidation_status = "          \
    "'pending'), 'processing', count(*) FILTER (WHERE consolidation_status = 'processing'), "      \
    "'done', count(*) FILTER (WHERE consolidation_status = 'done'), 'failed', count(*) FILTER "    \
    "(WHERE consolidation_status = 'failed'), 'total', count(*)) FROM raw_diamonds_nivoda x "      \
    "WHERE x.run_id = r.run_id)"

static json_t *consolidation_json(const PGresult *r, int row)
{
    json_t *o = api_run_json(r, row);
    json_t *raw = json_loads(PQgetvalue(r, row, PQnfields(r) - 1), 0, NULL);
    if (raw) {
        json_int_t done = json_integer_value(json_object_get(raw, "done"));
        json_int_t failed = json_integer_value(json_object_get(raw, "failed"));
        json_int_t total = json_integer_value(json_object_get(raw, "total"));
        json_object_set_new(o, "raw", raw);
        json_object_set_new(o, "progress",
                            json_real(total > 0 ? (double)(done + failed) / (double)total : 0.0));
    }
    return o;
}

static enum dm_err consolidation_rows(struct api_call *c, const char *where, int n,
                                      const char *const *p, PGresult **r, struct dm_error *err)
{
    /* API_RUN_SELECT + the raw counts as one extra last column. */
    const char *from = strstr(API_RUN_SELECT, " FROM run_metadata r");
    char sql[8192];
    snprintf(sql, sizeof(sql), "%.*s, %s%s %s", (int)(from - API_RUN_SELECT), API_RUN_SELECT,
             RAW_COUNTS, from, where);
    return dm_db_query(c->api->db, sql, n, p, r, err);
}

void api_analytics_consolidation(struct api_call *c)
{
    int limit;
    if (!int_arg(c, "limit", 1, 100, 20, &limit))
        return;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[1] = {lim};
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e =
        consolidation_rows(c, "ORDER BY r.started_at DESC LIMIT $1::int", 1, p, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(a, consolidation_json(r, i));
    PQclear(r);
    bool ok;
    json_t *totals = api_query_rows(c,
                                    "SELECT consolidation_status AS status, count(*) AS count FROM "
                                    "raw_diamonds_nivoda GROUP BY 1 ORDER BY 1",
                                    0, NULL, &ok);
    if (!ok) {
        json_decref(a);
        return;
    }
    api_data(c, 200, json_pack("{s:o,s:o}", "runs", a, "rawByStatus", totals));
}

void api_analytics_consolidation_run(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "runId", &id))
        return;
    const char *p[1] = {id};
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = consolidation_rows(c, "WHERE r.run_id = $1", 1, p, &r, &err);
    if (!api_row_found(c, e, &err, &r, "Run not found"))
        return;
    json_t *o = consolidation_json(r, 0);
    PQclear(r);
    api_data(c, 200, o);
}

/* ---- allowlisted query ---- */

struct qtable {
    const char *name;
    const char *const *cols;
};

static const char *const diamond_cols[] = {"id",
                                           "feed",
                                           "supplier_stone_id",
                                           "offer_id",
                                           "shape",
                                           "carats",
                                           "color",
                                           "clarity",
                                           "cut",
                                           "polish",
                                           "symmetry",
                                           "fluorescence",
                                           "lab_grown",
                                           "treated",
                                           "feed_price",
                                           "price_per_carat",
                                           "retail_price",
                                           "markup_ratio",
                                           "rating",
                                           "pricing_rule_id",
                                           "availability",
                                           "raw_availability",
                                           "hold_id",
                                           "image_url",
                                           "video_url",
                                           "certificate_lab",
                                           "certificate_number",
                                           "certificate_pdf_url",
                                           "supplier_name",
                                           "status",
                                           "deleted_at",
                                           "last_run_id",
                                           "created_at",
                                           "updated_at",
                                           NULL};
static const char *const run_cols[] = {"run_id",
                                       "run_type",
                                       "trace_id",
                                       "feed",
                                       "updated_from",
                                       "updated_to",
                                       "expected_workers",
                                       "estimated_records",
                                       "capped",
                                       "count_queries",
                                       "watermark_before",
                                       "watermark_after",
                                       "started_at",
                                       "consolidate_sent_at",
                                       "consolidation_started_at",
                                       "consolidation_completed_at",
                                       "completed_at",
                                       "cancelled_at",
                                       "skipped_at",
                                       "stats_processed",
                                       "stats_new",
                                       "stats_changed",
                                       "stats_unchanged",
                                       "stats_removed",
                                       "stats_failed",
                                       "consolidation_duration_ms",
                                       "consolidation_failures",
                                       "consolidation_failed_at",
                                       "last_error",
                                       NULL};
static const char *const worker_cols[] = {"id",
                                          "run_id",
                                          "partition_id",
                                          "worker_id",
                                          "status",
                                          "records_processed",
                                          "error_message",
                                          "started_at",
                                          "completed_at",
                                          NULL};
static const struct qtable qtables[] = {
    {"diamonds", diamond_cols}, {"run_metadata", run_cols}, {"worker_runs", worker_cols}};

static const char *find_col(const struct qtable *t, const char *name)
{
    if (name == NULL)
        return NULL;
    for (int i = 0; t->cols[i]; i++) {
        char camel[64];
        api_camel(t->cols[i], camel, sizeof(camel));
        if (!strcmp(t->cols[i], name) || !strcmp(camel, name))
            return t->cols[i];
    }
    return NULL;
}

/* JSON scalar -> parameter text (NULL for non-scalars). */
static char *scalar_text(json_t *v)
{
    if (json_is_string(v))
        return dm_xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return dm_xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return dm_xasprintf("%.17g", json_real_value(v));
    if (json_is_boolean(v))
        return dm_xstrdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

static const struct {
    const char *name, *sql;
} ops[] = {{"eq", "="},   {"neq", "<>"},    {"gt", ">"},        {"gte", ">="}, {"lt", "<"},
           {"lte", "<="}, {"like", "LIKE"}, {"ilike", "ILIKE"}, {"in", NULL},  {"is", NULL}};

static void qfail(struct dm_sq_error *qe, const char *param, const char *msg)
{
    snprintf(qe->param, sizeof(qe->param), "%s", param);
    snprintf(qe->message, sizeof(qe->message), "%s", msg);
}

enum dm_err api_query_build(const char *table, json_t *body, struct dm_sql *s, int64_t *limit,
                            int64_t *offset, struct dm_sq_error *qe)
{
    const struct qtable *t = NULL;
    for (size_t i = 0; i < sizeof(qtables) / sizeof(qtables[0]); i++)
        if (!strcmp(table, qtables[i].name))
            t = &qtables[i];
    if (t == NULL) {
        qfail(qe, "table", "must be one of diamonds, run_metadata, worker_runs");
        return DM_ERR_INVALID;
    }
    enum dm_err e = dm_sql_text(s, "SELECT json_strip_nulls(json_agg(t))::text FROM (SELECT ");
    char msg[160];
    /* select: list of allowlisted columns; default = the whole allowlist. */
    json_t *sel = json_object_get(body, "select");
    if (sel != NULL && !json_is_null(sel) && !json_is_array(sel)) {
        qfail(qe, "select", "must be an array of column names");
        return DM_ERR_INVALID;
    }
    int nsel = 0;
    if (json_is_array(sel) && json_array_size(sel) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(sel, i, v)
        {
            const char *col = find_col(t, json_string_value(v));
            if (col == NULL) {
                snprintf(msg, sizeof(msg), "unknown column '%.60s'",
                         json_is_string(v) ? json_string_value(v) : "?");
                qfail(qe, "select", msg);
                return DM_ERR_INVALID;
            }
            char camel[64];
            api_camel(col, camel, sizeof(camel));
            if (e == DM_OK)
                e = dm_buf_appendf(&s->text, "%s%s AS \"%s\"", nsel++ ? ", " : "", col, camel);
        }
    } else {
        for (int i = 0; t->cols[i] && e == DM_OK; i++) {
            char camel[64];
            api_camel(t->cols[i], camel, sizeof(camel));
            e = dm_buf_appendf(&s->text, "%s%s AS \"%s\"", i ? ", " : "", t->cols[i], camel);
        }
    }
    if (e == DM_OK)
        e = dm_buf_appendf(&s->text, " FROM %s WHERE true", t->name);
    /* filters: [{column, operator, value}] */
    json_t *filters = json_object_get(body, "filters");
    if (filters != NULL && !json_is_null(filters) && !json_is_array(filters)) {
        qfail(qe, "filters", "must be an array of {column, operator, value}");
        return DM_ERR_INVALID;
    }
    size_t fi;
    json_t *f;
    json_array_foreach(filters, fi, f)
    {
        char path[32];
        snprintf(path, sizeof(path), "filters[%zu]", fi);
        const char *cname = dm_json_str(f, "column");
        if (cname == NULL)
            cname = dm_json_str(f, "field");
        const char *col = find_col(t, cname);
        if (col == NULL) {
            snprintf(msg, sizeof(msg), "unknown column '%.60s'", cname ? cname : "");
            qfail(qe, path, msg);
            return DM_ERR_INVALID;
        }
        const char *op = dm_json_str(f, "operator");
        if (op == NULL)
            op = dm_json_str(f, "op");
        int oi = -1;
        for (size_t k = 0; op && k < sizeof(ops) / sizeof(ops[0]); k++)
            if (!strcmp(op, ops[k].name))
                oi = (int)k;
        if (oi < 0) {
            qfail(qe, path,
                  "operator must be one of eq, neq, gt, gte, lt, lte, like, ilike, in, "
                  "is");
            return DM_ERR_INVALID;
        }
        json_t *val = json_object_get(f, "value");
        if (!strcmp(op, "is")) {
            const char *lit = json_is_null(val) || val == NULL ? "NULL"
                              : json_is_true(val)              ? "TRUE"
                              : json_is_false(val)             ? "FALSE"
                                                               : NULL;
            if (lit == NULL) {
                qfail(qe, path, "value for 'is' must be null, true or false");
                return DM_ERR_INVALID;
            }
            if (e == DM_OK)
                e = dm_buf_appendf(&s->text, " AND %s IS %s", col, lit);
        } else if (!strcmp(op, "in")) {
            if (!json_is_array(val) || json_array_size(val) == 0 ||
                json_array_size(val) > DM_SQ_MAX_VALUES) {
                qfail(qe, path, "value for 'in' must be an array of 1..24 scalars");
                return DM_ERR_INVALID;
            }
            struct dm_sq_list l;
            memset(&l, 0, sizeof(l));
            size_t k;
            json_t *x;
            json_array_foreach(val, k, x)
            {
                char *txt = scalar_text(x);
                if (txt == NULL || strlen(txt) >= DM_SQ_VALUE_MAX) {
                    free(txt);
                    qfail(qe, path, "value for 'in' must be an array of short scalars");
                    return DM_ERR_INVALID;
                }
                snprintf(l.v[l.n++], DM_SQ_VALUE_MAX, "%s", txt);
                free(txt);
            }
            struct dm_buf arr;
            dm_buf_init(&arr, 8192);
            if (e == DM_OK)
                e = dm_sql_array_literal(&l, &arr);
            if (e == DM_OK)
                e = dm_buf_appendf(&s->text, " AND %s::text = ANY(", col);
            if (e == DM_OK)
                e = dm_sql_param(s, arr.data);
            if (e == DM_OK)
                e = dm_sql_text(s, "::text[])");
            dm_buf_free(&arr);
        } else {
            char *txt = scalar_text(val);
            if (txt == NULL) {
                qfail(qe, path, "value must be a string, number or boolean");
                return DM_ERR_INVALID;
            }
            bool textual = !strcmp(op, "like") || !strcmp(op, "ilike");
            if (e == DM_OK)
                e = dm_buf_appendf(&s->text, " AND %s%s %s ", col, textual ? "::text" : "",
                                   ops[oi].sql);
            if (e == DM_OK)
                e = dm_sql_param(s, txt);
            free(txt);
        }
    }
    /* order: {column, direction|ascending} */
    json_t *order = json_object_get(body, "order_by");
    if (order == NULL)
        order = json_object_get(body, "order");
    if (order != NULL && !json_is_null(order)) {
        const char *col = find_col(t, json_is_string(order) ? json_string_value(order)
                                                            : dm_json_str(order, "column"));
        if (col == NULL) {
            qfail(qe, "order_by", "unknown column");
            return DM_ERR_INVALID;
        }
        const char *dir = json_is_object(order) ? dm_json_str(order, "direction") : NULL;
        json_t *asc = json_is_object(order) ? json_object_get(order, "ascending") : NULL;
        bool desc = (dir && !strcasecmp(dir, "desc")) || json_is_false(asc);
        if (dir && strcasecmp(dir, "asc") && strcasecmp(dir, "desc")) {
            qfail(qe, "order_by", "direction must be asc or desc");
            return DM_ERR_INVALID;
        }
        if (e == DM_OK)
            e = dm_buf_appendf(&s->text, " ORDER BY %s %s NULLS LAST", col, desc ? "DESC" : "ASC");
    }
    *limit = 100;
    *offset = 0;
    enum dm_err le = dm_json_int(body, "limit", limit);
    if (le == DM_ERR_INVALID || (le == DM_OK && (*limit < 1 || *limit > 1000))) {
        qfail(qe, "limit", "must be an integer between 1 and 1000");
        return DM_ERR_INVALID;
    }
    le = dm_json_int(body, "offset", offset);
    if (le == DM_ERR_INVALID || (le == DM_OK && (*offset < 0 || *offset > 10000000))) {
        qfail(qe, "offset", "must be a non-negative integer");
        return DM_ERR_INVALID;
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)*limit);
    if (e == DM_OK)
        e = dm_sql_text(s, " LIMIT ");
    if (e == DM_OK)
        e = dm_sql_param(s, num);
    snprintf(num, sizeof(num), "%lld", (long long)*offset);
    if (e == DM_OK)
        e = dm_sql_text(s, "::bigint OFFSET ");
    if (e == DM_OK)
        e = dm_sql_param(s, num);
    if (e == DM_OK)
        e = dm_sql_text(s, "::bigint) t");
    if (e != DM_OK) {
        qfail(qe, "filters", "too many filters");
        return DM_ERR_INVALID;
    }
    return DM_OK;
}

void api_analytics_query(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_sql s;
    dm_sql_init(&s);
    PGresult *r = NULL;
    int64_t limit = 0, offset = 0;
    struct dm_sq_error qe = {{0}, {0}};
    enum dm_err e = api_query_build(c->params[0], body, &s, &limit, &offset, &qe);
    if (e != DM_OK) {
        api_validation(c, qe.param, qe.message);
        goto out;
    }
    struct dm_error err = {0};
    e = dm_db_query(c->api->db, s.text.data, s.n, (const char *const *)s.params, &r, &err);
    if (e != DM_OK) {
        if (e == DM_ERR_INVALID || e == DM_ERR_DB)
            api_error(c, 400, "BAD_REQUEST", "A filter value does not fit its column", NULL);
        else
            api_fail(c, e, &err);
        goto out;
    }
    json_t *rows = PQgetisnull(r, 0, 0) ? json_array() : json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    json_t *resp = json_object();
    json_object_set_new(resp, "data", rows ? rows : json_array());
    json_object_set_new(resp, "pagination",
                        json_pack("{s:I,s:I,s:I}", "limit", (json_int_t)limit, "offset",
                                  (json_int_t)offset, "count", (json_int_t)json_array_size(rows)));
    api_json(c->resp, 200, resp);
out:
    PQclear(r);
    dm_sql_free(&s);
    json_decref(body);
}
