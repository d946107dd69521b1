/*
 * system.c - GET /health, GET /metrics (Prometheus text format) and the request statistics
 * behind them (counts by status class, latency histogram; per-minute counts flushed to
 * api_request_stats for `diamond check`).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/feed_watermark.h"
#include "core/feed_id.h"
#include "core/crypto.h"
#include "core/timeutil.h"
#include "domain/run_status.h"
#include "services/api/api.h"
#include "services/api/index_follow.h"
#include "store/runs.h"

const double api_lat_bounds[API_LAT_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,   0.25,   0.5,   1.0,  2.5};

void api_stats_record(struct dm_api *api, int status, int64_t duration_us)
{
    int cls = status / 100;
    if (cls < 1 || cls > 5)
        cls = 5;
    atomic_fetch_add(&api->stats.by_class[cls], 1);
    atomic_fetch_add(&api->stats.pending_class[cls], 1);
    double s = (double)duration_us / 1e6;
    int b = 0;
    while (b < API_LAT_BUCKETS - 1 && s > api_lat_bounds[b])
        b++;
    atomic_fetch_add(&api->stats.lat_bucket[b], 1);
    atomic_fetch_add(&api->stats.lat_count, 1);
    atomic_fetch_add(&api->stats.lat_sum_us, duration_us);
}

void api_stats_flush(struct dm_api *api)
{
    static const char *names[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int cls = 2; cls <= 5; cls++) {
        long long n = atomic_exchange(&api->stats.pending_class[cls], 0);
        if (n == 0)
            continue;
        char num[32];
        snprintf(num, sizeof(num), "%lld", n);
        const char *p[2] = {names[cls], num};
        struct dm_error err = {0};
        if (dm_db_query(api->db,
                        "INSERT INTO api_request_stats (minute, status_class, count) "
                        "VALUES (date_trunc('minute', now()), $1, $2::bigint) "
                        "ON CONFLICT (minute, status_class) "
                        "DO UPDATE SET count = api_request_stats.count + EXCLUDED.count",
                        2, p, NULL, &err) != DM_OK) {
            /* Keep the counts for the next flush (the database may be down). */
            atomic_fetch_add(&api->stats.pending_class[cls], n);
            dm_debug(NULL, "api_request_stats flush failed: %s", err.message);
        }
    }
}

/* Reads one queue's figures; *up is whether the backend answered. Service Bus refuses the read
 * (401/403) to a Send/Listen policy, as the seed grants the API (Manage is needed): the
 * backend is up all the same, only the figures are missing. Returns whether st was filled. */
static bool queue_read(struct dm_api *api, enum dm_queue_name name, struct dm_queue_stats *st,
                       bool *up)
{
    struct dm_error err = {0};
    memset(st, 0, sizeof(*st));
    bool ok = api->queue && dm_queue_stats(api->queue, name, st, &err) == DM_OK;
    *up = ok || (api->queue && (err.status == 401 || err.status == 403));
    return ok;
}

static bool queue_ok(struct dm_api *api)
{
    struct dm_queue_stats st;
    bool up = false;
    queue_read(api, DM_Q_WORK_ITEMS, &st, &up);
    return up;
}

void api_health(struct api_call *c)
{
    /* Cheap to ask, not to answer (a database ping and a queue read, a Service Bus call on
     * Azure): a flood from one address is cut off; probes and monitors stay far below. */
    char ip[80];
    snprintf(ip, sizeof(ip), "ip:%s", c->req->client_ip);
    int retry = 1;
    if (!api_ratelimit_take(c->api->rl_health, ip, dm_mono_ms(), &retry)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry < 1 ? 1 : retry);
        dm_http_resp_header(c->resp, "Retry-After", ra);
        api_error(c, 429, "RATE_LIMITED", "Too many requests", NULL);
        return;
    }
    bool db = dm_db_ping(c->api->db);
    bool q = queue_ok(c->api);
    char now[DM_ISO_LEN];
    dm_time_format(dm_now_ms(), now);
    bool ok = db && q;
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:s,s:I}", "status", ok ? "ok" : "degraded", "timestamp", now,
                  "database", db ? "ok" : "down", "queue", q ? "ok" : "down", "uptimeSeconds",
                  (json_int_t)((dm_now_ms() - c->api->started_ms) / 1000));
    json_t *ix = json_pack("{s:s}", "status", "off");
    if (c->api->index) {
        /* How stale the index is: searches keep answering from it while PostgreSQL is down. */
        struct api_index_status st;
        api_index_status(c->api->index, &st);
        json_decref(ix);
        ix = json_pack("{s:s,s:I,s:I,s:I,s:f,s:f}", "status", st.status, "rows",
                       (json_int_t)st.ix.rows, "lastSeq", (json_int_t)st.ix.last_seq, "dbSeq",
                       (json_int_t)st.db_seq, "lagSeconds", st.lag_seconds, "loadSeconds",
                       st.load_seconds);
    }
    json_object_set_new(body, "searchIndex", ix);
    api_json(c->resp, ok ? 200 : 503, body);
}

/* ---- metrics ---- */

static void line(struct dm_buf *b, const char *fmt, ...) DM_PRINTF(2, 3);
static void line(struct dm_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (dm_buf_append_str(b, tmp) != DM_OK || dm_buf_append_char(b, '\n') != DM_OK)
        return;
}

static void help(struct dm_buf *b, const char *name, const char *type, const char *text)
{
    line(b, "# HELP %s %s", name, text);
    line(b, "# TYPE %s %s", name, type);
}

bool api_metrics_token_ok(const struct api_call *c)
{
    const char *want = c->api->cfg->metrics_token;
    const char *auth = dm_http_req_header(c->req, "Authorization");
    if (want == NULL || auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *got = auth + 7;
    return dm_ct_equal(got, strlen(got), want, strlen(want));
}

struct api_metrics_cache {
    pthread_mutex_t mu;
    int ttl_ms;
    int64_t rendered_ms; /* monotonic; 0 = never */
    struct dm_buf text;
    atomic_llong renders;
};

struct api_metrics_cache *api_metrics_cache_new(int ttl_ms)
{
    struct api_metrics_cache *mc = dm_xcalloc(1, sizeof(*mc));
    pthread_mutex_init(&mc->mu, NULL);
    mc->ttl_ms = ttl_ms;
    dm_buf_init(&mc->text, 4u << 20);
    return mc;
}

void api_metrics_cache_free(struct api_metrics_cache *mc)
{
    if (mc == NULL)
        return;
    pthread_mutex_destroy(&mc->mu);
    dm_buf_free(&mc->text);
    free(mc);
}

static void render_shared(struct dm_api *api, struct dm_buf *b);
static void render_process(struct dm_api *api, struct dm_buf *b);

void api_metrics(struct api_call *c)
{
    struct dm_api *api = c->api;
    struct api_metrics_cache *mc = api->metrics_cache;
    struct dm_buf *b = &c->resp->body;
    dm_buf_reset(b);
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    c->resp->status = 200;
    /* The queue, database and watermark figures cost round trips (Service Bus and Blob calls on
     * Azure, catalogue aggregates): one request renders them at a time and the others reuse
     * the text for METRICS_CACHE_MS, so a flood of scrapes costs what one does. */
    pthread_mutex_lock(&mc->mu);
    int64_t now = dm_mono_ms();
    if (mc->ttl_ms <= 0 || mc->rendered_ms == 0 || now - mc->rendered_ms >= mc->ttl_ms) {
        dm_buf_reset(&mc->text);
        render_shared(api, &mc->text);
        mc->rendered_ms = now;
        atomic_fetch_add(&mc->renders, 1);
    }
    if (mc->text.len > 0 && dm_buf_append(b, mc->text.data, mc->text.len) != DM_OK)
        dm_buf_reset(b);
    pthread_mutex_unlock(&mc->mu);
    render_process(api, b);
}

/* The window end of feed's last completed run in per_feed (dm_runs_report_feed_checks), 0 when
 * none: the age's stand-in while a watermark cannot be read. */
static int64_t feed_run_watermark(const PGresult *per_feed, const char *feed)
{
    for (int i = 0; per_feed != NULL && i < PQntuples(per_feed); i++)
        if (!strcmp(PQgetvalue(per_feed, i, 0), feed))
            return api_i64(per_feed, i, 5);
    return 0;
}

/* Each configured feed's watermark age (FEEDS, app/feed_watermark.h), beside the seed's
 * diamond_watermark_age_seconds (the default feed's); while a feed's watermark cannot be read,
 * its last completed run's window end stands in, as for the seed's series; a feed with
 * neither has no sample. */
static void feed_watermarks(struct dm_api *api, const PGresult *per_feed, struct dm_buf *b)
{
    const struct dm_config *cfg = api->cfg;
    int n = cfg ? cfg->n_feeds : 0;
    help(b, "diamond_feed_watermark_age_seconds", "gauge",
         "Seconds since each feed's watermark lastUpdatedAt");
    for (int i = 0; i < (n > 0 ? n : 1) && i < DM_FEEDS_MAX; i++) {
        const char *id = n > 0 ? cfg->feeds[i].id : DM_FEED_DEFAULT;
        int64_t wm_ms = feed_run_watermark(per_feed, id);
        struct dm_watermark_store *s = NULL;
        struct dm_watermark wm;
        struct dm_error err = {0};
        if (cfg == NULL || dm_app_feed_watermark_open(cfg, id, &s, &err) != DM_OK)
            dm_debug(NULL, "feed %s: watermark store unavailable: %s", id, err.message);
        else if (dm_watermark_read(s, &wm, NULL, 0, &err) == DM_OK)
            wm_ms = wm.last_updated_at_ms;
        dm_watermark_free(s);
        if (wm_ms > 0)
            line(b, "diamond_feed_watermark_age_seconds{feed=\"%s\"} %.3f", id,
                 (double)(dm_now_ms() - wm_ms) / 1000.0);
    }
}

/* Figures shared by every API replica: queues, pipeline tables, catalogue, watermark. */
static void render_shared(struct dm_api *api, struct dm_buf *b)
{
    /* Queues. */
    static const enum dm_queue_name qs[] = {DM_Q_WORK_ITEMS, DM_Q_WORK_DONE, DM_Q_CONSOLIDATE};
    help(b, "diamond_queue_depth", "gauge", "Active (visible or locked) messages per queue");
    struct dm_queue_stats st[3];
    bool qok[3] = {false, false, false}, qup[3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        qok[i] = queue_read(api, qs[i], &st[i], &qup[i]);
        if (qok[i])
            line(b, "diamond_queue_depth{queue=\"%s\"} %lld", dm_queue_settings(qs[i])->name,
                 (long long)st[i].active);
    }
    help(b, "diamond_queue_dead_letter", "gauge", "Dead-lettered messages per queue");
    for (int i = 0; i < 3; i++)
        if (qok[i])
            line(b, "diamond_queue_dead_letter{queue=\"%s\"} %lld", dm_queue_settings(qs[i])->name,
                 (long long)st[i].dead_letter);
    help(b, "diamond_queue_scheduled", "gauge", "Scheduled (not yet visible) messages per queue");
    for (int i = 0; i < 3; i++)
        if (qok[i])
            line(b, "diamond_queue_scheduled{queue=\"%s\"} %lld", dm_queue_settings(qs[i])->name,
                 (long long)st[i].scheduled);
    help(b, "diamond_queue_up", "gauge", "1 when the queue backend answered");
    line(b, "diamond_queue_up %d", qup[0] ? 1 : 0);

    /* Run-table figures in one round trip (store/runs.h), and each feed's. */
    PGresult *per_feed = NULL;
    struct dm_runs_figures fig;
    struct dm_error err = {0};
    enum dm_err e = dm_runs_figures(api->db, &fig, &err);
    if (e == DM_OK) {
        help(b, "diamond_worker_pages_total", "counter", "Pages committed by workers");
        line(b, "diamond_worker_pages_total %lld", (long long)fig.pages);
        help(b, "diamond_worker_page_errors_total", "counter",
             "Failed page fetch/upsert attempts by workers");
        line(b, "diamond_worker_page_errors_total %lld", (long long)fig.page_errors);
        int64_t p24 = fig.pages_24h, e24 = fig.page_errors_24h;
        help(b, "diamond_worker_error_rate", "gauge",
             "page_errors / (pages + page_errors) over partitions updated in the last 24 h");
        line(b, "diamond_worker_error_rate %.6f",
             p24 + e24 > 0 ? (double)e24 / (double)(p24 + e24) : 0.0);
        help(b, "diamond_consolidator_runs_total", "counter", "Runs consolidated");
        line(b, "diamond_consolidator_runs_total %lld", (long long)fig.runs_consolidated);
        help(b, "diamond_consolidator_failures_total", "counter", "Failed consolidation attempts");
        line(b, "diamond_consolidator_failures_total %lld", (long long)fig.consolidation_failures);
        help(b, "diamond_consolidator_failures_24h", "gauge",
             "Failed consolidation attempts of runs that failed in the last 24 h");
        line(b, "diamond_consolidator_failures_24h %lld",
             (long long)fig.consolidation_failures_24h);
        help(b, "diamond_runs_total", "counter", "Runs planned");
        line(b, "diamond_runs_total %lld", (long long)fig.runs);
        /* The runs' stand-in is the default feed's (with several feeds another feed's runs
         * say nothing about this watermark). */
        if (dm_runs_report_feed_checks(api->db, &per_feed, &err) != DM_OK)
            per_feed = NULL;
        int64_t wm_ms = per_feed ? feed_run_watermark(per_feed, DM_FEED_DEFAULT)
                                 : fig.last_completed_updated_to_ms;
        if (api->wm) {
            struct dm_watermark wm;
            struct dm_error werr = {0};
            if (dm_watermark_read(api->wm, &wm, NULL, 0, &werr) == DM_OK)
                wm_ms = wm.last_updated_at_ms;
        }
        if (wm_ms > 0) {
            help(b, "diamond_watermark_age_seconds", "gauge",
                 "Seconds since the watermark's lastUpdatedAt");
            line(b, "diamond_watermark_age_seconds %.3f", (double)(dm_now_ms() - wm_ms) / 1000.0);
        }
    }
    feed_watermarks(api, per_feed, b);
    PQclear(per_feed);
    PGresult *r = NULL;
    help(b, "diamond_database_up", "gauge", "1 when the database answered");
    line(b, "diamond_database_up %d", e == DM_OK ? 1 : 0);

    if (e == DM_OK &&
        dm_db_query(api->db,
                    "SELECT a.availability, COALESCE(n, 0) FROM "
                    "unnest(ARRAY['available','on_hold','sold','unavailable']) a(availability) "
                    "LEFT JOIN (SELECT availability, count(*) n FROM diamonds "
                    "WHERE status = 'active' GROUP BY availability) d USING (availability)",
                    0, NULL, &r, &err) == DM_OK) {
        help(b, "diamond_active_diamonds", "gauge", "Active diamonds by availability");
        for (int i = 0; i < PQntuples(r); i++)
            line(b, "diamond_active_diamonds{availability=\"%s\"} %lld", PQgetvalue(r, i, 0),
                 (long long)api_i64(r, i, 1));
        PQclear(r);
        r = NULL;
    }
    if (e == DM_OK && dm_runs_report_durations(api->db, &r, &err) == DM_OK) {
        help(b, "diamond_run_duration_seconds", "gauge",
             "Duration of recent completed runs (start to consolidation end)");
        for (int i = 0; i < PQntuples(r); i++)
            line(b, "diamond_run_duration_seconds{run_type=\"%s\",run_id=\"%s\"} %s",
                 PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), PQgetvalue(r, i, 1));
        help(b, "diamond_last_run_duration_seconds", "gauge",
             "Duration of the most recent completed run");
        if (PQntuples(r) > 0)
            line(b, "diamond_last_run_duration_seconds{run_type=\"%s\"} %s", PQgetvalue(r, 0, 0),
                 PQgetvalue(r, 0, 1));
        PQclear(r);
        r = NULL;
    }
}

/* Figures of this process, always current: requests, latency, its caches and index. */
static void render_process(struct dm_api *api, struct dm_buf *b)
{
    help(b, "diamond_api_metrics_renders_total", "counter",
         "Times this process rendered the queue, database and watermark figures of /metrics "
         "(the others were reused, METRICS_CACHE_MS)");
    line(b, "diamond_api_metrics_renders_total %lld",
         (long long)atomic_load(&api->metrics_cache->renders));
    /* API requests of this process. */
    help(b, "diamond_api_requests_total", "counter", "API requests by status class");
    static const char *cls[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i <= 5; i++)
        line(b, "diamond_api_requests_total{status_class=\"%s\"} %lld", cls[i],
             (long long)atomic_load(&api->stats.by_class[i]));
    help(b, "diamond_api_request_duration_seconds", "histogram", "API request latency");
    long long cum = 0;
    for (int i = 0; i < API_LAT_BUCKETS; i++) {
        cum += atomic_load(&api->stats.lat_bucket[i]);
        if (i < API_LAT_BUCKETS - 1)
            line(b, "diamond_api_request_duration_seconds_bucket{le=\"%g\"} %lld",
                 api_lat_bounds[i], cum);
        else
            line(b, "diamond_api_request_duration_seconds_bucket{le=\"+Inf\"} %lld", cum);
    }
    line(b, "diamond_api_request_duration_seconds_sum %.6f",
         (double)atomic_load(&api->stats.lat_sum_us) / 1e6);
    line(b, "diamond_api_request_duration_seconds_count %lld",
         (long long)atomic_load(&api->stats.lat_count));

    /* The search response cache of this process (API_CACHE_MS). */
    struct api_respcache_counts rcc;
    api_respcache_stats(api->responses, &rcc);
    help(b, "diamond_api_search_cache_lookups_total", "counter",
         "Search requests answered from the response cache (hit) or the database (miss)");
    line(b, "diamond_api_search_cache_lookups_total{result=\"hit\"} %lld", rcc.hits);
    line(b, "diamond_api_search_cache_lookups_total{result=\"miss\"} %lld", rcc.misses);
    help(b, "diamond_api_search_cache_refreshes_total", "counter",
         "Cached searches re-rendered by the background refresher or by a request that found "
         "its entry expired");
    line(b, "diamond_api_search_cache_refreshes_total{by=\"background\"} %lld",
         rcc.refreshes_background);
    line(b, "diamond_api_search_cache_refreshes_total{by=\"request\"} %lld", rcc.refreshes_request);
    help(b, "diamond_api_search_cache_refresh_failures_total", "counter",
         "Background refreshes that failed (the previous response was kept)");
    line(b, "diamond_api_search_cache_refresh_failures_total %lld", rcc.refresh_failures);

    /* The in-memory search index of this process (issue 14). */
    help(b, "diamond_api_search_queries_total", "counter",
         "Searches, facets and lookups answered by the in-memory index or by PostgreSQL");
    line(b, "diamond_api_search_queries_total{path=\"index\"} %lld",
         (long long)atomic_load(&api->search_queries[0]));
    line(b, "diamond_api_search_queries_total{path=\"sql\"} %lld",
         (long long)atomic_load(&api->search_queries[1]));
    if (api->index)
        api_index_metrics(api->index, b);
}
