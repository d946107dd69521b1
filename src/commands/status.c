/*
 * status.c - `diamond status`: the pipeline at a glance in a terminal. Recent runs with their
 * feed and derived status (domain/run_status.h), the partitions of the latest (or a chosen) run,
 * queue and dead-letter depths, and each feed's watermark age (--feed ID: one feed only). With
 * one feed configured (the default) the tables are the seed's, without a FEED column. Plain
 * text tables; ANSI colours only when stdout is a terminal (and NO_COLOR is unset and --no-color
 * not given).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "app/adapter_opts.h"
#include "app/feed_watermark.h"
#include "commands/commands.h"
#include "core/duration.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/run_status.h"
#include "services/ops/check.h"
#include "store/runs.h"

#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_OFF "\033[0m"

static bool g_color;

static const char *col(const char *c)
{
    return g_color ? c : "";
}

static const char *off(void)
{
    return g_color ? C_OFF : "";
}

static void usage(FILE *out)
{
    fprintf(out, "usage: diamond status [--feed ID] [--runs N] [--run RUN_ID] [--no-color]\n\n"
                 "Prints the pipeline state: the latest N runs (default 5) with their feed and\n"
                 "derived status, the partitions of the latest run (or RUN_ID), the queues'\n"
                 "active, scheduled and dead-lettered messages, and each feed's watermark age.\n"
                 "--feed ID shows that feed's runs and watermark only. Colours only on a\n"
                 "terminal (NO_COLOR or --no-color turns them off).\n");
    dm_config_print_help(DM_SVC_CLI, out);
}

/* "1.2s", "4m05s", "3h12m", "2d04h". */
/* 1234567 -> "1,234,567". */
static void fmt_count(int64_t v, char *out, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%" PRId64, v < 0 ? -v : v);
    size_t len = strlen(digits), o = 0;
    if (v < 0 && o + 1 < n)
        out[o++] = '-';
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < n)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static const char *status_color(enum dm_run_status s)
{
    switch (s) {
    case DM_RUN_COMPLETED:
        return C_GREEN;
    case DM_RUN_RUNNING:
    case DM_RUN_CONSOLIDATING:
    case DM_RUN_PARTIAL:
        return C_YELLOW;
    case DM_RUN_FAILED:
    case DM_RUN_STALLED:
        return C_RED;
    default:
        return C_DIM;
    }
}

/* Copy s into out on one line, at most max characters (control characters become spaces). */
static void one_line(const char *s, char *out, size_t max)
{
    size_t o = 0;
    for (; s && *s && o + 1 < max; s++)
        out[o++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
    out[o] = '\0';
}

/* with_feed: the FEED column (several feeds configured; one feed keeps the seed's table). */
static int print_runs(struct dm_db *db, const char *feed, bool with_feed, int n, char *latest,
                      size_t latest_size)
{
    struct dm_runs_filter filter = {.feed = feed, .limit = n};
    struct dm_run_list l;
    struct dm_error err = {0};
    if (dm_runs_list(db, &filter, &l, &err) != DM_OK) {
        fprintf(stderr, "status: runs: %s\n", err.message);
        return -1;
    }
    int rows = l.n;
    if (feed)
        printf("%sRUNS%s of feed %s (latest %d)\n", col(C_BOLD), off(), feed, n);
    else
        printf("%sRUNS%s (latest %d)\n", col(C_BOLD), off(), n);
    if (rows == 0) {
        printf(
            "  no runs yet (start one: diamond scheduler, or POST /api/v2/triggers/scheduler)\n\n");
        dm_run_list_free(&l);
        return 0;
    }
    printf("  %-8s  ", "RUN");
    if (with_feed)
        printf("%-12s  ", "FEED");
    printf("%-11s  %-13s  %-20s  %9s  %5s  %5s  %11s  %s\n", "TYPE", "STATUS", "STARTED (UTC)",
           "DURATION", "DONE", "FAIL", "RECORDS", "NOTE");
    int64_t now = dm_now_ms();
    for (int i = 0; i < rows; i++) {
        const struct dm_run *run = &l.runs[i];
        const struct dm_run_facts *f = &run->facts;
        enum dm_run_status st = run->status;
        if (i == 0 && latest)
            snprintf(latest, latest_size, "%s", run->run_id);
        char started[DM_ISO_LEN], dur[24], recs[32], note[96];
        dm_time_format(f->started_at_ms, started);
        started[16] = 'Z'; /* "YYYY-MM-DDTHH:MMZ" */
        started[17] = '\0';
        int64_t end = f->completed_at_ms   ? f->completed_at_ms
                      : f->cancelled_at_ms ? f->cancelled_at_ms
                      : f->skipped_at_ms   ? f->skipped_at_ms
                                           : now;
        dm_duration_format(end - f->started_at_ms, dur, sizeof(dur));
        fmt_count(run->records, recs, sizeof(recs));
        if (st == DM_RUN_COMPLETED)
            snprintf(note, sizeof(note),
                     "+%" PRId64 " new, %" PRId64 " changed, %" PRId64 " removed, %" PRId64
                     " failed",
                     run->stats_new, run->stats_changed, run->stats_removed, run->stats_failed);
        else if (run->last_error && run->last_error[0])
            one_line(run->last_error, note, 60);
        else
            snprintf(note, sizeof(note), "%" PRId64 " of %" PRId64 " partitions finished",
                     f->completed + f->failed, f->expected_partitions);
        printf("  %.8s  ", run->run_id);
        if (with_feed)
            printf("%-12.12s  ", run->feed);
        printf("%-11s  %s%-13s%s  %-20s  %9s  %5" PRId64 "  %s%5" PRId64 "%s  %11s  %s\n",
               run->run_type, col(status_color(st)), dm_run_status_name(st), off(), started, dur,
               f->completed, f->failed ? col(C_RED) : "", f->failed, off(), recs, note);
    }
    printf("\n");
    dm_run_list_free(&l);
    return rows;
}

static int print_partitions(struct dm_db *db, const char *run)
{
    struct dm_run_partition_list l;
    struct dm_error err = {0};
    if (dm_runs_partitions(db, run, &l, &err) != DM_OK) {
        fprintf(stderr, "status: partitions: %s\n", err.message);
        return -1;
    }
    int rows = l.n;
    if (rows == 0) {
        printf("%sPARTITIONS%s of run %s: none\n\n", col(C_BOLD), off(), run);
        dm_run_partition_list_free(&l);
        return 0;
    }
    printf("%sPARTITIONS%s of run %s (%s)\n", col(C_BOLD), off(), l.parts[0].run_id, l.run_type);
    printf("  %-14s  %-21s  %9s  %9s  %-9s  %3s  %6s  %4s  %8s  %s\n", "PARTITION", "PRICE ($)",
           "ESTIMATE", "RECORDS", "STATE", "ATT", "PAGES", "ERR", "UPDATED", "LAST ERROR");
    int64_t now = dm_now_ms();
    for (int i = 0; i < rows; i++) {
        const struct dm_run_partition *p = &l.parts[i];
        const char *c = p->status == DM_PARTITION_CANCELLED   ? C_DIM
                        : p->status == DM_PARTITION_FAILED    ? C_RED
                        : p->status == DM_PARTITION_COMPLETED ? C_GREEN
                                                              : C_YELLOW;
        char range[48], est[24], recs[24], age[24], lerr[48];
        snprintf(range, sizeof(range), "%" PRId64 "-%" PRId64, p->min_price, p->max_price);
        fmt_count(p->estimated_records, est, sizeof(est));
        fmt_count(p->records, recs, sizeof(recs));
        dm_duration_format(now - p->updated_at_ms, age, sizeof(age));
        one_line(p->last_error ? p->last_error : "", lerr, 40);
        printf("  %-14.14s  %-21.21s  %9s  %9s  %s%-9s%s  %3" PRId64 "  %6" PRId64 "  %s%4" PRId64
               "%s  %8s  %s\n",
               p->partition_id, range, est, recs, col(c), dm_partition_status_name(p->status),
               off(), p->attempts, p->pages, p->page_errors ? col(C_RED) : "", p->page_errors,
               off(), age, lerr);
    }
    printf("\n");
    dm_run_partition_list_free(&l);
    return rows;
}

static int print_queues(struct dm_app *app)
{
    struct dm_error err = {0};
    struct dm_queue *q = NULL;
    if (dm_app_queue_open(&app->cfg, app->db, &q, &err) != DM_OK) {
        printf("%sQUEUES%s unavailable: %s\n\n", col(C_BOLD), off(), err.message);
        return -1;
    }
    printf("%sQUEUES%s (%s backend)\n", col(C_BOLD), off(), dm_queue_backend_name(q));
    printf("  %-12s  %8s  %9s  %11s  %s\n", "QUEUE", "ACTIVE", "SCHEDULED", "DEAD-LETTER",
           "OLDEST");
    int rc = 0;
    for (int i = 0; i < DM_Q_COUNT; i++) {
        struct dm_queue_stats st = {0};
        const char *name = dm_queue_settings((enum dm_queue_name)i)->name;
        if (dm_queue_stats(q, (enum dm_queue_name)i, &st, &err) != DM_OK) {
            printf("  %-12s  %s%s%s\n", name, col(C_RED), err.message, off());
            rc = -1;
            continue;
        }
        char age[24] = "-";
        if (st.oldest_age_ms > 0)
            dm_duration_format(st.oldest_age_ms, age, sizeof(age));
        printf("  %-12s  %8" PRId64 "  %9" PRId64 "  %s%11" PRId64 "%s  %s\n", name, st.active,
               st.scheduled, st.dead_letter ? col(C_RED) : "", st.dead_letter, off(), age);
    }
    printf("\n");
    dm_queue_free(q);
    return rc;
}

/* The watermark of feed; named is false for the only feed (the seed's one header). */
static int print_watermark(struct dm_app *app, const char *feed, bool named)
{
    struct dm_error err = {0};
    struct dm_watermark_store *s = NULL;
    char of[64] = "";
    if (named)
        snprintf(of, sizeof(of), " of feed %s", feed);
    if (dm_app_feed_watermark_open(&app->cfg, feed, &s, &err) != DM_OK) {
        printf("%sWATERMARK%s%s unavailable: %s\n", col(C_BOLD), off(), of, err.message);
        return -1;
    }
    struct dm_watermark wm;
    memset(&wm, 0, sizeof(wm));
    enum dm_err e = dm_watermark_read(s, &wm, NULL, 0, &err);
    printf("%sWATERMARK%s%s (%s backend)\n", col(C_BOLD), off(), of, dm_watermark_backend_name(s));
    int rc = 0;
    if (e == DM_ERR_NOT_FOUND) {
        printf("  %snone yet%s: no run has completed (the next run is a full run)\n", col(C_YELLOW),
               off());
    } else if (e != DM_OK) {
        printf("  %sunreadable%s: %s (the scheduler will not start a run)\n", col(C_RED), off(),
               err.message);
        rc = -1;
    } else {
        char upd[DM_ISO_LEN], done[DM_ISO_LEN], age[24];
        dm_time_format(wm.last_updated_at_ms, upd);
        dm_time_format(wm.last_run_completed_at_ms, done);
        int64_t age_ms = dm_now_ms() - wm.last_updated_at_ms;
        dm_duration_format(age_ms, age, sizeof(age));
        bool old = age_ms > DM_CHECK_WATERMARK_AGE_MAX_MS;
        printf("  lastUpdatedAt       %s  (age %s%s%s%s)\n", upd, old ? col(C_RED) : col(C_GREEN),
               age, off(), old ? ", over the 48 h threshold" : "");
        printf("  lastRunId           %s\n", wm.last_run_id);
        printf("  lastRunCompletedAt  %s\n", done);
    }
    dm_watermark_free(s);
    return rc;
}

/* One listing per stone (issue 18): listings, offers, and offers split off a grading clash. */
static int print_listings(struct dm_db *db)
{
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db,
                    "SELECT count(*) FILTER (WHERE chosen), count(*), "
                    "count(*) FILTER (WHERE clash_fields IS NOT NULL) "
                    "FROM diamonds WHERE status = 'active'",
                    0, NULL, &r, &err) != DM_OK) {
        fprintf(stderr, "status: listings: %s\n", err.message);
        return -1;
    }
    int64_t clashes = 0;
    if (dm_db_get_i64(r, 0, 2, &clashes) != DM_OK)
        clashes = 0;
    printf("%sLISTINGS%s %s from %s active offers; %s%s%s offers split off a grading clash\n\n",
           col(C_BOLD), off(), dm_db_get(r, 0, 0), dm_db_get(r, 0, 1),
           clashes > 0 ? col(C_YELLOW) : "", dm_db_get(r, 0, 2), clashes > 0 ? off() : "");
    PQclear(r);
    return 0;
}

int dm_cmd_status(int argc, char **argv)
{
    int runs = 5;
    const char *run = NULL, *feed = NULL;
    bool no_color = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (!strcmp(argv[i], "--no-color")) {
            no_color = true;
        } else if (!strcmp(argv[i], "--feed") && i + 1 < argc) {
            feed = argv[++i];
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            if (dm_parse_int(argv[++i], 1, 1000, &runs) != DM_OK) {
                fprintf(stderr, "status: --runs must be 1..1000\n");
                return DM_EXIT_CONFIG;
            }
        } else if (!strcmp(argv[i], "--run") && i + 1 < argc) {
            run = argv[++i];
            if (strlen(run) < 4 || strlen(run) >= DM_UUID_LEN ||
                strspn(run, "0123456789abcdef-") != strlen(run)) {
                fprintf(stderr, "status: --run takes a run id (or a prefix of 4+ hex digits)\n");
                return DM_EXIT_CONFIG;
            }
        } else {
            return dm_cmd_misuse(usage, "status: unknown argument '%s'", argv[i]);
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "status", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    dm_log_set_fd(2); /* stdout carries the tables */
    if (feed && dm_config_feed(&app.cfg, feed) == NULL) {
        fprintf(stderr, "status: --feed %s is not one of FEEDS (%s)\n", feed,
                app.cfg.feeds_text ? app.cfg.feeds_text : "");
        dm_app_free(&app);
        return DM_EXIT_CONFIG;
    }
    const char *nc = getenv("NO_COLOR");
    g_color = !no_color && (nc == NULL || nc[0] == '\0') && isatty(STDOUT_FILENO);
    char latest[DM_UUID_LEN] = "";
    int failures = 0;
    if (print_runs(app.db, feed, app.cfg.n_feeds > 1, runs, latest, sizeof(latest)) < 0)
        failures++;
    if (run == NULL && latest[0])
        run = latest;
    if (run && print_partitions(app.db, run) < 0)
        failures++;
    if (print_listings(app.db) < 0)
        failures++;
    if (print_queues(&app) < 0)
        failures++;
    for (int i = 0; i < app.cfg.n_feeds; i++) {
        const char *id = app.cfg.feeds[i].id;
        if (feed && strcmp(feed, id) != 0)
            continue;
        if (i > 0 && !feed)
            printf("\n");
        if (print_watermark(&app, id, app.cfg.n_feeds > 1) < 0)
            failures++;
    }
    fflush(stdout);
    dm_app_free(&app);
    return failures ? DM_EXIT_FAIL : DM_EXIT_OK;
}
