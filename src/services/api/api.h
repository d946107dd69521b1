/*
 * api.h - internals of `diamond api` (api.md): the service state shared by every request
 * thread, the per-request call context, and the handlers of each route group. The router
 * (router.c) does request ids, CORS, rate limiting, authentication, permissions, logging and
 * accounting; handlers only read the request and fill the response.
 *
 * Thread-safety: struct dm_api is shared by all libmicrohttpd worker threads; its mutable parts
 * (key cache, rate limiter, count cache, statistics) have their own locks or atomics. A struct
 * api_call belongs to one request on one thread.
 */
#ifndef DM_SERVICES_API_H
#define DM_SERVICES_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/db/db.h"
#include "adapters/http/server.h"
#include "core/config.h"
#include "core/log.h"
#include "domain/hmac_auth.h"
#include "services/api/search_cache.h"
#include "services/ops/trade.h"
#include "store/listings.h"

struct dm_queue;
struct dm_feed;
struct dm_watermark_store;
struct dm_jobtrigger;

/* Permissions (api_keys.permissions). */
enum api_perm { API_PERM_READ = 1, API_PERM_TRADE = 2, API_PERM_ADMIN = 4 };
#define API_PERM_ALL (API_PERM_READ | API_PERM_TRADE | API_PERM_ADMIN)

#define API_MAX_BODY ((size_t)100 * 1000)
#define API_TOTAL_EXACT_CAP 10000 /* totals above this are estimated */
#define API_LAT_BUCKETS 12

/* Request statistics for /metrics and api_request_stats. */
struct api_stats {
    atomic_llong by_class[6];                 /* index = status / 100 (1..5) */
    atomic_llong pending_class[6];            /* not yet flushed to api_request_stats */
    atomic_llong lat_bucket[API_LAT_BUCKETS]; /* cumulative counts filled at render time */
    atomic_llong lat_count;
    atomic_llong lat_sum_us;
};
extern const double api_lat_bounds[API_LAT_BUCKETS - 1]; /* seconds; last bucket is +Inf */

struct api_keycache;      /* auth.c */
struct api_ratelimit;     /* ratelimit.c */
struct api_supplier;      /* supplier.c */
struct api_metrics_cache; /* system.c */
struct dm_search_query;

struct dm_api {
    struct dm_config *cfg;
    struct dm_db *db;
    struct dm_queue *queue;              /* NULL when the queue backend is unavailable */
    struct dm_trade_suppliers suppliers; /* every feed holds and orders can go to (an offer
                                          * goes to its own feed's); empty when none is
                                          * configured */
    struct dm_watermark_store *wm;       /* NULL when unavailable */
    struct dm_jobtrigger *trigger;       /* local or Azure scheduler start */
    struct dm_hmac_secrets hmac;
    struct dm_listing_policy listing; /* OFFER_POLICY, feed priorities (store/listings.h) */
    struct api_keycache *keys;
    struct api_ratelimit *rl;        /* per verified client (API_RATE_LIMIT_RPS) */
    struct api_ratelimit *rl_fail;   /* failed authentications per IP (API_AUTH_FAILURES_PER_MIN) */
    struct api_supplier *supplier;   /* supplier calls in flight per client */
    struct api_ratelimit *rl_health; /* /health per IP (HEALTH_RATE_LIMIT_RPS) */
    struct api_metrics_cache *metrics_cache; /* /metrics shared figures (METRICS_CACHE_MS) */
    struct api_countcache *counts;
    struct api_respcache *responses; /* search micro-cache (API_CACHE_MS) */
    struct api_index *index;         /* search index and its follower; NULL when off */
    atomic_llong search_queries[2];  /* searches answered by the index (0) or SQL (1) */
    struct api_stats stats;
    char cors_origins[1024];
    int64_t started_ms;
};

#define API_MAX_PATH_PARAMS 4

/* One request being served. */
struct api_call {
    struct dm_api *api;
    const struct dm_http_req *req;
    struct dm_http_resp *resp;
    char request_id[130];
    char client[160]; /* "key:<client_name>", "hmac:<client id>" or "" (for logs) */
    char key_id[DM_UUID_LEN];
    /* The verified identity trading, idempotency and rate limits are bound to: "key:<api key
     * id>" or "hmac:<client id>" (client names are not unique); "" before authentication. */
    char caller[160];
    unsigned perms;
    const char *params[API_MAX_PATH_PARAMS]; /* path parameters in pattern order */
    char param_buf[API_MAX_PATH_PARAMS][256];
    int nparams;
    struct dm_log_ctx log;
    int64_t started_us; /* CLOCK_MONOTONIC, for the request's duration */
};

/* ---- responses (router.c) ---- */
/* {"error":{"code","message"[,"details"]}}; details (stolen, may be NULL). */
void api_error(struct api_call *c, int status, const char *code, const char *message,
               json_t *details);
/* 400 VALIDATION_ERROR naming the offending parameter. */
void api_validation(struct api_call *c, const char *param, const char *message);
/* Map a failure from the database or another dependency to 503/400/404/409/500. */
void api_fail(struct api_call *c, enum dm_err code, const struct dm_error *err);
/* Serialise body (stolen) as the response with status; reals with 15 significant digits. */
void api_json(struct dm_http_resp *resp, int status, json_t *body);
/* {"data": data} with status (data stolen). */
void api_data(struct api_call *c, int status, json_t *data);
/* Parse the body as a JSON object; on failure answers 400 and returns NULL. */
json_t *api_body_object(struct api_call *c);
/* Acquire a database connection or answer 503 (returns NULL). */
struct dm_db_conn *api_conn(struct api_call *c);

/* ---- auth.c ---- */
struct api_keycache *api_keycache_new(void);
void api_keycache_free(struct api_keycache *kc);
/* Authenticate (API key, then HMAC). On failure answers 401 and returns false. */
bool api_authenticate(struct api_call *c);
/* True when key is a valid API key already in the key cache (no database access): the router
 * lets it through while the caller's IP is over its failed-authentication limit. */
bool api_auth_key_known(struct dm_api *api, const char *key);
/* Flush batched last_used_at updates and purge expired replay rows (database clock). */
void api_auth_flush(struct dm_api *api);
/* Re-read from the database every cached API key used since it was fetched and older than
 * 2.5 s (revoked ones are dropped), so requests normally never query for a known key. Called by
 * the housekeeping thread every 200 ms. */
void api_auth_refresh(struct dm_api *api);

/* ---- ratelimit.c ---- */
/* Buckets refilled at rps tokens per second up to burst (rps <= 0: off, everything allowed). */
struct api_ratelimit *api_ratelimit_new(double rps, double burst);
void api_ratelimit_free(struct api_ratelimit *rl);
/* Take one token: true when allowed; otherwise *retry_after_s receives the wait. */
bool api_ratelimit_take(struct api_ratelimit *rl, const char *client, int64_t now_ms,
                        int *retry_after_s);
/* True (with *retry_after_s) when client's bucket has no token left; takes nothing. */
bool api_ratelimit_empty(struct api_ratelimit *rl, const char *client, int64_t now_ms,
                         int *retry_after_s);

/* ---- supplier.c: supplier calls (hold, purchase) in flight per client ---- */
/* At most per_client calls of one caller at once (per_client <= 0: no cap). */
struct api_supplier *api_supplier_new(int per_client);
void api_supplier_free(struct api_supplier *s);
/* Count one call for caller: false (nothing counted) when caller is at its cap. */
bool api_supplier_enter(struct api_supplier *s, const char *caller);
/* The call counted by api_supplier_enter ended. */
void api_supplier_leave(struct api_supplier *s, const char *caller);

/* ---- handlers ---- */
void api_health(struct api_call *c);
void api_metrics(struct api_call *c);
/* True when the request carries METRICS_TOKEN as `Authorization: Bearer <token>` (constant-time
 * comparison; false when no token is configured). */
bool api_metrics_token_ok(const struct api_call *c);
/* The rendered queue, database and watermark part of /metrics, reused for ttl_ms (0: rendered
 * for every request); one request renders it at a time. Thread-safe. */
struct api_metrics_cache *api_metrics_cache_new(int ttl_ms);
void api_metrics_cache_free(struct api_metrics_cache *mc);
void api_openapi(struct api_call *c);
void api_docs(struct api_call *c);
void api_stats_record(struct dm_api *api, int status, int64_t duration_us);
void api_stats_flush(struct dm_api *api);

/* ---- search_cache.h: the search's count cache and response cache ---- */

/* ---- diamonds.c ---- */
/* Render search q's response body ({"data":[...],"pagination":{...}}) into out from the
 * database. DM_ERR_DB_RETRY when no connection could be had; other errors as dm_db_exec. */
enum dm_err api_search_render(struct dm_api *api, const struct dm_search_query *q,
                              struct dm_buf *out, struct dm_error *err) DM_MUST_CHECK;
void api_diamonds_search(struct api_call *c);
void api_diamond_get(struct api_call *c);
void api_diamonds_facets(struct api_call *c);
/* Read your writes: after a change to diamonds made by this request (hold, purchase, reprice),
 * wait (at most 2 s) until this process's search index shows it, so the client's next search
 * does. No-op without the index. */
void api_search_settle(struct dm_api *api);
void api_diamond_availability(struct api_call *c);
void api_diamond_hold(struct api_call *c);
void api_diamond_purchase(struct api_call *c);

void api_analytics_summary(struct api_call *c);
void api_analytics_runs(struct api_call *c);
void api_analytics_run(struct api_call *c);
void api_analytics_failed_workers(struct api_call *c);
void api_analytics_feeds(struct api_call *c);
void api_analytics_clashes(struct api_call *c);
void api_analytics_consolidation(struct api_call *c);
void api_analytics_consolidation_run(struct api_call *c);
void api_analytics_query(struct api_call *c);

void api_trigger_scheduler(struct api_call *c);
void api_trigger_consolidate(struct api_call *c);
void api_trigger_retry(struct api_call *c);
void api_trigger_cancel(struct api_call *c);
void api_trigger_failed_workers(struct api_call *c);

void api_rules_list(struct api_call *c);
void api_rules_create(struct api_call *c);
void api_rules_update(struct api_call *c);
void api_rules_delete(struct api_call *c);
void api_rules_reprice(struct api_call *c);
/* The OpenAPI schema of a pricing-rule body, from dm_pricing_fields (create: with the required
 * fields). */
json_t *api_rules_schema(bool create);

/* ---- analytics.c: the allowlisted query builder (pure; fuzzed) ---- */
struct dm_sql;
struct dm_sq_error;
/* SQL for POST /api/v2/analytics/query/{table} from its JSON body: allowlisted table and
 * columns, operators eq neq gt gte lt lte like ilike in is, values only as parameters, limit
 * 1..1000. DM_ERR_INVALID with qe naming the offending parameter. */
enum dm_err api_query_build(const char *table, json_t *body, struct dm_sql *s, int64_t *limit,
                            int64_t *offset, struct dm_sq_error *qe) DM_MUST_CHECK;

/* ---- routes (router.c), also read by the OpenAPI generator ---- */
struct api_route {
    const char *method;
    const char *pattern; /* "/api/v2/diamonds/{id}" */
    unsigned perm;       /* 0 = no authentication */
    void (*fn)(struct api_call *c);
    const char *tag;
    const char *summary;
};
extern const struct api_route api_routes[];
extern const int api_nroutes;

/* The request handler given to the HTTP server. */
void api_handle(void *ctx, const struct dm_http_req *req, struct dm_http_resp *resp);

/* ---- helpers shared by handlers (util.c) ---- */
/* Build a JSON object from one result row, camelCasing column names; NULLs omitted. Column
 * types bool/int/numeric/json become JSON values. */
json_t *api_row_json(const PGresult *r, int row);
/* All rows as a JSON array of api_row_json objects. */
json_t *api_rows_json(const PGresult *r);
/* snake_case -> camelCase into out. */
void api_camel(const char *snake, char *out, size_t size);
/* A value for display as int64: 0 when absent, SQL NULL or not an integer (dm_db_get_i64 where
 * a bad value must not pass as 0). */
int64_t api_i64(const PGresult *r, int row, int col);
/* The ETag of a response body: the first 128 bits of its SHA-256 in hex, quoted. */
void api_etag_of(const struct dm_buf *body, char etag[40]);
/* A timestamptz as PostgreSQL prints it ("2026-11-29 09:00:00.123456+00") as a JSON string in
 * UTC with milliseconds ("2026-11-29T09:00:00.123Z"), the form of every time the API sends and
 * the reference's ISODate; the text itself when it does not parse (infinity). */
json_t *api_time_json(const char *pg_text);
/* The outcome e of a statement (err its detail, r its result, cleared here): all rows as
 * api_rows_json (*ok true), or answered with api_fail (NULL, *ok false). For the store's
 * reports (store/runs.h). */
json_t *api_result_rows(struct api_call *c, enum dm_err e, const struct dm_error *err, PGresult *r,
                        bool *ok);
/* dm_db_query sql with its n params; all rows as api_rows_json (*ok true), or answered with
 * api_fail (NULL, *ok false). */
json_t *api_query_rows(struct api_call *c, const char *sql, int n, const char *const *params,
                       bool *ok);
/* Answer 200 {"data": [rows of sql]} (api_query_rows), or its failure. */
void api_rows_answer(struct api_call *c, const char *sql, int n, const char *const *params);
/* The path's first parameter as a UUID: true with *id set; otherwise answers 400
 * VALIDATION_ERROR "<param> must be a UUID" and returns false (*id is still set). */
bool api_uuid_param(struct api_call *c, const char *param, const char **id);
/* Outcome of a statement that selects at most one row, run into *r with result e (err its
 * detail): true when it succeeded and *r holds a row (the caller clears it). Otherwise answers
 * (api_fail(c, e, err) on an error, else 404 NOT_FOUND with the message not_found), clears *r,
 * sets it to NULL and returns false. */
bool api_row_found(struct api_call *c, enum dm_err e, const struct dm_error *err, PGresult **r,
                   const char *not_found);
/* dm_db_query sql (at most one row) with its n params into *r; then as api_row_found. */
bool api_query_row(struct api_call *c, const char *sql, int n, const char *const *params,
                   PGresult **r, const char *not_found);
/* Begin a transaction on conn and run sql, a SELECT ... FOR UPDATE of at most one row, with its
 * n params into *r; then as api_row_found. On false the transaction is left open: the caller
 * releases conn (the pool rolls it back) as after any failed statement. */
bool api_lock_row(struct api_call *c, struct dm_db_conn *conn, const char *sql, int n,
                  const char *const *params, PGresult **r, const char *not_found);

#endif
