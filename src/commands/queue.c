/*
 * queue.c - `diamond queue stats|dlq|resubmit`: operator view of the three queues on
 * whichever backend is configured (depth, scheduled, dead-letter depth, oldest message age),
 * the dead-lettered messages of one queue, and moving them back for another attempt.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/queue/queue.h"
#include "app/adapter_opts.h"
#include "commands/commands.h"
#include "core/duration.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/num.h"

#define EXCERPT 60

static void help(FILE *out)
{
    fprintf(out,
            "usage: diamond queue stats [--json]\n"
            "       diamond queue dlq QUEUE [--limit N] [--json]\n"
            "       diamond queue resubmit QUEUE (ID | --all)\n\n"
            "Queues: work-items, work-done, consolidate. The backend is Azure Service Bus when\n"
            "AZURE_SERVICE_BUS_CONNECTION_STRING is set (or QUEUE_BACKEND=servicebus), else the\n"
            "PostgreSQL tables of DATABASE_URL.\n\n"
            "stats     per queue: active (visible or locked), scheduled (not yet due),\n"
            "          dead-letter depth and the age of the oldest active message\n"
            "dlq       dead-lettered messages, oldest first: id, reason, delivery count and the\n"
            "          start of the body (default limit 100)\n"
            "resubmit  move the dead-lettered message(s) with message id ID (or all of them)\n"
            "          back to the queue with a fresh delivery count\n\n");
    dm_config_print_help(DM_SVC_CLI, out);
}

/* Printable excerpt of any bytes: non-printable bytes become '.', cut at EXCERPT. */
static void excerpt(const char *body, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(body ? body : ""); *p && n + 4 < size;
         p++) {
        if (n >= EXCERPT) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '.';
    }
    out[n] = '\0';
}

static int open_queue(struct dm_app *app, struct dm_queue **q)
{
    struct dm_error err = {0};
    if (dm_app_queue_open(&app->cfg, app->db, q, &err) != DM_OK) {
        fprintf(stderr, "queue: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    return DM_EXIT_OK;
}

/* Print j (stolen) on one line, compact. */
static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

static int cmd_stats(struct dm_queue *q, bool json)
{
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-12s %10s %10s %12s %12s\n", "QUEUE", "ACTIVE", "SCHEDULED", "DEAD-LETTER",
               "OLDEST AGE");
    int rc = DM_EXIT_OK;
    for (int i = 0; i < DM_Q_COUNT; i++) {
        const char *name = dm_queue_settings((enum dm_queue_name)i)->name;
        struct dm_queue_stats st;
        struct dm_error err = {0};
        if (dm_queue_stats(q, (enum dm_queue_name)i, &st, &err) != DM_OK) {
            fprintf(stderr, "queue stats %s: %s\n", name, err.message);
            rc = DM_EXIT_FAIL;
            continue;
        }
        if (json) {
            json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "queue", name,
                                                 "active", (json_int_t)st.active, "scheduled",
                                                 (json_int_t)st.scheduled, "deadLetter",
                                                 (json_int_t)st.dead_letter, "oldestAgeMs",
                                                 (json_int_t)st.oldest_age_ms));
        } else {
            char age[32] = "-";
            if (st.oldest_age_ms > 0)
                dm_duration_format(st.oldest_age_ms, age, sizeof(age));
            printf("%-12s %10" PRId64 " %10" PRId64 " %12" PRId64 " %12s\n", name, st.active,
                   st.scheduled, st.dead_letter, age);
        }
    }
    if (json)
        print_json(arr);
    return rc;
}

static int cmd_dlq(struct dm_queue *q, enum dm_queue_name name, int limit, bool json)
{
    struct dm_queue_msg **ms = NULL;
    int n = 0;
    struct dm_error err = {0};
    if (dm_queue_dlq_list(q, name, limit, &ms, &n, &err) != DM_OK) {
        fprintf(stderr, "queue dlq: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    if (json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            char ex[EXCERPT + 8];
            excerpt(ms[i]->body, ex, sizeof(ex));
            json_array_append_new(arr,
                                  json_pack("{s:s?, s:s?, s:i, s:s}", "id", ms[i]->id, "reason",
                                            ms[i]->dead_letter_reason, "deliveryCount",
                                            ms[i]->delivery_count, "bodyExcerpt", ex));
        }
        print_json(arr);
    } else {
        printf("%-40s %-36s %9s  %s\n", "ID", "REASON", "DELIVERED", "BODY");
        for (int i = 0; i < n; i++) {
            char ex[EXCERPT + 8], id[EXCERPT + 8], reason[EXCERPT + 8];
            excerpt(ms[i]->body, ex, sizeof(ex));
            excerpt(ms[i]->id, id, sizeof(id));
            excerpt(ms[i]->dead_letter_reason, reason, sizeof(reason));
            printf("%-40s %-36s %9d  %s\n", id, reason, ms[i]->delivery_count, ex);
        }
        printf("%d dead-lettered message%s in %s\n", n, n == 1 ? "" : "s",
               dm_queue_settings(name)->name);
    }
    dm_queue_msgs_free(ms, n);
    return DM_EXIT_OK;
}

static int cmd_resubmit(struct dm_queue *q, enum dm_queue_name name, const char *id)
{
    int count = 0;
    struct dm_error err = {0};
    if (dm_queue_dlq_resubmit(q, name, id, &count, &err) != DM_OK) {
        fprintf(stderr, "queue resubmit: %s\n", err.message);
        return DM_EXIT_FAIL;
    }
    printf("resubmitted %d message%s to %s\n", count, count == 1 ? "" : "s",
           dm_queue_settings(name)->name);
    return DM_EXIT_OK;
}

int dm_cmd_queue(int argc, char **argv)
{
    if (dm_cmd_help(argc, argv, help))
        return DM_EXIT_OK;
    if (argc < 2) {
        help(stderr);
        return DM_EXIT_CONFIG;
    }
    const char *sub = argv[1];
    const char *qname = NULL, *id = NULL;
    bool json = false, all = false;
    int limit = 100;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--all")) {
            all = true;
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            if (dm_parse_int(argv[++i], 1, 100000, &limit) != DM_OK) {
                fprintf(stderr, "queue: --limit must be 1..100000\n");
                return DM_EXIT_CONFIG;
            }
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "queue: unknown option '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        } else if (qname == NULL) {
            qname = argv[i];
        } else if (id == NULL) {
            id = argv[i];
        } else {
            fprintf(stderr, "queue: unexpected argument '%s'\n", argv[i]);
            return DM_EXIT_CONFIG;
        }
    }
    enum dm_queue_name name = DM_Q_WORK_ITEMS;
    if (!strcmp(sub, "stats")) {
        if (qname != NULL || all) {
            fprintf(stderr, "queue stats takes no arguments\n");
            return DM_EXIT_CONFIG;
        }
    } else if (!strcmp(sub, "dlq") || !strcmp(sub, "resubmit")) {
        if (qname == NULL || dm_queue_parse_name(qname, &name) != DM_OK) {
            fprintf(stderr, "queue %s: QUEUE must be work-items, work-done or consolidate\n", sub);
            return DM_EXIT_CONFIG;
        }
        if (!strcmp(sub, "dlq") && (id != NULL || all)) {
            fprintf(stderr, "queue dlq: unexpected argument\n");
            return DM_EXIT_CONFIG;
        }
        if (!strcmp(sub, "resubmit") && (id == NULL) == !all) {
            fprintf(stderr, "queue resubmit: give one message ID or --all\n");
            return DM_EXIT_CONFIG;
        }
    } else {
        return dm_cmd_misuse(help, "queue: unknown subcommand '%s'", sub);
    }

    struct dm_app app;
    int rc = dm_app_init(&app, DM_SVC_CLI, "queue", DM_APP_DB | DM_APP_SCHEMA);
    if (rc != 0)
        return rc;
    struct dm_queue *q = NULL;
    if ((rc = open_queue(&app, &q)) == DM_EXIT_OK) {
        if (!strcmp(sub, "stats"))
            rc = cmd_stats(q, json);
        else if (!strcmp(sub, "dlq"))
            rc = cmd_dlq(q, name, limit, json);
        else
            rc = cmd_resubmit(q, name, all ? NULL : id);
    }
    dm_queue_free(q);
    dm_app_free(&app);
    return rc;
}
