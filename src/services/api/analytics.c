/*
 * analytics.c - the dashboard's read routes: summary, runs (filters, paging, derived status,
 * feed), one run with partitions/workers/events, failed workers, feeds (with each configured
 * feed's raw rows), identity clashes (issue 18), consolidation progress (all feeds' raw rows, or
 * ?feed=ID's), and the allowlisted query endpoint (tables diamonds, run_metadata, worker_runs;
 * operators eq, neq, gt, gte, lt, lte, like, ilike, in, is; columns only from the allowlists).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "adapters/db/feed_sql.h"
#include "adapters/db/search_sql.h"
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

/* Optional ?feed=: a well-formed feed id (runs of a feed no longer configured stay
 * listable), else 400; *feed NULL when absent. */
static bool feed_arg(struct api_call *c, const char **feed)
{
    *feed = dm_http_req_arg(c->req, "feed");
    if (*feed == NULL || dm_feed_id_valid(*feed))
        return true;
    api_validation(c, "feed", "must be a feed id (lowercase letters, digits and _)");
    return false;
}

/* The runs f selects into *l; false when answered (the failure). */
static bool run_list(struct api_call *c, const struct dm_runs_filter *f, struct dm_run_list *l)
{
    struct dm_error err = {0};
    enum dm_err e = dm_runs_list(c->api->db, f, l, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return false;
    }
    return true;
}

/* The reference's recentRunsCount over runs started in the last 7 days. Its four statuses
 * map from ours: consolidating and stalled runs are still running, a skipped run failed; a
 * partial or cancelled run counts only toward the total, as the reference's partial does. */
static json_t *recent_runs_count(const struct dm_run_list *l)
{
    json_int_t n[4] = {0, 0, 0, 0}; /* total, completed, failed, running */
    for (int i = 0; i < l->n; i++) {
        enum dm_run_status st = l->runs[i].status;
        n[0]++;
        if (st == DM_RUN_COMPLETED)
            n[1]++;
        else if (st == DM_RUN_FAILED || st == DM_RUN_SKIPPED)
            n[2]++;
        else if (st == DM_RUN_RUNNING || st == DM_RUN_CONSOLIDATING || st == DM_RUN_STALLED)
            n[3]++;
    }
    return json_pack("{s:I,s:I,s:I,s:I}", "total", n[0], "completed", n[1], "failed", n[2],
                     "running", n[3]);
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
        "count(DISTINCT feed) FILTER (WHERE status = 'active') AS total_feeds, "
        "round(avg(retail_price) FILTER (WHERE status = 'active'), 2) AS avg_retail_price, "
        "min(retail_price) FILTER (WHERE status = 'active') AS min_retail_price, "
        "max(retail_price) FILTER (WHERE status = 'active') AS max_retail_price, "
        "max(updated_at) AS last_updated_at, "
        /* One listing per stone (issue 18): listings, and offers split off a grading clash. */
        "count(*) FILTER (WHERE status = 'active' AND chosen) AS listings, "
        "count(*) FILTER (WHERE status = 'active' AND clash_fields IS NOT NULL) AS clashes "
        "FROM diamonds",
        0, NULL, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        return;
    }
    json_t *d = api_row_json(r, 0);
    PQclear(r);
    r = NULL;
    /* The reference's DashboardSummary keys beside ours (reference-contract.md §4). */
    json_object_set(d, "totalActiveDiamonds", json_object_get(d, "totalActive"));
    json_object_set_new(d, "diamondsByAvailability",
                        json_pack("{s:O,s:O,s:O,s:O}", "available", json_object_get(d, "available"),
                                  "onHold", json_object_get(d, "onHold"), "sold",
                                  json_object_get(d, "sold"), "unavailable",
                                  json_object_get(d, "unavailable")));
    struct dm_run_list l = {0};
    struct dm_runs_filter latest = {.limit = 50};
    if (!run_list(c, &latest, &l))
        goto fail;
    json_t *by = json_object();
    for (int i = 0; i < DM_RUN_STATUS_COUNT; i++)
        json_object_set_new(by, dm_run_status_name((enum dm_run_status)i), json_integer(0));
    for (int i = 0; i < l.n; i++) {
        const char *name = dm_run_status_name(l.runs[i].status);
        json_object_set_new(by, name,
                            json_integer(json_integer_value(json_object_get(by, name)) + 1));
    }
    json_object_set_new(d, "recentRunsByStatus", by);
    if (l.n > 0)
        json_object_set_new(d, "lastRun", api_run_json(&l.runs[0]));
    dm_run_list_free(&l);
    struct dm_runs_filter week = {.recent_days = 7, .limit = 10000};
    if (!run_list(c, &week, &l))
        goto fail;
    json_object_set_new(d, "recentRunsCount", recent_runs_count(&l));
    dm_run_list_free(&l);
    /* The last run whose consolidation completed: it advanced the watermark. */
    struct dm_runs_filter done = {.completed_only = true, .limit = 1};
    if (!run_list(c, &done, &l))
        goto fail;
    json_t *last = l.n > 0 ? api_run_json(&l.runs[0]) : json_null();
    dm_run_list_free(&l);
    json_t *wm = json_object_get(last, "watermarkAfter");
    json_object_set_new(d, "currentWatermark", wm ? json_incref(wm) : json_null());
    json_object_set_new(d, "lastSuccessfulRun", last);
    api_data(c, 200, d);
    return;
fail:
    json_decref(d);
}

void api_analytics_runs(struct api_call *c)
{
    int page, limit;
    if (!int_arg(c, "page", 1, 100000, 1, &page) ||
        !int_arg(c, "limit", 1, DM_SQ_MAX_LIMIT, DM_SQ_DEFAULT_LIMIT, &limit))
        return;
    const char *type = dm_http_req_arg(c->req, "run_type");
    const char *status = dm_http_req_arg(c->req, "status");
    const char *after = dm_http_req_arg(c->req, "started_after");
    const char *before = dm_http_req_arg(c->req, "started_before");
    const char *feed = NULL;
    if (!feed_arg(c, &feed))
        return;
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
    struct dm_runs_filter f = {.run_type = type,
                               .feed = feed,
                               .has_started_after = after != NULL,
                               .started_after_ms = ams,
                               .has_started_before = before != NULL,
                               .started_before_ms = bms,
                               .limit = 1000};
    struct dm_run_list l;
    if (!run_list(c, &f, &l))
        return;
    /* Status is derived, so it is filtered here (over at most 1000 matching runs). */
    json_t *rows = json_array();
    int total = 0;
    int from = (page - 1) * limit;
    for (int i = 0; i < l.n; i++) {
        if (status && l.runs[i].status != want)
            continue;
        if (total >= from && total < from + limit)
            json_array_append_new(rows, api_run_json(&l.runs[i]));
        total++;
    }
    dm_run_list_free(&l);
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
    struct dm_run rr;
    if (!api_run_get(c, id, false, &rr))
        return;
    json_t *run = api_run_json(&rr);
    dm_run_clear(&rr);
    bool ok;
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_runs_report_partitions(c->api->db, id, &r, &err);
    json_t *parts = api_result_rows(c, e, &err, r, &ok);
    if (!ok) {
        json_decref(run);
        return;
    }
    r = NULL;
    e = dm_runs_report_events(c->api->db, id, &r, &err);
    json_t *events = api_result_rows(c, e, &err, r, &ok);
    if (!ok) {
        json_decref(run);
        json_decref(parts);
        return;
    }
    /* The reference's {run, workers} beside our flat run with partitions and events. */
    r = NULL;
    e = dm_runs_report_workers(c->api->db, id, &r, &err);
    json_t *workers = api_result_rows(c, e, &err, r, &ok);
    if (!ok) {
        json_decref(run);
        json_decref(parts);
        json_decref(events);
        return;
    }
    json_object_set_new(run, "run", json_deep_copy(run));
    json_object_set_new(run, "workers", workers);
    json_object_set_new(run, "partitions", parts);
    json_object_set_new(run, "events", events);
    api_data(c, 200, run);
}

void api_analytics_failed_workers(struct api_call *c)
{
    /* As the reference: a missing, unparseable or zero limit is the default (20) and a large
     * one is capped, never 400; a negative one (a 500 there) is refused. */
    int limit = 20;
    const char *lv = dm_http_req_arg(c->req, "limit");
    if (lv != NULL) {
        int64_t n;
        if (dm_parse_i64(lv, INT64_MIN, INT64_MAX, &n) == DM_OK && n < 0) {
            api_validation(c, "limit", "must not be negative");
            return;
        }
        if (dm_parse_i64(lv, 1, INT64_MAX, &n) == DM_OK)
            limit = n > 1000 ? 1000 : (int)n;
    }
    const char *run = dm_http_req_arg(c->req, "run_id");
    if (run && !dm_uuid_valid(run)) {
        api_validation(c, "run_id", "must be a UUID");
        return;
    }
    bool ok;
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_runs_report_failed_workers(c->api->db, run, limit, &r, &err);
    json_t *rows = api_result_rows(c, e, &err, r, &ok);
    if (!ok)
        return;
    /* RecentFailedWorker sends these as explicit nulls (its other types omit them). */
    static const char *const nullable[] = {"errorMessage", "completedAt", "workerId"};
    size_t i;
    json_t *w;
    json_array_foreach(rows, i, w)
    {
        for (size_t k = 0; k < sizeof(nullable) / sizeof(nullable[0]); k++)
            if (json_object_get(w, nullable[k]) == NULL)
                json_object_set_new(w, nullable[k], json_null());
    }
    api_data(c, 200, rows);
}

/* api_query_rows of a statement on feed's raw table (adapters/db/feed_sql.h); an empty array
 * when the feed has no raw table yet (a feed just added to FEEDS). */
static json_t *feed_rows(struct api_call *c, const char *tmpl, const char *feed, bool *ok)
{
    char table[DM_FEED_TABLE_MAX];
    struct dm_error err = {0};
    enum dm_err e = dm_feed_raw_table(feed, table, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        *ok = false;
        return NULL;
    }
    const char *tp[1] = {table};
    json_t *exists =
        api_query_rows(c, "SELECT 1 AS present WHERE to_regclass($1) IS NOT NULL", 1, tp, ok);
    if (!*ok)
        return NULL;
    bool present = json_array_size(exists) > 0;
    json_decref(exists);
    if (!present)
        return json_array();
    struct dm_buf sql;
    dm_buf_init(&sql, 4096);
    e = dm_feed_sql(tmpl, feed, &sql, &err);
    json_t *rows = NULL;
    if (e != DM_OK) {
        api_fail(c, e, &err);
        *ok = false;
    } else {
        rows = api_query_rows(c, sql.data, 0, NULL, ok);
    }
    dm_buf_free(&sql);
    return rows;
}

/* The configured feeds' ids, or only feed when given. */
static int feed_ids(const struct api_call *c, const char *feed, const char **ids)
{
    if (feed) {
        ids[0] = feed;
        return 1;
    }
    const struct dm_config *cfg = c->api->cfg;
    int n = 0;
    for (; cfg && n < cfg->n_feeds && n < DM_FEEDS_MAX; n++)
        ids[n] = cfg->feeds[n].id;
    if (n == 0)
        ids[n++] = DM_FEED_DEFAULT;
    return n;
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
        /* The reference's FeedStats: over active stones, prices are the feed price (its
         * price_model_price) in dollars, 0 without stones, the average not rounded. */
        "count(*) FILTER (WHERE status = 'active') AS total_diamonds, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'available') "
        "  AS available_diamonds, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'on_hold') "
        "  AS on_hold_diamonds, "
        "count(*) FILTER (WHERE status = 'active' AND availability = 'sold') AS sold_diamonds, "
        "COALESCE(avg(feed_price) FILTER (WHERE status = 'active'), 0)::float8 AS avg_price, "
        "COALESCE(min(feed_price) FILTER (WHERE status = 'active'), 0) AS min_price, "
        "COALESCE(max(feed_price) FILTER (WHERE status = 'active'), 0) AS max_price, "
        "max(updated_at) FILTER (WHERE status = 'active') AS last_updated "
        "FROM diamonds d GROUP BY feed ORDER BY total_diamonds DESC, feed",
        0, NULL, &ok);
    if (!ok)
        return;
    /* Each configured feed's raw rows, keyed by feed. */
    const char *ids[DM_FEEDS_MAX];
    int nids = feed_ids(c, NULL, ids);
    json_t *raw = json_object();
    for (int i = 0; i < nids; i++) {
        json_t *one = feed_rows(c,
                                "SELECT count(*) AS total, "
                                "count(*) FILTER (WHERE consolidation_status = 'pending') AS "
                                "pending, count(*) FILTER (WHERE consolidation_status = 'failed') "
                                "AS failed FROM {raw}",
                                ids[i], &ok);
        if (!ok) {
            json_decref(rows);
            json_decref(raw);
            return;
        }
        if (json_array_size(one) > 0)
            json_object_set(raw, ids[i], json_array_get(one, 0));
        json_decref(one);
    }
    PGresult *lr = NULL;
    struct dm_error err = {0};
    /* The report runs first: the result is an argument of the renderer. */
    enum dm_err e = dm_runs_report_feed_completions(c->api->db, &lr, &err);
    json_t *last = api_result_rows(c, e, &err, lr, &ok);
    if (!ok) {
        json_decref(rows);
        json_decref(raw);
        return;
    }
    size_t i, k;
    json_t *f, *l;
    json_array_foreach(rows, i, f)
    {
        const char *name = dm_json_str(f, "feed");
        /* The feed's last completed run (store/runs.h), omitted when it has none. */
        json_array_foreach(last, k, l)
        {
            const char *lf = dm_json_str(l, "feed");
            json_t *at = json_object_get(l, "lastRunCompletedAt");
            if (name && lf && at && !strcmp(name, lf))
                json_object_set(f, "lastRunCompletedAt", at);
        }
        json_t *fr = name ? json_object_get(raw, name) : NULL;
        if (fr)
            json_object_set(f, "raw", fr);
        if (json_object_get(f, "lastUpdated") == NULL)
            json_object_set_new(f, "lastUpdated", json_null());
    }
    json_decref(raw);
    json_decref(last);
    api_data(c, 200, rows);
}

/*
 * Identity clashes (issue 18): active offers split off their certificate's listing because
 * their grading disagrees with the reference offer's (clash_fields, written by the
 * consolidator's listing refresh). Each with the certificate, the fields that differ, its own
 * grading and listing, the listing the certificate is shown under (its chosen offer, whose
 * grading agrees with the reference) and every feed offering the certificate. The clashes are
 * few (a supplier's data errors), and found through the small index of split offers.
 */
static const char CLASHES_SQL[] =
    /* A clash is an offer split off its certificate's listing: the partial index of split
     * offers (identity_key IS DISTINCT FROM listing_key, migration 009) finds them without a
     * scan of the catalogue. */
    "WITH c AS (SELECT * FROM diamonds WHERE identity_key IS DISTINCT FROM listing_key "
    "AND status = 'active' AND clash_fields IS NOT NULL),"
    " n AS (SELECT count(*) AS total FROM c WHERE $3::text IS NULL OR feed = $3)"
    " SELECT n.total, p.* FROM n LEFT JOIN LATERAL ("
    " SELECT c.id, c.feed, c.supplier_stone_id, c.certificate_lab, c.certificate_number,"
    "  to_json(string_to_array(c.clash_fields, ',')) AS clash_fields, c.shape, c.carats,"
    "  c.color, c.clarity, c.retail_price, c.listing_id, c.updated_at,"
    "  (SELECT to_json(array_agg(DISTINCT f.feed ORDER BY f.feed)) FROM ("
    "   SELECT o.feed FROM diamonds o WHERE o.listing_key = c.identity_key"
    "   AND o.status = 'active' UNION ALL SELECT x.feed FROM c x"
    "   WHERE x.identity_key = c.identity_key) f) AS feeds,"
    "  (SELECT json_build_object('id', r.listing_id, 'feed', r.feed, 'supplierStoneId',"
    "   r.supplier_stone_id, 'shape', r.shape, 'carats', r.carats, 'color', r.color,"
    "   'clarity', r.clarity) FROM diamonds r WHERE r.listing_key = c.identity_key AND r.chosen"
    "   AND r.status = 'active' LIMIT 1) AS certificate_listing"
    " FROM c WHERE $3::text IS NULL OR c.feed = $3"
    " ORDER BY c.certificate_lab, c.certificate_number, c.feed, c.supplier_stone_id, c.id"
    " LIMIT $1::int OFFSET $2::int) p ON true";

void api_analytics_clashes(struct api_call *c)
{
    int limit, offset;
    if (!int_arg(c, "limit", 1, 1000, 50, &limit) || !int_arg(c, "offset", 0, 10000000, 0, &offset))
        return;
    const char *feed = NULL;
    if (!feed_arg(c, &feed))
        return;
    char l[16], o[16];
    snprintf(l, sizeof(l), "%d", limit);
    snprintf(o, sizeof(o), "%d", offset);
    const char *p[3] = {l, o, feed};
    bool ok;
    json_t *rows = api_query_rows(c, CLASHES_SQL, 3, p, &ok);
    if (!ok)
        return;
    /* Every row carries the total; a page past the end is one row of the total alone. */
    json_int_t total = 0;
    json_t *data = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        total = json_integer_value(json_object_get(row, "total"));
        if (json_object_get(row, "id") == NULL)
            continue;
        json_object_del(row, "total");
        json_array_append(data, row);
    }
    json_decref(rows);
    json_t *body = json_object();
    json_object_set_new(body, "pagination",
                        json_pack("{s:I,s:i,s:i,s:I}", "total", total, "limit", limit, "offset",
                                  offset, "count", (json_int_t)json_array_size(data)));
    json_object_set_new(body, "data", data);
    api_json(c->resp, 200, body);
}

/* The reference's progressPercent: consolidated of total in whole percent, 0 without rows. */
static json_int_t percent(json_int_t part, json_int_t total)
{
    return total > 0 ? (part * 200 + total) / (total * 2) : 0;
}

static json_t *consolidation_json(const struct dm_run *run)
{
    json_t *o = api_run_json(run);
    json_t *raw = run->raw_counts ? json_loads(run->raw_counts, 0, NULL) : NULL;
    if (raw) {
        json_int_t done = json_integer_value(json_object_get(raw, "done"));
        json_int_t failed = json_integer_value(json_object_get(raw, "failed"));
        json_int_t total = json_integer_value(json_object_get(raw, "total"));
        json_int_t waiting = json_integer_value(json_object_get(raw, "pending")) +
                             json_integer_value(json_object_get(raw, "processing"));
        json_int_t oldest = json_integer_value(json_object_get(raw, "oldest_pending_ms"));
        json_object_del(raw, "oldest_pending_ms");
        json_object_set_new(o, "raw", raw);
        json_object_set_new(o, "progress",
                            json_real(total > 0 ? (double)(done + failed) / (double)total : 0.0));
        /* The reference's ConsolidationProgress beside ours. */
        json_object_set_new(o, "totalRawDiamonds", json_integer(total));
        json_object_set_new(o, "consolidatedCount", json_integer(done));
        json_object_set_new(o, "pendingCount", json_integer(waiting));
        json_object_set_new(o, "progressPercent", json_integer(percent(done, total)));
        char iso[DM_ISO_LEN];
        dm_time_format(oldest, iso);
        json_object_set_new(o, "oldestPendingCreatedAt",
                            oldest > 0 ? json_string(iso) : json_null());
    }
    return o;
}

void api_analytics_consolidation(struct api_call *c)
{
    int limit;
    if (!int_arg(c, "limit", 1, 100, 20, &limit))
        return;
    const char *feed = NULL;
    if (!feed_arg(c, &feed))
        return;
    struct dm_runs_filter f = {.feed = feed, .raw_counts = true, .limit = limit};
    struct dm_run_list l;
    if (!run_list(c, &f, &l))
        return;
    json_t *a = json_array();
    for (int i = 0; i < l.n; i++)
        json_array_append_new(a, consolidation_json(&l.runs[i]));
    dm_run_list_free(&l);
    bool ok = true;
    /* Raw rows by status over the configured feeds (or ?feed=), summed by status. */
    const char *ids[DM_FEEDS_MAX];
    int nids = feed_ids(c, feed, ids);
    json_t *totals = json_array();
    for (int k = 0; k < nids && ok; k++) {
        json_t *one = feed_rows(c,
                                "SELECT consolidation_status AS status, count(*) AS count FROM "
                                "{raw} GROUP BY 1 ORDER BY 1",
                                ids[k], &ok);
        size_t j;
        json_t *row;
        json_array_foreach(one, j, row)
        {
            const char *st = dm_json_str(row, "status");
            size_t m;
            json_t *have = NULL, *t;
            json_array_foreach(totals, m, t)
            {
                const char *ts = dm_json_str(t, "status");
                if (st && ts && !strcmp(st, ts))
                    have = t;
            }
            if (have == NULL) {
                json_array_append(totals, row);
            } else {
                json_int_t sum = json_integer_value(json_object_get(have, "count")) +
                                 json_integer_value(json_object_get(row, "count"));
                json_object_set_new(have, "count", json_integer(sum));
            }
        }
        json_decref(one);
    }
    if (!ok) {
        json_decref(a);
        json_decref(totals);
        return;
    }
    /* The reference's ConsolidationStats over all raw rows beside ours: consolidated = done,
     * pending = waiting for a consolidator (pending, processing). */
    json_int_t n[3] = {0, 0, 0}; /* total, done, waiting */
    size_t i;
    json_t *row;
    json_array_foreach(totals, i, row)
    {
        const char *st = dm_json_str(row, "status");
        json_int_t k = json_integer_value(json_object_get(row, "count"));
        n[0] += k;
        if (st && !strcmp(st, "done"))
            n[1] += k;
        else if (st && (!strcmp(st, "pending") || !strcmp(st, "processing")))
            n[2] += k;
    }
    api_data(c, 200,
             json_pack("{s:o,s:o,s:I,s:I,s:I,s:I}", "runs", a, "rawByStatus", totals, "totalRaw",
                       n[0], "totalConsolidated", n[1], "totalPending", n[2], "progressPercent",
                       percent(n[1], n[0])));
}

void api_analytics_consolidation_run(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "runId", &id))
        return;
    struct dm_run run;
    if (!api_run_get(c, id, true, &run))
        return;
    json_t *o = consolidation_json(&run);
    dm_run_clear(&run);
    api_data(c, 200, o);
}

/* ---- allowlisted query ---- */

/* A column clients may select, filter and order by: its name (the reference's where ours
 * differs), the SQL expression behind it (NULL: the column of that name), and whether it is a
 * DECIMAL, served as a string like the reference's node-postgres rows (§5.13). */
struct qcol {
    const char *name;
    const char *expr;
    bool decimal;
};

struct qtable {
    const char *name;
    const char *from; /* what the statement reads, named like the table */
    const struct qcol *cols;
};

static const struct qcol diamond_cols[] = {
    {"id", NULL, false},
    {"feed", NULL, false},
    {"supplier_stone_id", NULL, false},
    {"offer_id", NULL, false},
    {"shape", NULL, false},
    {"carats", NULL, true},
    {"color", NULL, false},
    {"clarity", NULL, false},
    {"cut", NULL, false},
    {"polish", NULL, false},
    {"symmetry", NULL, false},
    {"fluorescence", NULL, false},
    {"lab_grown", NULL, false},
    {"treated", NULL, false},
    {"feed_price", NULL, true},
    {"price_model_price", "feed_price", true}, /* the reference's name of the feed price */
    {"price_per_carat", NULL, true},
    {"retail_price", NULL, true},
    {"markup_ratio", NULL, true},
    {"rating", NULL, false},
    {"pricing_rule_id", NULL, false},
    {"availability", NULL, false},
    {"raw_availability", NULL, false},
    {"hold_id", NULL, false},
    {"image_url", NULL, false},
    {"video_url", NULL, false},
    {"certificate_lab", NULL, false},
    {"certificate_number", NULL, false},
    {"certificate_pdf_url", NULL, false},
    {"supplier_name", NULL, false},
    {"status", NULL, false},
    /* Offered by the reference's UI; the feed's own update time is not kept here. */
    {"source_updated_at", "NULL::timestamptz", false},
    {"deleted_at", NULL, false},
    {"last_run_id", NULL, false},
    {"created_at", NULL, false},
    {"updated_at", NULL, false},
    /* One listing per stone (issue 18): clash_fields names what disagreed for a split offer. */
    {"identity_key", NULL, false},
    {"listing_key", NULL, false},
    {"listing_id", NULL, false},
    {"chosen", NULL, false},
    {"clash_fields", NULL, false},
    {NULL, NULL, false}};
static const struct qcol run_cols[] = {{"run_id", NULL, false},
                                       {"run_type", NULL, false},
                                       {"trace_id", NULL, false},
                                       {"feed", NULL, false},
                                       {"updated_from", NULL, false},
                                       {"updated_to", NULL, false},
                                       {"expected_workers", NULL, false},
                                       {"completed_workers", NULL, false},
                                       {"failed_workers", NULL, false},
                                       {"estimated_records", NULL, false},
                                       {"capped", NULL, false},
                                       {"count_queries", NULL, false},
                                       {"watermark_before", NULL, false},
                                       {"watermark_after", NULL, false},
                                       {"started_at", NULL, false},
                                       {"consolidate_sent_at", NULL, false},
                                       {"consolidation_started_at", NULL, false},
                                       {"consolidation_completed_at", NULL, false},
                                       {"completed_at", NULL, false},
                                       {"cancelled_at", NULL, false},
                                       {"skipped_at", NULL, false},
                                       {"stats_processed", NULL, false},
                                       {"stats_new", NULL, false},
                                       {"stats_changed", NULL, false},
                                       {"stats_unchanged", NULL, false},
                                       {"stats_removed", NULL, false},
                                       {"stats_failed", NULL, false},
                                       {"consolidation_duration_ms", NULL, false},
                                       {"consolidation_failures", NULL, false},
                                       {"consolidation_failed_at", NULL, false},
                                       {"last_error", NULL, false},
                                       {NULL, NULL, false}};
static const struct qcol worker_cols[] = {{"id", NULL, false},
                                          {"run_id", NULL, false},
                                          {"partition_id", NULL, false},
                                          {"worker_id", NULL, false},
                                          {"status", NULL, false},
                                          {"records_processed", NULL, false},
                                          {"error_message", NULL, false},
                                          {"started_at", NULL, false},
                                          {"completed_at", NULL, false},
                                          {NULL, NULL, false}};

/* run_metadata with the reference's completed_workers and failed_workers, which it stores and
 * we count from partition_progress (the store's relation: its partition states). */
static const struct qtable qtables[] = {{"diamonds", "diamonds", diamond_cols},
                                        {"run_metadata", DM_RUNS_QUERY_RELATION, run_cols},
                                        {"worker_runs", "worker_runs", worker_cols}};

static const struct qcol *find_col(const struct qtable *t, const char *name)
{
    if (name == NULL)
        return NULL;
    for (int i = 0; t->cols[i].name; i++) {
        char camel[64];
        api_camel(t->cols[i].name, camel, sizeof(camel));
        if (!strcmp(t->cols[i].name, name) || !strcmp(camel, name))
            return &t->cols[i];
    }
    return NULL;
}

static const char *col_expr(const struct qcol *c)
{
    return c->expr ? c->expr : c->name;
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

/* s without blanks at either end, into out (false when it does not fit). */
static bool trimmed(const char *s, size_t len, char *out, size_t size)
{
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len >= size)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

static bool identifier(const char *s)
{
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (!(s[n] == '_' || (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9')))
            return false;
    /* "__" names are the statement's own bookkeeping columns. */
    return n < 64 && strncmp(s, "__", 2) != 0;
}

/* One select item, as the reference takes it: a column, or count|sum|avg|min|max of a column
 * (or of *, for count), either optionally followed by "as <alias>". Appends the SQL to sel. */
static enum dm_err select_item(const struct qtable *t, const char *text, size_t len,
                               struct dm_buf *sel, struct dm_sq_error *qe)
{
    char item[160], alias[96] = "", msg[200];
    if (!trimmed(text, len, item, sizeof(item)) || item[0] == '\0') {
        qfail(qe, "select", "items must be column names of at most 159 characters");
        return DM_ERR_INVALID;
    }
    /* " as alias" (any case) at the end */
    for (char *p = item + strlen(item); p > item; p--) {
        if (p - item >= 4 && strncasecmp(p - 4, " as ", 4) == 0) {
            if (!trimmed(p, strlen(p), alias, sizeof(alias)) || !identifier(alias)) {
                snprintf(msg, sizeof(msg), "invalid alias in '%.60s'", item);
                qfail(qe, "select", msg);
                return DM_ERR_INVALID;
            }
            p[-4] = '\0';
            break;
        }
    }
    char expr[160];
    if (!trimmed(item, strlen(item), expr, sizeof(expr)))
        return DM_ERR_INVALID;
    static const char *const aggs[] = {"count", "sum", "avg", "min", "max"};
    char *lp = strchr(expr, '(');
    if (lp != NULL) {
        char *rp = strrchr(expr, ')');
        char fn[16], arg[96];
        int ai = -1;
        if (rp != NULL && rp > lp && rp[1] == '\0' &&
            trimmed(expr, (size_t)(lp - expr), fn, sizeof(fn)) &&
            trimmed(lp + 1, (size_t)(rp - lp - 1), arg, sizeof(arg)))
            for (int k = 0; k < 5; k++)
                if (!strcasecmp(fn, aggs[k]))
                    ai = k;
        const struct qcol *c = ai >= 0 ? find_col(t, arg) : NULL;
        if (ai < 0 || (c == NULL && !(ai == 0 && !strcmp(arg, "*")))) {
            snprintf(msg, sizeof(msg), "unknown column or aggregate '%.60s'", expr);
            qfail(qe, "select", msg);
            return DM_ERR_INVALID;
        }
        /* count, sum and avg come back as strings (bigint and numeric in node-postgres);
         * min and max as their column. */
        bool as_text = ai <= 2 || c->decimal;
        return dm_buf_appendf(sel, "%s%s(%s)%s AS \"%s\"", sel->len ? ", " : "", aggs[ai],
                              c ? col_expr(c) : "*", as_text ? "::text" : "",
                              alias[0] ? alias : aggs[ai]);
    }
    const struct qcol *c = find_col(t, expr);
    if (c == NULL) {
        snprintf(msg, sizeof(msg), "unknown column '%.60s'", expr);
        qfail(qe, "select", msg);
        return DM_ERR_INVALID;
    }
    return dm_buf_appendf(sel, "%s%s%s AS \"%s\"", sel->len ? ", " : "", col_expr(c),
                          c->decimal ? "::text" : "", alias[0] ? alias : c->name);
}

/* The select list: a comma-separated string (the reference's form) or an array of items;
 * absent, empty or "*" = every allowlisted column. */
static enum dm_err select_list(const struct qtable *t, json_t *sel, struct dm_buf *out,
                               struct dm_sq_error *qe)
{
    enum dm_err e = DM_OK;
    if (json_is_string(sel)) {
        const char *s = json_string_value(sel);
        char all[8];
        if (trimmed(s, strlen(s), all, sizeof(all)) && (all[0] == '\0' || !strcmp(all, "*")))
            sel = NULL;
        else
            for (const char *p = s; e == DM_OK; p++) {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                e = select_item(t, p, len, out, qe);
                if (end == NULL)
                    break;
                p = end;
            }
    } else if (json_is_array(sel) && json_array_size(sel) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(sel, i, v)
        {
            if (!json_is_string(v)) {
                qfail(qe, "select", "items must be strings");
                return DM_ERR_INVALID;
            }
            e = select_item(t, json_string_value(v), json_string_length(v), out, qe);
            if (e != DM_OK)
                return e;
        }
    } else if (sel != NULL && !json_is_null(sel) && !json_is_array(sel)) {
        qfail(qe, "select", "must be a comma-separated string or an array of column names");
        return DM_ERR_INVALID;
    } else {
        sel = NULL;
    }
    for (int i = 0; sel == NULL && t->cols[i].name && e == DM_OK; i++)
        e = dm_buf_appendf(out, "%s%s%s AS \"%s\"", i ? ", " : "", col_expr(&t->cols[i]),
                           t->cols[i].decimal ? "::text" : "", t->cols[i].name);
    return e;
}

/* The list of an 'in' filter: a JSON array of scalars, or a comma-separated string (what the
 * reference's dashboard sends; its server needed an array, §6.2). */
static bool in_list(json_t *val, struct dm_sq_list *l)
{
    memset(l, 0, sizeof(*l));
    if (json_is_string(val)) {
        const char *s = json_string_value(val);
        for (const char *p = s;; p++) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char one[DM_SQ_VALUE_MAX];
            if (!trimmed(p, len, one, sizeof(one)) || l->n >= DM_SQ_MAX_VALUES)
                return false;
            if (one[0])
                snprintf(l->v[l->n++], DM_SQ_VALUE_MAX, "%s", one);
            if (end == NULL)
                break;
            p = end;
        }
        return l->n > 0;
    }
    if (!json_is_array(val) || json_array_size(val) == 0 || json_array_size(val) > DM_SQ_MAX_VALUES)
        return false;
    size_t k;
    json_t *x;
    json_array_foreach(val, k, x)
    {
        char *txt = scalar_text(x);
        bool ok = txt != NULL && strlen(txt) < DM_SQ_VALUE_MAX;
        if (ok)
            snprintf(l->v[l->n++], DM_SQ_VALUE_MAX, "%s", txt);
        free(txt);
        if (!ok)
            return false;
    }
    return true;
}

/* The IS test of an 'is' filter: JSON null, true or false, or (the reference's dashboard sends
 * only strings, §6.3) "null", "true", "false"; any other string is NOT NULL as in the
 * reference. NULL when the value is of no such kind. */
static const char *is_test(json_t *val)
{
    if (val == NULL || json_is_null(val))
        return "NULL";
    if (json_is_boolean(val))
        return json_is_true(val) ? "TRUE" : "FALSE";
    if (!json_is_string(val))
        return NULL;
    char v[16];
    const char *s = json_string_value(val);
    if (!trimmed(s, strlen(s), v, sizeof(v)))
        return "NOT NULL";
    if (!strcasecmp(v, "null"))
        return "NULL";
    if (!strcasecmp(v, "true"))
        return "TRUE";
    if (!strcasecmp(v, "false"))
        return "FALSE";
    return "NOT NULL";
}

/* One filter (column name, operator, value) ANDed onto w. */
static enum dm_err add_filter(const struct qtable *t, const char *cname, const char *op,
                              json_t *val, const char *path, struct dm_sql *w,
                              struct dm_sq_error *qe)
{
    char msg[160];
    const struct qcol *c = find_col(t, cname);
    if (c == NULL) {
        snprintf(msg, sizeof(msg), "unknown column '%.60s'", cname ? cname : "");
        qfail(qe, path, msg);
        return DM_ERR_INVALID;
    }
    int oi = -1;
    for (size_t k = 0; op && k < sizeof(ops) / sizeof(ops[0]); k++)
        if (!strcmp(op, ops[k].name))
            oi = (int)k;
    if (oi < 0) {
        qfail(qe, path, "operator must be one of eq, neq, gt, gte, lt, lte, like, ilike, in, is");
        return DM_ERR_INVALID;
    }
    const char *col = col_expr(c);
    enum dm_err e = DM_OK;
    if (!strcmp(op, "is")) {
        const char *test = is_test(val);
        if (test == NULL) {
            qfail(qe, path, "value for 'is' must be null, true, false or a string");
            return DM_ERR_INVALID;
        }
        return dm_buf_appendf(&w->text, " AND %s IS %s", col, test);
    }
    if (!strcmp(op, "in")) {
        struct dm_sq_list l;
        if (!in_list(val, &l)) {
            qfail(qe, path,
                  "value for 'in' must be an array of 1..24 short scalars or a "
                  "comma-separated string");
            return DM_ERR_INVALID;
        }
        struct dm_buf arr;
        dm_buf_init(&arr, 8192);
        e = dm_sql_array_literal(&l, &arr);
        if (e == DM_OK)
            e = dm_buf_appendf(&w->text, " AND %s::text = ANY(", col);
        if (e == DM_OK)
            e = dm_sql_param(w, arr.data);
        if (e == DM_OK)
            e = dm_sql_text(w, "::text[])");
        dm_buf_free(&arr);
        return e;
    }
    char *txt = scalar_text(val);
    if (txt == NULL) {
        qfail(qe, path, "value must be a string, number or boolean");
        return DM_ERR_INVALID;
    }
    bool textual = !strcmp(op, "like") || !strcmp(op, "ilike");
    e = dm_buf_appendf(&w->text, " AND %s%s %s ", col, textual ? "::text" : "", ops[oi].sql);
    if (e == DM_OK)
        e = dm_sql_param(w, txt);
    free(txt);
    return e;
}

/* filters: ours, [{column, operator, value}], or the reference's {column: {operator: value}}. */
static enum dm_err filter_list(const struct qtable *t, json_t *filters, struct dm_sql *w,
                               struct dm_sq_error *qe)
{
    enum dm_err e = DM_OK;
    char path[64];
    if (json_is_array(filters)) {
        size_t fi;
        json_t *f;
        json_array_foreach(filters, fi, f)
        {
            snprintf(path, sizeof(path), "filters[%zu]", fi);
            const char *cname = dm_json_str(f, "column");
            if (cname == NULL)
                cname = dm_json_str(f, "field");
            const char *op = dm_json_str(f, "operator");
            if (op == NULL)
                op = dm_json_str(f, "op");
            e = add_filter(t, cname, op, json_object_get(f, "value"), path, w, qe);
            if (e != DM_OK)
                return e;
        }
        return DM_OK;
    }
    if (json_is_object(filters)) {
        const char *cname;
        json_t *byop;
        json_object_foreach(filters, cname, byop)
        {
            snprintf(path, sizeof(path), "filters.%.48s", cname);
            if (!json_is_object(byop)) {
                qfail(qe, path, "must be an object of operator: value");
                return DM_ERR_INVALID;
            }
            const char *op;
            json_t *val;
            json_object_foreach(byop, op, val)
            {
                e = add_filter(t, cname, op, val, path, w, qe);
                if (e != DM_OK)
                    return e;
            }
        }
        return DM_OK;
    }
    if (filters != NULL && !json_is_null(filters)) {
        qfail(qe, "filters",
              "must be an array of {column, operator, value} or an object {column: {operator: "
              "value}}");
        return DM_ERR_INVALID;
    }
    return DM_OK;
}

/* order: {column, ascending} (the reference's), {column, direction}, or a column name. */
static enum dm_err order_clause(const struct qtable *t, json_t *order, struct dm_buf *out,
                                struct dm_sq_error *qe)
{
    if (order == NULL || json_is_null(order))
        return DM_OK;
    const struct qcol *c = find_col(t, json_is_string(order) ? json_string_value(order)
                                                             : dm_json_str(order, "column"));
    if (c == NULL) {
        qfail(qe, "order_by", "unknown column");
        return DM_ERR_INVALID;
    }
    const char *dir = json_is_object(order) ? dm_json_str(order, "direction") : NULL;
    json_t *asc = json_is_object(order) ? json_object_get(order, "ascending") : NULL;
    if (dir && strcasecmp(dir, "asc") && strcasecmp(dir, "desc")) {
        qfail(qe, "order_by", "direction must be asc or desc");
        return DM_ERR_INVALID;
    }
    bool desc = (dir && !strcasecmp(dir, "desc")) || json_is_false(asc);
    return dm_buf_appendf(out, " ORDER BY %s %s NULLS LAST", col_expr(c), desc ? "DESC" : "ASC");
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
    struct dm_buf sel, order;
    struct dm_sql w; /* the WHERE clause and its parameters */
    dm_buf_init(&sel, (size_t)16 * 1024);
    dm_buf_init(&order, 1024);
    dm_sql_init(&w);
    enum dm_err e = select_list(t, json_object_get(body, "select"), &sel, qe);
    if (e == DM_OK)
        e = dm_sql_text(&w, " WHERE true");
    if (e == DM_OK)
        e = filter_list(t, json_object_get(body, "filters"), &w, qe);
    json_t *ob = json_object_get(body, "order_by");
    if (e == DM_OK)
        e = order_clause(t, ob ? ob : json_object_get(body, "order"), &order, qe);
    if (e == DM_OK) {
        *limit = 100;
        *offset = 0;
        enum dm_err le = dm_json_int(body, "limit", limit);
        if (le == DM_ERR_INVALID || (le == DM_OK && (*limit < 1 || *limit > 1000))) {
            qfail(qe, "limit", "must be an integer between 1 and 1000");
            e = DM_ERR_INVALID;
        }
        le = dm_json_int(body, "offset", offset);
        if (e == DM_OK &&
            (le == DM_ERR_INVALID || (le == DM_OK && (*offset < 0 || *offset > 10000000)))) {
            qfail(qe, "offset", "must be a non-negative integer");
            e = DM_ERR_INVALID;
        }
    }
    if (e == DM_ERR_INVALID && qe->param[0])
        goto out;
    /* One statement, one row per result row plus one when there are none: column 0 is the
     * total under the filters (pagination.total), the last two mark a real row (__row) and
     * keep the order (__n). The WHERE text appears twice with the same parameters. */
    if (e == DM_OK)
        e = dm_buf_appendf(&s->text,
                           "SELECT c.n, t.* FROM (SELECT count(*) AS n FROM %s%s) c "
                           "LEFT JOIN LATERAL (SELECT q.*, row_number() OVER () AS "
                           "__n FROM (SELECT %s, true AS __row FROM %s%s%s LIMIT ",
                           t->from, w.text.data, sel.data, t->from, w.text.data,
                           order.len ? order.data : "");
    if (e == DM_OK) {
        for (int i = 0; i < w.n; i++)
            s->params[s->n++] = w.params[i];
        w.n = 0;
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)*limit);
    if (e == DM_OK)
        e = dm_sql_param(s, num);
    snprintf(num, sizeof(num), "%lld", (long long)*offset);
    if (e == DM_OK)
        e = dm_sql_text(s, "::bigint OFFSET ");
    if (e == DM_OK)
        e = dm_sql_param(s, num);
    if (e == DM_OK)
        e = dm_sql_text(s, "::bigint) q) t ON true ORDER BY t.__n");
    if (e != DM_OK) {
        qfail(qe, "filters", "too many filters or columns");
        e = DM_ERR_INVALID;
    }
out:
    dm_buf_free(&sel);
    dm_buf_free(&order);
    dm_sql_free(&w);
    return e;
}

#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_JSON 114
#define OID_TIMESTAMPTZ 1184
#define OID_JSONB 3802

/* Row i of the query result as the reference's node-postgres row: keys are the column names
 * (or aliases), NULL stays null, decimals are strings (the statement casts them). */
static json_t *query_row(const PGresult *r, int i)
{
    json_t *o = json_object();
    int nf = PQnfields(r);
    for (int col = 1; col < nf - 2; col++) {
        json_t *v;
        const char *text = PQgetvalue(r, i, col);
        if (PQgetisnull(r, i, col))
            v = json_null();
        else if (PQftype(r, col) == OID_BOOL)
            v = json_boolean(text[0] == 't');
        else if (PQftype(r, col) == OID_INT2 || PQftype(r, col) == OID_INT4 ||
                 PQftype(r, col) == OID_INT8)
            v = json_integer(strtoll(text, NULL, 10));
        else if (PQftype(r, col) == OID_TIMESTAMPTZ)
            v = api_time_json(text);
        else if (PQftype(r, col) == OID_JSON || PQftype(r, col) == OID_JSONB)
            v = json_loads(text, JSON_DECODE_ANY, NULL);
        else
            v = json_string(text);
        json_object_set_new(o, PQfname(r, col), v ? v : json_null());
    }
    return o;
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
        if (e == DM_ERR_INVALID || e == DM_ERR_DB) {
            dm_info(&c->log, "query refused by PostgreSQL: %s", err.message);
            api_error(c, 400, "BAD_REQUEST",
                      "A filter value does not fit its column, or the select mixes aggregates "
                      "with columns",
                      NULL);
        } else {
            api_fail(c, e, &err);
        }
        goto out;
    }
    json_t *rows = json_array();
    int nf = PQnfields(r);
    for (int i = 0; i < PQntuples(r); i++)
        if (!PQgetisnull(r, i, nf - 2))
            json_array_append_new(rows, query_row(r, i));
    json_int_t total = PQntuples(r) > 0 ? api_i64(r, 0, 0) : 0;
    json_t *resp = json_object();
    json_object_set_new(resp, "data", rows);
    json_object_set_new(resp, "pagination",
                        json_pack("{s:I,s:I,s:I,s:I}", "total", total, "limit", (json_int_t)limit,
                                  "offset", (json_int_t)offset, "count",
                                  (json_int_t)json_array_size(rows)));
    api_json(c->resp, 200, resp);
out:
    PQclear(r);
    dm_sql_free(&s);
    json_decref(body);
}
