/* requests.c - manual trigger requests (scheduler_requests rows written by the API) executed
 * by the resident scheduler or by `diamond scheduler --request ID`. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "services/scheduler/scheduler.h"

enum dm_err dm_scheduler_run_request(const struct dm_sched_env *env, const char *id, bool *found,
                                     struct dm_sched_result *planned, struct dm_error *err)
{
    *found = false;
    PGresult *r = NULL;
    enum dm_err e;
    if (id) {
        const char *p[1] = {id};
        e = dm_db_query(env->db,
                        "UPDATE scheduler_requests SET status = 'running', updated_at = now() "
                        "WHERE id = $1 AND status = 'pending' RETURNING id, run_type, feed",
                        1, p, &r, err);
    } else {
        e = dm_db_query(env->db,
                        "UPDATE scheduler_requests SET status = 'running', updated_at = now() "
                        "WHERE id = (SELECT id FROM scheduler_requests WHERE status = 'pending' "
                        "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
                        "RETURNING id, run_type, feed",
                        0, NULL, &r, err);
    }
    if (e != DM_OK)
        return e;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DM_OK;
    }
    *found = true;
    char req_id[DM_UUID_LEN], type[16], feed[DM_FEED_ID_LEN + 1];
    snprintf(req_id, sizeof(req_id), "%s", PQgetvalue(r, 0, 0));
    snprintf(type, sizeof(type), "%s", PQgetvalue(r, 0, 1));
    snprintf(feed, sizeof(feed), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    dm_info(NULL, "executing scheduler request %s (%s run of feed %s)", req_id, type, feed);
    struct dm_sched_opts o = {
        .feed = feed,
        .kind = !strcmp(type, "full") ? DM_RUN_KIND_FULL : DM_RUN_KIND_INCREMENTAL,
    };
    struct dm_sched_result res;
    struct dm_error perr = {0};
    enum dm_err pe = dm_scheduler_plan(env, &o, &res, &perr);
    const char *status = "done";
    const char *message = res.message;
    if (pe != DM_OK) {
        status = "failed";
        message = perr.message;
    } else if (res.outcome == DM_SCHED_BUSY) {
        status = "failed";
    }
    const char *p[4] = {req_id, status, res.run_id[0] ? res.run_id : NULL, message};
    e = dm_db_query(env->db,
                    "UPDATE scheduler_requests SET status = $2, run_id = $3, message = $4, "
                    "updated_at = now() WHERE id = $1",
                    4, p, NULL, err);
    if (planned)
        *planned = res;
    else
        dm_sched_result_free(&res);
    if (pe != DM_OK) {
        if (err)
            *err = perr;
        return pe;
    }
    return e;
}
