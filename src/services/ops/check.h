/*
 * check.h - the seed's five monitoring thresholds ("Key Metrics to Monitor"), evaluated from the
 * database, the queues and the watermark:
 *
 *   dead_letters           dead-lettered messages summed over the three queues     > 0
 *   worker_error_rate      page_errors / (pages + page_errors) of partitions        > 5 %
 *                          updated in the last 24 h (partition_progress, migration 003)
 *   consolidator_failures  failed consolidation attempts of runs whose latest       > 1 per day
 *                          failure is in the last 24 h (run_metadata, migration 004)
 *   api_5xx_rate           5xx / all API responses in the last 24 h                > 1 %
 *                          (api_request_stats, migration 005)
 *   watermark_age          now - watermark.lastUpdatedAt (absent = breached)        > 48 h
 *
 * With several feeds (FEEDS, issue 18) three thresholds are also measured per configured feed
 * (struct dm_check_result.feeds): the watermark (each feed has its own, app/feed_watermark.h),
 * the worker error rate and the consolidator failures (each feed's runs). The watermark and the
 * error rate take the worst feed's state (a failing small feed is not averaged away by a
 * healthy big one); the consolidator failures keep the seed's total per day, with each feed's
 * count beside it.
 *
 * dm_check_evaluate() measures each as OK / BREACH (UNKNOWN when it could not be measured);
 * dm_check_notify() logs one line per threshold and sends one alert per breach through the alert
 * sink (Resend or log). `diamond check` (commands/check.c) calls both and prints the results;
 * the resident scheduler runs it hourly.
 *
 * Thread-safety: none needed; each call opens and closes its own queue/watermark/alert handles.
 */
#ifndef DM_SERVICES_OPS_CHECK_H
#define DM_SERVICES_OPS_CHECK_H

#include <stdbool.h>

#include "app/app.h"

/* The seed's thresholds. */
#define DM_CHECK_DEAD_LETTER_MAX 0
#define DM_CHECK_WORKER_ERROR_RATE_MAX 0.05
#define DM_CHECK_CONSOLIDATOR_FAILURES_MAX 1
#define DM_CHECK_API_5XX_RATE_MAX 0.01
#define DM_CHECK_WATERMARK_AGE_MAX_MS (48LL * 3600 * 1000)
#define DM_CHECK_WINDOW_HOURS 24

enum dm_check_id {
    DM_CHECK_DEAD_LETTERS = 0,
    DM_CHECK_WORKER_ERRORS,
    DM_CHECK_CONSOLIDATOR_FAILURES,
    DM_CHECK_API_5XX,
    DM_CHECK_WATERMARK_AGE,
    DM_CHECK_COUNT
};

enum dm_check_state { DM_CHECK_OK = 0, DM_CHECK_BREACH, DM_CHECK_UNKNOWN };

/* One feed's part of a per-feed threshold. */
struct dm_check_feed {
    char feed[DM_FEED_ID_LEN + 1];
    enum dm_check_state state;
    double value;         /* as dm_check_result.value, for this feed */
    char value_text[160]; /* as dm_check_result.value_text, for this feed */
};

struct dm_check_result {
    const char *name;      /* stable key: "dead_letters", "worker_error_rate", ... */
    const char *metric;    /* the seed's wording: "Dead letter queue count" */
    const char *threshold; /* "> 0", "> 5%", ... */
    const char *action;    /* the seed's action plus the runbook command */
    double value;          /* count, ratio (0..1) or hours; 0 when unknown, -1 no watermark */
    enum dm_check_id id;
    enum dm_check_state state;
    char value_text[160]; /* human form with the numbers behind it */
    /* Per configured feed (watermark_age, worker_error_rate, consolidator_failures; one entry
     * with a single feed), in FEEDS order; 0 for the thresholds that are not per feed. */
    int n_feeds;
    struct dm_check_feed feeds[DM_FEEDS_MAX];
};

/* Measure all five thresholds. Never fails as a whole: a threshold that cannot be measured is
 * DM_CHECK_UNKNOWN with the reason in value_text. app->db must be open. */
void dm_check_evaluate(struct dm_app *app, struct dm_check_result out[DM_CHECK_COUNT]);

/* Log one line per threshold (warn when not OK) and, when send_alerts, alert on each one not
 * OK (a failed send is logged by the sink). Returns how many thresholds are not OK. */
int dm_check_notify(struct dm_app *app, const struct dm_check_result res[DM_CHECK_COUNT],
                    bool send_alerts);

/* "OK" / "BREACH" / "UNKNOWN". */
const char *dm_check_state_name(enum dm_check_state s);

#endif
