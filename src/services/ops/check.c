/* check.c - the seed's five monitoring thresholds: measurement, table, alerts (see check.h). */
#include "services/ops/check.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/alert/alert.h"
#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/adapter_opts.h"
#include "app/feed_watermark.h"
#include "core/buf.h"
#include "core/feed_id.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "store/runs.h"

static const struct {
    const char *name, *metric, *threshold, *action;
} META[DM_CHECK_COUNT] = {
    [DM_CHECK_DEAD_LETTERS] = {"dead_letters", "Dead letter queue count", "> 0",
                               "Review messages, retry: diamond queue dlq <queue>, then "
                               "diamond queue resubmit <queue> [id] (docs/operations.md)"},
    [DM_CHECK_WORKER_ERRORS] = {"worker_error_rate", "Worker error rate", "> 5%",
                                "Check Nivoda API, DB connectivity: worker error logs, "
                                "diamond status (partitions' last errors)"},
    [DM_CHECK_CONSOLIDATOR_FAILURES] = {"consolidator_failures", "Consolidator failures",
                                        "> 1 per day",
                                        "Review logs, check pricing rules: run_metadata.last_error,"
                                        " consolidator error logs; then diamond consolidate <run>"},
    [DM_CHECK_API_5XX] = {"api_5xx_rate", "API 5xx errors", "> 1%",
                          "Check DB connectivity, auth config: GET /health, API error logs"},
    [DM_CHECK_WATERMARK_AGE] = {"watermark_age", "Watermark age", "> 48 hours",
                                "Check scheduler cron, manual trigger: az containerapp job "
                                "execution list, POST /api/v2/triggers/scheduler"},
};

const char *dm_check_state_name(enum dm_check_state s)
{
    switch (s) {
    case DM_CHECK_OK:
        return "OK";
    case DM_CHECK_BREACH:
        return "BREACH";
    case DM_CHECK_UNKNOWN:
        return "UNKNOWN";
    }
    return "UNKNOWN";
}

static void unknown(struct dm_check_result *r, const char *why)
{
    r->state = DM_CHECK_UNKNOWN;
    r->value = 0;
    snprintf(r->value_text, sizeof(r->value_text), "unknown: %.100s", why);
}

static void feed_unknown(struct dm_check_feed *f, const char *why)
{
    f->state = DM_CHECK_UNKNOWN;
    f->value = 0;
    snprintf(f->value_text, sizeof(f->value_text), "unknown: %.100s", why);
}

/* The configured feeds into r->feeds (ids only; the default feed when FEEDS is empty). */
static void feeds_start(const struct dm_app *app, struct dm_check_result *r)
{
    const struct dm_config *cfg = &app->cfg;
    r->n_feeds = 0;
    for (int i = 0; i < cfg->n_feeds && i < DM_FEEDS_MAX; i++)
        snprintf(r->feeds[r->n_feeds++].feed, sizeof(r->feeds[0].feed), "%s", cfg->feeds[i].id);
    if (r->n_feeds == 0)
        snprintf(r->feeds[r->n_feeds++].feed, sizeof(r->feeds[0].feed), "%s", DM_FEED_DEFAULT);
}

/* OK < UNKNOWN < BREACH. */
static int rank(enum dm_check_state s)
{
    return s == DM_CHECK_BREACH ? 2 : s == DM_CHECK_UNKNOWN ? 1 : 0;
}

/* The index of the worst feed: highest state, then highest severity (value; sev may map it). */
static int worst_feed(const struct dm_check_result *r, double (*sev)(double))
{
    int w = 0;
    for (int i = 1; i < r->n_feeds; i++) {
        const struct dm_check_feed *a = &r->feeds[i], *b = &r->feeds[w];
        double va = sev ? sev(a->value) : a->value, vb = sev ? sev(b->value) : b->value;
        if (rank(a->state) > rank(b->state) || (rank(a->state) == rank(b->state) && va > vb))
            w = i;
    }
    return w;
}

/* Two bigint columns of a one-row result. */
static enum dm_err query_pair(struct dm_db *db, const char *sql, int64_t *a, int64_t *b,
                              struct dm_error *err)
{
    PGresult *res = NULL;
    enum dm_err e = dm_db_query(db, sql, 0, NULL, &res, err);
    if (e != DM_OK)
        return e;
    if (PQntuples(res) != 1 || PQnfields(res) < 2 ||
        dm_parse_i64(PQgetvalue(res, 0, 0), 0, INT64_MAX, a) != DM_OK ||
        dm_parse_i64(PQgetvalue(res, 0, 1), 0, INT64_MAX, b) != DM_OK)
        e = dm_error_set(err, DM_ERR_INTERNAL, "unexpected result shape");
    PQclear(res);
    return e;
}

static void check_dead_letters(struct dm_app *app, struct dm_check_result *r)
{
    struct dm_error err = {0};
    struct dm_queue *q = NULL;
    if (dm_app_queue_open(&app->cfg, app->db, &q, &err) != DM_OK) {
        unknown(r, err.message);
        return;
    }
    int64_t total = 0;
    struct dm_buf parts;
    dm_buf_init(&parts, 128);
    for (int i = 0; i < DM_Q_COUNT; i++) {
        struct dm_queue_stats st = {0};
        if (dm_queue_stats(q, (enum dm_queue_name)i, &st, &err) != DM_OK) {
            unknown(r, err.message);
            goto out;
        }
        total += st.dead_letter;
        if (st.dead_letter > 0 && dm_buf_appendf(&parts, "%s%s %" PRId64, parts.len ? ", " : "",
                                                 dm_queue_settings((enum dm_queue_name)i)->name,
                                                 st.dead_letter) != DM_OK) {
            /* bounded detail: the total is what matters */
        }
    }
    r->value = (double)total;
    r->state = total > DM_CHECK_DEAD_LETTER_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
    if (total > 0)
        snprintf(r->value_text, sizeof(r->value_text), "%" PRId64 " (%.*s; %s backend)", total,
                 (int)parts.len, parts.data ? parts.data : "", dm_queue_backend_name(q));
    else
        snprintf(r->value_text, sizeof(r->value_text), "0 (%s backend)", dm_queue_backend_name(q));
out:
    dm_buf_free(&parts);
    dm_queue_free(q);
}

/* Each feed's row of dm_runs_report_feed_checks (NULL when the feed has no run). */
static struct dm_db_row *feed_row(PGresult *res, const char *feed, struct dm_db_row *rd)
{
    for (int i = 0; res != NULL && i < PQntuples(res); i++)
        if (!strcmp(PQgetvalue(res, i, 0), feed)) {
            *rd = (struct dm_db_row)DM_DB_ROW(res, i);
            return rd;
        }
    return NULL;
}

/* Feed f's two figures in columns col and col + 1 of the per-feed result (0 and 0 for a feed
 * without a row); false, with f unknown, when they cannot be read. */
static bool feed_figures(PGresult *per_feed, const char *per_feed_err, struct dm_check_feed *f,
                         int col, int64_t *a, int64_t *b)
{
    if (per_feed_err) {
        feed_unknown(f, per_feed_err);
        return false;
    }
    struct dm_db_row rd, *row = feed_row(per_feed, f->feed, &rd);
    *a = row ? dm_db_row_i64(row, col) : 0;
    *b = row ? dm_db_row_i64(row, col + 1) : 0;
    struct dm_error err = {0};
    if (row && dm_db_row_check(row, "feed figures", &err) != DM_OK) {
        feed_unknown(f, err.message);
        return false;
    }
    return true;
}

static void check_worker_errors(struct dm_app *app, PGresult *per_feed, const char *per_feed_err,
                                struct dm_check_result *r)
{
    struct dm_error err = {0};
    struct dm_runs_figures fig;
    if (dm_runs_figures(app->db, &fig, &err) != DM_OK) {
        unknown(r, err.message);
        return;
    }
    /* Partitions that progressed or failed a page in the last 24 hours. */
    int64_t pages = fig.check_pages, errors = fig.check_errors;
    int64_t attempts = pages + errors;
    r->value = attempts > 0 ? (double)errors / (double)attempts : 0.0;
    r->state = r->value > DM_CHECK_WORKER_ERROR_RATE_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
    snprintf(r->value_text, sizeof(r->value_text),
             "%.2f%% (%" PRId64 " failed of %" PRId64 " page attempts, 24 h)", r->value * 100.0,
             errors, attempts);
    feeds_start(app, r);
    for (int i = 0; i < r->n_feeds; i++) {
        struct dm_check_feed *f = &r->feeds[i];
        int64_t fp = 0, fe = 0;
        if (!feed_figures(per_feed, per_feed_err, f, 1, &fp, &fe))
            continue;
        f->value = fp + fe > 0 ? (double)fe / (double)(fp + fe) : 0.0;
        f->state = f->value > DM_CHECK_WORKER_ERROR_RATE_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
        snprintf(f->value_text, sizeof(f->value_text),
                 "%.2f%% (%" PRId64 " failed of %" PRId64 " page attempts, 24 h)", f->value * 100.0,
                 fe, fp + fe);
    }
    if (r->n_feeds < 2)
        return;
    /* Several feeds: the worst feed decides (its rate is at least the overall one). */
    const struct dm_check_feed *w = &r->feeds[worst_feed(r, NULL)];
    if (rank(w->state) > rank(r->state))
        r->state = w->state;
    if (w->state != DM_CHECK_UNKNOWN && w->value > r->value) {
        r->value = w->value;
        char all[96];
        snprintf(all, sizeof(all), "%.2f%% over all feeds",
                 attempts > 0 ? (double)errors / (double)attempts * 100.0 : 0.0);
        snprintf(r->value_text, sizeof(r->value_text), "%.2f%% (feed %s; %s)", w->value * 100.0,
                 w->feed, all);
    }
}

static void check_consolidator(struct dm_app *app, PGresult *per_feed, const char *per_feed_err,
                               struct dm_check_result *r)
{
    struct dm_error err = {0};
    struct dm_runs_figures fig;
    if (dm_runs_figures(app->db, &fig, &err) != DM_OK) {
        unknown(r, err.message);
        return;
    }
    /* A run whose latest failure is in the window contributes its failed attempts (at least
     * one: the timestamp alone proves a failure). */
    int64_t failures = fig.failure_weight_24h, runs = fig.failed_runs_24h;
    r->value = (double)failures;
    r->state = failures > DM_CHECK_CONSOLIDATOR_FAILURES_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
    snprintf(r->value_text, sizeof(r->value_text), "%" PRId64 " in 24 h (%" PRId64 " run%s)",
             failures, runs, runs == 1 ? "" : "s");
    /* Each feed's share; the seed's threshold is the total per day (it decides). */
    feeds_start(app, r);
    for (int i = 0; i < r->n_feeds; i++) {
        struct dm_check_feed *f = &r->feeds[i];
        int64_t ff = 0, fr = 0;
        if (!feed_figures(per_feed, per_feed_err, f, 3, &ff, &fr))
            continue;
        f->value = (double)ff;
        f->state = ff > DM_CHECK_CONSOLIDATOR_FAILURES_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
        snprintf(f->value_text, sizeof(f->value_text), "%" PRId64 " in 24 h (%" PRId64 " run%s)",
                 ff, fr, fr == 1 ? "" : "s");
    }
}

static void check_api_5xx(struct dm_app *app, struct dm_check_result *r)
{
    struct dm_error err = {0};
    PGresult *res = NULL;
    if (dm_db_query(app->db, "SELECT to_regclass('api_request_stats') IS NOT NULL", 0, NULL, &res,
                    &err) != DM_OK) {
        unknown(r, err.message);
        return;
    }
    bool present = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    if (!present) {
        unknown(r, "table api_request_stats is missing (run diamond migrate)");
        return;
    }
    int64_t e5 = 0, total = 0;
    if (query_pair(app->db,
                   "SELECT COALESCE(sum(count) FILTER (WHERE status_class = '5xx'), 0), "
                   "COALESCE(sum(count), 0) FROM api_request_stats "
                   "WHERE minute > now() - interval '24 hours'",
                   &e5, &total, &err) != DM_OK) {
        unknown(r, err.message);
        return;
    }
    r->value = total > 0 ? (double)e5 / (double)total : 0.0;
    r->state = r->value > DM_CHECK_API_5XX_RATE_MAX ? DM_CHECK_BREACH : DM_CHECK_OK;
    snprintf(r->value_text, sizeof(r->value_text),
             "%.2f%% (%" PRId64 " 5xx of %" PRId64 " responses, 24 h)", r->value * 100.0, e5,
             total);
}

static void watermark_feed(struct dm_app *app, struct dm_check_feed *f)
{
    struct dm_error err = {0};
    struct dm_watermark_store *s = NULL;
    if (dm_app_feed_watermark_open(&app->cfg, f->feed, &s, &err) != DM_OK) {
        feed_unknown(f, err.message);
        return;
    }
    struct dm_watermark wm;
    memset(&wm, 0, sizeof(wm));
    enum dm_err e = dm_watermark_read(s, &wm, NULL, 0, &err);
    if (e == DM_ERR_NOT_FOUND) {
        f->state = DM_CHECK_BREACH;
        f->value = -1;
        snprintf(f->value_text, sizeof(f->value_text),
                 "never written (%s backend): no run has completed yet",
                 dm_watermark_backend_name(s));
    } else if (e != DM_OK) {
        feed_unknown(f, err.message);
    } else {
        int64_t age_ms = dm_now_ms() - wm.last_updated_at_ms;
        char iso[DM_ISO_LEN];
        dm_time_format(wm.last_updated_at_ms, iso);
        f->value = (double)age_ms / 3600000.0;
        f->state = age_ms > DM_CHECK_WATERMARK_AGE_MAX_MS ? DM_CHECK_BREACH : DM_CHECK_OK;
        snprintf(f->value_text, sizeof(f->value_text), "%.1f h (lastUpdatedAt %s, run %.8s)",
                 f->value, iso, wm.last_run_id);
    }
    dm_watermark_free(s);
}

/* A watermark never written (-1) is older than any. */
static double watermark_severity(double hours)
{
    return hours < 0 ? INFINITY : hours;
}

/* Each feed's watermark (app/feed_watermark.h); the oldest decides. */
static void check_watermark(struct dm_app *app, struct dm_check_result *r)
{
    feeds_start(app, r);
    for (int i = 0; i < r->n_feeds; i++)
        watermark_feed(app, &r->feeds[i]);
    const struct dm_check_feed *w = &r->feeds[worst_feed(r, watermark_severity)];
    r->state = w->state;
    r->value = w->value;
    if (r->n_feeds == 1)
        snprintf(r->value_text, sizeof(r->value_text), "%s", w->value_text);
    else
        snprintf(r->value_text, sizeof(r->value_text), "feed %s: %.100s", w->feed, w->value_text);
}

void dm_check_evaluate(struct dm_app *app, struct dm_check_result out[DM_CHECK_COUNT])
{
    for (int i = 0; i < DM_CHECK_COUNT; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].id = (enum dm_check_id)i;
        out[i].name = META[i].name;
        out[i].metric = META[i].metric;
        out[i].threshold = META[i].threshold;
        out[i].action = META[i].action;
    }
    if (app->db == NULL) {
        for (int i = 0; i < DM_CHECK_COUNT; i++)
            unknown(&out[i], "no database");
        return;
    }
    check_dead_letters(app, &out[DM_CHECK_DEAD_LETTERS]);
    /* The per-feed figures of both run checks in one round trip (store/runs.h). */
    PGresult *per_feed = NULL;
    struct dm_error err = {0};
    const char *per_feed_err = NULL;
    if (dm_runs_report_feed_checks(app->db, &per_feed, &err) != DM_OK)
        per_feed_err = err.message;
    check_worker_errors(app, per_feed, per_feed_err, &out[DM_CHECK_WORKER_ERRORS]);
    check_consolidator(app, per_feed, per_feed_err, &out[DM_CHECK_CONSOLIDATOR_FAILURES]);
    PQclear(per_feed);
    check_api_5xx(app, &out[DM_CHECK_API_5XX]);
    check_watermark(app, &out[DM_CHECK_WATERMARK_AGE]);
}

static void alert_breach(struct dm_alert_sink *sink, const struct dm_check_result *r)
{
    char subject[160];
    struct dm_buf body;
    dm_buf_init(&body, 8192);
    snprintf(subject, sizeof(subject), "Monitoring: %s %s (%s)", r->metric, r->threshold,
             dm_check_state_name(r->state));
    enum dm_err e =
        dm_buf_appendf(&body, "%s is %s.\n\nThreshold: %s %s\nValue: %s\n", r->metric,
                       r->state == DM_CHECK_BREACH ? "above its alert threshold" : "unknown",
                       r->metric, r->threshold, r->value_text);
    for (int i = 0; e == DM_OK && r->n_feeds > 1 && i < r->n_feeds; i++)
        e = dm_buf_appendf(&body, "  feed %s: %s %s\n", r->feeds[i].feed,
                           dm_check_state_name(r->feeds[i].state), r->feeds[i].value_text);
    if (e == DM_OK)
        e = dm_buf_appendf(&body,
                           "Action: %s\n\n"
                           "Runbook: docs/operations.md (\"%s\"). Re-check with `diamond check`.\n",
                           r->action, r->metric);
    (void)e; /* bounded far above 16 feed lines: the text so far is sent either way */
    (void)dm_alert_send(sink, NULL, subject, body.data ? body.data : "");
    dm_buf_free(&body); /* a failed send is logged by the sink */
}

int dm_check_notify(struct dm_app *app, const struct dm_check_result res[DM_CHECK_COUNT],
                    bool send_alerts)
{
    int bad = 0;
    for (int i = 0; i < DM_CHECK_COUNT; i++) {
        const struct dm_check_result *r = &res[i];
        if (r->state != DM_CHECK_OK)
            bad++;
        json_t *f =
            json_pack("{s:s, s:s, s:f, s:s}", "check", r->name, "state",
                      dm_check_state_name(r->state), "value", r->value, "detail", r->value_text);
        if (r->n_feeds > 1) { /* each feed's state, for queries by feed */
            json_t *by = json_object();
            for (int k = 0; k < r->n_feeds; k++)
                json_object_set_new(by, r->feeds[k].feed,
                                    json_string(dm_check_state_name(r->feeds[k].state)));
            json_object_set_new(f, "feeds", by);
        }
        /* One line per threshold, OK ones included: Log Analytics keeps the values' history. */
        dm_log_fields(r->state == DM_CHECK_OK ? DM_LOG_INFO : DM_LOG_WARN, NULL,
                      "monitoring threshold", f);
        json_decref(f);
    }
    if (send_alerts && bad > 0) {
        struct dm_alert_sink *sink = dm_app_alert_open(&app->cfg);
        for (int i = 0; i < DM_CHECK_COUNT; i++)
            if (res[i].state != DM_CHECK_OK)
                alert_breach(sink, &res[i]);
        dm_alert_free(sink);
    }
    return bad;
}
