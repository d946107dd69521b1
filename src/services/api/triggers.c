/*
 * triggers.c - operator actions (admin): start a scheduler run (local child or Azure Container
 * Apps Job, 409 while a run is in progress, 503 with manual_command when neither can run),
 * request consolidation (CONSOLIDATE via the queue), retry failed partitions from next_offset
 * (":r{n}" message ids; services/ops/retry.h, shared with `diamond retry`), cancel a run
 * (store/runs.h, shared with `diamond run cancel`), list a run's failed workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/jobtrigger/jobtrigger.h"
#include "adapters/queue/queue.h"
#include "core/crypto.h"
#include "core/json.h"
#include "domain/messages.h"
#include "services/api/runs.h"
#include "services/dispatch/dispatch.h"
#include "services/ops/retry.h"
#include "store/runs.h"

/* Required run_id (UUID string) from a JSON body. */
static bool body_run_id(struct api_call *c, json_t *body, const char **id)
{
    json_t *v = json_object_get(body, "run_id");
    if (v == NULL)
        v = json_object_get(body, "runId");
    if (!json_is_string(v) || !dm_uuid_valid(json_string_value(v))) {
        api_validation(c, "run_id", "is required and must be a UUID");
        return false;
    }
    *id = json_string_value(v);
    return true;
}

/* The feed a trigger runs when the body names none: the first of FEEDS (nivoda by default). */
static const char *default_feed(const struct api_call *c)
{
    const struct dm_config *cfg = c->api->cfg;
    return cfg && cfg->n_feeds > 0 ? cfg->feeds[0].id : DM_FEED_DEFAULT;
}

/* Optional "feed" of a trigger body: one of FEEDS (400 otherwise); *feed points into the
 * configuration (absent or null: the default feed). */
static bool body_feed(struct api_call *c, json_t *body, const char **feed)
{
    json_t *v = json_object_get(body, "feed");
    *feed = default_feed(c);
    if (v == NULL || json_is_null(v))
        return true;
    const struct dm_feed_conf *fc =
        json_is_string(v) ? dm_config_feed(c->api->cfg, json_string_value(v)) : NULL;
    if (fc == NULL) {
        char why[300];
        snprintf(why, sizeof(why), "must be one of the configured feeds (%.250s)",
                 c->api->cfg && c->api->cfg->feeds_text ? c->api->cfg->feeds_text : "");
        api_validation(c, "feed", why);
        return false;
    }
    *feed = fc->id;
    return true;
}

/* 503 with the command that does the same by hand (top level, as the reference's). */
static void unavailable(struct api_call *c, const char *manual)
{
    json_t *body =
        json_pack("{s:{s:s,s:s,s:s},s:s}", "error", "code", "SERVICE_UNAVAILABLE", "message",
                  "Queue backend unavailable", "manual_command", manual, "manual_command", manual);
    api_json(c->resp, 503, body);
}

void api_trigger_scheduler(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_db_conn *conn = NULL;
    PGresult *r = NULL;
    struct dm_error err = {0};
    json_t *rt = json_object_get(body, "run_type");
    if (rt == NULL)
        rt = json_object_get(body, "runType");
    const char *run_type = json_is_string(rt) ? json_string_value(rt) : NULL;
    if (rt == NULL || json_is_null(rt))
        run_type = "incremental";
    if (run_type == NULL || (strcmp(run_type, "full") && strcmp(run_type, "incremental"))) {
        api_validation(c, "run_type", "must be full or incremental");
        goto out;
    }
    const char *feed = NULL;
    if (!body_feed(c, body, &feed))
        goto out;
    char manual[128];
    if (strcmp(feed, default_feed(c)) == 0)
        snprintf(manual, sizeof(manual), "diamond scheduler --%s", run_type);
    else
        snprintf(manual, sizeof(manual), "diamond scheduler --feed %s --%s", feed, run_type);
    conn = api_conn(c);
    if (conn == NULL)
        goto out;
    /* A run in progress, or a request pending, blocks this feed only. */
    int running = 0;
    char run_id[DM_UUID_LEN] = "";
    enum dm_err e = api_runs_in_progress(c, conn, feed, &running, run_id, sizeof(run_id), &err);
    const char *fp[1] = {feed};
    if (e == DM_OK)
        e = dm_db_exec(conn,
                       "SELECT id::text FROM scheduler_requests WHERE status IN "
                       "('pending', 'running') AND created_at > now() - interval '30 minutes' "
                       "AND feed = $1 ORDER BY created_at DESC LIMIT 1",
                       1, fp, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        goto out;
    }
    if (running > 0 || PQntuples(r) > 0) {
        json_t *d = json_object();
        if (run_id[0])
            json_object_set_new(d, "runId", json_string(run_id));
        if (PQntuples(r) > 0)
            json_object_set_new(d, "requestId", json_string(PQgetvalue(r, 0, 0)));
        api_error(c, 409, "CONFLICT", "A run is already in progress", d);
        goto out;
    }
    PQclear(r);
    r = NULL;
    const char *p[3] = {run_type, c->client, feed};
    e = dm_db_exec(conn,
                   "INSERT INTO scheduler_requests (run_type, requested_by, feed) "
                   "VALUES ($1, $2, $3) RETURNING id::text",
                   3, p, &r, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
        goto out;
    }
    char req_id[DM_UUID_LEN];
    snprintf(req_id, sizeof(req_id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    char execution[256];
    struct dm_error terr = {0};
    e = dm_jobtrigger_start(c->api->trigger, run_type, req_id, execution, sizeof(execution), &terr);
    if (e != DM_OK) {
        const char *pf[2] = {req_id, terr.message};
        if (dm_db_exec(conn,
                       "UPDATE scheduler_requests SET status = 'failed', message = $2, "
                       "updated_at = now() WHERE id = $1",
                       2, pf, NULL, &err) != DM_OK)
            dm_warn(&c->log, "cannot mark request %s failed: %s", req_id, err.message);
        dm_warn(&c->log, "scheduler trigger (%s) failed: %s", dm_jobtrigger_name(c->api->trigger),
                terr.message);
        json_t *eb = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "code", "SERVICE_UNAVAILABLE",
                               "message", "The scheduler could not be started; run it manually",
                               "manual_command", manual, "reason", terr.message);
        json_object_set_new(eb, "manual_command", json_string(manual));
        api_json(c->resp, 503, eb);
        goto out;
    }
    dm_info(&c->log, "scheduler %s run of feed %s requested by %s (request %s, %s %s)", run_type,
            feed, c->client, req_id, dm_jobtrigger_name(c->api->trigger), execution);
    /* Ours beside the reference's SchedulerTriggered (snake_case). */
    const char *job = c->api->cfg && c->api->cfg->azure_scheduler_job_name &&
                              !strcmp(dm_jobtrigger_name(c->api->trigger), "azure")
                          ? c->api->cfg->azure_scheduler_job_name
                          : "diamond-scheduler";
    char message[96];
    snprintf(message, sizeof(message), "Scheduler job triggered successfully for %s run", run_type);
    api_data(c, 202,
             json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "requestId", req_id, "feed",
                       feed, "runType", run_type, "execution", execution, "executor",
                       dm_jobtrigger_name(c->api->trigger), "status", "started", "message", message,
                       "run_type", run_type, "execution_name", execution, "job_name", job));
out:
    PQclear(r);
    if (conn)
        dm_db_release(conn);
    json_decref(body);
}

void api_trigger_consolidate(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_run run = {0};
    struct dm_error err = {0};
    const char *run_id;
    if (!body_run_id(c, body, &run_id))
        goto out;
    json_t *fv = json_object_get(body, "force");
    if (fv != NULL && !json_is_null(fv) && !json_is_boolean(fv)) {
        api_validation(c, "force", "must be a boolean");
        goto out;
    }
    bool force = json_is_true(fv);
    if (!api_run_get(c, run_id, false, &run))
        goto out;
    const struct dm_run_facts f = run.facts;
    if (f.cancelled_at_ms > 0) {
        api_error(c, 409, "CONFLICT", "Run was cancelled", NULL);
        goto out;
    }
    if (f.failed > 0 && !force) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Run has %lld failed worker(s). Use force=true to consolidate anyway or retry "
                 "the failed workers first.",
                 (long long)f.failed);
        api_error(c, 400, "BAD_REQUEST", msg,
                  json_pack("{s:I,s:I,s:I}", "failedWorkers", (json_int_t)f.failed,
                            "completedWorkers", (json_int_t)f.completed, "expectedWorkers",
                            (json_int_t)f.expected_partitions));
        goto out;
    }
    if (c->api->queue == NULL) {
        char manual[128];
        snprintf(manual, sizeof(manual), "diamond consolidate %s%s", run_id,
                 force ? " --force" : "");
        unavailable(c, manual);
        goto out;
    }
    char id[256];
    enum dm_err e = dm_dispatch_consolidate(c->api->queue, run_id, run.trace_id, run.updated_to_ms,
                                            force, id, sizeof(id), &err);
    if (e != DM_OK) {
        api_fail(c, e == DM_ERR_DB ? DM_ERR_UNAVAILABLE : e, &err);
        goto out;
    }
    struct dm_runs_consolidate_ref ref;
    if (dm_runs_note_consolidate_sent(c->api->db, run_id, &ref, &err) != DM_OK)
        dm_warn(&c->log, "consolidate_sent_at not recorded: %s", err.message);
    /* Ours beside the reference's ConsolidateTriggered (snake_case). */
    api_data(c, 202,
             json_pack("{s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s,s:I,s:I,s:I}}", "runId", run_id,
                       "force", force, "messageId", id, "status", "queued", "message",
                       "Consolidation triggered successfully", "run_id", run_id, "trace_id",
                       run.trace_id, "force", force, "run_metadata", "run_type", run.run_type,
                       "expected_workers", (json_int_t)f.expected_partitions, "completed_workers",
                       (json_int_t)f.completed, "failed_workers", (json_int_t)f.failed));
out:
    dm_run_clear(&run);
    json_decref(body);
}

/* Per-partition outcome of dm_retry_failed: the sent ones go into the response. */
struct retry_ctx {
    struct api_call *c;
    json_t *done;
    json_t *ids; /* partition ids sent (the reference's retried_partitions) */
    int failed;
};

static void retried(void *arg, const struct dm_retry_partition *p)
{
    struct retry_ctx *ctx = arg;
    if (p->err) {
        /* The flag is cleared: the sweeper re-sends from next_offset. */
        dm_warn(&ctx->c->log, "retry of partition %s not sent: %s", p->partition_id,
                p->err->message);
        ctx->failed++;
        return;
    }
    json_array_append_new(ctx->ids, json_string(p->partition_id));
    json_array_append_new(ctx->done, json_pack("{s:s,s:I,s:i,s:s}", "partitionId", p->partition_id,
                                               "offset", (json_int_t)p->wi->offset, "attempt",
                                               p->wi->attempt, "messageId", p->message_id));
}

void api_trigger_retry(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_error err = {0};
    const char *run_id;
    if (!body_run_id(c, body, &run_id))
        goto out;
    json_t *pv = json_object_get(body, "partition_id");
    if (pv == NULL)
        pv = json_object_get(body, "partitionId");
    const char *only = NULL;
    if (pv != NULL && !json_is_null(pv)) {
        if (!json_is_string(pv) || json_string_length(pv) == 0 ||
            json_string_length(pv) >= DM_PARTITION_ID_MAX) {
            api_validation(c, "partition_id", "must be a partition id string");
            goto out;
        }
        only = json_string_value(pv);
    }
    if (c->api->queue == NULL) {
        char manual[160];
        snprintf(manual, sizeof(manual), "diamond retry %s%s%s", run_id, only ? " " : "",
                 only ? only : "");
        unavailable(c, manual);
        goto out;
    }
    struct retry_ctx ctx = {.c = c, .done = json_array(), .ids = json_array()};
    struct dm_retry_request req = {
        .run_id = run_id, .partition_id = only, .by = c->client, .clear_skipped = true};
    enum dm_retry_state state;
    int n = 0;
    enum dm_err e =
        dm_retry_failed(c->api->db, c->api->queue, &req, retried, &ctx, &state, &n, &err);
    if (e != DM_OK)
        api_fail(c, e, &err);
    else if (state == DM_RETRY_NO_RUN)
        api_error(c, 404, "NOT_FOUND", "Run not found", NULL);
    else if (state == DM_RETRY_RUN_CANCELLED)
        api_error(c, 409, "CONFLICT", "Run was cancelled; start a new run instead", NULL);
    else if (n == 0 && only) {
        /* The reference's answers (400, not 404: the run exists). */
        char msg[DM_PARTITION_ID_MAX + 64];
        snprintf(msg, sizeof(msg), "No failed workers found with partition_id: %s", only);
        api_error(c, 400, "BAD_REQUEST", msg, NULL);
    } else if (n == 0)
        api_error(c, 400, "BAD_REQUEST", "No failed workers found for this run", NULL);
    else {
        /* Ours beside the reference's RetryResult. Every failed partition can be retried (from
         * next_offset), so nothing is skipped; one not sent is re-sent by the sweeper.
         * remaining_failed counts the run's partitions still failed (others than the one
         * asked for), as the reference's ignores the partition filter. */
        struct dm_run run;
        int64_t remaining = 0;
        if (dm_runs_get(c->api->db, run_id, false, &run, &err) == DM_OK)
            remaining = run.facts.failed;
        else
            dm_warn(&c->log, "remaining failed partitions not counted: %s", err.message);
        dm_run_clear(&run);
        char message[64];
        snprintf(message, sizeof(message), "Retried %zu worker(s)", json_array_size(ctx.done));
        api_data(c, 202,
                 json_pack("{s:s,s:I,s:i,s:O,s:s,s:s,s:O,s:I}", "runId", run_id, "retried",
                           (json_int_t)json_array_size(ctx.done), "notSent", ctx.failed,
                           "partitions", ctx.done, "message", message, "run_id", run_id,
                           "retried_partitions", ctx.ids, "remaining_failed",
                           (json_int_t)remaining));
    }
    json_decref(ctx.done);
    json_decref(ctx.ids);
out:
    json_decref(body);
}

void api_trigger_cancel(struct api_call *c)
{
    json_t *body = api_body_object(c);
    if (body == NULL)
        return;
    struct dm_db_conn *conn = NULL;
    struct dm_error err = {0};
    const char *run_id;
    if (!body_run_id(c, body, &run_id))
        goto out;
    conn = api_conn(c);
    if (conn == NULL)
        goto out;
    enum dm_runs_cancel_state state;
    int64_t n = 0;
    enum dm_err e = dm_runs_cancel(conn, run_id, &state, &n, &err);
    if (e != DM_OK) {
        api_fail(c, e, &err);
    } else if (state == DM_RUNS_CANCEL_NO_RUN) {
        api_error(c, 404, "NOT_FOUND", "Run not found", NULL);
    } else if (state == DM_RUNS_CANCEL_ALREADY_CANCELLED) {
        api_error(c, 409, "CONFLICT", "Run is already cancelled", NULL);
    } else if (state == DM_RUNS_CANCEL_ALREADY_COMPLETED) {
        api_error(c, 409, "CONFLICT", "Run already completed", NULL);
    } else {
        dm_info(&c->log, "run %s cancelled by %s", run_id, c->client);
        api_data(c, 200,
                 json_pack("{s:s,s:s,s:I}", "runId", run_id, "status", "cancelled",
                           "partitionsCancelled", (json_int_t)n));
    }
out:
    if (conn)
        dm_db_release(conn);
    json_decref(body);
}

/* A row object with its camelCase keys in snake_case (trigger bodies are snake_case). */
static json_t *snake_keys(json_t *o)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        char key[128];
        size_t n = 0;
        for (const char *p = k; *p && n + 2 < sizeof(key); p++) {
            if (*p >= 'A' && *p <= 'Z') {
                key[n++] = '_';
                key[n++] = (char)(*p + 32);
            } else {
                key[n++] = *p;
            }
        }
        key[n] = '\0';
        json_object_set(out, key, v);
    }
    return out;
}

void api_trigger_failed_workers(struct api_call *c)
{
    const char *id;
    if (!api_uuid_param(c, "runId", &id))
        return;
    struct dm_run run;
    if (!api_run_get(c, id, false, &run))
        return;
    dm_run_clear(&run);
    /* The reference's FailedWorkersList {run_id, total_failed, workers}; each worker has its
     * FailedWorkerItem keys and ours (price band, next offset, attempts). Every failed
     * partition can be retried from next_offset (has_payload) unless it was cancelled. */
    bool ok;
    PGresult *r = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_runs_report_failed_partitions(c->api->db, id, &r, &err);
    json_t *rows = api_result_rows(c, e, &err, r, &ok);
    if (!ok)
        return;
    json_t *workers = json_array();
    size_t i;
    json_t *w;
    json_array_foreach(rows, i, w) json_array_append_new(workers, snake_keys(w));
    json_decref(rows);
    api_data(c, 200,
             json_pack("{s:s,s:I,s:o}", "run_id", id, "total_failed",
                       (json_int_t)json_array_size(workers), "workers", workers));
}
