/*
 * test_api_azure.c - POST /api/v2/triggers/scheduler through the Azure Container Apps Job path
 * of the real `diamond api`, against a local double of the managed-identity endpoint and ARM
 * that records and checks every request: token request with X-IDENTITY-HEADER, GET of the job
 * with the bearer token, then POST .../start whose template keeps the job's existing
 * environment and merges RUN_TYPE. An ARM failure gives 503 with manual_command.
 * (issue 7: requirement 11, Azure path)
 */
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/db/db.h"
#include "adapters/http/client.h"
#include "adapters/http/server.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/timeutil.h"

#define MAXREC 16
struct rec {
    char method[8];
    char target[512];
    char identity[128];
    char auth[256];
    char *body;
};
static struct rec recs[MAXREC];
static int nrec;
static int fail_start;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static const char JOB[] =
    "{\"id\":\"/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/jobs/job-1\","
    "\"name\":\"job-1\",\"properties\":{\"template\":{\"containers\":[{\"name\":\"scheduler\","
    "\"image\":\"acr.example/diamond-scheduler:1\",\"env\":[{\"name\":\"DATABASE_URL\","
    "\"secretRef\":\"db-url\"},{\"name\":\"RUN_TYPE\",\"value\":\"incremental\"},{\"name\":"
    "\"LOG_LEVEL\",\"value\":\"info\"}],\"resources\":{\"cpu\":0.5,\"memory\":\"1Gi\"}}]}}}";

static void double_handler(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    if (nrec < MAXREC) {
        struct rec *r = &recs[nrec++];
        snprintf(r->method, sizeof(r->method), "%s", req->method);
        snprintf(r->target, sizeof(r->target), "%s", req->target);
        const char *h = dm_http_req_header(req, "X-IDENTITY-HEADER");
        snprintf(r->identity, sizeof(r->identity), "%s", h ? h : "");
        h = dm_http_req_header(req, "Authorization");
        snprintf(r->auth, sizeof(r->auth), "%s", h ? h : "");
        r->body = dm_xstrdup(req->body);
    }
    int fail = fail_start;
    pthread_mutex_unlock(&mu);
    if (!strncmp(req->path, "/msi/token", 10)) {
        const char *res = dm_http_req_arg(req, "resource");
        const char *id = dm_http_req_header(req, "X-IDENTITY-HEADER");
        if (!res || strcmp(res, "https://management.azure.com/") || !id ||
            strcmp(id, "identity-secret")) {
            dm_http_resp_error(resp, 400, "BAD", "bad token request");
            return;
        }
        dm_http_resp_json(
            resp, 200, json_pack("{s:s,s:s}", "access_token", "tok-123", "token_type", "Bearer"));
        return;
    }
    const char *auth = dm_http_req_header(req, "Authorization");
    if (!auth || strcmp(auth, "Bearer tok-123")) {
        dm_http_resp_error(resp, 401, "AUTH", "missing bearer token");
        return;
    }
    const char *base =
        "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/jobs/job-1";
    const char *ver = dm_http_req_arg(req, "api-version");
    if (!ver || strcmp(ver, "2023-05-01")) {
        dm_http_resp_error(resp, 400, "VERSION", "api-version");
        return;
    }
    if (!strcmp(req->method, "GET") && !strcmp(req->path, base)) {
        resp->status = 200;
        if (dm_buf_append_str(&resp->body, JOB) != DM_OK)
            resp->status = 500;
        return;
    }
    char start[256];
    snprintf(start, sizeof(start), "%s/start", base);
    if (!strcmp(req->method, "POST") && !strcmp(req->path, start)) {
        if (fail) {
            dm_http_resp_error(resp, 500, "InternalServerError", "boom");
            return;
        }
        dm_http_resp_json(resp, 202,
                          json_pack("{s:s,s:s}", "id", "exec-id", "name", "job-1-exec42"));
        return;
    }
    dm_http_resp_error(resp, 404, "NOT_FOUND", req->path);
}

static long http(const char *method, const char *url, const char *key, const char *body,
                 json_t **out)
{
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key ? key : "");
    const char *headers[] = {hdr, "Content-Type: application/json", NULL};
    struct dm_http_request rq = {.method = method,
                                 .url = url,
                                 .headers = headers,
                                 .body = body,
                                 .body_len = body ? strlen(body) : 0,
                                 .timeout_ms = 20000};
    struct dm_http_response rs;
    struct dm_error err = {0};
    long status = -1;
    if (dm_http_do(&rq, &rs, &err) == DM_OK) {
        status = rs.status;
        if (out)
            *out = dm_json_parse(rs.body.data ? rs.body.data : "", rs.body.len, 1 << 20, NULL);
    }
    dm_http_response_free(&rs);
    return status;
}

static void test_azure_trigger(void **state)
{
    (void)state;
    dm_http_global_init();
    struct dm_http_server *dbl = NULL;
    struct dm_http_server_opts so = {.port = 0, .handler = double_handler};
    struct dm_error err = {0};
    assert_int_equal(dm_http_server_start(&so, &dbl, &err), DM_OK);
    int dport = dm_http_server_port(dbl);

    char *url = dm_test_new_db("api_azure");
    struct dm_db *db = NULL;
    assert_int_equal(dm_db_open(url, 2, &db, &err), DM_OK);
    const char *key = "dk_azure_test_key_0123456789";
    char hash[DM_SHA256_HEX_LEN];
    dm_sha256_hex(key, strlen(key), hash);
    const char *p[1] = {hash};
    assert_int_equal(dm_db_query(db,
                                 "INSERT INTO api_keys (key_hash, client_name, permissions) "
                                 "VALUES ($1, 'azure-test', '{admin}')",
                                 1, p, NULL, &err),
                     DM_OK);

    char e_mgmt[128], e_id[128];
    snprintf(e_mgmt, sizeof(e_mgmt), "AZURE_MANAGEMENT_ENDPOINT=http://127.0.0.1:%d", dport);
    snprintf(e_id, sizeof(e_id), "IDENTITY_ENDPOINT=http://127.0.0.1:%d/msi/token", dport);
    const char *extra[] = {e_mgmt,
                           e_id,
                           "IDENTITY_HEADER=identity-secret",
                           "AZURE_SUBSCRIPTION_ID=sub-1",
                           "AZURE_RESOURCE_GROUP=rg-1",
                           "AZURE_SCHEDULER_JOB_NAME=job-1",
                           "HMAC_SECRETS={}",
                           "LOG_LEVEL=warn",
                           NULL};
    const char *drop[] = {"AZURE_", "IDENTITY_", NULL};
    char base[64];
    pid_t pid = dm_test_start_api(url, drop, extra, base, sizeof(base));

    char u[256];
    snprintf(u, sizeof(u), "%s/api/v2/triggers/scheduler", base);
    json_t *res = NULL;
    assert_int_equal(http("POST", u, key, "{\"run_type\":\"full\"}", &res), 202);
    json_t *data = json_object_get(res, "data");
    assert_string_equal(dm_json_str(data, "executor"), "azure");
    assert_string_equal(dm_json_str(data, "execution"), "job-1-exec42");
    json_decref(res);

    pthread_mutex_lock(&mu);
    assert_int_equal(nrec, 3);
    /* 1: managed identity token */
    assert_string_equal(recs[0].method, "GET");
    assert_non_null(strstr(recs[0].target, "/msi/token?"));
    assert_non_null(strstr(recs[0].target, "api-version=2019-08-01"));
    assert_string_equal(recs[0].identity, "identity-secret");
    /* 2: GET the job with the token */
    assert_string_equal(recs[1].method, "GET");
    assert_string_equal(recs[1].auth, "Bearer tok-123");
    /* 3: POST start with the merged template */
    assert_string_equal(recs[2].method, "POST");
    assert_string_equal(recs[2].target, "/subscriptions/sub-1/resourceGroups/rg-1/providers/"
                                        "Microsoft.App/jobs/job-1/start?api-version=2023-05-01");
    assert_string_equal(recs[2].auth, "Bearer tok-123");
    json_t *tmpl = dm_json_parse(recs[2].body, strlen(recs[2].body), 1 << 20, NULL);
    assert_non_null(tmpl);
    json_t *c0 = json_array_get(json_object_get(tmpl, "containers"), 0);
    assert_string_equal(dm_json_str(c0, "image"), "acr.example/diamond-scheduler:1");
    assert_string_equal(dm_json_str(c0, "name"), "scheduler");
    json_t *env = json_object_get(c0, "env");
    int run_types = 0;
    char request_env[64] = "";
    bool db_ref = false, log_level = false;
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *name = dm_json_str(v, "name");
        if (!strcmp(name, "RUN_TYPE")) {
            run_types++;
            assert_string_equal(dm_json_str(v, "value"), "full");
        }
        if (!strcmp(name, "SCHEDULER_REQUEST_ID"))
            snprintf(request_env, sizeof(request_env), "%s", dm_json_str(v, "value"));
        if (!strcmp(name, "DATABASE_URL"))
            db_ref = dm_json_str(v, "secretRef") && !strcmp(dm_json_str(v, "secretRef"), "db-url");
        if (!strcmp(name, "LOG_LEVEL"))
            log_level = true;
    }
    assert_int_equal(run_types, 1);
    assert_true(db_ref);
    assert_true(log_level);
    json_decref(tmpl);
    for (int j = 0; j < nrec; j++)
        free(recs[j].body);
    nrec = 0;
    fail_start = 1;
    pthread_mutex_unlock(&mu);

    /* The request row was recorded; a failing ARM start gives 503 with manual_command. */
    PGresult *r = dm_test_query(db, "UPDATE scheduler_requests SET status = 'done' "
                                    "RETURNING run_type, requested_by, id::text");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "full");
    /* The execution runs this request (its feed and run type), not the job's default. */
    assert_string_equal(request_env, PQgetvalue(r, 0, 2));
    PQclear(r);
    assert_int_equal(http("POST", u, key, "{\"run_type\":\"incremental\"}", &res), 503);
    assert_string_equal(dm_json_str(res, "manual_command"), "diamond scheduler --incremental");
    json_decref(res);
    pthread_mutex_lock(&mu);
    assert_int_equal(nrec, 3); /* token, GET, failed POST */
    for (int j = 0; j < nrec; j++)
        free(recs[j].body);
    nrec = 0;
    pthread_mutex_unlock(&mu);

    dm_test_stop(pid);
    dm_http_server_stop(dbl);
    dm_db_free(db);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_azure_trigger)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
