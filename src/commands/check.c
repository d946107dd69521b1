/* check.c - `diamond check`: the seed's monitoring thresholds, non-zero exit on a breach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/commands.h"
#include "core/json.h"
#include "core/log.h"
#include "services/ops/check.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: diamond check [--no-alerts] [--json]\n\n"
            "Evaluates the seed's monitoring thresholds and prints each with its value:\n"
            "  Dead letter queue count  > 0       (all three queues)\n"
            "  Worker error rate        > 5%%      (failed page attempts, last 24 h)\n"
            "  Consolidator failures    > 1/day   (failed consolidation attempts, last 24 h)\n"
            "  API 5xx errors           > 1%%      (API responses, last 24 h)\n"
            "  Watermark age            > 48 h    (now - watermark lastUpdatedAt)\n"
            "Sends one alert per breached threshold (Resend when RESEND_API_KEY is set, else a\n"
            "log line). Exit status: 0 all OK, 1 a threshold breached or not measurable,\n"
            "2 bad configuration. The resident scheduler (diamond scheduler --cron) runs the\n"
            "same check hourly.\n"
            "With several feeds (FEEDS) the watermark age, worker error rate and consolidator\n"
            "failures are also shown per feed, one line each under the threshold's line; the\n"
            "worst feed decides the watermark and the error rate (the consolidator failures\n"
            "keep the total per day). --json gives them as \"feeds\".\n\n"
            "  --no-alerts   evaluate and print only\n"
            "  --json        print one JSON object (one line) instead of the table\n");
    dm_config_print_help(DM_SVC_CLI, out);
}

static int print_json(struct dm_app *app, bool send_alerts)
{
    struct dm_check_result res[DM_CHECK_COUNT];
    dm_check_evaluate(app, res);
    json_t *checks = json_array();
    int bad = 0;
    for (int i = 0; i < DM_CHECK_COUNT; i++) {
        if (res[i].state != DM_CHECK_OK)
            bad++;
        json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:s}", "name", res[i].name, "metric",
                              res[i].metric, "threshold", res[i].threshold, "state",
                              dm_check_state_name(res[i].state), "value", res[i].value, "detail",
                              res[i].value_text, "action", res[i].action);
        if (res[i].n_feeds > 0) {
            json_t *feeds = json_array();
            for (int k = 0; k < res[i].n_feeds; k++) {
                const struct dm_check_feed *f = &res[i].feeds[k];
                json_array_append_new(feeds, json_pack("{s:s, s:s, s:f, s:s}", "feed", f->feed,
                                                       "state", dm_check_state_name(f->state),
                                                       "value", f->value, "detail", f->value_text));
            }
            json_object_set_new(c, "feeds", feeds);
        }
        json_array_append_new(checks, c);
    }
    json_t *o = json_pack("{s:o, s:b}", "checks", checks, "ok", bad == 0);
    int rc = dm_check_notify(app, res, send_alerts) ? DM_EXIT_FAIL : DM_EXIT_OK;
    char *text = json_dumps(o, JSON_COMPACT); /* one line: also a valid log line */
    json_decref(o);
    if (text) {
        puts(text);
        free(text);
    }
    return rc;
}

static int print_table(struct dm_app *app, bool send_alerts)
{
    struct dm_check_result res[DM_CHECK_COUNT];
    dm_check_evaluate(app, res);
    printf("%-24s %-12s %-8s %s\n", "METRIC", "THRESHOLD", "STATUS", "VALUE");
    for (int i = 0; i < DM_CHECK_COUNT; i++) {
        printf("%-24s %-12s %-8s %s\n", res[i].metric, res[i].threshold,
               dm_check_state_name(res[i].state), res[i].value_text);
        /* Several feeds: each one's line under the threshold's (one feed: the seed's table). */
        for (int k = 0; res[i].n_feeds > 1 && k < res[i].n_feeds; k++)
            printf("  feed %-17s %-12s %-8s %s\n", res[i].feeds[k].feed, "",
                   dm_check_state_name(res[i].feeds[k].state), res[i].feeds[k].value_text);
    }
    int bad = dm_check_notify(app, res, send_alerts);
    printf("%d of %d thresholds OK%s\n", DM_CHECK_COUNT - bad, DM_CHECK_COUNT,
           (bad && send_alerts) ? "; alert sent for each other" : "");
    return bad ? DM_EXIT_FAIL : DM_EXIT_OK;
}

int dm_cmd_check(int argc, char **argv)
{
    bool alerts = true, json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (!strcmp(argv[i], "--no-alerts")) {
            alerts = false;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else {
            fprintf(stderr, "check: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return DM_EXIT_CONFIG;
        }
    }
    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "check", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    dm_log_set_fd(2); /* stdout carries the table; log lines go to stderr */
    rc = json ? print_json(&app, alerts) : print_table(&app, alerts);
    dm_app_free(&app);
    return rc;
}
