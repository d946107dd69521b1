/*
 * router.c - the request pipeline of `diamond api`: request id, CORS and preflight, route
 * matching (JSON 404/405 for the rest), authentication (failed attempts limited per IP),
 * rate limiting per verified client (per IP for routes without authentication), permissions,
 * the handler, then accounting and one JSON log line per request. Routes that call the
 * supplier run on the HTTP server's deferral pool, capped per client, so a slow supplier never
 * holds an HTTP thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "services/api/api.h"

#define R API_PERM_READ
#define T API_PERM_TRADE
#define A API_PERM_ADMIN

const struct api_route api_routes[] = {
    {"GET", "/health", 0, api_health, "system", "Liveness and dependency status"},
    {"GET", "/metrics", 0, api_metrics, "system", "Prometheus metrics"},
    {"GET", "/openapi.json", 0, api_openapi, "system", "This OpenAPI document"},
    {"GET", "/api-docs", 0, api_docs, "system", "API documentation page"},
    {"GET", "/api/v2/diamonds", R, api_diamonds_search, "diamonds",
     "Search active diamonds (offset or keyset paging)"},
    {"GET", "/api/v2/diamonds/facets", R, api_diamonds_facets, "diamonds",
     "Counts per value of each filter dimension and price/carat histograms for a search"},
    {"GET", "/api/v2/diamonds/{id}", R, api_diamond_get, "diamonds",
     "One listing (by listing id, or an offer id) with its offers"},
    {"POST", "/api/v2/diamonds/{id}/availability", R, api_diamond_availability, "diamonds",
     "Current availability and hold id"},
    {"POST", "/api/v2/diamonds/{id}/hold", T, api_diamond_hold, "trading",
     "Place a supplier hold on an available diamond"},
    {"POST", "/api/v2/diamonds/{id}/purchase", T, api_diamond_purchase, "trading",
     "Order a diamond from the supplier (idempotent)"},
    {"GET", "/api/v2/analytics/summary", R, api_analytics_summary, "analytics",
     "Catalogue and pipeline summary"},
    {"GET", "/api/v2/analytics/runs", R, api_analytics_runs, "analytics",
     "Runs with derived status (filters, paging)"},
    {"GET", "/api/v2/analytics/runs/{runId}", R, api_analytics_run, "analytics",
     "One run with partitions, workers and events"},
    {"GET", "/api/v2/analytics/failed-workers", R, api_analytics_failed_workers, "analytics",
     "Failed workers of recent runs"},
    {"GET", "/api/v2/analytics/feeds", R, api_analytics_feeds, "analytics", "Per-feed statistics"},
    {"GET", "/api/v2/analytics/clashes", R, api_analytics_clashes, "analytics",
     "Identity clashes: offers of one certificate whose grading disagrees (limit, offset, feed)"},
    {"GET", "/api/v2/analytics/consolidation", R, api_analytics_consolidation, "analytics",
     "Consolidation progress of recent runs"},
    {"GET", "/api/v2/analytics/consolidation/{runId}", R, api_analytics_consolidation_run,
     "analytics", "Consolidation progress of one run"},
    {"POST", "/api/v2/analytics/query/{table}", R, api_analytics_query, "analytics",
     "Allowlisted query over diamonds, run_metadata or worker_runs"},
    {"POST", "/api/v2/triggers/scheduler", A, api_trigger_scheduler, "triggers",
     "Start a scheduler run (local or Azure Container Apps Job)"},
    {"POST", "/api/v2/triggers/consolidate", A, api_trigger_consolidate, "triggers",
     "Request consolidation of a run"},
    {"POST", "/api/v2/triggers/retry-workers", A, api_trigger_retry, "triggers",
     "Retry failed partitions from their next offset"},
    {"POST", "/api/v2/triggers/cancel-run", A, api_trigger_cancel, "triggers", "Cancel a run"},
    {"GET", "/api/v2/triggers/failed-workers/{runId}", A, api_trigger_failed_workers, "triggers",
     "Failed workers of a run"},
    {"GET", "/api/v2/pricing-rules", R, api_rules_list, "pricing", "List pricing rules"},
    {"POST", "/api/v2/pricing-rules", A, api_rules_create, "pricing", "Create a pricing rule"},
    {"POST", "/api/v2/pricing-rules/reprice", A, api_rules_reprice, "pricing",
     "Re-apply the rules to every active diamond"},
    {"PUT", "/api/v2/pricing-rules/{id}", A, api_rules_update, "pricing", "Update a pricing rule"},
    {"DELETE", "/api/v2/pricing-rules/{id}", A, api_rules_delete, "pricing",
     "Delete a pricing rule"},
};
const int api_nroutes = (int)(sizeof(api_routes) / sizeof(api_routes[0]));

/* ---- responses ---- */

void api_error(struct api_call *c, int status, const char *code, const char *message,
               json_t *details)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (details)
        json_object_set_new(e, "details", details);
    json_t *body = json_object();
    json_object_set_new(body, "error", e);
    api_json(c->resp, status, body);
}

void api_validation(struct api_call *c, const char *param, const char *message)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s %s", param, message);
    api_error(c, 400, "VALIDATION_ERROR", msg,
              json_pack("{s:s,s:s}", "param", param, "issue", message));
}

void api_fail(struct api_call *c, enum dm_err code, const struct dm_error *err)
{
    switch (code) {
    case DM_ERR_DB_RETRY:
    case DM_ERR_TIMEOUT:
    case DM_ERR_UNAVAILABLE:
    case DM_ERR_SHUTDOWN:
        dm_warn(&c->log, "dependency unavailable: %s", err ? err->message : dm_strerror(code));
        api_error(c, 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable", NULL);
        return;
    case DM_ERR_INVALID:
        api_error(c, 400, "BAD_REQUEST", "Invalid value in request", NULL);
        return;
    case DM_ERR_NOT_FOUND:
        api_error(c, 404, "NOT_FOUND", "Not found", NULL);
        return;
    case DM_ERR_CONFLICT:
        api_error(c, 409, "CONFLICT", "Conflicting state", NULL);
        return;
    default:
        dm_error(&c->log, "internal error: %s", err ? err->message : dm_strerror(code));
        api_error(c, 500, "INTERNAL_ERROR", "Internal server error", NULL);
    }
}

void api_json(struct dm_http_resp *resp, int status, json_t *body)
{
    /* 15 significant digits: numeric(12,2) prices print exactly (2131.53, not
     * 2131.5300000000002). */
    resp->status = status;
    resp->content_type = "application/json";
    dm_buf_reset(&resp->body);
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (s == NULL || dm_buf_append_str(&resp->body, s) != DM_OK) {
        dm_buf_reset(&resp->body);
        resp->status = 500;
        if (dm_buf_append_str(&resp->body, "{\"error\":{\"code\":\"INTERNAL_ERROR\","
                                           "\"message\":\"response too large\"}}") != DM_OK)
            resp->status = 500;
    }
    free(s);
}

void api_data(struct api_call *c, int status, json_t *data)
{
    json_t *body = json_object();
    json_object_set_new(body, "data", data ? data : json_null());
    api_json(c->resp, status, body);
}

json_t *api_body_object(struct api_call *c)
{
    if (c->req->body_len == 0) {
        api_error(c, 400, "BAD_REQUEST", "Request body must be a JSON object", NULL);
        return NULL;
    }
    struct dm_error err = {0};
    json_t *j = dm_json_parse(c->req->body, c->req->body_len, API_MAX_BODY, &err);
    if (j == NULL) {
        api_error(c, 400, "BAD_REQUEST", "Malformed JSON body", NULL);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        api_error(c, 400, "BAD_REQUEST", "Request body must be a JSON object", NULL);
        return NULL;
    }
    return j;
}

struct dm_db_conn *api_conn(struct api_call *c)
{
    struct dm_db_conn *conn = NULL;
    struct dm_error err = {0};
    enum dm_err e = dm_db_acquire(c->api->db, 5000, &conn, &err);
    if (e != DM_OK) {
        api_fail(c, e == DM_ERR_DB ? DM_ERR_DB_RETRY : e, &err);
        return NULL;
    }
    return conn;
}

/* ---- pipeline ---- */

static bool valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= 128 ||
            !(isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return false;
    }
    return n > 0;
}

/* The raw request target: printable ASCII, well-formed percent escapes, no encoded NUL. */
static bool valid_target(const char *t)
{
    size_t n = 0;
    for (const char *p = t; *p; p++, n++) {
        unsigned char ch = (unsigned char)*p;
        if (n > 8192 || ch <= 0x20 || ch >= 0x7f)
            return false;
        if (ch == '%') {
            if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
                return false;
            if (p[1] == '0' && p[2] == '0')
                return false;
        }
    }
    return n > 0 && t[0] == '/';
}

/* Match path against pattern; fills path parameters. */
static bool match(const char *pattern, const char *path, struct api_call *c)
{
    const char *p = pattern, *s = path;
    int np = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            size_t len = se ? (size_t)(se - s) : strlen(s);
            if (len == 0 || len >= sizeof(c->param_buf[0]) || np >= API_MAX_PATH_PARAMS)
                return false;
            memcpy(c->param_buf[np], s, len);
            c->param_buf[np][len] = '\0';
            c->params[np] = c->param_buf[np];
            np++;
            p = pe + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    /* Tolerate one trailing slash. */
    if (*p == '\0' && s[0] == '/' && s[1] == '\0')
        s++;
    if (*p || *s)
        return false;
    c->nparams = np;
    return true;
}

static void cors(struct api_call *c)
{
    const char *allowed = c->api->cors_origins;
    const char *origin = dm_http_req_header(c->req, "Origin");
    if (!strcmp(allowed, "*")) {
        dm_http_resp_header(c->resp, "Access-Control-Allow-Origin", "*");
    } else if (origin) {
        /* Comma-separated list: echo the origin when listed. */
        size_t ol = strlen(origin);
        const char *p = allowed;
        while (*p) {
            while (*p == ' ' || *p == ',')
                p++;
            const char *e = p;
            while (*e && *e != ',' && *e != ' ')
                e++;
            if ((size_t)(e - p) == ol && !strncmp(p, origin, ol)) {
                dm_http_resp_header(c->resp, "Access-Control-Allow-Origin", origin);
                break;
            }
            p = e;
        }
        dm_http_resp_header(c->resp, "Vary", "Origin");
    }
    dm_http_resp_header(c->resp, "Access-Control-Expose-Headers",
                        "X-Request-Id, ETag, Retry-After");
}

/* A random version-4 UUID for a request without an id of its own. Request ids only need to
 * be unique, not secret: a per-thread generator seeded once from the system CSPRNG avoids a
 * locked DRBG call and a 16-field snprintf on every request. */
static void request_uuid(char out[DM_UUID_LEN])
{
    static _Thread_local uint64_t state;
    static _Thread_local bool seeded;
    if (!seeded) {
        dm_random_bytes(&state, sizeof(state));
        seeded = true;
    }
    uint8_t b[16];
    for (int half = 0; half < 2; half++) {
        uint64_t z = dm_mix64(state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
        memcpy(b + (size_t)8 * half, &z, 8);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    dm_uuid_format(b, out);
}

static void log_request(struct api_call *c, int64_t dur_us)
{
    if (!dm_log_enabled(DM_LOG_INFO))
        return;
    json_t *f = json_object();
    json_object_set_new(f, "method", json_string(c->req->method));
    /* The path only: query strings can carry personal data and are long. */
    /* dm_log_str: a decoded path that is not UTF-8 is escaped, never dropped. */
    json_object_set_new(f, "path", dm_log_str(c->req->path));
    json_object_set_new(f, "status", json_integer(c->resp->status ? c->resp->status : 200));
    json_object_set_new(f, "durationMs", json_integer((dur_us + 500) / 1000));
    json_object_set_new(f, "durationUs", json_integer(dur_us));
    if (c->client[0])
        json_object_set_new(f, "client", dm_log_str(c->client));
    json_object_set_new(f, "ip", json_string(c->req->client_ip));
    dm_log_fields(DM_LOG_INFO, &c->log, "request", f);
    json_decref(f);
}

/* 429 RATE_LIMITED with Retry-After. */
static void too_many(struct api_call *c, int retry_s, const char *message)
{
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", retry_s < 1 ? 1 : retry_s);
    dm_http_resp_header(c->resp, "Retry-After", ra);
    api_error(c, 429, "RATE_LIMITED", message, NULL);
}

/* Credentials that are verified without a database lookup: a cached valid API key, or the
 * three HMAC headers (a bad signature fails on CPU alone). While an IP address is over its
 * failed-authentication limit only these go on, so clients sharing the address (behind one
 * proxy) keep working while guessed keys stop reaching the database. */
static bool cheap_credentials(const struct api_call *c)
{
    const char *key = dm_http_req_header(c->req, "X-API-Key");
    if (key != NULL)
        return api_auth_key_known(c->api, key);
    return dm_http_req_header(c->req, "X-Client-Id") && dm_http_req_header(c->req, "X-Timestamp") &&
           dm_http_req_header(c->req, "X-Signature");
}

/* The client address the per-IP limits use: the peer, or behind API_TRUSTED_PROXY_HOPS
 * trusted proxies the address the outermost of them appended to X-Forwarded-For (counted from
 * the right: entries further left were written by the client and prove nothing). The peer when
 * the header is missing, too short or the entry is not an IP address. */
static void limit_ip(const struct api_call *c, char *out, size_t size)
{
    snprintf(out, size, "%s", c->req->client_ip);
    int hops = c->api->cfg->api_trusted_proxy_hops;
    const char *xff = hops > 0 ? dm_http_req_header(c->req, "X-Forwarded-For") : NULL;
    if (xff == NULL)
        return;
    const char *end = xff + strlen(xff);
    for (int i = 1; end > xff; i++) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        if (i == hops) {
            while (start < end && *start == ' ')
                start++;
            while (end > start && end[-1] == ' ')
                end--;
            char ip[64];
            unsigned char bin[16];
            size_t n = (size_t)(end - start);
            if (n == 0 || n >= sizeof(ip))
                return;
            memcpy(ip, start, n);
            ip[n] = '\0';
            if (inet_pton(AF_INET, ip, bin) == 1 || inet_pton(AF_INET6, ip, bin) == 1)
                snprintf(out, size, "%s", ip);
            return;
        }
        end = start > xff ? start - 1 : xff;
    }
}

/* Accounting and the request's log line. */
static void finish(struct api_call *c)
{
    int64_t dur_us = dm_mono_us() - c->started_us;
    if (c->resp->status == 0)
        c->resp->status = 200;
    api_stats_record(c->api, c->resp->status, dur_us);
    log_request(c, dur_us);
}

/* A supplier route's call, carried to a deferral-pool thread. */
struct deferred {
    struct api_call call;
    void (*fn)(struct api_call *c);
};

static void run_deferred(void *arg, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    struct deferred *d = arg;
    struct api_call *c = &d->call;
    (void)req;
    (void)resp; /* the same as c->req and c->resp */
    d->fn(c);
    api_supplier_leave(c->api->supplier, c->caller);
    finish(c);
    free(d);
}

#define SUPPLIER_RETRY_S 5

/* Hand the rest of a supplier route to the deferral pool: true when it was (the pool answers),
 * false when this request was answered here (429 over the client's cap, 503 when the pool is
 * saturated). */
static bool defer_supplier_call(struct api_call *c, const struct api_route *route)
{
    if (!api_supplier_enter(c->api->supplier, c->caller)) {
        too_many(c, SUPPLIER_RETRY_S, "Too many supplier calls in flight for this client");
        return false;
    }
    struct deferred *d = dm_xcalloc(1, sizeof(*d));
    d->call = *c;
    d->fn = route->fn;
    /* The copy's pointers into itself. */
    for (int i = 0; i < d->call.nparams; i++)
        d->call.params[i] = d->call.param_buf[i];
    d->call.log.request_id = d->call.request_id;
    if (!dm_http_defer(c->req, run_deferred, d)) {
        api_supplier_leave(c->api->supplier, c->caller);
        free(d);
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", SUPPLIER_RETRY_S);
        dm_http_resp_header(c->resp, "Retry-After", ra);
        api_error(c, 503, "SERVICE_UNAVAILABLE", "Too many supplier calls in flight; retry later",
                  NULL);
        return false;
    }
    return true;
}

void api_handle(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp)
{
    struct dm_api *api = ctx;
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.started_us = dm_mono_us();
    c.api = api;
    c.req = req;
    c.resp = resp;
    const char *rid = dm_http_req_header(req, "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(c.request_id, sizeof(c.request_id), "%s", rid);
    else
        request_uuid(c.request_id);
    c.log.request_id = c.request_id;
    dm_http_resp_header(resp, "X-Request-Id", c.request_id);
    cors(&c);

    if (!strcmp(req->method, "OPTIONS")) {
        dm_http_resp_header(resp, "Access-Control-Allow-Methods",
                            "GET, POST, PUT, DELETE, OPTIONS");
        dm_http_resp_header(resp, "Access-Control-Allow-Headers",
                            "Content-Type, X-API-Key, X-Client-Id, X-Timestamp, X-Signature, "
                            "X-Idempotency-Key, X-Request-Id, If-None-Match");
        dm_http_resp_header(resp, "Access-Control-Max-Age", "600");
        resp->status = 204;
        resp->content_type = "text/plain";
        goto done;
    }

    if (!valid_target(req->target)) {
        api_error(&c, 400, "BAD_REQUEST", "Malformed request target", NULL);
        goto done;
    }
    for (const char *p = req->path; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            api_error(&c, 400, "BAD_REQUEST", "Malformed request path", NULL);
            goto done;
        }
    }

    const struct api_route *route = NULL;
    bool path_known = false;
    for (int i = 0; i < api_nroutes; i++) {
        if (match(api_routes[i].pattern, req->path, &c)) {
            path_known = true;
            if (!strcmp(api_routes[i].method, req->method) ||
                (!strcmp(req->method, "HEAD") && !strcmp(api_routes[i].method, "GET"))) {
                route = &api_routes[i];
                break;
            }
        }
    }
    if (route == NULL) {
        if (path_known)
            api_error(&c, 405, "METHOD_NOT_ALLOWED", "Method not allowed for this path", NULL);
        else
            api_error(&c, 404, "NOT_FOUND", "No such route", NULL);
        goto done;
    }

    unsigned need = route->perm;
    /* /metrics: the scraper's bearer token, else an API key or HMAC client that may read. */
    if (route->fn == api_metrics && api->cfg->metrics_require_auth)
        need = api_metrics_token_ok(&c) ? 0 : API_PERM_READ;
    char bucket[200], addr[64], ip[80];
    int retry = 1;
    limit_ip(&c, addr, sizeof(addr));
    snprintf(ip, sizeof(ip), "ip:%s", addr);
    if (need) {
        if (api_ratelimit_empty(api->rl_fail, ip, dm_mono_ms(), &retry) && !cheap_credentials(&c)) {
            too_many(&c, retry, "Too many failed authentication attempts");
            goto done;
        }
        if (!api_authenticate(&c)) {
            if (resp->status == 401)
                (void)api_ratelimit_take(api->rl_fail, ip, dm_mono_ms(), &retry);
            goto done;
        }
        /* Buckets are keyed on the verified identity, never on what a request claims. */
        snprintf(bucket, sizeof(bucket), "%s", c.caller);
    } else {
        snprintf(bucket, sizeof(bucket), "%s", ip);
    }
    /* Health checks are exempt. */
    if (route->fn != api_health && !api_ratelimit_take(api->rl, bucket, dm_mono_ms(), &retry)) {
        too_many(&c, retry, "Too many requests");
        goto done;
    }
    if (need && (c.perms & need) != need) {
        api_error(&c, 403, "FORBIDDEN", "Insufficient permissions for this operation", NULL);
        goto done;
    }
    if (route->fn == api_diamond_hold || route->fn == api_diamond_purchase) {
        if (defer_supplier_call(&c, route))
            return; /* the deferral pool answers and accounts */
        goto done;
    }
    route->fn(&c);

done:
    finish(&c);
}
