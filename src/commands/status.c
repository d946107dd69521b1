/*
 * status.c - `diamond status`: the pipeline at a glance in a terminal. Recent runs with their
 * derived status (domain/run_status.h), the partitions of the latest (or a chosen) run, queue and
 * dead-letter depths, and the watermark's age. Plain text tables; ANSI colours only when stdout
 * is a terminal (and NO_COLOR is unset and --no-color not given).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/queue/queue.h"
#include "adapters/watermark/watermark.h"
#include "commands/commands.h"
#include "core/duration.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "domain/run_status.h"
#include "services/ops/check.h"

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
    fprintf(out, "usage: diamond status [--runs N] [--run RUN_ID] [--no-color]\n\n"
                 "Prints the pipeline state: the latest N runs (default 5) with their derived\n"
                 "status, the partitions of the latest run (or RUN_ID), the queues' active,\n"
                 "scheduled and dead-lettered messages, and the watermark's age. Colours only\n"
                 "on a terminal (NO_COLOR or --no-color turns them off).\n");
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

static int64_t i64_at(const PGresult *r, int row, int c)
{
    int64_t v = 0;
    const char *s = dm_db_get(r, row, c);
    if (s == NULL || dm_parse_i64(s, INT64_MIN, INT64_MAX, &v) != DM_OK)
        return 0;
    return v;
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

#define MS(x) "COALESCE((extract(epoch FROM " x ") * 1000)::bigint, 0)"

/* Column numbers (print_runs reads them by position) in the comments. The statement is kept
 * out of clang-format, which otherwise splits its literals around MS(). */
/* clang-format off */
static const char *RUNS_SQL =
    "SELECT r.run_id, r.run_type, r.expected_workers, "                                 /* 0-2 */
    MS("r.started_at") ", " MS("max(p.updated_at)") ", "                                /* 3-4 */
    MS("r.consolidate_sent_at") ", " MS("r.consolidation_started_at") ", "              /* 5-6 */
    MS("r.consolidation_completed_at") ", " MS("r.consolidation_failed_at") ", "        /* 7-8 */
    MS("r.completed_at") ", " MS("r.cancelled_at") ", " MS("r.skipped_at") ", "         /* 9-11 */
    "count(p.partition_id), count(*) FILTER (WHERE p.completed), "                      /* 12-13 */
    "count(*) FILTER (WHERE p.failed OR p.cancelled), COALESCE(sum(p.records), 0), "    /* 14-15 */
    "r.estimated_records, COALESCE(r.last_error, ''), r.stats_processed, r.stats_new, " /* 16-19 */
    "r.stats_changed, r.stats_removed, r.stats_failed "                                 /* 20-22 */
    "FROM run_metadata r LEFT JOIN partition_progress p ON p.run_id = r.run_id "
    "GROUP BY r.run_id ORDER BY r.started_at DESC LIMIT $1::int";
/* clang-format on */

static int print_runs(struct dm_db *db, int n, char *latest, size_t latest_size)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", n);
    const char *params[] = {limit};
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db, RUNS_SQL, 1, params, &r, &err) != DM_OK) {
        fprintf(stderr, "status: runs: %s\n", err.message);
        return -1;
    }
    int rows = PQntuples(r);
    printf("%sRUNS%s (latest %d)\n", col(C_BOLD), off(), n);
    if (rows == 0) {
        printf(
            "  no runs yet (start one: diamond scheduler, or POST /api/v2/triggers/scheduler)\n\n");
        PQclear(r);
        return 0;
    }
    printf("  %-8s  %-11s  %-13s  %-20s  %9s  %5s  %5s  %11s  %s\n", "RUN", "TYPE", "STATUS",
           "STARTED (UTC)", "DURATION", "DONE", "FAIL", "RECORDS", "NOTE");
    int64_t now = dm_now_ms();
    for (int i = 0; i < rows; i++) {
        struct dm_run_facts f;
        memset(&f, 0, sizeof(f));
        f.expected_partitions = i64_at(r, i, 2);
        f.started_at_ms = i64_at(r, i, 3);
        f.last_progress_ms = i64_at(r, i, 4);
        f.consolidate_sent_at_ms = i64_at(r, i, 5);
        f.consolidation_started_at_ms = i64_at(r, i, 6);
        f.consolidation_completed_at_ms = i64_at(r, i, 7);
        f.consolidation_failed_at_ms = i64_at(r, i, 8);
        f.completed_at_ms = i64_at(r, i, 9);
        f.cancelled_at_ms = i64_at(r, i, 10);
        f.skipped_at_ms = i64_at(r, i, 11);
        f.partitions = i64_at(r, i, 12);
        f.completed = i64_at(r, i, 13);
        f.failed = i64_at(r, i, 14);
        enum dm_run_status st = dm_run_status_derive(&f, now);
        const char *run_id = dm_db_get(r, i, 0);
        if (i == 0 && latest)
            snprintf(latest, latest_size, "%s", run_id);
        char started[DM_ISO_LEN], dur[24], recs[32], note[96];
        dm_time_format(f.started_at_ms, started);
        started[16] = 'Z'; /* "YYYY-MM-DDTHH:MMZ" */
        started[17] = '\0';
        int64_t end = f.completed_at_ms   ? f.completed_at_ms
                      : f.cancelled_at_ms ? f.cancelled_at_ms
                      : f.skipped_at_ms   ? f.skipped_at_ms
                                          : now;
        dm_duration_format(end - f.started_at_ms, dur, sizeof(dur));
        fmt_count(i64_at(r, i, 15), recs, sizeof(recs));
        const char *last_error = dm_db_get(r, i, 17);
        if (st == DM_RUN_COMPLETED)
            snprintf(note, sizeof(note),
                     "+%" PRId64 " new, %" PRId64 " changed, %" PRId64 " removed, %" PRId64
                     " failed",
                     i64_at(r, i, 19), i64_at(r, i, 20), i64_at(r, i, 21), i64_at(r, i, 22));
        else if (last_error && last_error[0])
            one_line(last_error, note, 60);
        else
            snprintf(note, sizeof(note), "%" PRId64 " of %" PRId64 " partitions finished",
                     f.completed + f.failed, f.expected_partitions);
        printf("  %.8s  %-11s  %s%-13s%s  %-20s  %9s  %5" PRId64 "  %s%5" PRId64 "%s  %11s  %s\n",
               run_id, dm_db_get(r, i, 1), col(status_color(st)), dm_run_status_name(st), off(),
               started, dur, f.completed, f.failed ? col(C_RED) : "", f.failed, off(), recs, note);
    }
    printf("\n");
    PQclear(r);
    return rows;
}

static const char *PARTS_SQL =
    "SELECT r.run_id, r.run_type, p.partition_id, p.min_price, p.max_price, p.estimated_records, "
    "p.records, p.next_offset, p.completed, p.failed, p.cancelled, p.attempts, p.pages, "
    "p.page_errors, " MS(
        "p.updated_at") ", COALESCE(p.last_error, '') "
                        "FROM run_metadata r JOIN partition_progress p ON p.run_id = r.run_id "
                        "WHERE r.run_id::text LIKE $1 || '%' ORDER BY p.min_price, p.partition_id";

static int print_partitions(struct dm_db *db, const char *run)
{
    const char *params[] = {run};
    PGresult *r = NULL;
    struct dm_error err = {0};
    if (dm_db_query(db, PARTS_SQL, 1, params, &r, &err) != DM_OK) {
        fprintf(stderr, "status: partitions: %s\n", err.message);
        return -1;
    }
    int rows = PQntuples(r);
    if (rows == 0) {
        printf("%sPARTITIONS%s of run %s: none\n\n", col(C_BOLD), off(), run);
        PQclear(r);
        return 0;
    }
    printf("%sPARTITIONS%s of run %s (%s)\n", col(C_BOLD), off(), dm_db_get(r, 0, 0),
           dm_db_get(r, 0, 1));
    printf("  %-14s  %-21s  %9s  %9s  %-9s  %3s  %6s  %4s  %8s  %s\n", "PARTITION", "PRICE ($)",
           "ESTIMATE", "RECORDS", "STATE", "ATT", "PAGES", "ERR", "UPDATED", "LAST ERROR");
    int64_t now = dm_now_ms();
    for (int i = 0; i < rows; i++) {
        bool completed = !strcmp(dm_db_get(r, i, 8), "t");
        bool failed = !strcmp(dm_db_get(r, i, 9), "t");
        bool cancelled = !strcmp(dm_db_get(r, i, 10), "t");
        const char *state = cancelled   ? "cancelled"
                            : failed    ? "failed"
                            : completed ? "completed"
                                        : "running";
        const char *c = cancelled ? C_DIM : failed ? C_RED : completed ? C_GREEN : C_YELLOW;
        char range[48], est[24], recs[24], age[24], lerr[48];
        snprintf(range, sizeof(range), "%s-%s", dm_db_get(r, i, 3), dm_db_get(r, i, 4));
        fmt_count(i64_at(r, i, 5), est, sizeof(est));
        fmt_count(i64_at(r, i, 6), recs, sizeof(recs));
        dm_duration_format(now - i64_at(r, i, 14), age, sizeof(age));
        one_line(dm_db_get(r, i, 15), lerr, 40);
        int64_t errs = i64_at(r, i, 13);
        printf("  %-14.14s  %-21.21s  %9s  %9s  %s%-9s%s  %3s  %6" PRId64 "  %s%4" PRId64
               "%s  %8s  %s\n",
               dm_db_get(r, i, 2), range, est, recs, col(c), state, off(), dm_db_get(r, i, 11),
               i64_at(r, i, 12), errs ? col(C_RED) : "", errs, off(), age, lerr);
    }
    printf("\n");
    PQclear(r);
    return rows;
}

static int print_queues(struct dm_app *app)
{
    struct dm_error err = {0};
    struct dm_queue *q = NULL;
    if (dm_queue_open(&app->cfg, app->db, &q, &err) != DM_OK) {
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

static int print_watermark(struct dm_app *app)
{
    struct dm_error err = {0};
    struct dm_watermark_store *s = NULL;
    if (dm_watermark_open(&app->cfg, &s, &err) != DM_OK) {
        printf("%sWATERMARK%s unavailable: %s\n", col(C_BOLD), off(), err.message);
        return -1;
    }
    struct dm_watermark wm;
    memset(&wm, 0, sizeof(wm));
    enum dm_err e = dm_watermark_read(s, &wm, NULL, 0, &err);
    printf("%sWATERMARK%s (%s backend)\n", col(C_BOLD), off(), dm_watermark_backend_name(s));
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

int dm_cmd_status(int argc, char **argv)
{
    int runs = 5;
    const char *run = NULL;
    bool no_color = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (!strcmp(argv[i], "--no-color")) {
            no_color = true;
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
            fprintf(stderr, "status: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "status", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    dm_log_set_fd(2); /* stdout carries the tables */
    const char *nc = getenv("NO_COLOR");
    g_color = !no_color && (nc == NULL || nc[0] == '\0') && isatty(STDOUT_FILENO);
    char latest[DM_UUID_LEN] = "";
    int failures = 0;
    if (print_runs(app.db, runs, latest, sizeof(latest)) < 0)
        failures++;
    if (run == NULL && latest[0])
        run = latest;
    if (run && print_partitions(app.db, run) < 0)
        failures++;
    if (print_queues(&app) < 0)
        failures++;
    if (print_watermark(&app) < 0)
        failures++;
    fflush(stdout);
    dm_app_free(&app);
    return failures ? DM_EXIT_FAIL : DM_EXIT_OK;
}
